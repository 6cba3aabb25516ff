//! Token administration for the operator, behind `ADMIN_TOKEN`:
//! `POST /admin/tokens` issues a per-user token (shown once, stored only as its
//! SHA-256), `GET /admin/tokens` lists them, `DELETE /admin/tokens/<id>`
//! revokes one.

use super::http;
use crate::core::auth::{hex, token_hash, token_key, NewToken, TokenRecord};
use crate::core::error::ApiError;
use crate::core::time::format_rfc3339;
use serde_json::{json, Value};
use worker::{console_log, console_warn, KvStore, Method, Request, Response};

const PREFIX: &str = "token:";

fn storage(e: impl std::fmt::Display) -> ApiError {
    console_warn!(
        "{}",
        json!({"event": "kv_error", "during": "admin", "detail": e.to_string()})
    );
    ApiError::StorageUnavailable
}

fn describe(hash: &str, r: &TokenRecord) -> Value {
    json!({
        "id": hash.get(..12).unwrap_or(hash),
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
    getrandom::fill(&mut secret).map_err(|_| ApiError::Internal)?;
    let token = format!("ck_{}", hex(&secret));
    let hash = token_hash(&token);
    let record = TokenRecord {
        name: new.name,
        created_at: format_rfc3339(now_ms as i64),
        per_minute: new.per_minute,
        per_day: new.per_day,
        revoked: false,
    };
    kv.put(&token_key(&hash), &record)
        .map_err(storage)?
        .execute()
        .await
        .map_err(storage)?;
    console_log!(
        "{}",
        json!({"event": "token_issued", "name": record.name, "id": &hash[..12]})
    );
    let mut body = describe(&hash, &record);
    body["token"] = json!(token);
    http::json(201, &body)
}

async fn list(kv: &KvStore) -> Result<Response, ApiError> {
    let mut tokens = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = kv.list().prefix(PREFIX.to_string());
        if let Some(c) = cursor.take() {
            query = query.cursor(c);
        }
        let page = query.execute().await.map_err(storage)?;
        for key in &page.keys {
            let hash = &key.name[PREFIX.len()..];
            if let Some(record) = kv.get(&key.name).json::<TokenRecord>().await.map_err(storage)? {
                tokens.push(describe(hash, &record));
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
        .prefix(format!("{PREFIX}{}", id.to_ascii_lowercase()))
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
    kv.put(&key, &record)
        .map_err(storage)?
        .execute()
        .await
        .map_err(storage)?;
    let hash = &key[PREFIX.len()..];
    console_log!(
        "{}",
        json!({"event": "token_revoked", "name": record.name, "id": hash.get(..12).unwrap_or(hash)})
    );
    http::json(200, &describe(hash, &record))
}
