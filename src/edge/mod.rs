//! The edge: the Worker's fetch entry point. Reads the configuration once,
//! routes, runs the handlers (which read like the API contract), and writes
//! one log line per request. Decisions live in [`crate::core`].

mod admin;
mod backends;
mod clock;
mod guard;
mod http;
mod routes;
mod store;

use crate::core::access::auth::{parse_bearer, BearerProblem};
use crate::core::access::cors;
use crate::core::access::ratelimit::Quota;
use crate::core::access::session::{self, KeyRequest};
use crate::core::coach::streaming::{open_stream, Opened, StreamEvent};
use crate::core::coach::{coach, Answer, FailedCall};
use crate::core::config::{Config, SessionKeys};
use crate::core::error::ApiError;
use crate::core::llm::protocol::workers_ai::Usage;
use crate::core::ops::health;
use crate::core::ops::request_id;
use crate::core::request::{parse_object, CoachRequest};
use backends::timed::Timed;
use backends::{AnyStream, Backends};
use clock::WorkersClock;
use routes::{Route, Verb};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use worker::js_sys::Reflect;
use worker::wasm_bindgen::JsValue;
use worker::{console_error, console_log, event, Context, Env, Request, Response};

/// A var or secret as a string (numbers and booleans in `[vars]` included).
fn lookup(env: &Env, name: &str) -> Option<String> {
    let value = Reflect::get(env.as_ref(), &JsValue::from_str(name)).ok()?;
    if let Some(s) = value.as_string() {
        return Some(s);
    }
    if let Some(n) = value.as_f64() {
        return Some(n.to_string());
    }
    value.as_bool().map(|b| b.to_string())
}

/// One request on its way through: its id, and what the log line says
/// beyond method, route and status and what the response must report.
#[derive(Default)]
struct Trace {
    id: String,
    route: &'static str,
    started_ms: f64,
    caller: Option<String>,
    rate: Option<Quota>,
    /// The model the request resolved to (the head of its chain).
    requested_model: Option<String>,
    /// The model that answered, or `rules`.
    model: Option<String>,
    /// The retired model the caller asked for, when a successor served it.
    retired_model: Option<String>,
    fallback: bool,
    /// The answer went out as server-sent events.
    streamed: bool,
    failures: Vec<FailedCall>,
    /// Wall time spent waiting on model calls (for a stream: until it opened).
    model_ms: Cell<f64>,
    usage: Option<Usage>,
}

impl Trace {
    fn start(req: &Request) -> Trace {
        let sent = req.headers().get(request_id::HEADER).ok().flatten();
        let id = request_id::choose(sent.as_deref(), || {
            let mut random = [0u8; 16];
            if getrandom::fill(&mut random).is_err() {
                random[..8].copy_from_slice(&worker::js_sys::Date::now().to_bits().to_le_bytes());
            }
            request_id::fresh(random)
        });
        Trace {
            id,
            started_ms: worker::js_sys::Date::now(),
            ..Trace::default()
        }
    }

    /// Who was let in, and their rate-limit status for the response headers.
    fn admitted(&mut self, admitted: &guard::Admitted) {
        self.rate = admitted.quota;
        self.caller = Some(format!("{} ({})", admitted.caller.name, admitted.caller.id));
    }

    /// Keeps a rejection's rate-limit status for the response headers.
    fn rejected(&mut self, r: guard::Rejection) -> ApiError {
        self.rate = r.quota;
        r.error
    }
}

