//! The Worker's configuration, read from vars and secrets into one typed
//! struct (once per isolate and UTC day, by the edge). Each setting has its
//! own parser; a bad value is a [`ConfigError`] naming the variable (for the
//! operator's log), never guessed around. A secret that cannot be trusted is
//! kept out instead of failing the whole configuration, so it stops only
//! what depends on it: an unset or unusable `SESSION_SECRET` (or another
//! session key setting) stops session keys ([`SessionKeys::problem`]); an
//! unusable `ADMIN_TOKEN` the admin routes and the detailed `/healthz`; an
//! unusable `API_TOKENS` entry that token ([`Config::refused`]). Unusable
//! means shipped with this project as an example, or short
//! ([`crate::core::access::strength`]). What the coach loop needs is its
//! own [`CoachPolicy`], so the loop never sees tokens, CORS or KV settings.

use crate::core::access::auth::{StaticTokens, TokenDigest};
use crate::core::access::cors::Origins;
use crate::core::access::session::life::{DEFAULT_MAX_LIFE_HOURS, MAX_LIFE_HOURS};
use crate::core::access::session::{KeyLife, Keyring, Previous, SessionSecret};
use crate::core::access::strength::{self, Mode, Weakness, MIN_TOKEN_CHARS};
use crate::core::access::usage::{PriceBook, FREE_NEURONS_PER_DAY};
use crate::core::answer::moderation::Blocked;
use crate::core::answer::parse::HARD_MAX_WORDS;
use crate::core::coach::pacing::PaceSettings;
use crate::core::coach::CoachPolicy;
use crate::core::llm::providers::{Endpoints, Refused};
use crate::core::llm::registry::{ModelSettings, Registry};
use crate::core::prompt::MAX_SUGGESTION_WORDS;
use crate::core::request::MAX_PACE_GAP_SECONDS;
use crate::core::text::comma_list;
use crate::core::time::{parse_rfc3339, EpochMillis};
use std::fmt;
use std::ops::RangeInclusive;

/// The client must have its answer within 15 s; the deadline leaves room for
/// the rules coach and the network.
pub const MAX_DEADLINE_MS: u64 = 14_000;

/// Default of `MODEL_MIN_CALL_MS`: what a suggestion (one short JSON object,
/// well under 200 tokens) from the default 8B "-fast" model plausibly needs,
/// queueing included. A judgment, not a measurement: the request log's
/// `ms` per model call is how an operator tunes it.
pub const DEFAULT_MODEL_MIN_CALL_MS: u64 = 1_500;

/// A setting that cannot be used: which variable, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.var, self.problem)
    }
}

