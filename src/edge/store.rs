//! The `COACH_KV` namespace: the binding's name, how a record is written,
//! and the one log line for its failures, which says what the failure did
//! to the request.

use crate::core::config::KvFailurePolicy;
use serde::Serialize;
use serde_json::json;
use worker::kv::{KvError, PutOptionsBuilder};
use worker::{console_warn, Env, KvStore};

const BINDING: &str = "COACH_KV";

pub fn open(env: &Env) -> worker::Result<KvStore> {
    env.kv(BINDING)
}

/// A put of `value` as JSON text, written by serde_json. workers-rs' own
/// `put` turns a value into a JavaScript object and has `JSON.stringify`
/// write it: calls into JavaScript per field, on every counted request. KV
/// keeps bytes, so what `get().json()` reads back is the same.
pub fn put_json(kv: &KvStore, key: &str, value: &impl Serialize) -> Result<PutOptionsBuilder, KvError> {
    let bytes = serde_json::to_vec(value).map_err(KvError::Serialization)?;
    kv.put_bytes(key, &bytes)
}

/// What a KV failure did to the request, for the log line.
#[derive(Clone, Copy)]
pub enum Consequence {
    /// Nothing to choose: the request failed with 503 (a token lookup, an admin route).
    Failed,
    /// `KV_FAILURE_MODE` decided.
    Policy(KvFailurePolicy),
}

/// Logs a KV failure `during` some step.
pub fn log_failure(during: &str, err: impl std::fmt::Display, consequence: Consequence) {
    let (policy, outcome) = match consequence {
        Consequence::Failed => (None, "refused with 503: nothing to fall back on"),
        Consequence::Policy(KvFailurePolicy::Closed) => {
            (Some("closed"), "refused with 503 (KV_FAILURE_MODE=closed)")
        }
        Consequence::Policy(KvFailurePolicy::Open) => (
            Some("open"),
            "served without being counted (KV_FAILURE_MODE=open)",
        ),
    };
    console_warn!(
        "{}",
        json!({
            "event": "kv_error",
            "during": during,
            "detail": err.to_string(),
            "kv_failure_mode": policy,
            "outcome": outcome,
        })
    );
}
