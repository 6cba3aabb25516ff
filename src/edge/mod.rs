//! The edge: the Worker's fetch entry point. Reads the configuration once,
//! routes, runs the handlers (which read like the API contract), and writes
//! one log line per request. Decisions live in [`crate::core`].

mod admin;
mod backends;
mod clock;
mod generate;
mod guard;
mod http;
mod ledger;
mod routes;
mod state;
mod store;

use crate::core::access::cors;
use crate::core::access::ratelimit::Quota;
use crate::core::answer::judge::Quality;
use crate::core::coach::streaming::{done_event, StreamEvent};
use crate::core::coach::{Answer, FailedCall};
use crate::core::config::{Config, ConfigError};
use crate::core::error::ApiError;
use crate::core::llm::Usage;
use crate::core::ops::request_id;
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
pub(crate) struct Trace {
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
    /// The daily budget (`caller` or `deployment`) that sent the request to the rules coach.
    over_budget: Option<&'static str>,
    /// The pacing's decision: `speak`, `hold` (spoke after holding the
    /// answer), `speaking` or `gap` (waited); `None` when not paced.
    pace: Option<&'static str>,
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

pub(crate) fn failure_json(f: &FailedCall) -> serde_json::Value {
    json!({"model": f.model, "kind": f.failure.label, "code": f.failure.code})
}

/// An answer as it goes out (the JSON body, a stream's `done`): when the
/// rules coach answered after the judge refused the models' lines, `refused`
/// gives the verdict on each, as the log line's `model_failures[].kind` does.
/// A failed call (a timeout, a provider's error) is the operator's business
/// and stays in the log.
#[derive(serde::Serialize)]
pub(crate) struct Sent<'a> {
    #[serde(flatten)]
    answer: &'a Answer,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    refused: Vec<&'static str>,
}

impl<'a> Sent<'a> {
    pub(crate) fn new(answer: &'a Answer, failures: &[FailedCall]) -> Sent<'a> {
        let refused = match answer.model.as_str() {
            "rules" => failures
                .iter()
                .filter_map(|f| Quality::of_failure(&f.failure).map(Quality::label))
                .collect(),
            _ => Vec::new(),
        };
        Sent { answer, refused }
    }

    /// The events a stream opens with, framed, its `done` as a [`Sent`] answer.
    pub(crate) fn framed(events: &[StreamEvent], failures: &[FailedCall]) -> String {
        let frame = |event: &StreamEvent| match event {
            StreamEvent::Done(answer) => done_event(&Sent::new(answer, failures)),
            other => other.to_sse(),
        };
        events.iter().map(frame).collect()
    }
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
        (Route::Healthz | Route::OpenApi, _) => routes::public(&req, &env, &route, config).await,
        (_, Ok(config)) => {
            report_model_problems(config);
            routes::dispatch(&mut req, &env, &ctx, config, &route, &mut trace).await
        }
        (_, Err(problem)) => {
            console_error!(
                "{}",
                json!({"event": "config_error", "request_id": trace.id, "problem": problem.to_string()})
            );
            Err(ApiError::Misconfigured)
        }
    };
    finish(outcome, &req, &trace, config.as_ref().ok())
}

type ConfigResult = Result<Config, ConfigError>;

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
                report_secret_problems(&config, now_ms);
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
    let (mut resp, code, cause) = match outcome {
        Ok(resp) => (resp, None, None),
        Err(e) => (http::error(&e)?, Some(e.code()), e.cause().map(str::to_string)),
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
        // A page served by this Worker (its assets) is same-origin: nothing is refused.
        let url = req.inner().url();
        let own = crate::core::text::url_origin(&url);
        cors_refused = origin
            .as_deref()
            .filter(|o| Some(*o) != own && config.origins.allow(o).is_none());
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
            "cause": cause,
            "caller": trace.caller,
            "cors_refused_origin": cors_refused,
            "model_requested": trace.requested_model,
            "model": trace.model,
            "requested_model_retired": trace.retired_model,
            "fallback": trace.fallback,
            "stream": trace.streamed,
            "over_budget": trace.over_budget,
            "pace": trace.pace,
            "model_failures": trace.failures.iter().map(failure_json).collect::<Vec<_>>(),
            "ms": (worker::js_sys::Date::now() - trace.started_ms).round(),
            "model_ms": trace.model_ms.get().round(),
            "prompt_tokens": usage.map(|u| u.prompt_tokens),
            "completion_tokens": usage.map(|u| u.completion_tokens),
        })
    );
    Ok(resp)
}

/// Logs, when the configuration is read (once per isolate and day), the
/// secrets it refused and why, never their values: the message the operator
/// gets at start (`/healthz` with the admin token says the same). An
/// unusable configuration is logged on every request instead.
fn report_secret_problems(config: &ConfigResult, now_ms: i64) {
    let Ok(config) = config else {
        return;
    };
    let mut problems: Vec<String> = config
        .session_keys
        .problem()
        .map(ToString::to_string)
        .into_iter()
        .collect();
    problems.extend(crate::core::ops::health::secrets(
        config,
        now_ms.max(0) as u64 / 1000,
    ));
    if !problems.is_empty() {
        console_error!("{}", json!({"event": "secret_problems", "problems": problems}));
    }
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