/// A provider setting refused when read (a remote `http://` base URL):
/// the same kind of error as any other bad value.
impl From<Refused> for ConfigError {
    fn from(r: Refused) -> ConfigError {
        ConfigError {
            var: r.var,
            problem: r.problem,
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

impl KvFailurePolicy {
    fn parse(value: Option<&str>) -> Result<KvFailurePolicy, String> {
        match value {
            None | Some("closed") => Ok(KvFailurePolicy::Closed),
            Some("open") => Ok(KvFailurePolicy::Open),
            Some(other) => Err(format!("must be open or closed, not \"{other}\"")),
        }
    }
}

/// `SESSION_KEYS`: whether `POST /api/get-session-key` issues keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKeys {
    /// Only bearer tokens are accepted; `SESSION_SECRET` is not read.
    Off,
    /// Anyone may ask (limited per network by `SESSION_KEY_LIMITER`). When
    /// `SESSION_SECRET` (or `SESSION_KEY_MAX_LIFE_HOURS`) is unset or
    /// unusable, the problem is kept here instead of failing the whole
    /// configuration: no key is issued or accepted, while tokens, the admin
    /// routes and the page keep working (and `/healthz` names the problem).
    Open(Result<Box<Keyring>, ConfigError>),
}

impl SessionKeys {
    fn parse(policy: Option<&str>) -> Result<bool, String> {
        match policy {
            None | Some("off") => Ok(false),
            Some("open") => Ok(true),
            Some(other) => Err(format!("must be open or off, not \"{other}\"")),
        }
    }

    /// What signs and checks keys, when keys are on and it is usable.
    pub fn keyring(&self) -> Option<&Keyring> {
        match self {
            SessionKeys::Open(ring) => ring.as_deref().ok(),
            SessionKeys::Off => None,
        }
    }

    /// Why keys are open but neither issued nor accepted: `SESSION_SECRET`
    /// (or the keys' life) is unset or unusable.
    pub fn problem(&self) -> Option<&ConfigError> {
        match self {
            SessionKeys::Open(ring) => ring.as_ref().err(),
            SessionKeys::Off => None,
        }
    }

    /// `SESSION_KEYS`, and when open the keyring. A previous secret that
    /// cannot be used is left out and added to `refused`: the current one
    /// still serves, and only the keys the previous one signed are refused.
    fn read(vars: &Vars, mode: Mode, refused: &mut Vec<ConfigError>) -> Result<SessionKeys, ConfigError> {
        if !vars.parsed("SESSION_KEYS", SessionKeys::parse)? {
            return Ok(SessionKeys::Off);
        }
        let ring = vars
            .parsed("SESSION_SECRET", |v| match v {
                Some(secret) => SessionSecret::parse(secret, mode).map_err(Weakness::problem),
                None => Err("is unset".to_string()),
            })
            .and_then(|current| {
                let hours = vars.number_in(
                    "SESSION_KEY_MAX_LIFE_HOURS",
                    DEFAULT_MAX_LIFE_HOURS,
                    MAX_LIFE_HOURS,
                )?;
                Ok(Box::new(Keyring::new(
                    current,
                    KeyLife::hours(hours).unwrap_or_default(),
                )))
            })
            .map(|ring| match previous(vars, mode) {
                Ok(Some(previous)) => Box::new(ring.with_previous(previous)),
                Ok(None) => ring,
                Err(problem) => {
                    refused.push(problem);
                    ring
                }
            });
        Ok(SessionKeys::Open(ring))
    }
}

/// `SESSION_SECRET_PREVIOUS` and `SESSION_SECRET_PREVIOUS_UNTIL`, both or
/// neither: the secret before a rotation and the end of its overlap.
fn previous(vars: &Vars, mode: Mode) -> Result<Option<Previous>, ConfigError> {
    let refused = |e: ConfigError| ConfigError {
        problem: format!("{}; keys signed under the previous secret are refused", e.problem),
        ..e
    };
    let secret = vars
        .parsed("SESSION_SECRET_PREVIOUS", |v| {
            v.map(|s| SessionSecret::parse(s, mode).map_err(Weakness::problem))
                .transpose()
        })
        .map_err(refused)?;
    let until = vars
        .parsed("SESSION_SECRET_PREVIOUS_UNTIL", |v| {
            v.map(|t| {
                parse_rfc3339(t)
                    .and_then(|ms| u64::try_from(ms / 1000).ok())
                    .ok_or_else(|| {
                        format!("must be an RFC 3339 time such as 2026-12-24T18:00:00Z, not \"{t}\"")
                    })
            })
            .transpose()
        })
        .map_err(refused)?;
    match (secret, until) {
        (None, None) => Ok(None),
        (Some(secret), Some(until_secs)) => Ok(Some(Previous { secret, until_secs })),
        (Some(_), None) => Err(refused(ConfigError {
            var: "SESSION_SECRET_PREVIOUS_UNTIL",
            problem: "is unset: it says until when keys signed under SESSION_SECRET_PREVIOUS are accepted (an RFC 3339 time, 12 hours after the rotation)".to_string(),
        })),
        (None, Some(_)) => Err(ConfigError {
            var: "SESSION_SECRET_PREVIOUS",
            problem: "is unset while SESSION_SECRET_PREVIOUS_UNTIL is set: there is no previous secret to accept".to_string(),
        }),
    }
}

/// `LOCAL_DEV`: `true` only where `./scripts/dev` passes it on wrangler's
/// command line; a deployed Worker never has it (the deploy's preflight
/// refuses it in `wrangler.toml`). It is read from the Worker's vars alone.
fn mode(vars: &Vars) -> Result<Mode, ConfigError> {
    Ok(match vars.switch("LOCAL_DEV", false)? {
        true => Mode::Local,
        false => Mode::Deployed,
    })
}

/// `ADMIN_TOKEN` alone, for `/healthz` when the rest of the configuration
/// cannot be read: the detailed report still needs it.
pub fn admin_token(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<TokenDigest>, Weakness> {
    let vars = Vars { get };
    vars.admin_token(mode(&vars).unwrap_or(Mode::Deployed))
}

/// Where each caller's windows, memory and spend are kept (`RATE_LIMIT_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerStore {
    /// One SQLite-backed Durable Object per caller (`CALLER_STATE`): exact
    /// under any concurrency, no KV write per request, and the memory of what
    /// was said.
    DurableObject,
    /// A KV counter per caller and day, as before Durable Objects: at most one
    /// write per second per key, so concurrent requests undercount; no memory
    /// beyond the request's `recent`.
    Kv,
}

impl CallerStore {
    fn parse(value: Option<&str>) -> Result<CallerStore, String> {
        match value {
            None | Some("do" | "durable-object") => Ok(CallerStore::DurableObject),
            Some("kv") => Ok(CallerStore::Kv),
            Some(other) => Err(format!("must be do or kv, not \"{other}\"")),
        }
    }
}

/// Spending rules: where callers are counted, the daily budgets, and what
/// happens when a state object cannot be reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Spending {
    pub store: CallerStore,
    /// The deployment's daily budget in neurons (`DAILY_NEURON_BUDGET`,
    /// default the free allocation); `None` when `off`.
    pub deployment_budget: Option<f64>,
    /// Each caller's daily allowance in neurons (`CALLER_DAILY_NEURONS`); `None` when unset.
    pub caller_allowance: Option<f64>,
    /// `STATE_FAILURE_MODE`: serve uncounted (`open`) or refuse (`closed`).
    pub failure: KvFailurePolicy,
    /// Every model's price (`MODEL_PRICES`, `ASSUMED_MODEL_PRICE`).
    pub prices: PriceBook,
    /// The most `max_tokens` a session key's request may ask for
    /// (`SESSION_MAX_TOKENS`): anonymous callers are capped.
    pub session_max_tokens: u32,
    /// The models a session key's request may name (`SESSION_MODELS`);
    /// empty: only the default. Any other is served by the default.
    pub session_models: Vec<String>,
    /// How soon a caller's object reports its spend and usage to the
    /// deployment's after a request (`USAGE_REPORT_SECONDS`): how stale
    /// `GET /admin/usage` can be.
    pub report_after_ms: u64,
}

/// `SESSION_MAX_TOKENS` by default: room for a 15-word line and its JSON.
pub const DEFAULT_SESSION_MAX_TOKENS: u32 = 96;

/// A number of neurons, or `off`.
fn neurons(value: Option<&str>, default: Option<f64>) -> Result<Option<f64>, String> {
    match value {
        None => Ok(default),
        Some("off") => Ok(None),
        Some(v) => match crate::core::text::decimal(v) {
            Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
            _ => Err(format!(
                "must be a number of neurons (0 or more) or off, not \"{v}\""
            )),
        },
    }
}

impl Spending {
    fn read(vars: &Vars) -> Result<Spending, ConfigError> {
        Ok(Spending {
            store: vars.parsed("RATE_LIMIT_STORE", CallerStore::parse)?,
            deployment_budget: vars
                .parsed("DAILY_NEURON_BUDGET", |v| neurons(v, Some(FREE_NEURONS_PER_DAY)))?,
            caller_allowance: vars.parsed("CALLER_DAILY_NEURONS", |v| neurons(v, None))?,
            failure: vars.parsed("STATE_FAILURE_MODE", KvFailurePolicy::parse)?,
            prices: PriceBook::parse(
                vars.get("MODEL_PRICES").as_deref(),
                vars.get("ASSUMED_MODEL_PRICE").as_deref(),
            )
            .map_err(|problem| ConfigError {
                var: "MODEL_PRICES or ASSUMED_MODEL_PRICE",
                problem,
            })?,
            session_max_tokens: vars.number_in(
                "SESSION_MAX_TOKENS",
                DEFAULT_SESSION_MAX_TOKENS,
                1..=crate::core::request::options::MAX_MAX_TOKENS,
            )?,
            report_after_ms: 1_000
                * vars.number_in(
                    "USAGE_REPORT_SECONDS",
                    crate::core::access::lease::REPORT_AFTER_MS / 1_000,
                    1..=3_600,
                )?,
            session_models: vars
                .get("SESSION_MODELS")
                .map(|v| comma_list(&v).map(str::to_string).collect())
                .unwrap_or_default(),
        })
    }
}

/// Who may write the suggestions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Workers AI through the `AI` binding, and any configured provider.
    WorkersAi,
    /// No Workers AI: local development, where the binding cannot run. The
    /// configured OpenAI-compatible providers still answer; with none, the
    /// rules coach does.
    Rules,
}

