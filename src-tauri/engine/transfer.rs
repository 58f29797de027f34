//! Config transfer tokens, compatible with the original: `mrconf:v1:` + base64url(JSON).
//! Import also accepts raw JSON and legacy plain base64. Pure: no IO here.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{Map, Value};

pub const TOKEN_PREFIX: &str = "mrconf:v1:";
/// An encrypted token: `mrconf:v1e:` + base64url(salt ‖ nonce ‖ ChaCha20-Poly1305 ciphertext),
/// the key derived from a passphrase with Argon2id.
pub const SEALED_PREFIX: &str = "mrconf:v1e:";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is empty; paste the whole `mrconf:v1:…` token")]
    Empty,
    #[error(
        "the token is not valid base64; paste the whole `mrconf:v1:…` token without line breaks"
    )]
    NotBase64,
    #[error("the token does not contain a JSON config: {0}")]
    NotJson(String),
    #[error("the token's config must be a JSON object")]
    NotAnObject,
    #[error("this token is encrypted; pass the passphrase it was exported with (--passphrase)")]
    NeedsPassphrase,
    #[error("the passphrase is wrong or the token was damaged")]
    WrongPassphrase,
    #[error("could not encrypt the token: {0}")]
    Crypto(String),
    #[error("`mrconf:{0}:` is a token version this modelrelay does not know (it reads `mrconf:v1:` and `mrconf:v1e:`); export it again, or update modelrelay")]
    UnknownVersion(String),
}

fn derive_key(passphrase: &str, salt: &[u8]) -> Result<[u8; 32], TokenError> {
    let mut key = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|error| TokenError::Crypto(error.to_string()))?;
    Ok(key)
}

/// Encrypts a config document with a passphrase.
pub fn seal_token(config: &Map<String, Value>, passphrase: &str) -> Result<String, TokenError> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let mut random = [0u8; SALT_LEN + NONCE_LEN];
    getrandom::getrandom(&mut random).map_err(|error| TokenError::Crypto(error.to_string()))?;
    let (salt, nonce) = random.split_at(SALT_LEN);
    let key = derive_key(passphrase, salt)?;
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
    let plaintext = serde_json::to_vec(config).unwrap_or_default();
    let sealed = cipher
        .encrypt(
            chacha20poly1305::Nonce::from_slice(nonce),
            plaintext.as_slice(),
        )
        .map_err(|error| TokenError::Crypto(error.to_string()))?;
    let mut out = random.to_vec();
    out.extend_from_slice(&sealed);
    Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
}

/// Whether a token needs a passphrase.
pub fn is_sealed(input: &str) -> bool {
    input.trim().starts_with(SEALED_PREFIX)
}

/// Reads any token; `passphrase` is needed (and used) only for sealed ones.
pub fn open_token(input: &str, passphrase: Option<&str>) -> Result<Map<String, Value>, TokenError> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let text: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(payload) = text.strip_prefix(SEALED_PREFIX) else {
        return decode_token(input);
    };
    let passphrase = passphrase.ok_or(TokenError::NeedsPassphrase)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::NotBase64)?;
    if bytes.len() <= SALT_LEN + NONCE_LEN {
        return Err(TokenError::WrongPassphrase);
    }
    let (salt, rest) = bytes.split_at(SALT_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let key = derive_key(passphrase, salt)?;
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
    let plaintext = cipher
        .decrypt(chacha20poly1305::Nonce::from_slice(nonce), ciphertext)
        .map_err(|_| TokenError::WrongPassphrase)?;
    match serde_json::from_slice::<Value>(&plaintext) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(TokenError::NotAnObject),
        Err(error) => Err(TokenError::NotJson(error.to_string())),
    }
}

/// Encodes a whole config document (keys included: the caller warns about that).
pub fn encode_token(config: &Map<String, Value>) -> String {
    let json = serde_json::to_vec(config).unwrap_or_default();
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
}

/// Reads a `mrconf:v1:` token, a raw JSON object, or a legacy base64 token.
pub fn decode_token(input: &str) -> Result<Map<String, Value>, TokenError> {
    let text: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if text.is_empty() {
        return Err(TokenError::Empty);
    }
    let json: Vec<u8> = if text.starts_with('{') {
        input.trim().as_bytes().to_vec()
    } else {
        if let Some(rest) = text.strip_prefix("mrconf:") {
            let version = rest.split(':').next().unwrap_or("");
            if !matches!(version, "v1" | "v1e") || !rest.contains(':') {
                return Err(TokenError::UnknownVersion(
                    version.chars().take(16).collect(),
                ));
            }
        }
        let payload = text.strip_prefix(TOKEN_PREFIX).unwrap_or(&text);
        URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .or_else(|_| URL_SAFE.decode(payload))
            .or_else(|_| STANDARD.decode(payload))
            .map_err(|_| TokenError::NotBase64)?
    };
    match serde_json::from_slice::<Value>(&json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(TokenError::NotAnObject),
        Err(error) => Err(TokenError::NotJson(error.to_string())),
    }
}

