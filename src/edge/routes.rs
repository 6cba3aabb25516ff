//! The routes of the API, listed once: which path is which route, the name
//! the log gives it, and the methods it answers; then [`dispatch`] and the
//! small handlers, one per route, that read like the contract. A method a
//! route does not list is answered 405 with `Allow`, whatever its name
//! (workers-rs reads an unknown method such as `QUERY` as `GET`, so the raw
//! method is used here). `POST /api/generate-prompt` has its own module,
//! [`super::generate`]; `/admin/tokens` and the session key revocation,
//! [`super::admin`].

use super::{admin, generate, guard, http, state, store, ConfigResult, Trace};
use crate::core::access::auth::parse_bearer;
use crate::core::access::session::{self, KeyRequest};
use crate::core::config::{self, Config, SessionKeys};
use crate::core::error::ApiError;
use crate::core::ops::health;
use serde_json::json;
use worker::{console_error, Context, Env, Request, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    GeneratePrompt,
    Models,
    /// The coach frontend's model list (public).
    GetModels,
    /// The coach frontend's session keys (public).
    GetSessionKey,
    Healthz,
    OpenApi,
    AdminTokens,
    /// `GET /admin/usage`: what each caller spent, per model and day.
    AdminUsage,
    /// `/admin/tokens/{id}`, with the id as sent.
    AdminToken(String),
    /// `POST /admin/session-keys/revoke`: one session key subject refused.
    AdminRevokeSession,
    /// Any other `/admin/` path: still behind the admin token.
    AdminOther,
    NotFound,
}

/// The methods the API knows; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Delete,
    Options,
    Other,
}

impl Verb {
    pub fn of(req: &Request) -> Verb {
        match req.inner().method().as_str() {
            "GET" => Verb::Get,
            "POST" => Verb::Post,
            "DELETE" => Verb::Delete,
            "OPTIONS" => Verb::Options,
            _ => Verb::Other,
        }
    }
}

impl Route {
    pub fn of(path: &str) -> Route {
        match path {
            "/api/generate-prompt" => Route::GeneratePrompt,
            "/api/models" => Route::Models,
            "/api/get-models" => Route::GetModels,
            "/api/get-session-key" => Route::GetSessionKey,
            "/healthz" => Route::Healthz,
            "/openapi.json" => Route::OpenApi,
            "/admin/tokens" => Route::AdminTokens,
            "/admin/usage" => Route::AdminUsage,
            "/admin/session-keys/revoke" => Route::AdminRevokeSession,
            p => match p.strip_prefix("/admin/tokens/") {
                Some(id) if !id.is_empty() && !id.contains('/') => Route::AdminToken(id.to_string()),
                _ if p.starts_with("/admin/") => Route::AdminOther,
                _ => Route::NotFound,
            },
        }
    }

    /// The route as the log names it: a template, never the path itself
    /// (it is the caller's text).
    pub fn name(&self) -> &'static str {
        match self {
            Route::GeneratePrompt => "/api/generate-prompt",
            Route::Models => "/api/models",
            Route::GetModels => "/api/get-models",
            Route::GetSessionKey => "/api/get-session-key",
            Route::Healthz => "/healthz",
            Route::OpenApi => "/openapi.json",
            Route::AdminTokens => "/admin/tokens",
            Route::AdminUsage => "/admin/usage",
            Route::AdminToken(_) => "/admin/tokens/{id}",
            Route::AdminRevokeSession => "/admin/session-keys/revoke",
            Route::AdminOther | Route::NotFound => "unmatched",
        }
    }

    /// The methods the route answers (besides `OPTIONS` where browsers call).
    pub fn allow(&self) -> &'static str {
        match self {
            Route::GeneratePrompt | Route::GetSessionKey => "POST, OPTIONS",
            Route::Models | Route::GetModels => "GET, OPTIONS",
            Route::Healthz | Route::OpenApi => "GET, OPTIONS",
            Route::AdminTokens => "GET, POST",
            Route::AdminUsage => "GET",
            Route::AdminToken(_) => "DELETE",
            Route::AdminRevokeSession => "POST",
            Route::AdminOther | Route::NotFound => "",
        }
    }

    /// Whether `verb` is one of [`allow`](Self::allow)'s.
    pub fn answers(&self, verb: Verb) -> bool {
        let name = match verb {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
            Verb::Options => "OPTIONS",
            Verb::Other => return false,
        };
        self.allow().split(", ").any(|m| m == name)
    }
}

/// The OpenAPI document of this API, checked in beside the code
/// (`src/openapi.json`), as build.rs writes it: without the whitespace between
/// its tokens.
const OPENAPI: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// `GET /healthz` and `GET /openapi.json`: no KV, no model. Without
/// credentials `/healthz` says only whether the Worker can serve; with
/// `Authorization: Bearer <ADMIN_TOKEN>`, the whole report. `ADMIN_TOKEN` is
/// read on its own when the rest of the configuration cannot be, so the
/// report still reaches the admin then.
pub async fn public(
    req: &Request,
    env: &Env,
    route: &Route,
    config: &ConfigResult,
) -> Result<Response, ApiError> {
    match Verb::of(req) {
        Verb::Get => {}
        Verb::Options => return http::empty(204),
        _ => return Err(ApiError::MethodNotAllowed { allow: route.allow() }),
    }
    if *route == Route::OpenApi {
        return http::static_json(OPENAPI);
    }
    let now_secs = worker::js_sys::Date::now() as u64 / 1000;
    let report = health::report(env!("CARGO_PKG_VERSION"), bindings(env), config, now_secs);
    if guard::authorization(req).is_none() {
        return http::json(200, &health::public(&report));
    }
    let admin = match config {
        Ok(config) => config.admin_token,
        Err(_) => config::admin_token(&|name| super::lookup(env, name)),
    };
    guard::check_admin(req, env, &admin).await.map_err(|r| r.error)?;
    http::json(200, &report)
}

