//! The coaching flow: build the model input, call the requested model, retry
//! transient failures with backoff inside the deadline, fall back along
//! `FALLBACK_MODELS`, and end with the rules coach, so a broadcaster always
//! gets an answer in time. Also reads every shape a Workers AI text model
//! answers with (object, string, SSE byte stream) into one [`ModelReply`].
//!
//! The model and the clock are traits, so the whole flow runs natively in
//! tests; the edge supplies the `AI` binding and the Workers timers.

use super::config::Config;
use super::error::ApiError;
use super::models::{describe, ModelInfo};
use super::output::{parse_answer, Suggestion};
use super::prompt::build_messages;
use super::request::CoachRequest;
use super::resilience::{backoff_ms, FailureKind, ModelFailure};
use super::rules;
use super::time::EpochMillis;
use serde::Serialize;
use serde_json::{json, Value};

/// Below this many milliseconds left, no new model call starts.
const MIN_CALL_MS: u64 = 500;
const BACKOFF_BASE_MS: u64 = 250;
const BACKOFF_MAX_MS: u64 = 2_000;

/// A model, as the flow needs it.
#[allow(async_fn_in_trait)]
pub trait ModelBackend {
    /// Runs `model` on `input`, giving up after `timeout_ms`.
    async fn run(&self, model: &str, input: &Value, timeout_ms: u64) -> Result<ModelReply, ModelFailure>;
}

/// Time, as the flow needs it.
#[allow(async_fn_in_trait)]
pub trait Clock {
    fn now_ms(&self) -> u64;
    async fn sleep(&self, ms: u64);
    /// Uniform in [0, 1), for backoff jitter.
    fn jitter(&self) -> f64;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    /// The model's answer: a string, or an object in JSON mode.
    pub response: Value,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
}

/// The `200` body of `POST /api/generate-prompt`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    #[serde(flatten)]
    pub suggestion: Suggestion,
    /// The model that really answered, or `rules`.
    pub model: String,
    /// True when the requested model did not answer and a fallback did.
    pub fallback: bool,
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
}

/// Workers AI input for a text-generation model.
pub fn model_input(req: &CoachRequest, model: &ModelInfo, now: Option<EpochMillis>) -> Value {
    let mut input = serde_json::to_value(&req.options).unwrap_or_else(|_| json!({}));
    input["messages"] = json!(build_messages(req, now));
    if model.json_mode {
        input["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["say", "do", "wait"]},
                    "content": {"type": "string"}
                },
                "required": ["action", "content"]
            }
        });
    }
    input
}

/// The coaching flow. `backend` is `None` when no `AI` binding is configured
/// (local development): the rules coach answers, and that is not a fallback.
/// `started_ms` is when the request arrived: the deadline counts from there.
pub async fn coach<B: ModelBackend, C: Clock>(
    started_ms: u64,
    req: &CoachRequest,
    model: &ModelInfo,
    config: &Config,
    backend: Option<&B>,
    clock: &C,
    failures: &mut Vec<FailedCall>,
) -> Result<Answer, ApiError> {
    let now = Some(clock.now_ms() as EpochMillis);
    let Some(backend) = backend else {
        return Ok(rules_answer(req, now, false));
    };
    let deadline = started_ms + config.deadline_ms;
    let mut chain: Vec<ModelInfo> = vec![model.clone()];
    for id in &config.fallback_models {
        if !chain.iter().any(|m| &m.id == id) {
            chain.push(describe(id));
        }
    }
    'models: for (index, candidate) in chain.iter().enumerate() {
        let input = model_input(req, candidate, now);
        for attempt in 0..=config.max_retries {
            let left = deadline.saturating_sub(clock.now_ms());
            if left < MIN_CALL_MS {
                break 'models;
            }
            let timeout = config.model_timeout_ms.min(left);
            let result = backend.run(&candidate.id, &input, timeout).await;
            let failure = match result {
                Ok(reply) => match parse_answer(&reply.response) {
                    Some(suggestion) if !names_are_known(suggestion.content(), req) => {
                        ModelFailure::unknown_person()
                    }
                    Some(suggestion) => {
                        return Ok(Answer {
                            suggestion,
                            model: candidate.id.clone(),
                            fallback: index > 0,
                            usage: reply.usage,
                            finish_reason: reply.finish_reason,
                        })
                    }
                    None => ModelFailure::unusable(),
                },
                Err(f) => f,
            };
            let retry_same_model = failure.kind == FailureKind::Transient;
            failures.push(FailedCall {
                model: candidate.id.clone(),
                failure,
            });
            if !retry_same_model || attempt == config.max_retries {
                continue 'models;
            }
            let wait = backoff_ms(attempt, BACKOFF_BASE_MS, BACKOFF_MAX_MS, clock.jitter());
            if clock.now_ms() + wait + MIN_CALL_MS > deadline {
                continue 'models;
            }
            clock.sleep(wait).await;
        }
    }
    if config.rules_fallback {
        Ok(rules_answer(req, Some(clock.now_ms() as EpochMillis), true))
    } else {
        Err(ApiError::ModelUnavailable)
    }
}