impl Backend {
    fn parse(value: Option<&str>) -> Result<Backend, String> {
        match value {
            None | Some("ai") => Ok(Backend::WorkersAi),
            Some("rules") => Ok(Backend::Rules),
            Some(other) => Err(format!("must be ai or rules, not \"{other}\"")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub backend: Backend,
    /// The OpenAI-compatible providers this deployment can call.
    pub endpoints: Endpoints,
    /// The models, checked against the catalog; unusable entries are in
    /// `registry.problems()`, not errors, so one typo cannot stop the service.
    pub registry: Registry,
    /// What the coach loop may spend and must respect.
    pub coach: CoachPolicy,
    /// The usable `API_TOKENS`, kept only as digests.
    pub api_tokens: StaticTokens,
    /// Guards the admin routes and the detailed `/healthz`; unset or
    /// refused (`Err`), they are off.
    pub admin_token: Result<Option<TokenDigest>, Weakness>,
    /// Secrets left out while the rest serves: `API_TOKENS` entries, a
    /// previous session secret.
    pub refused: Vec<ConfigError>,
    /// `LOCAL_DEV`: whether the shipped example secrets are accepted.
    pub mode: Mode,
    /// Counted in the caller's state object; with `RATE_LIMIT_STORE = "kv"`,
    /// in KV unless the `CALLER_MINUTE_LIMITER` binding counts it.
    pub rate_per_minute: u32,
    /// `None` (`RATE_LIMIT_PER_DAY = "off"`): no daily quota by default.
    pub rate_per_day: Option<u32>,
    pub origins: Origins,
    pub kv_failure: KvFailurePolicy,
    pub session_keys: SessionKeys,
    pub spending: Spending,
    /// `AI_GATEWAY_ID`: Workers AI calls go through this AI Gateway.
    pub ai_gateway: Option<String>,
    /// `PACE_GAP_SECONDS`, `PACE_WORDS_PER_MINUTE`: how paced requests are paced.
    pub pace: PaceSettings,
}

/// The gap after a line before an ordinary one, in seconds: measured with the
/// coach frontend over a busy and a quiet room (docs/suggestions.md, "Pacing").
pub const DEFAULT_PACE_GAP_SECONDS: u64 = 20;
/// The most the earpiece carries on average, in words a minute.
pub const DEFAULT_PACE_WORDS_PER_MINUTE: u64 = 40;

/// The variables, as the edge reads them; each reader names the variable
/// in its error.
struct Vars<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Vars<'_> {
    /// The trimmed value, `None` when unset or blank.
    fn get(&self, var: &str) -> Option<String> {
        (self.get)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// `parse` applied to the value, its error placed under `var`.
    fn parsed<T>(
        &self,
        var: &'static str,
        parse: impl Fn(Option<&str>) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        parse(self.get(var).as_deref()).map_err(|problem| ConfigError { var, problem })
    }

    /// A whole number in `range`, `default` when unset; the error states the range.
    fn number_in<T>(&self, var: &'static str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError {
                var,
                problem: format!(
                    "must be a whole number from {} to {}, not \"{v}\"",
                    range.start(),
                    range.end()
                ),
            }),
        }
    }

