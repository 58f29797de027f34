//! What an OpenAI chat stream has said so far: which choices finished (with a non-empty
//! `finish_reason`), whether `[DONE]` came, the reported usage, and — so a cut answer can be
//! finished elsewhere — the answer's text, identity and whether anything but text was said.
//! Parsed, not searched for. Pure.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of a `chat.completion.chunk` that decide whether an answer is complete.
#[derive(Deserialize)]
struct ChunkHead<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    created: Option<u64>,
    #[serde(default, borrow)]
    choices: Vec<ChoiceHead<'a>>,
    #[serde(default)]
    usage: Option<UsageHead>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceHead<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<DeltaHead<'a>>,
}

#[derive(Deserialize)]
struct DeltaHead<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<&'a RawValue>,
    #[serde(default, borrow)]
    function_call: Option<&'a RawValue>,
    #[serde(default, borrow)]
    reasoning_content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    reasoning: Option<&'a RawValue>,
    #[serde(default, borrow)]
    thinking: Option<&'a RawValue>,
}

impl DeltaHead<'_> {
    /// A tool call, reasoning or thinking: something a continuation cannot splice.
    fn says_more_than_text(&self) -> bool {
        [
            self.tool_calls,
            self.function_call,
            self.reasoning_content,
            self.reasoning,
            self.thinking,
        ]
        .into_iter()
        .flatten()
        .any(|raw| !matches!(raw.get().trim(), "null" | "\"\"" | "[]"))
    }
}

#[derive(Deserialize)]
struct UsageHead {
    completion_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone)]
pub struct StreamProgress {
    /// Per choice index: whether it has finished.
    choices: Vec<bool>,
    pub saw_done: bool,
    /// An `{"error": …}` event arrived.
    pub saw_error: bool,
    pub data_events: u64,
    /// `usage.completion_tokens` when the upstream reported it.
    pub completion_tokens: Option<u64>,
    /// Choice 0's text so far.
    pub text: String,
    /// A tool call, reasoning or thinking delta was sent.
    pub more_than_text: bool,
    /// The answer's `id`, `model` and `created`, from its first chunk that had them.
    pub id: Option<String>,
    pub model: Option<String>,
    pub created: Option<u64>,
}

impl StreamProgress {
    /// Takes in one `data:` payload (not `[DONE]`).
    pub fn observe(&mut self, payload: &[u8]) {
        self.data_events += 1;
        let Ok(head) = serde_json::from_slice::<ChunkHead<'_>>(payload) else {
            return;
        };
        if head.error.is_some() {
            self.saw_error = true;
        }
        if self.id.is_none() {
            self.id = head.id.map(Cow::into_owned);
        }
        if self.model.is_none() {
            self.model = head.model.map(Cow::into_owned);
        }
        if self.created.is_none() {
            self.created = head.created;
        }
        for choice in head.choices {
            if let Some(delta) = &choice.delta {
                if delta.says_more_than_text() {
                    self.more_than_text = true;
                }
                if let (0, Some(content)) = (choice.index, &delta.content) {
                    self.text.push_str(content);
                }
            }
            let index = choice.index as usize;
            if index >= self.choices.len() {
                if index > 1024 {
                    continue;
                }
                self.choices.resize(index + 1, false);
            }
            if choice
                .finish_reason
                .is_some_and(|reason| !reason.is_empty())
            {
                self.choices[index] = true;
            }
        }
        if let Some(tokens) = head.usage.and_then(|u| u.completion_tokens) {
            self.completion_tokens = Some(tokens);
        }
    }

    /// Every choice the stream opened has a finish reason.
    pub fn finished(&self) -> bool {
        !self.choices.is_empty() && self.choices.iter().all(|&done| done)
    }

    /// Tokens generated: the reported usage, else one per data event.
    pub fn tokens(&self) -> u64 {
        self.completion_tokens.unwrap_or(self.data_events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(payloads: &[&str]) -> StreamProgress {
        let mut progress = StreamProgress::default();
        for payload in payloads {
            progress.observe(payload.as_bytes());
        }
        progress
    }

    #[test]
    fn a_finish_reason_finishes_its_choice() {
        let progress = after(&[
            r#"{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ]);
        assert!(progress.finished());
        assert_eq!(progress.tokens(), 2);
    }

    #[test]
    fn an_empty_or_null_finish_reason_is_not_a_finish() {
        assert!(!after(&[
            r#"{"choices":[{"index":0,"delta":{"content":"lo wor"},"finish_reason":""}]}"#
        ])
        .finished());
        assert!(!after(&[
            r#"{"choices":[{"index":0,"delta":{"content":"finish_reason"},"finish_reason":null}]}"#
        ])
        .finished());
        assert!(!after(&[]).finished());
    }

    #[test]
    fn every_choice_must_finish() {
        let progress = after(&[
            r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ]);
        assert!(!progress.finished());
        let progress = after(&[
            r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":1,"delta":{},"finish_reason":"length"}]}"#,
        ]);
        assert!(progress.finished());
    }

    #[test]
    fn keeps_the_text_and_identity_and_notices_tool_calls() {
        let progress = after(&[
            r#"{"id":"c1","model":"m","created":5,"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel","reasoning_content":null}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"lo \"x\""}}]}"#,
        ]);
        assert_eq!(progress.text, "Hello \"x\"");
        assert_eq!(
            (
                progress.id.as_deref(),
                progress.model.as_deref(),
                progress.created
            ),
            (Some("c1"), Some("m"), Some(5))
        );
        assert!(!progress.more_than_text);
        let tools = after(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}"#,
        ]);
        assert!(tools.more_than_text);
        let thinking = after(&[r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}"#]);
        assert!(thinking.more_than_text);
    }

    #[test]
    fn reads_usage_and_errors() {
        let progress = after(&[
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":42}}"#,
            r#"{"error":{"message":"overloaded"}}"#,
            "not json",
        ]);
        assert_eq!(progress.tokens(), 42);
        assert!(progress.saw_error);
    }
}
