//! Language models: the published [`catalog`] of Workers AI models, the
//! [`registry`] of what this deployment offers, the [`providers`] that serve
//! them, how a call fails ([`failure`]), the [`sse`] framing of streams, and
//! the two wire formats ([`protocol`]). The traits and neutral types every
//! provider shares live here: a model ([`ModelBackend`], [`ModelStream`]),
//! time ([`Clock`]), and what goes in and comes out ([`Message`],
//! [`ModelReply`], [`Usage`], [`StreamPiece`]). The coach runs on the traits,
//! so it is tested natively on fakes.

pub mod catalog;
pub mod failure;
pub mod protocol;
pub mod providers;
pub mod registry;
pub mod sse;

use crate::core::llm::failure::ModelFailure;
use serde::Serialize;
use serde_json::Value;

/// One chat message of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

/// Tokens a call used, as the provider reported them.
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

/// What one streamed event carries: a piece of the answer's text (never
/// reasoning), and, near the end, `usage` and `finish_reason`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamPiece {
    pub text: String,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    /// `[DONE]`: nothing follows.
    pub done: bool,
    /// The provider reported a failure inside the stream.
    pub failed: bool,
}

impl StreamPiece {
    /// `data: [DONE]`, which both wire formats send last.
    pub fn end() -> StreamPiece {
        StreamPiece {
            done: true,
            ..StreamPiece::default()
        }
    }
}

/// A model, as the loop needs it.
#[allow(async_fn_in_trait)]
pub trait ModelBackend {
    type Stream: ModelStream;
    /// Runs `model` on `input`, giving up after `timeout_ms`.
    async fn run(&self, model: &str, input: &Value, timeout_ms: u64) -> Result<ModelReply, ModelFailure>;
    /// Starts a streamed call of `model` (its input asks for `stream`):
    /// `Ok` once the model has accepted it, within `timeout_ms`.
    async fn stream(&self, model: &str, input: &Value, timeout_ms: u64)
        -> Result<Self::Stream, ModelFailure>;
}

/// What a streamed call gives back, piece by piece.
pub enum Chunk {
    /// The next bytes of a server-sent event stream, cut anywhere.
    Bytes(Vec<u8>),
    /// The model answered whole instead of streaming.
    Whole(ModelReply),
}

/// A streamed call in progress. Dropping it stops reading the upstream.
#[allow(async_fn_in_trait)]
pub trait ModelStream {
    /// The next chunk, `None` at the end, or a failure (a timeout after `timeout_ms`).
    async fn next(&mut self, timeout_ms: u64) -> Result<Option<Chunk>, ModelFailure>;
}

/// Time, as the loop needs it.
#[allow(async_fn_in_trait)]
pub trait Clock {
    fn now_ms(&self) -> u64;
    async fn sleep(&self, ms: u64);
    /// Uniform in [0, 1), for backoff jitter.
    fn jitter(&self) -> f64;
}
