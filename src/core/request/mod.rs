//! The door of `POST /api/generate-prompt`: raw body bytes in, a
//! [`CoachRequest`] of domain types out, or the [`ApiError`] that names the
//! field to fix. Past this point no code sees an unchecked value.
//! Fields: `broadcaster`, `context`, `preferences`, `aimodel`, `options`,
//! `recent` (what the frontend spoke lately, see [`crate::core::request::recent`]), `stream`,
//! `reason` (what made the frontend ask), `pace` (whether to be paced; see
//! [`crate::core::coach::pacing`]). `sessionKey`, the coach frontend's
//! credential, is read before this by the edge and is not part of the request.

pub mod events;
pub mod moments;
pub mod options;
pub mod raw;
pub mod recent;

use crate::core::error::ApiError;
use crate::core::request::events::{Event, RoomContext};
use crate::core::request::moments::{Act, Focus, Moment};
use crate::core::request::options::GenerationOptions;
use crate::core::request::raw::RawBody;
use crate::core::request::recent::Recent;
use crate::core::text::{char_len, collapse_whitespace};
use serde_json::{Map, Value};

pub const MAX_BROADCASTER_CHARS: usize = 64;
pub const MAX_PREFERENCES_CHARS: usize = 1_000;
pub const MAX_MODEL_CHARS: usize = 100;

/// The broadcaster's display name: trimmed, 1 to 64 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcaster(String);

impl Broadcaster {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `broadcaster` field of a body (this one's, or a session key request's).
    pub fn parse(value: Option<&Value>) -> Result<Broadcaster, ApiError> {
        match value {
            None | Some(Value::Null) => Err(ApiError::invalid("broadcaster", "is required")),
            Some(Value::String(s)) => {
                let name = collapse_whitespace(s);
                if name.is_empty() {
                    return Err(ApiError::invalid("broadcaster", "must not be empty"));
                }
                if char_len(&name) > MAX_BROADCASTER_CHARS {
                    return Err(ApiError::invalid(
                        "broadcaster",
                        format!("must be at most {MAX_BROADCASTER_CHARS} characters"),
                    ));
                }
                Ok(Broadcaster(name))
            }
            Some(_) => Err(ApiError::invalid("broadcaster", "must be a string")),
        }
    }
}

/// The broadcaster's wishes and restrictions: at most 1,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences(String);

impl Preferences {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The model the caller named in `aimodel` (an id or alias): trimmed, 1 to
/// 100 characters. The registry resolves it (or answers `unknown_model`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName(String);

impl ModelName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What made the frontend ask, as the coach frontend names it (`app.js`
/// passes the events API's method, or `inactivity` from its quiet timer). It
/// steers the suggestion; a reason not listed here is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `tip`: thank the tipper by name.
    Tip,
    /// `chatMessage`: answer or build on what was said.
    Chat,
    /// `userEnter`: welcome the newcomer.
    Entrance,
    /// `inactivity`: re-engage a quiet room with an open question.
    Inactivity,
}

impl Reason {
    fn parse(value: Option<&Value>) -> Result<Option<Reason>, ApiError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(match s.trim() {
                "tip" => Some(Reason::Tip),
                "chatMessage" | "chat" => Some(Reason::Chat),
                "userEnter" | "join" => Some(Reason::Entrance),
                "inactivity" => Some(Reason::Inactivity),
                _ => None,
            }),
            Some(_) => Err(ApiError::invalid(
                "reason",
                "must be a string: tip, chatMessage, userEnter or inactivity",
            )),
        }
    }
}

/// A parsed `POST /api/generate-prompt` body; fields are read through
/// accessors, so no code past the door can build or alter one unchecked.
#[derive(Debug, Clone, PartialEq)]
pub struct CoachRequest {
    broadcaster: Broadcaster,
    context: RoomContext,
    preferences: Option<Preferences>,
    model: Option<ModelName>,
    options: GenerationOptions,
    recent: Recent,
    /// The caller asked for server-sent events (`"stream": true`).
    stream: bool,
    reason: Option<Reason>,
    /// The `pace` field: whether to be paced, and the caller's own gap.
    pace: PaceRequest,
    /// What the pacing chose this line to be about (`None`: not paced).
    focus: Option<Focus>,
    /// What lines did to people lately (the caller's state object's memory).
    acts: Vec<Act>,
}

