//! Token administration for the operator, behind `ADMIN_TOKEN`:
//! `POST /admin/tokens` issues a per-user token (shown once, stored only as its
//! SHA-256), `GET /admin/tokens` lists them, `DELETE /admin/tokens/<id>`
//! revokes one. Each record is also its key's KV metadata, so the listing
//! reads names and limits from `list()` alone, with no read per token.
//! `GET /admin/usage` reports what callers spent, from the state objects.
//! `POST /admin/session-keys/revoke` puts one session key subject on the deny
//! list, where the request path reads it anyway: the caller's state object,
//! or KV with `RATE_LIMIT_STORE = "kv"`.

use super::http;
use super::state;
use super::store::{self, Consequence};
use crate::core::access::auth::{
    hash_of_key, issued_token, token_key, NewToken, TokenDigest, TokenId, TokenRecord, TOKEN_KEY_PREFIX,
};
use crate::core::access::session::{denied_key, RevokeRequest};
use crate::core::access::usage::price_list;
use crate::core::access::usage::{period, report, DaySpend, UsageRow};
use crate::core::config::{CallerStore, Config};
use crate::core::error::ApiError;
use crate::core::text::query_value;
use crate::core::time::format_rfc3339;
use serde_json::{json, Value};
use worker::{console_log, console_warn, Env, KvStore, Method, Request, Response};

fn storage(e: impl std::fmt::Display) -> ApiError {
    store::log_failure("admin", e, Consequence::Failed);
    ApiError::StorageUnavailable
}

/// Writes a token record as the value and as the key's list metadata.
async fn save(kv: &KvStore, key: &str, record: &TokenRecord) -> Result<(), ApiError> {
    store::put_json(kv, key, record)
        .and_then(|put| put.metadata(record))
        .map_err(storage)?
        .execute()
        .await
        .map_err(storage)
}

/// The admin view of a token record (what `GET /admin/tokens` lists).
fn token_view(id: &TokenId, r: &TokenRecord) -> Value {
    json!({
        "id": id,
        "name": r.name,
        "created_at": r.created_at,
        "per_minute": r.per_minute,
        "per_day": r.per_day,
        "revoked": r.revoked,
    })
}

pub async fn route(req: &mut Request, kv: &KvStore, now_ms: u64) -> Result<Response, ApiError> {
    let path = req.path();
    let rest = path.strip_prefix("/admin/tokens").ok_or(ApiError::NotFound)?;
    match (rest, rest.strip_prefix('/'), req.method()) {
        ("", _, Method::Post) => issue(req, kv, now_ms).await,
        ("", _, Method::Get) => list(kv).await,
        ("", _, _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
        (_, Some(id), Method::Delete) if !id.is_empty() => revoke(kv, id).await,
        (_, Some(id), _) if !id.is_empty() => Err(ApiError::MethodNotAllowed { allow: "DELETE" }),
        _ => Err(ApiError::NotFound),
    }
}

async fn issue(req: &mut Request, kv: &KvStore, now_ms: u64) -> Result<Response, ApiError> {
    let body = http::json_body(req).await?;
    let new = NewToken::from_json(&body)?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| ApiError::internal("getrandom", e))?;
    let token = issued_token(&secret);
    let digest = TokenDigest::of(&token);
    let record = TokenRecord {
        name: new.name,
        created_at: format_rfc3339(now_ms as i64),
        per_minute: new.per_minute,
        per_day: new.per_day,
        revoked: false,
    };
    save(kv, &token_key(&digest), &record).await?;
    console_log!(
        "{}",
        json!({"event": "token_issued", "name": record.name, "id": digest.id()})
    );
    let mut body = token_view(&digest.id(), &record);
    body["token"] = json!(token);
    http::json(201, &body)
}

async fn list(kv: &KvStore) -> Result<Response, ApiError> {
    let mut tokens = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = kv.list().prefix(TOKEN_KEY_PREFIX.to_string());
        if let Some(c) = cursor.take() {
            query = query.cursor(c);
        }
        let page = query.execute().await.map_err(storage)?;
        for key in &page.keys {
            let Some(hash) = hash_of_key(&key.name) else {
                continue;
            };
            let from_metadata = key
                .metadata
                .clone()
                .and_then(|m| serde_json::from_value::<TokenRecord>(m).ok());
            let record = match from_metadata {
                Some(record) => Some(record),
                // Written before records carried metadata: one read.
                None => kv.get(&key.name).json::<TokenRecord>().await.map_err(storage)?,
            };
            if let Some(record) = record {
                tokens.push(token_view(&TokenId::from_hash(hash), &record));
            }
        }
        match page.cursor {
            Some(c) if !page.list_complete => cursor = Some(c),
            _ => break,
        }
    }
    http::json(200, &json!({ "tokens": tokens }))
}

