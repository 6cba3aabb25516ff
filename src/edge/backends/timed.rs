//! A model backend that adds the wall time of its calls to a counter, for
//! the request log line's `model_ms`. For a streamed call it counts the time
//! until the stream opened; the rest is the stream's, reported when it ends.

use crate::core::llm::failure::ModelFailure;
use crate::core::llm::ModelBackend;
use crate::core::llm::ModelReply;
use serde_json::Value;
use std::cell::Cell;

pub struct Timed<'a, B> {
    pub inner: B,
    pub spent_ms: &'a Cell<f64>,
}

impl<B> Timed<'_, B> {
    fn add_since(&self, start: f64) {
        let spent = worker::js_sys::Date::now() - start;
        self.spent_ms.set(self.spent_ms.get() + spent);
    }
}

impl<B: ModelBackend> ModelBackend for Timed<'_, B> {
    type Stream = B::Stream;

    async fn run(&self, model: &str, input: &Value, timeout_ms: u64) -> Result<ModelReply, ModelFailure> {
        let start = worker::js_sys::Date::now();
        let reply = self.inner.run(model, input, timeout_ms).await;
        self.add_since(start);
        reply
    }

    async fn stream(&self, model: &str, input: &Value, timeout_ms: u64) -> Result<B::Stream, ModelFailure> {
        let start = worker::js_sys::Date::now();
        let stream = self.inner.stream(model, input, timeout_ms).await;
        self.add_since(start);
        stream
    }
}
