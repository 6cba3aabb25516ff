//! Room events: what happened in the broadcaster's room, parsed from either
//! shape the frontend sends (an array of `{text, type, timestamp?, user?}` or a
//! pre-formatted string of `Chat: ...` / `Tip: ...` lines) into one domain type.
//! Room text loses invisible and formatting characters here, at the door.

use super::error::ApiError;
use super::text::{char_len, visible_text};
use super::time::{parse_rfc3339, EpochMillis};
use serde_json::Value;

/// Longest text of one event, in characters.
pub const MAX_EVENT_TEXT_CHARS: usize = 1_000;
/// Longest username / event type, in characters.
pub const MAX_USER_CHARS: usize = 64;
const MAX_TYPE_CHARS: usize = 32;
/// Longest pre-formatted context string, in characters: the 64 KiB body
/// bounds it anyway. There is no cap on the number of events: a frontend may
/// send its whole buffer, and the prompt picks from it within its budget.
pub const MAX_CONTEXT_STRING_CHARS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Chat,
    Tip,
    /// Someone entered the room.
    Join,
    /// Any other event type; shown to the model as-is.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    kind: EventKind,
    /// Who did it, when known.
    user: Option<String>,
    /// The message (for chat, without the `user:` prefix) or the event text.
    text: String,
    /// Tokens tipped, for tips whose text states an amount.
    amount: Option<u64>,
    at: Option<EpochMillis>,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn amount(&self) -> Option<u64> {
        self.amount
    }
    pub fn at(&self) -> Option<EpochMillis> {
        self.at
    }

    /// A chat message asking the broadcaster something: a question that
    /// names them, mentions someone with `@`, or says "you".
    pub fn asks(&self, broadcaster: &str) -> bool {
        if self.kind != EventKind::Chat || !self.text.contains('?') {
            return false;
        }
        let lower = self.text.to_lowercase();
        let mentions_broadcaster = lower.contains(&broadcaster.to_lowercase()) || lower.contains('@');
        let second_person = lower
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .any(|w| matches!(w, "you" | "your" | "you're" | "u" | "ur" | "youre"));
        mentions_broadcaster || second_person
    }
}

/// The room's recent events, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomContext {
    events: Vec<Event>,
}

