//! `POST /api/generate-prompt`: credentials, the body, then one suggestion,
//! whole or streamed, through the one way into the coach
//! ([`CoachCall`]).

use super::backends::timed::Timed;
use super::backends::Backends;
use super::clock::WorkersClock;
use super::ledger::{self, Ledger};
use super::state::DeploymentBudget;
use super::{guard, http, Sent, Trace};
use crate::core::access::auth::{parse_bearer, BearerProblem};
use crate::core::access::session;
use crate::core::access::usage;
use crate::core::coach::pacing::{PaceAsk, PaceSettings, Paced, Verdict, WaitWhy};
use crate::core::coach::streaming::{open_stream, Opened};
use crate::core::coach::{coach, paced_wait, Answer, CoachCall};
use crate::core::config::Config;
use crate::core::config::KvFailurePolicy;
use crate::core::error::ApiError;
use crate::core::llm::registry::Model;
use crate::core::llm::Clock;
use crate::core::request::{parse_object, CoachRequest};
use worker::{Context, Env, Request, Response};

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
    let anonymous = who.session.is_some();
    let plan = parsed.and_then(|request| Plan::new(config, request, anonymous));
    let estimate = plan.as_ref().map_or(0.0, |p| p.estimate);
    let pace = plan.as_ref().ok().map(|p| pace_ask(config, &p.request, now_ms));
    // One round trip: the caller counted, its memory and pacing, and the
    // request's worst case set aside from its allowance and its slice of the
    // deployment's budget.
    let admitted = guard::count(who, env, ctx, config, now_ms, estimate, pace)
        .await
        .map_err(|r| trace.rejected(r))?;
    trace.admitted(&admitted);
    let reserved_here = admitted.budget == Some(DeploymentBudget::Within);
    // The caller's allowance set the estimate aside only when it let the request through.
    let allowance_here = config.spending.caller_allowance.is_some() && admitted.within_allowance;
    // Refused after its worst case was set aside: that is given back.
    let refuse = |e: ApiError| {
        if reserved_here || allowance_here {
            let caller = admitted.caller.id.as_str().to_string();
            ctx.wait_until(ledger::release(
                env.clone(),
                caller,
                now_ms,
                (
                    if allowance_here { estimate } else { 0.0 },
                    if reserved_here { estimate } else { 0.0 },
                ),
            ));
        }
        e
    };
    let mut plan = plan.map_err(&refuse)?;
    if let Some(claims) = &admitted.session {
        claims
            .check_broadcaster(plan.request.broadcaster().as_str())
            .map_err(|p| refuse(ApiError::Unauthorized(p.message())))?;
    }
    plan.request.remember(&admitted.said);
    plan.over_budget = spent_budget(admitted.within_allowance, admitted.budget, config).map_err(&refuse)?;
    trace.over_budget = plan.over_budget;
    let renewal = admitted
        .session
        .as_ref()
        .zip(config.session_keys.keyring())
        .and_then(|(claims, ring)| claims.renewal(ring, now_ms / 1000));
    let mut ledger = Ledger::new(
        env,
        config,
        &admitted.caller,
        &plan.chain,
        (plan.estimate, plan.call_estimate),
        (allowance_here, reserved_here),
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
        ctx.wait_until(ledger.after(&trace.failures).record(None));
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
        let opened = Opened::whole(answer);
        ctx.wait_until(ledger.record(opened.answer().cloned()));
        return http::event_stream(stream_body(Sent::framed(&opened.events, &[])));
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

/// Which daily budget is spent (`caller` or `deployment`), if one is. A
/// deployment object that could not be asked follows `STATE_FAILURE_MODE`.
fn spent_budget(
    within_allowance: bool,
    budget: Option<DeploymentBudget>,
    config: &Config,
) -> Result<Option<&'static str>, ApiError> {
    match (within_allowance, budget) {
        (false, _) => Ok(Some("caller")),
        (true, Some(DeploymentBudget::Spent)) => Ok(Some("deployment")),
        (true, Some(DeploymentBudget::Unreachable)) if config.spending.failure == KvFailurePolicy::Closed => {
            Err(ApiError::StorageUnavailable)
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
    /// What one call is charged when it reports no usage.
    call_estimate: f64,
    over_budget: Option<&'static str>,
    /// How long the pacing holds the answer before the line is made.
    hold_ms: u64,
}

impl<'a> Plan<'a> {
    /// `anonymous`: a session key's request, held to the operator's caps.
    fn new(config: &'a Config, mut request: CoachRequest, anonymous: bool) -> Result<Plan<'a>, ApiError> {
        let spending = &config.spending;
        if anonymous {
            request.cap_for_session(spending.session_max_tokens, &spending.session_models);
        }
        let resolved = config.registry.resolve(request.model())?;
        resolved.model.check_options(request.options())?;
        let chain = config.registry.chain(resolved.model);
        let chars = usage::prompt_chars_bound(&request);
        let max_tokens = request.options().max_tokens();
        // The worst case is set aside: every call the chain may make, each
        // at its model's price; a call that reports nothing is charged the
        // dearest call.
        let (mut estimate, mut call_estimate) = (0.0, 0.0f64);
        for m in &chain {
            let price = Some(spending.prices.price(m.id(), m.entry().price.as_ref()).0);
            let one = usage::estimate(&[price], chars, max_tokens, 1);
            estimate += one * f64::from(usage::max_calls(config.coach.max_retries, m.entry().json_mode));
            call_estimate = call_estimate.max(one);
        }
        Ok(Plan {
            request,
            model: resolved.model,
            retired: resolved.retired,
            chain,
            estimate,
            call_estimate,
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
        let body = Sent::framed(&opened.events, &trace.failures);
        ctx.wait_until(ledger.after(&trace.failures).record(opened.answer().cloned()));
        return http::event_stream(stream_body(body));
    }
    let mut answer = coach(&call, &mut trace.failures).await?;
    answer.retired_model = retired;
    answer.session_key = renewal;
    answer.over_budget = plan.over_budget;
    trace.model = Some(answer.model.clone());
    trace.fallback = answer.fallback;
    trace.usage = answer.usage.clone();
    let recording = ledger.after(&trace.failures).record(Some(answer.clone()));
    ctx.wait_until(recording);
    http::json(200, &Sent::new(&answer, &trace.failures))
}

fn accepts_event_stream(req: &Request) -> bool {
    req.headers()
        .get("Accept")
        .ok()
        .flatten()
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/event-stream"))
}

/// The body of a streamed answer: its events, all known when the stream
/// opens (a stream sends nothing before the whole answer is judged), framed.
fn stream_body(body: String) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static {
    futures_util::stream::once(futures_util::future::ready(Ok(body.into_bytes())))
}
