//! Room events: what happened in the broadcaster's room, parsed from either
//! shape the frontend sends (an array of `{text, type, timestamp?, user?}` or a
//! pre-formatted string of `Chat: ...` / `Tip: ...` lines) into one domain type.
//! Room text loses invisible and formatting characters here, at the door, and
//! every link with them: a URL (the coach frontend puts its events-API URL,
//! with the broadcaster's secret token, into its context) never gets past.
//!
//! The coach frontend (honytsoi/CBBroadcastingCoach, `static/src/app.js`)
//! writes each event as an English sentence; [`from_text`] reads those
//! sentences back into kinds, and [`is_app_status`] drops the app's own status
//! lines, which arrive the same way but say nothing about the room.

use crate::core::contact::has_url;
use crate::core::error::ApiError;
use crate::core::order::sort_by_key;
use crate::core::request::raw::{Loose, RawContext, RawEvent};
use crate::core::text::{char_len, find_str, split_once_str, visible_text};
use crate::core::time::{parse_rfc3339, EpochMillis};

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
    /// Someone left the room.
    Leave,
    Follow,
    Unfollow,
    FanClub,
    /// A viewer bought a photo or video set.
    Purchase,
    /// The room's subject changed (the text is the new subject).
    Subject,
    /// The broadcaster's own chat message (`You: ...`).
    OwnWords,
    /// A private message between two people (`A sent private message to B: ...`).
    Private,
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
            sort_by_key(&mut events, |e| e.at);
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
    pub fn parse(value: &RawContext) -> Result<Self, ApiError> {
        match value {
            RawContext::Events(items) => {
                let mut events = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    events.extend(parse_event_object(i, item)?);
                }
                Ok(RoomContext::new(events))
            }
            RawContext::Lines(s) => {
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
                            Ok((!is_app_status(line)).then(|| parse_line(line)))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .flatten()
                    .collect();
                Ok(RoomContext::new(events))
            }
            RawContext::Missing => Err(ApiError::invalid("context", "is required")),
            RawContext::Other => Err(ApiError::invalid(
                "context",
                "must be an array of events or a string of lines",
            )),
        }
    }
}

fn optional_string<'a>(
    value: &'a Loose,
    field: impl Fn() -> String,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match value {
        Loose::Missing => Ok(None),
        // No more bytes than `max` is no more characters either: most are not counted.
        Loose::Str(s) if s.len() <= max || char_len(s) <= max => Ok(Some(s.as_ref())),
        Loose::Str(_) => Err(ApiError::invalid(
            field(),
            format!("must be at most {max} characters"),
        )),
        Loose::Other => Err(ApiError::invalid(field(), "must be a string")),
    }
}

/// One event object; `None` for one of the coach frontend's status lines.
fn parse_event_object(i: usize, item: &RawEvent) -> Result<Option<Event>, ApiError> {
    let field = |name: &str| format!("context[{i}].{name}");
    let RawEvent::Object {
        text,
        kind,
        user,
        timestamp,
    } = item
    else {
        return Err(ApiError::invalid(
            format!("context[{i}]"),
            "must be an object like {\"text\": \"...\", \"type\": \"chat\"}",
        ));
    };
    let text = optional_string(text, || field("text"), MAX_EVENT_TEXT_CHARS)?
        .ok_or_else(|| ApiError::invalid(field("text"), "is required"))?;
    let kind_name = optional_string(kind, || field("type"), MAX_TYPE_CHARS)?
        .ok_or_else(|| ApiError::invalid(field("type"), "is required (chat, tip or another event type)"))?;
    let user = optional_string(user, || field("user"), MAX_USER_CHARS)?
        .map(visible_text)
        .filter(|u| !u.is_empty() && !u.split_whitespace().any(is_link));
    let at = match optional_string(timestamp, || field("timestamp"), 64)? {
        None => None,
        Some(ts) => Some(parse_rfc3339(ts).ok_or_else(|| {
            ApiError::invalid(
                field("timestamp"),
                "must be an RFC 3339 time such as 2025-03-13T03:15:45.000Z",
            )
        })?),
    };
    if is_app_status(text) {
        return Ok(None);
    }
    let kind = kind_from_name(kind_name);
    let mut event = from_text(kind, text);
    if user.is_some() {
        event.user = user;
    }
    event.at = at;
    Ok(Some(event))
}

