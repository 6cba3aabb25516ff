//! Generation options a caller may set (`options` in the request body). The
//! door checks their types and the product's own bounds; the chosen model's
//! published ranges (from the catalog) are checked once the model is known,
//! and each model is sent only the options its input schema takes.

use crate::core::error::ApiError;
use serde_json::{Map, Value};

/// A published option range (`minimum`/`maximum` of a model's input schema).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionRange {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub integer: bool,
}

/// What a model publishes about the options it takes (the catalog's entries
/// implement it), so the options are checked here without this module
/// knowing the catalog.
pub trait OptionSchema {
    fn model_id(&self) -> &str;
    fn option_range(&self, key: &str) -> Option<&OptionRange>;
}

/// Coaching defaults. A suggestion is one or two short sentences, so few
/// tokens, but room enough for a whole one of the longest `MAX_WORDS` (40
/// words at about two tokens a word, and the JSON envelope): an answer the
/// token limit cuts off is refused, never shortened.
pub const DEFAULT_TEMPERATURE: f64 = 0.6;
pub const DEFAULT_MAX_TOKENS: u32 = 96;
/// The product's own ceiling on `max_tokens`: a suggestion never needs more.
pub const MAX_MAX_TOKENS: u32 = 1_024;

/// The options this API accepts, in the order they are checked, and whether
/// each is a whole number.
const KNOWN: [(&str, bool); 8] = [
    ("temperature", false),
    ("max_tokens", true),
    ("top_p", false),
    ("top_k", true),
    ("repetition_penalty", false),
    ("presence_penalty", false),
    ("frequency_penalty", false),
    ("seed", true),
];

/// Options as the caller set them (plus the coaching defaults for
/// `temperature` and `max_tokens`), each a finite number of the right kind.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOptions {
    values: Vec<(&'static str, f64)>,
    /// The keys the caller set: only these can be refused for a model.
    set_by_caller: Vec<&'static str>,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions {
            values: vec![
                ("temperature", DEFAULT_TEMPERATURE),
                ("max_tokens", f64::from(DEFAULT_MAX_TOKENS)),
            ],
            set_by_caller: Vec::new(),
        }
    }
}

fn read(obj: &Map<String, Value>, key: &'static str, whole: bool) -> Result<Option<f64>, ApiError> {
    let kind = if whole { "a whole number" } else { "a number" };
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if whole => match crate::core::text::whole_number(n) {
            Some(v) => Ok(Some(v as f64)),
            None => Err(ApiError::invalid(
                format!("options.{key}"),
                format!("must be {kind} of 0 or more"),
            )),
        },
        Some(Value::Number(n)) => match n.as_f64().filter(|v| v.is_finite()) {
            Some(v) => Ok(Some(v)),
            None => Err(ApiError::invalid(
                format!("options.{key}"),
                format!("must be {kind}"),
            )),
        },
        Some(_) => Err(ApiError::invalid(
            format!("options.{key}"),
            format!("must be {kind}"),
        )),
    }
}