async fn revoke(kv: &KvStore, id: &str) -> Result<Response, ApiError> {
    if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid(
            "id",
            "must be the token's id from GET /admin/tokens (at least 8 hex digits)",
        ));
    }
    let page = kv
        .list()
        .prefix(format!("{TOKEN_KEY_PREFIX}{}", id.to_ascii_lowercase()))
        .limit(2)
        .execute()
        .await
        .map_err(storage)?;
    let key = match page.keys.as_slice() {
        [] => return Err(ApiError::NoSuchToken),
        [one] => one.name.clone(),
        _ => {
            return Err(ApiError::invalid(
                "id",
                "matches more than one token; give more of it",
            ))
        }
    };
    let mut record = kv
        .get(&key)
        .json::<TokenRecord>()
        .await
        .map_err(storage)?
        .ok_or(ApiError::NoSuchToken)?;
    record.revoked = true;
    save(kv, &key, &record).await?;
    super::guard::forget_token(&key);
    let id = TokenId::from_hash(hash_of_key(&key).unwrap_or_default());
    console_log!(
        "{}",
        json!({"event": "token_revoked", "name": record.name, "id": id})
    );
    http::json(200, &token_view(&id, &record))
}

/// `GET /admin/usage?day=` or `?from=&to=`: what each caller spent, per model
/// and day, from the deployment's state object, with the budgets left.
pub async fn usage(req: &Request, env: &Env, config: &Config, now_ms: u64) -> Result<Response, ApiError> {
    let url = req.inner().url();
    let get = |name: &str| query_value(&url, name);
    let today = state::day_name(now_ms);
    let (from, to) = period(get("day"), get("from"), get("to"), &today)?;
    if config.spending.store != CallerStore::DurableObject {
        return Err(ApiError::invalid(
            "RATE_LIMIT_STORE",
            "is kv on this deployment; usage is counted only with the Durable Object store (do)",
        ));
    }
    let found = state::usage(env, &from, &to).await.map_err(|e| {
        console_warn!(
            "{}",
            json!({"event": "state_error", "during": "usage", "detail": e.to_string()})
        );
        ApiError::StorageUnavailable
    })?;
    let rows: Vec<UsageRow> = serde_json::from_value(found["rows"].clone()).unwrap_or_default();
    let days: Vec<DaySpend> = serde_json::from_value(found["days"].clone()).unwrap_or_default();
    let offered: Vec<_> = config
        .registry
        .models()
        .iter()
        .map(|m| (m.id(), m.entry().price.as_ref()))
        .collect();
    let mut body = report(
        &rows,
        &days,
        (
            config.spending.deployment_budget,
            config.spending.caller_allowance,
        ),
        price_list(&config.spending.prices, &offered),
        &today,
    );
    // Requests the deployment's object served (slice asks and reports), per day.
    body["deployment_requests"] = found["asks"].clone();
    body["from"] = json!(from);
    body["to"] = json!(to);
    http::json(200, &body)
}

/// `POST /admin/session-keys/revoke` `{"subject"}`: every key of that subject
/// (renewals included) is refused from the next request on; other keys are
/// not touched. Idempotent.
pub async fn revoke_session(
    req: &mut Request,
    env: &Env,
    config: &Config,
    kv: &KvStore,
    now_ms: u64,
) -> Result<Response, ApiError> {
    let body = http::json_body(req).await?;
    let caller = RevokeRequest::from_json(&body)?.caller;
    match config.spending.store {
        CallerStore::DurableObject => state::deny(env, caller.as_str(), now_ms).await.map_err(|e| {
            console_warn!(
                "{}",
                json!({"event": "state_error", "during": "revoke", "detail": e.to_string()})
            );
            ApiError::StorageUnavailable
        })?,
        CallerStore::Kv => store::put_json(kv, &denied_key(&caller), &json!({ "at": now_ms }))
            .map_err(storage)?
            .execute()
            .await
            .map_err(storage)?,
    }
    console_log!("{}", json!({"event": "session_revoked", "subject": caller}));
    http::json(200, &json!({ "subject": caller, "revoked": true }))
}
