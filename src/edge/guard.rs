//! The gate in front of `/api/*` and `/admin/*`, in three steps:
//!
//! 1. **Who is calling**: the bearer token, compared as a digest with the
//!    static `API_TOKENS`, or looked up in KV (through its edge cache) when
//!    it has the shape of an issued token; or a session key (in the header or
//!    in a prompt request's body), checked by its signature with no storage
//!    read (a revoked one is refused at step 3, where its state is read
//!    anyway). A valid credential is let through whoever else has failed from
//!    the same address.
//! 2. **A failure is counted**, per IPv4 address or IPv6 /64, by the Workers
//!    Rate Limiting binding `AUTH_FAILURE_LIMITER`: no KV write, so
//!    unauthenticated traffic cannot spend the account's KV writes. Over the
//!    budget, a failure is answered 429 instead of 401/403.
//! 3. **A caller is counted**: the minute window by the `CALLER_MINUTE_LIMITER`
//!    binding when it is configured, else in KV with the day; at most one KV
//!    write per allowed request. When KV fails, `KV_FAILURE_MODE` decides,
//!    for the write as for the read (see README): under `closed` the write
//!    runs beside the handler and must succeed before the response is sent.

use super::state;
use super::store::{self, Consequence};
use crate::core::access::address::ClientNetwork;
use crate::core::access::auth::{
    looks_issued, looks_like_session_key, parse_bearer, token_key, BearerProblem, Caller, TokenDigest,
    TokenId, TokenRecord, ADMIN_SHIPPED, ADMIN_SHORT, ADMIN_UNSET, REVOKED, UNKNOWN,
};
use crate::core::access::cache::TtlCache;
use crate::core::access::ratelimit::{
    counter_key, decide, Counter, Decision, Limits, Quota, BINDING_RETRY_AFTER_SECS,
};
use crate::core::access::session::{self, denied_key, KeyProblem, SessionClaims};
use crate::core::access::state::{Admission, Admit};
use crate::core::access::strength::Weakness;
use crate::core::coach::pacing::{PaceAsk, Paced};
use crate::core::config::{CallerStore, Config, KvFailurePolicy};
use crate::core::error::ApiError;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use worker::{console_warn, Context, Env, KvStore, Request};

/// Rate Limiting binding counting failed authentications (`[[ratelimits]]`).
pub const AUTH_FAILURE_LIMITER: &str = "AUTH_FAILURE_LIMITER";
/// Optional Rate Limiting binding counting each caller's minute window.
pub const CALLER_MINUTE_LIMITER: &str = "CALLER_MINUTE_LIMITER";
/// Rate Limiting binding counting session key requests per network.
pub const SESSION_KEY_LIMITER: &str = "SESSION_KEY_LIMITER";
/// The answer to a session key on a deployment that takes none.
const NO_SESSION_KEYS: &str =
    "This service does not accept session keys; ask its operator for an API token and send it as `Authorization: Bearer <token>`.";
/// Seconds a token record is served from KV's edge cache: KV's minimum
/// `cacheTtl`, 60 s (KV limits; source and date in data/SOURCES.md). A
/// revoked token may work that much longer.
const TOKEN_CACHE_TTL_SECS: u64 = 60;

thread_local! {
    /// Token records this isolate read lately, for as long as KV's own edge
    /// cache would serve them: a busy caller's requests then cost one KV read
    /// (the counter), not two. A revocation reaches a caller within
    /// `TOKEN_CACHE_TTL_SECS` of KV's cache plus as long again here.
    static TOKENS: std::cell::RefCell<TtlCache<TokenRecord>> =
        const { std::cell::RefCell::new(TtlCache::new(TOKEN_CACHE_TTL_SECS * 1000, 256)) };
}

/// A request turned away, with the `RateLimit-*` quota to report if known.
pub struct Rejection {
    pub error: ApiError,
    pub quota: Option<Quota>,
}

impl From<ApiError> for Rejection {
    fn from(error: ApiError) -> Self {
        Rejection { error, quota: None }
    }
}

/// A caller let through, with its quota (absent when nothing was counted),
/// the counter write still to confirm (KV), and what its state object knows.
pub struct Admitted {
    pub caller: Caller,
    /// What the caller's session key says, when that was the credential.
    pub session: Option<SessionClaims>,
    pub quota: Option<Quota>,
    pub counting: Counting,
    /// The lines said to this caller lately (its state object's memory).
    pub said: Vec<String>,
    /// `false` when the caller's daily allowance is spent.
    pub within_allowance: bool,
    /// The pacing's decision, when the request was paced in its state object.
    pub paced: Option<Paced>,
    /// The deployment's budget, as the caller's slice of it answered.
    pub budget: Option<state::DeploymentBudget>,
}

