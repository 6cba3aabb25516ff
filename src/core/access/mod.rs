//! Access: who may call and how often. Session keys live here; tokens, rate
//! limits, client networks and CORS join them as the core is grouped by
//! concern (issue "The house by concern").

pub mod session;