/// Words that can only be usernames (`@name`, or three or more letters mixed
/// with digits such as `User789`) must belong to someone in the room or to the
/// broadcaster: a suggestion about a made-up viewer is worse than none.
pub fn names_are_known(content: &str, req: &CoachRequest) -> bool {
    let known: Vec<String> = req
        .context
        .events()
        .iter()
        .filter_map(|e| e.user.as_deref())
        .chain(std::iter::once(req.broadcaster.as_str()))
        .chain(req.broadcaster.as_str().split_whitespace())
        .map(str::to_lowercase)
        .collect();
    let room_text: String = req
        .context
        .events()
        .iter()
        .map(|e| e.text.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    content.split_whitespace().all(|word| {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '@');
        let mention = word.starts_with('@');
        let name = word.trim_start_matches('@').to_lowercase();
        // At least three letters, so "3D", "4K" or "mp3" are not taken for names.
        let mixed = name.chars().filter(|c| c.is_alphabetic()).count() >= 3
            && name.chars().any(|c| c.is_ascii_digit());
        if !(mention || mixed) || name.is_empty() {
            return true;
        }
        known.contains(&name) || room_text.contains(&name)
    })
}

fn rules_answer(req: &CoachRequest, now: Option<EpochMillis>, fallback: bool) -> Answer {
    Answer {
        suggestion: rules::suggest(&req.context, &req.broadcaster, now),
        model: "rules".to_string(),
        fallback,
        usage: None,
        finish_reason: None,
    }
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage")?;
    Some(Usage {
        prompt_tokens: u.get("prompt_tokens")?.as_u64()?,
        completion_tokens: u.get("completion_tokens")?.as_u64()?,
    })
}

