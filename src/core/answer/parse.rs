//! What the coach answers ([`Suggestion`]) and how a model's answer becomes
//! one: clean JSON, JSON in a code fence, JSON with prose around it, JSON cut
//! off by the token limit, an already-parsed object (Workers AI JSON mode) or
//! plain text (a `say`). The content is cleaned for text-to-speech; an empty
//! or unusable answer yields `None`, never an empty `say`.

use crate::core::answer::speech::{clean, LABELS};
use serde::Serialize;
use serde_json::{Map, Value};

/// The word cap of a parsed answer: the largest `MAX_WORDS` allows. The
/// checks cut to the configured `MAX_WORDS` once the answer is judged.
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

/// A model's answer as it wrote it: the action and the content, not yet
/// cleaned or checked, so the checks see the URL or the label it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    action: Action,
    content: String,
    /// The content is a whole line with more text after it, so a token
    /// limit that ended the answer did not cut it.
    line_ended: bool,
}

impl Draft {
    /// `None` when a `say`/`do` has nothing speakable in it.
    fn new(action: Action, content: &str) -> Option<Draft> {
        if action == Action::Wait {
            return Some(Draft::wait());
        }
        if !clean(content, HARD_MAX_WORDS).chars().any(char::is_alphanumeric) {
            return None;
        }
        Some(Draft {
            action,
            content: content.split_whitespace().collect::<Vec<_>>().join(" "),
            line_ended: false,
        })
    }

    fn wait() -> Draft {
        Draft {
            action: Action::Wait,
            content: String::new(),
            line_ended: false,
        }
    }

    /// Whether the content ended with its line, more text following: the
    /// token limit may have cut the answer, but not this part of it.
    pub fn line_ended(&self) -> bool {
        self.line_ended
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// The content as the model wrote it, whitespace collapsed.
    pub fn content(&self) -> &str {
        &self.content
    }
}

/// Parses a model's answer into a [`Draft`] for the checks.
pub fn parse_draft(answer: &Value) -> Option<Draft> {
    parse_value(answer, 0)
}

fn parse_value(v: &Value, depth: u8) -> Option<Draft> {
    if depth > 3 {
        return None;
    }
    match v {
        Value::Object(obj) => from_object(obj, depth),
        Value::String(s) => parse_text(s, depth),
        _ => None,
    }
}

fn from_object(obj: &Map<String, Value>, depth: u8) -> Option<Draft> {
    if let Some(inner) = obj.get("response") {
        if let Some(s) = parse_value(inner, depth + 1) {
            return Some(s);
        }
    }
    let text_of = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    };
    let action = text_of(&["action", "type"]).and_then(|a| Action::parse(&a));
    let content = text_of(&["content", "text", "message", "suggestion", "say"]).unwrap_or_default();
    match action {
        Some(action) => Draft::new(action, &content),
        None if !content.trim().is_empty() => Draft::new(Action::Say, &content),
        None => None,
    }
}

/// The answer without a reasoning model's thinking: what follows the last
/// `</think>`; an unclosed `<think>` (cut off by the token limit) leaves only
/// what came before it. Reasoning is never spoken.
pub fn without_reasoning(text: &str) -> &str {
    if let Some(end) = text.rfind("</think>") {
        return &text[end + "</think>".len()..];
    }
    match text.find("<think>") {
        Some(start) => &text[..start],
        None => text,
    }
}

fn parse_text(raw: &str, depth: u8) -> Option<Draft> {
    let text = without_reasoning(raw).trim();
    if text.is_empty() {
        return None;
    }
    let unfenced = strip_code_fence(text);
    if let Ok(v) = serde_json::from_str::<Value>(unfenced) {
        if v.is_object() || (v.is_string() && depth < 2) {
            return parse_value(&v, depth + 1);
        }
    }
    for candidate in json_object_candidates(unfenced) {
        if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(candidate) {
            if let Some(s) = from_object(&obj, depth + 1) {
                return Some(s);
            }
        }
    }
    if let Some(s) = salvage_truncated_json(unfenced) {
        return Some(s);
    }
    if unfenced.contains('{') && unfenced.contains("\"action\"") {
        // JSON we could not read: speaking its braces and keys would be worse
        // than no answer.
        return None;
    }
    plain_text(unfenced)
}

/// The inside of the first ``` fence, or the text itself.
fn strip_code_fence(text: &str) -> &str {
    let Some(start) = text.find("```") else {
        return text;
    };
    let after = &text[start + 3..];
    // Skip the info string ("json") up to the end of the line.
    let body_start = after.find('\n').map(|i| i + 1).unwrap_or(0);
    let body = &after[body_start..];
    match body.find("```") {
        Some(end) => body[..end].trim(),
        None => body.trim(),
    }
}