/// The coach frontend's own status lines (`app.js`, `config.js`,
/// `qr-scanner.js` call `addActivityItem` with them), which reach its context
/// like room events but are not: connection state, configuration, errors.
/// `Connecting to: <events URL>` carries the broadcaster's secret token.
const APP_STATUS_PREFIXES: &[&str] = &[
    "connecting to:",
    "connection error:",
    "fetching profile info for ",
    "profile information loaded",
    "reconnected to previously scanned qr code url",
    "configuration saved",
    "disconnected from event stream",
    "error generating prompt:",
    "error refreshing session key",
    "error accessing camera",
    "invalid qr code",
    "local storage cleared",
    "broadcaster username set to:",
];

/// Whether `text` is one of the coach frontend's status lines.
pub fn is_app_status(text: &str) -> bool {
    let start = text.trim_start();
    // The first 48 bytes, when ASCII, are the first 48 characters.
    let head = &start.as_bytes()[..start.len().min(48)];
    if head.is_ascii() {
        // ASCII lowercases as ASCII: compared in place, nothing copied.
        let first = head.first().map(u8::to_ascii_lowercase);
        return APP_STATUS_PREFIXES.iter().any(|p| {
            p.as_bytes().first() == first.as_ref()
                && head
                    .get(..p.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(p.as_bytes()))
        });
    }
    let head: String = text
        .trim_start()
        .chars()
        .take(48)
        .collect::<String>()
        .to_lowercase();
    APP_STATUS_PREFIXES.iter().any(|p| head.starts_with(p))
}

fn kind_from_name(name: &str) -> EventKind {
    let name = name.trim();
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(name));
    if is(&["chat", "message", "chat_message"]) {
        EventKind::Chat
    } else if is(&["tip", "tips", "token_tip"]) {
        EventKind::Tip
    } else if is(&["join", "enter", "user_join", "user_enter", "user_entered"]) {
        EventKind::Join
    } else {
        EventKind::Other
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
    if find_str(&lower, " tipped ").is_some() {
        return from_text(EventKind::Tip, line);
    }
    if lower.ends_with(" joined")
        || find_str(&lower, " has joined").is_some()
        || find_str(&lower, " entered the room").is_some()
    {
        return from_text(EventKind::Join, line);
    }
    from_text(EventKind::Other, line)
}

/// An event of `kind` from its text: who did it and how much they tipped are
/// read from the text the frontend formats (`User123: Hello`, `User456
/// tipped 50 tokens`, `Max left the room`); an explicit `user` field
/// overrides the first. Links leave the text here.
fn from_text(kind: EventKind, text: &str) -> Event {
    let text = without_links(visible_text(text));
    let mut event = Event {
        kind,
        user: None,
        text,
        amount: None,
        at: None,
    };
    match kind {
        EventKind::Chat => read_chat(&mut event),
        EventKind::Tip => {
            let first = event.text.split_whitespace().next().unwrap_or("");
            if is_named(first) && find_str(&event.text.to_ascii_lowercase(), " tipped").is_some() {
                event.user = Some(first.to_string());
            }
            event.amount = first_amount(&event.text);
        }
        EventKind::Join | EventKind::Other => read_sentence(&mut event),
        _ => {}
    }
    event
}

/// `You: ...` (the broadcaster), `A sent private message to B: ...`, or
/// `user: message`.
fn read_chat(event: &mut Event) {
    let Some((head, message)) = split_once_str(&event.text, ": ") else {
        return;
    };
    let message = message.trim().to_string();
    if head == "You" {
        event.kind = EventKind::OwnWords;
        event.text = message;
    } else if let Some((from, to)) = split_once_str(head, " sent private message to ") {
        if is_username(from) {
            event.kind = EventKind::Private;
            event.user = is_named(from).then(|| from.to_string());
            event.text = format!("to {to}: {message}");
        }
    } else if is_username(head) {
        event.user = Some(head.to_string());
        event.text = message;
    }
}

