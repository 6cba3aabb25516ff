//! What the coach answers ([`Suggestion`]) and how a model's answer becomes
//! one, whole or not at all: only what plainly wraps a suggestion is taken
//! off (the JSON envelope, clean or in a code fence; a reasoning model's
//! closed `<think>` block before it; one leading `Say:` or `Do:` label;
//! surrounding quotes; whitespace). What is left is the suggestion as the
//! model wrote it. An answer that would need a piece cut out of it (a
//! preamble, more lines after it, prose around its JSON) or that the token
//! limit cut off is [`Misshapen`], never carved into something speakable:
//! a carved line is a guess at what the model meant (docs/evaluation.md).

use crate::core::answer::speech::clean;
use serde::Serialize;
use serde_json::{Map, Value};

/// The word cap of a cleaned suggestion: the largest `MAX_WORDS` allows. A
/// model's answer over the configured `MAX_WORDS` is refused by the judge.
pub const HARD_MAX_WORDS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Say,
    Do,
    Wait,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s.trim().to_ascii_lowercase().as_str() {
            "say" | "speak" | "talk" | "said" => Some(Action::Say),
            "do" | "act" | "action" | "gesture" => Some(Action::Do),
            "wait" | "none" | "nothing" | "pass" | "skip" | "silence" | "stay quiet" => Some(Action::Wait),
            _ => None,
        }
    }
}

/// One coaching suggestion. `content` is plain speakable text, never empty for
/// `say` and `do` (the constructor refuses that), and empty for `wait`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    action: Action,
    content: String,
}

impl Suggestion {
    /// Cleans `content` for speech; `None` when a `say`/`do` has nothing left.
    pub fn new(action: Action, content: &str) -> Option<Suggestion> {
        if action == Action::Wait {
            // A wait is silent, whatever words came with it.
            return Some(Suggestion::wait());
        }
        let content = clean(content, HARD_MAX_WORDS);
        if action != Action::Wait && !content.chars().any(char::is_alphanumeric) {
            return None;
        }
        Some(Suggestion { action, content })
    }

    /// Nothing to say now, and silent: the coach frontend speaks every
    /// answer's content, and an empty utterance says nothing.
    pub fn wait() -> Suggestion {
        Suggestion {
            action: Action::Wait,
            content: String::new(),
        }
    }

    pub fn action(&self) -> Action {
        self.action
    }

    pub fn content(&self) -> &str {
        &self.content
    }
}

/// Why a model's answer holds no suggestion to take whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misshapen {
    /// Nothing speakable: empty, `null`, a number, JSON without a content.
    Empty,
    /// The suggestion sits inside other text: a preamble before it, more
    /// lines after it, prose around its JSON. Taking it would cut it out.
    Surrounded,
    /// JSON that ended before it closed: the token limit cut it off.
    Cut,
}

/// A model's answer with its wrapping taken off: the action and the content
/// as the model wrote it (whitespace collapsed), not yet cleaned or
/// checked, so the checks see the markup or the label it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    action: Action,
    content: String,
}

