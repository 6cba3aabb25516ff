//! The streaming coach: the same chain, retries and fallbacks as
//! [`crate::core::coach`], but each attempt streams. Nothing is committed to the
//! caller until a model has given its first speakable words: a model that
//! fails (or refuses) before then is answered by the next one, and the
//! caller still gets a plain JSON error if none answers. After that the
//! stream belongs to that model: its words go out as `delta` events as they
//! arrive, and the stream ends with `done` (the same object a non-streaming
//! call returns) or `error` (never upstream text), by the deadline at the
//! latest.

use crate::core::access::session::Issued;
use crate::core::answer::judge::{Judge, Screen};
use crate::core::answer::parse::Suggestion;
use crate::core::coach::relay::Relay;
use crate::core::coach::{
    input_for, judged, rules_answer, run_chain, Answer, Attempt, CoachCall, CoachPolicy, FailedCall, Ready,
};
use crate::core::error::ApiError;
use crate::core::llm::failure::{FailureKind, ModelFailure};
use crate::core::llm::protocol::Protocol;
use crate::core::llm::registry::Model;
use crate::core::llm::sse::{encode, SseDecoder};
use crate::core::llm::Message;
use crate::core::llm::{Chunk, Clock, ModelBackend, ModelStream};
use crate::core::llm::{ModelReply, Usage};
use crate::core::prompt::AnswerFormat;
use crate::core::request::CoachRequest;
use serde_json::json;

/// One event of ours on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Speakable words, in order; together they say the final `content`.
    Delta(String),
    /// The whole answer, as a non-streaming call returns it.
    Done(Answer),
    /// The stream ends without an answer.
    Error(ApiError),
}

impl StreamEvent {
    /// The answer a `done` event carries.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            StreamEvent::Done(answer) => Some(answer),
            _ => None,
        }
    }

    /// The event framed as server-sent event bytes.
    pub fn to_sse(&self) -> String {
        match self {
            StreamEvent::Delta(text) => encode("delta", &json!({ "text": text }).to_string()),
            StreamEvent::Done(answer) => encode(
                "done",
                &serde_json::to_string(answer).unwrap_or_else(|_| "{}".to_string()),
            ),
            StreamEvent::Error(e) => encode("error", &e.body().to_string()),
        }
    }
}

/// A stream ready to send: the events known now, and the model still
/// speaking (`None` when `first` already ends with `done`).
pub struct Opened<S> {
    pub first: Vec<StreamEvent>,
    pub rest: Option<LiveStream<S>>,
}

impl<S> Opened<S> {
    /// A whole answer (the rules coach's, or a model's that ended before its
    /// first delta) as a stream: its content in one delta, then `done`.
    pub fn whole(answer: Answer) -> Opened<S> {
        let mut first = Vec::new();
        if !answer.suggestion.content().is_empty() {
            first.push(StreamEvent::Delta(answer.suggestion.content().to_string()));
        }
        first.push(StreamEvent::Done(answer));
        Opened { first, rest: None }
    }

    /// The model that answers, as the log reports it.
    pub fn model(&self) -> Option<(&str, bool)> {
        match (&self.rest, self.first.last()) {
            (Some(live), _) => Some((live.model.as_str(), live.fallback)),
            (None, Some(StreamEvent::Done(a))) => Some((a.model.as_str(), a.fallback)),
            _ => None,
        }
    }

    /// Records on the `done` event what the request adds to the answer: the
    /// retired model the caller asked for, a renewed session key, a spent budget.
    pub fn annotate(
        &mut self,
        retired: Option<String>,
        session_key: Option<Issued>,
        over_budget: Option<&'static str>,
    ) {
        for event in &mut self.first {
            if let StreamEvent::Done(a) = event {
                a.retired_model = retired.clone();
                a.session_key = session_key.clone();
                a.over_budget = over_budget;
            }
        }
        if let Some(live) = &mut self.rest {
            live.retired_model = retired;
            live.session_key = session_key;
        }
    }
}

/// The upstream of one streamed call, read so far.
struct Upstream<S> {
    stream: S,
    decoder: SseDecoder,
    /// The provider's wire format, which reads each event's `data`.
    protocol: Protocol,
    relay: Relay,
    usage: Option<Usage>,
    finish_reason: Option<String>,
}

