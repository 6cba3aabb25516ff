//! The streaming coach: the same chain, retries and fallbacks as
//! [`crate::core::coach`], but each attempt streams. A stream speaks only what
//! will stand as the whole answer: a later word can always make an answer
//! unfit (a second line, a word past the limit, a stranger's name), and a
//! spoken word cannot be taken back. So the model's text is read to its end
//! and judged whole, as a non-streaming answer is, and only then sent: its
//! words in one `delta`, then `done` (the same object a non-streaming call
//! returns). What streaming from the model still gives is time: reading
//! stops as soon as the text can no longer be a whole suggestion
//! ([`Relay::cannot_stand`]), and the next try starts at once. A model that
//! fails or is refused is answered by the next one, or the rules coach, in
//! the same stream; nothing of it was sent.

use crate::core::access::session::Issued;
use crate::core::answer::judge::Judge;
use crate::core::coach::relay::Relay;
use crate::core::coach::{
    input_for, judged, rules_answer, run_chain, Answer, Attempt, CoachCall, CoachPolicy, FailedCall, Ready,
};
use crate::core::error::ApiError;
use crate::core::llm::failure::ModelFailure;
use crate::core::llm::protocol::Protocol;
use crate::core::llm::registry::Model;
use crate::core::llm::sse::{encode, SseDecoder};
use crate::core::llm::Message;
use crate::core::llm::{Chunk, Clock, ModelBackend, ModelStream};
use crate::core::llm::{ModelReply, Usage};
use crate::core::prompt::AnswerFormat;
use serde_json::json;

/// One event of ours on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Speakable words; together they say the final `content`.
    Delta(String),
    /// The whole answer, as a non-streaming call returns it.
    Done(Answer),
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
            StreamEvent::Done(answer) => done_event(answer),
        }
    }
}

/// A `done` event carrying `answer`: the coach's, or the edge's with what it adds.
pub fn done_event(answer: &impl serde::Serialize) -> String {
    encode(
        "done",
        &serde_json::to_string(answer).unwrap_or_else(|_| "{}".to_string()),
    )
}

/// A stream's events: the answer's words in one delta (none for a silent
/// `wait`), then `done`.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub events: Vec<StreamEvent>,
}

impl Opened {
    /// A whole answer (a model's, the rules coach's, or a paced wait) as a
    /// stream: its content in one delta, then `done`.
    pub fn whole(answer: Answer) -> Opened {
        let mut events = Vec::new();
        if !answer.suggestion.content().is_empty() {
            events.push(StreamEvent::Delta(answer.suggestion.content().to_string()));
        }
        events.push(StreamEvent::Done(answer));
        Opened { events }
    }

    /// The answer the stream ends with.
    pub fn answer(&self) -> Option<&Answer> {
        self.events.iter().find_map(StreamEvent::answer)
    }

    /// The model that answers, as the log reports it.
    pub fn model(&self) -> Option<(&str, bool)> {
        self.answer().map(|a| (a.model.as_str(), a.fallback))
    }

    /// Records on the `done` event what the request adds to the answer: the
    /// retired model the caller asked for, a renewed session key, a spent budget.
    pub fn annotate(
        &mut self,
        retired: Option<String>,
        session_key: Option<Issued>,
        over_budget: Option<&'static str>,
    ) {
        for event in &mut self.events {
            if let StreamEvent::Done(a) = event {
                a.retired_model = retired.clone();
                a.session_key = session_key.clone();
                a.over_budget = over_budget;
            }
        }
    }

    /// The events as the bytes of the response body.
    pub fn to_sse(&self) -> String {
        self.events.iter().map(StreamEvent::to_sse).collect()
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

    /// Reads one chunk within `timeout_ms`; `true` once there is nothing more
    /// to read: the upstream ended (`[DONE]`, its end, a whole reply), or the
    /// text can no longer be a whole suggestion.
    async fn read(&mut self, timeout_ms: u64) -> Result<bool, ModelFailure> {
        let (events, ended) = match self.stream.next(timeout_ms).await? {
            None => (self.decoder.finish().into_iter().collect(), true),
            Some(Chunk::Whole(reply)) => {
                self.usage = reply.usage;
                self.finish_reason = reply.finish_reason;
                match reply.response {
                    serde_json::Value::String(s) => self.relay.push(&s),
                    other => self.relay.push(&other.to_string()),
                }
                return Ok(true);
            }
            Some(Chunk::Bytes(bytes)) => (self.decoder.push(&bytes), false),
        };
        for event in events {
            let Some(piece) = self.protocol.stream_piece(&event.data) else {
                continue;
            };
            if piece.failed {
                return Err(ModelFailure::stream_failed());
            }
            if piece.done {
                return Ok(true);
            }
            self.usage = piece.usage.or(self.usage.take());
            self.finish_reason = piece.finish_reason.or(self.finish_reason.take());
            self.relay.push(&piece.text);
        }
        Ok(ended || self.relay.cannot_stand())
    }

    /// The whole answer as the model wrote it, for the same judgement a
    /// non-streamed answer gets.
    fn finish(self) -> ModelReply {
        ModelReply {
            response: serde_json::Value::String(self.relay.finish()),
            usage: self.usage,
            finish_reason: self.finish_reason,
        }
    }
}

/// One streamed attempt at a model: its text read to the end (or until it
/// cannot stand), then judged whole.
struct StreamCall<'a, B, C> {
    backend: &'a B,
    clock: &'a C,
    policy: &'a CoachPolicy,
    messages: &'a [Message],
    judge: &'a Judge<'a>,
    deadline: u64,
    /// What the last stream read to its end reported using.
    usage: Option<Usage>,
}

