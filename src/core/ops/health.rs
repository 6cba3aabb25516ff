//! `GET /healthz`: what an operator (or a load balancer) needs to see that
//! this deployment can serve. Anyone gets [`public`], `{"ok": bool}` and
//! nothing else: the problems describe the defences (a limiter missing, a
//! budget that cannot bind), which is the admin's business. With the admin
//! token, [`report`]: the version, which bindings are present, and the
//! configuration problems the Worker knows of, secrets it refused included.
//! `ok` is false when the main route cannot be served as configured: an
//! unusable var, a required binding missing (`AUTH_FAILURE_LIMITER`;
//! `CALLER_STATE` when callers are counted in state objects), or session
//! keys open without a usable `SESSION_SECRET` (the coach frontend's only
//! credential). Nothing secret even then: no var values beyond the ones a
//! problem names, no tokens, not even their count.

use crate::core::access::strength::Mode;
use crate::core::access::usage::{price_list, PriceSource};
use crate::core::config::{CallerStore, Config, ConfigError, SessionKeys};
use crate::core::time::format_rfc3339;
use serde::Serialize;
use serde_json::{json, Value};

/// Which bindings the Worker found in its environment.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Bindings {
    /// Workers AI (`[ai]`); absent in local mode, where the rules coach answers.
    pub ai: bool,
    /// `COACH_KV`: issued tokens (and the counters, with `RATE_LIMIT_STORE = "kv"`).
    pub kv: bool,
    /// `CALLER_STATE`: the callers' state objects. Required with
    /// `RATE_LIMIT_STORE = "do"` (the default).
    pub caller_state: bool,
    /// `AUTH_FAILURE_LIMITER`: the failed-authentication budget. Required.
    pub auth_failure_limiter: bool,
    /// `CALLER_MINUTE_LIMITER`: optional; replaces the KV minute window.
    pub caller_minute_limiter: bool,
    /// `SESSION_KEY_LIMITER`: how often one network may ask for a session key.
    pub session_key_limiter: bool,
}

/// The `/healthz` body for anyone: whether the Worker can serve, and nothing
/// of why.
pub fn public(report: &Value) -> Value {
    json!({ "ok": report["ok"] })
}

/// The `/healthz` body for the admin, at `now_secs`. `ok` is false when the
/// configuration cannot serve (every API request would be `500
/// server_misconfigured`), a required binding is missing, or session keys
/// are open without a usable secret; the status is 200 either way, so the
/// body is read.
pub fn report(
    version: &str,
    bindings: Bindings,
    config: &Result<Config, ConfigError>,
    now_secs: u64,
) -> Value {
    let (mut serving, mut problems) = match config {
        Ok(config) => {
            let (serving, mut problems) = configured(config, bindings);
            problems.extend(secrets(config, now_secs));
            (serving, problems)
        }
        Err(problem) => (false, vec![problem.to_string()]),
    };
    if !bindings.kv {
        problems.push(
            "no COACH_KV binding: issued tokens cannot be checked (and with RATE_LIMIT_STORE = \"kv\", callers are not counted); see wrangler.toml [[kv_namespaces]]"
                .to_string(),
        );
    }
    if !bindings.auth_failure_limiter {
        serving = false;
        problems.push(
            "no AUTH_FAILURE_LIMITER binding: failed authentications are not limited; see wrangler.toml [[ratelimits]]"
                .to_string(),
        );
    }
    let prices = config.as_ref().ok().map(|c| {
        let offered: Vec<_> = c
            .registry
            .models()
            .iter()
            .map(|m| (m.id(), m.entry().price.as_ref()))
            .collect();
        price_list(&c.spending.prices, &offered)
    });
    json!({
        "ok": serving,
        "version": version,
        "bindings": bindings,
        "problems": problems,
        "prices": prices,
    })
}

/// The secrets the Worker refused or keeps for a while: none of them makes
/// the main route unservable (a bad `SESSION_SECRET` is in [`configured`]).
/// Also what the edge logs when it reads the configuration.
pub fn secrets(config: &Config, now_secs: u64) -> Vec<String> {
    let mut problems: Vec<String> = config.refused.iter().map(ConfigError::to_string).collect();
    if let Err(weakness) = config.admin_token {
        problems.push(format!(
            "ADMIN_TOKEN {}: the admin routes and this detailed report are off; openssl rand -hex 32 | npx wrangler secret put ADMIN_TOKEN",
            weakness.problem()
        ));
    }
    let previous = config.session_keys.keyring().and_then(|ring| ring.previous());
    if let Some(previous) = previous.filter(|p| p.at(now_secs).is_none()) {
        problems.push(format!(
            "SESSION_SECRET_PREVIOUS's overlap ended at {}: the keys it signed are refused; npx wrangler secret delete SESSION_SECRET_PREVIOUS (and SESSION_SECRET_PREVIOUS_UNTIL)",
            format_rfc3339(previous.until_secs.min(i64::MAX as u64 / 1000) as i64 * 1000)
        ));
    }
    if config.mode == Mode::Local {
        problems.push(
            "LOCAL_DEV is true: the example secrets shipped with this project are accepted, as ./scripts/dev needs; a deployed Worker must never set it"
                .to_string(),
        );
    }
    problems
}

