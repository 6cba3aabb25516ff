//! `POST /api/generate-prompt`: credentials, the body, then one suggestion,
//! whole or streamed, through the one way into the coach
//! ([`CoachCall`]).

use super::backends::timed::Timed;
use super::backends::Backends;
use super::clock::WorkersClock;
use super::state::{self, Ledger};
use super::{guard, http, Trace};
use crate::core::access::auth::{parse_bearer, BearerProblem};
use crate::core::access::session;
use crate::core::access::usage;
use crate::core::coach::pacing::{PaceAsk, PaceSettings, Paced, Verdict, WaitWhy};
use crate::core::coach::streaming::{open_stream, Opened};
use crate::core::coach::{coach, paced_wait, Answer, CoachCall};
use crate::core::config::Config;
use crate::core::config::{CallerStore, KvFailurePolicy};
use crate::core::error::ApiError;
use crate::core::llm::registry::Model;
use crate::core::llm::Clock;
use crate::core::request::{parse_object, CoachRequest};
use worker::{wasm_bindgen_futures, Context, Env, Request, Response};

/// `POST /api/generate-prompt`: credentials, the JSON body, the caller
/// counted (with what its state object remembers and whether its budgets
/// allow a model), then one suggestion within the deadline counted from the
/// request's arrival. The credential is the `Authorization` header or, for the
/// coach frontend, the body's `sessionKey`; a session key serves only the
/// broadcaster it names.
pub async fn generate_prompt(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    let now_ms = trace.started_ms as u64;
    let (who, parsed) = caller_and_body(req, env, config, trace).await?;
    // A request that will be refused for its body is still counted.
    let plan = parsed.and_then(|request| Plan::new(config, request));
    let estimate = plan.as_ref().map_or(0.0, |p| p.estimate);
    let pace = plan.as_ref().ok().map(|p| pace_ask(config, &p.request, now_ms));
    let reserving = reserve(plan.is_ok(), env, config, now_ms, estimate);
    let (admitted, reserved) = futures_util::future::join(
        guard::count(who, env, ctx, config, now_ms, estimate, pace),
        reserving,
    )
    .await;
    let reserved_here = matches!(reserved, Some(Ok(true)));
    // Refused after the deployment set the estimate aside: it is given back.
    let refuse = |e: ApiError| {
        if reserved_here {
            ctx.wait_until(state::release(env.clone(), now_ms, estimate));
        }
        e
    };
    let admitted = admitted.map_err(|r| refuse(trace.rejected(r)))?;
    trace.admitted(&admitted);
    let mut plan = plan?;
    if let Some(claims) = &admitted.session {
        claims
            .check_broadcaster(plan.request.broadcaster().as_str())
            .map_err(|p| refuse(ApiError::Unauthorized(p.message())))?;
    }
    plan.request.remember(&admitted.said);
    plan.over_budget = spent_budget(admitted.within_allowance, reserved, config)?;
    trace.over_budget = plan.over_budget;
    let renewal = admitted
        .session
        .as_ref()
        .zip(config.session_keys.secret())
        .and_then(|(claims, secret)| claims.renewal(secret, now_ms / 1000));
    let mut ledger = Ledger::new(
        env,
        config,
        &admitted.caller,
        &plan.chain,
        plan.estimate,
        reserved_here,
    );
    match admitted.paced {
        Some(Paced {
            verdict: Verdict::Wait(why),
            ..
        }) => {
            trace.pace = Some(match why {
                WaitWhy::Speaking => "speaking",
                WaitWhy::Gap => "gap",
            });
            let mut answer = paced_wait(why);
            answer.session_key = renewal;
            let stream = plan.request.stream() || accepts_event_stream(req);
            return counted_then(
                admitted.counting,
                wait_response(answer, stream, ctx, ledger, trace),
            )
            .await;
        }
        Some(Paced {
            verdict: Verdict::Speak { focus, hold_ms },
            acts,
        }) => {
            trace.pace = Some(if hold_ms > 0 { "hold" } else { "speak" });
            plan.hold_ms = hold_ms;
            plan.request.set_pace(focus, acts);
            ledger = ledger.paced(plan.request.people());
        }
        None => {}
    }
    // The counter write (KV_FAILURE_MODE=closed) runs beside the model call; a failed one refuses the request.
    let answering = suggest(req, env, ctx, config, &plan, renewal, ledger.clone(), trace);
    let (counted, response) = futures_util::future::join(admitted.counting.confirmed(), answering).await;
    if response.is_err() {
        ctx.wait_until(ledger.after(trace.failures.len()).record(None));
    }
    counted.and(response)
}