/// Which bindings the Worker finds in its environment.
fn bindings(env: &Env) -> health::Bindings {
    health::Bindings {
        ai: env.ai("AI").is_ok(),
        kv: store::open(env).is_ok(),
        caller_state: env.durable_object(state::BINDING).is_ok(),
        auth_failure_limiter: env.rate_limiter(guard::AUTH_FAILURE_LIMITER).is_ok(),
        caller_minute_limiter: env.rate_limiter(guard::CALLER_MINUTE_LIMITER).is_ok(),
        session_key_limiter: env.rate_limiter(guard::SESSION_KEY_LIMITER).is_ok(),
    }
}

/// Sends a request to its route's handler. A CORS preflight needs no
/// credentials (its headers are added on the way out); a method the route
/// does not list is 405 before anything else is read, except on `/admin/`,
/// which says nothing before the admin token.
pub async fn dispatch(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    route: &Route,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let verb = Verb::of(req);
    let now_ms = trace.started_ms as u64;
    if matches!(
        route,
        Route::AdminTokens
            | Route::AdminUsage
            | Route::AdminToken(_)
            | Route::AdminRevokeSession
            | Route::AdminOther
    ) {
        let kv = guard::admit_admin(req, env, config)
            .await
            .map_err(|r| trace.rejected(r))?;
        trace.caller = Some("admin".to_string());
        return match route {
            Route::AdminOther => Err(ApiError::NotFound),
            _ if !route.answers(verb) => Err(ApiError::MethodNotAllowed { allow: route.allow() }),
            Route::AdminUsage => admin::usage(req, env, config, now_ms).await,
            Route::AdminRevokeSession => admin::revoke_session(req, env, config, &kv, now_ms).await,
            _ => admin::route(req, &kv, now_ms).await,
        };
    }
    if *route == Route::NotFound {
        // Under /api/ a caller learns that a route is missing only with credentials.
        if trace.route == "unmatched" && req.path().starts_with("/api/") {
            let header = guard::authorization(req);
            let admitted = guard::admit_api(req, env, ctx, config, now_ms, parse_bearer(header.as_deref()))
                .await
                .map_err(|r| trace.rejected(r))?;
            trace.admitted(&admitted);
            admitted.counting.confirmed().await?;
        }
        return Err(ApiError::NotFound);
    }
    if !route.answers(verb) {
        return Err(ApiError::MethodNotAllowed { allow: route.allow() });
    }
    if verb == Verb::Options {
        return http::empty(204);
    }
    match route {
        Route::GeneratePrompt => generate::generate_prompt(req, env, ctx, config, trace).await,
        Route::Models => models(req, env, ctx, config, trace).await,
        Route::GetModels => http::json(200, &config.registry.menu()),
        Route::GetSessionKey => get_session_key(req, env, config, now_ms).await,
        _ => Err(ApiError::NotFound),
    }
}

/// `GET /api/models`: the offered models, for a caller with credentials.
async fn models(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let header = guard::authorization(req);
    let admitted = guard::admit_api(
        req,
        env,
        ctx,
        config,
        trace.started_ms as u64,
        parse_bearer(header.as_deref()),
    )
    .await
    .map_err(|r| trace.rejected(r))?;
    trace.admitted(&admitted);
    let listing = http::json(200, &config.registry.listing());
    admitted.counting.confirmed().await.and(listing)
}

/// `POST /api/get-session-key`: a signed key for the broadcaster the body
/// names, under `SESSION_KEYS`, at most as often as `SESSION_KEY_LIMITER`
/// allows the caller's network.
async fn get_session_key(
    req: &mut Request,
    env: &Env,
    config: &Config,
    now_ms: u64,
) -> Result<Response, ApiError> {
    let ring = match &config.session_keys {
        SessionKeys::Off => return Err(ApiError::SessionKeysOff),
        SessionKeys::Open(Err(problem)) => {
            // The answer only says "misconfigured"; the log names the var (so does /healthz).
            console_error!(
                "{}",
                json!({"event": "config_error", "problem": problem.to_string()})
            );
            return Err(ApiError::Misconfigured);
        }
        SessionKeys::Open(Ok(ring)) => ring,
    };
    guard::limit_key_requests(req, env).await?;
    let body = http::json_body(req).await?;
    let asked = KeyRequest::from_json(&body)?;
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).map_err(|e| ApiError::internal("getrandom", e))?;
    let issued = session::issue(ring, asked.broadcaster.as_str(), random, now_ms / 1000);
    http::json(
        200,
        &json!({"sessionKey": issued.key, "expiresAt": issued.expires_at}),
    )
}
