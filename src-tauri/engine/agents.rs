//! Pointing coding agents at the router: merging modelrelay into OpenCode's, OpenClaw's and
//! Claude Code's config files without touching anything else in them, with a timestamped
//! backup, and refusing to write over a file that cannot be parsed. Shared by `modelrelay
//! onboard` and the page's setup flow (`/api/setup`).

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum AgentConfigError {
    #[error("`{path}` is not valid JSON ({message} at line {line}, column {column}); it was left untouched — fix it, or add modelrelay by hand (see `modelrelay onboard --help`)")]
    Unparseable {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("`{path}` must hold a JSON object; it was left untouched")]
    NotAnObject { path: PathBuf },
    #[error("cannot read or write `{path}`: {message}")]
    Io { path: PathBuf, message: String },
}

/// The agents onboarding can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    OpenCode,
    OpenClaw,
    ClaudeCode,
}

impl Agent {
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenCode => "OpenCode",
            Self::OpenClaw => "OpenClaw",
            Self::ClaudeCode => "Claude Code",
        }
    }

    /// `~/.config/opencode/opencode.json`, `~/.openclaw/openclaw.json`, `~/.claude/settings.json`.
    pub fn config_path(self, home: &Path) -> PathBuf {
        match self {
            Self::OpenCode => home.join(".config/opencode/opencode.json"),
            Self::OpenClaw => home.join(".openclaw/openclaw.json"),
            Self::ClaudeCode => home.join(".claude/settings.json"),
        }
    }

    /// `opencode`, `openclaw`, `claude-code`: the id `/api/setup/agents/{id}` takes.
    pub fn id(self) -> &'static str {
        match self {
            Self::OpenCode => "opencode",
            Self::OpenClaw => "openclaw",
            Self::ClaudeCode => "claude-code",
        }
    }

    pub const ALL: [Self; 3] = [Self::OpenCode, Self::OpenClaw, Self::ClaudeCode];

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|agent| agent.id() == id)
    }

    /// Whether the agent looks installed: its config directory exists.
    pub fn installed(self, home: &Path) -> bool {
        self.config_path(home).parent().is_some_and(Path::is_dir)
    }

    /// Pure: whether `config` already sends this agent to the router at `base_url`.
    pub fn points_at(self, config: &Map<String, Value>, base_url: &str) -> bool {
        let at = |pointer: &str, expected: &str| {
            Value::Object(config.clone())
                .pointer(pointer)
                .and_then(Value::as_str)
                == Some(expected)
        };
        match self {
            Self::OpenCode => at("/provider/router/options/baseURL", base_url),
            Self::OpenClaw => at("/models/providers/modelrelay/baseUrl", base_url),
            Self::ClaudeCode => at("/env/ANTHROPIC_BASE_URL", claude_root(base_url)),
        }
    }

    pub fn merge(self, existing: Map<String, Value>, base_url: &str) -> Map<String, Value> {
        match self {
            Self::OpenCode => merge_opencode(existing, base_url),
            Self::OpenClaw => merge_openclaw(existing, base_url),
            Self::ClaudeCode => merge_claude_code(existing, base_url),
        }
    }
}

fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    match entry {
        Value::Object(inner) => inner,
        _ => unreachable!("replaced by an object just above"),
    }
}

/// Adds the `router` provider and makes `router/auto-fastest` the default model.
pub fn merge_opencode(mut config: Map<String, Value>, base_url: &str) -> Map<String, Value> {
    config
        .entry("$schema")
        .or_insert_with(|| json!("https://opencode.ai/config.json"));
    child(&mut config, "provider").insert(
        "router".into(),
        json!({
            "npm": "@ai-sdk/openai-compatible",
            "name": "modelrelay",
            "options": {"baseURL": base_url, "apiKey": "dummy-key"},
            "models": {"auto-fastest": {"name": "Auto Fastest"}}
        }),
    );
    config.insert("model".into(), json!("router/auto-fastest"));
    config
}

/// Adds the `modelrelay` provider and makes `modelrelay/auto-fastest` the primary model.
pub fn merge_openclaw(mut config: Map<String, Value>, base_url: &str) -> Map<String, Value> {
    child(child(&mut config, "models"), "providers").insert(
        "modelrelay".into(),
        json!({
            "baseUrl": base_url,
            "api": "openai-completions",
            "apiKey": "no-key",
            "models": [{"id": "auto-fastest", "name": "Auto Fastest"}]
        }),
    );
    let defaults = child(child(&mut config, "agents"), "defaults");
    child(defaults, "model").insert("primary".into(), json!("modelrelay/auto-fastest"));
    child(defaults, "models").insert("modelrelay/auto-fastest".into(), json!({}));
    config
}

/// Points Claude Code at the router's Anthropic endpoint (`/v1/messages`) through the `env`
/// section of its settings; any Claude model name it sends is routed as `auto-fastest`.
pub fn merge_claude_code(mut config: Map<String, Value>, base_url: &str) -> Map<String, Value> {
    let env = child(&mut config, "env");
    env.insert("ANTHROPIC_BASE_URL".into(), json!(claude_root(base_url)));
    env.insert("ANTHROPIC_AUTH_TOKEN".into(), json!("modelrelay"));
    config
}

/// Claude Code takes the router's root: `…/v1/messages` is added by the client.
fn claude_root(base_url: &str) -> &str {
    base_url.trim_end_matches('/').trim_end_matches("/v1")
}