fn shown(v: f64) -> String {
    // 9999999999.0 prints as 9999999999, 0.001 as 0.001.
    format!("{v}")
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
        let mut options = Self::default();
        for (key, whole) in KNOWN {
            if let Some(v) = read(obj, key, whole)? {
                options.set(key, v);
                options.set_by_caller.push(key);
            }
        }
        let max_tokens = options.get("max_tokens").unwrap_or(0.0);
        if !(1.0..=f64::from(MAX_MAX_TOKENS)).contains(&max_tokens) {
            return Err(ApiError::invalid(
                "options.max_tokens",
                format!("must be a whole number from 1 to {MAX_MAX_TOKENS}"),
            ));
        }
        Ok(options)
    }

    fn set(&mut self, key: &'static str, v: f64) {
        match self.values.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = v,
            None => self.values.push((key, v)),
        }
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    pub fn max_tokens(&self) -> u32 {
        self.get("max_tokens").map_or(DEFAULT_MAX_TOKENS, |v| v as u32)
    }

    /// `max_tokens` no higher than `cap` (an anonymous caller's ceiling).
    pub fn cap_max_tokens(&mut self, cap: u32) {
        for (k, v) in &mut self.values {
            if *k == "max_tokens" && *v > f64::from(cap) {
                *v = f64::from(cap);
            }
        }
    }

    /// `400 invalid_request` naming the option, the model and its published
    /// range, for a value the caller set that the chosen model would refuse
    /// or does not take. The coaching defaults are fitted, never refused.
    pub fn check_for(&self, model: &impl OptionSchema) -> Result<(), ApiError> {
        self.check(model, true)
    }

    /// Like [`check_for`](Self::check_for), but an option the model's wire
    /// protocol lacks is left out quietly instead of refused (a frontend
    /// sends the same options to every provider).
    pub fn check_ranges_for(&self, model: &impl OptionSchema) -> Result<(), ApiError> {
        self.check(model, false)
    }

    fn check(&self, model: &impl OptionSchema, refuse_unknown: bool) -> Result<(), ApiError> {
        for key in &self.set_by_caller {
            let Some(value) = self.get(key) else { continue };
            let Some(range) = model.option_range(key) else {
                if !refuse_unknown {
                    continue;
                }
                return Err(ApiError::invalid(
                    format!("options.{key}"),
                    format!("is not taken by {}; leave it out", model.model_id()),
                ));
            };
            let span = match (range.min, range.max) {
                (Some(a), Some(b)) if value < a || value > b => format!("from {} to {}", shown(a), shown(b)),
                (Some(a), None) if value < a => format!("at least {}", shown(a)),
                (None, Some(b)) if value > b => format!("at most {}", shown(b)),
                _ => continue,
            };
            return Err(ApiError::invalid(
                format!("options.{key}"),
                format!("must be {span} for {} (its published range)", model.model_id()),
            ));
        }
        Ok(())
    }

    /// The options as `model`'s input takes them: only those its schema
    /// lists, each fitted into its published range (a fallback model may
    /// have narrower ranges than the model the caller chose).
    pub fn input_for(&self, model: &impl OptionSchema) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in &self.values {
            let Some(range) = model.option_range(key) else {
                continue;
            };
            let mut v = *value;
            if let Some(min) = range.min {
                v = v.max(min);
            }
            if let Some(max) = range.max {
                v = v.min(max);
            }
            let json = if range.integer || KNOWN.iter().any(|(k, whole)| k == key && *whole) {
                Value::from(v.round() as u64)
            } else {
                serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
            };
            out.insert((*key).to_string(), json);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::llm::catalog::catalog;
    use serde_json::json;

    fn parse(v: Value) -> Result<GenerationOptions, ApiError> {
        GenerationOptions::parse(Some(&v))
    }

    fn problem(e: ApiError) -> (String, String) {
        match e {
            ApiError::InvalidRequest { field, problem } => (field, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_door_checks_types_and_the_products_own_bounds() {
        let d = GenerationOptions::parse(None).unwrap();
        assert_eq!(d.max_tokens(), DEFAULT_MAX_TOKENS);
        for bad in [
            json!({"temperature": "hot"}),
            json!({"top_k": 2.5}),
            json!({"seed": -1}),
            json!({"max_tokens": 0}),
            json!({"max_tokens": 1025}),
        ] {
            let key = bad.as_object().unwrap().keys().next().unwrap().clone();
            assert_eq!(problem(parse(bad).unwrap_err()).0, format!("options.{key}"));
        }
        assert_eq!(
            problem(GenerationOptions::parse(Some(&json!([1]))).unwrap_err()).0,
            "options"
        );
    }

    #[test]
    fn a_value_outside_the_models_published_range_names_option_model_and_range() {
        let hf = catalog().get("@hf/mistral/mistral-7b-instruct-v0.2").unwrap();
        let (field, text) = problem(parse(json!({"top_k": 51})).unwrap().check_for(hf).unwrap_err());
        assert_eq!(field, "options.top_k");
        assert!(text.contains("from 1 to 50") && text.contains(&*hf.id), "{text}");
        let (_, text) = problem(parse(json!({"top_p": 0.0})).unwrap().check_for(hf).unwrap_err());
        assert!(text.contains("from 0.001 to 1"), "{text}");
        assert!(parse(json!({"top_k": 50, "top_p": 0.001}))
            .unwrap()
            .check_for(hf)
            .is_ok());
        // Defaults are never refused, only fitted.
        assert!(GenerationOptions::default().check_for(hf).is_ok());
    }

    #[test]
    fn an_option_the_model_does_not_take_is_named() {
        let glm = catalog().get("@cf/zai-org/glm-4.7-flash").unwrap();
        assert!(glm.option_range("top_k").is_none());
        let (field, text) = problem(parse(json!({"top_k": 5})).unwrap().check_for(glm).unwrap_err());
        assert_eq!(field, "options.top_k");
        assert!(text.contains("not taken by @cf/zai-org/glm-4.7-flash"), "{text}");
    }

    #[test]
    fn each_model_is_sent_only_what_it_takes_within_its_ranges() {
        let o = parse(json!({"top_k": 80, "top_p": 0.0, "seed": 42, "repetition_penalty": 1.1})).unwrap();
        let hf = catalog().get("@hf/mistral/mistral-7b-instruct-v0.2").unwrap();
        let sent = o.input_for(hf);
        assert_eq!(sent["top_k"], json!(50));
        assert_eq!(sent["top_p"], json!(0.001));
        assert_eq!(sent["seed"], json!(42));
        let glm = catalog().get("@cf/zai-org/glm-4.7-flash").unwrap();
        let sent = o.input_for(glm);
        assert!(sent.get("top_k").is_none() && sent.get("repetition_penalty").is_none());
        assert_eq!(sent["max_tokens"], json!(DEFAULT_MAX_TOKENS));
    }
}
