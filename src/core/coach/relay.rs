//! Gathers a model's streamed text: pieces in (cut anywhere, even inside a
//! word), the whole text out at the end, for the same judgement a
//! non-streaming answer gets. Nothing is relayed to the earpiece on the
//! way: a later word can always turn an answer into a refused one, and a
//! spoken word cannot be taken back.
//!
//! What it does decide on the way is when to stop reading: once the text can
//! no longer be a whole suggestion (a second line of text has begun, or the
//! line has more words than the limit allows), nothing the model says next
//! can make it one, and the model's time is better spent on another try.

use crate::core::answer::parse::without_reasoning;

/// Text beyond this many bytes is not read (a suggestion is a few hundred
/// bytes); what was read is judged, and refused.
const MAX_READ_BYTES: usize = 4 * 1024;

#[derive(Debug)]
pub struct Relay {
    raw: String,
    max_words: usize,
}

impl Relay {
    /// Gathers an answer of at most `max_words` words, as the judge allows.
    pub fn new(max_words: usize) -> Relay {
        Relay {
            raw: String::new(),
            max_words,
        }
    }

    /// Adds the next piece of text.
    pub fn push(&mut self, piece: &str) {
        if self.raw.len() < MAX_READ_BYTES {
            self.raw.push_str(piece);
        }
    }

    /// Whether the text so far can no longer be a whole suggestion, whatever
    /// comes next: too long to read on, a second line of text after the
    /// first (a label alone on its line aside), or more words on its line
    /// than `max_words` (a room username said by its spoken name only adds
    /// words). JSON and a reasoning block are read to their end.
    pub fn cannot_stand(&self) -> bool {
        if self.raw.len() >= MAX_READ_BYTES {
            return true;
        }
        if self.raw.contains("<think>") && !self.raw.contains("</think>") {
            return false;
        }
        let text = without_reasoning(&self.raw).trim_start();
        if text.starts_with(['{', '`']) {
            return false;
        }
        let body = ["say:", "do:"]
            .iter()
            .find_map(|label| {
                let head = text.get(..label.len())?;
                head.eq_ignore_ascii_case(label)
                    .then(|| text[label.len()..].trim_start())
            })
            .unwrap_or(text);
        let (line, after) = body.split_once('\n').unwrap_or((body, ""));
        !after.trim().is_empty() || line.split_whitespace().count() > self.max_words
    }

    /// The whole text as the model wrote it.
    pub fn finish(self) -> String {
        self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::answer::judge::Judge;
    use crate::core::answer::parse::{Action, Suggestion};
    use crate::core::request::CoachRequest;
    use serde_json::Value;

    const WORDS: usize = 15;

    /// The final suggestion, judged as a whole answer is.
    fn judged(raw: String) -> Option<Suggestion> {
        let req =
            CoachRequest::from_json(br#"{"broadcaster": "Luna", "context": "Tip: Max tipped 40 tokens"}"#)
                .unwrap();
        Judge::new(&req, "", WORDS).answer(&Value::String(raw), None).ok()
    }

    /// Feeds `text` in pieces of `n` characters until it cannot stand;
    /// returns the text gathered and whether reading stopped early.
    fn gather(text: &str, n: usize) -> (String, bool) {
        let mut r = Relay::new(WORDS);
        let chars: Vec<char> = text.chars().collect();
        for c in chars.chunks(n) {
            r.push(&c.iter().collect::<String>());
            if r.cannot_stand() {
                return (r.finish(), true);
            }
        }
        (r.finish(), false)
    }

    #[test]
    fn a_whole_answer_is_read_to_its_end_at_every_piece_size() {
        let text = "SAY: Thanks Max for the 40 tokens, you are a star!";
        for n in 1..text.len() {
            let (raw, stopped) = gather(text, n);
            assert!(!stopped, "pieces of {n}");
            let s = judged(raw).unwrap();
            assert_eq!(
                (s.action(), s.content()),
                (Action::Say, "Thanks Max for the 40 tokens, you are a star!")
            );
        }
    }

    #[test]
    fn reading_stops_once_the_answer_cannot_stand() {
        let (raw, stopped) = gather("Thanks Max for the tip!\nAlso ask chat about music.", 5);
        assert!(stopped);
        assert!(judged(raw).is_none(), "a second line: refused, not cut off");
        let long = "word ".repeat(60);
        let (raw, stopped) = gather(&long, 7);
        assert!(stopped && raw.len() < 100, "{raw}");
        assert!(
            judged(raw).is_none(),
            "over the word limit: refused, not shortened"
        );
        // A label alone on its line, and a line's end with nothing after it, stand.
        for text in ["SAY:\nThanks Max for the tip!", "Thanks Max for the tip!\n\n"] {
            let (raw, stopped) = gather(text, 3);
            assert!(!stopped, "{text:?}");
            assert_eq!(judged(raw).unwrap().content(), "Thanks Max for the tip!");
        }
    }

    #[test]
    fn json_and_reasoning_are_read_to_their_end() {
        let json = "{\n  \"action\": \"say\",\n  \"content\": \"Thanks Max for the tip!\"\n}";
        let (raw, stopped) = gather(json, 4);
        assert!(!stopped);
        assert_eq!(judged(raw).unwrap().content(), "Thanks Max for the tip!");
        let thinking = format!(
            "<think>{}\nso thank Max</think>Thanks Max, you rock!",
            "hmm ".repeat(40)
        );
        let (raw, stopped) = gather(&thinking, 9);
        assert!(!stopped);
        assert_eq!(judged(raw).unwrap().content(), "Thanks Max, you rock!");
    }

    #[test]
    fn nothing_past_the_byte_limit_is_read() {
        let mut r = Relay::new(WORDS);
        let thinking = format!("<think>{}", "x".repeat(MAX_READ_BYTES));
        r.push(&thinking);
        r.push("more");
        assert!(r.cannot_stand());
        assert_eq!(r.finish(), thinking);
    }
}
