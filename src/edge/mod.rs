//! The edge: the Worker's fetch entry point. Reads the configuration once,
//! routes, runs the handlers (which read like the API contract), and writes
//! one log line per request. Decisions live in [`crate::core`].

mod ai;
mod http;

use crate::core::coach::{coach, Answer, FailedCall};
use crate::core::config::{Backend, Config};
use crate::core::error::ApiError;
use crate::core::request::CoachRequest;
use ai::{WorkersAi, WorkersClock};
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

/// What the request log line says beyond method, path and status.
#[derive(Default)]
struct Trace {
    model: Option<String>,
    fallback: bool,
    failures: Vec<FailedCall>,
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    console_error_panic_hook::set_once();
    let started = worker::js_sys::Date::now();
    let mut trace = Trace::default();
    let outcome = match Config::from_lookup(&|name| lookup(&env, name)) {
        Ok(config) => route(&mut req, &env, &config, &mut trace).await,
        Err(problem) => {
            console_error!("{}", json!({"event": "config_error", "problem": problem}));
            Err(ApiError::Misconfigured)
        }
    };
    let (resp, code) = match outcome {
        Ok(resp) => (resp, None),
        Err(e) => (http::error(&e)?, Some(e.code())),
    };
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
            "model": trace.model,
            "fallback": trace.fallback,
            "model_failures": failures,
            "ms": (worker::js_sys::Date::now() - started).round(),
        })
    );
    Ok(resp)
}

async fn route(
    req: &mut Request,
    env: &Env,
    config: &Config,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let path = req.path();
    match (path.as_str(), req.method()) {
        ("/api/generate-prompt", Method::Post) => generate_prompt(req, env, config, trace).await,
        ("/api/generate-prompt", _) => Err(ApiError::MethodNotAllowed {
            allow: "POST, OPTIONS",
        }),
        ("/api/models", Method::Get) => http::json(200, &config.registry.listing()),
        ("/api/models", _) => Err(ApiError::MethodNotAllowed {
            allow: "GET, OPTIONS",
        }),
        ("/healthz", Method::Get) => http::json(200, &json!({"ok": true})),
        ("/healthz", _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        _ => Err(ApiError::NotFound),
    }
}

/// `POST /api/generate-prompt`: JSON body in, one suggestion out.
async fn generate_prompt(
    req: &mut Request,
    env: &Env,
    config: &Config,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let body = http::json_body(req).await?;
    let request = CoachRequest::from_json(&body)?;
    let model = match &request.model {
        Some(name) => config
            .registry
            .resolve(name)
            .ok_or_else(|| ApiError::UnknownModel(name.clone()))?,
        None => config.registry.default_model(),
    };
    let ai = match config.backend {
        Backend::WorkersAi => WorkersAi::from_env(env),
        Backend::Rules => None,
    };
    let answer: Answer = coach(
        &request,
        model,
        config,
        ai.as_ref(),
        &WorkersClock,
        &mut trace.failures,
    )
    .await?;
    trace.model = Some(answer.model.clone());
    trace.fallback = answer.fallback;
    http::json(200, &answer)
}