/// The `pace` field: `true` or `false` (be paced or not, whatever the
/// `reason`), or a number of seconds (be paced, with that gap). Absent: a
/// request with a `reason` is paced with the deployment's gap, one without is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaceRequest {
    #[default]
    ByReason,
    Never,
    Always,
    Gap {
        seconds: u32,
    },
}

/// Longest gap a caller may ask for, in seconds.
pub const MAX_PACE_GAP_SECONDS: u32 = 600;

impl PaceRequest {
    fn parse(value: Option<&Value>) -> Result<PaceRequest, ApiError> {
        let bad = || {
            ApiError::invalid(
                "pace",
                format!("must be true, false, or a gap in seconds from 0 to {MAX_PACE_GAP_SECONDS}"),
            )
        };
        match value {
            None | Some(Value::Null) => Ok(PaceRequest::ByReason),
            Some(Value::Bool(true)) => Ok(PaceRequest::Always),
            Some(Value::Bool(false)) => Ok(PaceRequest::Never),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(s) if s <= u64::from(MAX_PACE_GAP_SECONDS) => Ok(PaceRequest::Gap { seconds: s as u32 }),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }
}

impl CoachRequest {
    pub fn broadcaster(&self) -> &Broadcaster {
        &self.broadcaster
    }

    /// The room's events, oldest first.
    pub fn context(&self) -> &RoomContext {
        &self.context
    }

    pub fn preferences(&self) -> Option<&Preferences> {
        self.preferences.as_ref()
    }

    /// The model the caller asked for, not yet resolved.
    pub fn model(&self) -> Option<&str> {
        self.model.as_ref().map(ModelName::as_str)
    }

    pub fn options(&self) -> &GenerationOptions {
        &self.options
    }

    /// What the frontend spoke recently (the `recent` field), newest last,
    /// with what the caller's state remembers once [`remember`](Self::remember)ed.
    pub fn recent(&self) -> &Recent {
        &self.recent
    }

    /// Adds the lines the caller's state object remembers having said
    /// (oldest first) to `recent`, so a frontend that sends none still never
    /// hears the same line twice.
    pub fn remember(&mut self, said: &[String]) {
        self.recent = self.recent.merged(said);
    }

    /// The caller asked for server-sent events.
    pub fn stream(&self) -> bool {
        self.stream
    }

    /// What made the frontend ask, when it said and we know the reason.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    /// Whether this request is paced, and with the caller's own gap (seconds)
    /// when it asked for one.
    pub fn paced(&self) -> (bool, Option<u32>) {
        match self.pace {
            PaceRequest::ByReason => (self.reason.is_some(), None),
            PaceRequest::Never => (false, None),
            PaceRequest::Always => (true, None),
            PaceRequest::Gap { seconds } => (true, Some(seconds)),
        }
    }

    /// The moments of this request's room (see [`moments`]).
    pub fn moments(&self) -> Vec<Moment> {
        moments::moments(&self.context, self.broadcaster.as_str())
    }

    /// Sets what the pacing chose this line to be about, and the acts of
    /// lines said lately.
    pub fn set_pace(&mut self, focus: Focus, acts: Vec<Act>) {
        self.focus = Some(focus);
        self.acts = acts;
    }

    /// What this line is to be about, when the request was paced.
    pub fn focus(&self) -> Option<&Focus> {
        self.focus.as_ref()
    }

    /// What lines did to people lately.
    pub fn acts(&self) -> &[Act] {
        &self.acts
    }

    /// Every username of the room and of the focus, each once.
    pub fn people(&self) -> Vec<String> {
        let mut people: Vec<String> = Vec::new();
        let focus = self
            .focus
            .iter()
            .flat_map(|f| f.moments())
            .map(|m| m.user.as_str());
        for user in self.context.events().iter().filter_map(Event::user).chain(focus) {
            if !people.iter().any(|p| p == user) {
                people.push(user.to_string());
            }
        }
        people
    }

    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        Self::from_body(&parse_object(body)?)
    }

