//! The Worker's configuration, read from vars and secrets into one typed
//! struct (once per isolate and UTC day, by the edge). A bad value is
//! reported by name (to the operator's log), never guessed around.

use crate::core::access::auth::TokenDigest;
use crate::core::access::session::SessionSecret;
use crate::core::answer::moderation::Blocked;
use crate::core::answer::parse::HARD_MAX_WORDS;
use crate::core::llm::providers::Endpoints;
use crate::core::llm::registry::{ModelSettings, Registry};
use crate::core::prompt::MAX_SUGGESTION_WORDS;
use crate::core::text::comma_list;
use crate::core::time::EpochMillis;
/// The client must have its answer within 15 s; the deadline leaves room for
/// the rules coach and the network.
pub const MAX_DEADLINE_MS: u64 = 14_000;

/// Default of `MODEL_MIN_CALL_MS`: what a suggestion (one short JSON object,
/// well under 200 tokens) from the default 8B "-fast" model plausibly needs,
/// queueing included. A judgment, not a measurement: the request log's
/// `ms` per model call is how an operator tunes it.
pub const DEFAULT_MODEL_MIN_CALL_MS: u64 = 1_500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    Any,
    List(Vec<String>),
}

impl Origins {
    /// The value for `Access-Control-Allow-Origin`, if `origin` may call.
    pub fn allow(&self, origin: &str) -> Option<String> {
        match self {
            Origins::Any => Some("*".to_string()),
            Origins::List(list) => list.iter().find(|o| o.as_str() == origin).cloned(),
        }
    }
}

/// What happens to a request when KV (tokens, rate limits) cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvFailurePolicy {
    /// Serve the request without the check (availability first).
    Open,
    /// Refuse with 503 (budget first).
    Closed,
}

/// `SESSION_KEYS`: whether `POST /api/get-session-key` issues keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKeys {
    /// Only bearer tokens are accepted.
    Off,
    /// Anyone may ask (limited per network by `SESSION_KEY_LIMITER`); the
    /// secret is `None` when `SESSION_SECRET` is unset, and then no key is
    /// issued or accepted (a problem `/healthz` reports).
    Open(Option<SessionSecret>),
}

impl SessionKeys {
    fn parse(policy: Option<String>, secret: Option<String>) -> Result<SessionKeys, String> {
        let secret = match secret.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(SessionSecret::parse(s)?),
        };
        match policy.as_deref().map(str::trim) {
            None | Some("") | Some("off") => Ok(SessionKeys::Off),
            Some("open") => Ok(SessionKeys::Open(secret)),
            Some(other) => Err(format!("SESSION_KEYS must be open or off, not \"{other}\"")),
        }
    }

    /// The secret that signs and checks keys, when keys are on and it is set.
    pub fn secret(&self) -> Option<&SessionSecret> {
        match self {
            SessionKeys::Open(secret) => secret.as_ref(),
            SessionKeys::Off => None,
        }
    }
}

/// Who writes the suggestions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Workers AI through the `AI` binding (the rules coach if it is absent).
    WorkersAi,
    /// Only the rules coach; local development, where the binding cannot run.
    Rules,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub backend: Backend,
    /// The OpenAI-compatible providers this deployment can call.
    pub endpoints: Endpoints,
    /// The models, checked against the catalog; unusable entries are in
    /// `registry.problems()`, not errors, so one typo cannot stop the service.
    pub registry: Registry,
    /// Answer from the rules coach when every model fails (else 503).
    pub rules_fallback: bool,
    pub model_timeout_ms: u64,
    /// No model call starts with less time than this left before the
    /// deadline: it could not plausibly answer, and would only delay the
    /// rules fallback.
    pub model_min_call_ms: u64,
    pub deadline_ms: u64,
    pub max_retries: u32,
    /// `API_TOKENS`, kept only as digests.
    pub api_tokens: Vec<TokenDigest>,
    /// Guards the `/admin/tokens` routes; unset disables them.
    pub admin_token: Option<TokenDigest>,
    /// Counted in KV unless the `CALLER_MINUTE_LIMITER` binding counts it.
    pub rate_per_minute: u32,
    /// `None` (`RATE_LIMIT_PER_DAY = "off"`): no daily quota by default.
    pub rate_per_day: Option<u32>,
    pub origins: Origins,
    pub kv_failure: KvFailurePolicy,
    /// Words a suggestion may have (`MAX_WORDS`, 5 to 40, default 15).
    pub max_words: usize,
    /// The hazard categories Llama Guard must not find in a suggestion;
    /// `None` when `MODERATION` is off.
    pub moderation: Option<Blocked>,
    pub session_keys: SessionKeys,
}

fn number<T: std::str::FromStr>(
    get: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    ok: impl Fn(&T) -> bool,
    range: &str,
) -> Result<T, String> {
    match get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<T>() {
            Ok(n) if ok(&n) => Ok(n),
            _ => Err(format!("{name} must be a whole number {range}, not \"{v}\"")),
        },
    }
}

