//! Splicing a continuation into a cut stream. The client already has part of an answer; the
//! continuation (from another row) must add exactly the rest: the same `id`, `model` and
//! `created` on every chunk, no second role chunk, no repeated and no missing text. Its first
//! characters are held back and compared with what was delivered: an echoed or restarted
//! answer has its repeated prefix dropped, an overlap at the seam is trimmed, and a reply that
//! cannot be placed safely is refused. Pure: JSON chunks in, JSON chunks out.

use serde_json::{Map, Value};

use crate::engine::providers::ContinueMode;

/// How much continuation text is held back before it is compared with the delivered text.
pub const HOLD_BACK_CHARS: usize = 200;
/// The shortest overlap at the seam that is trimmed (shorter ones may be a coincidence).
const MIN_OVERLAP: usize = 5;
/// A reply that starts with this much of the delivered answer started over.
const RESTART_PROBE_CHARS: usize = 30;

/// What the client was sent before the cut, as the splice needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivered {
    pub id: Option<String>,
    pub model: Option<String>,
    pub created: Option<u64>,
    /// Choice 0's text so far.
    pub text: String,
    /// Completion tokens the cut attempt produced (reported or counted).
    pub tokens: u64,
}

/// Why a continuation cannot be spliced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    #[error("the fallback started a different answer")]
    Diverged,
    #[error("the fallback's answer did not go past the delivered text")]
    NothingNew,
}

/// What the splice learned about the row that continued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeamFinding {
    /// The reply continued the text (possibly after trimming an overlap).
    Continued,
    /// The reply began again with the delivered text (an echo or a silent restart).
    Restarted,
}

pub struct Splicer {
    delivered: Delivered,
    mode: ContinueMode,
    /// Continuation text not yet sent, and the chunks it came in (text removed).
    held_text: String,
    held_chunks: Vec<Value>,
    finding: Option<SeamFinding>,
}

impl Splicer {
    pub fn new(delivered: Delivered, mode: ContinueMode) -> Self {
        Self {
            delivered,
            mode,
            held_text: String::new(),
            held_chunks: Vec::new(),
            finding: None,
        }
    }

    /// What the splice found at the seam, once decided.
    pub fn finding(&self) -> Option<SeamFinding> {
        self.finding
    }

    /// Takes one continuation chunk; returns the chunks to send now.
    pub fn feed(&mut self, mut chunk: Value) -> Result<Vec<Value>, SpliceError> {
        self.adopt_identity(&mut chunk);
        let text = take_text(&mut chunk);
        if self.finding.is_some() {
            if let Some(text) = text {
                set_text(&mut chunk, &text);
            }
            return Ok(keep_if_meaningful(chunk).into_iter().collect());
        }
        if let Some(text) = text {
            self.held_text.push_str(&text);
        }
        self.held_chunks.push(chunk);
        self.try_decide(false)
    }

    /// The continuation ended: decide with what was held.
    pub fn finish(&mut self) -> Result<Vec<Value>, SpliceError> {
        if self.finding.is_some() {
            return Ok(Vec::new());
        }
        self.try_decide(true)
    }

    fn try_decide(&mut self, ended: bool) -> Result<Vec<Value>, SpliceError> {
        let delivered = self.delivered.text.as_str();
        let held = self.held_text.as_str();
        if held.is_empty() && !ended {
            return Ok(Vec::new());
        }
        let new_text = if let Some(rest) = held.strip_prefix(delivered) {
            // An echo of the prefill or a silent restart: drop what the client already has.
            if rest.is_empty() && !ended {
                return Ok(Vec::new());
            }
            self.finding = Some(SeamFinding::Restarted);
            rest.to_string()
        } else if delivered.starts_with(held) && !held.is_empty() && !ended {
            // So far the reply repeats the delivered text: wait for it to go past it.
            return Ok(Vec::new());
        } else if self.mode == ContinueMode::Restart {
            // A restarted answer is usable only if it repeats the delivered text exactly.
            return Err(if delivered.starts_with(held) {
                SpliceError::NothingNew
            } else {
                SpliceError::Diverged
            });
        } else if held.chars().count() < HOLD_BACK_CHARS && !ended {
            return Ok(Vec::new());
        } else {
            let probe: String = delivered.chars().take(RESTART_PROBE_CHARS).collect();
            if delivered.chars().count() >= RESTART_PROBE_CHARS && held.starts_with(&probe) {
                return Err(SpliceError::Diverged);
            }
            self.finding = Some(SeamFinding::Continued);
            seam(delivered, held).to_string()
        };
        if new_text.is_empty() && ended && self.finding != Some(SeamFinding::Continued) {
            let finished = self.held_chunks.iter().any(has_finish_reason);
            if !finished {
                return Err(SpliceError::NothingNew);
            }
        }
        let mut out = Vec::new();
        let mut text = Some(new_text).filter(|t| !t.is_empty());
        for mut chunk in std::mem::take(&mut self.held_chunks) {
            if let Some(text) = text.take() {
                set_text(&mut chunk, &text);
            }
            out.extend(keep_if_meaningful(chunk));
        }
        self.held_text.clear();
        Ok(out)
    }

