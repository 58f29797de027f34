//! The config file while the router runs: hand edits reach the engine and survive the next
//! change from the page or API; a file that was broken, made read-only or replaced by a link is
//! never overwritten or replaced. Each test failed before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use modelrelay::engine::config::Settings;
use serde_json::{json, Value};
use support::{start_router, user_message, FakeUpstream, Script, TestRouter};

async fn post(router: &TestRouter, path: &str, body: Value) -> (u16, Value) {
    let response = router.post_json(path, &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn on_disk(router: &TestRouter) -> Value {
    serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap()
}

/// The config as `start_router` wrote it, with `edit` applied, written back as a user would.
fn hand_edit(router: &TestRouter, edit: impl FnOnce(&mut Value)) {
    let mut document = on_disk(router);
    edit(&mut document);
    std::fs::write(
        router.config_path(),
        serde_json::to_vec_pretty(&document).unwrap(),
    )
    .unwrap();
}

const TYPED_IN: &str = "openai-compatible:typed-in";

fn add_typed_in_endpoint(document: &mut Value) {
    document["providers"][TYPED_IN] = json!({"enabled": true, "name": "typed in", "baseUrl": "http://127.0.0.1:9/v1", "modelId": "m", "discoverModels": false});
    document["myOwnNote"] = json!("keep me");
}

#[tokio::test]
async fn a_change_from_the_page_keeps_a_provider_and_a_key_typed_into_the_file() {
    let router = start_router(json!({})).await;
    hand_edit(&router, add_typed_in_endpoint);
    let (status, body) = post(&router, "/api/settings", json!({"pinningMode": "exact"})).await;
    assert_eq!(status, 200, "{body}");
    let saved = on_disk(&router);
    assert_eq!(saved["pinningMode"], "exact");
    assert_eq!(saved["myOwnNote"], "keep me");
    assert_eq!(saved["providers"][TYPED_IN]["name"], "typed in");
}

/// Waits for the engine to publish settings for which `loaded` holds.
async fn until_loaded(router: &TestRouter, loaded: impl Fn(&Settings) -> bool) {
    let mut settings = router.engine.state().config.subscribe();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !loaded(&settings.borrow_and_update()) {
            settings.changed().await.unwrap();
        }
    })
    .await
    .expect("the edit was loaded");
}

#[tokio::test]
async fn a_valid_hand_edit_reaches_the_running_router() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("from the typed-in endpoint"));
    let router = start_router(json!({})).await;
    hand_edit(&router, |document| {
        add_typed_in_endpoint(document);
        document["providers"][TYPED_IN]["baseUrl"] = json!(fake.base_url());
    });
    until_loaded(&router, |s| s.providers.contains_key(TYPED_IN)).await;
    // Once the watch runs, every later edit is seen as well.
    hand_edit(&router, |document| {
        document["bannedModels"] = json!(["another-model"]);
    });
    until_loaded(&router, |s| s.banned_models == ["another-model"]).await;
    let providers = router.get_json("/api/providers").await;
    assert!(
        providers["providers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["key"] == TYPED_IN),
        "{providers}"
    );
    let response = router.chat(user_message("m", false)).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("from the typed-in endpoint"));
}

#[tokio::test]
async fn a_change_is_refused_while_the_file_does_not_parse_and_the_file_is_kept() {
    let router = start_router(json!({})).await;
    let broken = "{\n  \"bannedModels\": [\"half-typed\",\n";
    std::fs::write(router.config_path(), broken).unwrap();
    let (status, body) = post(&router, "/api/settings", json!({"pinningMode": "exact"})).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("modelrelay.json"), "{message}");
    assert!(message.contains("fix it or remove it"), "{message}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(
        std::fs::read_to_string(router.config_path()).unwrap(),
        broken
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_read_only_config_is_not_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let router = start_router(json!({})).await;
    let path = router.config_path();
    let before = std::fs::read_to_string(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (status, body) = post(&router, "/api/settings", json!({"pinningMode": "exact"})).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("modelrelay.json") && message.contains("read-only"),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o444);
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_config_stays_a_link_and_its_target_gets_the_change() {
    let router = start_router(json!({})).await;
    let path = router.config_path();
    let target = router.dir.path().join("dotfiles-modelrelay.json");
    std::fs::rename(&path, &target).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let (status, body) = post(&router, "/api/settings", json!({"pinningMode": "exact"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    let saved: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(saved["pinningMode"], "exact");
}
