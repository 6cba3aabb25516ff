//! The pure core's cost per request, stage by stage, natively (docs/benchmark.md):
//! the body parsed at the door (`core/request`), the prompt built
//! (`core/prompt`), the judge made ready and an answer judged (`core/answer`:
//! parse, the checks, spoken names), and the whole path of one request as
//! the edge runs it (parse, plan, prompt, one model call answering at once,
//! the verdict, the answer serialised). Two bodies in the coach frontend's
//! own words (bench/rooms.mjs): a typical 20-event request and a 500-event
//! whole buffer of about 54 KB. `cargo bench --bench core`.
//! Native only: criterion does not build for wasm32, where this is an empty `main`.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use coach_worker::core::access::usage;
    use coach_worker::core::answer::judge::Judge;
    use coach_worker::core::coach::{coach, CoachCall};
    use coach_worker::core::config::Config;
    use coach_worker::core::llm::failure::ModelFailure;
    use coach_worker::core::llm::protocol::workers_ai::reply_from_value;
    use coach_worker::core::llm::{Chunk, Clock, ModelBackend, ModelReply, ModelStream};
    use coach_worker::core::prompt::{build_messages, AnswerFormat, MAX_PROMPT_CHARS, MAX_SUGGESTION_WORDS};
    use coach_worker::core::request::CoachRequest;
    use criterion::{criterion_group, Criterion};
    use serde_json::{json, Value};
    use std::future::Future;
    use std::hint::black_box;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// 2026-11-30T18:30:00Z, a little after the rooms' events.
    const NOW: u64 = 1_796_063_400_000;
    /// What the simulated model answers (as tests/bench.mjs's does).
    const ANSWER: &str = r#"{"action":"say","content":"Thanks User456 for the 50 tokens, bakori mutesa!"}"#;

    fn rooms() -> [(&'static str, &'static [u8]); 2] {
        [
            ("20 events", include_bytes!("../bench/rooms/room-20.json")),
            ("500 events", include_bytes!("../bench/rooms/room-500.json")),
        ]
    }

    /// Runs a future whose awaits all complete at once.
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    struct FixedClock;

    impl Clock for FixedClock {
        fn now_ms(&self) -> u64 {
            NOW
        }
        async fn sleep(&self, _ms: u64) {}
        fn jitter(&self) -> f64 {
            0.5
        }
    }

    struct NoStream;

    impl ModelStream for NoStream {
        async fn next(&mut self, _timeout_ms: u64) -> Result<Option<Chunk>, ModelFailure> {
            Ok(None)
        }
    }

    /// A model that answers at once, with the benchmark's line.
    struct AtOnce;

    impl ModelBackend for AtOnce {
        type Stream = NoStream;

        async fn run(
            &self,
            _model: &str,
            input: &Value,
            _timeout_ms: u64,
        ) -> Result<ModelReply, ModelFailure> {
            black_box(input);
            reply_from_value(json!({ "response": ANSWER })).ok_or_else(ModelFailure::unusable)
        }

        async fn stream(&self, _: &str, _: &Value, _: u64) -> Result<NoStream, ModelFailure> {
            Err(ModelFailure::unusable())
        }
    }

    /// One request as the edge serves it, past the gate: the body parsed, the
    /// model chain planned and priced, the coach (prompt, model, verdict), the answer serialised.
    fn whole(config: &Config, body: &[u8]) -> String {
        let req = CoachRequest::from_json(body).expect("the bench body parses");
        let resolved = config.registry.resolve(req.model()).expect("the default model");
        resolved.model.check_options(req.options()).expect("no options");
        let chain = config.registry.chain(resolved.model);
        black_box(usage::prompt_chars_bound(&req));
        let call = CoachCall {
            req: &req,
            chain: &chain,
            policy: &config.coach,
            backend: Some(&AtOnce),
            clock: &FixedClock,
            arrived_ms: NOW,
        };
        let answer = block_on(coach(&call, &mut Vec::new())).expect("an answer");
        assert!(!answer.fallback, "the benchmark's answer is the model's own");
        serde_json::to_string(&answer).expect("serialises")
    }

    fn stages(c: &mut Criterion) {
        let config = Config::from_lookup(&|_| None, NOW as i64).expect("the default configuration");
        let answer = json!(ANSWER);
        for (label, body) in rooms() {
            let mut group = c.benchmark_group(label);
            group.bench_function("request: body parsed", |b| {
                b.iter(|| CoachRequest::from_json(black_box(body)).unwrap())
            });
            let req = CoachRequest::from_json(body).unwrap();
            let build = |format| {
                build_messages(
                    &req,
                    Some(NOW as i64),
                    MAX_PROMPT_CHARS,
                    MAX_SUGGESTION_WORDS,
                    format,
                )
            };
            group.bench_function("prompt: built (JSON format)", |b| {
                b.iter(|| build(black_box(AnswerFormat::Json)))
            });
            group.bench_function("prompt: built (plain format)", |b| {
                b.iter(|| build(black_box(AnswerFormat::Plain)))
            });
            let system = build(AnswerFormat::Json).swap_remove(0).content;
            group.bench_function("answer: judge made ready", |b| {
                b.iter(|| Judge::new(black_box(&req), &system, MAX_SUGGESTION_WORDS))
            });
            let judge = Judge::new(&req, &system, MAX_SUGGESTION_WORDS);
            assert!(
                judge.answer(&answer, Some("stop")).is_ok(),
                "the benchmark's answer passes"
            );
            group.bench_function("answer: judged", |b| {
                b.iter(|| judge.answer(black_box(&answer), Some("stop")).unwrap())
            });
            group.bench_function("whole path", |b| b.iter(|| whole(&config, black_box(body))));
            group.finish();
        }
    }

    criterion_group!(benches, stages);
}
