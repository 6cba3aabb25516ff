//! The coaching loop: call the models of the chain in order within the
//! deadline, retry each failure as the error table decides (backoff for
//! transient ones, the provider's `Retry-After` for a rate limit, one plain
//! call after a JSON-mode refusal, at most one more for an unknown error,
//! none for the rest), skip a provider's other models once it refused the
//! account, and end with the rules coach, so a broadcaster always gets an
//! answer in time. Every answer passes [`Judge`] (and, when `MODERATION` is
//! on, the guard model) before it is spoken; a rejected one is a failure of
//! that model like any other. The models and the clock are traits, so the
//! whole loop runs natively in tests; the edge supplies the `AI` binding,
//! `fetch` and timers.
//! The loop over the chain ([`run_chain`]) is shared with the streaming coach
//! ([`crate::core::coach::streaming`]): only what one attempt at a model does differs.

pub mod pacing;
pub mod relay;
pub mod rules;
pub mod streaming;

use crate::core::access::session::Issued;
use crate::core::answer::judge::Judge;
use crate::core::answer::moderation::{self, Blocked};
use crate::core::answer::parse::Suggestion;
use crate::core::coach::pacing::WaitWhy;
use crate::core::error::ApiError;
use crate::core::llm::failure::{backoff_ms, FailureKind, ModelFailure};
use crate::core::llm::providers::Provider;
use crate::core::llm::registry::Model;
use crate::core::llm::Clock;
use crate::core::llm::Message;
use crate::core::llm::ModelBackend;
use crate::core::llm::{ModelReply, Usage};
use crate::core::prompt::{build_messages, prompt_budget_chars, AnswerFormat};
use crate::core::request::CoachRequest;
use crate::core::time::EpochMillis;
use serde::Serialize;
use serde_json::Value;

const BACKOFF_BASE_MS: u64 = 250;
const BACKOFF_MAX_MS: u64 = 2_000;
/// Retries of an error the published table does not list.
const UNKNOWN_ERROR_RETRIES: u32 = 1;
/// Answers judged unfit that one request takes before the rules coach
/// answers: the model is asked again once, then no more (each ask is paid for).
pub const MAX_REFUSED_ANSWERS: usize = 2;

/// What the coach loop may spend and must respect: the operator's settings
/// for it (read by [`crate::core::config`]), and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct CoachPolicy {
    /// Answer from the rules coach when every model fails (else 503).
    pub rules_fallback: bool,
    pub model_timeout_ms: u64,
    /// No model call starts with less time than this left before the
    /// deadline: it could not plausibly answer, and would only delay the
    /// rules fallback.
    pub model_min_call_ms: u64,
    pub deadline_ms: u64,
    pub max_retries: u32,
    /// Words a suggestion may have (`MAX_WORDS`, 5 to 40, default 15).
    pub max_words: usize,
    /// The hazard categories Llama Guard must not find in a suggestion;
    /// `None` when `MODERATION` is off.
    pub moderation: Option<Blocked>,
}

/// The `200` body of `POST /api/generate-prompt`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    #[serde(flatten)]
    pub suggestion: Suggestion,
    /// The model that really answered, or `rules`.
    pub model: String,
    /// True when the first model of the chain did not answer and a fallback did.
    pub fallback: bool,
    /// The retired model the caller asked for, served by `model` instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_model: Option<String>,
    /// A renewed session key (`sessionKey`, `expiresAt`), for the coach
    /// frontend to keep in place of the one it sent.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<Issued>,
    /// Which daily budget was spent (`caller` or `deployment`), when that is
    /// why the rules coach answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_budget: Option<&'static str>,
    /// Why a paced request waits (`speaking`: the last line is still being
    /// said; `gap`: the quiet after it is not over); the content is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paced: Option<WaitWhy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// One model call that did not give a suggestion, for the operator's log.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedCall {
    pub model: String,
    pub failure: ModelFailure,
    /// What the call reported using, when it answered (an answer judged
    /// unfit is paid for all the same).
    pub usage: Option<Usage>,
}

impl FailedCall {
    fn of(model: &Model, failure: ModelFailure, usage: Option<Usage>) -> FailedCall {
        FailedCall {
            model: model.id().to_string(),
            failure,
            usage,
        }
    }
}

/// How many more calls of the same model a failure allows, and after what.
enum Step {
    /// Call again after a backoff.
    Backoff,
    /// Call again at once, without JSON mode.
    WithoutJsonMode,
    OtherModel,
    /// No Workers AI model will answer this account now.
    StopChain,
    /// Call again at once: the answer failed a check a second sample may pass.
    Again,
    /// Call again after the wait the provider asked for.
    Wait(u64),
}

