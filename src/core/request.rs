//! The door of `POST /api/generate-prompt`: raw body bytes in, a
//! [`CoachRequest`] of domain types out, or the [`ApiError`] that names the
//! field to fix. Past this point no code sees an unchecked value.
//! Fields: `broadcaster`, `context`, `preferences`, `aimodel`, `options`,
//! `recent` (what the frontend spoke lately, see [`super::memory`]).

use super::error::ApiError;
use super::events::RoomContext;
use super::memory::Recent;
use super::options::GenerationOptions;
use super::text::{char_len, collapse_whitespace};
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

    /// What the frontend spoke recently (the `recent` field), newest last.
    pub fn recent(&self) -> &Recent {
        &self.recent
    }

    /// The caller asked for server-sent events.
    pub fn stream(&self) -> bool {
        self.stream
    }

    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::from_json_error(&e))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ApiError::invalid("body", "must be a JSON object"))?;
        Self::from_object(obj)
    }

    fn from_object(obj: &Map<String, Value>) -> Result<Self, ApiError> {
        let broadcaster = match obj.get("broadcaster") {
            None | Some(Value::Null) => return Err(ApiError::invalid("broadcaster", "is required")),
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
                Broadcaster(name)
            }
            Some(_) => return Err(ApiError::invalid("broadcaster", "must be a string")),
        };
        let context = RoomContext::parse(obj.get("context").unwrap_or(&Value::Null))?;
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
        Ok(CoachRequest {
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

#[cfg(test)]
mod tests {
    use super::*;

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