    /// The request from a body already read by [`parse_object`] (the edge
    /// reads the credential from it first).
    pub fn from_body(obj: &RawBody) -> Result<Self, ApiError> {
        let broadcaster = Broadcaster::parse(obj.get("broadcaster"))?;
        let context = RoomContext::parse(obj.context())?;
        let preferences = match obj.get("preferences") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if char_len(s) > MAX_PREFERENCES_CHARS => {
                return Err(ApiError::invalid(
                    "preferences",
                    format!("must be at most {MAX_PREFERENCES_CHARS} characters"),
                ))
            }
            Some(Value::String(s)) => {
                let p = s.trim();
                (!p.is_empty()).then(|| Preferences(p.to_string()))
            }
            Some(_) => return Err(ApiError::invalid("preferences", "must be a string")),
        };
        let model = match obj.get("aimodel") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if char_len(s) > MAX_MODEL_CHARS => {
                return Err(ApiError::invalid(
                    "aimodel",
                    format!("must be at most {MAX_MODEL_CHARS} characters"),
                ))
            }
            Some(Value::String(s)) => Some(s.trim())
                .filter(|m| !m.is_empty())
                .map(|m| ModelName(m.to_string())),
            Some(_) => return Err(ApiError::invalid("aimodel", "must be a string")),
        };
        let options = GenerationOptions::parse(obj.get("options"))?;
        let stream = match obj.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::invalid("stream", "must be true or false")),
        };
        let recent = Recent::parse(obj.get("recent"))?;
        let reason = Reason::parse(obj.get("reason"))?;
        let pace = PaceRequest::parse(obj.get("pace"))?;
        Ok(CoachRequest {
            reason,
            pace,
            focus: None,
            acts: Vec::new(),
            broadcaster,
            context,
            preferences,
            model,
            options,
            stream,
            recent,
        })
    }
}

/// The body of `POST /api/generate-prompt`, which must be a JSON object,
/// read once (see [`raw`]).
pub fn parse_object(body: &[u8]) -> Result<RawBody<'_>, ApiError> {
    RawBody::from_slice(body)
        .map_err(|e| ApiError::from_json_error(&e))?
        .ok_or_else(not_an_object)
}

/// A small body that must be a JSON object (a session key request), as its map.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body).map_err(|e| ApiError::from_json_error(&e))? {
        Value::Object(map) => Ok(map),
        _ => Err(not_an_object()),
    }
}

