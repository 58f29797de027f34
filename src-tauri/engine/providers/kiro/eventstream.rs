//! The AWS binary event-stream framing Kiro answers in: length-prefixed frames whose prelude
//! and whole message each carry a CRC32. Pure: bytes in, frames out; it knows no event types.

use bytes::{Buf, Bytes, BytesMut};

/// Prelude (total length, headers length, prelude CRC) plus the trailing message CRC.
const PRELUDE_LEN: usize = 12;
const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// Far above any real frame; a larger length means the stream is not event-stream at all.
const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the event-stream prelude CRC does not match")]
    PreludeCrc,
    #[error("the event-stream message CRC does not match")]
    MessageCrc,
    #[error("an event-stream frame claims an impossible length ({0} bytes)")]
    Length(usize),
    #[error("an event-stream frame has malformed headers")]
    Headers,
    #[error("the event stream ended inside a frame")]
    Truncated,
}

/// One decoded frame: its string headers and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Buffers bytes as they arrive and hands out whole frames; a frame may span many chunks.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: BytesMut,
}

impl FrameDecoder {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next whole frame, `None` until one has fully arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buffer.len() < PRELUDE_LEN {
            return Ok(None);
        }
        let total = be_u32(&self.buffer[0..4]) as usize;
        let headers_len = be_u32(&self.buffer[4..8]) as usize;
        if crc32fast::hash(&self.buffer[0..8]) != be_u32(&self.buffer[8..12]) {
            return Err(FrameError::PreludeCrc);
        }
        if !(MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&total) || headers_len > total - MIN_FRAME_LEN
        {
            return Err(FrameError::Length(total));
        }
        if self.buffer.len() < total {
            return Ok(None);
        }
        let frame = self.buffer.split_to(total).freeze();
        if crc32fast::hash(&frame[..total - 4]) != be_u32(&frame[total - 4..]) {
            return Err(FrameError::MessageCrc);
        }
        let headers = parse_headers(&frame[PRELUDE_LEN..PRELUDE_LEN + headers_len])?;
        let payload = frame.slice(PRELUDE_LEN + headers_len..total - 4);
        Ok(Some(Frame { headers, payload }))
    }

    /// Call at the end of the stream: leftover bytes mean the last frame was cut.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Keeps string headers (all Kiro sends); other value types are skipped by their size.
fn parse_headers(mut raw: &[u8]) -> Result<Vec<(String, String)>, FrameError> {
    let mut headers = Vec::new();
    while raw.has_remaining() {
        let name_len = usize::from(raw.try_get_u8().map_err(|_| FrameError::Headers)?);
        let name = take(&mut raw, name_len)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let kind = raw.try_get_u8().map_err(|_| FrameError::Headers)?;
        let fixed = match kind {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return Err(FrameError::Headers),
        };
        match fixed {
            Some(len) => {
                take(&mut raw, len)?;
            }
            None => {
                let len = usize::from(raw.try_get_u16().map_err(|_| FrameError::Headers)?);
                let value = take(&mut raw, len)?;
                if kind == 7 {
                    headers.push((name, String::from_utf8_lossy(value).into_owned()));
                }
            }
        }
    }
    Ok(headers)
}

fn take<'a>(raw: &mut &'a [u8], len: usize) -> Result<&'a [u8], FrameError> {
    if raw.len() < len {
        return Err(FrameError::Headers);
    }
    let (head, tail) = raw.split_at(len);
    *raw = tail;
    Ok(head)
}

/// Encodes one frame with string headers: what Kiro sends, for fakes and fixtures.
pub fn encode_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut header_bytes = Vec::new();
    for (name, value) in headers {
        header_bytes.push(name.len() as u8);
        header_bytes.extend_from_slice(name.as_bytes());
        header_bytes.push(7);
        header_bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
        header_bytes.extend_from_slice(value.as_bytes());
    }
    let total = MIN_FRAME_LEN + header_bytes.len() + payload.len();
    let mut frame = Vec::with_capacity(total);
    frame.extend_from_slice(&(total as u32).to_be_bytes());
    frame.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&prelude_crc.to_be_bytes());
    frame.extend_from_slice(&header_bytes);
    frame.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&message_crc.to_be_bytes());
    frame
}

/// An `event` frame of `event_type` carrying `payload` JSON.
pub fn encode_event(event_type: &str, payload: &str) -> Vec<u8> {
    encode_frame(
        &[
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", "application/json"),
        ],
        payload.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(decoder: &mut FrameDecoder) -> Result<Vec<Frame>, FrameError> {
        let mut frames = Vec::new();
        while let Some(frame) = decoder.next_frame()? {
            frames.push(frame);
        }
        Ok(frames)
    }

    #[test]
    fn decodes_frames_split_across_chunks_byte_by_byte() {
        let mut bytes = encode_event("assistantResponseEvent", r#"{"content":"Hel"}"#);
        bytes.extend(encode_event(
            "assistantResponseEvent",
            r#"{"content":"lo"}"#,
        ));
        let mut decoder = FrameDecoder::default();
        let mut frames = Vec::new();
        for byte in &bytes {
            decoder.push(std::slice::from_ref(byte));
            frames.extend(decode_all(&mut decoder).unwrap());
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[0].header(":event-type"),
            Some("assistantResponseEvent")
        );
        assert_eq!(&frames[1].payload[..], br#"{"content":"lo"}"#);
        assert!(decoder.finish().is_ok());
    }

    #[test]
    fn a_corrupted_payload_fails_the_message_crc() {
        let mut bytes = encode_event("assistantResponseEvent", r#"{"content":"hi"}"#);
        let at = bytes.len() - 6;
        bytes[at] ^= 0xff;
        let mut decoder = FrameDecoder::default();
        decoder.push(&bytes);
        assert_eq!(decoder.next_frame(), Err(FrameError::MessageCrc));
    }

    #[test]
    fn a_corrupted_length_fails_the_prelude_crc() {
        let mut bytes = encode_event("assistantResponseEvent", "{}");
        bytes[3] ^= 0x01;
        let mut decoder = FrameDecoder::default();
        decoder.push(&bytes);
        assert_eq!(decoder.next_frame(), Err(FrameError::PreludeCrc));
    }

    #[test]
    fn a_cut_frame_is_reported_at_the_end() {
        let bytes = encode_event("assistantResponseEvent", "{}");
        let mut decoder = FrameDecoder::default();
        decoder.push(&bytes[..bytes.len() - 3]);
        assert_eq!(decoder.next_frame(), Ok(None));
        assert_eq!(decoder.finish(), Err(FrameError::Truncated));
    }

    #[test]
    fn non_string_headers_are_skipped() {
        let mut headers = vec![3u8];
        headers.extend_from_slice(b"num");
        headers.push(4);
        headers.extend_from_slice(&7u32.to_be_bytes());
        assert_eq!(parse_headers(&headers), Ok(Vec::new()));
    }
}
