//! `modelrelay onboard`: add provider keys (checked with one cheap call each, stored in the
//! key store), point OpenCode and OpenClaw at the router, and offer start-on-login.
//! Interactive with arrow-key prompts in a terminal; every step also has a flag.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use secrecy::SecretString;

use crate::engine::config::{ConfigFile, EnvOverrides, Settings};
use crate::engine::providers::builtin::{
    configured_provider, BuiltinCatalog, ProviderSpec, SpecAuth,
};
use crate::engine::secrets::{decode_keys, encode_keys, SecretStore};

use super::output;
use super::CliError;
use crate::engine::agents::{configure, Agent};
pub use crate::engine::providers::keycheck::{check_key, KeyCheck};

/// What `onboard` was asked to do, from flags or prompts.
#[derive(Debug, Clone, clap::Args)]
pub struct OnboardArgs {
    /// Port the router listens on (written into the agents' configs).
    #[arg(long, default_value_t = crate::engine::DEFAULT_PORT)]
    pub port: u16,
    /// A key to store, as PROVIDER=KEY (repeatable), e.g. --key groq=gsk_…
    #[arg(long = "key", value_name = "PROVIDER=KEY")]
    pub keys: Vec<String>,
    /// Configure OpenCode (~/.config/opencode/opencode.json).
    #[arg(long, overrides_with = "no_opencode")]
    pub opencode: bool,
    #[arg(long, hide = true)]
    pub no_opencode: bool,
    /// Configure OpenClaw (~/.openclaw/openclaw.json).
    #[arg(long, overrides_with = "no_openclaw")]
    pub openclaw: bool,
    #[arg(long, hide = true)]
    pub no_openclaw: bool,
    /// Configure Claude Code (~/.claude/settings.json) to use the router's /v1/messages.
    #[arg(long)]
    pub claude_code: bool,
    /// Start modelrelay when you log in.
    #[arg(long)]
    pub autostart: bool,
    /// Store keys without checking them against the provider.
    #[arg(long)]
    pub no_check: bool,
    /// Never prompt: do only what the flags say.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

fn parse_key_flag(flag: &str) -> Result<(String, SecretString), CliError> {
    let (provider, key) = flag.split_once('=').ok_or_else(|| {
        CliError::Usage(format!(
            "`--key {}` must look like PROVIDER=KEY",
            flag.split('=').next().unwrap_or("")
        ))
    })?;
    let key = key.trim();
    if provider.trim().is_empty() || key.is_empty() {
        return Err(CliError::Usage(
            "`--key` needs a provider and a key, as PROVIDER=KEY".into(),
        ));
    }
    Ok((
        provider.trim().to_string(),
        SecretString::from(key.to_string()),
    ))
}

pub struct Onboarding<'a> {
    pub config_path: &'a Path,
    pub home: &'a Path,
    pub store: &'a dyn SecretStore,
    pub http: reqwest::Client,
    pub env: EnvOverrides,
}

