//! Team mode against a real `redis-server`: two engines in one process share one Redis and
//! behave like one router — cooldowns, probe leases and key turns cross over; Redis going
//! away leaves both routing on their own and they catch up when it returns; a refused login
//! is one clear error with local routing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::redis::TestRedis;
use support::*;

/// Two OpenAI-compatible endpoints serving one group, `x` preferred over `y`.
fn two_rows(x: &FakeUpstream, y: &FakeUpstream) -> Value {
    json!({
        "apiKeys": {"openai-compatible:x": "sk-team-x-0123456789", "openai-compatible:y": "sk-team-y-0123456789"},
        "providers": {
            "openai-compatible:x": {"enabled": true, "name": "x", "baseUrl": x.base_url(), "modelId": "m", "group": "team-model", "discoverModels": false, "priority": 0},
            "openai-compatible:y": {"enabled": true, "name": "y", "baseUrl": y.base_url(), "modelId": "m", "group": "team-model", "discoverModels": false, "priority": 1},
        }
    })
}

fn served_by(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(modelrelay::engine::forward::PROVIDER_HEADER)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_429_drawn_through_one_router_keeps_the_other_off_that_row_until_the_reset() {
    let redis = TestRedis::start().await;
    let (x, y) = (FakeUpstream::start().await, FakeUpstream::start().await);
    x.on(
        "m",
        Script::status(429, "slow down").header("retry-after", "120"),
    );
    y.on("m", Script::text("from y"));
    let (a, b) = start_team(two_rows(&x, &y), &redis.url()).await;

    let first = a.chat(user_message("team-model", false)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(served_by(&first), "openai-compatible:y", "x drew the 429");
    assert_eq!(x.chat_requests().len(), 1);

    let b_state = b.engine.state().clone();
    eventually("b hears of x's cooldown", || {
        b_state.shared.applied("cooldown") >= 1
    })
    .await;
    let second = b.chat(user_message("team-model", false)).await;
    assert_eq!(second.status(), 200);
    assert_eq!(served_by(&second), "openai-compatible:y");
    assert_eq!(
        x.chat_requests().len(),
        1,
        "b never sent x a request while x's quota was spent"
    );
    let row = b
        .model_row(|m| m["provider"] == "openai-compatible:x")
        .await;
    assert_eq!(row["status"], "rate_limited", "{row}");
}

#[tokio::test]
async fn a_row_retired_by_one_router_is_not_tried_by_the_other() {
    let redis = TestRedis::start().await;
    let (x, y) = (FakeUpstream::start().await, FakeUpstream::start().await);
    x.on(
        "m",
        Script::raw(
            404,
            "application/json",
            r#"{"error":{"message":"The model `m` does not exist","code":"model_not_found"}}"#,
        ),
    );
    y.on("m", Script::text("from y"));
    let (a, b) = start_team(two_rows(&x, &y), &redis.url()).await;

    let first = a.chat(user_message("team-model", false)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        served_by(&first),
        "openai-compatible:y",
        "x's model is gone"
    );
    assert_eq!(x.chat_requests().len(), 1);

    let b_state = b.engine.state().clone();
    eventually("b hears that x's row is retired", || {
        b_state.shared.applied("retired") >= 1
    })
    .await;
    for _ in 0..3 {
        let through_b = b.chat(user_message("team-model", false)).await;
        assert_eq!(through_b.status(), 200);
        assert_eq!(served_by(&through_b), "openai-compatible:y");
    }
    assert_eq!(
        x.chat_requests().len(),
        1,
        "b never asks the row a told the team is gone"
    );
    let row = b
        .model_row(|m| m["provider"] == "openai-compatible:x")
        .await;
    assert_eq!(row["status"], "retired", "{row}");
    assert_eq!(row["retired"]["reason"], "model_gone", "{row}");
}

#[tokio::test]
async fn a_circuit_opened_by_one_router_keeps_the_other_waiting_for_its_trial() {
    let redis = TestRedis::start().await;
    let (x, y) = (FakeUpstream::start().await, FakeUpstream::start().await);
    // x fails twice (a opens its circuit), then would answer again.
    x.on_sequence(
        "m",
        vec![
            Script::status(503, "down"),
            Script::status(503, "down"),
            Script::text("from x"),
        ],
    );
    y.on("m", Script::text("from y"));
    let (a, b) = start_team(two_rows(&x, &y), &redis.url()).await;
    for _ in 0..2 {
        let response = a.chat(user_message("team-model", false)).await;
        assert_eq!(served_by(&response), "openai-compatible:y");
    }
    assert_eq!(x.chat_requests().len(), 2);
    let b_state = b.engine.state().clone();
    eventually("b hears that x's circuit opened", || {
        b_state.shared.applied("circuit") >= 1
    })
    .await;
    let through_b = b.chat(user_message("team-model", false)).await;
    assert_eq!(through_b.status(), 200);
    assert_eq!(served_by(&through_b), "openai-compatible:y");
    assert_eq!(
        x.chat_requests().len(),
        2,
        "b leaves x's trial to a, the router that opened its circuit"
    );
}

#[tokio::test]
async fn only_one_router_of_the_team_probes_a_row_in_an_interval() {
    let redis = TestRedis::start().await;
    let x = FakeUpstream::start().await;
    x.on("m", Script::text("1 2 3 4 5"));
    let config = endpoints_config(&[("x", &x, "m")]);
    let (a, b) = start_team(config, &redis.url()).await;
    // Probes start only now, with both routers in the team.
    for router in [&a, &b] {
        let response = router
            .post_json("/api/settings", &json!({"autoPingEnabled": true}))
            .await;
        assert_eq!(response.status(), 200);
    }
    let (a_state, b_state) = (a.engine.state().clone(), b.engine.state().clone());
    let measured = |state: &modelrelay::engine::state::AppState| {
        let catalog = state.catalog.current();
        catalog.rows.iter().any(|row| {
            state
                .health
                .condition(row, tokio::time::Instant::now())
                .ttft_ms
                .is_some()
        })
    };
    eventually("both routers know the row's speed", || {
        measured(&a_state) && measured(&b_state)
    })
    .await;
    assert_eq!(
        x.chat_requests().len(),
        1,
        "one probe for the team; the other router learned its result"
    );
}

#[tokio::test]
async fn max_turns_count_across_both_routers() {
    let redis = TestRedis::start().await;
    let x = FakeUpstream::start().await;
    x.on("m", Script::text("ok"));
    let mut config = endpoints_config(&[("x", &x, "m")]);
    config["apiKeys"] =
        json!({"openai-compatible:x": ["sk-turn-a-0123456789", "sk-turn-b-0123456789"]});
    // One turn per key and round: a key one router used is spent for the other too.
    config["providers"]["openai-compatible:x"]["maxTurns"] = json!(1);
    let (a, b) = start_team(config, &redis.url()).await;

    assert_eq!(a.chat(user_message("m", false)).await.status(), 200);
    let b_state = b.engine.state().clone();
    eventually("b counts a's turn", || b_state.shared.applied("turn") >= 1).await;
    assert_eq!(b.chat(user_message("m", false)).await.status(), 200);
    let a_state = a.engine.state().clone();
    eventually("a counts b's turn", || a_state.shared.applied("turn") >= 1).await;
    // Both keys had their turn in this round: the next request starts a new one.
    assert_eq!(a.chat(user_message("m", false)).await.status(), 200);
    let keys: Vec<String> = x
        .chat_requests()
        .iter()
        .map(|r| {
            r.headers["authorization"]
                .to_str()
                .unwrap()
                .trim_start_matches("Bearer ")
                .to_string()
        })
        .collect();
    assert_eq!(
        keys,
        [
            "sk-turn-a-0123456789",
            "sk-turn-b-0123456789",
            "sk-turn-b-0123456789"
        ],
        "the first key's turn was spent through a, so b used the second; then a new round \
         went on from where a's rotation stood"
    );
}

#[tokio::test]
async fn both_routers_keep_routing_while_redis_is_down_and_catch_up_when_it_returns() {
    let mut redis = TestRedis::start().await;
    let (x, y) = (FakeUpstream::start().await, FakeUpstream::start().await);
    // x's first answer is a 429 (for a, while Redis is down); later ones succeed.
    x.on_sequence(
        "m",
        vec![
            Script::status(429, "slow down").header("retry-after", "120"),
            Script::text("from x"),
        ],
    );
    y.on("m", Script::text("from y"));
    let (a, b) = start_team(two_rows(&x, &y), &redis.url()).await;
    let (a_state, b_state) = (a.engine.state().clone(), b.engine.state().clone());

    redis.stop();
    eventually("both routers notice Redis is gone", || {
        !a_state.shared.is_connected() && !b_state.shared.is_connected()
    })
    .await;
    let health = a.get_json("/health").await;
    assert_eq!(health["sharedState"]["connected"], false);
    assert!(health["sharedState"]["lastError"].is_string(), "{health}");

    let through_a = a.chat(user_message("team-model", false)).await;
    assert_eq!(through_a.status(), 200, "a routes on its own");
    assert_eq!(served_by(&through_a), "openai-compatible:y");
    let through_b = b.chat(user_message("team-model", false)).await;
    assert_eq!(through_b.status(), 200, "b routes on its own");
    assert_eq!(
        served_by(&through_b),
        "openai-compatible:x",
        "b could not hear of x's 429"
    );
    let x_before = x.chat_requests().len();

    redis.restart().await;
    eventually("both routers reconnect", || {
        a_state.shared.is_connected() && b_state.shared.is_connected()
    })
    .await;
    eventually("a's cooldown of x reaches b", || {
        b_state.shared.applied("cooldown") >= 1
    })
    .await;
    let after = b.chat(user_message("team-model", false)).await;
    assert_eq!(after.status(), 200);
    assert_eq!(served_by(&after), "openai-compatible:y");
    assert_eq!(x.chat_requests().len(), x_before, "b stays off x now");
    let meta = b.get_json("/api/meta").await;
    assert_eq!(meta["sharedState"]["connected"], true, "{meta}");
}

#[tokio::test]
async fn a_wrong_password_is_one_clear_error_and_routing_stays_local() {
    let redis = TestRedis::start_with_password("right-horse-battery").await;
    let x = FakeUpstream::start().await;
    x.on("m", Script::text("ok"));
    let wrong = format!("redis://:hunter2-not-it@127.0.0.1:{}/0", redis.port);
    let mut config = endpoints_config(&[("x", &x, "m")]);
    config["sharedState"] = json!({"redisUrl": wrong});
    let router = start_router(config).await;
    let state = router.engine.state().clone();
    eventually("the refused login is reported", || {
        state.shared.view()["lastError"].is_string()
    })
    .await;
    let health = router.get_json("/health").await;
    let shared = &health["sharedState"];
    assert_eq!(shared["connected"], false);
    let error = shared["lastError"].as_str().unwrap();
    assert!(
        error.contains("Redis") && error.contains("refused the login"),
        "{error}"
    );
    assert_eq!(shared["url"], format!("redis://127.0.0.1:{}/0", redis.port));
    for body in [
        health.to_string(),
        router.get_json("/api/meta").await.to_string(),
        router.get_json("/api/status").await.to_string(),
        std::fs::read_to_string(router.config_path()).unwrap(),
    ] {
        assert!(!body.contains("hunter2"), "the password leaked: {body}");
    }
    let answer = router.chat(user_message("m", false)).await;
    assert_eq!(answer.status(), 200, "routing goes on locally");

    // The right password (kept in the key store, not the file) gets in.
    let (a, _b) = start_team(endpoints_config(&[("x", &x, "m")]), &redis.url()).await;
    assert!(a.engine.state().shared.is_connected());
    assert!(!std::fs::read_to_string(a.config_path())
        .unwrap()
        .contains("right-horse-battery"));
}

#[tokio::test]
async fn team_mode_is_off_by_default() {
    let x = FakeUpstream::start().await;
    x.on("m", Script::text("ok"));
    let router = start_router(endpoints_config(&[("x", &x, "m")])).await;
    let off = json!({"enabled": false, "connected": false});
    assert_eq!(router.get_json("/health").await["sharedState"], off);
    assert_eq!(router.get_json("/api/meta").await["sharedState"], off);
    assert_eq!(router.get_json("/api/status").await["sharedState"], off);
    assert_eq!(router.chat(user_message("m", false)).await.status(), 200);
}

#[tokio::test]
async fn routers_sharing_a_key_stay_under_its_per_minute_limit_together() {
    let redis = TestRedis::start().await;
    // Groq's catalog entry says 30 requests a minute; this fake Groq answers 429 after 30.
    let groq = FakeUpstream::start().await;
    let mut scripts = vec![Script::text("groq"); 30];
    scripts.push(Script::status(429, "rate limit exceeded").header("retry-after", "60"));
    groq.on_sequence("coder", scripts);
    let spare = FakeUpstream::start().await;
    spare.on("coder", Script::text("spare"));
    let config = json!({
        "hedging": {"enabled": false},
        "apiKeys": {"groq": "gsk_team_key_0123456789"},
        "providers": {
            "groq": {"baseUrl": groq.base_url(), "priority": 0},
            "openai-compatible:spare": {"enabled": true, "name": "spare", "baseUrl": spare.base_url(),
                                        "modelId": "coder", "group": "coder", "discoverModels": false, "priority": 1},
        }
    });
    let (a, b) = start_team(config, &redis.url()).await;
    for router in [&a, &b] {
        let state = router.engine.state().clone();
        eventually("groq's `coder` row is discovered", || {
            state
                .catalog
                .current()
                .rows
                .iter()
                .any(|row| row.row_id() == "groq/coder")
        })
        .await;
    }

    let through_a =
        futures_util::future::join_all((0..20).map(|_| a.chat(user_message("coder", false)))).await;
    assert!(through_a.iter().all(|r| served_by(r) == "groq"));
    let b_state = b.engine.state().clone();
    eventually("b counts a's twenty requests in the key's window", || {
        b_state.shared.applied("sent") >= 20
    })
    .await;
    let through_b =
        futures_util::future::join_all((0..20).map(|_| b.chat(user_message("coder", false)))).await;
    assert!(through_b.iter().all(|r| r.status() == 200));
    let to_groq = through_b.iter().filter(|r| served_by(r) == "groq").count();
    assert_eq!(to_groq, 10, "b takes only what is left of the key's minute");
    assert_eq!(groq.chat_requests().len(), 30, "no request past the limit");
    assert_eq!(spare.chat_requests().len(), 10);
}