fn not_an_object() -> ApiError {
    ApiError::invalid("body", "must be a JSON object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_steer_and_unknown_ones_are_ignored() {
        let reason = |r: &str| {
            CoachRequest::from_json(format!(r#"{{"broadcaster":"B","context":[],"reason":{r}}}"#).as_bytes())
                .map(|c| c.reason())
        };
        assert_eq!(reason(r#""tip""#), Ok(Some(Reason::Tip)));
        assert_eq!(reason(r#""chatMessage""#), Ok(Some(Reason::Chat)));
        assert_eq!(reason(r#""userEnter""#), Ok(Some(Reason::Entrance)));
        assert_eq!(reason(r#""inactivity""#), Ok(Some(Reason::Inactivity)));
        assert_eq!(reason(r#""broadcastStart""#), Ok(None));
        assert_eq!(reason("null"), Ok(None));
        assert!(reason("7").is_err());
    }

    #[test]
    fn the_coach_frontend_body_parses() {
        // As `cloudflareWorker.js` sends it: empty preferences, null model, a session key.
        let body = r#"{"context":[{"type":"chat","text":"Max: hi","timestamp":"2026-11-30T10:00:00.123Z"}],
            "broadcaster":"zoe","preferences":"","aimodel":null,"sessionKey":"cs1.x","reason":"chatMessage"}"#;
        let r = CoachRequest::from_json(body.as_bytes()).unwrap();
        assert_eq!(
            (r.preferences(), r.model(), r.reason()),
            (None, None, Some(Reason::Chat))
        );
    }

    fn field_of(body: &str) -> String {
        match CoachRequest::from_json(body.as_bytes()) {
            Err(ApiError::InvalidRequest { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn the_contract_example_parses() {
        let body = r#"{"context":[{"text":"User123: Hello everyone!","type":"chat","timestamp":"2025-03-13T03:15:45.000Z"},
            {"text":"User456 tipped 50 tokens","type":"tip","timestamp":"2025-03-13T03:16:12.000Z"}],
            "broadcaster":"BroadcasterName","preferences":"Engage more with tips.","aimodel":"@hf/mistral/mistral-7b-instruct-v0.2",
            "somethingElse": {"ignored": true}}"#;
        let r = CoachRequest::from_json(body.as_bytes()).unwrap();
        assert_eq!(r.broadcaster.as_str(), "BroadcasterName");
        assert_eq!(r.context.events().len(), 2);
        assert_eq!(r.preferences().unwrap().as_str(), "Engage more with tips.");
        assert_eq!(r.model(), Some("@hf/mistral/mistral-7b-instruct-v0.2"));
        assert!(r.recent().is_empty());
        assert!(!r.stream());
        let streamed = CoachRequest::from_json(br#"{"broadcaster":"B","context":[],"stream":true}"#).unwrap();
        assert!(streamed.stream());
    }

    #[test]
    fn malformed_json_is_invalid_json() {
        for body in ["", "{", "{\"broadcaster\": }", "nope"] {
            assert!(matches!(
                CoachRequest::from_json(body.as_bytes()),
                Err(ApiError::InvalidJson(_))
            ));
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(field_of("[1,2]"), "body");
        assert_eq!(field_of(r#"{"context":[]}"#), "broadcaster");
        assert_eq!(field_of(r#"{"broadcaster":"  ","context":[]}"#), "broadcaster");
        assert_eq!(field_of(r#"{"broadcaster":7,"context":[]}"#), "broadcaster");
        let long = "b".repeat(65);
        assert_eq!(
            field_of(&format!(r#"{{"broadcaster":"{long}","context":[]}}"#)),
            "broadcaster"
        );
        assert_eq!(field_of(r#"{"broadcaster":"B"}"#), "context");
        assert_eq!(field_of(r#"{"broadcaster":"B","context":null}"#), "context");
        assert_eq!(field_of(r#"{"broadcaster":null,"context":[]}"#), "broadcaster");
        let prefs = "p".repeat(1001);
        assert_eq!(
            field_of(&format!(
                r#"{{"broadcaster":"B","context":[],"preferences":"{prefs}"}}"#
            )),
            "preferences"
        );
        assert_eq!(
            field_of(r#"{"broadcaster":"B","context":[],"preferences":1}"#),
            "preferences"
        );
        assert_eq!(
            field_of(r#"{"broadcaster":"B","context":[],"aimodel":{}}"#),
            "aimodel"
        );
        assert_eq!(
            field_of(r#"{"broadcaster":"B","context":[],"options":{"top_k":-1}}"#),
            "options.top_k"
        );
        assert_eq!(
            field_of(r#"{"broadcaster":"B","context":[],"stream":"yes"}"#),
            "stream"
        );
        assert_eq!(
            field_of(r#"{"broadcaster":"B","context":[],"recent":[7]}"#),
            "recent[0]"
        );
    }

    #[test]
    fn recent_lines_are_read() {
        let body = r#"{"broadcaster":"B","context":[],"recent":["Thanks Max!"],"aimodel":"  "}"#;
        let r = CoachRequest::from_json(body.as_bytes()).unwrap();
        assert_eq!(r.recent().lines(), ["Thanks Max!"]);
        assert_eq!(r.model(), None);
    }

    #[test]
    fn limits_are_inclusive() {
        let name = "b".repeat(64);
        let prefs = "p".repeat(1000);
        let body = format!(r#"{{"broadcaster":"{name}","context":"","preferences":"{prefs}"}}"#);
        assert!(CoachRequest::from_json(body.as_bytes()).is_ok());
    }
}
