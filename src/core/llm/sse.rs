//! Server-sent events, both ways: an incremental decoder for the event streams
//! models answer with (fed bytes as they arrive, cut anywhere) and the encoder
//! for the events this Worker sends. Framing follows the HTML standard's
//! "event stream interpretation": lines end in CRLF, LF or CR; a blank line
//! dispatches; `:` starts a comment; several `data:` lines join with `\n`.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any (the standard's default is `message`).
    pub event: Option<String>,
    pub data: String,
}

/// Bytes in, whole events out. Bytes are kept until their line ends, so a
/// UTF-8 character split between chunks is decoded whole (line ends are
/// ASCII and never occur inside a multi-byte character).
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF opening the next one is the same line end.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
    /// Bytes of a byte-order mark matched at the start (3: past the start).
    seen: usize,
}

/// A line, or an event's joined data, longer than this is cut: an upstream
/// cannot make us hold more.
const MAX_LINE_BYTES: usize = 64 * 1024;
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

impl SseDecoder {
    pub fn new() -> SseDecoder {
        SseDecoder::default()
    }

    /// Feeds the next chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in chunk {
            // A UTF-8 byte-order mark opening the stream is not data (a
            // partial one is not UTF-8 either, and is dropped the same).
            if self.seen < BOM.len() {
                if b == BOM[self.seen] {
                    self.seen += 1;
                    continue;
                }
                self.seen = BOM.len();
            }
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.take_line(&line) {
                        out.push(event);
                    }
                }
                _ if self.line.len() < MAX_LINE_BYTES => self.line.push(b),
                _ => {}
            }
        }
        out
    }

    /// The end of the stream: a last event that lacks its blank line is
    /// still delivered (the standard drops it; upstreams that forget the
    /// final blank line are common, and dropping their answer helps no one).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            if let Some(event) = self.take_line(&line) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn take_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None; // comment or keep-alive
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => match &mut self.data {
                // Several data lines are joined with LF, as the standard says.
                Some(data) if data.len() + value.len() < MAX_LINE_BYTES => {
                    data.push('\n');
                    data.push_str(value);
                }
                Some(_) => {}
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry and unknown fields do not matter here
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        self.data.take().map(|data| SseEvent { event, data })
    }
}

/// One event of ours, framed: `event: <name>` and one `data:` line per line
/// of `data` (JSON from serde has none, but the framing does not rely on it).
pub fn encode(event: &str, data: &str) -> String {
    let mut out = format!("event: {event}\n");
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.trim_end_matches('\r'));
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out: Vec<SseEvent> = chunks.iter().flat_map(|c| d.push(c)).collect();
        out.extend(d.finish());
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    /// Every framing feature at once: CRLF, CR and LF line ends, a comment and
    /// a keep-alive, a multi-line data field, a named event, multi-byte text.
    const SAMPLE: &str = ": keep-alive\r\n\r\ndata: {\"response\":\"Caf\u{e9} \"}\r\n\r\ndata: {\"response\":\"No\u{eb}l \u{1F600}\"}\n\nevent: note\ndata: line one\ndata: line two\r\r:\ndata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: None,
                data: "{\"response\":\"Caf\u{e9} \"}".into(),
            },
            SseEvent {
                event: None,
                data: "{\"response\":\"No\u{eb}l \u{1F600}\"}".into(),
            },
            SseEvent {
                event: Some("note".into()),
                data: "line one\nline two".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ]
    }

    #[test]
    fn whole_sample() {
        assert_eq!(decode_in(&[SAMPLE.as_bytes()]), expected());
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let bytes = SAMPLE.as_bytes();
        for i in 0..=bytes.len() {
            assert_eq!(decode_in(&[&bytes[..i], &bytes[i..]]), expected(), "split at {i}");
            for j in i..=bytes.len() {
                assert_eq!(
                    decode_in(&[&bytes[..i], &bytes[i..j], &bytes[j..]]),
                    expected(),
                    "split at {i} and {j}"
                );
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let chunks: Vec<&[u8]> = SAMPLE.as_bytes().chunks(1).collect();
        assert_eq!(decode_in(&chunks), expected());
    }

    #[test]
    fn several_events_in_one_chunk_and_a_missing_final_blank_line() {
        assert_eq!(
            data(&decode_in(&[b"data: a\n\ndata: b\n\ndata: c"])),
            ["a", "b", "c"]
        );
        assert_eq!(data(&decode_in(&[b"data:no-space\n\n"])), ["no-space"]);
        assert_eq!(data(&decode_in(&[b"data\n\n"])), [""]);
        assert!(decode_in(&[b": only comments\n\n\n"]).is_empty());
        assert!(decode_in(&[b""]).is_empty());
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        let with_bom = [&BOM[..], SAMPLE.as_bytes()].concat();
        assert_eq!(decode_in(&[&with_bom[..2], &with_bom[2..]]), expected());
        assert_eq!(data(&decode_in(&[b"\xEF\xBB\xBFdata: x\n\n"])), ["x"]);
    }

    #[test]
    fn a_huge_line_is_bounded() {
        let mut d = SseDecoder::new();
        let big = vec![b'x'; 3 * MAX_LINE_BYTES];
        d.push(b"data: ");
        d.push(&big);
        let e = d.push(b"\n\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].data.len() <= MAX_LINE_BYTES);
        let many: Vec<u8> = "data: 0123456789\n".repeat(20_000).into_bytes();
        let e = decode_in(&[&many, b"\n"]);
        assert!(
            e[0].data.len() <= MAX_LINE_BYTES,
            "joined data lines are bounded too"
        );
    }

    #[test]
    fn encode_frames_each_line() {
        assert_eq!(
            encode("delta", "{\"text\":\"Hi\"}"),
            "event: delta\ndata: {\"text\":\"Hi\"}\n\n"
        );
        let framed = encode("x", "a\nb");
        assert_eq!(decode_in(&[framed.as_bytes()])[0].data, "a\nb");
    }
}
