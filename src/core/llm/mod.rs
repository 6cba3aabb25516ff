//! Language models: the published [`catalog`] of Workers AI models, the
//! [`registry`] of what this deployment offers, the [`providers`] that serve
//! them, how a call fails ([`failure`]), the [`sse`] framing of streams, and
//! the two wire formats ([`protocol`]).

pub mod catalog;
pub mod failure;
pub mod protocol;
pub mod providers;
pub mod registry;
pub mod sse;
