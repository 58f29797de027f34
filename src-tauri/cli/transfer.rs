//! `modelrelay config export|import`: the original's `mrconf:v1:` tokens (keys included, with
//! a warning), an encrypted variant with `--passphrase`, a preview before replacing, and keys
//! moved into the key store on import. A bad token changes nothing.

use std::io::{IsTerminal, Read};
use std::path::Path;

use serde_json::{Map, Value};

use crate::engine::config::{ConfigFile, ConfigStore, Settings};
use crate::engine::providers::builtin::BuiltinCatalog;
use crate::engine::secrets::{decode_keys, encode_keys, known_accounts, SecretStore};
use crate::engine::transfer::{accounts_with_keys, diff, encode_token, open_token, seal_token};

use super::output;
use super::CliError;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print a token holding the whole config, API keys included.
    Export {
        /// Encrypt the token with this passphrase (or set MODELRELAY_PASSPHRASE).
        #[arg(long, env = "MODELRELAY_PASSPHRASE")]
        passphrase: Option<String>,
    },
    /// Replace the config with a token's (from the argument, or stdin when absent).
    Import {
        token: Option<String>,
        /// Apply without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// The passphrase of an encrypted token (or set MODELRELAY_PASSPHRASE).
        #[arg(long, env = "MODELRELAY_PASSPHRASE")]
        passphrase: Option<String>,
    },
}

/// The config file plus every stored key, as an export carries it.
pub fn export_document(
    config_path: &Path,
    store: &dyn SecretStore,
) -> Result<Map<String, Value>, CliError> {
    let file = ConfigFile::load(config_path)?;
    let mut document = file.raw().clone();
    let catalog = BuiltinCatalog::load().map_err(|e| CliError::Failed(e.to_string()))?;
    let mut keys = document
        .get("apiKeys")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for account in known_accounts(&catalog, file.settings()) {
        if let Ok(Some(secret)) = store.get(&account) {
            let list: Vec<String> = decode_keys(&secret)
                .iter()
                .map(|k| secrecy::ExposeSecret::expose_secret(k).to_string())
                .collect();
            match list.as_slice() {
                [] => {}
                [one] => {
                    keys.insert(account, Value::String(one.clone()));
                }
                many => {
                    keys.insert(account, serde_json::json!(many));
                }
            }
        }
    }
    if !keys.is_empty() {
        document.insert("apiKeys".into(), Value::Object(keys));
    }
    Ok(document)
}

pub fn export(
    config_path: &Path,
    store: &dyn SecretStore,
    passphrase: Option<&str>,
) -> Result<(), CliError> {
    let document = export_document(config_path, store)?;
    let token = match passphrase.filter(|p| !p.is_empty()) {
        Some(passphrase) => {
            seal_token(&document, passphrase).map_err(|e| CliError::Failed(e.to_string()))?
        }
        None => {
            output::warning("this token contains your API keys: anyone who has it can use them. Use --passphrase to encrypt it.");
            encode_token(&document)
        }
    };
    output::line(&token);
    Ok(())
}

fn read_token(token: Option<String>) -> Result<(String, bool), CliError> {
    match token {
        Some(token) => Ok((token, false)),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Failed(format!("cannot read the token from stdin: {e}")))?;
            Ok((text, true))
        }
    }
}

fn confirm(prompt: &str) -> Result<bool, CliError> {
    // The token may have come through stdin; ask on the terminal itself.
    let terminal = dialoguer::console::Term::stderr();
    if !terminal.is_term() {
        return Ok(false);
    }
    dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact_on(&terminal)
        .map_err(|e| CliError::Failed(format!("the prompt failed: {e}")))
}

pub fn import(
    config_path: &Path,
    store: &dyn SecretStore,
    token: Option<String>,
    yes: bool,
    passphrase: Option<&str>,
) -> Result<(), CliError> {
    let (token, from_stdin) = read_token(token)?;
    let mut incoming =
        open_token(&token, passphrase).map_err(|e| CliError::Usage(e.to_string()))?;
    let parsed = Settings::from_json(&incoming)
        .map_err(|e| CliError::Usage(format!("the token's config is not valid: {e}")))?;
    let config = ConfigStore::new(ConfigFile::load(config_path)?);
    let changes = diff(&config.document(), &incoming);
    let accounts = accounts_with_keys(&incoming);
    output::line(&format!("Importing into {}:", config_path.display()));
    if changes.is_empty() {
        output::line("  no setting changes");
    }
    for change in &changes {
        let show = |v: &Option<Value>| v.as_ref().map_or("(none)".to_string(), Value::to_string);
        output::line(&format!(
            "  {}: {} → {}",
            change.path,
            show(&change.from),
            show(&change.to)
        ));
    }
    if !accounts.is_empty() {
        output::line(&format!(
            "  API keys for: {} (stored in the {} store)",
            accounts.join(", "),
            store.kind()
        ));
    }
    if !yes {
        let interactive = !from_stdin && std::io::stdin().is_terminal();
        if !(interactive || from_stdin) || !confirm("Replace your config with this one?")? {
            return Err(CliError::Failed(
                "nothing was changed (pass --yes to import without asking)".into(),
            ));
        }
    }
    // Keys first, remembering what they replace, so a failure can be undone.
    let mut written: Vec<(String, Option<secrecy::SecretString>)> = Vec::new();
    for (account, keys) in &parsed.api_keys {
        if keys.is_empty() {
            continue;
        }
        let previous = store.get(account).ok().flatten();
        if let Err(error) = store.set(account, &encode_keys(&keys.0)) {
            for (done, previous) in written.into_iter().rev() {
                let _ = match previous {
                    Some(value) => store.set(&done, &value),
                    None => store.delete(&done),
                };
            }
            return Err(CliError::Failed(format!(
                "the key of `{account}` could not be stored ({error}); nothing was changed"
            )));
        }
        written.push((account.clone(), previous));
    }
    incoming.shift_remove("apiKeys");
    config.update(move |raw| *raw = incoming)?;
    output::line(&format!(
        "Imported: {} setting changes, {} API keys.",
        changes.len(),
        written.len()
    ));
    Ok(())
}
