//! The edge: the Worker's fetch entry point. Reads the configuration once,
//! routes, runs the handlers (which read like the API contract), and writes
//! one log line per request. Decisions live in [`crate::core`].

mod admin;
mod ai;
mod backends;
mod guard;
mod http;
mod remote;
mod store;

use crate::core::coach::{coach, Answer, FailedCall};
use crate::core::config::Config;
use crate::core::cors;
use crate::core::error::ApiError;
use crate::core::ratelimit::Quota;
use crate::core::request::CoachRequest;
use crate::core::streaming::{open_stream, Opened, StreamEvent};
use ai::WorkersClock;
use backends::{AnyStream, Backends};
use serde_json::json;
use worker::js_sys::Reflect;
use worker::wasm_bindgen::JsValue;
use worker::{console_error, console_log, event, Context, Env, Method, Request, Response};

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

/// What the request log line says beyond method, path and status, and what
/// the response must report.
#[derive(Default)]
struct Trace {
    caller: Option<String>,
    rate: Option<Quota>,
    model: Option<String>,
    /// The retired model the caller asked for, when a successor served it.
    retired_model: Option<String>,
    fallback: bool,
    /// The answer went out as server-sent events.
    streamed: bool,
    failures: Vec<FailedCall>,
}

impl Trace {
    /// Keeps a rejection's rate-limit status for the response headers.
    fn rejected(&mut self, r: guard::Rejection) -> ApiError {
        self.rate = r.quota;
        r.error
    }
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    console_error_panic_hook::set_once();
    let started = worker::js_sys::Date::now();
    let mut trace = Trace::default();
    let config = Config::from_lookup(&|name| lookup(&env, name), started as i64);
    if let Ok(config) = &config {
        report_model_problems(config);
    }
    let outcome = match &config {
        Ok(config) => route(&mut req, &env, &ctx, config, started as u64, &mut trace).await,
        Err(problem) => {
            console_error!("{}", json!({"event": "config_error", "problem": problem}));
            Err(ApiError::Misconfigured)
        }
    };
    let (mut resp, code) = match outcome {
        Ok(resp) => (resp, None),
        Err(e) => (http::error(&e)?, Some(e.code())),
    };
    let origin = req.headers().get("Origin").ok().flatten();
    let is_preflight = req.method() == Method::Options;
    let headers = resp.headers_mut();
    if let Some(rate) = trace.rate {
        headers.set("RateLimit-Limit", &rate.limit.to_string())?;
        headers.set("RateLimit-Remaining", &rate.remaining.to_string())?;
        headers.set("RateLimit-Reset", &rate.reset_secs.to_string())?;
    }
    let mut cors_refused = None;
    if let Ok(config) = &config {
        // The browser will hide a refused origin's response from the page; the log says why.
        cors_refused = origin.as_deref().filter(|o| config.origins.allow(o).is_none());
        for (name, value) in cors::headers(origin.as_deref(), &config.origins, is_preflight) {
            headers.set(name, &value)?;
        }
    }
    let failures: Vec<_> = trace
        .failures
        .iter()
        .map(|f| json!({"model": f.model, "kind": f.failure.label, "code": f.failure.code}))
        .collect();
    console_log!(
        "{}",
        json!({
            "event": "request",
            "method": req.method().to_string(),
            "path": req.path(),
            "status": resp.status_code(),
            "error": code,
            "caller": trace.caller,
            "cors_refused_origin": cors_refused,
            "model": trace.model,
            "requested_model_retired": trace.retired_model,
            "fallback": trace.fallback,
            "stream": trace.streamed,
            "model_failures": failures,
            "ms": (worker::js_sys::Date::now() - started).round(),
        })
    );
    Ok(resp)
}

/// Logs the model settings the catalog refused, once per isolate: they are
/// also in `GET /api/models`, and repeating them on every request would
/// bury them.
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

