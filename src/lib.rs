//! Coaching Worker: `POST /api/generate-prompt` turns a live room's recent
//! chat and tips into one short suggestion for the broadcaster's earpiece.
//!
//! [`core`] decides (validation, prompts, parsing, the rules coach, retries);
//! `edge` adapts HTTP, KV and the `AI` binding and exists only in the wasm build.

pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;
