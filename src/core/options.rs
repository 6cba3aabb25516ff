//! Generation options a caller may set (`options` in the request body), checked
//! against the ranges Workers AI documents and sent under Workers AI's own names.

use super::error::ApiError;
use serde::Serialize;
use serde_json::{Map, Value};

/// Coaching defaults: a suggestion is one short sentence, so few tokens.
pub const DEFAULT_TEMPERATURE: f64 = 0.6;
pub const DEFAULT_MAX_TOKENS: u32 = 96;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationOptions {
    pub temperature: f64,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions {
            temperature: DEFAULT_TEMPERATURE,
            max_tokens: DEFAULT_MAX_TOKENS,
            top_p: None,
            top_k: None,
            repetition_penalty: None,
            presence_penalty: None,
            frequency_penalty: None,
            seed: None,
        }
    }
}

fn number(obj: &Map<String, Value>, key: &str, min: f64, max: f64) -> Result<Option<f64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v >= min && v <= max => Ok(Some(v)),
            _ => Err(ApiError::invalid(
                format!("options.{key}"),
                format!("must be a number from {min} to {max}"),
            )),
        },
        Some(_) => Err(ApiError::invalid(
            format!("options.{key}"),
            format!("must be a number from {min} to {max}"),
        )),
    }
}

fn integer(obj: &Map<String, Value>, key: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= min && v <= max => Ok(Some(v)),
            _ => Err(ApiError::invalid(
                format!("options.{key}"),
                format!("must be a whole number from {min} to {max}"),
            )),
        },
        Some(_) => Err(ApiError::invalid(
            format!("options.{key}"),
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

impl GenerationOptions {
    /// Parses the optional `options` object; unknown keys are ignored like
    /// unknown top-level fields.
    pub fn parse(value: Option<&Value>) -> Result<Self, ApiError> {
        let obj = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(obj)) => obj,
            Some(_) => return Err(ApiError::invalid("options", "must be an object")),
        };
        let defaults = Self::default();
        Ok(GenerationOptions {
            temperature: number(obj, "temperature", 0.0, 5.0)?.unwrap_or(defaults.temperature),
            max_tokens: integer(obj, "max_tokens", 1, 1024)?
                .map(|v| v as u32)
                .unwrap_or(defaults.max_tokens),
            top_p: number(obj, "top_p", 0.0, 1.0)?,
            top_k: integer(obj, "top_k", 1, 100)?.map(|v| v as u32),
            repetition_penalty: number(obj, "repetition_penalty", 0.0, 2.0)?,
            presence_penalty: number(obj, "presence_penalty", -2.0, 2.0)?,
            frequency_penalty: number(obj, "frequency_penalty", -2.0, 2.0)?,
            seed: integer(obj, "seed", 1, 9_999_999_999)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(v: Value) -> String {
        match GenerationOptions::parse(Some(&v)) {
            Err(ApiError::InvalidRequest { field, .. }) => field,
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_short() {
        let o = GenerationOptions::parse(None).unwrap();
        assert_eq!(o.max_tokens, DEFAULT_MAX_TOKENS);
        let sent = serde_json::to_value(&o).unwrap();
        assert_eq!(
            sent,
            json!({"temperature": DEFAULT_TEMPERATURE, "max_tokens": DEFAULT_MAX_TOKENS})
        );
    }

    #[test]
    fn every_option_range_is_enforced_at_both_ends() {
        let ranges: [(&str, f64, f64, bool); 8] = [
            ("temperature", 0.0, 5.0, false),
            ("max_tokens", 1.0, 1024.0, true),
            ("top_p", 0.0, 1.0, false),
            ("top_k", 1.0, 100.0, true),
            ("repetition_penalty", 0.0, 2.0, false),
            ("presence_penalty", -2.0, 2.0, false),
            ("frequency_penalty", -2.0, 2.0, false),
            ("seed", 1.0, 9_999_999_999.0, true),
        ];
        for (key, min, max, whole) in ranges {
            let ok = |v: f64| {
                let value = if whole { json!(v as u64) } else { json!(v) };
                GenerationOptions::parse(Some(&json!({ key: value })))
            };
            assert!(ok(min).is_ok(), "{key} min");
            assert!(ok(max).is_ok(), "{key} max");
            let step = if whole { 1.0 } else { 0.01 };
            if min - step >= 0.0 || !whole {
                let below = if whole {
                    json!((min - step) as u64)
                } else {
                    json!(min - step)
                };
                assert_eq!(
                    field_of(json!({ key: below })),
                    format!("options.{key}"),
                    "{key} below"
                );
            }
            let above = if whole {
                json!((max + step) as u64)
            } else {
                json!(max + step)
            };
            assert_eq!(
                field_of(json!({ key: above })),
                format!("options.{key}"),
                "{key} above"
            );
            assert_eq!(
                field_of(json!({ key: "1" })),
                format!("options.{key}"),
                "{key} type"
            );
            if whole {
                assert_eq!(
                    field_of(json!({ key: min + 0.5 })),
                    format!("options.{key}"),
                    "{key} fraction"
                );
            }
        }
    }

    #[test]
    fn valid_values_are_sent_under_workers_ai_names() {
        let o = GenerationOptions::parse(Some(&json!({
            "temperature": 0.2, "max_tokens": 40, "top_p": 0.9, "top_k": 5,
            "repetition_penalty": 1.1, "presence_penalty": -0.5, "frequency_penalty": 0.5, "seed": 42,
            "unknown": true
        })))
        .unwrap();
        let sent = serde_json::to_value(&o).unwrap();
        assert_eq!(
            sent,
            json!({"temperature": 0.2, "max_tokens": 40, "top_p": 0.9, "top_k": 5,
                   "repetition_penalty": 1.1, "presence_penalty": -0.5, "frequency_penalty": 0.5, "seed": 42})
        );
    }

    #[test]
    fn options_must_be_an_object() {
        assert_eq!(field_of(json!([1])), "options");
    }
}
