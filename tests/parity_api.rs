//! The routes that bring the original's tools over HTTP: routing tags (`/api/models/tags`,
//! `tag:` selectors), key pools (`/api/account-status`), `GET /metrics` read by a real
//! Prometheus parser, and rankings that say what they measured. No response carries a key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr};

use modelrelay::engine::config::EnvSource;
use modelrelay::engine::health::scoring::REFERENCE_OUTPUT_TOKENS;
use modelrelay::engine::health::stats::MIN_TIMED_TOKENS;
use modelrelay::engine::routing::tags::{MAX_TAGS, MAX_TAG_LENGTH};
use modelrelay::engine::secrets::MemoryStore;
use modelrelay::engine::{self, EngineOptions};
use serde_json::{json, Value};
use support::*;

const KEY_MARK: &str = "NEVER-SHOWN";

/// Sends `body` (if any) with `method` and returns the status and JSON, checking no key leaked.
async fn call(
    router: &TestRouter,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = router.client.request(method, router.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(!text.contains(KEY_MARK), "a key leaked from {path}: {text}");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn put_tags(router: &TestRouter, body: Value) -> (u16, Value) {
    call(router, reqwest::Method::PUT, "/api/models/tags", Some(body)).await
}

fn row<'a>(models: &'a Value, id: &str) -> &'a Value {
    models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no row {id} in {models}"))
}