fn failure_json(f: &FailedCall) -> serde_json::Value {
    json!({"model": f.model, "kind": f.failure.label, "code": f.failure.code})
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    console_error_panic_hook::set_once();
    let mut trace = Trace::start(&req);
    let config = config_of(&env, trace.started_ms as i64);
    let config = config.as_ref();
    let route = Route::of(&req.path());
    trace.route = route.name();
    let outcome = match (&route, &config) {
        // Served even when the configuration is unusable: they are how an operator finds out.
        (Route::Healthz | Route::OpenApi, _) => public(&req, &env, &route, config),
        (_, Ok(config)) => {
            report_model_problems(config);
            dispatch(&mut req, &env, &ctx, config, &route, &mut trace).await
        }
        (_, Err(problem)) => {
            console_error!(
                "{}",
                json!({"event": "config_error", "request_id": trace.id, "problem": problem})
            );
            Err(ApiError::Misconfigured)
        }
    };
    finish(outcome, &req, &trace, config.as_ref().ok())
}

type ConfigResult = Result<Config, String>;

/// The configuration, read once per isolate and UTC day: vars and secrets
/// cannot change under a running isolate (a new version gets new isolates),
/// and the day decides which catalogued models are retired.
fn config_of(env: &Env, now_ms: i64) -> Rc<ConfigResult> {
    thread_local! {
        static CACHED: RefCell<Option<(i64, Rc<ConfigResult>)>> = const { RefCell::new(None) };
    }
    let day = now_ms.div_euclid(86_400_000);
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        match &*cached {
            Some((d, config)) if *d == day => config.clone(),
            _ => {
                let config = Rc::new(Config::from_lookup(&|name| lookup(env, name), now_ms));
                *cached = Some((day, config.clone()));
                config
            }
        }
    })
}

/// The one way out: the error response if it failed, then the headers every
/// response carries (`X-Request-Id`, `RateLimit-*` when counted, CORS when the
/// configuration is known), then the request's log line.
fn finish(
    outcome: Result<Response, ApiError>,
    req: &Request,
    trace: &Trace,
    config: Option<&Config>,
) -> worker::Result<Response> {
    let (mut resp, code) = match outcome {
        Ok(resp) => (resp, None),
        Err(e) => (http::error(&e)?, Some(e.code())),
    };
    let mut headers = vec![(request_id::HEADER, trace.id.clone())];
    if let Some(rate) = trace.rate {
        headers.push(("RateLimit-Limit", rate.limit.to_string()));
        headers.push(("RateLimit-Remaining", rate.remaining.to_string()));
        headers.push(("RateLimit-Reset", rate.reset_secs.to_string()));
    }
    let origin = req.headers().get("Origin").ok().flatten();
    let mut cors_refused = None;
    if let Some(config) = config {
        // The browser will hide a refused origin's response from the page; the log says why.
        cors_refused = origin.as_deref().filter(|o| config.origins.allow(o).is_none());
        let preflight = Verb::of(req) == Verb::Options;
        headers.extend(cors::headers(origin.as_deref(), &config.origins, preflight));
    }
    http::set_headers(&mut resp, &headers)?;
    let usage = trace.usage.as_ref();
    console_log!(
        "{}",
        json!({
            "event": "request",
            "request_id": trace.id,
            "method": req.method().to_string(),
            "route": trace.route,
            "status": resp.status_code(),
            "error": code,
            "caller": trace.caller,
            "cors_refused_origin": cors_refused,
            "model_requested": trace.requested_model,
            "model": trace.model,
            "requested_model_retired": trace.retired_model,
            "fallback": trace.fallback,
            "stream": trace.streamed,
            "model_failures": trace.failures.iter().map(failure_json).collect::<Vec<_>>(),
            "ms": (worker::js_sys::Date::now() - trace.started_ms).round(),
            "model_ms": trace.model_ms.get().round(),
            "prompt_tokens": usage.map(|u| u.prompt_tokens),
            "completion_tokens": usage.map(|u| u.completion_tokens),
        })
    );
    Ok(resp)
}

/// Logs the model settings the catalog refused, once per isolate: they are
/// also in `GET /api/models` and `GET /healthz`, and repeating them on every
/// request would bury them.
fn report_model_problems(config: &Config) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static REPORTED: AtomicBool = AtomicBool::new(false);
    let problems = config.registry.problems();
    if !problems.is_empty() && !REPORTED.swap(true, Ordering::Relaxed) {
        console_error!(
            "{}",
            json!({"event": "model_config_problems", "problems": problems})
        );
    }
}

