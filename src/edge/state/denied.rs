//! The deny list of a caller's state object: a session key's subject the
//! admin revoked (`POST /admin/session-keys/revoke`). It sits where the
//! request path already reads the caller's state: `/admit` looks at it first
//! and refuses a denied caller there, so a revocation costs no extra round
//! trip and holds from the next request, everywhere. A subject is random and
//! never issued again, so the mark is kept for good (one row).

use super::{call, AdmitAnswer, CallerState};
use crate::core::access::state::Admission;
use serde_json::json;
use worker::Env;

impl CallerState {
    /// Whether this caller was revoked.
    pub(super) fn denied(&self) -> worker::Result<bool> {
        let rows: Vec<serde_json::Value> = self
            .sql()
            .exec("SELECT at FROM denied WHERE id = 1", None)?
            .to_array()?;
        Ok(!rows.is_empty())
    }

    /// Marks this caller revoked, keeping the first time it was.
    pub(super) fn deny(&self, now_ms: u64) -> worker::Result<()> {
        self.sql().exec(
            "INSERT INTO denied (id, at) VALUES (1, ?) ON CONFLICT(id) DO NOTHING",
            vec![super::int(now_ms)],
        )?;
        Ok(())
    }
}

impl AdmitAnswer {
    /// The answer to a revoked caller: refused, nothing counted or paced.
    pub(super) fn denied() -> AdmitAnswer {
        AdmitAnswer {
            admission: Admission {
                quota: None,
                retry_after_secs: None,
                said: Vec::new(),
                within_allowance: true,
            },
            pace: None,
            budget: None,
            denied: true,
        }
    }
}

/// Revokes the caller `id` in its state object: one round trip.
pub async fn deny(env: &Env, id: &str, now_ms: u64) -> worker::Result<()> {
    call::<_, serde_json::Value>(env, id, "/deny", &json!({ "now_ms": now_ms }))
        .await
        .map(|_| ())
}