impl Onboarding<'_> {
    fn specs(&self) -> Result<(BuiltinCatalog, Settings), CliError> {
        let catalog = BuiltinCatalog::load().map_err(|e| CliError::Failed(e.to_string()))?;
        let settings = ConfigFile::load(self.config_path)?.settings().clone();
        Ok((catalog, settings))
    }

    /// Checks (unless told not to) and stores one key. Refused keys are not stored.
    pub async fn add_key(
        &self,
        spec: &ProviderSpec,
        settings: &Settings,
        key: SecretString,
        check: bool,
    ) -> Result<KeyCheck, CliError> {
        let provider = configured_provider(spec, settings, &self.env);
        let verdict = if check {
            check_key(&self.http, &provider.base_url, &key).await
        } else {
            KeyCheck::Unverified("not checked".into())
        };
        if let KeyCheck::Refused(_) = verdict {
            return Ok(verdict);
        }
        self.store
            .set(&spec.key, &encode_keys(&[key]))
            .map_err(|e| CliError::Failed(e.to_string()))?;
        Ok(verdict)
    }

    fn has_key(&self, provider: &str) -> bool {
        self.store
            .get(provider)
            .ok()
            .flatten()
            .is_some_and(|secret| !decode_keys(&secret).is_empty())
    }

    fn base_url(port: u16) -> String {
        format!("http://127.0.0.1:{port}/v1")
    }

    fn configure_agent(&self, agent: Agent, port: u16) -> Result<(), CliError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let done = configure(agent, self.home, &Self::base_url(port), now)
            .map_err(|e| CliError::Failed(e.to_string()))?;
        match done.backup {
            Some(backup) => output::line(&format!(
                "{} now uses modelrelay: {} (backup: {})",
                agent.name(),
                done.path.display(),
                backup.display()
            )),
            None => output::line(&format!(
                "{} now uses modelrelay: {}",
                agent.name(),
                done.path.display()
            )),
        }
        Ok(())
    }

    /// The flag-driven flow. Returns an error when any key was refused (after doing the rest).
    pub async fn run_flags(&self, args: &OnboardArgs) -> Result<(), CliError> {
        let (catalog, settings) = self.specs()?;
        let mut refused = Vec::new();
        for flag in &args.keys {
            let (provider, key) = parse_key_flag(flag)?;
            let spec = catalog
                .providers
                .iter()
                .find(|p| p.key == provider)
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "no provider `{provider}`; known: {}",
                        catalog
                            .providers
                            .iter()
                            .map(|p| p.key.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            match self.add_key(spec, &settings, key, !args.no_check).await? {
                KeyCheck::Valid => output::line(&format!(
                    "{}: key checked and stored in the {} store",
                    spec.name,
                    self.store.kind()
                )),
                KeyCheck::Unverified(reason) => output::line(&format!(
                    "{}: key stored in the {} store (not verified: {reason})",
                    spec.name,
                    self.store.kind()
                )),
                KeyCheck::Refused(status) => {
                    output::warning(&format!(
                        "{}: the provider refused this key (HTTP {status}); it was not stored",
                        spec.name
                    ));
                    refused.push(spec.name.clone());
                }
            }
        }
        if args.opencode {
            self.configure_agent(Agent::OpenCode, args.port)?;
        }
        if args.openclaw {
            self.configure_agent(Agent::OpenClaw, args.port)?;
        }
        if args.claude_code {
            self.configure_agent(Agent::ClaudeCode, args.port)?;
        }
        if args.autostart {
            super::service::install_autostart(true)?;
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(CliError::Failed(format!(
                "keys refused by: {}",
                refused.join(", ")
            )))
        }
    }

    /// The interactive flow with arrow-key prompts.
    pub async fn run_interactive(&self, args: &OnboardArgs) -> Result<(), CliError> {
        use dialoguer::{Confirm, Password, Select};
        let (catalog, settings) = self.specs()?;
        output::line(&format!(
            "modelrelay onboarding — config: {} — keys go to the {} store.\nChoose a provider to add its key (↑/↓, Enter); choose “Done” when finished.",
            self.config_path.display(),
            self.store.kind()
        ));
        let prompt_error =
            |e: dialoguer::Error| CliError::Failed(format!("the prompt failed: {e}"));
        loop {
            let mut items: Vec<String> = catalog
                .providers
                .iter()
                .map(|spec| {
                    let state = if self.has_key(&spec.key) {
                        "key set"
                    } else if spec.auth != SpecAuth::Required {
                        "key optional"
                    } else {
                        "no key"
                    };
                    format!(
                        "{:<18} {:<12} {}",
                        spec.name,
                        state,
                        spec.signup_url.as_deref().unwrap_or("")
                    )
                })
                .collect();
            items.push("Done".into());
            let choice = Select::new()
                .with_prompt("Provider")
                .items(&items)
                .default(items.len() - 1)
                .interact()
                .map_err(prompt_error)?;
            let Some(spec) = catalog.providers.get(choice) else {
                break;
            };
            let key = Password::new()
                .with_prompt(format!("API key for {} (hidden; empty to skip)", spec.name))
                .allow_empty_password(true)
                .interact()
                .map_err(prompt_error)?;
            if key.trim().is_empty() {
                continue;
            }
            match self
                .add_key(
                    spec,
                    &settings,
                    SecretString::from(key.trim().to_string()),
                    !args.no_check,
                )
                .await?
            {
                KeyCheck::Valid => {
                    output::line(&format!("✓ {}: key works and is stored", spec.name))
                }
                KeyCheck::Unverified(reason) => output::line(&format!(
                    "• {}: key stored, not verified ({reason})",
                    spec.name
                )),
                KeyCheck::Refused(status) => output::warning(&format!(
                    "✗ {}: the provider refused this key (HTTP {status}); not stored",
                    spec.name
                )),
            }
        }
        for agent in [Agent::OpenCode, Agent::OpenClaw, Agent::ClaudeCode] {
            let wanted = Confirm::new()
                .with_prompt(format!(
                    "Configure {} to use modelrelay ({})?",
                    agent.name(),
                    agent.config_path(self.home).display()
                ))
                .default(true)
                .interact()
                .map_err(prompt_error)?;
            if wanted {
                if let Err(error) = self.configure_agent(agent, args.port) {
                    output::warning(&error.to_string());
                }
            }
        }
        let autostart = Confirm::new()
            .with_prompt("Start modelrelay when you log in?")
            .default(false)
            .interact()
            .map_err(prompt_error)?;
        if autostart {
            super::service::install_autostart(true)?;
        }
        output::line(&format!(
            "Done. Point any OpenAI-compatible client at {} with model `auto-fastest` (API key: any string).",
            Self::base_url(args.port)
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn key_flags_are_provider_equals_key() {
        let (provider, key) = parse_key_flag("groq=gsk_abc=def").unwrap();
        assert_eq!(provider, "groq");
        assert_eq!(key.expose_secret(), "gsk_abc=def");
        assert!(parse_key_flag("groq").is_err());
        assert!(parse_key_flag("=x").is_err());
        assert!(parse_key_flag("groq= ").is_err());
    }
}