fn next_step(kind: FailureKind, retries: u32, max_retries: u32, json_mode: bool) -> Step {
    match kind {
        FailureKind::Transient if retries < max_retries => Step::Backoff,
        FailureKind::Unknown if retries < UNKNOWN_ERROR_RETRIES.min(max_retries) => Step::Backoff,
        FailureKind::JsonMode if json_mode => Step::WithoutJsonMode,
        FailureKind::Account => Step::StopChain,
        FailureKind::RetryOnce if retries == 0 => Step::Again,
        FailureKind::Throttled(Some(ms)) if retries < max_retries => Step::Wait(ms),
        FailureKind::Throttled(None) if retries < max_retries => Step::Backoff,
        _ => Step::OtherModel,
    }
}

/// One attempt at one model, as [`run_chain`] sees it.
#[allow(async_fn_in_trait)]
pub(crate) trait Attempt {
    type Output;
    async fn call(
        &mut self,
        model: &Model,
        json_mode: bool,
        timeout_ms: u64,
    ) -> Result<Self::Output, ModelFailure>;

    /// What the last call reported using, when it answered; taken once.
    fn take_usage(&mut self) -> Option<Usage>;
}

/// Sleeps `ms` when a call could still start after it within `deadline`;
/// `false`, without sleeping, when it could not (the next model is tried).
async fn pause<C: Clock>(clock: &C, ms: u64, deadline: u64, policy: &CoachPolicy) -> bool {
    if clock.now_ms() + ms + policy.model_min_call_ms > deadline {
        return false;
    }
    clock.sleep(ms).await;
    true
}

/// The loop over `chain` (the first model, then the fallbacks) until `deadline`:
/// the first success and the index of the model that gave it, or `None` when
/// every model failed, the account was refused or time ran out. Every failed
/// call is pushed to `failures`.
pub(crate) async fn run_chain<A: Attempt, C: Clock>(
    chain: &[&Model],
    policy: &CoachPolicy,
    clock: &C,
    deadline: u64,
    failures: &mut Vec<FailedCall>,
    attempt: &mut A,
) -> Option<(usize, A::Output)> {
    // Providers that refused this account (a key, a quota): none of their
    // models is called again for this request.
    let mut refused: Vec<Provider> = Vec::new();
    'models: for (index, candidate) in chain.iter().enumerate() {
        if refused.contains(&candidate.provider()) {
            continue;
        }
        let mut json_mode = true;
        let mut retries = 0;
        loop {
            let left = deadline.saturating_sub(clock.now_ms());
            if left < policy.model_min_call_ms {
                break 'models;
            }
            let timeout = policy.model_timeout_ms.min(left);
            let failure = match attempt.call(candidate, json_mode, timeout).await {
                Ok(output) => return Some((index, output)),
                Err(f) => f,
            };
            let json_mode_refusable = json_mode && candidate.entry().json_mode;
            let step = next_step(failure.kind, retries, policy.max_retries, json_mode_refusable);
            failures.push(FailedCall::of(candidate, failure, attempt.take_usage()));
            if failures.iter().filter(|f| f.failure.is_refusal()).count() >= MAX_REFUSED_ANSWERS {
                break 'models;
            }
            match step {
                Step::Backoff => {
                    let wait = backoff_ms(retries, BACKOFF_BASE_MS, BACKOFF_MAX_MS, clock.jitter());
                    retries += 1;
                    if !pause(clock, wait, deadline, policy).await {
                        continue 'models;
                    }
                }
                Step::WithoutJsonMode => json_mode = false,
                Step::Again => retries += 1,
                Step::Wait(ms) => {
                    retries += 1;
                    if !pause(clock, ms, deadline, policy).await {
                        continue 'models;
                    }
                }
                Step::OtherModel => continue 'models,
                Step::StopChain => {
                    refused.push(candidate.provider());
                    continue 'models;
                }
            }
        }
    }
    None
}

/// A model's answer judged, and moderated when `MODERATION` is on: the
/// suggestion that may be spoken, or the failure that sends the loop on.
pub(crate) async fn judged<B: ModelBackend>(
    judge: &Judge<'_>,
    backend: &B,
    policy: &CoachPolicy,
    reply: &ModelReply,
    timeout_ms: u64,
) -> Result<Suggestion, ModelFailure> {
    let suggestion = judge.answer(&reply.response, reply.finish_reason.as_deref())?;
    moderation::check(backend, policy.moderation.as_ref(), &suggestion, timeout_ms).await?;
    Ok(suggestion)
}

/// The input of one call of `model`, in its provider's wire format.
pub(crate) fn input_for(
    model: &Model,
    messages: &[Message],
    options: &crate::core::request::options::GenerationOptions,
    json_mode: bool,
    stream: bool,
) -> Value {
    model.provider().protocol().input(
        model.wire_name(),
        model.entry(),
        messages,
        options,
        json_mode,
        stream,
    )
}

/// The prompt for the whole chain, within its smallest context window.
pub(crate) fn chain_messages(
    req: &CoachRequest,
    chain: &[&Model],
    policy: &CoachPolicy,
    now_ms: u64,
    format: AnswerFormat,
) -> Vec<Message> {
    let window = chain
        .iter()
        .map(|m| m.entry().context_window())
        .min()
        .unwrap_or(0);
    let budget = prompt_budget_chars(window, req.options().max_tokens());
    build_messages(req, Some(now_ms as EpochMillis), budget, policy.max_words, format)
}