/// One difference between two configs, by dotted path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub path: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// What replacing `current` by `incoming` changes. `apiKeys` is left out: key values are
/// never shown, only which accounts get keys (`accounts_with_keys`).
pub fn diff(current: &Map<String, Value>, incoming: &Map<String, Value>) -> Vec<Change> {
    let strip = |map: &Map<String, Value>| {
        let mut map = map.clone();
        map.shift_remove("apiKeys");
        let mut flat = Vec::new();
        flatten("", &Value::Object(map), &mut flat);
        flat
    };
    let before = strip(current);
    let after = strip(incoming);
    let mut changes = Vec::new();
    for (path, old) in &before {
        match after.iter().find(|(p, _)| p == path) {
            Some((_, new)) if new == old => {}
            Some((_, new)) => changes.push(Change {
                path: path.clone(),
                from: Some(old.clone()),
                to: Some(new.clone()),
            }),
            None => changes.push(Change {
                path: path.clone(),
                from: Some(old.clone()),
                to: None,
            }),
        }
    }
    for (path, new) in &after {
        if !before.iter().any(|(p, _)| p == path) {
            changes.push(Change {
                path: path.clone(),
                from: None,
                to: Some(new.clone()),
            });
        }
    }
    changes
}

/// The accounts an imported config carries keys for.
pub fn accounts_with_keys(config: &Map<String, Value>) -> Vec<String> {
    config
        .get("apiKeys")
        .and_then(Value::as_object)
        .map(|keys| {
            keys.iter()
                .filter(|(_, v)| match v {
                    Value::String(s) => !s.trim().is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => false,
                })
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn tokens_round_trip_and_accept_the_originals_forms() {
        let config = map(json!({"apiKeys": {"groq": "gsk_1"}, "bannedModels": ["a"]}));
        let token = encode_token(&config);
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(decode_token(&token).unwrap(), config);
        assert_eq!(
            decode_token(&format!("  {token}\n")).unwrap(),
            config,
            "whitespace is ignored"
        );
        assert_eq!(
            decode_token(r#"{"bannedModels": ["a"]}"#).unwrap()["bannedModels"],
            json!(["a"])
        );
        let legacy = STANDARD.encode(br#"{"pinningMode":"exact"}"#);
        assert_eq!(decode_token(&legacy).unwrap()["pinningMode"], "exact");
    }

    #[test]
    fn bad_tokens_say_what_is_wrong() {
        assert_eq!(decode_token("  "), Err(TokenError::Empty));
        assert_eq!(decode_token("mrconf:v1:%%%"), Err(TokenError::NotBase64));
        assert_eq!(
            decode_token("mrconf:v9:eyJhIjoxfQ"),
            Err(TokenError::UnknownVersion("v9".into()))
        );
        assert!(matches!(
            decode_token(&format!(
                "{TOKEN_PREFIX}{}",
                URL_SAFE_NO_PAD.encode("not json")
            )),
            Err(TokenError::NotJson(_))
        ));
        assert_eq!(
            decode_token(&format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode("[1]"))),
            Err(TokenError::NotAnObject)
        );
    }

    #[test]
    fn sealed_tokens_need_the_right_passphrase() {
        let config = map(json!({"apiKeys": {"groq": "gsk_secret"}}));
        let sealed = seal_token(&config, "correct horse").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("gsk_secret"));
        assert_eq!(open_token(&sealed, Some("correct horse")).unwrap(), config);
        assert_eq!(
            open_token(&sealed, Some("wrong")),
            Err(TokenError::WrongPassphrase)
        );
        assert_eq!(open_token(&sealed, None), Err(TokenError::NeedsPassphrase));
        assert_eq!(
            open_token(&encode_token(&config), None).unwrap(),
            config,
            "plain tokens still open"
        );
        let mut damaged = sealed.clone();
        damaged.pop();
        assert!(open_token(&damaged, Some("correct horse")).is_err());
    }

    #[test]
    fn the_diff_lists_changes_but_never_key_values() {
        let current = map(
            json!({"apiKeys": {"groq": "old"}, "pinningMode": "canonical", "providers": {"groq": {"enabled": true}}}),
        );
        let incoming = map(
            json!({"apiKeys": {"groq": "new", "nvidia": ["a"]}, "pinningMode": "exact", "bannedModels": ["x"]}),
        );
        let changes = diff(&current, &incoming);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["pinningMode", "providers.groq.enabled", "bannedModels"]
        );
        assert!(!serde_json::to_string(&changes).unwrap().contains("new"));
        assert_eq!(accounts_with_keys(&incoming), ["groq", "nvidia"]);
    }
}
