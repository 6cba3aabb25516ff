//! The wire formats a model is spoken to in: Workers AI's own
//! ([`workers_ai`]) and OpenAI's chat completions ([`chat_completions`]).

pub mod chat_completions;
pub mod workers_ai;