/// What reading the upstream gave.
enum Read {
    Deltas(Vec<String>),
    /// The upstream has said everything (`[DONE]`, its end, or the relay
    /// needs no more of it).
    End(Vec<String>),
}

impl<S: ModelStream> Upstream<S> {
    fn new(stream: S, relay: Relay, protocol: Protocol) -> Self {
        Upstream {
            stream,
            decoder: SseDecoder::new(),
            protocol,
            relay,
            usage: None,
            finish_reason: None,
        }
    }

    /// Reads one chunk within `timeout_ms`.
    async fn read(&mut self, timeout_ms: u64, may_say: &dyn Fn(&str) -> bool) -> Result<Read, ModelFailure> {
        let (events, ended) = match self.stream.next(timeout_ms).await? {
            None => (self.decoder.finish().into_iter().collect(), true),
            Some(Chunk::Whole(reply)) => {
                self.usage = reply.usage;
                self.finish_reason = reply.finish_reason;
                let text = match reply.response {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                return Ok(Read::End(self.relay.push(&text, may_say).into_iter().collect()));
            }
            Some(Chunk::Bytes(bytes)) => (self.decoder.push(&bytes), false),
        };
        let mut deltas = Vec::new();
        for event in events {
            let Some(piece) = self.protocol.stream_piece(&event.data) else {
                continue;
            };
            if piece.failed {
                return Err(ModelFailure::stream_failed());
            }
            if piece.done {
                return Ok(Read::End(deltas));
            }
            self.usage = piece.usage.or(self.usage.take());
            self.finish_reason = piece.finish_reason.or(self.finish_reason.take());
            deltas.extend(self.relay.push(&piece.text, may_say));
        }
        if ended || self.relay.has_all_it_needs() {
            return Ok(Read::End(deltas));
        }
        Ok(Read::Deltas(deltas))
    }

    /// The whole answer as the model wrote it (for the same judgement a
    /// non-streamed answer gets) and the last words the end released.
    fn finish(self, may_say: &dyn Fn(&str) -> bool) -> (ModelReply, Option<String>) {
        let (text, last) = self.relay.finish(may_say);
        let reply = ModelReply {
            response: serde_json::Value::String(text),
            usage: self.usage,
            finish_reason: self.finish_reason,
        };
        (reply, last)
    }
}

fn answer_from(suggestion: Suggestion, reply: ModelReply) -> Answer {
    Answer {
        suggestion,
        model: String::new(),
        fallback: false,
        retired_model: None,
        session_key: None,
        over_budget: None,
        paced: None,
        usage: reply.usage,
        finish_reason: reply.finish_reason,
    }
}

/// What one streamed attempt gave: a model speaking, or a whole answer.
enum Started<S> {
    Speaking {
        upstream: Upstream<S>,
        first: Vec<String>,
    },
    Whole(Answer),
}

struct StreamCall<'a, B, C> {
    backend: &'a B,
    clock: &'a C,
    policy: &'a CoachPolicy,
    /// Words may go out as they come (see [`CoachCall::streams_live`]).
    live: bool,
    messages: &'a [Message],
    judge: &'a Judge<'a>,
    deadline: u64,
}

