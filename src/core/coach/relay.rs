//! Relays a model's streamed text to the earpiece: pieces of text in (cut
//! anywhere, even inside a word), speakable deltas out, and at the end the
//! whole text, for the same judgement a non-streaming answer gets.
//!
//! What is held back, so that nothing is spoken that would not survive the
//! final parse: reasoning (`<think>`), the form marker (`SAY:`, `DO:`,
//! `WAIT`), an answer that turns out to be JSON (JSON mode cannot stream, but
//! a model may answer in JSON anyway), anything after the first line, and the
//! first few words until they show the answer is not a refusal or a
//! preamble (or, with moderation on, everything: nothing is spoken before
//! the guard model has read it all). Deltas are cut from the speech-cleaned
//! text at word boundaries, so their concatenation is a prefix of the final
//! `content`.

use crate::core::answer::judge::may_open_a_non_answer;
use crate::core::answer::parse::without_reasoning;
use crate::core::answer::speech::clean;

/// Words seen before the first delta, to tell a suggestion from a refusal.
pub const HOLD_WORDS: usize = 3;
/// Text beyond this many bytes is not relayed (a one-sentence answer is a
/// few hundred bytes); the final parse still reads it.
const MAX_RELAYED_BYTES: usize = 4 * 1024;

/// Form markers the streaming prompt asks for, and the openings of markup to
/// hold; an answer that so far is a prefix of one of them is undecided.
const MARKERS: &[&str] = &["wait", "do:", "say:", "<think>", "```"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Not enough text yet to know.
    Undecided,
    /// Speakable text after `skip` bytes of marker.
    Spoken { skip: usize },
    /// Nothing is relayed; the final parse decides (JSON, `WAIT`, a refusal).
    Held,
}

#[derive(Debug)]
pub struct Relay {
    raw: String,
    form: Form,
    sent: String,
    max_words: usize,
}

impl Relay {
    /// Relays at most `max_words` words, as the final content will have.
    pub fn new(max_words: usize) -> Relay {
        Relay {
            raw: String::new(),
            form: Form::Undecided,
            sent: String::new(),
            max_words,
        }
    }

    /// A relay that sends nothing: the whole text is judged at the end.
    pub fn holding_all() -> Relay {
        Relay {
            form: Form::Held,
            ..Relay::new(0)
        }
    }

    /// What the deltas have said so far.
    pub fn sent(&self) -> &str {
        &self.sent
    }

    /// Nothing more the model says can change the answer: the first line
    /// of spoken text has ended (a line ending in `:` is a preamble, and the
    /// answer is what follows), or it already has more speakable words than
    /// are spoken.
    pub fn has_all_it_needs(&self) -> bool {
        if !matches!(self.form, Form::Spoken { .. }) {
            return false;
        }
        let (line, ended) = first_line(self.body());
        (ended && !line.trim_end().ends_with(':'))
            || clean(complete_words(line), usize::MAX).split_whitespace().count() > self.max_words
    }

    /// The answer's text after any reasoning and the form marker.
    fn body(&self) -> &str {
        let Form::Spoken { skip } = self.form else {
            return "";
        };
        without_reasoning(&self.raw)
            .trim_start()
            .get(skip..)
            .unwrap_or("")
            .trim_start()
    }

    /// Feeds the next piece of text; returns the delta it makes speakable, if
    /// any. `may_say` screens the words so far: once it refuses them, nothing
    /// more is relayed and the whole answer is judged at the end.
    pub fn push(&mut self, piece: &str, may_say: &dyn Fn(&str) -> bool) -> Option<String> {
        if self.raw.len() >= MAX_RELAYED_BYTES {
            self.raw.push_str(piece);
            return None;
        }
        self.raw.push_str(piece);
        self.next_delta(false, may_say)
    }

    /// The end: the whole text as the model wrote it, and the last delta,
    /// if the end released words still held.
    pub fn finish(mut self, may_say: &dyn Fn(&str) -> bool) -> (String, Option<String>) {
        let last = self.next_delta(true, may_say);
        (self.raw, last)
    }

    fn next_delta(&mut self, at_end: bool, may_say: &dyn Fn(&str) -> bool) -> Option<String> {
        if self.form == Form::Undecided {
            self.form = decide(&self.raw, at_end);
        }
        if !matches!(self.form, Form::Spoken { .. }) {
            return None;
        }
        // The first line only: the final parse reads no more.
        let (line, line_ended) = first_line(self.body());
        let done = at_end || line_ended;
        // Complete words only, unless nothing more can come, and nothing
        // from an unclosed `*stage direction*`, `(aside)` or `"quote"` on,
        // which the cleaning would read differently once closed.
        let stable = settled(if done { line } else { complete_words(line) }, done);
        let preamble = line_ended && line.trim_end().ends_with(':');
        // Markup the final parse reads differently (a code fence, a JSON
        // object inside the line, a preamble line): nothing more is relayed.
        if preamble || line.contains("```") || line.contains('{') {
            self.form = Form::Held;
            return None;
        }
        if self.sent.is_empty() {
            if !done && stable.split_whitespace().count() < HOLD_WORDS {
                return None;
            }
            if may_open_a_non_answer(stable) || opens_with_a_preamble(stable) {
                self.form = Form::Held;
                return None;
            }
        }
        if !may_say(stable) {
            self.form = Form::Held;
            return None;
        }
        let cleaned = clean(stable, self.max_words);
        let delta = cleaned.strip_prefix(self.sent.as_str())?;
        if delta.is_empty() {
            return None;
        }
        let delta = delta.to_string();
        self.sent = cleaned;
        Some(delta)
    }
}