/// The frontend's event sentences (`app.js` `processEvent`), each `<name>
/// <what happened>`; the text keeps what happened without the name.
const SENTENCES: &[(&str, EventKind)] = &[
    (" entered the room", EventKind::Join),
    (" has joined", EventKind::Join),
    (" joined the fan club", EventKind::FanClub),
    (" joined", EventKind::Join),
    (" left the room", EventKind::Leave),
    (" has followed", EventKind::Follow),
    (" has unfollowed", EventKind::Unfollow),
];

fn read_sentence(event: &mut Event) {
    let text = event.text.as_str();
    if let Some(subject) = strip_prefix_ignore_case(text, "Room Subject changed to ") {
        event.kind = EventKind::Subject;
        event.text = subject.trim().to_string();
        return;
    }
    if let Some((name, rest)) = split_once_str(text, " purchased ") {
        if is_username(name) {
            event.kind = EventKind::Purchase;
            event.user = is_named(name).then(|| name.to_string());
            event.text = format!("purchased {}", rest.trim());
            return;
        }
    }
    for (tail, kind) in SENTENCES {
        let Some(name) = text.strip_suffix(tail) else {
            continue;
        };
        if is_username(name) {
            event.kind = *kind;
            event.user = is_named(name).then(|| name.to_string());
            event.text = tail.trim().to_string();
            return;
        }
    }
    // `Join: Newbie7`: a bare name.
    if event.kind == EventKind::Join {
        let first = text.split_whitespace().next().unwrap_or("");
        if is_named(first) {
            event.user = Some(first.to_string());
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// A username that names someone: the frontend writes `Anonymous` for a
/// viewer it does not know.
fn is_named(s: &str) -> bool {
    is_username(s) && !s.eq_ignore_ascii_case("anonymous")
}

/// `text` with every link replaced by `(link)`: a URL, a `www.` host, a
/// domain, or a path of two or more segments. What a link carries (a host, a
/// path, a token in it) is nobody's business past the door: not a model's,
/// not a provider's, not a log's.
pub fn without_links(text: String) -> String {
    if !has_dot_or_slash(&text) || !text.split_whitespace().any(is_link) {
        return text;
    }
    text.split_whitespace()
        .map(|w| if is_link(w) { "(link)" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

fn has_dot_or_slash(s: &str) -> bool {
    s.bytes().any(|b| b == b'.' || b == b'/')
}

fn is_link(word: &str) -> bool {
    // Every link, written or hidden (`x[.]com`, `www.`, `://`), has a dot or a
    // slash: most words of a chat line are not looked at further.
    if !has_dot_or_slash(word) {
        return false;
    }
    let slashes = word.matches('/').count();
    has_url(word) || word.contains("://") || (slashes >= 2 && word.chars().any(|c| c.is_ascii_alphanumeric()))
}

fn is_username(s: &str) -> bool {
    if s.is_ascii() {
        // The same tests on bytes (most names are ASCII): `char::is_whitespace`
        // of ASCII is tab to carriage return and space.
        let b = s.as_bytes();
        return !b.is_empty()
            && b.len() <= MAX_USER_CHARS
            && !b.iter().any(|c| matches!(c, b'\t'..=b'\r' | b' '))
            && b.iter().any(u8::is_ascii_alphanumeric);
    }
    !s.is_empty()
        && (s.len() <= MAX_USER_CHARS || char_len(s) <= MAX_USER_CHARS)
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
    use serde_json::{json, Value};

    /// The context `value` as the door reads it from a body.
    fn parse(value: &Value) -> Result<RoomContext, ApiError> {
        let text = value.to_string();
        RoomContext::parse(&serde_json::from_str(&text).unwrap())
    }

    /// One event of the coach frontend's, as `app.js` sends it.
    fn app(kind: &str, text: &str) -> Option<Event> {
        parse(&json!([{"type": kind, "text": text, "timestamp": "2026-11-30T10:00:00.123Z"}]))
            .unwrap()
            .events()
            .first()
            .cloned()
    }

    #[test]
    fn a_username_is_told_on_bytes_as_on_characters() {
        let by_chars = |s: &str| {
            !s.is_empty()
                && char_len(s) <= MAX_USER_CHARS
                && !s.contains(char::is_whitespace)
                && s.chars().any(char::is_alphanumeric)
        };
        let pieces = [
            "a", "Z", "7", "_", ".", " ", "\t", "\u{b}", "\u{c}", "\r", "\u{1f}", "\u{e9}", "\u{a0}",
            "\u{85}", "-",
        ];
        let mut next = crate::core::testing::draws(0xdead_beef_cafe_f00d_u64);
        for _ in 0..20_000 {
            let s: String = crate::core::testing::text_of(&mut next, &pieces, 5);
            assert_eq!(is_username(&s), by_chars(&s), "{s:?}");
        }
        let long = "a".repeat(MAX_USER_CHARS + 1);
        assert!(is_username(&long[1..]) && !is_username(&long));
    }

    #[test]
    fn the_coach_frontend_sentences_are_read_as_their_kinds() {
        let cases = [
            (
                "event",
                "Max_99 entered the room",
                EventKind::Join,
                Some("Max_99"),
                "entered the room",
            ),
            (
                "event",
                "Max_99 left the room",
                EventKind::Leave,
                Some("Max_99"),
                "left the room",
            ),
            (
                "event",
                "Max_99 has followed",
                EventKind::Follow,
                Some("Max_99"),
                "has followed",
            ),
            (
                "event",
                "Max_99 has unfollowed",
                EventKind::Unfollow,
                Some("Max_99"),
                "has unfollowed",
            ),
            (
                "event",
                "Max_99 joined the fan club",
                EventKind::FanClub,
                Some("Max_99"),
                "joined the fan club",
            ),
            (
                "event",
                "Max_99 purchased photo set: Beach Day",
                EventKind::Purchase,
                Some("Max_99"),
                "purchased photo set: Beach Day",
            ),
            (
                "event",
                "Room Subject changed to Yoga night #fit",
                EventKind::Subject,
                None,
                "Yoga night #fit",
            ),
            (
                "event",
                "Broadcast started",
                EventKind::Other,
                None,
                "Broadcast started",
            ),
            (
                "event",
                "Event: privateShowStart",
                EventKind::Other,
                None,
                "Event: privateShowStart",
            ),
            (
                "chat",
                "You: thanks everyone!",
                EventKind::OwnWords,
                None,
                "thanks everyone!",
            ),
            (
                "chat",
                "Max_99 sent private message to zoe: hey there",
                EventKind::Private,
                Some("Max_99"),
                "to zoe: hey there",
            ),
            (
                "chat",
                "Max_99: how are you?",
                EventKind::Chat,
                Some("Max_99"),
                "how are you?",
            ),
            ("chat", "Anonymous: hi", EventKind::Chat, Some("Anonymous"), "hi"),
            (
                "tip",
                "Anonymous tipped 25 tokens",
                EventKind::Tip,
                None,
                "Anonymous tipped 25 tokens",
            ),
            (
                "tip",
                "Max_99 tipped 100 tokens with message: for the song",
                EventKind::Tip,
                Some("Max_99"),
                "Max_99 tipped 100 tokens with message: for the song",
            ),
        ];
        for (kind, text, want, user, said) in cases {
            let e = app(kind, text).unwrap();
            assert_eq!((e.kind(), e.user(), e.text()), (want, user, said), "{text}");
        }
        assert_eq!(
            app("tip", "Anonymous tipped 25 tokens").unwrap().amount(),
            Some(25)
        );
        assert_eq!(app("event", "Anonymous entered the room").unwrap().user(), None);
    }

    #[test]
    fn the_app_status_lines_are_dropped() {
        for text in [
            "Connecting to: https://eventsapi.chaturbate.com/events/zoe/s3cr3tT0ken/",
            "Fetching profile info for zoe...",
            "Profile information loaded",
            "Reconnected to previously scanned QR code URL",
            "Configuration saved",
            "Connection error: HTTP error! Status: 502",
            "Error generating prompt: This session key has expired.",
            "Disconnected from event stream",
            "Local storage cleared",
            "Error refreshing session key, but configuration saved",
            "Broadcaster username set to: zoe",
            "Error accessing camera. Please check permissions.",
            "Invalid QR code. Please scan a valid Chaturbate events API QR code.",
        ] {
            assert_eq!(app("event", text), None, "{text}");
        }
        let lines = parse(&json!(
            "Chat: a: hi\nConnecting to: https://x.example/events/zoe/tok/"
        ))
        .unwrap();
        assert_eq!(lines.events().len(), 1);
    }

    #[test]
    fn no_link_gets_past_the_door_in_any_line() {
        let secret = "s3cr3tT0kenABCDEF";
        for (kind, text) in [
            (
                "chat",
                format!("Max: look https://eventsapi.chaturbate.com/events/zoe/{secret}/ now"),
            ),
            (
                "chat",
                format!("Max: eventsapi.chaturbate.com/events/zoe/{secret}/"),
            ),
            (
                "event",
                format!("Room Subject changed to www.example.com/{secret}"),
            ),
            (
                "tip",
                format!("Max tipped 5 tokens with message: /events/zoe/{secret}/"),
            ),
            ("event", format!("Something odd: http://10.0.0.1:8080/{secret}")),
        ] {
            let e = app(kind, &text).unwrap();
            assert!(
                !e.text().contains(secret) && !e.text().contains("://"),
                "{}",
                e.text()
            );
            assert!(e.text().contains("(link)"), "{}", e.text());
        }
    }

    #[test]
    fn array_events_take_user_and_amount_from_text() {
        let ctx = parse(&json!([
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
        let ctx = parse(&json!([
            {"text": "big tip!", "type": "tip", "user": "Alice"},
            {"text": "Bob followed", "type": "follow"}
        ]))
        .unwrap();
        assert_eq!(ctx.events()[0].user.as_deref(), Some("Alice"));
        assert_eq!(ctx.events()[1].kind, EventKind::Other);
    }

    #[test]
    fn string_context_lines() {
        let ctx = parse(&json!(
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
        let ctx = parse(&json!([
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
            // `null` is what absent is, and an event that is `null` or an array is no object.
            (json!([null]), "context[0]"),
            (json!([{"text": "x", "type": "chat"}, []]), "context[1]"),
            (json!([{"text": null, "type": "chat"}]), "context[0].text"),
            (json!([{"text": "x", "type": null}]), "context[0].type"),
            (json!([{"text": "x", "type": 7}]), "context[0].type"),
            (
                json!([{"text": "x", "type": "chat", "user": false}]),
                "context[0].user",
            ),
            (
                json!([{"text": "x", "type": "chat", "timestamp": {}}]),
                "context[0].timestamp",
            ),
            (json!(null), "context"),
            (json!({"text": "x"}), "context"),
        ];
        for (value, field) in cases {
            match parse(&value) {
                Err(ApiError::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{value}: {other:?}"),
            }
        }
        let fine =
            parse(&json!([{"text": "x", "type": "chat", "user": null, "timestamp": null, "extra": [1]}]));
        assert_eq!(fine.map(|c| c.events().len()), Ok(1));
    }

    #[test]
    fn any_number_of_events_and_a_cap_on_length() {
        let many: Vec<Value> = (0..10_000)
            .map(|_| json!({"text": "x", "type": "chat"}))
            .collect();
        assert_eq!(parse(&Value::Array(many)).unwrap().events().len(), 10_000);
        let long = json!([{"text": "x".repeat(MAX_EVENT_TEXT_CHARS + 1), "type": "chat"}]);
        assert!(parse(&long).is_err());
        let lines = "a\n".repeat(10_000);
        assert_eq!(parse(&Value::String(lines)).unwrap().events().len(), 10_000);
        let huge = "a\n".repeat(MAX_CONTEXT_STRING_CHARS);
        assert!(parse(&Value::String(huge)).is_err());
    }

    #[test]
    fn invisible_and_tag_characters_never_reach_the_event() {
        let tags: String = "obey"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let ctx = parse(&json!([
            {"text": format!("Eve: hi{tags}\u{200B}!"), "type": "chat", "user": "E\u{200D}ve"}
        ]))
        .unwrap();
        assert_eq!(
            (ctx.events()[0].user(), ctx.events()[0].text()),
            (Some("Eve"), "hi!")
        );
    }
}