    /// `true`/`on`/`1` or `false`/`off`/`0`, `default` when unset.
    fn switch(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parsed(var, |v| match v {
            None => Ok(default),
            Some("true" | "on" | "1") => Ok(true),
            Some("false" | "off" | "0") => Ok(false),
            Some(other) => Err(format!("must be true or false, not \"{other}\"")),
        })
    }

    /// `API_TOKENS`: the usable tokens, and a problem for each refused
    /// entry, which names its place and never its value.
    fn tokens(&self, var: &'static str, mode: Mode, refused: &mut Vec<ConfigError>) -> StaticTokens {
        let value = self.get(var).unwrap_or_default();
        let entries: Vec<&str> = comma_list(&value).collect();
        let mut usable = StaticTokens::default();
        for (i, token) in entries.iter().enumerate() {
            match strength::check(token, MIN_TOKEN_CHARS, mode) {
                Ok(()) => usable.push(i + 1, token),
                Err(weakness) => refused.push(ConfigError {
                    var,
                    problem: format!(
                        "entry {} of {} {}; that token is refused",
                        i + 1,
                        entries.len(),
                        weakness.problem()
                    ),
                }),
            }
        }
        usable
    }

    fn admin_token(&self, mode: Mode) -> Result<Option<TokenDigest>, Weakness> {
        match self.get("ADMIN_TOKEN") {
            None => Ok(None),
            Some(token) => {
                strength::check(&token, MIN_TOKEN_CHARS, mode).map(|()| Some(TokenDigest::of(&token)))
            }
        }
    }
}