async fn route(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    now_ms: u64,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let path = req.path();
    if path == "/healthz" {
        return match req.method() {
            Method::Get => http::json(200, &json!({"ok": true})),
            _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        };
    }
    if path.starts_with("/admin/") {
        let kv = guard::admit_admin(req, env, config)
            .await
            .map_err(|r| trace.rejected(r))?;
        trace.caller = Some("admin".to_string());
        return admin::route(req, &kv, now_ms).await;
    }
    if !path.starts_with("/api/") {
        return Err(ApiError::NotFound);
    }
    if req.method() == Method::Options {
        // CORS preflight: no credentials; the CORS headers are added on the way out.
        return http::empty(204);
    }
    let admitted = guard::admit_api(req, env, ctx, config, now_ms)
        .await
        .map_err(|r| trace.rejected(r))?;
    trace.rate = admitted.quota;
    trace.caller = Some(format!("{} ({})", admitted.caller.name, admitted.caller.id));
    let handled = async {
        match (path.as_str(), req.method()) {
            ("/api/generate-prompt", Method::Post) => generate_prompt(req, env, config, now_ms, trace).await,
            ("/api/generate-prompt", _) => Err(ApiError::MethodNotAllowed {
                allow: "POST, OPTIONS",
            }),
            ("/api/models", Method::Get) => http::json(200, &config.registry.listing()),
            ("/api/models", _) => Err(ApiError::MethodNotAllowed {
                allow: "GET, OPTIONS",
            }),
            _ => Err(ApiError::NotFound),
        }
    };
    // The counter write (KV_FAILURE_MODE=closed) runs beside the handler; a failed one refuses the request.
    let (counted, response) = futures_util::future::join(admitted.counting.confirmed(), handled).await;
    counted.and(response)
}

/// `POST /api/generate-prompt`: JSON body in, one suggestion out, within the
/// deadline counted from `arrived_ms`.
async fn generate_prompt(
    req: &mut Request,
    env: &Env,
    config: &Config,
    arrived_ms: u64,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let body = http::json_body(req).await?;
    let request = CoachRequest::from_json(&body)?;
    let resolved = config.registry.resolve(request.model())?;
    resolved.model.check_options(request.options())?;
    let chain = config.registry.chain(resolved.model);
    let backends = Backends::from_env(env, config);
    let retired = resolved.retired.map(str::to_string);
    trace.retired_model = retired.clone();
    if request.stream() || accepts_event_stream(req) {
        let mut opened = open_stream(
            arrived_ms,
            &request,
            &chain,
            config,
            backends.as_ref(),
            &WorkersClock,
            &mut trace.failures,
        )
        .await?;
        opened.set_retired_model(retired);
        if let Some((model, fallback)) = opened.model() {
            trace.model = Some(model.to_string());
            trace.fallback = fallback;
        }
        trace.streamed = true;
        return http::event_stream(stream_body(opened, arrived_ms));
    }
    let mut answer: Answer = coach(
        arrived_ms,
        &request,
        &chain,
        config,
        backends.as_ref(),
        &WorkersClock,
        &mut trace.failures,
    )
    .await?;
    answer.retired_model = retired;
    trace.model = Some(answer.model.clone());
    trace.fallback = answer.fallback;
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
) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static {
    let first: String = opened.first.iter().map(StreamEvent::to_sse).collect();
    let state = (Some(first), opened.rest);
    futures_util::stream::unfold(state, move |(first, mut rest)| async move {
        if let Some(first) = first {
            return Some((Ok(first.into_bytes()), (None, rest)));
        }
        let live = rest.as_mut()?;
        match live.next(&WorkersClock).await {
            Some(events) => {
                let bytes: String = events.iter().map(StreamEvent::to_sse).collect();
                Some((Ok(bytes.into_bytes()), (None, rest)))
            }
            None => {
                console_log!(
                    "{}",
                    json!({
                        "event": "stream_end",
                        "failure": live.failure().map(|f| json!({"model": f.model, "kind": f.failure.label, "code": f.failure.code})),
                        "ms": (worker::js_sys::Date::now() as u64).saturating_sub(arrived_ms),
                    })
                );
                None
            }
        }
    })
}