impl<B: ModelBackend, C: Clock> Attempt for StreamCall<'_, B, C> {
    type Output = Answer;

    /// Starts the stream and reads it to its end, all within `timeout_ms`;
    /// dropping the upstream when it returns stops the model.
    async fn call(
        &mut self,
        model: &Model,
        _json_mode: bool,
        timeout_ms: u64,
    ) -> Result<Answer, ModelFailure> {
        let until = self.clock.now_ms() + timeout_ms;
        let input = input_for(model, self.messages, self.judge.request().options(), false, true);
        let stream = self.backend.stream(model.id(), &input, timeout_ms).await?;
        let relay = Relay::new(self.policy.max_words);
        let mut upstream = Upstream::new(stream, relay, model.provider().protocol());
        loop {
            let left = until.saturating_sub(self.clock.now_ms());
            if left == 0 {
                return Err(ModelFailure::timeout());
            }
            if upstream.read(left).await? {
                break;
            }
        }
        let reply = upstream.finish();
        self.usage = reply.usage.clone();
        let left = self.deadline.saturating_sub(self.clock.now_ms());
        let moderation_ms = self.policy.model_timeout_ms.min(left);
        let suggestion = judged(self.judge, self.backend, self.policy, &reply, moderation_ms).await?;
        Ok(answer_from(suggestion, reply))
    }

    fn take_usage(&mut self) -> Option<Usage> {
        self.usage.take()
    }
}