/// `response` once the counter write (if any) is confirmed.
async fn counted_then(
    counting: guard::Counting,
    response: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    counting.confirmed().await.and(response)
}

/// What the pacing asks the caller's state object for this request.
fn pace_ask(config: &Config, request: &CoachRequest, now_ms: u64) -> PaceAsk {
    let (paced, own_gap) = request.paced();
    PaceAsk {
        now_ms,
        paced,
        settings: PaceSettings {
            gap_ms: own_gap.map_or(config.pace.gap_ms, |s| u64::from(s) * 1_000),
            ..config.pace
        },
        moments: request.moments(),
    }
}

/// The silent answer of a paced request that waits, whole or as a stream;
/// recorded (no model was called) off the response's path.
fn wait_response(
    answer: Answer,
    stream: bool,
    ctx: &Context,
    ledger: Ledger,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    trace.model = Some(answer.model.clone());
    if stream {
        trace.streamed = true;
        return http::event_stream(stream_body(Opened::whole(answer), ledger));
    }
    ctx.wait_until(ledger.record(Some(answer.clone())));
    http::json(200, &answer)
}

/// Who is calling and what they asked: the `Authorization` header is checked
/// before the body is read; without it, the credential is the body's
/// `sessionKey`. A body that cannot be used is kept as its error, so the
/// request is still counted before it is refused.
async fn caller_and_body(
    req: &mut Request,
    env: &Env,
    config: &Config,
    trace: &mut Trace,
) -> Result<(guard::Identified, Result<CoachRequest, ApiError>), ApiError> {
    let now_ms = trace.started_ms as u64;
    let header = guard::authorization(req);
    if header.is_some() {
        let who = guard::identify_caller(req, env, config, now_ms, parse_bearer(header.as_deref()))
            .await
            .map_err(|r| trace.rejected(r))?;
        let parsed = match http::json_body(req).await {
            Ok(body) => parse_object(&body).and_then(|b| CoachRequest::from_body(&b)),
            Err(e) => Err(e),
        };
        return Ok((who, parsed));
    }
    let bytes = http::json_body(req).await?;
    let body = parse_object(&bytes)?;
    let key = body.get("sessionKey").and_then(serde_json::Value::as_str);
    let who = guard::identify_caller(req, env, config, now_ms, key.ok_or(BearerProblem::Missing))
        .await
        .map_err(|r| trace.rejected(r))?;
    Ok((who, CoachRequest::from_body(&body)))
}

/// Sets the request's estimate aside in the deployment's object, when the
/// request can be served and the deployment has a budget there.
async fn reserve(
    servable: bool,
    env: &Env,
    config: &Config,
    now_ms: u64,
    estimate: f64,
) -> Option<worker::Result<bool>> {
    match (servable, config.spending.store, config.spending.deployment_budget) {
        (true, CallerStore::DurableObject, Some(limit)) => {
            Some(state::reserve(env, now_ms, limit, estimate).await)
        }
        _ => None,
    }
}

/// Which daily budget is spent (`caller` or `deployment`), if one is. A
/// deployment object that could not be asked follows `STATE_FAILURE_MODE`.
fn spent_budget(
    within_allowance: bool,
    reserved: Option<worker::Result<bool>>,
    config: &Config,
) -> Result<Option<&'static str>, ApiError> {
    match (within_allowance, reserved) {
        (false, _) => Ok(Some("caller")),
        (true, Some(Ok(false))) => Ok(Some("deployment")),
        (true, Some(Err(e))) if config.spending.failure == KvFailurePolicy::Closed => {
            Err(ApiError::internal("deployment budget", e))
        }
        _ => Ok(None),
    }
}