impl RoomContext {
    pub fn new(mut events: Vec<Event>) -> Self {
        // Timestamps decide the order when every event has one; otherwise the
        // order the client sent is the order of the room.
        if events.iter().all(|e| e.at.is_some()) {
            events.sort_by_key(|e| e.at);
        }
        RoomContext { events }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The most recent `n` events, oldest first.
    pub fn recent(&self, n: usize) -> &[Event] {
        &self.events[self.events.len().saturating_sub(n)..]
    }

    /// Parses the `context` field: an array of events or a string of lines.
    pub fn parse(value: &Value) -> Result<Self, ApiError> {
        match value {
            Value::Array(items) => {
                let events = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_event_object(i, item))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(RoomContext::new(events))
            }
            Value::String(s) => {
                if char_len(s) > MAX_CONTEXT_STRING_CHARS {
                    return Err(ApiError::invalid(
                        "context",
                        format!("must be at most {MAX_CONTEXT_STRING_CHARS} characters"),
                    ));
                }
                let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                let events = lines
                    .iter()
                    .enumerate()
                    .map(|(i, line)| {
                        if char_len(line) > MAX_EVENT_TEXT_CHARS {
                            Err(ApiError::invalid(
                                format!("context line {}", i + 1),
                                format!("must be at most {MAX_EVENT_TEXT_CHARS} characters"),
                            ))
                        } else {
                            Ok(parse_line(line))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(RoomContext::new(events))
            }
            Value::Null => Err(ApiError::invalid("context", "is required")),
            _ => Err(ApiError::invalid(
                "context",
                "must be an array of events or a string of lines",
            )),
        }
    }
}

fn optional_string<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
    field: impl Fn() -> String,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if char_len(s) <= max => Ok(Some(s.as_str())),
        Some(Value::String(_)) => Err(ApiError::invalid(
            field(),
            format!("must be at most {max} characters"),
        )),
        Some(_) => Err(ApiError::invalid(field(), "must be a string")),
    }
}

fn parse_event_object(i: usize, item: &Value) -> Result<Event, ApiError> {
    let field = |name: &str| format!("context[{i}].{name}");
    let obj = item.as_object().ok_or_else(|| {
        ApiError::invalid(
            format!("context[{i}]"),
            "must be an object like {\"text\": \"...\", \"type\": \"chat\"}",
        )
    })?;
    let text = optional_string(obj, "text", || field("text"), MAX_EVENT_TEXT_CHARS)?
        .ok_or_else(|| ApiError::invalid(field("text"), "is required"))?;
    let kind_name = optional_string(obj, "type", || field("type"), MAX_TYPE_CHARS)?
        .ok_or_else(|| ApiError::invalid(field("type"), "is required (chat, tip or another event type)"))?;
    let user = optional_string(obj, "user", || field("user"), MAX_USER_CHARS)?
        .map(visible_text)
        .filter(|u| !u.is_empty());
    let at = match optional_string(obj, "timestamp", || field("timestamp"), 64)? {
        None => None,
        Some(ts) => Some(parse_rfc3339(ts).ok_or_else(|| {
            ApiError::invalid(
                field("timestamp"),
                "must be an RFC 3339 time such as 2025-03-13T03:15:45.000Z",
            )
        })?),
    };
    let kind = kind_from_name(kind_name);
    let mut event = from_text(kind, text);
    if user.is_some() {
        event.user = user;
    }
    event.at = at;
    Ok(event)
}

fn kind_from_name(name: &str) -> EventKind {
    match name.trim().to_ascii_lowercase().as_str() {
        "chat" | "message" | "chat_message" => EventKind::Chat,
        "tip" | "tips" | "token_tip" => EventKind::Tip,
        "join" | "enter" | "user_join" | "user_enter" | "user_entered" => EventKind::Join,
        _ => EventKind::Other,
    }
}

/// One line of the pre-formatted string: `Chat: User123: Hello`,
/// `Tip: User456 tipped 50 tokens`, `Join: User789`; anything else is an
/// `Other` event with the line as its text.
fn parse_line(line: &str) -> Event {
    if let Some((prefix, rest)) = line.split_once(':') {
        let kind = kind_from_name(prefix);
        if kind != EventKind::Other && !prefix.contains(' ') {
            return from_text(kind, rest.trim());
        }
    }
    let lower = line.to_ascii_lowercase();
    if lower.contains(" tipped ") {
        return from_text(EventKind::Tip, line);
    }
    if lower.ends_with(" joined") || lower.contains(" has joined") || lower.contains(" entered the room") {
        return from_text(EventKind::Join, line);
    }
    from_text(EventKind::Other, line)
}

/// An event of `kind` from its text: who did it and how much they tipped are
/// read from the text the frontend formats (`User123: Hello`, `User456
/// tipped 50 tokens`); an explicit `user` field overrides the first.
fn from_text(kind: EventKind, text: &str) -> Event {
    let text = visible_text(text);
    let mut event = Event {
        kind,
        user: None,
        text: text.clone(),
        amount: None,
        at: None,
    };
    match kind {
        EventKind::Chat => {
            // "User123: Hello everyone!" -> user + message
            if let Some((user, message)) = text.split_once(": ") {
                if is_username(user) {
                    event.user = Some(user.to_string());
                    event.text = message.trim().to_string();
                }
            }
        }
        EventKind::Tip => {
            let first = text.split_whitespace().next().unwrap_or("");
            if is_username(first) && text.to_ascii_lowercase().contains(" tipped") {
                event.user = Some(first.to_string());
            }
            event.amount = first_amount(&text);
        }
        EventKind::Join => {
            let first = text.split_whitespace().next().unwrap_or("");
            if is_username(first) {
                event.user = Some(first.to_string());
            }
        }
        EventKind::Other => {}
    }
    event
}

fn is_username(s: &str) -> bool {
    !s.is_empty()
        && char_len(s) <= MAX_USER_CHARS
        && !s.contains(char::is_whitespace)
        && s.chars().any(char::is_alphanumeric)
}

/// The tipped amount: the first whole-word number after "tipped", else the
/// first whole-word number ("1,000" counts as 1000). Digits inside a username
/// such as `User456` are not amounts.
fn first_amount(text: &str) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("tipped"))
        .map(|i| i + 1)
        .unwrap_or(0);
    words[after..].iter().find_map(|w| {
        let w = w.trim_end_matches(['.', '!', ',']);
        if w.is_empty() || !w.chars().all(|c| c.is_ascii_digit() || c == ',') {
            return None;
        }
        w.replace(',', "").parse::<u64>().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn array_events_take_user_and_amount_from_text() {
        let ctx = RoomContext::parse(&json!([
            {"text": "User123: Hello everyone!", "type": "chat", "timestamp": "2025-03-13T03:15:45.000Z"},
            {"text": "User456 tipped 50 tokens", "type": "tip", "timestamp": "2025-03-13T03:16:12.000Z"}
        ]))
        .unwrap();
        let e = ctx.events();
        assert_eq!(e[0].kind, EventKind::Chat);
        assert_eq!(e[0].user.as_deref(), Some("User123"));
        assert_eq!(e[0].text, "Hello everyone!");
        assert_eq!(e[1].kind, EventKind::Tip);
        assert_eq!(e[1].user.as_deref(), Some("User456"));
        assert_eq!(e[1].amount, Some(50));
    }

    #[test]
    fn explicit_user_wins_and_unknown_types_are_generic() {
        let ctx = RoomContext::parse(&json!([
            {"text": "big tip!", "type": "tip", "user": "Alice"},
            {"text": "Bob followed", "type": "follow"}
        ]))
        .unwrap();
        assert_eq!(ctx.events()[0].user.as_deref(), Some("Alice"));
        assert_eq!(ctx.events()[1].kind, EventKind::Other);
    }

    #[test]
    fn string_context_lines() {
        let ctx = RoomContext::parse(&json!(
            "Chat: User123: Hello\nTip: User456 tipped 1,000 tokens\n\nJoin: Newbie7\nsomething else"
        ))
        .unwrap();
        let e = ctx.events();
        assert_eq!(e.len(), 4);
        assert_eq!(
            (e[0].kind, e[0].user.as_deref(), e[0].text.as_str()),
            (EventKind::Chat, Some("User123"), "Hello")
        );
        assert_eq!((e[1].kind, e[1].amount), (EventKind::Tip, Some(1000)));
        assert_eq!(
            (e[2].kind, e[2].user.as_deref()),
            (EventKind::Join, Some("Newbie7"))
        );
        assert_eq!(e[3].kind, EventKind::Other);
    }

    #[test]
    fn timestamps_order_events() {
        let ctx = RoomContext::parse(&json!([
            {"text": "b: second", "type": "chat", "timestamp": "2025-03-13T03:16:00Z"},
            {"text": "a: first", "type": "chat", "timestamp": "2025-03-13T03:15:00Z"}
        ]))
        .unwrap();
        assert_eq!(ctx.events()[0].text, "first");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!([{"type": "chat"}]), "context[0].text"),
            (json!([{"text": "x"}]), "context[0].type"),
            (
                json!([{"text": "x", "type": "chat", "timestamp": "noon"}]),
                "context[0].timestamp",
            ),
            (json!([{"text": 5, "type": "chat"}]), "context[0].text"),
            (
                json!([{"text": "x", "type": "chat", "user": "u".repeat(65)}]),
                "context[0].user",
            ),
            (json!(["hello"]), "context[0]"),
            (json!(5), "context"),
        ];
        for (value, field) in cases {
            match RoomContext::parse(&value) {
                Err(ApiError::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn any_number_of_events_and_a_cap_on_length() {
        let many: Vec<Value> = (0..10_000)
            .map(|_| json!({"text": "x", "type": "chat"}))
            .collect();
        assert_eq!(
            RoomContext::parse(&Value::Array(many)).unwrap().events().len(),
            10_000
        );
        let long = json!([{"text": "x".repeat(MAX_EVENT_TEXT_CHARS + 1), "type": "chat"}]);
        assert!(RoomContext::parse(&long).is_err());
        let lines = "a\n".repeat(10_000);
        assert_eq!(
            RoomContext::parse(&Value::String(lines)).unwrap().events().len(),
            10_000
        );
        let huge = "a\n".repeat(MAX_CONTEXT_STRING_CHARS);
        assert!(RoomContext::parse(&Value::String(huge)).is_err());
    }

    #[test]
    fn invisible_and_tag_characters_never_reach_the_event() {
        let tags: String = "obey"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let ctx = RoomContext::parse(&json!([
            {"text": format!("Eve: hi{tags}\u{200B}!"), "type": "chat", "user": "E\u{200D}ve"}
        ]))
        .unwrap();
        assert_eq!(
            (ctx.events()[0].user(), ctx.events()[0].text()),
            (Some("Eve"), "hi!")
        );
    }
}
