//! What the coach said recently, so the earpiece does not repeat itself.
//!
//! The memory is the request's optional `recent` field: the lines the
//! frontend spoke lately, newest last. It costs no storage and no KV write;
//! the frontend, which speaks every answer, is the one place that knows what
//! the broadcaster really heard. Its limits (see README): a frontend that
//! sends nothing gets no memory, and two frontends for one broadcaster each
//! remember only their own lines.
//!
//! From it the coach knows which events it already acted on: a tip or a
//! newcomer whose spoken name (and amount) a recent line carries was thanked
//! or welcomed already.

use crate::core::error::ApiError;
use crate::core::order::sort;
use crate::core::text::{char_len, visible_text};
use serde_json::Value;

/// Most recent lines a request may carry.
pub const MAX_RECENT: usize = 10;
/// Lines a caller's state object remembers and the checks compare against
/// (the prompt shows the newest [`MAX_RECENT`]): more than a busy hour of
/// suggestions.
pub const MAX_REMEMBERED: usize = 50;
/// Longest recent line, in characters.
pub const MAX_RECENT_CHARS: usize = 300;
/// Share of words two lines must have in common to count as the same line.
const NEAR_EQUAL: f64 = 0.75;

/// Lines spoken recently, newest last; at most [`MAX_RECENT`], each at most
/// [`MAX_RECENT_CHARS`] characters, none empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recent(Vec<String>);

impl Recent {
    /// Parses the `recent` field: absent, `null`, or an array of strings.
    pub fn parse(value: Option<&Value>) -> Result<Recent, ApiError> {
        let items = match value {
            None | Some(Value::Null) => return Ok(Recent::default()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ApiError::invalid("recent", "must be an array of strings")),
        };
        if items.len() > MAX_RECENT {
            return Err(ApiError::invalid(
                "recent",
                format!("has {} lines; send at most the last {MAX_RECENT}", items.len()),
            ));
        }
        let mut lines = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let line = item
                .as_str()
                .ok_or_else(|| ApiError::invalid(format!("recent[{i}]"), "must be a string"))?;
            if char_len(line) > MAX_RECENT_CHARS {
                return Err(ApiError::invalid(
                    format!("recent[{i}]"),
                    format!("must be at most {MAX_RECENT_CHARS} characters"),
                ));
            }
            let line = visible_text(line);
            if !line.is_empty() {
                lines.push(line);
            }
        }
        Ok(Recent(lines))
    }

    pub fn lines(&self) -> &[String] {
        &self.0
    }

    /// These lines with `remembered` (what the caller's state object kept,
    /// oldest first) before them: a line already here, or nearly the same,
    /// is not added twice, and the newest [`MAX_REMEMBERED`] are kept.
    pub fn merged(&self, remembered: &[String]) -> Recent {
        // Each line's words are worked out once: compared pairwise, they
        // were most of a request's CPU with a full memory (scripts/profile).
        let mut lines: Vec<(String, Vec<String>)> = Vec::with_capacity(remembered.len() + self.0.len());
        for line in remembered.iter().chain(&self.0) {
            let line = visible_text(line);
            if line.is_empty() || char_len(&line) > MAX_RECENT_CHARS {
                continue;
            }
            let set = word_set(&line);
            lines.retain(|(_, l)| !near(l, &set));
            lines.push((line, set));
        }
        let extra = lines.len().saturating_sub(MAX_REMEMBERED);
        Recent(lines.into_iter().skip(extra).map(|(line, _)| line).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `line` is equal or nearly equal to a recent line.
    pub fn repeats(&self, line: &str) -> bool {
        let line = word_set(line);
        self.0.iter().any(|r| near(&word_set(r), &line))
    }

    /// Whether a recent line names `spoken_name` (and `amount`, when given):
    /// the coach already acted on that viewer's event.
    pub fn mentions(&self, spoken_name: &str, amount: Option<u64>) -> bool {
        let name = words(spoken_name);
        if name.is_empty() {
            return false;
        }
        self.0.iter().any(|line| {
            let w = words(line);
            let named = w.windows(name.len()).any(|win| win == name.as_slice());
            named && amount.is_none_or(|n| w.contains(&n.to_string()))
        })
    }
}

/// Lowercase words of letters and digits.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Equal up to case, punctuation and word order, or sharing nearly all words.
pub fn nearly_equal(a: &str, b: &str) -> bool {
    near(&word_set(a), &word_set(b))
}

/// A line's distinct words, sorted.
fn word_set(s: &str) -> Vec<String> {
    let mut w = words(s);
    sort(&mut w);
    w.dedup();
    w
}

/// [`nearly_equal`] of two [`word_set`]s.
fn near(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a == b;
    }
    let shared = a.iter().filter(|w| b.binary_search(w).is_ok()).count();
    shared as f64 / a.len().max(b.len()) as f64 >= NEAR_EQUAL
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parsed_at_the_door_with_bounds() {
        let r = Recent::parse(Some(&json!(["Thanks Max!", "  ", "Hi\u{200B} Sam"]))).unwrap();
        assert_eq!(r.lines(), ["Thanks Max!", "Hi Sam"]);
        assert!(Recent::parse(None).unwrap().is_empty());
        for (bad, field) in [
            (json!("Thanks"), "recent"),
            (json!([1]), "recent[0]"),
            (json!(vec!["x"; 11]), "recent"),
            (json!(["ok", "x".repeat(301)]), "recent[1]"),
        ] {
            match Recent::parse(Some(&bad)) {
                Err(ApiError::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn remembered_lines_merge_before_the_request_s() {
        let sent = Recent::parse(Some(&serde_json::json!(["Thanks Max!"]))).unwrap();
        let merged = sent.merged(&["Welcome in, Ana!".to_string(), "thanks max".to_string()]);
        assert_eq!(merged.lines(), ["Welcome in, Ana!", "Thanks Max!"]);
        let many: Vec<String> = (0..MAX_REMEMBERED + 5).map(|i| format!("topic{i}")).collect();
        let kept = Recent::default().merged(&many);
        assert_eq!(kept.lines().len(), MAX_REMEMBERED);
        assert_eq!(kept.lines().last().unwrap(), &many[MAX_REMEMBERED + 4]);
    }

    #[test]
    fn nearly_equal_lines_are_repeats() {
        let r = Recent::parse(Some(&json!(["Thank you so much, Max, for the 40 tokens!"]))).unwrap();
        assert!(r.repeats("thank you so much max for the 40 tokens"));
        assert!(r.repeats("Thank you so much for the 40 tokens, Max!"));
        assert!(r.repeats("Thank you so much, Max, for the 40 tokens, really!"));
        assert!(!r.repeats("Welcome in, Sam! Glad you're here."));
        assert!(!r.repeats("Max, thank you!"));
    }

    #[test]
    fn acted_on_events_are_known_by_name_and_amount() {
        let r = Recent::parse(Some(&json!(["Wow, 40 tokens! Thank you, Big Spender!"]))).unwrap();
        assert!(r.mentions("Big Spender", Some(40)));
        assert!(!r.mentions("Big Spender", Some(41)));
        assert!(!r.mentions("Big", Some(500)));
        assert!(!r.mentions("Sam", None));
    }
}