/// One plain (non-streaming) call: JSON mode where the model has it.
struct PlainCall<'a, B, C> {
    backend: &'a B,
    clock: &'a C,
    policy: &'a CoachPolicy,
    messages: &'a [Message],
    judge: &'a Judge<'a>,
    deadline: u64,
    /// What the last reply reported using.
    usage: Option<Usage>,
}

impl<B: ModelBackend, C: Clock> Attempt for PlainCall<'_, B, C> {
    type Output = (Suggestion, ModelReply);

    async fn call(
        &mut self,
        model: &Model,
        json_mode: bool,
        timeout_ms: u64,
    ) -> Result<Self::Output, ModelFailure> {
        let req = self.judge.request();
        let input = input_for(model, self.messages, req.options(), json_mode, false);
        let reply = self.backend.run(model.id(), &input, timeout_ms).await?;
        self.usage = reply.usage.clone();
        let left = self.deadline.saturating_sub(self.clock.now_ms());
        let moderation_ms = self.policy.model_timeout_ms.min(left);
        let suggestion = judged(self.judge, self.backend, self.policy, &reply, moderation_ms).await?;
        Ok((suggestion, reply))
    }

    fn take_usage(&mut self) -> Option<Usage> {
        self.usage.take()
    }
}

/// One request's way into the coach: what it asks, the models to try in
/// order (the first, then the fallbacks), the policy, the backend (`None`
/// with no model at all: the rules coach answers, and that is not a
/// fallback), the clock, and when the request arrived (the deadline counts
/// from there). The whole answer ([`coach`]) and the stream
/// ([`streaming::open_stream`]) both start from [`CoachCall::prepare`].
pub struct CoachCall<'a, B, C> {
    pub req: &'a CoachRequest,
    pub chain: &'a [&'a Model],
    pub policy: &'a CoachPolicy,
    pub backend: Option<&'a B>,
    pub clock: &'a C,
    pub arrived_ms: u64,
}

/// What [`CoachCall::prepare`] made ready for the models: the backend, the
/// messages, their judge and the deadline.
pub(crate) struct Ready<'a, B> {
    pub backend: &'a B,
    pub messages: Vec<Message>,
    pub judge: Judge<'a>,
    pub deadline: u64,
}

impl<'a, B: ModelBackend, C: Clock> CoachCall<'a, B, C> {
    /// What the models need; `Err` with the rules coach's answer when there
    /// is no backend (that answer is not a fallback).
    pub(crate) fn prepare(&self, format: AnswerFormat) -> Result<Ready<'a, B>, Box<Answer>> {
        let Some(backend) = self.backend else {
            let judge = Judge::new(self.req, "", self.policy.max_words);
            return Err(Box::new(rules_answer(&judge, self.clock, false)));
        };
        let messages = chain_messages(self.req, self.chain, self.policy, self.clock.now_ms(), format);
        let judge = Judge::new(self.req, &messages[0].content, self.policy.max_words);
        Ok(Ready {
            backend,
            messages,
            judge,
            deadline: self.arrived_ms + self.policy.deadline_ms,
        })
    }
}

/// The coaching loop: the chain's models in order within the deadline, then
/// the rules coach.
pub async fn coach<B: ModelBackend, C: Clock>(
    call: &CoachCall<'_, B, C>,
    failures: &mut Vec<FailedCall>,
) -> Result<Answer, ApiError> {
    let Ready {
        backend,
        messages,
        judge,
        deadline,
    } = match call.prepare(AnswerFormat::Json) {
        Ok(ready) => ready,
        Err(rules) => return Ok(*rules),
    };
    let (chain, policy, clock) = (call.chain, call.policy, call.clock);
    let mut attempt = PlainCall {
        backend,
        clock,
        policy,
        messages: &messages,
        judge: &judge,
        deadline,
        usage: None,
    };
    match run_chain(chain, policy, clock, deadline, failures, &mut attempt).await {
        Some((index, (suggestion, reply))) => Ok(Answer {
            suggestion,
            model: chain[index].id().to_string(),
            fallback: index > 0,
            retired_model: None,
            session_key: None,
            over_budget: None,
            paced: None,
            usage: reply.usage,
            finish_reason: reply.finish_reason,
        }),
        None if policy.rules_fallback => Ok(rules_answer(&judge, clock, true)),
        None => Err(ApiError::ModelUnavailable),
    }
}

/// The silent answer of a paced request that waits; no model was asked.
pub fn paced_wait(why: WaitWhy) -> Answer {
    Answer {
        suggestion: Suggestion::wait(),
        model: "none".to_string(),
        fallback: false,
        retired_model: None,
        session_key: None,
        over_budget: None,
        paced: Some(why),
        usage: None,
        finish_reason: None,
    }
}