/// A parsed request with its model chain resolved, and what it may cost.
struct Plan<'a> {
    request: CoachRequest,
    model: &'a Model,
    retired: Option<&'static str>,
    chain: Vec<&'a Model>,
    /// Neurons set aside before the model call (see [`usage::estimate`]).
    estimate: f64,
    over_budget: Option<&'static str>,
    /// How long the pacing holds the answer before the line is made.
    hold_ms: u64,
}

impl<'a> Plan<'a> {
    fn new(config: &'a Config, request: CoachRequest) -> Result<Plan<'a>, ApiError> {
        let resolved = config.registry.resolve(request.model())?;
        resolved.model.check_options(request.options())?;
        let chain = config.registry.chain(resolved.model);
        let prices: Vec<_> = chain.iter().map(|m| m.entry().price.as_ref()).collect();
        let chars = usage::prompt_chars_bound(&request);
        let estimate = usage::estimate(&prices, chars, request.options().max_tokens(), 1);
        Ok(Plan {
            request,
            model: resolved.model,
            retired: resolved.retired,
            chain,
            estimate,
            over_budget: None,
            hold_ms: 0,
        })
    }
}

/// The suggestion for a planned request, whole or streamed; a renewed session
/// key rides in the answer (`sessionKey`, `expiresAt`) or in the stream's
/// `done`. With a budget spent, the rules coach answers and the answer says
/// which budget.
#[allow(clippy::too_many_arguments)]
async fn suggest(
    req: &Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    plan: &Plan<'_>,
    renewal: Option<session::Issued>,
    ledger: Ledger,
    trace: &mut Trace,
) -> Result<Response, ApiError> {
    // A held answer waits for the earpiece; the deadline counts from then.
    if plan.hold_ms > 0 {
        WorkersClock.sleep(plan.hold_ms).await;
    }
    let arrived_ms = trace.started_ms as u64 + plan.hold_ms;
    trace.requested_model = Some(plan.model.id().to_string());
    let backends = match plan.over_budget {
        Some(_) => None,
        None => Backends::from_env(env, config),
    }
    .map(|inner| Timed {
        inner,
        spent_ms: &trace.model_ms,
    });
    let retired = plan.retired.map(str::to_string);
    trace.retired_model = retired.clone();
    let call = CoachCall {
        req: &plan.request,
        chain: &plan.chain,
        policy: &config.coach,
        backend: backends.as_ref(),
        clock: &WorkersClock,
        arrived_ms,
    };
    if plan.request.stream() || accepts_event_stream(req) {
        let mut opened = open_stream(&call, &mut trace.failures).await?;
        opened.annotate(retired, renewal, plan.over_budget);
        if let Some((model, fallback)) = opened.model() {
            trace.model = Some(model.to_string());
            trace.fallback = fallback;
        }
        trace.streamed = true;
        trace.usage = opened.answer().and_then(|a| a.usage.clone());
        let ledger = ledger.after(trace.failures.len());
        return http::event_stream(stream_body(opened, ledger));
    }
    let mut answer = coach(&call, &mut trace.failures).await?;
    answer.retired_model = retired;
    answer.session_key = renewal;
    answer.over_budget = plan.over_budget;
    trace.model = Some(answer.model.clone());
    trace.fallback = answer.fallback;
    trace.usage = answer.usage.clone();
    let recording = ledger.after(trace.failures.len()).record(Some(answer.clone()));
    ctx.wait_until(recording);
    http::json(200, &answer)
}

fn accepts_event_stream(req: &Request) -> bool {
    req.headers()
        .get("Accept")
        .ok()
        .flatten()
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/event-stream"))
}

/// The body of a streamed answer: its events, all known when the stream
/// opens (a stream sends nothing before the whole answer is judged). The
/// answer is recorded as it goes out, off the response's path.
fn stream_body(
    opened: Opened,
    ledger: Ledger,
) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static {
    wasm_bindgen_futures::spawn_local(ledger.record(opened.answer().cloned()));
    futures_util::stream::once(futures_util::future::ready(Ok(opened.to_sse().into_bytes())))
}
