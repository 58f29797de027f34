//! Commands that ask a running router: `status`, `models`, `ping`. They talk to its admin API
//! on loopback and say plainly when no router is running.

use std::time::Duration;

use serde_json::{json, Value};

use super::output;
use super::CliError;

pub struct Remote {
    http: reqwest::Client,
    base: String,
}

impl Remote {
    pub fn new(port: u16) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Failed(e.to_string()))?;
        Ok(Self {
            http,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    fn unreachable(&self, error: &reqwest::Error) -> CliError {
        if error.is_connect() {
            CliError::NotRunning(self.base.clone())
        } else {
            CliError::Failed(format!(
                "the router at {} did not answer: {}",
                self.base,
                crate::engine::providers::describe_http_error(error)
            ))
        }
    }

    async fn read(&self, response: reqwest::Response) -> Result<Value, CliError> {
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            let message = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("unexpected answer");
            return Err(CliError::Failed(format!(
                "the router answered HTTP {}: {message}",
                status.as_u16()
            )));
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        self.read(response).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, CliError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        self.read(response).await
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map(|f| {
                if f.fract() == 0.0 {
                    format!("{f:.0}")
                } else {
                    format!("{f:.2}")
                }
            })
            .unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

pub async fn status(
    remote: &Remote,
    key_store: &str,
    config_path: &std::path::Path,
) -> Result<(), CliError> {
    let status = match remote.get("/api/status").await {
        Ok(status) => status,
        Err(CliError::NotRunning(base)) => {
            output::line(&format!("No router is running at {base}."));
            output::line(&format!(
                "Config: {}  Key store: {key_store}",
                config_path.display()
            ));
            return Err(CliError::NotRunning(base));
        }
        Err(other) => return Err(other),
    };
    output::line(&format!(
        "Router running at {} (version {}, up {} s)",
        status["baseUrl"].as_str().unwrap_or("?"),
        text(&status["version"]),
        text(&status["uptimeSeconds"])
    ));
    output::line(&format!(
        "Models up: {} of {}; usable providers: {}",
        text(&status["rowsUp"]),
        text(&status["rows"]),
        text(&status["providersUsable"])
    ));
    let top = &status["autoFastest"];
    if top.is_null() {
        output::line("auto-fastest: no model is available yet");
    } else {
        output::line(&format!(
            "auto-fastest → {} ({})",
            text(&top["id"]),
            text(&top["name"])
        ));
    }
    if !status["pinned"].is_null() {
        output::line(&format!(
            "Pinned: {}/{}",
            text(&status["pinned"]["provider"]),
            text(&status["pinned"]["modelId"])
        ));
    }
    output::line(&format!(
        "Key store: {}  Config: {}",
        text(&status["keyStore"]),
        config_path.display()
    ));
    Ok(())
}

pub async fn models(remote: &Remote, as_json: bool, all: bool) -> Result<(), CliError> {
    let models = remote.get("/api/models").await?;
    if as_json {
        output::line(&serde_json::to_string_pretty(&models).unwrap_or_default());
        return Ok(());
    }
    let mut rows: Vec<&Value> = models["models"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|m| all || !matches!(m["status"].as_str(), Some("no_key" | "disabled")))
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by_key(|m| m["rank"].as_u64().unwrap_or(u64::MAX));
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|m| {
            vec![
                m["rank"].as_u64().map_or("-".into(), |r| r.to_string()),
                text(&m["id"]),
                text(&m["status"]),
                text(&m["ttftMs"]),
                text(&m["tokensPerSecond"]),
                m["uptime"]
                    .as_f64()
                    .map_or("-".into(), |u| format!("{:.0}%", u * 100.0)),
                text(&m["score"]),
                text(&m["context"]),
            ]
        })
        .collect();
    output::table(
        &[
            "#", "model", "status", "ttft ms", "tok/s", "uptime", "score", "context",
        ],
        &table,
    );
    if rows.is_empty() {
        output::line("No usable models: add a key with `modelrelay onboard` (or pass --all to list every row).");
    }
    Ok(())
}

pub async fn ping(remote: &Remote, model: Option<&str>) -> Result<(), CliError> {
    let models = remote.get("/api/models").await?;
    let targets: Vec<String> = models["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| match model {
            Some(name) => [&m["id"], &m["group"], &m["modelId"]]
                .iter()
                .any(|v| v.as_str() == Some(name)),
            None => !matches!(
                m["status"].as_str(),
                Some("no_key" | "disabled" | "banned" | "excluded")
            ),
        })
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    if targets.is_empty() {
        return Err(CliError::Usage(match model {
            Some(name) => format!("no model `{name}`; `modelrelay models --all` lists them"),
            None => "no usable model to ping; add a key with `modelrelay onboard`".into(),
        }));
    }
    let mut failures = 0;
    for id in targets {
        let result = remote
            .post("/api/models/ping", json!({"modelId": id}))
            .await?;
        if result["ok"] == true {
            output::line(&format!(
                "{id}: ok, first token in {} ms, done in {} ms",
                text(&result["ttftMs"]),
                text(&result["totalMs"])
            ));
        } else {
            failures += 1;
            output::line(&format!("{id}: failed: {}", text(&result["error"])));
        }
    }
    if failures > 0 && model.is_some() {
        return Err(CliError::Failed("the ping failed".into()));
    }
    Ok(())
}