/// Who is calling, once the credential checked out.
pub struct Identified {
    pub caller: Caller,
    pub session: Option<SessionClaims>,
}

/// The counter write of an admitted request under `KV_FAILURE_MODE=closed`:
/// it runs beside the handler (so the model call does not wait for KV), and
/// the response is sent only if it succeeded. Nothing to confirm otherwise.
pub struct Counting(Option<PendingWrite>);

type PendingWrite = Pin<Box<dyn Future<Output = Result<(), ApiError>>>>;

impl Counting {
    fn nothing() -> Counting {
        Counting(None)
    }

    /// `Err(StorageUnavailable)` if the closed-policy write failed (logged).
    pub async fn confirmed(self) -> Result<(), ApiError> {
        match self.0 {
            Some(write) => write.await,
            None => Ok(()),
        }
    }
}

/// Authenticates and rate-limits a `/api/*` request that presented `token`
/// (from its `Authorization` header, or a prompt request's `sessionKey`).
pub async fn admit_api(
    req: &Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    now_ms: u64,
    token: Result<&str, BearerProblem>,
) -> Result<Admitted, Rejection> {
    let who = identify_caller(req, env, config, now_ms, token).await?;
    count(who, env, ctx, config, now_ms, 0.0, None).await
}

/// Checks the credential; a failure is counted against the caller's network.
pub async fn identify_caller(
    req: &Request,
    env: &Env,
    config: &Config,
    now_ms: u64,
    token: Result<&str, BearerProblem>,
) -> Result<Identified, Rejection> {
    match identify(token, env, config, now_ms).await? {
        Identity::Caller(caller, session) => Ok(Identified { caller, session }),
        Identity::Failed(failure) => Err(count_failure(req, env, failure).await),
    }
}

/// Counts an identified caller's request where `RATE_LIMIT_STORE` says: in
/// its state object (one round trip, which also returns its memory and sets
/// `estimate` neurons aside against its allowance) or in KV.
pub async fn count(
    who: Identified,
    env: &Env,
    ctx: &Context,
    config: &Config,
    now_ms: u64,
    estimate: f64,
    pace: Option<PaceAsk>,
) -> Result<Admitted, Rejection> {
    let Identified { caller, session } = who;
    if config.spending.store == CallerStore::Kv {
        if session.is_some() && denied_in_kv(&caller, env, config).await? {
            return Err(ApiError::Unauthorized(KeyProblem::Revoked.message()).into());
        }
        let (quota, counting) = count_request(&caller, env, ctx, config, now_ms).await?;
        return Ok(Admitted {
            caller,
            session,
            quota,
            counting,
            said: Vec::new(),
            within_allowance: true,
            paced: None,
            budget: None,
        });
    }
    let (admission, paced, budget, denied) =
        admit_in_state(&caller, env, config, now_ms, estimate, pace).await?;
    if denied {
        return Err(ApiError::Unauthorized(KeyProblem::Revoked.message()).into());
    }
    if let Some(retry_after_secs) = admission.retry_after_secs {
        return Err(Rejection {
            error: ApiError::RateLimited { retry_after_secs },
            quota: admission.quota,
        });
    }
    Ok(Admitted {
        caller,
        session,
        quota: admission.quota,
        counting: Counting::nothing(),
        said: admission.said,
        within_allowance: admission.within_allowance,
        paced,
        budget,
    })
}