/// Balanced `{...}` spans (string-aware), in order of their opening brace.
/// Bounded so a pathological answer cannot cost more than a few scans.
fn json_object_candidates(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (start, _) in text.match_indices('{').take(8) {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate().skip(start) {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(&text[start..=i]);
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// `{"action": "say", "content": "Thanks Mi` (cut by max_tokens): take what
/// the string fields hold so far.
fn salvage_truncated_json(text: &str) -> Option<Draft> {
    let start = text.find('{')?;
    let json = &text[start..];
    let content = string_field_prefix(json, "content")?;
    let action = string_field_prefix(json, "action")
        .and_then(|a| Action::parse(&a))
        .unwrap_or(Action::Say);
    Draft::new(action, &content)
}

/// The (possibly unterminated) string value of `"key": "...`.
fn string_field_prefix(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let after_key = &json[json.find(&needle)? + needle.len()..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let body = after_colon.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') | Some('t') | Some('r') => out.push(' '),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

fn plain_text(text: &str) -> Option<Draft> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // "Here's a suggestion:" followed by the suggestion on the next line.
    let (line, more) = match lines.as_slice() {
        [] => return None,
        [lead, next, rest @ ..] if lead.ends_with(':') => (next, !rest.is_empty()),
        [first, rest @ ..] => (first, !rest.is_empty()),
    };
    if let Some(action) = Action::parse(line.trim_end_matches(['.', '!'])) {
        if action == Action::Wait {
            return Some(Draft::wait());
        }
    }
    let (action, line) = after_preamble(line);
    Draft::new(action, line).map(|d| Draft {
        line_ended: more,
        ..d
    })
}

/// "Sure! Say: Thanks Max!" -> (Say, "Thanks Max!"): a label after a short
/// preamble marks where the suggestion starts.
fn after_preamble(line: &str) -> (Action, &str) {
    // ASCII lowering keeps byte offsets valid in `line`.
    let lower = line.to_ascii_lowercase();
    let found = LABELS
        .iter()
        .filter_map(|label| {
            let at = lower.find(label)?;
            let starts_word = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
            let action = if matches!(*label, "do:" | "action:") {
                Action::Do
            } else {
                Action::Say
            };
            (starts_word && at <= 60).then_some((at + label.len(), action))
        })
        .min_by_key(|(end, _)| *end);
    match found {
        Some((end, action)) if !line[end..].trim().is_empty() => (action, line[end..].trim()),
        _ => (Action::Say, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A model's answer parsed and cleaned, as the judge would before its checks.
    fn parse_answer(answer: &Value) -> Option<Suggestion> {
        parse_draft(answer).and_then(|d| Suggestion::new(d.action, &d.content))
    }

    fn parsed(v: Value) -> Option<(Action, String)> {
        parse_answer(&v).map(|s| (s.action(), s.content().to_string()))
    }

    fn say(s: &str) -> Option<(Action, String)> {
        Some((Action::Say, s.to_string()))
    }

    fn wait() -> Option<(Action, String)> {
        Some((Action::Wait, String::new()))
    }

    #[test]
    fn clean_json() {
        assert_eq!(
            parsed(json!(r#"{"action":"say","content":"Thanks Mike for the tip!"}"#)),
            say("Thanks Mike for the tip!")
        );
        assert_eq!(
            parsed(json!(r#"{"action":"DO","content":"Wave at the camera"}"#)),
            Some((Action::Do, "Wave at the camera".into()))
        );
    }

    #[test]
    fn fenced_json() {
        let text = "```json\n{\"action\": \"say\", \"content\": \"Hello Anna!\"}\n```";
        assert_eq!(parsed(json!(text)), say("Hello Anna!"));
    }

    #[test]
    fn json_with_prose_around_it() {
        let text = "Sure! Here is my suggestion: {\"action\": \"say\", \"content\": \"Ask {chat} about their day\"} Hope it helps.";
        assert_eq!(parsed(json!(text)), say("Ask chat about their day"));
    }

    #[test]
    fn already_parsed_object_and_nested_response() {
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
    fn plain_text_becomes_say() {
        assert_eq!(
            parsed(json!("\"Thank Mike for the 50 tokens!\"")),
            say("Thank Mike for the 50 tokens!")
        );
        assert_eq!(
            parsed(json!("Here's a suggestion:\nWelcome Anna to the room!")),
            say("Welcome Anna to the room!")
        );
        assert_eq!(parsed(json!("Wait.")), wait());
        assert_eq!(parsed(json!("Sure! Say: Thanks Max!")), say("Thanks Max!"));
        assert_eq!(
            parsed(json!("Good idea. Do: wave at the camera")),
            Some((Action::Do, "wave at the camera".into()))
        );
    }

    #[test]
    fn a_first_line_with_more_after_it_was_not_cut() {
        let d = parse_draft(&json!("Welcome in, Max!\nMax came in.\nMax came")).unwrap();
        assert_eq!((d.content(), d.line_ended()), ("Welcome in, Max!", true));
        assert!(!parse_draft(&json!("Welcome in, Max and")).unwrap().line_ended());
    }

    #[test]
    fn truncated_json_is_salvaged() {
        assert_eq!(
            parsed(json!(r#"{"action": "say", "content": "Thanks Mike for"#)),
            say("Thanks Mike for")
        );
    }

    #[test]
    fn empty_or_unusable_answers_never_give_an_empty_say() {
        for v in [
            json!(""),
            json!("   "),
            json!(r#"{"action":"say","content":""}"#),
            json!(format!(
                "{{\"action\":\"say\",\"content\":\"  ** {} **\"}}",
                '\u{1F600}'
            )),
            json!({"action": "do"}),
            json!({}),
            json!(null),
            json!(42),
            json!(r#"{"action": "say", "content": }"#),
            json!("```\n```"),
        ] {
            assert_eq!(parse_answer(&v), None, "{v}");
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
        assert_eq!(text("<think>Max tipped 50, so the best move is"), None);
    }

    #[test]
    fn long_content_is_capped() {
        let long = "word ".repeat(60);
        let s = parse_answer(&json!({"action": "say", "content": long})).unwrap();
        assert_eq!(s.content().split_whitespace().count(), HARD_MAX_WORDS);
    }
}
