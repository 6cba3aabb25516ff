//! The gate in front of `/api/*` and `/admin/*`: per-address limits on failed
//! authentication, bearer tokens (static `API_TOKENS` or per-user records in
//! KV), and per-caller rate limits in KV. Counter writes go through
//! `ctx.wait_until`, off the response path; a rejected request writes nothing.
//! When KV fails, `KV_FAILURE_MODE` decides (see README).

use crate::core::auth::{
    match_static, parse_bearer, token_hash, token_key, Caller, TokenRecord, REVOKED, UNKNOWN,
};
use crate::core::config::{Config, KvFailurePolicy};
use crate::core::error::ApiError;
use crate::core::ratelimit::{
    auth_failure_key, auth_failure_retry_after, auth_failure_ttl, counter_key, decide, Counter, Decision,
    Limits, Status,
};
use serde_json::json;
use worker::{console_warn, Context, Env, KvStore, Request};

/// A request turned away, with the `RateLimit-*` status to report if known.
pub struct Rejection {
    pub error: ApiError,
    pub status: Option<Status>,
}

impl From<ApiError> for Rejection {
    fn from(error: ApiError) -> Self {
        Rejection { error, status: None }
    }
}

/// A caller let through, with its rate-limit status (absent when KV failed
/// open and nothing was counted).
pub struct Admitted {
    pub caller: Caller,
    pub status: Option<Status>,
}

fn client_ip(req: &Request) -> String {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .filter(|ip| !ip.is_empty() && ip.len() <= 64)
        .unwrap_or_else(|| "unknown".to_string())
}

fn kv_failed(what: &str, err: impl std::fmt::Display) {
    console_warn!(
        "{}",
        json!({"event": "kv_error", "during": what, "detail": err.to_string()})
    );
}

/// Per-address budget of failed authentications.
struct FailureBudget {
    key: String,
    count: u32,
    limit: u32,
    now_ms: u64,
}

impl FailureBudget {
    fn status(&self) -> Status {
        Status {
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.count),
            reset_secs: auth_failure_retry_after(self.now_ms),
        }
    }

    /// Counts one failure (off the response path) and returns the rejection.
    fn fail(&self, kv: &KvStore, ctx: &Context, error: ApiError) -> Rejection {
        let next = self.count.saturating_add(1);
        if let Ok(put) = kv.put(&self.key, next.to_string()) {
            let put = put.expiration_ttl(auth_failure_ttl(self.now_ms));
            ctx.wait_until(async move {
                if let Err(e) = put.execute().await {
                    kv_failed("auth failure count", e);
                }
            });
        }
        Rejection {
            error,
            status: Some(Status {
                remaining: self.limit.saturating_sub(next),
                ..self.status()
            }),
        }
    }
}

fn storage_failure(config: &Config, what: &str, err: impl std::fmt::Display) -> Result<(), Rejection> {
    kv_failed(what, err);
    match config.kv_failure {
        KvFailurePolicy::Open => Ok(()),
        KvFailurePolicy::Closed => Err(ApiError::StorageUnavailable.into()),
    }
}

async fn failure_budget(
    kv: &KvStore,
    req: &Request,
    config: &Config,
    now_ms: u64,
) -> Result<Option<FailureBudget>, Rejection> {
    let key = auth_failure_key(&client_ip(req), now_ms);
    let count = match kv.get(&key).text().await {
        Ok(v) => v.and_then(|s| s.parse::<u32>().ok()).unwrap_or(0),
        Err(e) => {
            storage_failure(config, "auth failure read", e)?;
            return Ok(None);
        }
    };
    let budget = FailureBudget {
        key,
        count,
        limit: config.auth_failures_per_minute,
        now_ms,
    };
    if count >= budget.limit {
        return Err(Rejection {
            error: ApiError::RateLimited {
                retry_after_secs: auth_failure_retry_after(now_ms),
            },
            status: Some(budget.status()),
        });
    }
    Ok(Some(budget))
}

/// Rejects with `error`, counting the failure against the address when KV works.
fn reject(budget: &Option<FailureBudget>, kv: &Option<KvStore>, ctx: &Context, error: ApiError) -> Rejection {
    match (budget, kv) {
        (Some(b), Some(kv)) => b.fail(kv, ctx, error),
        _ => error.into(),
    }
}