/// The problems of a usable configuration with these bindings, and whether
/// the Worker can still serve its main route.
fn configured(config: &Config, bindings: Bindings) -> (bool, Vec<String>) {
    let mut problems: Vec<String> = config.registry.problems().to_vec();
    let mut serving = true;
    if let Some(problem) = config.session_keys.problem() {
        serving = false;
        problems.push(format!(
            "SESSION_KEYS is open but {problem}: no session key is issued or accepted, so the coach frontend cannot sign in (tokens and the admin routes still work); openssl rand -hex 32 | npx wrangler secret put SESSION_SECRET"
        ));
    }
    if config.spending.store == CallerStore::DurableObject && !bindings.caller_state {
        serving = false;
        problems.push(
            "RATE_LIMIT_STORE is do but there is no CALLER_STATE binding: callers cannot be counted, so STATE_FAILURE_MODE decides every request (closed: 503 storage_unavailable); see wrangler.toml [[durable_objects.bindings]] and [[migrations]]"
                .to_string(),
        );
    }
    // Every offered model is counted against the budget; one with neither a
    // published nor an operator's price is counted at the assumed price.
    let assumed = &config.spending.prices.assumed;
    for model in config.registry.models() {
        let (_, source) = config
            .spending
            .prices
            .price(model.id(), model.entry().price.as_ref());
        if source == PriceSource::Assumed && config.spending.deployment_budget.is_some() {
            problems.push(format!(
                "{} has no published price: its calls are counted at the assumed price (${}/${} per million input/output tokens, ASSUMED_MODEL_PRICE); set its price in MODEL_PRICES",
                model.id(),
                assumed.input_per_m.unwrap_or_default(),
                assumed.output_per_m.unwrap_or_default(),
            ));
        }
    }
    if matches!(config.session_keys, SessionKeys::Open(_)) && !bindings.session_key_limiter {
        problems.push(
            "SESSION_KEYS is open but there is no SESSION_KEY_LIMITER binding: anyone may ask for any number of session keys; see wrangler.toml [[ratelimits]]"
                .to_string(),
        );
    }
    (serving, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000;

    fn all() -> Bindings {
        Bindings {
            ai: true,
            kv: true,
            caller_state: true,
            auth_failure_limiter: true,
            caller_minute_limiter: false,
            session_key_limiter: true,
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_lookup(&|n| map.get(n).map(|v| v.to_string()), 1_795_000_000_000)
    }

    #[test]
    fn a_healthy_deployment() {
        let r = report(
            "1.2.3",
            all(),
            &config(&[
                ("API_TOKENS", "secret-token-value-0123456789"),
                ("DAILY_NEURON_BUDGET", "off"),
            ]),
            NOW,
        );
        assert_eq!(r["ok"], json!(true));
        assert_eq!(r["version"], json!("1.2.3"));
        assert_eq!(r["bindings"]["ai"], json!(true));
        assert_eq!(r["bindings"]["caller_minute_limiter"], json!(false));
        assert_eq!(r["problems"], json!([]));
        assert!(!r.to_string().contains("secret-token-value"));
        assert_eq!(public(&r), json!({"ok": true}));
    }

    #[test]
    fn an_unusable_var_is_a_problem_and_not_ok() {
        let r = report("1", all(), &config(&[("KV_FAILURE_MODE", "sometimes")]), NOW);
        assert_eq!(r["ok"], json!(false));
        assert!(r["problems"][0].as_str().unwrap().contains("KV_FAILURE_MODE"));
    }

    #[test]
    fn an_unknown_model_is_a_problem_but_still_serving() {
        let r = report(
            "1",
            all(),
            &config(&[("FALLBACK_MODELS", "@cf/nobody/nothing")]),
            NOW,
        );
        assert_eq!(r["ok"], json!(true));
        assert!(r["problems"].to_string().contains("@cf/nobody/nothing"), "{r}");
    }

    #[test]
    fn every_offered_model_has_a_price_and_an_assumed_one_is_named() {
        // The built-in default has no published price in the catalog.
        let r = report("1", all(), &config(&[]), NOW);
        assert!(r["problems"].to_string().contains("assumed price"), "{r}");
        let prices = r["prices"].as_array().unwrap();
        assert!(
            prices
                .iter()
                .all(|p| p["usd_per_m"]["input_per_m"].as_f64().unwrap() > 0.0),
            "{r}"
        );
        assert_eq!(prices.last().unwrap()["source"], json!("assumed"));
        let set = config(&[(
            "MODEL_PRICES",
            "@cf/meta/llama-3.1-8b-instruct-fast=0.045/0.384,@cf/meta/llama-3.2-3b-instruct=0.051/0.335",
        )]);
        let r = report("1", all(), &set, NOW);
        assert_eq!(r["problems"], json!([]));
        assert_eq!(r["prices"][0]["source"], json!("operator"), "{r}");
        assert_eq!(r["prices"][2]["source"], json!("published"), "the fallback: {r}");
    }

    #[test]
    fn session_keys_without_a_usable_secret_are_not_ok() {
        for secret in [None, Some("fifteen-chars!!")] {
            let mut pairs = vec![("SESSION_KEYS", "open"), ("DAILY_NEURON_BUDGET", "off")];
            pairs.extend(secret.map(|s| ("SESSION_SECRET", s)));
            let r = report("1", all(), &config(&pairs), NOW);
            assert_eq!(r["ok"], json!(false), "{r}");
            let text = r["problems"].to_string();
            assert!(text.contains("SESSION_SECRET"), "{text}");
            assert!(
                !text.contains("fifteen-chars!!"),
                "the secret is never shown: {text}"
            );
        }
        let signed = config(&[
            ("SESSION_KEYS", "open"),
            ("SESSION_SECRET", "a-session-secret-of-32-characters-or-more"),
            ("DAILY_NEURON_BUDGET", "off"),
        ]);
        assert_eq!(report("1", all(), &signed, NOW)["ok"], json!(true));
    }

    #[test]
    fn state_objects_without_their_binding_are_not_ok() {
        let missing = Bindings {
            caller_state: false,
            ..all()
        };
        let r = report("1", missing, &config(&[("DAILY_NEURON_BUDGET", "off")]), NOW);
        assert_eq!(r["ok"], json!(false));
        assert!(r["problems"].to_string().contains("CALLER_STATE"), "{r}");
        assert_eq!(r["bindings"]["caller_state"], json!(false));
        // The KV store needs no state object.
        let kv = config(&[("DAILY_NEURON_BUDGET", "off"), ("RATE_LIMIT_STORE", "kv")]);
        assert_eq!(report("1", missing, &kv, NOW)["ok"], json!(true));
    }

    #[test]
    fn missing_bindings_are_named() {
        let r = report("1", Bindings::default(), &config(&[]), NOW);
        assert_eq!(r["ok"], json!(false));
        let text = r["problems"].to_string();
        assert!(
            text.contains("COACH_KV")
                && text.contains("AUTH_FAILURE_LIMITER")
                && text.contains("CALLER_STATE"),
            "{text}"
        );
    }

    #[test]
    fn the_public_body_says_only_whether_it_serves() {
        let r = report("1", Bindings::default(), &config(&[]), NOW);
        assert_eq!(public(&r), json!({"ok": false}));
    }

    #[test]
    fn refused_secrets_are_named_without_their_values() {
        let r = report(
            "1",
            all(),
            &config(&[
                ("DAILY_NEURON_BUDGET", "off"),
                ("ADMIN_TOKEN", "dev-admin-token-change-me"),
                ("API_TOKENS", "short-token, a-static-token-of-24-characters"),
            ]),
            NOW,
        );
        assert_eq!(r["ok"], json!(true), "the main route still serves");
        let text = r["problems"].to_string();
        assert!(
            text.contains("ADMIN_TOKEN is an example value shipped with this project"),
            "{text}"
        );
        assert!(
            text.contains("API_TOKENS entry 1 of 2 must be at least 24 characters"),
            "{text}"
        );
        assert!(
            !text.contains("dev-admin-token-change-me") && !text.contains("short-token"),
            "{text}"
        );
        let local = report(
            "1",
            all(),
            &config(&[
                ("DAILY_NEURON_BUDGET", "off"),
                ("LOCAL_DEV", "true"),
                ("ADMIN_TOKEN", "dev-admin-token-change-me"),
            ]),
            NOW,
        );
        assert!(
            local["problems"].to_string().contains("LOCAL_DEV is true"),
            "{local}"
        );
    }

    #[test]
    fn a_previous_secret_past_its_overlap_is_named() {
        let pairs = [
            ("DAILY_NEURON_BUDGET", "off"),
            ("SESSION_KEYS", "open"),
            ("SESSION_SECRET", "a-session-secret-of-32-characters-or-more"),
            (
                "SESSION_SECRET_PREVIOUS",
                "the-old-session-secret-of-32-characters",
            ),
            ("SESSION_SECRET_PREVIOUS_UNTIL", "2026-11-19T00:00:00Z"),
        ];
        let until = 1_795_046_400;
        assert_eq!(
            report("1", all(), &config(&pairs), until - 1)["problems"],
            json!([])
        );
        let after = report("1", all(), &config(&pairs), until);
        assert!(
            after["problems"]
                .to_string()
                .contains("SESSION_SECRET_PREVIOUS's overlap ended at 2026-11-19T00:00:00Z"),
            "{after}"
        );
    }
}