    /// The original answer's `id`, `model` and `created` on every chunk; no role.
    fn adopt_identity(&self, chunk: &mut Value) {
        let Some(object) = chunk.as_object_mut() else {
            return;
        };
        if let Some(id) = &self.delivered.id {
            object.insert("id".into(), Value::String(id.clone()));
        }
        if let Some(model) = &self.delivered.model {
            object.insert("model".into(), Value::String(model.clone()));
        }
        if let Some(created) = self.delivered.created {
            object.insert("created".into(), Value::from(created));
        }
        if let Some(usage) = object.get_mut("usage").and_then(Value::as_object_mut) {
            add_tokens(usage, "completion_tokens", self.delivered.tokens);
            add_tokens(usage, "total_tokens", self.delivered.tokens);
        }
        for choice in choices_mut(object) {
            if let Some(delta) = choice.get_mut("delta").and_then(Value::as_object_mut) {
                delta.remove("role");
            }
        }
    }
}

/// The continuation's text with an overlap at the seam removed: the longest prefix of `next`
/// (at least `MIN_OVERLAP` characters) that the delivered text ends with, or the whitespace the
/// delivered text already ends with.
fn seam<'a>(delivered: &str, next: &'a str) -> &'a str {
    let longest = delivered.len().min(next.len());
    for cut in (MIN_OVERLAP..=longest).rev() {
        if next.is_char_boundary(cut) && delivered.ends_with(&next[..cut]) {
            return &next[cut..];
        }
    }
    let trailing = &delivered[delivered.trim_end().len()..];
    if !trailing.is_empty() {
        if let Some(rest) = next.strip_prefix(trailing) {
            return rest;
        }
    }
    next
}

fn add_tokens(usage: &mut Map<String, Value>, field: &str, extra: u64) {
    if let Some(value) = usage.get(field).and_then(Value::as_u64) {
        usage.insert(field.into(), Value::from(value + extra));
    }
}

fn choices_mut(object: &mut Map<String, Value>) -> impl Iterator<Item = &mut Value> {
    object
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Removes choice 0's `delta.content` and returns it.
fn take_text(chunk: &mut Value) -> Option<String> {
    let delta = chunk.pointer_mut("/choices/0/delta")?.as_object_mut()?;
    match delta.remove("content")? {
        Value::String(text) => Some(text),
        _ => None,
    }
}

fn set_text(chunk: &mut Value, text: &str) {
    if let Some(delta) = chunk
        .pointer_mut("/choices/0/delta")
        .and_then(Value::as_object_mut)
    {
        delta.insert("content".into(), Value::String(text.to_string()));
    }
}

fn has_finish_reason(chunk: &Value) -> bool {
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|choices| {
            choices.iter().any(|c| {
                c.get("finish_reason")
                    .and_then(Value::as_str)
                    .is_some_and(|r| !r.is_empty())
            })
        })
}