impl CoachPolicy {
    fn read(vars: &Vars) -> Result<CoachPolicy, ConfigError> {
        let model_timeout_ms = vars.number_in("MODEL_TIMEOUT_MS", 6_000u64, 100..=MAX_DEADLINE_MS)?;
        let moderation = match vars.switch("MODERATION", false)? {
            false => None,
            true => Some(vars.parsed("MODERATION_BLOCKED", |v| Blocked::parse(v.unwrap_or_default()))?),
        };
        Ok(CoachPolicy {
            rules_fallback: vars.switch("RULES_FALLBACK", true)?,
            deadline_ms: vars.number_in("REQUEST_DEADLINE_MS", 12_000u64, 1_000..=MAX_DEADLINE_MS)?,
            model_min_call_ms: vars.number_in(
                "MODEL_MIN_CALL_MS",
                DEFAULT_MODEL_MIN_CALL_MS.min(model_timeout_ms),
                100..=model_timeout_ms,
            )?,
            model_timeout_ms,
            max_retries: vars.number_in("MODEL_RETRIES", 2u32, 0..=5)?,
            max_words: vars.number_in("MAX_WORDS", MAX_SUGGESTION_WORDS, 5..=HARD_MAX_WORDS)?,
            moderation,
        })
    }
}

impl Config {
    /// `get` returns a var or secret by name (`None` when unset); `now`
    /// decides which catalogued models are retired.
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        now: EpochMillis,
    ) -> Result<Config, ConfigError> {
        let vars = Vars { get };
        let endpoints = Endpoints::from_lookup(get)?;
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
        let rate_per_day = match vars.get("RATE_LIMIT_PER_DAY").as_deref() {
            Some("off") => None,
            _ => Some(vars.number_in("RATE_LIMIT_PER_DAY", 5_000u32, 1..=u32::MAX)?),
        };
        // A bad or missing secret stops what depends on it, never the whole Worker.
        let mode = mode(&vars)?;
        let mut refused = Vec::new();
        let session_keys = SessionKeys::read(&vars, mode, &mut refused)?;
        let api_tokens = vars.tokens("API_TOKENS", mode, &mut refused);
        Ok(Config {
            backend: vars.parsed("COACH_BACKEND", Backend::parse)?,
            endpoints,
            registry,
            coach: CoachPolicy::read(&vars)?,
            api_tokens,
            admin_token: vars.admin_token(mode),
            refused,
            mode,
            rate_per_minute: vars.number_in("RATE_LIMIT_PER_MINUTE", 30u32, 1..=u32::MAX)?,
            rate_per_day,
            origins: vars.parsed("ALLOWED_ORIGINS", Origins::parse)?,
            kv_failure: vars.parsed("KV_FAILURE_MODE", KvFailurePolicy::parse)?,
            session_keys,
            spending: Spending::read(&vars)?,
            ai_gateway: vars.get("AI_GATEWAY_ID"),
            pace: PaceSettings {
                gap_ms: 1_000
                    * vars.number_in(
                        "PACE_GAP_SECONDS",
                        DEFAULT_PACE_GAP_SECONDS,
                        0..=u64::from(MAX_PACE_GAP_SECONDS),
                    )?,
                words_per_minute: vars.number_in(
                    "PACE_WORDS_PER_MINUTE",
                    DEFAULT_PACE_WORDS_PER_MINUTE,
                    10..=140,
                )?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::llm::providers::Provider;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&|name| map.get(name).cloned(), 1_795_000_000_000).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.registry.default_model().unwrap().id(),
            crate::core::llm::registry::BUILT_IN_DEFAULT
        );
        assert!(c.coach.rules_fallback);
        assert_eq!(c.backend, Backend::WorkersAi);
        assert_eq!(c.kv_failure, KvFailurePolicy::Closed);
        assert_eq!(c.origins, Origins::List(vec![]));
        assert!(c.coach.deadline_ms <= MAX_DEADLINE_MS);
        assert!(c.api_tokens.is_empty());
        assert_eq!(c.coach.model_min_call_ms, DEFAULT_MODEL_MIN_CALL_MS);
        assert_eq!(c.coach.max_words, 15);
        assert_eq!(c.coach.moderation, None);
        assert_eq!(c.session_keys, SessionKeys::Off);
        assert_eq!(c.spending.store, CallerStore::DurableObject);
        assert_eq!(c.spending.deployment_budget, Some(10_000.0));
        assert_eq!(c.spending.caller_allowance, None);
        assert_eq!(c.ai_gateway, None);
        let c = config(&[
            ("DAILY_NEURON_BUDGET", "off"),
            ("CALLER_DAILY_NEURONS", "250.5"),
            ("AI_GATEWAY_ID", "coach"),
        ])
        .unwrap();
        assert_eq!(
            (c.spending.deployment_budget, c.spending.caller_allowance),
            (None, Some(250.5))
        );
        assert_eq!(c.ai_gateway.as_deref(), Some("coach"));
    }

    #[test]
    fn session_keys() {
        let secret = "a-session-secret-of-32-characters-or-more";
        let open = config(&[("SESSION_KEYS", "open"), ("SESSION_SECRET", secret)]).unwrap();
        let ring = open.session_keys.keyring().unwrap();
        assert_eq!(ring.life().max_hours(), 36);
        assert_eq!(ring.previous(), None);
        assert_eq!(open.session_keys.problem(), None);
        let off = config(&[("SESSION_KEYS", "off"), ("SESSION_SECRET", secret)]).unwrap();
        assert_eq!(off.session_keys.keyring(), None);
        let short = config(&[
            ("SESSION_KEYS", "open"),
            ("SESSION_SECRET", secret),
            ("SESSION_KEY_MAX_LIFE_HOURS", "12"),
        ])
        .unwrap();
        assert_eq!(short.session_keys.keyring().unwrap().life().max_hours(), 12);
        let bad = config(&[
            ("SESSION_KEYS", "open"),
            ("SESSION_SECRET", secret),
            ("SESSION_KEY_MAX_LIFE_HOURS", "6"),
        ])
        .expect("a bad key life stops session keys only");
        let named = bad.session_keys.problem().unwrap().to_string();
        assert!(
            named.starts_with("SESSION_KEY_MAX_LIFE_HOURS must be a whole number from 12 to 720"),
            "{named}"
        );
    }

    const SECRET: &str = "a-session-secret-of-32-characters-or-more";
    const OLD: &str = "the-old-session-secret-of-32-characters";

    #[test]
    fn a_rotation_keeps_the_previous_secret_until_its_moment() {
        let c = config(&[
            ("SESSION_KEYS", "open"),
            ("SESSION_SECRET", SECRET),
            ("SESSION_SECRET_PREVIOUS", OLD),
            ("SESSION_SECRET_PREVIOUS_UNTIL", "2026-12-24T18:00:00Z"),
        ])
        .unwrap();
        let previous = c.session_keys.keyring().unwrap().previous().unwrap();
        assert_eq!(previous.until_secs, 1_798_135_200);
        assert!(c.refused.is_empty());
    }

    #[test]
    fn an_unusable_previous_secret_is_left_out_and_named() {
        for (pairs, named) in [
            (
                &[("SESSION_SECRET_PREVIOUS", OLD)][..],
                "SESSION_SECRET_PREVIOUS_UNTIL is unset",
            ),
            (
                &[
                    ("SESSION_SECRET_PREVIOUS", OLD),
                    ("SESSION_SECRET_PREVIOUS_UNTIL", "tomorrow"),
                ][..],
                "SESSION_SECRET_PREVIOUS_UNTIL must be an RFC 3339 time",
            ),
            (
                &[
                    ("SESSION_SECRET_PREVIOUS", "short"),
                    ("SESSION_SECRET_PREVIOUS_UNTIL", "2026-12-24T18:00:00Z"),
                ][..],
                "SESSION_SECRET_PREVIOUS must be at least 32 characters",
            ),
            (
                &[("SESSION_SECRET_PREVIOUS_UNTIL", "2026-12-24T18:00:00Z")][..],
                "SESSION_SECRET_PREVIOUS is unset",
            ),
        ] {
            let mut all = vec![("SESSION_KEYS", "open"), ("SESSION_SECRET", SECRET)];
            all.extend_from_slice(pairs);
            let c = config(&all).expect("the current secret still serves");
            let ring = c.session_keys.keyring().expect("keys still work");
            assert_eq!(ring.previous(), None);
            assert_eq!(c.refused.len(), 1);
            assert!(c.refused[0].to_string().starts_with(named), "{}", c.refused[0]);
        }
    }

    #[test]
    fn example_and_short_secrets_are_refused_where_deployed() {
        let examples = [
            ("SESSION_KEYS", "open"),
            ("SESSION_SECRET", "dev-session-secret-change-me-0123456789abcdef"),
            ("ADMIN_TOKEN", "dev-admin-token-change-me"),
            (
                "API_TOKENS",
                "dev-token-change-me, a-static-token-of-24-characters-or-more",
            ),
        ];
        let deployed = config(&examples).expect("the rest serves");
        assert_eq!(deployed.mode, Mode::Deployed);
        let session = deployed.session_keys.problem().unwrap().to_string();
        assert!(
            session.starts_with("SESSION_SECRET is an example value shipped with this project"),
            "{session}"
        );
        assert_eq!(deployed.admin_token, Err(Weakness::Shipped));
        assert_eq!(deployed.refused.len(), 1);
        let refused = deployed.refused[0].to_string();
        assert!(
            refused.starts_with("API_TOKENS entry 1 of 2 is an example value"),
            "{refused}"
        );
        assert!(!refused.contains("dev-token-change-me"), "{refused}");
        let other = TokenDigest::of("a-static-token-of-24-characters-or-more");
        assert_eq!(
            deployed.api_tokens.find(&other),
            Some(2),
            "its place in API_TOKENS"
        );
        assert_eq!(
            deployed.api_tokens.find(&TokenDigest::of("dev-token-change-me")),
            None
        );

        let mut local = examples.to_vec();
        local.push(("LOCAL_DEV", "true"));
        let local = config(&local).unwrap();
        assert_eq!(local.mode, Mode::Local);
        assert!(local.session_keys.keyring().is_some());
        assert!(matches!(local.admin_token, Ok(Some(_))));
        assert!(local.refused.is_empty());

        let short = config(&[("ADMIN_TOKEN", "admin-0123456789")]).unwrap();
        assert_eq!(short.admin_token, Err(Weakness::Short { min: 24 }));
        assert_eq!(config(&[]).unwrap().admin_token, Ok(None));
        let err = config(&[("LOCAL_DEV", "maybe")]).unwrap_err();
        assert!(err.starts_with("LOCAL_DEV"), "{err}");
        assert_eq!(
            admin_token(&|n| (n == "ADMIN_TOKEN").then(|| "dev-admin-token-change-me".to_string())),
            Err(Weakness::Shipped)
        );
    }

    #[test]
    fn a_missing_or_short_secret_stops_session_keys_only() {
        for (pairs, problem) in [
            (&[("SESSION_KEYS", "open")][..], "SESSION_SECRET is unset"),
            (
                &[("SESSION_KEYS", "open"), ("SESSION_SECRET", "fifteen-chars!!")][..],
                "SESSION_SECRET must be at least 32 characters",
            ),
        ] {
            let c = config(pairs).expect("the rest of the configuration still serves");
            assert_eq!(c.session_keys.keyring(), None);
            let named = c.session_keys.problem().unwrap().to_string();
            assert!(named.starts_with(problem), "{named}");
        }
        // With keys off the secret is not read, so a short one is no problem.
        let off = config(&[("SESSION_KEYS", "off"), ("SESSION_SECRET", "short")]).unwrap();
        assert_eq!(off.session_keys, SessionKeys::Off);
    }

    #[test]
    fn the_minimum_call_time_fits_the_model_timeout() {
        let c = config(&[("MODEL_TIMEOUT_MS", "1000")]).unwrap();
        assert_eq!(
            c.coach.model_min_call_ms, 1000,
            "the default never exceeds the timeout"
        );
        let c = config(&[("MODEL_MIN_CALL_MS", "2500")]).unwrap();
        assert_eq!(c.coach.model_min_call_ms, 2500);
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
        assert_eq!(c.coach.max_words, 12);
        assert_eq!(c.coach.moderation.unwrap().codes(), ["S1", "S4", "S10"]);
        assert_eq!(
            config(&[("MODERATION", "on")]).unwrap().coach.moderation,
            Some(Blocked::all())
        );
    }

    #[test]
    fn values_are_parsed() {
        let c = config(&[
            (
                "API_TOKENS",
                " a-static-token-of-24-characters , b-static-token-of-24-characters ,,",
            ),
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
        assert_eq!(
            c.api_tokens.digests(),
            [
                TokenDigest::of("a-static-token-of-24-characters"),
                TokenDigest::of("b-static-token-of-24-characters")
            ]
        );
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
        assert!(!c.coach.rules_fallback);
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
    fn a_remote_provider_url_must_be_https() {
        let err = config(&[("OPENAI_COMPAT_BASE_URL", "http://provider.example")]).unwrap_err();
        assert!(
            err.starts_with("OPENAI_COMPAT_BASE_URL must be an https:// URL for the host provider.example"),
            "{err}"
        );
        for (url, allow) in [
            ("http://127.0.0.1:8080", ""),
            ("https://x", ""),
            ("http://gpu-box:8080/v1", "gpu-box"),
        ] {
            let c = config(&[
                ("OPENAI_COMPAT_BASE_URL", url),
                ("OPENAI_COMPAT_ALLOW_HTTP_HOSTS", allow),
            ])
            .unwrap();
            assert!(c.endpoints.get(Provider::OpenAiCompat).is_some(), "{url}");
        }
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
            ("RATE_LIMIT_STORE", "redis"),
            ("DAILY_NEURON_BUDGET", "-5"),
            ("CALLER_DAILY_NEURONS", "lots"),
            ("STATE_FAILURE_MODE", "maybe"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
        let err = config(&[("MODERATION", "on"), ("MODERATION_BLOCKED", "S99")]).unwrap_err();
        assert!(err.contains("MODERATION_BLOCKED"), "{err}");
    }
}
