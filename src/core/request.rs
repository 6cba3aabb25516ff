//! The door of `POST /api/generate-prompt`: raw body bytes in, a
//! [`CoachRequest`] of domain types out, or the [`ApiError`] that names the
//! field to fix. Past this point no code sees an unchecked value.

use super::error::ApiError;
use super::events::RoomContext;
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

#[derive(Debug, Clone, PartialEq)]
pub struct CoachRequest {
    pub broadcaster: Broadcaster,
    pub context: RoomContext,
    pub preferences: Option<Preferences>,
    /// The model the caller asked for (an id or alias), not yet resolved.
    pub model: Option<String>,
    pub options: GenerationOptions,
    /// The caller asked for server-sent events (`"stream": true`).
    pub stream: bool,
}

impl CoachRequest {
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Eof => "it ends too early",
                serde_json::error::Category::Syntax => "syntax error",
                _ => "unreadable",
            };
            ApiError::InvalidJson(format!("{what} at line {} column {}", e.line(), e.column()))
        })?;
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
            Some(Value::String(s)) => Some(s.trim().to_string()).filter(|m| !m.is_empty()),
            Some(_) => return Err(ApiError::invalid("aimodel", "must be a string")),
        };
        let options = GenerationOptions::parse(obj.get("options"))?;
        let stream = match obj.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::invalid("stream", "must be true or false")),
        };
        Ok(CoachRequest {
            broadcaster,
            context,
            preferences,
            model,
            options,
            stream,
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
        assert_eq!(r.preferences.unwrap().as_str(), "Engage more with tips.");
        assert_eq!(r.model.as_deref(), Some("@hf/mistral/mistral-7b-instruct-v0.2"));
        assert!(!r.stream);
        let streamed = CoachRequest::from_json(br#"{"broadcaster":"B","context":[],"stream":true}"#).unwrap();
        assert!(streamed.stream);
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
    }

    #[test]
    fn limits_are_inclusive() {
        let name = "b".repeat(64);
        let prefs = "p".repeat(1000);
        let body = format!(r#"{{"broadcaster":"{name}","context":"","preferences":"{prefs}"}}"#);
        assert!(CoachRequest::from_json(body.as_bytes()).is_ok());
    }
}