/// The rules coach's answer, held to the same limits as a model's; `fallback`
/// when it stands in for failed models.
pub(crate) fn rules_answer<C: Clock>(judge: &Judge, clock: &C, fallback: bool) -> Answer {
    let now = Some(clock.now_ms() as EpochMillis);
    Answer {
        suggestion: rules::suggest(judge.request(), now, |s| judge.rules_line(s)),
        model: "rules".to_string(),
        fallback,
        retired_model: None,
        session_key: None,
        over_budget: None,
        paced: None,
        usage: None,
        finish_reason: None,
    }
}

/// Fakes shared by the coach's and the streaming coach's tests.
#[cfg(test)]
pub(crate) mod fakes {
    use super::*;
    use crate::core::llm::{Chunk, ModelStream};
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Runs a future whose awaits all complete at once (the fakes below).
    pub fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// Time that passes only when a fake says so.
    pub struct FakeClock {
        pub now: Cell<u64>,
        pub slept: Cell<u64>,
    }

    impl FakeClock {
        pub fn at(now: u64) -> FakeClock {
            FakeClock {
                now: Cell::new(now),
                slept: Cell::new(0),
            }
        }
        pub fn advance(&self, ms: u64) {
            self.now.set(self.now.get() + ms);
        }
    }

    impl Clock for FakeClock {
        fn now_ms(&self) -> u64 {
            self.now.get()
        }
        async fn sleep(&self, ms: u64) {
            self.advance(ms);
            self.slept.set(self.slept.get() + ms);
        }
        fn jitter(&self) -> f64 {
            0.5
        }
    }

    /// For fakes that never stream.
    pub struct NoStream;

    impl ModelStream for NoStream {
        async fn next(&mut self, _timeout_ms: u64) -> Result<Option<Chunk>, ModelFailure> {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fakes::{block_on, FakeClock, NoStream};
    use super::*;
    use crate::core::answer::parse::Action;
    use crate::core::config::Config;
    use crate::core::llm::failure::classify_error;
    use crate::core::llm::protocol::workers_ai::reply_from_value;
    use serde_json::json;
    use std::cell::RefCell;
    use std::collections::HashMap;

    type Script = Vec<Result<Value, (&'static str, u64)>>;

    /// Answers from a per-model script; an error is `(message, ms it takes)`.
    /// Like Workers AI, it refuses JSON mode on a model the catalog says lacks it.
    struct FakeModels<'a> {
        scripts: RefCell<HashMap<String, Script>>,
        calls: RefCell<Vec<(String, Value)>>,
        clock: &'a FakeClock,
    }

    struct Calls(Vec<(String, Value)>);

    impl Calls {
        fn calls_to(&self, model: &str) -> usize {
            self.0.iter().filter(|(m, _)| m == model).count()
        }
        fn inputs_to(&self, model: &str) -> Vec<&Value> {
            self.0
                .iter()
                .filter(|(m, _)| m == model)
                .map(|(_, i)| i)
                .collect()
        }
    }

    impl ModelBackend for FakeModels<'_> {
        type Stream = NoStream;

        async fn stream(&self, _: &str, _: &Value, _: u64) -> Result<NoStream, ModelFailure> {
            Err(ModelFailure::unusable())
        }

        async fn run(&self, model: &str, input: &Value, timeout_ms: u64) -> Result<ModelReply, ModelFailure> {
            self.calls.borrow_mut().push((model.to_string(), input.clone()));
            let clock = self.clock;
            let entry = crate::core::llm::catalog::catalog().get(model);
            // Llama Guard's published input schema takes `{type: "json_object"}`.
            let guard_json = model == moderation::GUARD_MODEL
                && input["response_format"] == json!({"type": "json_object"});
            if input.get("response_format").is_some() && !entry.is_some_and(|e| e.json_mode) && !guard_json {
                return Err(classify_error(
                    "AiError: 5025: This model doesn't suuport JSON Schema",
                ));
            }
            let mut scripts = self.scripts.borrow_mut();
            let script = scripts.get_mut(model).filter(|s| !s.is_empty());
            let step = match script {
                Some(s) if s.len() > 1 => s.remove(0),
                Some(s) => s[0].clone(),
                None => Err(("5007: No such model", 10)),
            };
            match step {
                Ok(v) => {
                    clock.now.set(clock.now.get() + 50);
                    reply_from_value(v).ok_or_else(ModelFailure::unusable)
                }
                Err((_, ms)) if ms >= timeout_ms => {
                    clock.now.set(clock.now.get() + timeout_ms);
                    Err(ModelFailure::timeout())
                }
                Err((message, ms)) => {
                    clock.now.set(clock.now.get() + ms);
                    // "HTTP <status> [Retry-After]": a remote provider's answer.
                    Err(match message.strip_prefix("HTTP ") {
                        Some(rest) => {
                            let mut parts = rest.split(' ');
                            let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(500);
                            crate::core::llm::protocol::chat_completions::failure_for_status(
                                status,
                                parts.next(),
                                false,
                            )
                        }
                        None => classify_error(message),
                    })
                }
            }
        }
    }