/// The OpenAPI document of this API, checked in beside the code.
const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /healthz` and `GET /openapi.json`: no credentials, no KV, no model.
fn public(req: &Request, env: &Env, route: &Route, config: &ConfigResult) -> Result<Response, ApiError> {
    match Verb::of(req) {
        Verb::Get => {}
        Verb::Options => return http::empty(204),
        _ => return Err(ApiError::MethodNotAllowed { allow: route.allow() }),
    }
    if *route == Route::OpenApi {
        return http::static_json(OPENAPI);
    }
    let bindings = health::Bindings {
        ai: env.ai("AI").is_ok(),
        kv: store::open(env).is_ok(),
        auth_failure_limiter: env.rate_limiter(guard::AUTH_FAILURE_LIMITER).is_ok(),
        caller_minute_limiter: env.rate_limiter(guard::CALLER_MINUTE_LIMITER).is_ok(),
        session_key_limiter: env.rate_limiter(guard::SESSION_KEY_LIMITER).is_ok(),
    };
    http::json(200, &health::report(env!("CARGO_PKG_VERSION"), bindings, config))
}

/// Sends a request to its route's handler. A CORS preflight needs no
/// credentials (its headers are added on the way out); a method the route
/// does not list is 405 before anything else is read, except on `/admin/`,
/// which says nothing before the admin token.
async fn dispatch(
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
        Route::AdminTokens | Route::AdminToken(_) | Route::AdminOther
    ) {
        let kv = guard::admit_admin(req, env, config)
            .await
            .map_err(|r| trace.rejected(r))?;
        trace.caller = Some("admin".to_string());
        return match route {
            Route::AdminOther => Err(ApiError::NotFound),
            _ if !route.answers(verb) => Err(ApiError::MethodNotAllowed { allow: route.allow() }),
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
        Route::GeneratePrompt => generate_prompt(req, env, ctx, config, trace).await,
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
    let secret = match &config.session_keys {
        SessionKeys::Off => return Err(ApiError::SessionKeysOff),
        SessionKeys::Open(None) => return Err(ApiError::Misconfigured),
        SessionKeys::Open(Some(secret)) => secret,
    };
    guard::limit_key_requests(req, env).await?;
    let body = http::json_body(req).await?;
    let asked = KeyRequest::from_json(&body)?;
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).map_err(|_| ApiError::Internal)?;
    let issued = session::issue(secret, asked.broadcaster.as_str(), random, now_ms / 1000);
    http::json(
        200,
        &json!({"sessionKey": issued.key, "expiresAt": issued.expires_at}),
    )
}

/// `POST /api/generate-prompt`: credentials, then the JSON body, then one
/// suggestion within the deadline counted from the request's arrival. The
/// credential is the `Authorization` header or, for the coach frontend, the
/// body's `sessionKey`; a session key serves only the broadcaster it names.
async fn generate_prompt(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let now_ms = trace.started_ms as u64;
    let header = guard::authorization(req);
    let (admitted, request) = if header.is_some() {
        let admitted = guard::admit_api(req, env, ctx, config, now_ms, parse_bearer(header.as_deref()))
            .await
            .map_err(|r| trace.rejected(r))?;
        trace.admitted(&admitted);
        let body = http::json_body(req).await?;
        (admitted, CoachRequest::from_value(&parse_object(&body)?)?)
    } else {
        let body = parse_object(&http::json_body(req).await?)?;
        let key = body.get("sessionKey").and_then(serde_json::Value::as_str);
        let admitted = guard::admit_api(req, env, ctx, config, now_ms, key.ok_or(BearerProblem::Missing))
            .await
            .map_err(|r| trace.rejected(r))?;
        trace.admitted(&admitted);
        (admitted, CoachRequest::from_value(&body)?)
    };
    if let Some(claims) = &admitted.session {
        claims
            .check_broadcaster(request.broadcaster().as_str())
            .map_err(|p| ApiError::Unauthorized(p.message()))?;
    }
    // The counter write (KV_FAILURE_MODE=closed) runs beside the model call; a failed one refuses the request.
    let renewal = admitted
        .session
        .as_ref()
        .zip(config.session_keys.secret())
        .and_then(|(claims, secret)| claims.renewal(secret, now_ms / 1000));
    let answering = suggest(req, env, config, &request, renewal, trace);
    let (counted, response) = futures_util::future::join(admitted.counting.confirmed(), answering).await;
    counted.and(response)
}

/// The suggestion for a parsed request, whole or streamed; a renewed session
/// key rides in the answer (`sessionKey`, `expiresAt`) or in the stream's `done`.
async fn suggest(
    req: &Request,
    env: &Env,
    config: &Config,
    request: &CoachRequest,
    renewal: Option<session::Issued>,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let arrived_ms = trace.started_ms as u64;
    let resolved = config.registry.resolve(request.model())?;
    resolved.model.check_options(request.options())?;
    trace.requested_model = Some(resolved.model.id().to_string());
    let chain = config.registry.chain(resolved.model);
    let backends = Backends::from_env(env, config).map(|inner| Timed {
        inner,
        spent_ms: &trace.model_ms,
    });
    let retired = resolved.retired.map(str::to_string);
    trace.retired_model = retired.clone();
    if request.stream() || accepts_event_stream(req) {
        let mut opened = open_stream(
            arrived_ms,
            request,
            &chain,
            config,
            backends.as_ref(),
            &WorkersClock,
            &mut trace.failures,
        )
        .await?;
        opened.annotate(retired, renewal);
        if let Some((model, fallback)) = opened.model() {
            trace.model = Some(model.to_string());
            trace.fallback = fallback;
        }
        trace.streamed = true;
        return http::event_stream(stream_body(opened, arrived_ms, trace.id.clone()));
    }
    let mut answer: Answer = coach(
        arrived_ms,
        request,
        &chain,
        config,
        backends.as_ref(),
        &WorkersClock,
        &mut trace.failures,
    )
    .await?;
    answer.retired_model = retired;
    answer.session_key = renewal;
    trace.model = Some(answer.model.clone());
    trace.fallback = answer.fallback;
    trace.usage = answer.usage.clone();
    http::json(200, &answer)
}

fn accepts_event_stream(req: &Request) -> bool {
    req.headers()
        .get("Accept")
        .ok()
        .flatten()
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/event-stream"))
}

/// The body of a streamed answer: the events known at once, then the live
/// model's, as they come. When the stream ends early a `stream_end` line
/// tells the operator why (the request line went out with the headers).
fn stream_body(
    opened: Opened<AnyStream>,
    arrived_ms: u64,
    request_id: String,
) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static {
    let first: String = opened.first.iter().map(StreamEvent::to_sse).collect();
    // The request id rides in the state: the closure runs once per chunk.
    let state = (Some(first), opened.rest, request_id);
    futures_util::stream::unfold(state, move |(first, mut rest, request_id)| async move {
        if let Some(first) = first {
            return Some((Ok(first.into_bytes()), (None, rest, request_id)));
        }
        let live = rest.as_mut()?;
        match live.next(&WorkersClock).await {
            Some(events) => {
                let bytes: String = events.iter().map(StreamEvent::to_sse).collect();
                Some((Ok(bytes.into_bytes()), (None, rest, request_id)))
            }
            None => {
                console_log!(
                    "{}",
                    json!({
                        "event": "stream_end",
                        "request_id": request_id,
                        "failure": live.failure().map(failure_json),
                        "ms": (worker::js_sys::Date::now() as u64).saturating_sub(arrived_ms),
                        "prompt_tokens": live.usage().map(|u| u.prompt_tokens),
                        "completion_tokens": live.usage().map(|u| u.completion_tokens),
                    })
                );
                None
            }
        }
    })
}