impl<B: ModelBackend, C: Clock> Attempt for StreamCall<'_, B, C> {
    type Output = Started<B::Stream>;

    /// Starts the stream and reads it until the first delta, all within `timeout_ms`.
    async fn call(
        &mut self,
        model: &Model,
        _json_mode: bool,
        timeout_ms: u64,
    ) -> Result<Self::Output, ModelFailure> {
        let until = self.clock.now_ms() + timeout_ms;
        let input = input_for(model, self.messages, self.judge.request().options(), false, true);
        let stream = self.backend.stream(model.id(), &input, timeout_ms).await?;
        let relay = match self.live {
            true => Relay::new(self.policy.max_words),
            false => Relay::holding_all(),
        };
        let mut upstream = Upstream::new(stream, relay, model.provider().protocol());
        loop {
            let left = until.saturating_sub(self.clock.now_ms());
            if left == 0 {
                return Err(ModelFailure::timeout());
            }
            let may_say = |t: &str| self.judge.screen().may_say(t, self.judge.request());
            match upstream.read(left, &may_say).await? {
                Read::Deltas(deltas) if deltas.is_empty() => continue,
                Read::Deltas(first) => return Ok(Started::Speaking { upstream, first }),
                Read::End(_) => {
                    // Ended before a delta went out: judged whole, and a
                    // failure still lets the next model answer.
                    let (reply, _) = upstream.finish(&may_say);
                    let left = self.deadline.saturating_sub(self.clock.now_ms());
                    let moderation_ms = self.policy.model_timeout_ms.min(left);
                    let suggestion =
                        judged(self.judge, self.backend, self.policy, &reply, moderation_ms).await?;
                    return Ok(Started::Whole(answer_from(suggestion, reply)));
                }
            }
        }
    }
}

/// Opens the stream of `POST /api/generate-prompt` with `"stream": true`.
/// `Err` only when nothing can be streamed (every model failed and the rules
/// fallback is off): the caller then gets a normal JSON error.
pub async fn open_stream<B: ModelBackend, C: Clock>(
    call: &CoachCall<'_, B, C>,
    failures: &mut Vec<FailedCall>,
) -> Result<Opened<B::Stream>, ApiError> {
    let Ready {
        backend,
        messages,
        judge,
        deadline,
    } = match call.prepare(AnswerFormat::Plain) {
        Ok(ready) => ready,
        Err(rules) => return Ok(Opened::whole(*rules)),
    };
    let (chain, policy, clock) = (call.chain, call.policy, call.clock);
    let mut attempt = StreamCall {
        backend,
        clock,
        policy,
        live: call.streams_live(),
        messages: &messages,
        judge: &judge,
        deadline,
    };
    match run_chain(chain, policy, clock, deadline, failures, &mut attempt).await {
        Some((index, Started::Whole(mut answer))) => {
            answer.model = chain[index].id().to_string();
            answer.fallback = index > 0;
            Ok(Opened::whole(answer))
        }
        Some((index, Started::Speaking { upstream, first })) => Ok(Opened {
            first: first.into_iter().map(StreamEvent::Delta).collect(),
            rest: Some(LiveStream {
                upstream: Some(upstream),
                req: call.req.clone(),
                screen: judge.into_screen(),
                max_words: policy.max_words,
                model: chain[index].id().to_string(),
                fallback: index > 0,
                retired_model: None,
                session_key: None,
                deadline,
                failure: None,
                usage: None,
            }),
        }),
        None if policy.rules_fallback => Ok(Opened::whole(rules_answer(&judge, clock, true))),
        None => Err(ApiError::ModelUnavailable),
    }
}

/// A model speaking into an open stream. Owns everything it needs, so the
/// response body can outlive the handler.
pub struct LiveStream<S> {
    /// `None` once the stream has ended.
    upstream: Option<Upstream<S>>,
    /// What the final judgement needs: the request and the screen built from
    /// it and the prompt the model saw (screening each word on the way).
    req: CoachRequest,
    screen: Screen,
    max_words: usize,
    model: String,
    fallback: bool,
    retired_model: Option<String>,
    session_key: Option<Issued>,
    deadline: u64,
    /// Why the stream ended without `done`, for the log.
    failure: Option<FailedCall>,
    /// The tokens the model reported, once `done` went out.
    usage: Option<Usage>,
}