/// The first line of `body`, and whether it has ended.
fn first_line(body: &str) -> (&str, bool) {
    match body.find('\n') {
        Some(i) => (&body[..i], true),
        None => (body, false),
    }
}

/// `line` up to its last whitespace: the words that are complete.
fn complete_words(line: &str) -> &str {
    match line.rfind(char::is_whitespace) {
        Some(i) => &line[..i],
        None => "",
    }
}

/// `text` up to the first markup still open: an odd `*` or `"`, or more `(`
/// or `[` than their closers. At the end (`done`) nothing more can close it.
fn settled(text: &str, done: bool) -> &str {
    if done {
        return text;
    }
    let mut cut = text.len();
    for mark in ['*', '"'] {
        if text.matches(mark).count() % 2 == 1 {
            cut = cut.min(text.rfind(mark).unwrap_or(cut));
        }
    }
    for (open, close) in [('(', ')'), ('[', ']')] {
        if text.matches(open).count() > text.matches(close).count() {
            cut = cut.min(text.rfind(open).unwrap_or(cut));
        }
    }
    &text[..cut]
}

/// Openers of a preamble ("Sure! Say: ...", "Here's one idea: ..."): an
/// answer that starts so is judged whole, never relayed piece by piece.
fn opens_with_a_preamble(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
        .to_lowercase();
    PREAMBLE_OPENERS.contains(&first.as_str()) || text.contains(':')
}

/// First words that open preambles rather than suggestions.
const PREAMBLE_OPENERS: &[&str] = &[
    "here",
    "here's",
    "sure",
    "okay",
    "ok",
    "certainly",
    "absolutely",
    "alright",
    "suggestion",
];