fn open_kv(env: &Env, config: &Config) -> Result<Option<KvStore>, Rejection> {
    match env.kv("COACH_KV") {
        Ok(kv) => Ok(Some(kv)),
        Err(e) => storage_failure(config, "binding", e).map(|_| None),
    }
}

/// Authenticates and rate-limits a `/api/*` request.
pub async fn admit_api(
    req: &Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    now_ms: u64,
) -> Result<Admitted, Rejection> {
    let kv = open_kv(env, config)?;
    let budget = match &kv {
        Some(kv) => failure_budget(kv, req, config, now_ms).await?,
        None => None,
    };
    let header = req.headers().get("Authorization").ok().flatten();
    let token = match parse_bearer(header.as_deref()) {
        Ok(t) => t,
        Err(problem) => {
            return Err(reject(
                &budget,
                &kv,
                ctx,
                ApiError::Unauthorized(problem.message()),
            ))
        }
    };
    let hash = token_hash(token);
    let id = hash[..12].to_string();
    let caller = if let Some(i) = match_static(token, &config.api_tokens) {
        Caller {
            name: format!("static-{}", i + 1),
            id,
            per_minute: None,
            per_day: None,
        }
    } else {
        let Some(store) = &kv else {
            // Without KV a per-user token cannot be checked, whatever the policy.
            return Err(ApiError::StorageUnavailable.into());
        };
        match store.get(&token_key(&hash)).json::<TokenRecord>().await {
            Ok(Some(record)) if record.revoked => return Err(ApiError::Forbidden(REVOKED).into()),
            Ok(Some(record)) => Caller {
                name: record.name,
                id,
                per_minute: record.per_minute,
                per_day: record.per_day,
            },
            Ok(None) => return Err(reject(&budget, &kv, ctx, ApiError::Unauthorized(UNKNOWN))),
            Err(e) => {
                kv_failed("token lookup", e);
                return Err(ApiError::StorageUnavailable.into());
            }
        }
    };
    let Some(store) = kv else {
        return Ok(Admitted { caller, status: None });
    };
    let limits = Limits {
        per_minute: caller.per_minute.unwrap_or(config.rate_per_minute),
        per_day: caller.per_day.unwrap_or(config.rate_per_day),
    };
    let key = counter_key(&caller.id, now_ms);
    let stored = match store.get(&key).json::<Counter>().await {
        Ok(c) => c,
        Err(e) => {
            storage_failure(config, "rate limit read", e)?;
            return Ok(Admitted { caller, status: None });
        }
    };
    match decide(stored, now_ms, limits) {
        Decision::Reject {
            status,
            retry_after_secs,
        } => Err(Rejection {
            error: ApiError::RateLimited { retry_after_secs },
            status: Some(status),
        }),
        Decision::Allow {
            status,
            counter,
            ttl_secs,
        } => {
            if let Ok(put) = store.put(&key, counter) {
                let put = put.expiration_ttl(ttl_secs);
                ctx.wait_until(async move {
                    if let Err(e) = put.execute().await {
                        kv_failed("rate limit write", e);
                    }
                });
            }
            Ok(Admitted {
                caller,
                status: Some(status),
            })
        }
    }
}

/// Authenticates an `/admin/*` request against `ADMIN_TOKEN`, under the same
/// per-address failure budget.
pub async fn admit_admin(
    req: &Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    now_ms: u64,
) -> Result<KvStore, Rejection> {
    let Some(admin) = &config.admin_token else {
        return Err(ApiError::Forbidden(
            "The admin routes are disabled: the operator has not set ADMIN_TOKEN.",
        )
        .into());
    };
    let kv = env.kv("COACH_KV").map_err(|e| {
        kv_failed("binding", e);
        Rejection::from(ApiError::StorageUnavailable)
    })?;
    let budget = failure_budget(&kv, req, config, now_ms).await?;
    let kv = Some(kv);
    let header = req.headers().get("Authorization").ok().flatten();
    match parse_bearer(header.as_deref()) {
        Err(problem) => Err(reject(
            &budget,
            &kv,
            ctx,
            ApiError::Unauthorized(problem.message()),
        )),
        Ok(token) if match_static(token, std::slice::from_ref(admin)).is_some() => {
            kv.ok_or_else(|| ApiError::StorageUnavailable.into())
        }
        Ok(_) => Err(reject(&budget, &kv, ctx, ApiError::Unauthorized(UNKNOWN))),
    }
}
