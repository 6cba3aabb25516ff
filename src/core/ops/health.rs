//! `GET /healthz`: what an operator (or a load balancer) needs to see that
//! this deployment can serve: the version, which bindings are present, and
//! the configuration problems the Worker knows of. Nothing secret: no var
//! values beyond the ones a problem names, no tokens, not even their count.

use crate::core::config::{Config, ConfigError, SessionKeys};
use serde::Serialize;
use serde_json::{json, Value};

/// Which bindings the Worker found in its environment.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Bindings {
    /// Workers AI (`[ai]`); absent in local mode, where the rules coach answers.
    pub ai: bool,
    /// `COACH_KV`: issued tokens and rate-limit counters.
    pub kv: bool,
    /// `AUTH_FAILURE_LIMITER`: the failed-authentication budget. Required.
    pub auth_failure_limiter: bool,
    /// `CALLER_MINUTE_LIMITER`: optional; replaces the KV minute window.
    pub caller_minute_limiter: bool,
    /// `SESSION_KEY_LIMITER`: how often one network may ask for a session key.
    pub session_key_limiter: bool,
}

/// The `/healthz` body. `ok` is false when the configuration cannot serve
/// (every API request would be `500 server_misconfigured`) or a required
/// binding is missing; the status is 200 either way, so the body is read.
pub fn report(version: &str, bindings: Bindings, config: &Result<Config, ConfigError>) -> Value {
    let mut problems: Vec<String> = Vec::new();
    let mut serving = true;
    match config {
        Ok(config) => {
            problems.extend(config.registry.problems().iter().cloned());
            if config.session_keys == SessionKeys::Open(None) {
                problems.push(
                    "SESSION_KEYS is open but SESSION_SECRET is unset: no session key is issued or accepted; npx wrangler secret put SESSION_SECRET"
                        .to_string(),
                );
            }
            let unpriced = config
                .registry
                .default_model()
                .filter(|m| m.entry().price.is_none());
            if let (Some(_), Some(model)) = (config.spending.deployment_budget, unpriced) {
                problems.push(format!(
                    "DAILY_NEURON_BUDGET is set, but DEFAULT_MODEL {} has no published price: its calls are counted, not priced, and the budget cannot stop them; choose a priced model (GET /api/models) or set DAILY_NEURON_BUDGET = \"off\"",
                    model.id()
                ));
            }
            if matches!(config.session_keys, SessionKeys::Open(_)) && !bindings.session_key_limiter {
                problems.push(
                    "SESSION_KEYS is open but there is no SESSION_KEY_LIMITER binding: anyone may ask for any number of session keys; see wrangler.toml [[ratelimits]]"
                        .to_string(),
                );
            }
        }
        Err(problem) => {
            serving = false;
            problems.push(problem.to_string());
        }
    }
    if !bindings.kv {
        problems.push(
            "no COACH_KV binding: issued tokens cannot be checked and callers are not counted; see wrangler.toml [[kv_namespaces]]"
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
    json!({
        "ok": serving,
        "version": version,
        "bindings": bindings,
        "problems": problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Bindings {
        Bindings {
            ai: true,
            kv: true,
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
                ("API_TOKENS", "secret-token-value"),
                ("DAILY_NEURON_BUDGET", "off"),
            ]),
        );
        assert_eq!(r["ok"], json!(true));
        assert_eq!(r["version"], json!("1.2.3"));
        assert_eq!(r["bindings"]["ai"], json!(true));
        assert_eq!(r["bindings"]["caller_minute_limiter"], json!(false));
        assert_eq!(r["problems"], json!([]));
        assert!(!r.to_string().contains("secret-token-value"));
    }

    #[test]
    fn an_unusable_var_is_a_problem_and_not_ok() {
        let r = report("1", all(), &config(&[("KV_FAILURE_MODE", "sometimes")]));
        assert_eq!(r["ok"], json!(false));
        assert!(r["problems"][0].as_str().unwrap().contains("KV_FAILURE_MODE"));
    }

    #[test]
    fn an_unknown_model_is_a_problem_but_still_serving() {
        let r = report("1", all(), &config(&[("FALLBACK_MODELS", "@cf/nobody/nothing")]));
        assert_eq!(r["ok"], json!(true));
        assert!(r["problems"].to_string().contains("@cf/nobody/nothing"), "{r}");
    }

    #[test]
    fn a_budget_that_cannot_bind_on_the_default_model_is_a_problem() {
        // The built-in default has no published price in the catalog.
        let r = report("1", all(), &config(&[]));
        assert!(r["problems"].to_string().contains("DAILY_NEURON_BUDGET"), "{r}");
        let priced = config(&[("DEFAULT_MODEL", "@cf/meta/llama-3.3-70b-instruct-fp8-fast")]);
        assert_eq!(report("1", all(), &priced)["problems"], json!([]));
    }

    #[test]
    fn missing_bindings_are_named() {
        let r = report("1", Bindings::default(), &config(&[]));
        assert_eq!(r["ok"], json!(false));
        let text = r["problems"].to_string();
        assert!(
            text.contains("COACH_KV") && text.contains("AUTH_FAILURE_LIMITER"),
            "{text}"
        );
    }
}
