//! The pure core: everything the coach decides, with no Workers types, so it
//! is tested natively with `cargo test`. Grouped by concern, in the order a
//! request meets them (docs/architecture.md walks one request through):
//!
//! - [`access`]: who may call and how often (tokens, session keys, limits, CORS);
//! - [`request`]: the body parsed into domain types at the door;
//! - [`prompt`]: the messages a model is sent;
//! - [`llm`]: models, providers and their wire protocols, behind traits;
//! - [`coach`]: the chain of model calls, streaming, and the rules coach;
//! - [`answer`]: what a model said, parsed and judged fit for the earpiece;
//! - [`ops`]: what the operator sees (health, request ids);
//! - and what all of them share: [`error`], [`config`], [`text`], [`contact`],
//!   [`time`], [`order`].

pub mod access;
pub mod answer;
pub mod coach;
pub mod config;
pub mod contact;
pub mod error;
pub mod llm;
pub mod ops;
pub mod order;
pub mod prompt;
pub mod request;
#[cfg(test)]
pub mod testing;
pub mod text;
pub mod time;