    const PRIMARY: &str = "@cf/meta/llama-3.1-8b-instruct-fast";
    const BACKUP: &str = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
    const NOW: u64 = 1_795_000_000_000; // 2026-11-17

    fn setup(extra: &[(&str, &str)], recent: &[&str]) -> (CoachRequest, Config) {
        let req = CoachRequest::from_json(
            json!({"broadcaster": "Luna", "context": "Tip: Max tipped 40 tokens", "recent": recent})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let mut vars: HashMap<&str, &str> = [("FALLBACK_MODELS", BACKUP)].into_iter().collect();
        vars.extend(extra.iter().copied());
        let config = Config::from_lookup(&|k| vars.get(k).map(|v| v.to_string()), NOW as i64).unwrap();
        (req, config)
    }

    fn run_flow_from(
        first: &str,
        scripts: &[(&str, Script)],
        extra: &[(&str, &str)],
    ) -> (Result<Answer, ApiError>, Calls, u64, u64) {
        run_flow_full(first, scripts, extra, &[])
    }

    fn run_flow_with(
        scripts: &[(&str, Script)],
        extra: &[(&str, &str)],
        recent: &[&str],
    ) -> (Result<Answer, ApiError>, Calls, u64) {
        let (a, c, e, _) = run_flow_full(PRIMARY, scripts, extra, recent);
        (a, c, e)
    }

    fn run_flow_full(
        first: &str,
        scripts: &[(&str, Script)],
        extra: &[(&str, &str)],
        recent: &[&str],
    ) -> (Result<Answer, ApiError>, Calls, u64, u64) {
        let (req, config) = setup(extra, recent);
        let clock = FakeClock::at(NOW);
        let models = FakeModels {
            scripts: RefCell::new(scripts.iter().map(|(m, s)| (m.to_string(), s.clone())).collect()),
            calls: RefCell::new(Vec::new()),
            clock: &clock,
        };
        let model = config.registry.resolve(Some(first)).unwrap().model;
        let chain = config.registry.chain(model);
        let mut failures = Vec::new();
        let answer = block_on(coach(
            &CoachCall {
                req: &req,
                chain: &chain,
                policy: &config.coach,
                backend: Some(&models),
                clock: &clock,
                arrived_ms: NOW,
            },
            &mut failures,
        ));
        let elapsed = clock.now.get() - NOW;
        (
            answer,
            Calls(models.calls.into_inner()),
            elapsed,
            clock.slept.get(),
        )
    }

    fn run_flow(
        scripts: &[(&str, Script)],
        extra: &[(&str, &str)],
    ) -> (Result<Answer, ApiError>, Calls, u64) {
        let (a, c, e, _) = run_flow_from(PRIMARY, scripts, extra);
        (a, c, e)
    }

    fn ok(v: Value) -> Result<Value, (&'static str, u64)> {
        Ok(v)
    }

    #[test]
    fn a_clean_answer_is_one_call_with_usage() {
        let (answer, models, _) = run_flow(
            &[(
                PRIMARY,
                vec![ok(
                    json!({"response": "{\"action\": \"say\", \"content\": \"Thanks Max!\"}",
                "usage": {"prompt_tokens": 300, "completion_tokens": 9}}),
                )],
            )],
            &[],
        );
        let a = answer.unwrap();
        assert_eq!(
            (a.suggestion.action(), a.suggestion.content()),
            (Action::Say, "Thanks Max!")
        );
        assert_eq!((a.model.as_str(), a.fallback), (PRIMARY, false));
        assert_eq!(
            a.usage,
            Some(Usage {
                prompt_tokens: 300,
                completion_tokens: 9
            })
        );
        assert_eq!(models.0.len(), 1);
        assert!(models.inputs_to(PRIMARY)[0].get("response_format").is_none());
    }

    #[test]
    fn a_json_mode_model_is_asked_with_a_schema_in_one_call() {
        let (answer, models, _, _) = run_flow_from(
            BACKUP,
            &[(
                BACKUP,
                vec![ok(
                    json!({"response": {"action": "do", "content": "Wave at Max"}}),
                )],
            )],
            &[],
        );
        assert_eq!(answer.unwrap().suggestion.content(), "Wave at Max");
        assert_eq!(models.0.len(), 1);
        let format = &models.inputs_to(BACKUP)[0]["response_format"];
        assert_eq!(
            format["json_schema"]["properties"]["action"]["enum"],
            json!(["say", "do"])
        );
    }

    #[test]
    fn json_mode_not_met_is_answered_by_one_immediate_plain_call() {
        let (answer, models, _, slept) = run_flow_from(
            BACKUP,
            &[(
                BACKUP,
                vec![
                    Err(("AiError: JSON Mode couldn't be met", 30)),
                    ok(json!({"response": "Thank Max for the tip"})),
                ],
            )],
            &[],
        );
        let a = answer.unwrap();
        assert_eq!((a.model.as_str(), a.fallback), (BACKUP, false));
        let inputs = models.inputs_to(BACKUP);
        assert_eq!(inputs.len(), 2);
        assert!(inputs[0].get("response_format").is_some());
        assert!(inputs[1].get("response_format").is_none());
        assert_eq!(slept, 0, "no backoff");
    }

    #[test]
    fn capacity_errors_that_clear_after_two_tries() {
        let busy = Err(("3040: Capacity temporarily exceeded", 20));
        let (answer, models, _) = run_flow(
            &[(
                PRIMARY,
                vec![busy.clone(), busy, ok(json!({"response": "Say thanks to Max"}))],
            )],
            &[],
        );
        let a = answer.unwrap();
        assert_eq!((a.model.as_str(), a.fallback), (PRIMARY, false));
        assert_eq!(models.calls_to(PRIMARY), 3);
    }

    #[test]
    fn errors_that_never_clear_go_to_the_fallback_model_then_the_rules() {
        let busy = vec![Err(("3040: Capacity temporarily exceeded", 20))];
        let (answer, models, _) = run_flow(
            &[
                (PRIMARY, busy.clone()),
                (
                    BACKUP,
                    vec![ok(json!({"response": {"action": "say", "content": "Hi Max"}}))],
                ),
            ],
            &[],
        );
        let a = answer.unwrap();
        assert_eq!((a.model.as_str(), a.fallback), (BACKUP, true));
        assert_eq!(models.calls_to(PRIMARY), 3);

        let (answer, models, _) = run_flow(&[(PRIMARY, busy.clone()), (BACKUP, busy)], &[]);
        let a = answer.unwrap();
        assert_eq!((a.model.as_str(), a.fallback), ("rules", true));
        assert!(a.suggestion.content().contains("Max"));
        assert_eq!(models.calls_to(BACKUP), 3);
        assert!(models.0.iter().all(|(m, _)| m == PRIMARY || m == BACKUP));
    }

    #[test]
    fn permanent_errors_are_called_once_per_model() {
        for message in [
            "5007: No such model",
            "5004: Invalid data",
            "3006: Request is too large",
        ] {
            let (answer, models, _) = run_flow(
                &[
                    (PRIMARY, vec![Err((message, 5))]),
                    (BACKUP, vec![Err((message, 5))]),
                ],
                &[],
            );
            assert_eq!(answer.unwrap().model, "rules");
            assert_eq!(
                (models.calls_to(PRIMARY), models.calls_to(BACKUP)),
                (1, 1),
                "{message}"
            );
        }
    }

    #[test]
    fn an_account_refusal_stops_calling_workers_ai() {
        for message in [
            "3036: You have used up your daily free allocation",
            "AiError: 5035: upgrade",
            "3023: blocked",
        ] {
            let (answer, models, _) = run_flow(&[(PRIMARY, vec![Err((message, 5))])], &[]);
            assert_eq!(answer.unwrap().model, "rules", "{message}");
            assert_eq!(
                (models.calls_to(PRIMARY), models.calls_to(BACKUP)),
                (1, 0),
                "{message}"
            );
        }
    }

    #[test]
    fn an_error_outside_the_table_is_retried_at_most_once() {
        let (answer, models, _) = run_flow(
            &[
                (PRIMARY, vec![Err(("AiError: 9001: something new", 5))]),
                (BACKUP, vec![Err(("upstream went away", 5))]),
            ],
            &[],
        );
        assert_eq!(answer.unwrap().model, "rules");
        assert_eq!((models.calls_to(PRIMARY), models.calls_to(BACKUP)), (2, 2));
    }

    #[test]
    fn rules_fallback_off_gives_model_unavailable() {
        let (answer, _, _) = run_flow(
            &[
                (PRIMARY, vec![Err(("5007: No such model", 5))]),
                (BACKUP, vec![Err(("5007: x", 5))]),
            ],
            &[("RULES_FALLBACK", "false")],
        );
        assert_eq!(answer.unwrap_err(), ApiError::ModelUnavailable);
    }

    #[test]
    fn a_primary_that_hangs_leaves_time_for_the_fallback_with_shipped_settings() {
        let (answer, models, elapsed) = run_flow(
            &[
                (PRIMARY, vec![Err(("never answers", 1_000_000))]),
                (BACKUP, vec![ok(json!({"response": "Hi Max"}))]),
            ],
            &[("MODEL_TIMEOUT_MS", "6000"), ("REQUEST_DEADLINE_MS", "12000")],
        );
        assert_eq!(answer.unwrap().model, BACKUP);
        assert_eq!(models.calls_to(PRIMARY), 1);
        assert!(elapsed < 12_000);
    }

    #[test]
    fn a_hanging_model_is_cut_off_inside_the_deadline() {
        let hang = vec![Err(("never answers", 1_000_000))];
        let (answer, models, elapsed) = run_flow(&[(PRIMARY, hang.clone()), (BACKUP, hang)], &[]);
        assert_eq!(answer.unwrap().model, "rules");
        assert_eq!(
            (models.calls_to(PRIMARY), models.calls_to(BACKUP)),
            (1, 1),
            "a hang moves on"
        );
        assert!(elapsed <= 12_000, "{elapsed}");
    }

    #[test]
    fn an_unusable_answer_moves_on() {
        let (answer, models, _) = run_flow(
            &[
                (PRIMARY, vec![ok(json!({"response": ""}))]),
                (BACKUP, vec![ok(json!({"response": "Thank Max for the tokens!"}))]),
            ],
            &[],
        );
        assert_eq!(answer.unwrap().model, BACKUP);
        assert_eq!(models.calls_to(PRIMARY), 1);
    }

    #[test]
    fn a_stranger_named_lets_the_same_model_try_once_more() {
        let stranger = ok(json!({"response": "Thank @Ghost99 for the tokens!"}));
        let (answer, models, _) = run_flow(
            &[(
                PRIMARY,
                vec![
                    stranger.clone(),
                    ok(json!({"response": "Thank Max for the tokens!"})),
                ],
            )],
            &[],
        );
        let a = answer.unwrap();
        assert_eq!(
            (a.model.as_str(), a.suggestion.content()),
            (PRIMARY, "Thank Max for the tokens!")
        );
        assert_eq!(models.calls_to(PRIMARY), 2);
        let (answer, models, _) = run_flow(
            &[
                (PRIMARY, vec![stranger]),
                (BACKUP, vec![ok(json!({"response": "Thank Max for the tokens!"}))]),
            ],
            &[],
        );
        // Two refused answers are all a request takes: the rules coach answers.
        assert_eq!(answer.unwrap().model, "rules");
        assert_eq!(models.calls_to(PRIMARY), 2, "once more, not more");
        assert_eq!(models.calls_to(BACKUP), 0);
    }

    #[test]
    fn refusals_repeats_and_echoes_go_to_the_next_model_then_the_rules_coach() {
        for bad in [
            "I'm sorry, but I can't help with that request.",
            "Thank you so much, Max, for the 40 tokens!",
            "You are a live-stream coach speaking into the earpiece of Luna",
            "Follow Luna at https://scam.example",
        ] {
            let (answer, models, _) = run_flow_with(
                &[
                    (PRIMARY, vec![ok(json!({"response": bad}))]),
                    (BACKUP, vec![ok(json!({"response": bad}))]),
                ],
                &[],
                &["Thank you so much, Max, for the 40 tokens!"],
            );
            let a = answer.unwrap();
            assert_eq!((a.model.as_str(), a.fallback), ("rules", true), "{bad}");
            assert_eq!(
                (models.calls_to(PRIMARY), models.calls_to(BACKUP)),
                (1, 1),
                "{bad}"
            );
            assert!(
                !a.suggestion.content().contains("40 tokens"),
                "the rules coach does not thank it again: {}",
                a.suggestion.content()
            );
        }
    }

    #[test]
    fn the_model_is_told_what_was_said_and_a_cut_answer_is_asked_again_not_shortened() {
        let (answer, models, _) = run_flow_with(
            &[(
                PRIMARY,
                vec![
                    ok(
                        json!({"response": "Welcome back, chat! Tell me what you", "finish_reason": "length"}),
                    ),
                    ok(json!({"response": "Welcome back, chat! How was your day?", "finish_reason": "stop"})),
                ],
            )],
            &[],
            &["Thanks Max!"],
        );
        assert_eq!(
            answer.unwrap().suggestion.content(),
            "Welcome back, chat! How was your day?"
        );
        assert_eq!(models.calls_to(PRIMARY), 2);
        let user = models.inputs_to(PRIMARY)[0]["messages"][1]["content"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(user.contains("- Thanks Max!"), "{user}");
    }

    #[test]
    fn the_rules_coach_keeps_the_preferences_and_tries_its_next_line() {
        let req = CoachRequest::from_json(
            json!({"broadcaster": "Luna", "preferences": "Never mention tokens.",
                   "context": "Tip: Max tipped 40 tokens\nJoin: FreshFace"})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let (_, config) = setup(&[], &[]);
        let clock = FakeClock::at(NOW);
        let chain = config
            .registry
            .chain(config.registry.resolve(None).unwrap().model);
        let answer = block_on(coach::<FakeModels, _>(
            &CoachCall {
                req: &req,
                chain: &chain,
                policy: &config.coach,
                backend: None,
                clock: &clock,
                arrived_ms: NOW,
            },
            &mut Vec::new(),
        ))
        .unwrap();
        assert_eq!(answer.model, "rules");
        assert!(
            answer.suggestion.content().contains("Fresh Face"),
            "{:?}",
            answer.suggestion
        );
    }

    #[test]
    fn moderation_on_asks_the_guard_and_blocks_what_it_finds() {
        let guard = "@cf/meta/llama-guard-3-8b";
        let answer_of = |verdict: Value, blocked: &str| {
            let (answer, models, _) = run_flow(
                &[
                    (
                        PRIMARY,
                        vec![ok(json!({"response": "Thank Max for the tokens!"}))],
                    ),
                    (BACKUP, vec![ok(json!({"response": "Thanks, Max!"}))]),
                    (guard, vec![ok(json!({"response": verdict}))]),
                ],
                &[("MODERATION", "on"), ("MODERATION_BLOCKED", blocked)],
            );
            (answer.unwrap(), models)
        };
        let (a, models) = answer_of(json!({"safe": true, "categories": []}), "all");
        assert_eq!(a.model, PRIMARY);
        assert_eq!(models.calls_to(guard), 1);
        assert_eq!(
            models.inputs_to(guard)[0]["response_format"],
            json!({"type": "json_object"})
        );
        let (a, models) = answer_of(json!({"safe": false, "categories": ["S12"]}), "all");
        assert_eq!(a.model, "rules");
        assert_eq!(models.calls_to(guard), 2);
        let (a, _) = answer_of(json!({"safe": false, "categories": ["S12"]}), "S1,S10");
        assert_eq!(a.model, PRIMARY, "an adult platform lets S12 through");
        let (a, _) = answer_of(json!({"safe": false, "categories": ["S4"]}), "S1,S10");
        assert_eq!(a.model, "rules", "S4 is always blocked");
        let (_, models, _) = run_flow(&[(PRIMARY, vec![ok(json!({"response": "Hi Max"}))])], &[]);
        assert_eq!(models.calls_to(guard), 0, "moderation off: no guard call");
    }

    const TOGETHER: &[(&str, &str)] = &[
        ("TOGETHER_API_KEY", "tk-test"),
        ("TOGETHER_MODELS", "meta-llama/A,meta-llama/B"),
    ];

    fn with_together(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        [TOGETHER, extra].concat()
    }

    #[test]
    fn a_chain_can_mix_providers_and_an_account_refusal_skips_only_its_provider() {
        let vars = with_together(&[(
            "FALLBACK_MODELS",
            "@cf/meta/llama-3.3-70b-instruct-fp8-fast, together:meta-llama/A",
        )]);
        let (answer, models, _) = run_flow(
            &[
                (PRIMARY, vec![Err(("3036: daily free allocation used", 5))]),
                (
                    "together:meta-llama/A",
                    vec![ok(
                        json!({"choices": [{"message": {"content": "Thank Max for the tokens!"}}]}),
                    )],
                ),
            ],
            &vars,
        );
        let a = answer.unwrap();
        assert_eq!((a.model.as_str(), a.fallback), ("together:meta-llama/A", true));
        assert_eq!(
            models.calls_to(BACKUP),
            0,
            "Workers AI refused the account: its other models are skipped"
        );
        let input = models.inputs_to("together:meta-llama/A")[0];
        assert_eq!(
            input["model"], "meta-llama/A",
            "the provider gets its own model name"
        );
        assert!(input.get("response_format").is_none() && input.get("top_k").is_none());
        assert_eq!(input["messages"][0]["role"], "system");
    }

    #[test]
    fn a_refused_key_skips_that_providers_other_models() {
        let vars = with_together(&[(
            "FALLBACK_MODELS",
            "together:meta-llama/A, together:meta-llama/B, @cf/meta/llama-3.3-70b-instruct-fp8-fast",
        )]);
        let (answer, models, _) = run_flow(
            &[
                (PRIMARY, vec![Err(("5007: No such model", 5))]),
                ("together:meta-llama/A", vec![Err(("HTTP 401", 5))]),
                (BACKUP, vec![ok(json!({"response": "Thank Max for the tokens!"}))]),
            ],
            &vars,
        );
        assert_eq!(answer.unwrap().model, BACKUP);
        assert_eq!(models.calls_to("together:meta-llama/A"), 1);
        assert_eq!(models.calls_to("together:meta-llama/B"), 0);
    }

    #[test]
    fn a_rate_limit_is_retried_after_its_retry_after_when_the_deadline_allows() {
        let vars = with_together(&[("DEFAULT_MODEL", "together:meta-llama/A")]);
        let (answer, models, _, slept) = run_flow_from(
            "together:meta-llama/A",
            &[(
                "together:meta-llama/A",
                vec![
                    Err(("HTTP 429 1", 5)),
                    ok(json!({"choices": [{"message": {"content": "Thank Max for the tokens!"}}]})),
                ],
            )],
            &vars,
        );
        assert_eq!(answer.unwrap().model, "together:meta-llama/A");
        assert_eq!(models.calls_to("together:meta-llama/A"), 2);
        assert_eq!(slept, 1_000, "waited exactly as long as Retry-After said");
        // A wait past the deadline is not taken: the next model answers.
        let (answer, models, _, slept) = run_flow_from(
            "together:meta-llama/A",
            &[
                ("together:meta-llama/A", vec![Err(("HTTP 429 9", 5))]),
                (BACKUP, vec![ok(json!({"response": "Thank Max for the tokens!"}))]),
            ],
            &with_together(&[("REQUEST_DEADLINE_MS", "6000")]),
        );
        assert_eq!(answer.unwrap().model, BACKUP);
        assert_eq!((models.calls_to("together:meta-llama/A"), slept), (1, 0));
    }
}