impl Draft {
    fn new(action: Action, content: &str) -> Result<Draft, Misshapen> {
        if action == Action::Wait {
            return Ok(Draft::wait());
        }
        if !content.chars().any(char::is_alphanumeric) {
            return Err(Misshapen::Empty);
        }
        Ok(Draft {
            action,
            content: content.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    }

    fn wait() -> Draft {
        Draft {
            action: Action::Wait,
            content: String::new(),
        }
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// The content as the model wrote it, whitespace collapsed.
    pub fn content(&self) -> &str {
        &self.content
    }
}

/// A model's answer (a string, or an object in JSON mode) with only its
/// wrapping taken off, or why it has no whole suggestion.
pub fn parse_draft(answer: &Value) -> Result<Draft, Misshapen> {
    parse_value(answer, 0)
}

fn parse_value(v: &Value, depth: u8) -> Result<Draft, Misshapen> {
    if depth > 3 {
        return Err(Misshapen::Empty);
    }
    match v {
        Value::Object(obj) => from_object(obj, depth),
        Value::String(s) => parse_text(s, depth),
        _ => Err(Misshapen::Empty),
    }
}

/// The JSON envelope: `{"action", "content"}` (or Workers AI's `{"response": ...}` around it).
fn from_object(obj: &Map<String, Value>, depth: u8) -> Result<Draft, Misshapen> {
    if let Some(inner) = obj.get("response") {
        if let Ok(d) = parse_value(inner, depth + 1) {
            return Ok(d);
        }
    }
    let text_of = |keys: &[&str]| keys.iter().find_map(|k| obj.get(*k).and_then(Value::as_str));
    let action = text_of(&["action", "type"]).and_then(Action::parse);
    let content = text_of(&["content", "text", "message", "suggestion", "say"]).unwrap_or_default();
    match action {
        Some(Action::Wait) => Ok(Draft::wait()),
        Some(action) => Draft::new(action, unquoted(one_line(content)?)),
        None if !content.trim().is_empty() => Draft::new(Action::Say, unquoted(one_line(content)?)),
        None => Err(Misshapen::Empty),
    }
}

/// The answer without a reasoning model's thinking: what follows the last
/// `</think>`; an unclosed `<think>` (cut off by the token limit) leaves only
/// what came before it. Reasoning is never spoken, and it is not part of the
/// answer that would be cut out: such a model writes its thinking first by
/// its protocol, then its answer.
pub fn without_reasoning(text: &str) -> &str {
    if let Some(end) = text.rfind("</think>") {
        return &text[end + "</think>".len()..];
    }
    match text.find("<think>") {
        Some(start) => &text[..start],
        None => text,
    }
}

fn parse_text(raw: &str, depth: u8) -> Result<Draft, Misshapen> {
    let text = without_reasoning(raw).trim();
    if text.is_empty() {
        return Err(Misshapen::Empty);
    }
    if let Some(json) = json_envelope(text)? {
        return match serde_json::from_str::<Value>(json) {
            Ok(v) if v.is_object() => parse_value(&v, depth + 1),
            Ok(_) => Err(Misshapen::Empty),
            // The envelope opened and never closed.
            Err(e) if e.is_eof() => Err(Misshapen::Cut),
            Err(_) => Err(Misshapen::Empty),
        };
    }
    // A whole answer written as a JSON string: its quotes wrap it.
    if text.starts_with('"') && depth < 2 {
        if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(text) {
            return parse_text(&inner, depth + 1);
        }
    }
    if text.contains('{') && (text.contains("\"action\"") || text.contains("\"content\"")) {
        // JSON inside prose: the suggestion would be cut out of it.
        return Err(Misshapen::Surrounded);
    }
    plain_text(text)
}

/// The JSON of an answer that is a JSON envelope: the text itself when it
/// opens with `{`, or the inside of a code fence that is the whole answer;
/// `None` when it is not JSON; `Surrounded` when text follows the JSON or
/// its fence.
fn json_envelope(text: &str) -> Result<Option<&str>, Misshapen> {
    let json = match text.strip_prefix("```") {
        Some(fenced) => {
            // The fence's info string ("json") runs to the end of its line.
            let body = fenced.split_once('\n').map_or("", |(_, body)| body);
            match body.rfind("```") {
                Some(end) if body[end + 3..].trim().is_empty() => body[..end].trim(),
                Some(_) => return Err(Misshapen::Surrounded),
                None => body.trim(),
            }
        }
        None => text,
    };
    if json.is_empty() {
        return Err(Misshapen::Empty);
    }
    if !json.starts_with('{') {
        return Ok(None);
    }
    // Only the first JSON value is read: text after it is not part of it.
    let mut values = serde_json::Deserializer::from_str(json).into_iter::<Value>();
    if let Some(Ok(_)) = values.next() {
        if !json[values.byte_offset()..].trim().is_empty() {
            return Err(Misshapen::Surrounded);
        }
    }
    Ok(Some(json))
}

/// Plain words: one leading `Say:`/`Do:` label and surrounding quotes come
/// off; a second line of text means the answer is more than a suggestion.
fn plain_text(text: &str) -> Result<Draft, Misshapen> {
    let (action, rest) = without_label(unquoted(text));
    let line = unquoted(one_line(rest)?);
    if let Some(Action::Wait) = Action::parse(line.trim_end_matches(['.', '!'])) {
        return Ok(Draft::wait());
    }
    Draft::new(action, line)
}

/// `text` when it holds one line of text; `Surrounded` when a second line
/// has words too (a preamble line, a list, the model's next turn).
fn one_line(text: &str) -> Result<&str, Misshapen> {
    let text = text.trim();
    match text.lines().filter(|l| !l.trim().is_empty()).count() {
        0 | 1 => Ok(text),
        _ => Err(Misshapen::Surrounded),
    }
}

/// The action a leading `Say:` or `Do:` names, and the text after it (any
/// case; at most one label comes off).
fn without_label(text: &str) -> (Action, &str) {
    for (label, action) in [("say:", Action::Say), ("do:", Action::Do)] {
        if let Some(head) = text.get(..label.len()) {
            if head.eq_ignore_ascii_case(label) {
                return (action, text[label.len()..].trim_start());
            }
        }
    }
    (Action::Say, text)
}

/// `text` without quotes that wrap it whole (`"…"`, `“…”` or `'…'`, with no
/// such quote inside), else `text` trimmed.
pub fn unquoted(text: &str) -> &str {
    let t = text.trim();
    for (open, close) in [('"', '"'), ('\u{201C}', '\u{201D}'), ('\'', '\'')] {
        if let Some(inner) = t.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            if !inner.contains(open) && !inner.contains(close) {
                return inner.trim();
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(v: Value) -> Result<(Action, String), Misshapen> {
        parse_draft(&v).map(|d| (d.action(), d.content().to_string()))
    }

    fn say(s: &str) -> Result<(Action, String), Misshapen> {
        Ok((Action::Say, s.to_string()))
    }

    fn wait() -> Result<(Action, String), Misshapen> {
        Ok((Action::Wait, String::new()))
    }

    #[test]
    fn the_json_envelope_comes_off() {
        assert_eq!(
            parsed(json!(r#"{"action":"say","content":"Thanks Mike for the tip!"}"#)),
            say("Thanks Mike for the tip!")
        );
        assert_eq!(
            parsed(json!(r#"{"action":"DO","content":"Wave at the camera"}"#)),
            Ok((Action::Do, "Wave at the camera".into()))
        );
        let fenced = "```json\n{\"action\": \"say\", \"content\": \"Hello Anna!\"}\n```";
        assert_eq!(parsed(json!(fenced)), say("Hello Anna!"));
        let pretty = "{\n  \"action\": \"say\",\n  \"content\": \"Hello Anna!\"\n}";
        assert_eq!(parsed(json!(pretty)), say("Hello Anna!"));
        assert_eq!(
            parsed(json!({"action": "say", "content": "Hi all"})),
            say("Hi all")
        );
        assert_eq!(
            parsed(json!({"response": {"action": "wait", "content": ""}})),
            wait()
        );
        assert_eq!(
            parsed(json!({"action": "wait", "content": "Let chat breathe"})),
            wait(),
            "wait is never spoken, so it carries no content"
        );
    }

    #[test]
    fn one_label_quotes_and_whitespace_come_off() {
        assert_eq!(
            parsed(json!("\"Thank Mike for the 50 tokens!\"")),
            say("Thank Mike for the 50 tokens!")
        );
        assert_eq!(parsed(json!("  SAY: Thanks Max!\n")), say("Thanks Max!"));
        assert_eq!(parsed(json!("Say: \"Thanks  Max!\"")), say("Thanks Max!"));
        assert_eq!(parsed(json!("SAY:\nThanks Max!")), say("Thanks Max!"));
        assert_eq!(
            parsed(json!("DO: wave at the camera")),
            Ok((Action::Do, "wave at the camera".into()))
        );
        assert_eq!(parsed(json!("Wait.")), wait());
        assert_eq!(parsed(json!("WAIT")), wait());
        assert_eq!(
            parsed(json!("Say: Do: wave")),
            Ok((Action::Say, "Do: wave".into())),
            "one label only: the second stays, for the checks to read"
        );
        assert_eq!(
            parsed(json!("\u{201C}Welcome in, Sam!\u{201D}")),
            say("Welcome in, Sam!")
        );
    }

    #[test]
    fn a_suggestion_inside_other_text_is_not_cut_out() {
        for text in [
            "Here's a suggestion:\nWelcome Anna to the room!",
            "Welcome in, Max!\nMax came in.\nMax came",
            "Sure! Here is my suggestion: {\"action\": \"say\", \"content\": \"Hi Anna\"} Hope it helps.",
            "{\"action\": \"say\", \"content\": \"Hi Anna\"}\nThat should work.",
            "```json\n{\"action\": \"say\", \"content\": \"Hi Anna\"}\n```\nThat should work.",
            "{\"action\": \"say\", \"content\": \"Hi Anna!\\nP.S. more\"}",
            "What's the most memorable episode of Nico's show?\n\nA:",
        ] {
            assert_eq!(parsed(json!(text)), Err(Misshapen::Surrounded), "{text}");
        }
    }

    #[test]
    fn json_the_token_limit_cut_off_is_not_salvaged() {
        assert_eq!(
            parsed(json!(r#"{"action": "say", "content": "Thanks Mike for"#)),
            Err(Misshapen::Cut)
        );
    }

    #[test]
    fn empty_or_unusable_answers_never_give_an_empty_say() {
        for v in [
            json!(""),
            json!("   "),
            json!(r#"{"action":"say","content":""}"#),
            json!({"action": "do"}),
            json!({}),
            json!(null),
            json!(42),
            json!(r#"{"action": "say", "content": }"#),
            json!("```\n```"),
            json!("\"\""),
        ] {
            assert_eq!(parse_draft(&v), Err(Misshapen::Empty), "{v}");
        }
    }

    #[test]
    fn reasoning_is_never_spoken() {
        let text = |s: &str| parsed(Value::String(s.to_string()));
        assert_eq!(
            text("<think>The viewer Max tipped, so I should thank him.</think>\nThanks Max for the tip!"),
            say("Thanks Max for the tip!")
        );
        assert_eq!(
            text("Let me weigh the room first.</think>{\"action\":\"wait\",\"content\":\"\"}"),
            wait()
        );
        assert_eq!(
            text("<think>Max tipped 50, so the best move is"),
            Err(Misshapen::Empty)
        );
    }

    #[test]
    fn the_default_max_tokens_leaves_room_for_a_whole_answer() {
        use crate::core::request::options::DEFAULT_MAX_TOKENS;
        // Two tokens a word at most for English, and the JSON envelope's 16.
        assert!(DEFAULT_MAX_TOKENS as usize >= 2 * HARD_MAX_WORDS + 16);
    }

    #[test]
    fn a_suggestion_is_cleaned_and_capped_at_the_hard_limit() {
        let long = "word ".repeat(60);
        let s = Suggestion::new(Action::Say, &long).unwrap();
        assert_eq!(s.content().split_whitespace().count(), HARD_MAX_WORDS);
        assert_eq!(Suggestion::new(Action::Say, "** \u{1F600} **"), None);
    }
}
