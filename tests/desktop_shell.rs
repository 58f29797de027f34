//! The desktop shell's handlers (`system::shell`) against a real engine: a tray click pins,
//! unpins and records the start-on-login wish exactly as the admin API does, and the tray's
//! model follows the engine's rankings. No GUI needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use modelrelay::system::shell;
use modelrelay::system::tray_model::IconState;
use serde_json::{json, Value};
use support::*;

async fn router_with_two_endpoints() -> (FakeUpstream, TestRouter) {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("ok"));
    let router = start_router(endpoints_config(&[("a", &fake, "m"), ("b", &fake, "n")])).await;
    (fake, router)
}

fn file(router: &TestRouter) -> Value {
    serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap()
}

#[tokio::test]
async fn tray_pin_and_unpin_go_through_the_admin_api() {
    let (_fake, router) = router_with_two_endpoints().await;
    let state = router.engine.state().clone();

    shell::pin(&state, "openai-compatible:b/n").await.unwrap();
    let pinned = router.get_json("/api/pinned").await;
    assert_eq!(pinned["pinned"]["modelId"], "n");
    assert_eq!(file(&router)["pinned"]["provider"], "openai-compatible:b");
    let tray = shell::tray(&state);
    assert_eq!(tray.models[0].row_id, "openai-compatible:b/n");
    assert!(tray.models[0].pinned);
    assert!(tray.unpin.is_some());

    shell::unpin(&state).await.unwrap();
    assert_eq!(router.get_json("/api/pinned").await["pinned"], Value::Null);
    assert!(file(&router).get("pinned").is_none());
    assert!(shell::tray(&state).unpin.is_none());
}

#[tokio::test]
async fn pinning_a_row_that_is_gone_is_an_error_not_a_silent_no_op() {
    let (_fake, router) = router_with_two_endpoints().await;
    let error = shell::pin(router.engine.state(), "nowhere/none")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("`nowhere/none`"), "{error}");
    assert!(file(&router).get("pinned").is_none());
}

#[tokio::test]
async fn the_autostart_wish_lands_in_the_config_and_the_settings_view() {
    let (_fake, router) = router_with_two_endpoints().await;
    let state = router.engine.state().clone();
    let mut settings = state.config.subscribe();
    assert!(!shell::autostart_wanted(&state));

    shell::set_autostart_wanted(&state, true).await.unwrap();
    assert!(
        settings.has_changed().unwrap(),
        "the shell's watcher is woken"
    );
    assert!(settings.borrow_and_update().autostart.enabled);
    assert!(shell::autostart_wanted(&state));
    assert_eq!(
        router.get_json("/api/settings").await["autostart"],
        json!({"enabled": true})
    );
    assert_eq!(file(&router)["autostart"], json!({"enabled": true}));

    // The page's POST is seen by the same watcher.
    let response = router
        .client
        .post(router.url("/api/settings"))
        .json(&json!({"autostart": {"enabled": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(settings.has_changed().unwrap());
    assert!(!settings.borrow_and_update().autostart.enabled);
}

#[tokio::test]
async fn the_tray_follows_the_ranking_and_lights_up_once_a_model_answers() {
    let (_fake, router) = router_with_two_endpoints().await;
    let state = router.engine.state().clone();
    let before = shell::tray(&state);
    assert_eq!(before.icon, IconState::Dimmed);
    assert_eq!(before.models.len(), 2, "{before:?}");
    assert!(before
        .models
        .iter()
        .all(|m| m.label.ends_with("not measured yet")));

    let response = router
        .chat(user_message("openai-compatible:b/n", false))
        .await;
    assert_eq!(response.status(), 200);
    let after = shell::tray(&state);
    assert_eq!(after.icon, IconState::Active);
    assert_eq!(
        after.header,
        format!("modelrelay {} · 1 model up", env!("CARGO_PKG_VERSION"))
    );
    let measured = after
        .models
        .iter()
        .find(|m| m.row_id == "openai-compatible:b/n")
        .unwrap();
    assert!(measured.label.ends_with(" ms"), "{measured:?}");
}

#[tokio::test]
async fn copy_base_url_gives_the_address_agents_use() {
    let (_fake, router) = router_with_two_endpoints().await;
    assert_eq!(
        shell::base_url(router.engine.state()),
        format!("http://127.0.0.1:{}/v1", router.addr().port())
    );
}