impl<S: ModelStream> LiveStream<S> {
    /// The next events; `None` once the stream has ended. Never waits past
    /// the deadline.
    pub async fn next<C: Clock>(&mut self, clock: &C) -> Option<Vec<StreamEvent>> {
        let upstream = self.upstream.as_mut()?;
        let left = self.deadline.saturating_sub(clock.now_ms());
        let (screen, req) = (&self.screen, &self.req);
        let may_say = |t: &str| screen.may_say(t, req);
        let read = if left == 0 {
            Err(ModelFailure::timeout())
        } else {
            upstream.read(left, &may_say).await
        };
        match read {
            Ok(Read::Deltas(deltas)) => Some(deltas.into_iter().map(StreamEvent::Delta).collect()),
            Ok(Read::End(deltas)) => {
                let upstream = self.upstream.take()?;
                let mut said = upstream.relay.sent().to_string();
                let (reply, last) = upstream.finish(&may_say);
                said.extend(last.clone());
                let screen = std::mem::take(&mut self.screen);
                let judge = Judge::with_screen(&self.req, screen, self.max_words);
                let verdict = judge.answer(&reply.response, reply.finish_reason.as_deref());
                // The words of this last read go out only with the `done` they
                // lead to: a rejected answer loses them, and what was already
                // spoken is withdrawn.
                let mut events: Vec<StreamEvent> = Vec::new();
                match verdict {
                    // `done` must say what the deltas said; if the whole answer
                    // reads otherwise, what was spoken is withdrawn.
                    Ok(suggestion) if !suggestion.content().starts_with(said.as_str()) => {
                        events.push(self.fail(ModelFailure::unusable(), ApiError::SuggestionWithdrawn));
                    }
                    Ok(suggestion) => {
                        events.extend(deltas.into_iter().map(StreamEvent::Delta));
                        events.extend(last.map(StreamEvent::Delta));
                        // Words the cleaning completed (a final stop) go out too.
                        let rest = &suggestion.content()[said.len()..];
                        if !rest.is_empty() {
                            events.push(StreamEvent::Delta(rest.to_string()));
                        }
                        events.push(self.done(suggestion, reply));
                    }
                    Err(quality) => events.push(self.fail(quality.into(), ApiError::SuggestionWithdrawn)),
                }
                Some(events)
            }
            Err(failure) => {
                // Dropping the upstream stops reading it.
                self.upstream = None;
                let error = match failure.kind {
                    FailureKind::TimedOut => ApiError::DeadlineExceeded,
                    _ => ApiError::StreamBroken,
                };
                Some(vec![self.fail(failure, error)])
            }
        }
    }

    /// The `done` event of an accepted answer, with what the request adds to it.
    fn done(&mut self, suggestion: Suggestion, reply: ModelReply) -> StreamEvent {
        let mut answer = answer_from(suggestion, reply);
        answer.model = self.model.clone();
        answer.fallback = self.fallback;
        answer.retired_model = self.retired_model.clone();
        answer.session_key = self.session_key.clone();
        self.usage = answer.usage.clone();
        StreamEvent::Done(answer)
    }

    fn fail(&mut self, failure: ModelFailure, error: ApiError) -> StreamEvent {
        self.failure = Some(FailedCall {
            model: self.model.clone(),
            failure,
        });
        StreamEvent::Error(error)
    }

    /// Why the stream ended without `done`, once it has.
    pub fn failure(&self) -> Option<&FailedCall> {
        self.failure.as_ref()
    }

    /// The tokens the model reported, once `done` went out.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::answer::parse::Action;
    use crate::core::coach::fakes::{block_on, FakeClock};
    use crate::core::coach::CoachCall;
    use crate::core::config::Config;
    use crate::core::llm::failure::classify_error;
    use crate::core::llm::ModelReply;
    use serde_json::Value;
    use std::cell::RefCell;
    use std::collections::{HashMap, VecDeque};

    const PRIMARY: &str = "@cf/meta/llama-3.1-8b-instruct-fast";
    const BACKUP: &str = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
    const NOW: u64 = 1_795_000_000_000;

    #[derive(Clone)]
    enum Piece {
        /// Bytes after `gap` ms.
        Bytes(Vec<u8>, u64),
        Whole(&'static str),
        Fail(&'static str),
        Stall,
    }

    #[derive(Clone)]
    enum Step {
        Refuse(&'static str),
        Stream(Vec<Piece>),
    }

    /// SSE events carrying `tokens`, one chunk each, `gap` ms apart, then `[DONE]`.
    fn tokens(tokens: &[&str], gap: u64) -> Vec<Piece> {
        let mut out: Vec<Piece> = tokens
            .iter()
            .map(|t| {
                let data = json!({ "response": t }).to_string();
                Piece::Bytes(format!("data: {data}\n\n").into_bytes(), gap)
            })
            .collect();
        out.push(Piece::Bytes(b"data: [DONE]\n\n".to_vec(), gap));
        out
    }

    struct FakeStreams<'a> {
        scripts: RefCell<HashMap<String, VecDeque<Step>>>,
        inputs: RefCell<Vec<(String, Value)>>,
        clock: &'a FakeClock,
    }

    struct FakeStream<'a> {
        pieces: VecDeque<Piece>,
        clock: &'a FakeClock,
    }

