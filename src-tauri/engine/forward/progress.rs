//! What an OpenAI chat stream has said so far: which choices finished (with a non-empty
//! `finish_reason`), whether `[DONE]` came, the reported usage. Parsed, not searched for.
//! Pure.

use serde::Deserialize;

/// The fields of a `chat.completion.chunk` that decide whether an answer is complete.
#[derive(Deserialize)]
struct ChunkHead<'a> {
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
    finish_reason: Option<std::borrow::Cow<'a, str>>,
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
        for choice in head.choices {
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