fn finish_reason_of(v: &Value) -> Option<String> {
    v.get("finish_reason")
        .or_else(|| v.pointer("/choices/0/finish_reason"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A Workers AI result already read as JSON: `{response, usage?}`, an
/// OpenAI-style `{choices: [{message: {content}}]}`, or a bare string.
pub fn reply_from_value(v: Value) -> Option<ModelReply> {
    match v {
        Value::String(_) => Some(ModelReply {
            response: v,
            usage: None,
            finish_reason: None,
        }),
        Value::Object(_) => {
            let response = v
                .get("response")
                .cloned()
                .or_else(|| v.pointer("/choices/0/message/content").cloned())
                .or_else(|| v.pointer("/choices/0/text").cloned())
                .filter(|r| !r.is_null())?;
            Some(ModelReply {
                usage: usage_of(&v),
                finish_reason: finish_reason_of(&v),
                response,
            })
        }
        _ => None,
    }
}

/// A streamed Workers AI result: server-sent events whose `data:` lines carry
/// `{"response": "<token>"}` (and, at the end, `usage`), closed by `[DONE]`.
/// Bytes that are not SSE at all are read as the answer's text.
pub fn reply_from_sse(bytes: &[u8]) -> Option<ModelReply> {
    let text = String::from_utf8_lossy(bytes);
    let mut response = String::new();
    let mut usage = None;
    let mut finish_reason = None;
    let mut saw_event = false;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        saw_event = true;
        let data = data.trim();
        if data == "[DONE]" {
            break;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        if let Some(piece) = v
            .get("response")
            .and_then(Value::as_str)
            .or_else(|| v.pointer("/choices/0/delta/content").and_then(Value::as_str))
        {
            response.push_str(piece);
        }
        usage = usage_of(&v).or(usage);
        finish_reason = finish_reason_of(&v).or(finish_reason);
    }
    if !saw_event {
        let plain = text.trim();
        return (!plain.is_empty()).then(|| ModelReply {
            response: Value::String(plain.to_string()),
            usage: None,
            finish_reason: None,
        });
    }
    Some(ModelReply {
        response: Value::String(response),
        usage,
        finish_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::output::Action;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Runs a future whose awaits all complete at once (the fakes below).
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    struct FakeClock {
        now: Cell<u64>,
    }

    impl Clock for FakeClock {
        fn now_ms(&self) -> u64 {
            self.now.get()
        }
        async fn sleep(&self, ms: u64) {
            self.now.set(self.now.get() + ms);
        }
        fn jitter(&self) -> f64 {
            0.5
        }
    }

    type Script = Vec<Result<Value, (&'static str, u64)>>;

    /// Answers from a per-model script; an error is `(message, ms it takes)`.
    struct FakeModels<'a> {
        scripts: RefCell<HashMap<String, Script>>,
        calls: RefCell<Vec<(String, u64)>>,
        clock: &'a FakeClock,
    }

    /// Every call made: (model, timeout it was given).
    struct Calls(Vec<(String, u64)>);

    impl Calls {
        fn calls_to(&self, model: &str) -> usize {
            self.0.iter().filter(|(m, _)| m == model).count()
        }
    }

    impl ModelBackend for FakeModels<'_> {
        async fn run(
            &self,
            model: &str,
            _input: &Value,
            timeout_ms: u64,
        ) -> Result<ModelReply, ModelFailure> {
            self.calls.borrow_mut().push((model.to_string(), timeout_ms));
            let clock = self.clock;
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
                Err((message, ms)) if ms >= timeout_ms => {
                    let _ = message;
                    clock.now.set(clock.now.get() + timeout_ms);
                    Err(ModelFailure::timeout())
                }
                Err((message, ms)) => {
                    clock.now.set(clock.now.get() + ms);
                    Err(crate::core::resilience::classify_error(message))
                }
            }
        }
    }

    const PRIMARY: &str = "@cf/meta/llama-3.1-8b-instruct-fast";
    const BACKUP: &str = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

    fn setup(extra: &[(&str, &str)]) -> (CoachRequest, Config) {
        let req = CoachRequest::from_json(
            json!({"broadcaster": "Luna", "context": "Tip: Max tipped 40 tokens"})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let mut vars: HashMap<&str, &str> = [("FALLBACK_MODELS", BACKUP)].into_iter().collect();
        vars.extend(extra.iter().copied());
        let config = Config::from_lookup(&|k| vars.get(k).map(|v| v.to_string())).unwrap();
        (req, config)
    }

    fn run_flow(
        scripts: &[(&str, Script)],
        extra: &[(&str, &str)],
    ) -> (Result<Answer, ApiError>, Calls, u64) {
        let (req, config) = setup(extra);
        let clock = FakeClock {
            now: Cell::new(1_000_000),
        };
        let models = FakeModels {
            scripts: RefCell::new(scripts.iter().map(|(m, s)| (m.to_string(), s.clone())).collect()),
            calls: RefCell::new(Vec::new()),
            clock: &clock,
        };
        let model = config.registry.default_model().clone();
        let mut failures = Vec::new();
        let started = clock.now.get();
        let answer = block_on(coach(
            started,
            &req,
            &model,
            &config,
            Some(&models),
            &clock,
            &mut failures,
        ));
        let elapsed = clock.now.get() - 1_000_000;
        (answer, Calls(models.calls.into_inner()), elapsed)
    }

    fn ok(v: Value) -> Result<Value, (&'static str, u64)> {
        Ok(v)
    }

    #[test]
    fn a_clean_answer_comes_back_with_usage() {
        let (answer, models, _) = run_flow(
            &[(
                PRIMARY,
                vec![ok(
                    json!({"response": {"action": "say", "content": "Thanks Max!"},
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
        assert_eq!(a.model, PRIMARY);
        assert!(!a.fallback);
        assert_eq!(
            a.usage,
            Some(Usage {
                prompt_tokens: 300,
                completion_tokens: 9
            })
        );
        assert_eq!(models.calls_to(PRIMARY), 1);
    }

    #[test]
    fn capacity_errors_that_clear_after_two_tries() {
        let (answer, models, _) = run_flow(
            &[(
                PRIMARY,
                vec![
                    Err(("3040: Capacity temporarily exceeded", 20)),
                    Err(("3040: Capacity temporarily exceeded", 20)),
                    ok(json!({"response": "Say thanks to Max"})),
                ],
            )],
            &[],
        );
        let a = answer.unwrap();
        assert_eq!(a.model, PRIMARY);
        assert!(!a.fallback);
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
                    vec![ok(
                        json!({"response": "{\"action\":\"say\",\"content\":\"Hi Max\"}"}),
                    )],
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
    }

    #[test]
    fn permanent_errors_are_called_once_per_model() {
        let (answer, models, _) = run_flow(
            &[
                (PRIMARY, vec![Err(("5007: No such model", 5))]),
                (BACKUP, vec![Err(("3036: account limit", 5))]),
            ],
            &[],
        );
        assert_eq!(answer.unwrap().model, "rules");
        assert_eq!(models.calls_to(PRIMARY), 1);
        assert_eq!(models.calls_to(BACKUP), 1);
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
        assert!(models.0.iter().all(|(_, t)| *t <= 6_000));
    }

    #[test]
    fn suggestions_about_people_not_in_the_room_are_refused() {
        let (req, _) = setup(&[]);
        assert!(names_are_known("Thanks Max for the 40 tokens!", &req));
        assert!(names_are_known("Wave at Luna's camera, 3D style", &req));
        assert!(!names_are_known("Thanks User789 for the tip!", &req));
        assert!(!names_are_known("Say hi to @Ghost", &req));
        let dj = CoachRequest::from_json(br#"{"broadcaster": "DJ Max99", "context": []}"#).unwrap();
        assert!(names_are_known("Max99, say hi to chat!", &dj));
        let (answer, models, _) = run_flow(
            &[
                (
                    PRIMARY,
                    vec![ok(json!({"response": "Thank @Ghost99 for the tokens!"}))],
                ),
                (BACKUP, vec![ok(json!({"response": "Thank Max for the tokens!"}))]),
            ],
            &[],
        );
        assert_eq!(answer.unwrap().model, BACKUP);
        assert_eq!(models.calls_to(PRIMARY), 1);
    }

    #[test]
    fn unusable_answers_move_on() {
        let (answer, models, _) = run_flow(
            &[
                (PRIMARY, vec![ok(json!({"response": ""}))]),
                (BACKUP, vec![ok(json!({"response": "Wave at Max!"}))]),
            ],
            &[],
        );
        assert_eq!(answer.unwrap().model, BACKUP);
        assert_eq!(models.calls_to(PRIMARY), 1);
    }

    #[test]
    fn json_mode_models_get_a_schema_and_others_do_not() {
        let (req, config) = setup(&[]);
        let with = model_input(&req, config.registry.resolve("llama-3.1-8b").unwrap(), None);
        assert_eq!(
            with["response_format"]["json_schema"]["properties"]["action"]["enum"],
            json!(["say", "do", "wait"])
        );
        let without = model_input(&req, config.registry.resolve("qwen1.5-14b").unwrap(), None);
        assert!(without.get("response_format").is_none());
        assert_eq!(
            without["max_tokens"],
            json!(crate::core::options::DEFAULT_MAX_TOKENS)
        );
        assert_eq!(without["messages"][0]["role"], "system");
    }

    #[test]
    fn replies_in_every_shape() {
        let obj = reply_from_value(json!({"response": {"action": "do", "content": "Wave"}, "usage": {"prompt_tokens": 1, "completion_tokens": 2}})).unwrap();
        assert_eq!(obj.response["action"], "do");
        let openai =
            reply_from_value(json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}))
                .unwrap();
        assert_eq!(
            (openai.response, openai.finish_reason.as_deref()),
            (json!("hi"), Some("stop"))
        );
        assert_eq!(reply_from_value(json!("plain")).unwrap().response, json!("plain"));
        assert!(reply_from_value(json!({"nothing": 1})).is_none());
        assert!(reply_from_value(json!(3)).is_none());
    }

    #[test]
    fn sse_streams_are_joined() {
        let sse = b"data: {\"response\":\"{\\\"action\\\":\\\"say\\\",\"}\n\ndata: {\"response\":\"\\\"content\\\":\\\"Hi Max\\\"}\"}\n\ndata: {\"response\":\"\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n";
        let r = reply_from_sse(sse).unwrap();
        assert_eq!(r.response, json!("{\"action\":\"say\",\"content\":\"Hi Max\"}"));
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 7
            })
        );
        assert_eq!(reply_from_sse(b"just text").unwrap().response, json!("just text"));
        assert!(reply_from_sse(b"").is_none());
    }
}