/// The form of an answer from its opening.
fn decide(raw: &str, at_end: bool) -> Form {
    let visible = without_reasoning(raw);
    let start = visible.trim_start();
    // An open `<think>` hides everything after it.
    if raw.contains("<think>") && !raw.contains("</think>") {
        return if at_end { Form::Held } else { Form::Undecided };
    }
    if start.is_empty() {
        return if at_end { Form::Held } else { Form::Undecided };
    }
    let lower = start.to_ascii_lowercase();
    if !at_end && MARKERS.iter().any(|m| m.starts_with(&lower)) {
        return Form::Undecided;
    }
    let wait = lower
        .strip_prefix("wait")
        .is_some_and(|rest| !rest.starts_with(char::is_alphabetic));
    if lower.starts_with(['{', '[', '`']) || wait {
        return Form::Held;
    }
    for marker in ["say:", "do:"] {
        if lower.starts_with(marker) {
            return Form::Spoken { skip: marker.len() };
        }
    }
    Form::Spoken { skip: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::answer::judge::Judge;
    use crate::core::answer::parse::{Action, Suggestion};
    use crate::core::request::CoachRequest;
    use serde_json::Value;

    const WORDS: usize = 15;
    const ALL: fn(&str) -> bool = |_| true;

    /// The final suggestion, judged as a whole answer is.
    fn judged(raw: String) -> Option<Suggestion> {
        let req =
            CoachRequest::from_json(br#"{"broadcaster": "Luna", "context": "Tip: Max tipped 40 tokens"}"#)
                .unwrap();
        Judge::new(&req, "", WORDS).answer(&Value::String(raw), None).ok()
    }

    /// Feeds `text` in pieces of `n` characters; returns the deltas and the final suggestion.
    fn relay(text: &str, n: usize) -> (Vec<String>, Option<Suggestion>) {
        let mut r = Relay::new(WORDS);
        let chars: Vec<char> = text.chars().collect();
        let mut deltas: Vec<String> = chars
            .chunks(n)
            .filter_map(|c| r.push(&c.iter().collect::<String>(), &ALL))
            .collect();
        let (raw, last) = r.finish(&ALL);
        deltas.extend(last);
        (deltas, judged(raw))
    }

    #[test]
    fn deltas_say_the_final_content_at_every_piece_size() {
        let text = "SAY: Thanks Max for the 40 tokens, you are a star!";
        for n in 1..text.len() {
            let (deltas, s) = relay(text, n);
            let s = s.unwrap();
            assert_eq!(s.action(), Action::Say);
            assert_eq!(deltas.concat(), s.content(), "pieces of {n}");
            assert!(deltas.iter().all(|d| !d.contains("SAY")), "{deltas:?}");
        }
    }

    #[test]
    fn markup_the_cleaning_removes_is_never_spoken_first() {
        let emoji = "Thanks Max \u{1F600} \u{1F600} \u{1F600} \u{1F600} for the tip, you are a star and I really mean it";
        for text in [
            "Thanks Max *waves happily* for the tip!",
            "Thanks Max (with a big smile) for the tip!",
            "\"Thanks Max for the tip!\"",
            emoji,
        ] {
            for n in 1..text.len().min(40) {
                let (deltas, s) = relay(text, n);
                let s = s.unwrap_or_else(|| panic!("{text}"));
                assert_eq!(deltas.concat(), s.content(), "{text} in pieces of {n}");
            }
        }
    }

    #[test]
    fn preambles_are_judged_whole() {
        for text in [
            "Sure! Say: Thanks Max for the tip!",
            "Here's one idea:\nThanks Max for the tip!",
            "Okay, thank Max for the tip",
        ] {
            let (deltas, _) = relay(text, 3);
            assert!(deltas.is_empty(), "{text}: {deltas:?}");
        }
        let mut r = Relay::new(WORDS);
        r.push("Here's one idea:\n", &ALL);
        assert!(!r.has_all_it_needs(), "the answer is on the next line");
        let (_, s) = relay("Here's one idea:\nThanks Max for the tip!", 4);
        assert_eq!(s.unwrap().content(), "Thanks Max for the tip!");
    }

    #[test]
    fn the_first_delta_waits_for_a_few_words_then_words_flow() {
        let mut r = Relay::new(WORDS);
        assert_eq!(r.push("Thanks ", &ALL), None);
        assert_eq!(r.push("Max for", &ALL), None);
        assert_eq!(r.push(" the tip", &ALL), Some("Thanks Max for the".to_string()));
        assert_eq!(r.push("!", &ALL), None);
        assert_eq!(r.push(" Wave", &ALL), Some(" tip!".to_string()));
        let (raw, last) = r.finish(&ALL);
        assert_eq!(last.as_deref(), Some(" Wave"));
        assert_eq!(judged(raw).unwrap().content(), "Thanks Max for the tip! Wave");
    }

    #[test]
    fn do_and_wait_markers() {
        let (deltas, s) = relay("DO: Wave at the camera and smile", 3);
        let s = s.unwrap();
        assert_eq!(
            (s.action(), s.content()),
            (Action::Do, "Wave at the camera and smile")
        );
        assert_eq!(deltas.concat(), "Wave at the camera and smile");
        let (deltas, s) = relay("WAIT", 1);
        assert!(deltas.is_empty());
        assert!(
            s.is_none(),
            "a model's wait is refused: the coach asked for a line"
        );
        let (deltas, s) = relay("Waiting viewers love a shout-out, greet chat", 4);
        assert!(!deltas.is_empty(), "a word that only starts like WAIT is spoken");
        assert_eq!(deltas.concat(), s.unwrap().content());
    }

    #[test]
    fn json_reasoning_and_refusals_are_never_relayed() {
        let (deltas, s) = relay(r#"{"action":"say","content":"Thanks Max for the tip!"}"#, 2);
        assert!(deltas.is_empty(), "{deltas:?}");
        assert_eq!(s.unwrap().content(), "Thanks Max for the tip!");
        let (deltas, s) = relay(
            "<think>Max tipped, so thank Max warmly</think>Thanks Max, you rock!",
            3,
        );
        assert!(deltas.iter().all(|d| !d.contains("warmly")), "{deltas:?}");
        assert_eq!(deltas.concat(), "Thanks Max, you rock!");
        assert_eq!(s.unwrap().content(), "Thanks Max, you rock!");
        for refusal in [
            "I'm sorry, but I can't help with that request.",
            "As an AI language model I do not have opinions.",
            "Here is a suggestion:\nThank Max for the tip",
        ] {
            let (deltas, _) = relay(refusal, 2);
            assert!(deltas.is_empty(), "{refusal}: {deltas:?}");
        }
    }

    #[test]
    fn only_the_first_line_is_relayed() {
        let (deltas, s) = relay("Thanks Max for the tip!\nAlso ask chat about music.", 5);
        assert_eq!(deltas.concat(), "Thanks Max for the tip!");
        assert_eq!(s.unwrap().content(), "Thanks Max for the tip!");
    }

    #[test]
    fn a_long_answer_is_cut_like_the_final_content() {
        let long = "word ".repeat(60);
        let (deltas, s) = relay(&long, 7);
        let s = s.unwrap();
        assert_eq!(deltas.concat(), s.content());
        assert!(s.content().split_whitespace().count() <= WORDS);
    }

    #[test]
    fn holding_all_sends_nothing() {
        let mut r = Relay::holding_all();
        assert_eq!(r.push("Thanks Max for the tip, you rock ", &ALL), None);
        let (raw, last) = r.finish(&ALL);
        assert_eq!((raw.as_str(), last), ("Thanks Max for the tip, you rock ", None));
    }

    #[test]
    fn empty_answers_give_nothing() {
        let (deltas, s) = relay("", 1);
        assert!(deltas.is_empty() && s.is_none());
        let (deltas, s) = relay("<think>only thoughts, cut off", 4);
        assert!(deltas.is_empty() && s.is_none());
    }
}
