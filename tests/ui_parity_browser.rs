#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The page's Chat, Accounts and tag editor in headless Chromium against the real engine: a
//! streamed chat shows tokens as they arrive and names the row that served it, Stop cancels
//! the upstream request, the transcript survives a reload, tags edited in the drawer make
//! `tag:<name>` route to the row, and the Accounts view lists a two-key pool with masked hints
//! and shows the key that drew a 429 without a reload; on a first run the page opens on the
//! setup flow, which checks and stores a key, merges an agent's config with a backup, refuses
//! a broken one, and sets start-on-login.
//!
//! The browser side is `tests/browser/parity.mjs`, run like `tests/ui_browser.rs` runs
//! `ui.mjs` (`playwright-core` driving Debian's `/usr/bin/chromium`, set up by `.ci/run`).

mod support;

use std::time::Duration;

use modelrelay::engine::config::EnvSource;
use serde_json::{json, Value};
use support::browser::{browser_available, repo, run_script};
use support::*;

/// Runs `parity.mjs` with `scenario` against `router`; its summary, checked for success and
/// for a page without console errors.
async fn browse(router: &TestRouter, scenario: &'static str) -> Value {
    let shots = repo().join("target").display().to_string();
    let args = vec![router.url(""), shots, scenario.to_string()];
    let summary = run_script("parity.mjs", args, Duration::from_secs(170)).await;
    assert_eq!(summary["consoleErrors"], json!([]), "{summary:#}");
    summary
}