    impl ModelStream for FakeStream<'_> {
        async fn next(&mut self, timeout_ms: u64) -> Result<Option<Chunk>, ModelFailure> {
            match self.pieces.pop_front() {
                None => Ok(None),
                Some(Piece::Bytes(_, gap)) if gap >= timeout_ms => {
                    self.clock.advance(timeout_ms);
                    Err(ModelFailure::timeout())
                }
                Some(Piece::Bytes(bytes, gap)) => {
                    self.clock.advance(gap);
                    Ok(Some(Chunk::Bytes(bytes)))
                }
                Some(Piece::Whole(text)) => Ok(Some(Chunk::Whole(ModelReply {
                    response: Value::String(text.to_string()),
                    usage: None,
                    finish_reason: None,
                }))),
                Some(Piece::Fail(message)) => Err(classify_error(message)),
                Some(Piece::Stall) => {
                    self.clock.advance(timeout_ms);
                    Err(ModelFailure::timeout())
                }
            }
        }
    }

    impl<'a> ModelBackend for &'a FakeStreams<'a> {
        type Stream = FakeStream<'a>;

        async fn run(&self, _: &str, _: &Value, _: u64) -> Result<ModelReply, ModelFailure> {
            Err(ModelFailure::unusable())
        }

        async fn stream(&self, model: &str, input: &Value, _: u64) -> Result<FakeStream<'a>, ModelFailure> {
            self.inputs.borrow_mut().push((model.to_string(), input.clone()));
            self.clock.advance(10);
            let step = self
                .scripts
                .borrow_mut()
                .get_mut(model)
                .and_then(VecDeque::pop_front);
            match step {
                Some(Step::Stream(pieces)) => Ok(FakeStream {
                    pieces: pieces.into(),
                    clock: self.clock,
                }),
                Some(Step::Refuse(message)) => Err(classify_error(message)),
                None => Err(classify_error("5007: No such model")),
            }
        }
    }

    struct Run {
        opened: Result<Vec<StreamEvent>, ApiError>,
        model: Option<(String, bool)>,
        /// Events sent before the model finished: the first batch.
        first: usize,
        inputs: Vec<(String, Value)>,
        ended_at: u64,
        failure: Option<FailedCall>,
    }

    fn stream_with(scripts: Vec<(&str, Vec<Step>)>, vars: &[(&str, &str)]) -> Run {
        stream_for(scripts, vars, "")
    }

    fn stream_with_prefs(scripts: Vec<(&str, Vec<Step>)>, preferences: &str) -> Run {
        stream_for(scripts, &[], preferences)
    }

    fn stream_for(scripts: Vec<(&str, Vec<Step>)>, vars: &[(&str, &str)], preferences: &str) -> Run {
        let req = CoachRequest::from_json(
            json!({"broadcaster": "Luna", "context": "Tip: Max tipped 40 tokens", "stream": true, "preferences": preferences})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let mut all: HashMap<&str, &str> = [("FALLBACK_MODELS", BACKUP), ("REQUEST_DEADLINE_MS", "4000")]
            .into_iter()
            .collect();
        all.extend(vars.iter().copied());
        let config = Config::from_lookup(&|k| all.get(k).map(|v| v.to_string()), NOW as i64).unwrap();
        let clock = FakeClock::at(NOW);
        let fakes = FakeStreams {
            scripts: RefCell::new(
                scripts
                    .into_iter()
                    .map(|(m, s)| (m.to_string(), s.into()))
                    .collect(),
            ),
            inputs: RefCell::new(Vec::new()),
            clock: &clock,
        };
        let chain = config
            .registry
            .chain(config.registry.resolve(None).unwrap().model);
        let mut failures = Vec::new();
        let backend = &fakes;
        let opened = block_on(open_stream(
            &CoachCall {
                req: &req,
                chain: &chain,
                policy: &config.coach,
                backend: Some(&backend),
                clock: &clock,
                arrived_ms: NOW,
            },
            &mut failures,
        ));
        let mut run = Run {
            opened: Err(ApiError::Internal("test".to_string())),
            model: None,
            first: 0,
            inputs: Vec::new(),
            ended_at: 0,
            failure: None,
        };
        match opened {
            Err(e) => run.opened = Err(e),
            Ok(mut opened) => {
                run.model = opened.model().map(|(m, f)| (m.to_string(), f));
                run.first = opened.first.len();
                let mut events = std::mem::take(&mut opened.first);
                if let Some(live) = &mut opened.rest {
                    while let Some(more) = block_on(live.next(&clock)) {
                        events.extend(more);
                    }
                    run.failure = live.failure().cloned();
                }
                run.opened = Ok(events);
            }
        }
        run.inputs = fakes.inputs.into_inner();
        run.ended_at = clock.now_ms();
        run
    }

    fn deltas(events: &[StreamEvent]) -> Vec<&str> {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Delta(d) => Some(d.as_str()),
                _ => None,
            })
            .collect()
    }

    fn done(events: &[StreamEvent]) -> &Answer {
        match events.last() {
            Some(StreamEvent::Done(a)) => a,
            other => panic!("the stream ends with {other:?}"),
        }
    }

    #[test]
    fn deltas_in_order_then_done_with_what_they_said() {
        let words = [
            "Thanks", " Max", " for", " the", " 40", " tokens,", " you", " rock!",
        ];
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(tokens(&words, 100))])], &[]);
        let events = run.opened.unwrap();
        let d = deltas(&events);
        assert!(d.len() >= 3, "words flow in several deltas: {d:?}");
        let answer = done(&events);
        assert_eq!(d.concat(), answer.suggestion.content());
        assert_eq!(
            answer.suggestion.content(),
            "Thanks Max for the 40 tokens, you rock!"
        );
        assert_eq!((answer.model.as_str(), answer.fallback), (PRIMARY, false));
        assert_eq!(run.first, 1, "the first delta is sent before the model finishes");
        let input = &run.inputs[0].1;
        assert_eq!(input["stream"], json!(true));
        assert!(input.get("response_format").is_none());
        assert!(input["messages"][0]["content"].as_str().unwrap().contains("WAIT"));
    }

    #[test]
    fn a_model_refusing_before_its_first_token_is_answered_by_the_fallback_in_the_same_stream() {
        let run = stream_with(
            vec![
                (
                    PRIMARY,
                    vec![Step::Refuse("3040: Capacity temporarily exceeded"); 3],
                ),
                (
                    BACKUP,
                    vec![Step::Stream(tokens(&["Say hi", " to Max", " and", " smile"], 50))],
                ),
            ],
            &[],
        );
        assert_eq!(run.model, Some((BACKUP.to_string(), true)));
        let events = run.opened.unwrap();
        let answer = done(&events);
        assert_eq!((answer.model.as_str(), answer.fallback), (BACKUP, true));
        assert_eq!(deltas(&events).concat(), "Say hi to Max and smile");
        assert!(run.inputs.iter().all(|(m, _)| m == PRIMARY || m == BACKUP));
    }

    #[test]
    fn a_stream_that_breaks_after_two_chunks_ends_with_an_error_event() {
        let mut pieces = tokens(&["Thanks Max for", " the tip", " and"], 50);
        pieces.truncate(2);
        pieces.push(Piece::Fail("3040: Capacity temporarily exceeded"));
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(pieces)])], &[]);
        let events = run.opened.unwrap();
        assert_eq!(deltas(&events).concat(), "Thanks Max for the");
        assert_eq!(events.last(), Some(&StreamEvent::Error(ApiError::StreamBroken)));
        assert_eq!(run.failure.unwrap().failure.code, Some(3040));
    }

    #[test]
    fn a_stream_that_stalls_ends_by_the_deadline() {
        let mut pieces = tokens(&["Thanks Max for", " the tip"], 50);
        pieces.truncate(2);
        pieces.push(Piece::Stall);
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(pieces)])], &[]);
        let events = run.opened.unwrap();
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Error(ApiError::DeadlineExceeded))
        );
        assert!(run.ended_at <= NOW + 4_000, "{}", run.ended_at - NOW);
    }

    #[test]
    fn a_model_silent_past_its_timeout_before_the_first_delta_moves_on() {
        let run = stream_with(
            vec![
                (PRIMARY, vec![Step::Stream(vec![Piece::Stall])]),
                (BACKUP, vec![Step::Stream(tokens(&["Wave at Max", " now"], 20))]),
            ],
            &[("MODEL_TIMEOUT_MS", "1500")],
        );
        assert_eq!(run.model, Some((BACKUP.to_string(), true)));
        assert_eq!(done(&run.opened.unwrap()).suggestion.content(), "Wave at Max now");
    }

    #[test]
    fn utf8_split_inside_characters_arrives_whole() {
        let text = "Caf\u{e9} no\u{eb}l \u{1F600} Max, merci!";
        let data = format!("data: {}\n\ndata: [DONE]\n\n", json!({ "response": text }));
        let bytes = data.as_bytes();
        let e_acute = data.find('\u{e9}').unwrap() + 1; // inside the two bytes of U+00E9
        let emoji = data.find('\u{1F600}').unwrap() + 2; // inside the four bytes of the emoji
        let pieces = vec![
            Piece::Bytes(bytes[..e_acute].to_vec(), 10),
            Piece::Bytes(bytes[e_acute..emoji].to_vec(), 10),
            Piece::Bytes(bytes[emoji..].to_vec(), 10),
        ];
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(pieces)])], &[]);
        let events = run.opened.unwrap();
        let content = done(&events).suggestion.content().to_string();
        assert!(content.contains("Caf\u{e9} no\u{eb}l"), "{content}");
        assert!(!content.contains('\u{fffd}'), "{content}");
        assert_eq!(deltas(&events).concat(), content);
    }

    #[test]
    fn json_is_never_sent_as_deltas() {
        let json_tokens = [
            "{\"action\":",
            " \"say\",",
            " \"content\":",
            " \"Thanks Max",
            " for the tip!\"}",
        ];
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(tokens(&json_tokens, 30))])], &[]);
        let events = run.opened.unwrap();
        let d = deltas(&events);
        assert!(d.iter().all(|d| !d.contains('{') && !d.contains('"')), "{d:?}");
        assert_eq!(done(&events).suggestion.content(), "Thanks Max for the tip!");
        assert_eq!(d.concat(), "Thanks Max for the tip!");
    }

    #[test]
    fn wait_and_do() {
        let run = stream_with(
            vec![(PRIMARY, vec![Step::Stream(tokens(&["WA", "IT"], 10))])],
            &[],
        );
        let events = run.opened.unwrap();
        // A model is asked only for a line that is due: its wait is refused,
        // and the rules coach answers.
        assert!(
            deltas(&events).iter().all(|d| !d.contains("WA")),
            "{:?}",
            deltas(&events)
        );
        assert_eq!(done(&events).model, "rules");
        let run = stream_with(
            vec![(
                PRIMARY,
                vec![Step::Stream(tokens(&["DO", ": Wave", " at the", " camera"], 10))],
            )],
            &[],
        );
        let events = run.opened.unwrap();
        assert_eq!(done(&events).suggestion.action(), Action::Do);
        assert_eq!(deltas(&events).concat(), "Wave at the camera");
    }

    #[test]
    fn a_model_that_answers_whole_is_streamed_as_one_delta() {
        let run = stream_with(
            vec![(
                PRIMARY,
                vec![Step::Stream(vec![Piece::Whole("Thank Max for the tip!")])],
            )],
            &[],
        );
        let events = run.opened.unwrap();
        assert_eq!(deltas(&events), ["Thank Max for the tip!"]);
        assert_eq!(done(&events).model, PRIMARY);
    }

    #[test]
    fn a_stranger_named_before_any_delta_moves_on() {
        let run = stream_with(
            vec![
                (PRIMARY, vec![Step::Stream(tokens(&["Thank @Ghost99!"], 10))]),
                (
                    BACKUP,
                    vec![Step::Stream(tokens(&["Thank Max", " for the", " tip!"], 10))],
                ),
            ],
            &[],
        );
        assert_eq!(run.model, Some((BACKUP.to_string(), true)));
        let events = run.opened.unwrap();
        assert!(deltas(&events).iter().all(|d| !d.contains("Ghost")));
    }

    #[test]
    fn a_stranger_named_after_deltas_went_out_withdraws_the_suggestion() {
        let run = stream_with(
            vec![(
                PRIMARY,
                vec![Step::Stream(tokens(
                    &["Thank Max for", " the tip", " and @Ghost99", " too"],
                    10,
                ))],
            )],
            &[],
        );
        let events = run.opened.unwrap();
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Error(ApiError::SuggestionWithdrawn))
        );
    }

    #[test]
    fn done_never_says_other_than_the_deltas() {
        // Words went out, then the line turned into JSON the final parse reads otherwise.
        let run = stream_with(
            vec![(
                PRIMARY,
                vec![Step::Stream(tokens(
                    &[
                        "Thanks Max for",
                        " the tip",
                        " {\"action\":\"say\",\"content\":\"Wave at Max\"}",
                    ],
                    10,
                ))],
            )],
            &[],
        );
        let events = run.opened.unwrap();
        assert_eq!(deltas(&events).concat(), "Thanks Max for the");
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Error(ApiError::SuggestionWithdrawn))
        );
    }

    #[test]
    fn words_the_checks_refuse_are_never_relayed() {
        // The broadcaster's limits: what they rule out is not spoken, even halfway.
        let prefs = "Never mention politics.";
        let run = stream_with_prefs(
            vec![(
                PRIMARY,
                vec![Step::Stream(tokens(
                    &[
                        "Ask chat",
                        " what they",
                        " think about",
                        " politics",
                        " and",
                        " voting",
                    ],
                    10,
                ))],
            )],
            prefs,
        );
        let events = run.opened.unwrap();
        let said = deltas(&events).concat();
        assert!(!said.to_lowercase().contains("politic"), "{said:?}");
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Error(ApiError::SuggestionWithdrawn))
        );
        // A URL halfway through: the words before it may go, the URL never does.
        let run = stream_with_prefs(
            vec![(
                PRIMARY,
                vec![Step::Stream(tokens(
                    &["Thank Max", " for the", " tip, visit", " scam.example", " now"],
                    10,
                ))],
            )],
            "",
        );
        let said = deltas(&run.opened.unwrap()).concat();
        assert!(!said.contains("scam"), "{said:?}");
    }

    #[test]
    fn every_model_refusing_is_a_plain_error_or_the_rules_coach() {
        let refuse = || vec![Step::Refuse("5007: No such model")];
        let run = stream_with(
            vec![(PRIMARY, refuse()), (BACKUP, refuse())],
            &[("RULES_FALLBACK", "false")],
        );
        assert_eq!(run.opened.unwrap_err(), ApiError::ModelUnavailable);
        let run = stream_with(vec![(PRIMARY, refuse()), (BACKUP, refuse())], &[]);
        let events = run.opened.unwrap();
        let answer = done(&events);
        assert_eq!((answer.model.as_str(), answer.fallback), ("rules", true));
        assert_eq!(deltas(&events), [answer.suggestion.content()]);
    }

    #[test]
    fn events_are_framed_as_the_contract_says() {
        assert_eq!(
            StreamEvent::Delta("Hi \"Max\"".into()).to_sse(),
            "event: delta\ndata: {\"text\":\"Hi \\\"Max\\\"\"}\n\n"
        );
        let e = StreamEvent::Error(ApiError::DeadlineExceeded).to_sse();
        assert!(
            e.starts_with("event: error\ndata: {\"code\":\"deadline_exceeded\",\"error\":"),
            "{e}"
        );
    }
}