/// What `configure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub path: PathBuf,
    pub backup: Option<PathBuf>,
}

/// Reads the agent's config (a missing file is empty), merges modelrelay in, backs the old
/// file up as `<file>.bak-<unix seconds>`, and writes the result atomically.
pub fn configure(
    agent: Agent,
    home: &Path,
    base_url: &str,
    now_unix: u64,
) -> Result<Configured, AgentConfigError> {
    let path = agent.config_path(home);
    let io = |error: std::io::Error| AgentConfigError::Io {
        path: path.clone(),
        message: error.to_string(),
    };
    let existing = match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(io(error)),
    };
    let current = match &existing {
        None => Map::new(),
        Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(AgentConfigError::NotAnObject { path }),
            Err(error) => {
                let message = error.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                return Err(AgentConfigError::Unparseable {
                    path,
                    message,
                    line: error.line(),
                    column: error.column(),
                });
            }
        },
    };
    let merged = agent.merge(current, base_url);
    let backup = match &existing {
        Some(bytes) => {
            let backup = PathBuf::from(format!("{}.bak-{now_unix}", path.display()));
            std::fs::write(&backup, bytes).map_err(io)?;
            Some(backup)
        }
        None => None,
    };
    crate::engine::config::write_atomically(&path, &merged).map_err(|error| {
        AgentConfigError::Io {
            path: path.clone(),
            message: error.to_string(),
        }
    })?;
    Ok(Configured { path, backup })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn opencode_keeps_other_providers_and_settings() {
        let existing = map(
            json!({"provider": {"anthropic": {"options": {"apiKey": "x"}}}, "theme": "dark", "model": "anthropic/claude"}),
        );
        let merged = merge_opencode(existing, "http://127.0.0.1:9000/v1");
        assert_eq!(merged["provider"]["anthropic"]["options"]["apiKey"], "x");
        assert_eq!(merged["theme"], "dark");
        assert_eq!(merged["model"], "router/auto-fastest");
        assert_eq!(
            merged["provider"]["router"]["options"]["baseURL"],
            "http://127.0.0.1:9000/v1"
        );
    }

    #[test]
    fn openclaw_keeps_other_agents_and_models() {
        let existing = map(
            json!({"models": {"providers": {"other": {"baseUrl": "x"}}}, "agents": {"defaults": {"models": {"other/m": {}}, "workspace": "~/w"}}}),
        );
        let merged = merge_openclaw(existing, "http://127.0.0.1:7352/v1");
        assert_eq!(merged["models"]["providers"]["other"]["baseUrl"], "x");
        assert_eq!(
            merged["models"]["providers"]["modelrelay"]["api"],
            "openai-completions"
        );
        assert_eq!(merged["agents"]["defaults"]["workspace"], "~/w");
        assert!(merged["agents"]["defaults"]["models"]["other/m"].is_object());
        assert_eq!(
            merged["agents"]["defaults"]["model"]["primary"],
            "modelrelay/auto-fastest"
        );
    }

    #[test]
    fn claude_code_gets_the_router_root_and_keeps_its_settings() {
        let existing =
            map(json!({"permissions": {"allow": ["Bash(ls)"]}, "env": {"DISABLE_TELEMETRY": "1"}}));
        let merged = merge_claude_code(existing, "http://127.0.0.1:7352/v1");
        assert_eq!(merged["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:7352");
        assert_eq!(merged["env"]["DISABLE_TELEMETRY"], "1");
        assert_eq!(merged["permissions"]["allow"][0], "Bash(ls)");
    }

    #[test]
    fn configure_backs_up_and_refuses_unparseable_files() {
        let home = tempfile::tempdir().unwrap();
        let path = Agent::OpenCode.config_path(home.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"theme": "dark"}"#).unwrap();
        let done = configure(
            Agent::OpenCode,
            home.path(),
            "http://127.0.0.1:7352/v1",
            1700,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(done.backup.unwrap()).unwrap(),
            r#"{"theme": "dark"}"#
        );
        let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(written["theme"], "dark");

        let broken = Agent::OpenClaw.config_path(home.path());
        std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
        std::fs::write(&broken, "{ json5: 'comments are not JSON', }").unwrap();
        let error = configure(Agent::OpenClaw, home.path(), "http://x/v1", 1700).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
        assert_eq!(
            std::fs::read_to_string(&broken).unwrap(),
            "{ json5: 'comments are not JSON', }"
        );
    }

    #[test]
    fn a_merged_config_points_at_the_router_and_a_foreign_one_does_not() {
        let base = "http://127.0.0.1:7352/v1";
        for agent in Agent::ALL {
            assert!(!agent.points_at(&Map::new(), base), "{agent:?}");
            assert!(
                agent.points_at(&agent.merge(Map::new(), base), base),
                "{agent:?}"
            );
            assert!(!agent.points_at(&agent.merge(Map::new(), "http://x/v1"), base));
            assert_eq!(Agent::from_id(agent.id()), Some(agent));
        }
    }

    #[test]
    fn a_missing_file_is_created_without_a_backup() {
        let home = tempfile::tempdir().unwrap();
        let done = configure(Agent::OpenClaw, home.path(), "http://x/v1", 1).unwrap();
        assert!(done.backup.is_none());
        assert!(done.path.exists());
    }
}