fn step(summary: &Value, name: &str) -> Value {
    summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {summary:#}"))
        .clone()
}

#[tokio::test]
async fn the_first_run_opens_the_setup_flow_and_walks_it_without_a_terminal() {
    if !browser_available() {
        return;
    }
    let fake = FakeUpstream::start().await;
    fake.require_bearer("sk-setup-good-key-0001")
        .list_models(&["keyed-coder"]);
    let home = tempfile::tempdir().unwrap();
    let opencode = home.path().join(".config/opencode/opencode.json");
    std::fs::create_dir_all(opencode.parent().unwrap()).unwrap();
    std::fs::write(&opencode, r#"{"theme": "dark"}"#).unwrap();
    let openclaw = home.path().join(".openclaw/openclaw.json");
    std::fs::create_dir_all(openclaw.parent().unwrap()).unwrap();
    std::fs::write(&openclaw, "{ broken: json5, }").unwrap();
    // A built-in provider pointed at the fake: a first run has no key and no endpoint yet.
    let mut setup = RouterSetup::new(json!({"providers": {"groq": {"baseUrl": fake.base_url()}}}));
    setup.env = EnvSource::from_pairs([("HOME", home.path().to_str().unwrap())]);
    let router = start_router_with(setup).await;

    let summary = browse(&router, "setup").await;
    assert_eq!(
        step(&summary, "setup-opens")["selected"],
        "true",
        "{summary:#}"
    );
    let keys = step(&summary, "setup-keys");
    assert!(
        keys["refused"]
            .as_str()
            .unwrap()
            .contains("refused this key"),
        "{keys:#}"
    );
    assert!(
        keys["stored"].as_str().unwrap().contains("key works"),
        "{keys:#}"
    );
    assert!(
        keys["stored"].as_str().unwrap().contains("…0001"),
        "{keys:#}"
    );
    assert_eq!(keys["field"], "", "the key is cleared from the page");
    assert_eq!(keys["refusalErrors"], 1, "{keys:#}");
    let agents = step(&summary, "setup-agents");
    assert!(
        agents["opencode"].as_str().unwrap().contains("backup"),
        "{agents:#}"
    );
    assert!(
        agents["openclaw"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{agents:#}"
    );
    assert!(
        agents["claude"].as_str().unwrap().contains("not found"),
        "{agents:#}"
    );
    let finish = step(&summary, "setup-finish");
    assert_eq!(
        (finish["reopen"].as_bool(), finish["reopened"].as_bool()),
        (Some(true), Some(true))
    );

    // What the flow did, on disk and in the engine.
    let merged: Value = serde_json::from_slice(&std::fs::read(&opencode).unwrap()).unwrap();
    assert_eq!(merged["theme"], "dark");
    assert_eq!(
        merged["provider"]["router"]["options"]["baseURL"],
        router.url("/v1")
    );
    assert_eq!(
        std::fs::read_to_string(&openclaw).unwrap(),
        "{ broken: json5, }"
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert_eq!(config["setupCompleted"], true, "{config:#}");
    assert_eq!(config["autostart"]["enabled"], true, "{config:#}");
    let status = router.get_json("/api/account-status").await;
    assert_eq!(
        status["providers"][0]["accounts"][0]["hint"], "…0001",
        "{status:#}"
    );
    let checks: Vec<String> = fake
        .received()
        .iter()
        .filter(|r| r.path.ends_with("/models"))
        .filter_map(|r| {
            r.headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string())
        })
        .collect();
    assert!(
        checks.contains(&"Bearer sk-setup-good-key-0001".to_string()),
        "{checks:?}"
    );
}

#[tokio::test]
async fn the_page_streams_chats_stops_them_edits_tags_and_shows_accounts() {
    if !browser_available() {
        return;
    }
    let fake = FakeUpstream::start().await;
    let words: String = (1..=20).map(|i| format!("word{i} ")).collect();
    let streamed = format!("Hello **bold** <img src=x onerror=alert(1)> {words}done");
    fake.on("stream-coder", Script::text(&streamed).chunk_gap(ms(50)));
    let endless: String = (1..=3000).map(|i| format!("w{i} ")).collect();
    fake.on("endless-coder", Script::text(&endless).chunk_gap(ms(100)));
    fake.on("tagged-coder", Script::text("from tagged"));
    let chunk = |delta: Value, finish: Value| json!({"id": "c1", "object": "chat.completion.chunk", "model": "tool-coder", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    fake.on(
        "tool-coder",
        Script::Events {
            events: vec![
                chunk(json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": ""}}]}), Value::Null),
                chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"path\":\"a.rs\"}"}}]}), Value::Null),
                chunk(json!({}), json!("tool_calls")),
            ],
            chunk_gap: ms(5),
        },
    );
    fake.on_sequence(
        "pool-coder",
        vec![Script::status(429, "slow down"), Script::text("from pool")],
    );
    let mut config = endpoints_config(&[
        ("stream", &fake, "stream-coder"),
        ("endless", &fake, "endless-coder"),
        ("tagged", &fake, "tagged-coder"),
        ("tool", &fake, "tool-coder"),
        ("pool", &fake, "pool-coder"),
    ]);
    config["apiKeys"] = json!({
        "openai-compatible:pool": ["sk-pool-NEVER-SHOWN-aaaa-0001", "sk-pool-NEVER-SHOWN-bbbb-0002"],
    });
    let router = start_router(config).await;

    let screenshots = repo().join("target");
    let summary = browse(&router, "chat").await;
    let step = |name: &str| step(&summary, name);

    // Streamed: a partial answer was on screen before the whole one, which names its row.
    let chat = step("chat-stream");
    let partial = chat["partial"].as_str().unwrap();
    let last = chat["final"].as_str().unwrap();
    assert!(last.ends_with("done"), "{chat:#}");
    assert!(
        partial.len() < last.len() && last.starts_with(partial.trim_end_matches("…")),
        "{chat:#}"
    );
    assert_eq!(chat["provider"], "openai-compatible:stream", "{chat:#}");
    assert_eq!(chat["upstream"], "stream-coder", "{chat:#}");
    assert!(
        chat["ttft"].as_str().unwrap().starts_with("TTFT "),
        "{chat:#}"
    );
    assert_eq!(chat["sent"], json!(["first line\nsecond line"]), "{chat:#}");
    // Markdown is rendered; the model's HTML is shown as text, never as an element.
    assert_eq!(chat["markdown"], json!(["bold"]), "{chat:#}");
    assert_eq!(chat["injected"], 0, "{chat:#}");
    assert!(last.contains("<img src=x onerror=alert(1)>"), "{chat:#}");

    // A tool call in an answer is shown as JSON.
    let tool = step("chat-tool");
    assert_eq!(
        tool["call"],
        json!({"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a.rs\"}"}}),
        "{tool:#}"
    );

    // Stop: the router logged the request as cancelled and let go of the upstream stream.
    let stop = step("chat-stop");
    assert_eq!(stop["outcome"], "cancelled", "{stop:#}");
    assert_eq!(stop["sendVisible"], true, "{stop:#}");
    let mut open = fake.open_streams();
    for _ in 0..100 {
        if open == 0 {
            break;
        }
        tokio::time::sleep(ms(100)).await;
        open = fake.open_streams();
    }
    assert_eq!(open, 0, "the upstream stream is still open after Stop");

    let reload = step("chat-reload");
    assert_eq!(
        reload["roles"],
        json!([
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ]),
        "{reload:#}"
    );
    assert_eq!(reload["model"], "openai-compatible:endless/endless-coder");

    let tags = step("tags");
    assert_eq!(tags["before"]["status"], 404, "{tags:#}");
    assert_eq!(tags["chips"], json!(["speedy", "my-pick"]), "{tags:#}");
    assert_eq!(tags["after"]["status"], 200, "{tags:#}");
    assert_eq!(
        tags["after"]["provider"], "openai-compatible:tagged",
        "{tags:#}"
    );
    assert_eq!(tags["removed"]["status"], 404, "{tags:#}");
    assert_eq!(tags["option"], json!(["tag:my-pick"]), "{tags:#}");

    let accounts = step("accounts");
    assert_eq!(
        accounts["hints"],
        json!(["[1] …0001", "[2] …0002"]),
        "{accounts:#}"
    );
    assert_eq!(accounts["leaked"], false);
    assert!(
        accounts["state"]
            .as_str()
            .unwrap()
            .starts_with("Rate limited"),
        "{accounts:#}"
    );

    for name in ["chat", "tags", "accounts"] {
        assert!(screenshots.join(format!("ui-{name}.png")).is_file());
    }
}
