//! Optional moderation of a model's suggestion with Llama Guard 3 before it
//! reaches the earpiece (`MODERATION=on`): the guard is one more
//! [`ModelBackend::run`] call, so no edge code is needed.
//!
//! Platform facts, from Cloudflare's model page for `@cf/meta/llama-guard-3-8b`
//! (transcribed in `data/workers-ai-models/`; source and date in data/SOURCES.md):
//! the input is `{messages, max_tokens?, temperature?, response_format?}`, with
//! `response_format: {type: "json_object"}` for a parsed answer; the output is
//! `{response: {safe: bool, categories: ["S1".."S14"]}}`, or a string when no
//! JSON was asked for. The fourteen hazard categories (`S1` violent crimes to
//! `S14` code interpreter abuse) are Meta's, listed in docs/configuration.md.

use crate::core::answer::judge::Quality;
use crate::core::answer::parse::{Action, Suggestion};
use crate::core::llm::failure::{FailureKind, ModelFailure};
use crate::core::llm::ModelBackend;
use serde_json::{json, Value};

/// The moderation model.
pub const GUARD_MODEL: &str = "@cf/meta/llama-guard-3-8b";

/// `S4`, child sexual exploitation: blocked whatever the configuration says.
const ALWAYS_BLOCKED: u8 = 4;

/// The hazard categories that stop a suggestion (a bit per `S1`..`S14`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked(u16);

impl Blocked {
    /// Every category.
    pub fn all() -> Blocked {
        Blocked((1 << 14) - 1)
    }

    /// `MODERATION_BLOCKED`: `all`, or comma-separated codes such as
    /// `S1,S2,S10`; `S4` is always added. An unknown code is an error naming it.
    pub fn parse(value: &str) -> Result<Blocked, String> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("all") {
            return Ok(Blocked::all());
        }
        let mut bits = 1u16 << (ALWAYS_BLOCKED - 1);
        for code in crate::core::text::comma_list(value) {
            let n = code_number(code).ok_or_else(|| {
                format!("entry \"{code}\" must be a hazard code S1 to S14 (or the whole value \"all\")")
            })?;
            bits |= 1 << (n - 1);
        }
        Ok(Blocked(bits))
    }

    pub fn blocks(&self, code: u8) -> bool {
        (1..=14).contains(&code) && self.0 & (1 << (code - 1)) != 0
    }

    /// The blocked codes, for the log.
    pub fn codes(&self) -> Vec<String> {
        (1..=14)
            .filter(|n| self.blocks(*n))
            .map(|n| format!("S{n}"))
            .collect()
    }
}

fn code_number(code: &str) -> Option<u8> {
    let n: u8 = code.trim().strip_prefix(['S', 's'])?.parse().ok()?;
    (1..=14).contains(&n).then_some(n)
}

/// The guard's input: the suggestion as the assistant's turn of a short
/// exchange (response classification), with a parsed JSON answer asked for.
/// Room text is not sent: the guard judges what would be spoken.
pub fn guard_input(suggestion: &str) -> Value {
    json!({
        "messages": [
            {"role": "user", "content": "Suggest one line a live broadcaster can say to their audience right now."},
            {"role": "assistant", "content": suggestion}
        ],
        "response_format": {"type": "json_object"},
        "max_tokens": 32,
        "temperature": 0
    })
}

/// Whether the guard's `response` lets the suggestion through: safe, or
/// unsafe only in categories `blocked` allows. `None` when the response is
/// unreadable (the caller then does not speak the suggestion). An unsafe
/// verdict without a category counts as blocked.
pub fn allows(response: &Value, blocked: &Blocked) -> Option<bool> {
    let (safe, categories): (bool, Vec<Option<u8>>) = match response {
        Value::Object(o) => (
            o.get("safe")?.as_bool()?,
            o.get("categories")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|c| c.as_str().and_then(code_number)).collect())
                .unwrap_or_default(),
        ),
        // Without JSON mode the model writes `safe`, or `unsafe` and a line of codes.
        Value::String(s) => {
            let mut lines = s.split_whitespace();
            let safe = match lines.next()?.to_ascii_lowercase().as_str() {
                "safe" => true,
                "unsafe" => false,
                _ => return None,
            };
            (safe, lines.flat_map(|l| l.split(',')).map(code_number).collect())
        }
        _ => return None,
    };
    if safe {
        return Some(true);
    }
    if categories.is_empty() {
        return Some(false);
    }
    Some(!categories.iter().any(|c| c.is_none_or(|n| blocked.blocks(n))))
}