fn answer_from(suggestion: crate::core::answer::parse::Suggestion, reply: ModelReply) -> Answer {
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

/// The stream of `POST /api/generate-prompt` with `"stream": true`. `Err`
/// only when every model failed and the rules fallback is off: the caller
/// then gets a normal JSON error, not a stream.
pub async fn open_stream<B: ModelBackend, C: Clock>(
    call: &CoachCall<'_, B, C>,
    failures: &mut Vec<FailedCall>,
) -> Result<Opened, ApiError> {
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
        messages: &messages,
        judge: &judge,
        deadline,
        usage: None,
    };
    match run_chain(chain, policy, clock, deadline, failures, &mut attempt).await {
        Some((index, mut answer)) => {
            answer.model = chain[index].id().to_string();
            answer.fallback = index > 0;
            Ok(Opened::whole(answer))
        }
        None if policy.rules_fallback => Ok(Opened::whole(rules_answer(&judge, clock, true))),
        None => Err(ApiError::ModelUnavailable),
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
    use crate::core::request::CoachRequest;
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
        inputs: Vec<(String, Value)>,
        ended_at: u64,
        failures: Vec<FailedCall>,
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
        Run {
            model: opened
                .as_ref()
                .ok()
                .and_then(|o| o.model())
                .map(|(m, f)| (m.to_string(), f)),
            opened: opened.map(|o| o.events),
            inputs: fakes.inputs.into_inner(),
            ended_at: clock.now_ms(),
            failures,
        }
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

    fn refused_as(failures: &[FailedCall]) -> Vec<&'static str> {
        failures.iter().map(|f| f.failure.label).collect()
    }

    #[test]
    fn the_whole_line_in_one_delta_then_done() {
        let words = [
            "Thanks", " Max", " for", " the", " 40", " tokens,", " you", " rock!",
        ];
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(tokens(&words, 100))])], &[]);
        let events = run.opened.unwrap();
        let answer = done(&events);
        assert_eq!(deltas(&events), [answer.suggestion.content()]);
        assert_eq!(
            answer.suggestion.content(),
            "Thanks Max for the 40 tokens, you rock!"
        );
        assert_eq!((answer.model.as_str(), answer.fallback), (PRIMARY, false));
        assert_eq!(events.len(), 2);
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
    fn a_stream_that_breaks_sends_nothing_of_it_and_the_chain_goes_on() {
        let mut pieces = tokens(&["Thanks Max for", " the tip", " and"], 50);
        pieces.truncate(2);
        pieces.push(Piece::Fail("3040: Capacity temporarily exceeded"));
        let run = stream_with(
            vec![
                (PRIMARY, vec![Step::Stream(pieces)]),
                (BACKUP, vec![Step::Stream(tokens(&["Wave at Max!"], 10))]),
            ],
            &[],
        );
        let events = run.opened.unwrap();
        assert_eq!(deltas(&events), ["Wave at Max!"]);
        assert_eq!(run.failures[0].failure.code, Some(3040));
    }

    #[test]
    fn a_stream_that_stalls_is_answered_within_the_deadline() {
        let mut pieces = tokens(&["Thanks Max for", " the tip"], 50);
        pieces.truncate(2);
        pieces.push(Piece::Stall);
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(pieces)])], &[]);
        let events = run.opened.unwrap();
        assert_eq!(done(&events).model, "rules");
        assert!(!deltas(&events).concat().contains("Thanks Max for the"));
        assert!(run.ended_at <= NOW + 4_000, "{}", run.ended_at - NOW);
    }

    #[test]
    fn a_model_silent_past_its_timeout_moves_on() {
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
    fn reading_stops_as_soon_as_the_answer_cannot_stand() {
        // A good first line, then the model runs on: a second line is never
        // waited for to the end (the stall after it is never reached).
        let mut pieces = tokens(&["Thanks Max", " for the tip!", "\nMax", " tipped"], 20);
        pieces.pop();
        pieces.push(Piece::Stall);
        let run = stream_with(
            vec![(PRIMARY, vec![Step::Stream(pieces.clone()), Step::Stream(pieces)])],
            &[],
        );
        let events = run.opened.as_ref().unwrap();
        assert_eq!(done(events).model, "rules");
        assert_eq!(refused_as(&run.failures), ["needed a piece cut out"; 2]);
        assert!(run.ended_at < NOW + 1_000, "{}", run.ended_at - NOW);
    }

    #[test]
    fn utf8_split_inside_characters_arrives_whole() {
        let text = "Caf\u{e9} no\u{eb}l \u{20BB7}, Max, merci!";
        let data = format!("data: {}\n\ndata: [DONE]\n\n", json!({ "response": text }));
        let bytes = data.as_bytes();
        let e_acute = data.find('\u{e9}').unwrap() + 1; // inside the two bytes of U+00E9
        let four = data.find('\u{20BB7}').unwrap() + 2; // inside the four bytes of U+20BB7
        let pieces = vec![
            Piece::Bytes(bytes[..e_acute].to_vec(), 10),
            Piece::Bytes(bytes[e_acute..four].to_vec(), 10),
            Piece::Bytes(bytes[four..].to_vec(), 10),
        ];
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(pieces)])], &[]);
        let events = run.opened.unwrap();
        let content = done(&events).suggestion.content().to_string();
        assert_eq!(content, text);
        assert_eq!(deltas(&events).concat(), content);
    }

    #[test]
    fn json_is_read_whole_and_only_its_content_sent() {
        let json_tokens = [
            "{\"action\":",
            " \"say\",",
            " \"content\":",
            " \"Thanks Max",
            " for the tip!\"}",
        ];
        let run = stream_with(vec![(PRIMARY, vec![Step::Stream(tokens(&json_tokens, 30))])], &[]);
        let events = run.opened.unwrap();
        assert_eq!(deltas(&events), ["Thanks Max for the tip!"]);
        assert_eq!(done(&events).suggestion.content(), "Thanks Max for the tip!");
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
        assert_eq!(deltas(&events), ["Wave at the camera"]);
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
    fn a_stranger_named_anywhere_in_the_line_sends_nothing_of_it() {
        for words in [
            vec!["Thank @Ghost99!"],
            vec!["Thank Max for", " the tip", " and @Ghost99", " too"],
        ] {
            let run = stream_with(
                vec![
                    (PRIMARY, vec![Step::Stream(tokens(&words, 10))]),
                    (
                        BACKUP,
                        vec![Step::Stream(tokens(&["Thank Max", " for the", " tip!"], 10))],
                    ),
                ],
                &[],
            );
            assert_eq!(run.model, Some((BACKUP.to_string(), true)), "{words:?}");
            let events = run.opened.unwrap();
            assert_eq!(deltas(&events), ["Thank Max for the tip!"], "{words:?}");
        }
    }

    #[test]
    fn a_line_that_turns_into_json_at_its_end_is_refused_whole() {
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
        let events = run.opened.as_ref().unwrap();
        assert_eq!(done(events).model, "rules");
        assert_eq!(refused_as(&run.failures)[0], "needed a piece cut out");
    }

    #[test]
    fn words_the_checks_refuse_are_never_sent() {
        // The broadcaster's limits: what they rule out is not spoken, even halfway.
        let run = stream_with_prefs(
            vec![(
                PRIMARY,
                vec![Step::Stream(tokens(
                    &["Ask chat", " what they", " think about", " politics"],
                    10,
                ))],
            )],
            "Never mention politics.",
        );
        let events = run.opened.unwrap();
        let said = deltas(&events).concat();
        assert!(!said.to_lowercase().contains("politic"), "{said:?}");
        assert!(!said.contains("Ask chat what they"), "{said:?}");
        // A URL halfway through: none of the line goes.
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
        assert!(!said.contains("scam") && !said.contains("visit"), "{said:?}");
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
    }
}
