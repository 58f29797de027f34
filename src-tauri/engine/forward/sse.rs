//! Watches a relayed SSE byte stream without changing it: was `[DONE]` sent, did a choice
//! finish, are we in the middle of a line. It never buffers more than one partial line.

/// Longest partial line kept for inspection; longer lines are only checked for their end.
const MAX_KEPT_LINE: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct SseObserver {
    partial: Vec<u8>,
    overflowed: bool,
    pub saw_done: bool,
    pub saw_finish: bool,
    pub data_events: u64,
    /// `usage.completion_tokens` when the upstream reported it.
    pub completion_tokens: Option<u64>,
}

impl SseObserver {
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(newline);
            if self.partial.is_empty() && !self.overflowed {
                self.inspect_line(head);
            } else {
                self.keep(head);
                let line = std::mem::take(&mut self.partial);
                if !self.overflowed {
                    self.inspect_line(&line);
                }
                self.overflowed = false;
            }
            rest = &tail[1..];
        }
        self.keep(rest);
    }

    /// True when the last byte relayed ended a line (an error event can follow cleanly).
    pub fn at_line_start(&self) -> bool {
        self.partial.is_empty() && !self.overflowed
    }

    fn keep(&mut self, bytes: &[u8]) {
        if self.partial.len() + bytes.len() > MAX_KEPT_LINE {
            self.overflowed = true;
            self.partial.clear();
        } else if !bytes.is_empty() {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn inspect_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(payload) = line.strip_prefix(b"data:") else {
            return;
        };
        let payload = payload.trim_ascii();
        if payload == b"[DONE]" {
            self.saw_done = true;
            return;
        }
        self.data_events += 1;
        if has_finish_reason(payload) {
            self.saw_finish = true;
        }
        if contains(payload, b"\"completion_tokens\"") {
            if let Ok(event) = serde_json::from_slice::<serde_json::Value>(payload) {
                if let Some(tokens) = event
                    .pointer("/usage/completion_tokens")
                    .and_then(|t| t.as_u64())
                {
                    self.completion_tokens = Some(tokens);
                }
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl SseObserver {
    /// Tokens generated: the reported usage, else one per data event.
    pub fn tokens(&self) -> u64 {
        self.completion_tokens.unwrap_or(self.data_events)
    }
}

/// True when the JSON text has `"finish_reason":` followed by a string (not `null`).
fn has_finish_reason(payload: &[u8]) -> bool {
    const KEY: &[u8] = b"\"finish_reason\"";
    let mut haystack = payload;
    while let Some(at) = haystack.windows(KEY.len()).position(|w| w == KEY) {
        let after = haystack[at + KEY.len()..].trim_ascii_start();
        if let Some(value) = after.strip_prefix(b":") {
            if value.trim_ascii_start().first() == Some(&b'"') {
                return true;
            }
        }
        haystack = &haystack[at + KEY.len()..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_done_and_finish_across_chunk_boundaries() {
        let mut observer = SseObserver::default();
        observer.feed(b"data: {\"choices\":[{\"delta\":{},\"finish_reas");
        assert!(!observer.at_line_start());
        observer.feed(b"on\": \"stop\"}]}\n\ndata: [DO");
        assert!(observer.saw_finish);
        assert!(!observer.saw_done);
        observer.feed(b"NE]\n\n");
        assert!(observer.saw_done);
        assert!(observer.at_line_start());
        assert_eq!(observer.data_events, 1);
    }

    #[test]
    fn a_null_finish_reason_is_not_a_finish() {
        let mut observer = SseObserver::default();
        observer.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"finish_reason\"},\"finish_reason\":null}]}\r\n\r\n");
        assert!(!observer.saw_finish);
        assert_eq!(observer.data_events, 1);
    }

    #[test]
    fn reads_reported_usage() {
        let mut observer = SseObserver::default();
        observer.feed(b"data: {\"choices\":[]}\n\n");
        assert_eq!(observer.tokens(), 1);
        observer.feed(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":42}}\n\n",
        );
        assert_eq!(observer.tokens(), 42);
    }

    #[test]
    fn overlong_lines_do_not_grow_memory() {
        let mut observer = SseObserver::default();
        observer.feed(b"data: ");
        for _ in 0..20 {
            observer.feed(&[b'x'; 8192]);
        }
        assert!(observer.partial.len() <= MAX_KEPT_LINE);
        observer.feed(b"\ndata: [DONE]\n");
        assert!(observer.saw_done);
    }
}