/// One round trip to the caller's state object: the deny list read, the
/// request counted, the lines said lately, `estimate` set aside against the
/// allowance, and the pacing decided. An object that cannot be reached
/// follows `STATE_FAILURE_MODE` (open: served unpaced, and unchecked against
/// the deny list).
async fn admit_in_state(
    caller: &Caller,
    env: &Env,
    config: &Config,
    now_ms: u64,
    estimate: f64,
    pace: Option<PaceAsk>,
) -> Result<(Admission, Option<Paced>, Option<state::DeploymentBudget>, bool), Rejection> {
    let admit = Admit {
        now_ms,
        limits: Limits {
            per_minute: Some(caller.per_minute.unwrap_or(config.rate_per_minute)),
            per_day: caller.per_day.or(config.rate_per_day),
        },
        allowance: config.spending.caller_allowance,
        estimate,
    };
    // With the state objects, the deployment's budget is asked of the
    // caller's object too (its slice), in the same round trip.
    let ask = state::AdmitAsk {
        admit,
        pace,
        budget: config.spending.deployment_budget,
    };
    let answer: state::AdmitAnswer = match state::call(env, caller.id.as_str(), "/admit", &ask).await {
        Ok(Some(answer)) => answer,
        failed => {
            let detail = failed.err().map_or("no answer".to_string(), |e| e.to_string());
            console_warn!(
                "{}",
                json!({"event": "state_error", "during": "admit", "detail": detail, "state_failure_mode": format!("{:?}", config.spending.failure)})
            );
            if config.spending.failure == KvFailurePolicy::Closed {
                return Err(ApiError::StorageUnavailable.into());
            }
            state::AdmitAnswer {
                admission: Admission {
                    quota: None,
                    retry_after_secs: None,
                    said: Vec::new(),
                    within_allowance: true,
                },
                pace: None,
                budget: None,
                denied: false,
            }
        }
    };
    Ok((answer.admission, answer.pace, answer.budget, answer.denied))
}

/// Whether a session caller was revoked, with `RATE_LIMIT_STORE = "kv"`:
/// one KV read through its edge cache (as long as a token record's), so a
/// revocation holds within about three minutes everywhere (see
/// `TOKEN_CACHE_TTL_SECS`). A failed read follows `KV_FAILURE_MODE`.
async fn denied_in_kv(caller: &Caller, env: &Env, config: &Config) -> Result<bool, Rejection> {
    let read = match store::open(env) {
        Ok(kv) => kv
            .get(&denied_key(&caller.id))
            .cache_ttl(TOKEN_CACHE_TTL_SECS)
            .text()
            .await
            .map_err(worker::Error::from),
        Err(e) => Err(e),
    };
    match read {
        Ok(found) => Ok(found.is_some()),
        Err(e) => kv_failed(config, "deny list read", e).map(|_| false),
    }
}

/// Counts a session key request against the caller's network
/// (`SESSION_KEY_LIMITER`); 429 past the budget.
pub async fn limit_key_requests(req: &Request, env: &Env) -> Result<(), ApiError> {
    let key = format!("session-key:{}", client_network(req).key());
    match binding_allows(env, SESSION_KEY_LIMITER, key).await {
        true => Ok(()),
        false => Err(ApiError::RateLimited {
            retry_after_secs: BINDING_RETRY_AFTER_SECS,
        }),
    }
}

fn client_network(req: &Request) -> ClientNetwork {
    let ip = req.headers().get("CF-Connecting-IP").ok().flatten();
    ClientNetwork::from_header(ip.as_deref())
}

/// Authenticates an `/admin/*` request against `ADMIN_TOKEN`, under the same
/// failure budget, and opens KV for the admin routes.
pub async fn admit_admin(req: &Request, env: &Env, config: &Config) -> Result<KvStore, Rejection> {
    check_admin(req, env, &config.admin_token).await?;
    store::open(env).map_err(|e| {
        store::log_failure("binding", e, Consequence::Failed);
        ApiError::StorageUnavailable.into()
    })
}

/// Checks the `Authorization` header against `admin` (`ADMIN_TOKEN`), a
/// failure counted like any other. An unset or refused `ADMIN_TOKEN` turns
/// everything behind it away with 403 and what the operator must do.
pub async fn check_admin(
    req: &Request,
    env: &Env,
    admin: &Result<Option<TokenDigest>, Weakness>,
) -> Result<(), Rejection> {
    let admin = match admin {
        Ok(Some(admin)) => admin,
        Ok(None) => return Err(ApiError::Forbidden(ADMIN_UNSET).into()),
        Err(Weakness::Shipped) => return Err(ApiError::Forbidden(ADMIN_SHIPPED).into()),
        Err(Weakness::Short { .. }) => return Err(ApiError::Forbidden(ADMIN_SHORT).into()),
    };
    let failure = match parse_bearer(authorization(req).as_deref()) {
        Err(problem) => Some(ApiError::Unauthorized(problem.message())),
        Ok(token) if TokenDigest::of(token).matches(admin) => None,
        Ok(_) => Some(ApiError::Unauthorized(UNKNOWN)),
    };
    match failure {
        Some(failure) => Err(count_failure(req, env, failure).await),
        None => Ok(()),
    }
}

/// The `Authorization` header, if sent.
pub fn authorization(req: &Request) -> Option<String> {
    req.headers().get("Authorization").ok().flatten()
}

