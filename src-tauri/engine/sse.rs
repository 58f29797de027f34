//! The one parser of server-sent events: splits a byte stream into whole lines (keeping at
//! most one partial line, capped) and reads what each `data:` line says. It owns no IO and no
//! protocol meaning beyond SSE's own (`[DONE]` is OpenAI's terminator, kept here because every
//! upstream we speak uses it).

use bytes::{Bytes, BytesMut};

/// The longest line kept while waiting for its end. A longer line means the upstream is not
/// speaking SSE (or is broken): the stream is failed rather than buffered without bound.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// A line grew past [`MAX_LINE_BYTES`] without ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the upstream sent an event line longer than {MAX_LINE_BYTES} bytes")]
pub struct LineTooLong;

/// Splits a byte stream into whole lines. Bytes pass through unchanged; only the unfinished
/// last line of a chunk is held back until its newline arrives.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: BytesMut,
}

impl LineSplitter {
    /// The whole lines `chunk` completes (with their newlines), possibly empty. Zero-copy
    /// when no partial line was pending.
    pub fn feed(&mut self, chunk: Bytes) -> Result<Bytes, LineTooLong> {
        let Some(last_newline) = chunk.iter().rposition(|&b| b == b'\n') else {
            if self.partial.len() + chunk.len() > MAX_LINE_BYTES {
                self.partial.clear();
                return Err(LineTooLong);
            }
            self.partial.extend_from_slice(&chunk);
            return Ok(Bytes::new());
        };
        let tail = chunk.slice(last_newline + 1..);
        let whole = if self.partial.is_empty() {
            chunk.slice(..=last_newline)
        } else {
            let mut joined = std::mem::take(&mut self.partial);
            joined.extend_from_slice(&chunk[..=last_newline]);
            joined.freeze()
        };
        if tail.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        self.partial.extend_from_slice(&tail);
        Ok(whole)
    }

    /// The unterminated last line, when the stream ends.
    pub fn finish(&mut self) -> Bytes {
        std::mem::take(&mut self.partial).freeze()
    }

    /// True when nothing is held back (the last byte seen ended a line).
    pub fn at_line_start(&self) -> bool {
        self.partial.is_empty()
    }
}

/// What one SSE line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseLine<'a> {
    /// `data: <payload>` (payload trimmed), other than `[DONE]`.
    Data(&'a [u8]),
    /// `data: [DONE]`.
    Done,
    /// A blank line, a comment, `event:`, `id:` or `retry:`.
    Other,
}

/// Reads one line (with or without its `\n` / `\r\n`).
pub fn classify(line: &[u8]) -> SseLine<'_> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(payload) = line.strip_prefix(b"data:") else {
        return SseLine::Other;
    };
    match payload.trim_ascii() {
        b"[DONE]" => SseLine::Done,
        payload => SseLine::Data(payload),
    }
}

/// The lines of `bytes`, each without its line ending.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

/// The `data:` payloads of `bytes`, in order; `None` stands for `[DONE]`.
pub fn data_lines(bytes: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    lines(bytes).filter_map(|line| match classify(line) {
        SseLine::Data(payload) => Some(Some(payload)),
        SseLine::Done => Some(None),
        SseLine::Other => None,
    })
}

/// True when `bytes` ends an event (a blank line follows the last line).
pub fn ends_event(bytes: &[u8]) -> bool {
    bytes.ends_with(b"\n\n") || bytes.ends_with(b"\r\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(parts: &[&'static [u8]]) -> (Vec<u8>, Bytes) {
        let mut splitter = LineSplitter::default();
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(&splitter.feed(Bytes::from_static(part)).unwrap());
        }
        (out, splitter.finish())
    }

    #[test]
    fn passes_whole_lines_and_holds_back_the_partial_one() {
        let (out, rest) = feed_all(&[
            b"data: {\"a\":",
            b"1}\n\ndata: [DO",
            b"NE]\n\n: ping\n",
            b"da",
        ]);
        assert_eq!(out, b"data: {\"a\":1}\n\ndata: [DONE]\n\n: ping\n");
        assert_eq!(&rest[..], b"da");
    }

    #[test]
    fn a_line_without_end_is_capped() {
        let mut splitter = LineSplitter::default();
        let block = Bytes::from(vec![b'x'; 64 * 1024]);
        let mut failed = false;
        for _ in 0..(MAX_LINE_BYTES / block.len() + 2) {
            if splitter.feed(block.clone()).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "an endless line must be refused");
        assert!(splitter.partial.len() <= MAX_LINE_BYTES);
    }

    #[test]
    fn classifies_lines() {
        assert_eq!(
            classify(b"data: {\"x\":1}\r\n"),
            SseLine::Data(b"{\"x\":1}")
        );
        assert_eq!(classify(b"data:[DONE]"), SseLine::Done);
        assert_eq!(classify(b": keep-alive"), SseLine::Other);
        assert_eq!(classify(b"event: ping"), SseLine::Other);
        assert_eq!(classify(b""), SseLine::Other);
        let payloads: Vec<_> = data_lines(b"event: x\ndata: 1\r\n\r\ndata: [DONE]\n\n").collect();
        assert_eq!(payloads, vec![Some(&b"1"[..]), None]);
        assert!(ends_event(b"data: 1\n\n") && !ends_event(b"data: 1\n"));
    }
}
