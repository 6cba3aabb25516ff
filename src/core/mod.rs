//! The pure core: everything the coach decides, with no Workers types, so it
//! is tested natively with `cargo test`.

pub mod access;
pub mod address;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod checks;
pub mod coach;
pub mod config;
pub mod cors;
pub mod error;
pub mod events;
pub mod health;
pub mod memory;
pub mod models;
pub mod moderation;
pub mod names;
pub mod openai;
pub mod options;
pub mod output;
pub mod prompt;
pub mod providers;
pub mod ratelimit;
pub mod relay;
pub mod request;
pub mod request_id;
pub mod resilience;
pub mod rules;
pub mod speech;
pub mod sse;
pub mod streaming;
pub mod text;
pub mod time;
pub mod workers_ai;