#[tokio::test]
async fn user_tags_are_normalised_kept_by_group_and_route_tag_selectors() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("ok"));
    let router = start_router(endpoints_config(&[("a", &fake, "m"), ("b", &fake, "n")])).await;
    let row_a = "openai-compatible:a/m";

    let refused = router.chat(user_message("tag:my-fav", false)).await;
    assert_eq!(refused.status(), 404, "no row carries the tag yet");

    let (status, saved) = put_tags(
        &router,
        json!({"modelId": row_a, "tags": ["My  Fav", "fast!", "my-fav", " "]}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["tags"], json!(["my-fav", "fast"]));
    let group = saved["modelKey"].as_str().unwrap().to_string();
    assert_eq!(saved["models"][0]["id"], row_a);

    let models = router.get_json("/api/models").await;
    let view = row(&models, row_a);
    assert_eq!(view["userTags"], json!(["my-fav", "fast"]));
    assert!(view["builtInTags"].is_array());
    assert!(view["tags"].as_array().unwrap().contains(&json!("my-fav")));
    assert_eq!(row(&models, "openai-compatible:b/n")["userTags"], json!([]));

    let listed = router.get_json("/v1/models").await;
    let entry = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == group.as_str())
        .unwrap();
    assert!(
        entry["tags"].as_array().unwrap().contains(&json!("my-fav")),
        "{entry}"
    );

    let routed = router.chat(user_message("tag:My-Fav", false)).await;
    assert_eq!(routed.status(), 200);
    assert_eq!(
        routed.headers()["x-modelrelay-provider"],
        "openai-compatible:a"
    );

    let file: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert_eq!(file["modelTags"][&group], json!(["my-fav", "fast"]));

    let (status, _) = put_tags(&router, json!({"modelId": row_a, "tags": []})).await;
    assert_eq!(status, 200);
    let file: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert!(
        file.get("modelTags").is_none(),
        "clearing the last tags removes the map: {file}"
    );
    assert_eq!(
        router
            .chat(user_message("tag:my-fav", false))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn tag_edits_outside_the_limits_are_refused_with_400() {
    let fake = FakeUpstream::start().await;
    let router = start_router(endpoints_config(&[("a", &fake, "m")])).await;
    let row_a = "openai-compatible:a/m";
    let too_long = "x".repeat(MAX_TAG_LENGTH + 1);
    let too_many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
    let cases = [
        (json!({"modelId": row_a, "tags": [too_long]}), 400, "tags"),
        (json!({"modelId": row_a, "tags": too_many}), 400, "tags"),
        (json!({"modelId": row_a, "tags": "fast"}), 400, "tags"),
        (json!({"modelId": row_a, "tags": [1]}), 400, "tags"),
        (json!({"tags": ["fast"]}), 400, "modelId"),
        (
            json!({"modelId": "tag:coding", "tags": ["fast"]}),
            400,
            "modelId",
        ),
    ];
    for (body, expected, param) in cases {
        let (status, error) = put_tags(&router, body.clone()).await;
        assert_eq!(status, expected, "{body} → {error}");
        assert_eq!(error["error"]["param"], param, "{body} → {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains('`'));
    }
    let (status, error) =
        put_tags(&router, json!({"modelId": "no-such-model", "tags": ["a"]})).await;
    assert_eq!(status, 404, "{error}");
    let exactly_at_limits: Vec<String> = (0..MAX_TAGS)
        .map(|i| format!("{i}{}", "y".repeat(MAX_TAG_LENGTH - 2)))
        .collect();
    assert_eq!(
        put_tags(
            &router,
            json!({"modelId": row_a, "tags": exactly_at_limits})
        )
        .await
        .0,
        200
    );
    let file: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert_eq!(
        file["modelTags"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        MAX_TAGS
    );
}

#[tokio::test]
async fn account_status_lists_every_key_masked_from_the_start_and_marks_a_429() {
    let fake = FakeUpstream::start().await;
    fake.on_sequence(
        "m",
        vec![Script::status(429, "slow down"), Script::text("ok")],
    );
    let mut config = endpoints_config(&[("a", &fake, "m"), ("b", &fake, "n")]);
    config["apiKeys"] = json!({
        "openai-compatible:a": ["sk-pool-NEVER-SHOWN-first-0001", "sk-pool-NEVER-SHOWN-second-0002"],
    });
    config["providers"]["openai-compatible:a"]["maxTurns"] = json!(5);
    let router = start_router(config).await;

    let (status, before) = call(&router, reqwest::Method::GET, "/api/account-status", None).await;
    assert_eq!(status, 200);
    let providers = before["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 1, "only providers with keys: {before}");
    let pool = &providers[0];
    assert_eq!(pool["key"], "openai-compatible:a");
    assert_eq!(
        (pool["keyCount"].as_u64(), pool["maxTurns"].as_u64()),
        (Some(2), Some(5))
    );
    let hints: Vec<&str> = pool["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hint"].as_str().unwrap())
        .collect();
    assert_eq!(hints, ["…0001", "…0002"]);
    assert!(pool["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["state"] == "active" && a["requests"] == 0));

    router.chat(user_message("m", false)).await;
    let (_, after) = call(&router, reqwest::Method::GET, "/api/account-status", None).await;
    let first = &after["providers"][0]["accounts"][0];
    assert_eq!(first["state"], "rate_limited", "{after}");
    assert!(first["resetsInSeconds"].as_f64().unwrap() > 0.0);
    assert!(first["lastRateLimitedSecondsAgo"].is_number());
    assert_eq!(first["requests"], 1);
    let sent: Vec<String> = fake
        .chat_requests()
        .iter()
        .filter_map(|r| {
            r.headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        sent.first().map(String::as_str),
        Some("Bearer sk-pool-NEVER-SHOWN-first-0001")
    );
}

/// Two endpoints serving one group; `a` is preferred and fails once, so `b` answers.
async fn failover_router() -> (FakeUpstream, TestRouter) {
    let fake = FakeUpstream::start().await;
    fake.on_sequence("m", vec![Script::status(503, "overloaded")]);
    fake.otherwise(Script::text("hello from n"));
    let mut config = endpoints_config(&[("a", &fake, "m"), ("b", &fake, "n")]);
    for (id, priority) in [("a", 0), ("b", 1)] {
        let provider = &mut config["providers"][format!("openai-compatible:{id}")];
        provider["group"] = json!("shared");
        provider["priority"] = json!(priority);
    }
    let router = start_router(config).await;
    (fake, router)
}

fn sample(metrics: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics["families"][family]["samples"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
}

#[tokio::test]
async fn metrics_parse_with_prometheus_client_and_count_requests_failovers_and_probes() {
    let Some(python) = python::interpreter("prometheus_client") else {
        return;
    };
    let (_fake, router) = failover_router().await;
    let answer = router.chat(user_message("shared", true)).await;
    assert_eq!(
        answer.headers()["x-modelrelay-provider"],
        "openai-compatible:b"
    );
    // The winning attempt's TTFT, in whole milliseconds.
    let ttft = answer.headers()["x-modelrelay-ttft-ms"].to_str().unwrap();
    assert!(ttft.parse::<u64>().is_ok(), "{ttft}");
    assert_eq!(streamed_text(&sse_events(answer).await), "hello from n");
    let (status, _) = call(
        &router,
        reqwest::Method::POST,
        "/api/models/ping",
        Some(json!({"modelId": "openai-compatible:b/n"})),
    )
    .await;
    assert_eq!(status, 200);

    let output = python::run_script(python, "metrics_check.py", vec![router.url("/metrics")]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metrics: Value = serde_json::from_str(&stdout).unwrap();
    assert!(metrics["contentType"]
        .as_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let served = [("provider", "openai-compatible:b"), ("model", "n")];
    let request = [
        served[0],
        served[1],
        ("group", "shared"),
        ("status", "200"),
        ("outcome", "completed"),
    ];
    assert_eq!(
        sample(
            &metrics,
            "modelrelay_requests",
            "modelrelay_requests_total",
            &request
        ),
        Some(1.0),
        "{stdout}"
    );
    assert_eq!(
        sample(
            &metrics,
            "modelrelay_failovers",
            "modelrelay_failovers_total",
            &[]
        ),
        Some(1.0)
    );
    let failed = [
        ("provider", "openai-compatible:a"),
        ("model", "m"),
        ("status", "503"),
    ];
    assert_eq!(
        sample(
            &metrics,
            "modelrelay_attempts",
            "modelrelay_attempts_total",
            &failed
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "modelrelay_ttft_seconds",
            "modelrelay_ttft_seconds_count",
            &served
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "modelrelay_request_duration_seconds",
            "modelrelay_request_duration_seconds_count",
            &served
        ),
        Some(1.0)
    );
    assert_eq!(
        metrics["families"]["modelrelay_ttft_seconds"]["type"],
        "histogram"
    );
    let provider_b = [("provider", "openai-compatible:b")];
    assert_eq!(
        sample(
            &metrics,
            "modelrelay_probes",
            "modelrelay_probes_total",
            &provider_b
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &metrics,
            "modelrelay_probe_budget_per_day",
            "modelrelay_probe_budget_per_day",
            &provider_b
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        sample(
            &metrics,
            "modelrelay_rows_cooling",
            "modelrelay_rows_cooling",
            &provider_b
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn metrics_follow_the_admin_rules_loopback_host_or_token() {
    let (_fake, router) = failover_router().await;
    // DNS rebinding: a page on another name that resolves to 127.0.0.1 gets nothing.
    let rebound = router
        .client
        .get(router.url("/metrics"))
        .header("host", format!("evil.example:{}", router.addr().port()))
        .send()
        .await
        .unwrap();
    assert!(rebound.status().is_client_error(), "{}", rebound.status());
    assert!(!rebound
        .text()
        .await
        .unwrap()
        .contains("modelrelay_requests"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, r#"{"adminToken": "tok-0123456789", "autoPingEnabled": false, "providers": {"opencode": {"enabled": false}, "kilocode": {"enabled": false}}}"#).unwrap();
    let mut options = EngineOptions::new(path);
    options.bind = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    options.port = 0;
    options.env = EnvSource::empty();
    options.secret_store = Some(std::sync::Arc::new(MemoryStore::new()));
    let engine = engine::start(options).await.unwrap();
    let url = format!("http://127.0.0.1:{}/metrics", engine.local_addr().port());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let scraped = client
        .get(&url)
        .bearer_auth("tok-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(
        text.contains("# TYPE modelrelay_failovers counter") && text.ends_with("# EOF\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_streamed_answer_long_enough_is_timed_and_the_estimate_says_what_it_assumed() {
    let fake = FakeUpstream::start().await;
    fake.on("m", Script::text("ok"));
    let words = (1..=24).map(|i| format!("w{i} ")).collect::<String>();
    // 23 gaps of 2 ms: the answer takes at least 46 ms after its first token.
    fake.on("n", Script::text(&words).chunk_gap(ms(2)));
    let router = start_router(endpoints_config(&[("a", &fake, "m"), ("b", &fake, "n")])).await;
    for model in ["m", "n"] {
        let answer = router.chat(user_message(model, true)).await;
        assert_eq!(answer.status(), 200);
        sse_events(answer).await;
    }
    let models = router.get_json("/api/models").await;
    assert_eq!(
        models["estimate"]["outputTokens"].as_f64(),
        Some(REFERENCE_OUTPUT_TOKENS)
    );
    let short = row(&models, "openai-compatible:a/m");
    assert_eq!(short["expectedBasis"], "assumed-throughput", "{short}");
    assert!(short["tokensPerSecond"].is_null());
    assert!(short["lastTotalMs"].is_number());
    let long = row(&models, "openai-compatible:b/n");
    assert_eq!(long["expectedBasis"], "measured", "{long}");
    assert!(long["tokensPerSecond"].as_f64().unwrap() > 0.0);
    assert!(long["lastTokens"].as_u64().unwrap() >= MIN_TIMED_TOKENS);
}

/// A home with OpenCode configured for something else and OpenClaw's file broken by hand.
fn agent_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let opencode = home.path().join(".config/opencode");
    std::fs::create_dir_all(&opencode).unwrap();
    std::fs::write(opencode.join("opencode.json"), r#"{"theme": "dark"}"#).unwrap();
    let openclaw = home.path().join(".openclaw");
    std::fs::create_dir_all(&openclaw).unwrap();
    std::fs::write(openclaw.join("openclaw.json"), "{ broken: json5, }").unwrap();
    home
}

#[tokio::test]
async fn setup_checks_keys_configures_agents_and_remembers_it_was_done() {
    let fake = FakeUpstream::start().await;
    fake.require_bearer("sk-setup-NEVER-SHOWN-good-0001")
        .list_models(&["m"]);
    let home = agent_home();
    // A built-in provider pointed at the fake: a first run has no key and no endpoint yet.
    let mut setup = RouterSetup::new(json!({"providers": {"groq": {"baseUrl": fake.base_url()}}}));
    setup.env = EnvSource::from_pairs([("HOME", home.path().to_str().unwrap())]);
    let router = start_router_with(setup).await;
    let get = |router: &TestRouter| {
        let url = router.url("/api/setup");
        let client = router.client.clone();
        async move {
            let text = client.get(url).send().await.unwrap().text().await.unwrap();
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };

    let first = get(&router).await;
    assert_eq!(first["show"], true, "{first}");
    let agents: Vec<(&str, bool, bool)> = first["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap(),
                a["installed"].as_bool().unwrap(),
                a["configured"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        agents,
        [
            ("opencode", true, false),
            ("openclaw", true, false),
            ("claude-code", false, false)
        ]
    );

    let post =
        |path: &'static str, body: Value| call(&router, reqwest::Method::POST, path, Some(body));
    let (status, refused) = post(
        "/api/setup/keys",
        json!({"provider": "groq", "apiKey": "sk-setup-NEVER-SHOWN-bad-9999"}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("refused this key"));
    assert_eq!(
        get(&router).await["show"],
        true,
        "a refused key is not stored"
    );
    let (status, stored) = post(
        "/api/setup/keys",
        json!({"provider": "groq", "apiKey": "sk-setup-NEVER-SHOWN-good-0001"}),
    )
    .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(
        (stored["check"].as_str(), stored["apiKey"]["hint"].as_str()),
        (Some("valid"), Some("…0001"))
    );
    assert_eq!(
        get(&router).await["show"],
        false,
        "a provider has a key now"
    );
    let (status, _) = post(
        "/api/setup/keys",
        json!({"provider": "nope", "apiKey": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        "/api/setup/keys",
        json!({"provider": "openai-compatible:a"}),
    )
    .await;
    assert_eq!(status, 400);

    let (status, done) = post("/api/setup/agents/opencode", json!({})).await;
    assert_eq!(status, 200, "{done}");
    let written: Value =
        serde_json::from_slice(&std::fs::read(done["path"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(written["theme"], "dark");
    assert_eq!(
        written["provider"]["router"]["options"]["baseURL"],
        router.url("/v1")
    );
    assert_eq!(
        std::fs::read_to_string(done["backup"].as_str().unwrap()).unwrap(),
        r#"{"theme": "dark"}"#
    );
    let (status, broken) = post("/api/setup/agents/openclaw", json!({})).await;
    assert_eq!(status, 409, "{broken}");
    assert!(broken["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert_eq!(
        std::fs::read_to_string(home.path().join(".openclaw/openclaw.json")).unwrap(),
        "{ broken: json5, }"
    );
    assert_eq!(post("/api/setup/agents/vim", json!({})).await.0, 404);
    let after = get(&router).await;
    assert_eq!(after["agents"][0]["configured"], true, "{after}");

    assert_eq!(
        post("/api/setup/done", json!({"completed": true})).await.0,
        200
    );
    let file: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert_eq!(file["setupCompleted"], true);
    assert_eq!(get(&router).await["completed"], true);
    assert_eq!(post("/api/setup/done", json!({})).await.0, 400);
}
