//! `POST /api/generate-prompt`: credentials, the body, then one suggestion,
//! whole or streamed, through the one way into the coach
//! ([`CoachCall`]).

use super::backends::timed::Timed;
use super::backends::{AnyStream, Backends};
use super::clock::WorkersClock;
use super::{failure_json, guard, http, Trace};
use crate::core::access::auth::{parse_bearer, BearerProblem};
use crate::core::access::session;
use crate::core::coach::streaming::{open_stream, Opened, StreamEvent};
use crate::core::coach::{coach, CoachCall};
use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::request::{parse_object, CoachRequest};
use serde_json::json;
use worker::{console_log, Context, Env, Request, Response};

/// `POST /api/generate-prompt`: credentials, then the JSON body, then one
/// suggestion within the deadline counted from the request's arrival. The
/// credential is the `Authorization` header or, for the coach frontend, the
/// body's `sessionKey`; a session key serves only the broadcaster it names.
pub async fn generate_prompt(
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
    let call = CoachCall {
        req: request,
        chain: &chain,
        policy: &config.coach,
        backend: backends.as_ref(),
        clock: &WorkersClock,
        arrived_ms,
    };
    if request.stream() || accepts_event_stream(req) {
        let mut opened = open_stream(&call, &mut trace.failures).await?;
        opened.annotate(retired, renewal);
        if let Some((model, fallback)) = opened.model() {
            trace.model = Some(model.to_string());
            trace.fallback = fallback;
        }
        trace.streamed = true;
        return http::event_stream(stream_body(opened, arrived_ms, trace.id.clone()));
    }
    let mut answer = coach(&call, &mut trace.failures).await?;
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