fn list(value: Option<String>) -> Vec<String> {
    comma_list(&value.unwrap_or_default())
        .map(str::to_string)
        .collect()
}

impl Config {
    /// `get` returns a var or secret by name (`None` when unset); `now`
    /// decides which catalogued models are retired.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>, now: EpochMillis) -> Result<Config, String> {
        let backend = match get("COACH_BACKEND").as_deref().map(str::trim) {
            None | Some("") | Some("ai") => Backend::WorkersAi,
            Some("rules") => Backend::Rules,
            Some(other) => return Err(format!("COACH_BACKEND must be ai or rules, not \"{other}\"")),
        };
        let endpoints = Endpoints::from_lookup(get);
        let registry = Registry::new(
            &ModelSettings {
                default_model: get("DEFAULT_MODEL"),
                allowed: get("ALLOWED_MODELS"),
                fallbacks: get("FALLBACK_MODELS"),
                successors: get("MODEL_SUCCESSORS"),
            },
            &endpoints,
            now,
        );
        let rules_fallback = match get("RULES_FALLBACK").as_deref().map(str::trim) {
            None | Some("") | Some("true") | Some("on") | Some("1") => true,
            Some("false") | Some("off") | Some("0") => false,
            Some(other) => return Err(format!("RULES_FALLBACK must be true or false, not \"{other}\"")),
        };
        let deadline_ms = number(
            get,
            "REQUEST_DEADLINE_MS",
            12_000u64,
            |n| (1_000..=MAX_DEADLINE_MS).contains(n),
            "from 1000 to 14000",
        )?;
        let model_timeout_ms = number(
            get,
            "MODEL_TIMEOUT_MS",
            6_000u64,
            |n| (100..=MAX_DEADLINE_MS).contains(n),
            "from 100 to 14000",
        )?;
        let model_min_call_ms = number(
            get,
            "MODEL_MIN_CALL_MS",
            DEFAULT_MODEL_MIN_CALL_MS.min(model_timeout_ms),
            |n| (100..=model_timeout_ms).contains(n),
            "from 100 to MODEL_TIMEOUT_MS",
        )?;
        let max_retries = number(get, "MODEL_RETRIES", 2u32, |n| *n <= 5, "from 0 to 5")?;
        let rate_per_minute = number(get, "RATE_LIMIT_PER_MINUTE", 30u32, |n| *n >= 1, "of at least 1")?;
        let rate_per_day = match get("RATE_LIMIT_PER_DAY").as_deref().map(str::trim) {
            Some("off") => None,
            _ => Some(number(
                get,
                "RATE_LIMIT_PER_DAY",
                5_000u32,
                |n| *n >= 1,
                "of at least 1 (or off)",
            )?),
        };
        let origins = match get("ALLOWED_ORIGINS").map(|s| s.trim().to_string()) {
            Some(s) if s == "*" => Origins::Any,
            other => {
                let origins = list(other);
                if let Some(bad) = origins.iter().find(|o| {
                    !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/') || *o == "*"
                }) {
                    return Err(format!(
                        "ALLOWED_ORIGINS entry \"{bad}\" must be an exact origin such as https://coach.example.com (or the whole value \"*\")"
                    ));
                }
                Origins::List(origins)
            }
        };
        let kv_failure = match get("KV_FAILURE_MODE").as_deref().map(str::trim) {
            None | Some("") | Some("closed") => KvFailurePolicy::Closed,
            Some("open") => KvFailurePolicy::Open,
            Some(other) => return Err(format!("KV_FAILURE_MODE must be open or closed, not \"{other}\"")),
        };
        let max_words = number(
            get,
            "MAX_WORDS",
            MAX_SUGGESTION_WORDS,
            |n| (5..=HARD_MAX_WORDS).contains(n),
            "from 5 to 40",
        )?;
        let moderation = match get("MODERATION").as_deref().map(str::trim) {
            None | Some("") | Some("off") | Some("false") => None,
            Some("on") | Some("true") => {
                Some(Blocked::parse(&get("MODERATION_BLOCKED").unwrap_or_default())?)
            }
            Some(other) => return Err(format!("MODERATION must be on or off, not \"{other}\"")),
        };
        let session_keys = SessionKeys::parse(get("SESSION_KEYS"), get("SESSION_SECRET"))?;
        Ok(Config {
            session_keys,
            backend,
            endpoints,
            registry,
            rules_fallback,
            model_timeout_ms,
            model_min_call_ms,
            deadline_ms,
            max_retries,
            api_tokens: list(get("API_TOKENS"))
                .iter()
                .map(|t| TokenDigest::of(t))
                .collect(),
            admin_token: get("ADMIN_TOKEN")
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .map(|t| TokenDigest::of(&t)),
            rate_per_minute,
            rate_per_day,
            origins,
            kv_failure,
            max_words,
            moderation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&|name| map.get(name).cloned(), 1_795_000_000_000)
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.registry.default_model().unwrap().id(),
            crate::core::llm::registry::BUILT_IN_DEFAULT
        );
        assert!(c.rules_fallback);
        assert_eq!(c.backend, Backend::WorkersAi);
        assert_eq!(c.kv_failure, KvFailurePolicy::Closed);
        assert_eq!(c.origins, Origins::List(vec![]));
        assert!(c.deadline_ms <= MAX_DEADLINE_MS);
        assert!(c.api_tokens.is_empty());
        assert_eq!(c.model_min_call_ms, DEFAULT_MODEL_MIN_CALL_MS);
        assert_eq!(c.max_words, 15);
        assert_eq!(c.moderation, None);
        assert_eq!(c.session_keys, SessionKeys::Off);
    }

    #[test]
    fn session_keys() {
        let secret = "a-session-secret-of-32-characters-or-more";
        let open = config(&[("SESSION_KEYS", "open"), ("SESSION_SECRET", secret)]).unwrap();
        assert!(open.session_keys.secret().is_some());
        let unsigned = config(&[("SESSION_KEYS", "open")]).unwrap();
        assert_eq!(unsigned.session_keys, SessionKeys::Open(None));
        let off = config(&[("SESSION_KEYS", "off"), ("SESSION_SECRET", secret)]).unwrap();
        assert_eq!(off.session_keys.secret(), None);
    }

    #[test]
    fn the_minimum_call_time_fits_the_model_timeout() {
        let c = config(&[("MODEL_TIMEOUT_MS", "1000")]).unwrap();
        assert_eq!(c.model_min_call_ms, 1000, "the default never exceeds the timeout");
        let c = config(&[("MODEL_MIN_CALL_MS", "2500")]).unwrap();
        assert_eq!(c.model_min_call_ms, 2500);
        let err = config(&[("MODEL_TIMEOUT_MS", "1000"), ("MODEL_MIN_CALL_MS", "2000")]).unwrap_err();
        assert!(err.contains("MODEL_MIN_CALL_MS"), "{err}");
    }

    #[test]
    fn words_and_moderation() {
        let c = config(&[
            ("MAX_WORDS", "12"),
            ("MODERATION", "on"),
            ("MODERATION_BLOCKED", "S1,S10"),
        ])
        .unwrap();
        assert_eq!(c.max_words, 12);
        assert_eq!(c.moderation.unwrap().codes(), ["S1", "S4", "S10"]);
        assert_eq!(
            config(&[("MODERATION", "on")]).unwrap().moderation,
            Some(Blocked::all())
        );
    }

    #[test]
    fn values_are_parsed() {
        let c = config(&[
            ("API_TOKENS", " a , b ,,"),
            ("RATE_LIMIT_PER_MINUTE", "3"),
            (
                "ALLOWED_ORIGINS",
                "https://coach.example.com, http://localhost:5173",
            ),
            ("KV_FAILURE_MODE", "open"),
            ("FALLBACK_MODELS", "@cf/meta/llama-3.3-70b-instruct-fp8-fast"),
            ("RULES_FALLBACK", "false"),
        ])
        .unwrap();
        assert_eq!(c.api_tokens, [TokenDigest::of("a"), TokenDigest::of("b")]);
        assert_eq!(c.rate_per_minute, 3);
        assert_eq!(c.rate_per_day, Some(5_000));
        assert_eq!(
            config(&[("RATE_LIMIT_PER_DAY", " off ")]).unwrap().rate_per_day,
            None
        );
        assert_eq!(
            c.origins.allow("http://localhost:5173").as_deref(),
            Some("http://localhost:5173")
        );
        assert_eq!(c.origins.allow("https://evil.example"), None);
        assert_eq!(c.kv_failure, KvFailurePolicy::Open);
        assert!(!c.rules_fallback);
        assert_eq!(
            config(&[("ALLOWED_ORIGINS", "*")])
                .unwrap()
                .origins
                .allow("https://x.y")
                .as_deref(),
            Some("*")
        );
    }

    #[test]
    fn unusable_models_are_problems_not_errors() {
        let c = config(&[("DEFAULT_MODEL", "gpt-4"), ("FALLBACK_MODELS", "gpt-4")]).unwrap();
        assert_eq!(c.registry.problems().len(), 2);
    }

    #[test]
    fn bad_values_are_named() {
        for (name, value) in [
            ("RATE_LIMIT_PER_MINUTE", "lots"),
            ("RATE_LIMIT_PER_DAY", "0"),
            ("REQUEST_DEADLINE_MS", "60000"),
            ("ALLOWED_ORIGINS", "coach.example.com"),
            ("ALLOWED_ORIGINS", "https://a.example/"),
            ("KV_FAILURE_MODE", "maybe"),
            ("RULES_FALLBACK", "perhaps"),
            ("COACH_BACKEND", "gpt"),
            ("MAX_WORDS", "100"),
            ("MAX_WORDS", "2"),
            ("MODERATION", "maybe"),
            ("SESSION_KEYS", "closed"),
            ("SESSION_SECRET", "short"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
        let err = config(&[("MODERATION", "on"), ("MODERATION_BLOCKED", "S99")]).unwrap_err();
        assert!(err.contains("MODERATION_BLOCKED"), "{err}");
    }
}