/// What the credentials of a request say.
enum Identity {
    /// A caller, with its session key's claims when that was the credential.
    Caller(Caller, Option<SessionClaims>),
    /// An authentication failure, to be counted: the 401 or 403 to answer.
    Failed(ApiError),
}

/// Drops this isolate's copy of a token record (it was just revoked here).
pub fn forget_token(key: &str) {
    TOKENS.with(|t| t.borrow_mut().remove(key));
}

/// A session key's caller, checked by its signature alone.
fn session_identity(key: &str, config: &Config, now_ms: u64) -> Identity {
    let Some(ring) = config.session_keys.keyring() else {
        return Identity::Failed(ApiError::Unauthorized(NO_SESSION_KEYS));
    };
    match session::verify(ring, key, now_ms / 1000) {
        Ok(claims) => Identity::Caller(
            Caller {
                name: "session".to_string(),
                id: TokenId::session(claims.subject()),
                per_minute: None,
                per_day: None,
            },
            Some(claims),
        ),
        Err(problem) => Identity::Failed(ApiError::Unauthorized(problem.message())),
    }
}

/// The record of an issued token: this isolate's copy when fresh, else KV's
/// (through its edge cache). Without KV no per-user token can be checked,
/// whatever the policy: `Err` (503).
async fn token_record(key: &str, env: &Env) -> Result<worker::Result<Option<TokenRecord>>, ApiError> {
    let now = worker::js_sys::Date::now() as u64;
    if let Some(record) = TOKENS.with(|t| t.borrow_mut().get(key, now)) {
        return Ok(Ok(Some(record)));
    }
    let kv = store::open(env).map_err(|e| {
        store::log_failure("binding", e, Consequence::Failed);
        ApiError::StorageUnavailable
    })?;
    let read = kv
        .get(key)
        .cache_ttl(TOKEN_CACHE_TTL_SECS)
        .json::<TokenRecord>()
        .await
        .map_err(worker::Error::from);
    if let Ok(Some(record)) = &read {
        TOKENS.with(|t| t.borrow_mut().put(key.to_string(), record.clone(), now));
    }
    Ok(read)
}

/// Who is calling; `Err` (503) when a per-user token cannot be checked.
async fn identify(
    token: Result<&str, BearerProblem>,
    env: &Env,
    config: &Config,
    now_ms: u64,
) -> Result<Identity, ApiError> {
    let token = match token {
        Ok(token) => token,
        Err(problem) => return Ok(Identity::Failed(ApiError::Unauthorized(problem.message()))),
    };
    if looks_like_session_key(token) {
        return Ok(session_identity(token, config, now_ms));
    }
    let digest = TokenDigest::of(token);
    if let Some(place) = config.api_tokens.find(&digest) {
        return Ok(Identity::Caller(
            Caller {
                name: format!("static-{place}"),
                id: digest.id(),
                per_minute: None,
                per_day: None,
            },
            None,
        ));
    }
    if !looks_issued(token) {
        return Ok(Identity::Failed(ApiError::Unauthorized(UNKNOWN)));
    }
    let lookup = token_record(&token_key(&digest), env).await?;
    match lookup {
        Ok(Some(record)) if record.revoked => Ok(Identity::Failed(ApiError::Forbidden(REVOKED))),
        Ok(Some(record)) => Ok(Identity::Caller(
            Caller {
                name: record.name,
                id: digest.id(),
                per_minute: record.per_minute,
                per_day: record.per_day,
            },
            None,
        )),
        Ok(None) => Ok(Identity::Failed(ApiError::Unauthorized(UNKNOWN))),
        Err(e) => {
            store::log_failure("token lookup", e, Consequence::Failed);
            Err(ApiError::StorageUnavailable)
        }
    }
}

/// Logs, once per isolate, that a Rate Limiting binding is missing.
fn report_missing_limiter(name: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static AUTH: AtomicBool = AtomicBool::new(false);
    static KEYS: AtomicBool = AtomicBool::new(false);
    let (reported, what) = if name == SESSION_KEY_LIMITER {
        (&KEYS, "session key requests")
    } else {
        (&AUTH, "failed authentications")
    };
    if !reported.swap(true, Ordering::Relaxed) {
        console_warn!(
            "{}",
            json!({"event": "config_warning", "problem": format!("no {name} binding: {what} are not limited; see wrangler.toml [[ratelimits]]")})
        );
    }
}

