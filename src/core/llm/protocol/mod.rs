//! The wire formats a model is spoken to in: Workers AI's own
//! ([`workers_ai`]) and OpenAI's chat completions ([`chat_completions`]).

pub mod chat_completions;
pub mod workers_ai;

use crate::core::llm::catalog::Entry;
use crate::core::llm::{Message, StreamPiece};
use crate::core::request::options::GenerationOptions;
use serde_json::Value;

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The `AI` binding's input and output ([`workers_ai`]).
    WorkersAi,
    /// `POST {base}/chat/completions` ([`chat_completions`]).
    ChatCompletions,
}

impl Protocol {
    /// The input of one call of the model `name` (its name at the provider).
    pub fn input(
        self,
        name: &str,
        entry: &Entry,
        messages: &[Message],
        options: &GenerationOptions,
        json_mode: bool,
        stream: bool,
    ) -> Value {
        match (self, stream) {
            (Protocol::WorkersAi, true) => workers_ai::stream_input(entry, messages, options),
            (Protocol::WorkersAi, false) => workers_ai::model_input(entry, messages, options, json_mode),
            (Protocol::ChatCompletions, _) => {
                chat_completions::request_body(name, entry, messages, options, json_mode, stream)
            }
        }
    }

    /// One streamed event's `data`; `None` when it carries nothing.
    pub fn stream_piece(self, data: &str) -> Option<StreamPiece> {
        match self {
            Protocol::WorkersAi => workers_ai::stream_piece(data),
            Protocol::ChatCompletions => chat_completions::stream_piece(data),
        }
    }
}
