//! Access: who is calling ([`auth`] for bearer tokens, [`session`] for the
//! coach frontend's session keys), whether a configured secret may guard
//! anything ([`strength`]), how often they may ([`ratelimit`], per
//! [`address`] network for failures), how much they may spend ([`usage`], and
//! the deployment's budget in slices, [`lease`]),
//! what their state object decides ([`state`]), remembered token records
//! ([`cache`]), and which browser origins may read the answers ([`cors`]).

pub mod address;
pub mod auth;
pub mod cache;
pub mod cors;
pub mod lease;
pub mod ratelimit;
pub mod session;
pub mod state;
pub mod strength;
pub mod usage;