/// Asks the guard model whether `suggestion` may be spoken; `blocked` is
/// `None` when `MODERATION` is off. A blocked hazard, an unreadable verdict
/// or a failed guard call keeps it unspoken (fail closed): the next model or
/// the rules coach, whose lines are fixed, answers instead. The coaching loop
/// calls this after the checks pass, the same way for a streamed answer.
pub async fn check<B: ModelBackend>(
    backend: &B,
    blocked: Option<&Blocked>,
    suggestion: &Suggestion,
    timeout_ms: u64,
) -> Result<(), ModelFailure> {
    let Some(blocked) = blocked else {
        return Ok(());
    };
    if suggestion.action() == Action::Wait {
        return Ok(());
    }
    let reply = backend
        .run(GUARD_MODEL, &guard_input(suggestion.content()), timeout_ms)
        .await
        .map_err(|f| ModelFailure {
            kind: FailureKind::Permanent,
            label: "moderation call failed",
            ..f
        })?;
    match allows(&reply.response, blocked) {
        Some(true) => Ok(()),
        Some(false) => Err(Quality::Unsafe.into()),
        None => Err(ModelFailure {
            code: None,
            kind: FailureKind::Permanent,
            label: "moderation verdict unreadable",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_categories_are_configurable_but_s4_always_blocks() {
        let adult = Blocked::parse("S1,S2,S3,S5,S6,S7,S8,S9,S10,S11,S13,S14").unwrap();
        assert!(!adult.blocks(12));
        assert!(adult.blocks(4), "child sexual exploitation is always blocked");
        assert!(Blocked::parse("S1").unwrap().blocks(4));
        assert_eq!(Blocked::parse("all").unwrap(), Blocked::all());
        assert_eq!(Blocked::parse("").unwrap(), Blocked::all());
        assert!(Blocked::parse("S15").unwrap_err().contains("S15"));
        assert!(Blocked::parse("violence").is_err());
        assert_eq!(Blocked::parse("s10").unwrap().codes(), ["S4", "S10"]);
    }

    #[test]
    fn verdicts_in_both_shapes() {
        let all = Blocked::all();
        let adult = Blocked::parse("S1,S2,S3,S10").unwrap();
        assert_eq!(allows(&json!({"safe": true, "categories": []}), &all), Some(true));
        assert_eq!(
            allows(&json!({"safe": false, "categories": ["S1"]}), &all),
            Some(false)
        );
        assert_eq!(
            allows(&json!({"safe": false, "categories": ["S12"]}), &adult),
            Some(true)
        );
        assert_eq!(
            allows(&json!({"safe": false, "categories": ["S4"]}), &adult),
            Some(false)
        );
        assert_eq!(
            allows(&json!({"safe": false, "categories": ["S12", "S99"]}), &adult),
            Some(false)
        );
        assert_eq!(allows(&json!({"safe": false}), &adult), Some(false));
        assert_eq!(allows(&json!("safe"), &all), Some(true));
        assert_eq!(allows(&json!("unsafe\nS12"), &adult), Some(true));
        assert_eq!(allows(&json!("unsafe\nS10"), &adult), Some(false));
        assert_eq!(allows(&json!("maybe"), &all), None);
        assert_eq!(allows(&json!({"categories": []}), &all), None);
        assert_eq!(allows(&json!(null), &all), None);
    }

    #[test]
    fn the_input_keeps_the_published_schema() {
        let input = guard_input("Thanks Max!");
        assert_eq!(input["response_format"], json!({"type": "json_object"}));
        assert_eq!(
            input["messages"][1],
            json!({"role": "assistant", "content": "Thanks Max!"})
        );
        let keys: Vec<&String> = input.as_object().unwrap().keys().collect();
        for k in keys {
            assert!(
                ["messages", "response_format", "max_tokens", "temperature"].contains(&k.as_str()),
                "{k}"
            );
        }
    }
}