/// Counts a failed authentication against the caller's network and returns
/// what to answer: `failure` itself, or 429 once the budget is spent.
async fn count_failure(req: &Request, env: &Env, failure: ApiError) -> Rejection {
    let key = client_network(req).key();
    match binding_allows(env, AUTH_FAILURE_LIMITER, key).await {
        true => failure.into(),
        false => ApiError::RateLimited {
            retry_after_secs: BINDING_RETRY_AFTER_SECS,
        }
        .into(),
    }
}

/// Counts `key` in the Rate Limiting binding `name`: `false` past its limit.
/// A missing binding (reported once) or a failing one (logged) counts
/// nothing and allows: a refusal is never invented.
async fn binding_allows(env: &Env, name: &str, key: String) -> bool {
    let Ok(limiter) = env.rate_limiter(name) else {
        report_missing_limiter(name);
        return true;
    };
    match limiter.limit(key).await {
        Ok(outcome) => outcome.success,
        Err(e) => {
            console_warn!(
                "{}",
                json!({"event": "rate_limiter_error", "binding": name, "detail": e.to_string()})
            );
            true
        }
    }
}

/// What counting found: the quota to report, and the write to confirm.
type Counted = (Option<Quota>, Counting);

/// Applies `KV_FAILURE_MODE` to a failed KV read of the counting.
fn kv_failed(config: &Config, during: &str, err: impl std::fmt::Display) -> Result<Counted, Rejection> {
    store::log_failure(during, err, Consequence::Policy(config.kv_failure));
    match config.kv_failure {
        KvFailurePolicy::Open => Ok((None, Counting::nothing())),
        KvFailurePolicy::Closed => Err(ApiError::StorageUnavailable.into()),
    }
}

/// Counts one request of an authenticated caller against its limits.
async fn count_request(
    caller: &Caller,
    env: &Env,
    ctx: &Context,
    config: &Config,
    now_ms: u64,
) -> Result<Counted, Rejection> {
    // A token's own per-minute limit is counted in KV: the binding's limit is one number for all.
    let binding_counts_minute =
        caller.per_minute.is_none() && env.rate_limiter(CALLER_MINUTE_LIMITER).is_ok();
    if binding_counts_minute
        && !binding_allows(env, CALLER_MINUTE_LIMITER, format!("caller:{}", caller.id)).await
    {
        return Err(ApiError::RateLimited {
            retry_after_secs: BINDING_RETRY_AFTER_SECS,
        }
        .into());
    }
    let limits = Limits {
        per_minute: match binding_counts_minute {
            true => None,
            false => Some(caller.per_minute.unwrap_or(config.rate_per_minute)),
        },
        per_day: caller.per_day.or(config.rate_per_day),
    };
    if !limits.any() {
        return Ok((None, Counting::nothing()));
    }
    let kv = match store::open(env) {
        Ok(kv) => kv,
        Err(e) => return kv_failed(config, "binding", e),
    };
    let key = counter_key(caller.id.as_str(), now_ms);
    let stored = match kv.get(&key).json().await {
        Ok(stored) => stored,
        Err(e) => return kv_failed(config, "rate limit read", e),
    };
    match decide(stored, now_ms, limits) {
        Decision::Reject {
            quota,
            retry_after_secs,
        } => Err(Rejection {
            error: ApiError::RateLimited { retry_after_secs },
            quota: Some(quota),
        }),
        Decision::Allow {
            quota,
            counter,
            ttl_secs,
        } => Ok((
            Some(quota),
            write_counter(kv, &key, counter, ttl_secs, ctx, config),
        )),
    }
}

/// Starts writing an allowed request's counter as `KV_FAILURE_MODE` says:
/// `closed` hands the write back to be confirmed before the response; `open`
/// writes off the response path (`waitUntil`) and only logs a failure.
fn write_counter(
    kv: KvStore,
    key: &str,
    counter: Counter,
    ttl_secs: u64,
    ctx: &Context,
    config: &Config,
) -> Counting {
    let put = store::put_json(&kv, key, &counter).map(|put| put.expiration_ttl(ttl_secs));
    let policy = config.kv_failure;
    let write = async move {
        let written = match put {
            Ok(put) => put.execute().await,
            Err(e) => Err(e),
        };
        written.map_err(|e| store::log_failure("rate limit write", e, Consequence::Policy(policy)))
    };
    match policy {
        KvFailurePolicy::Closed => Counting(Some(Box::pin(async move {
            write.await.map_err(|()| ApiError::StorageUnavailable)
        }))),
        KvFailurePolicy::Open => {
            ctx.wait_until(async move {
                let _ = write.await;
            });
            Counting::nothing()
        }
    }
}