/// A chunk is worth sending when it carries text, a tool call, a finish reason or usage.
fn keep_if_meaningful(chunk: Value) -> Option<Value> {
    let usage = chunk.get("usage").is_some_and(|u| !u.is_null());
    let choices = chunk.get("choices").and_then(Value::as_array);
    let meaningful = choices.is_some_and(|choices| {
        choices.iter().any(|c| {
            let delta_has_content = c
                .get("delta")
                .and_then(Value::as_object)
                .is_some_and(|d| d.values().any(|v| !v.is_null() && v != ""));
            let finished = c
                .get("finish_reason")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.is_empty());
            delta_has_content || finished
        })
    });
    (meaningful || usage).then_some(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivered(text: &str) -> Delivered {
        Delivered {
            id: Some("chatcmpl-first".into()),
            model: Some("first-model".into()),
            created: Some(7),
            text: text.into(),
            tokens: 3,
        }
    }

    fn chunk(content: Option<&str>, finish: Option<&str>) -> Value {
        let mut delta = json!({});
        if let Some(content) = content {
            delta["content"] = json!(content);
        }
        json!({"id": "chatcmpl-second", "object": "chat.completion.chunk", "created": 99,
               "model": "second-model",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    /// Feeds `parts` (then a finish chunk) and returns the text the client gets, or the error.
    fn splice(
        delivered_text: &str,
        mode: ContinueMode,
        parts: &[&str],
    ) -> Result<String, SpliceError> {
        let mut splicer = Splicer::new(delivered(delivered_text), mode);
        let mut out = Vec::new();
        let role = json!({"id": "x", "model": "m", "created": 1,
                          "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]});
        out.extend(splicer.feed(role)?);
        for part in parts {
            out.extend(splicer.feed(chunk(Some(part), None))?);
        }
        out.extend(splicer.feed(chunk(None, Some("stop")))?);
        out.extend(splicer.finish()?);
        for c in &out {
            assert_eq!(c["id"], "chatcmpl-first");
            assert_eq!(c["model"], "first-model");
            assert_eq!(c["created"], 7);
            assert!(
                c.pointer("/choices/0/delta/role").is_none(),
                "no second role: {c}"
            );
        }
        assert_eq!(
            out.iter().filter(|c| has_finish_reason(c)).count(),
            1,
            "one finish reason: {out:?}"
        );
        Ok(out
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
            })
            .collect())
    }

    #[test]
    fn a_true_continuation_is_passed_on() {
        assert_eq!(
            splice(
                "Hello wor",
                ContinueMode::Prefill,
                &["ld, and", " goodbye."]
            )
            .unwrap(),
            "ld, and goodbye."
        );
    }

    #[test]
    fn an_echoed_prefix_is_stripped() {
        assert_eq!(
            splice(
                "Hello wor",
                ContinueMode::PrefixFlag,
                &["Hello", " world", "!"]
            )
            .unwrap(),
            "ld!"
        );
    }

    #[test]
    fn a_silent_restart_in_prefill_mode_is_detected_and_not_repeated() {
        let out = splice(
            "The answer is",
            ContinueMode::Prefill,
            &["The ans", "wer is", " 42."],
        )
        .unwrap();
        assert_eq!(out, " 42.");
    }

    #[test]
    fn a_restart_that_repeats_the_delivered_text_continues_after_it() {
        assert_eq!(
            splice("One two", ContinueMode::Restart, &["One", " two", " three"]).unwrap(),
            " three"
        );
    }

    #[test]
    fn a_restart_that_diverges_is_refused() {
        assert_eq!(
            splice("One two", ContinueMode::Restart, &["Uno", " dos"]),
            Err(SpliceError::Diverged)
        );
    }

    #[test]
    fn an_overlap_at_the_seam_is_trimmed() {
        let delivered = "We sort the list then merge";
        let tail = " the halves back together, ".repeat(10);
        let out = splice(delivered, ContinueMode::Prefill, &["then merge", &tail]).unwrap();
        assert_eq!(out, tail);
    }

    #[test]
    fn whitespace_already_delivered_is_not_doubled() {
        assert_eq!(
            splice("Hello ", ContinueMode::Prefill, &[" world"]).unwrap(),
            "world"
        );
    }

    #[test]
    fn a_prefill_reply_that_starts_the_answer_over_and_diverges_is_refused() {
        let delivered = "Here is a long explanation of the algorithm we will use";
        assert_eq!(
            splice(delivered, ContinueMode::Prefill, &["Here is a long explanation of a different thing entirely, and more text to pass the hold back window. ".repeat(3).as_str()]),
            Err(SpliceError::Diverged)
        );
    }

    #[test]
    fn a_reply_with_nothing_new_is_refused() {
        assert_eq!(
            splice("One two", ContinueMode::Restart, &["One"]),
            Err(SpliceError::NothingNew)
        );
    }

    #[test]
    fn usage_counts_both_attempts() {
        let mut splicer = Splicer::new(delivered("abc"), ContinueMode::Prefill);
        splicer
            .feed(chunk(Some("defghijkl"), Some("stop")))
            .unwrap();
        let mut last = json!({"id": "x", "model": "m", "created": 1, "choices": [],
                              "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}});
        let out = splicer.feed(last.take()).unwrap();
        let all: Vec<Value> = out.into_iter().chain(splicer.finish().unwrap()).collect();
        let usage = all.iter().find_map(|c| c.get("usage")).unwrap();
        assert_eq!(usage["completion_tokens"], 7);
        assert_eq!(usage["total_tokens"], 17);
    }
}
