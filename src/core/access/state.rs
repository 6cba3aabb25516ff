//! A caller's state, as its Durable Object keeps it (the edge's `state`
//! module moves the bytes and the SQL): the minute and day windows, the
//! lines said to the caller lately, and what the caller spent today against
//! its allowance. Everything here is decided in one call with no await, so
//! in a single-threaded object it is exact under any concurrency.
//!
//! What is kept, and for how long: the window counts of the current day; the
//! last [`MAX_REMEMBERED`] suggestions spoken to the caller, each for
//! [`SAID_KEPT_MS`] (the suggestion's own words only, nothing of the room's
//! chat); the day's spend in neurons.

use crate::core::access::ratelimit::{day_of, decide, Counter, Decision, Limits, Quota};
use crate::core::access::usage::Budget;
use crate::core::order::sort_by_key;
use crate::core::request::recent::MAX_REMEMBERED;
use serde::{Deserialize, Serialize};

/// How long a suggestion is remembered: a day, longer than any broadcast.
pub const SAID_KEPT_MS: u64 = 86_400_000;

/// What the Worker asks the caller's object before a request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Admit {
    pub now_ms: u64,
    pub limits: Limits,
    /// The caller's daily allowance in neurons, when one is set.
    pub allowance: Option<f64>,
    /// What this request may cost, set aside against the allowance.
    pub estimate: f64,
}

/// What the caller's object answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admission {
    /// `None` when no window is counted.
    pub quota: Option<Quota>,
    /// Set when the request is refused (429).
    pub retry_after_secs: Option<u64>,
    /// The lines said to this caller lately, oldest first.
    pub said: Vec<String>,
    /// `false`: the allowance is spent; the rules coach answers.
    pub within_allowance: bool,
}

/// The windows as stored: the day they count and the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Windows {
    pub day: u64,
    pub counter: Counter,
}

/// What the object must write back after [`admit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Changes {
    /// The windows to store, when the request was counted.
    pub windows: Option<Windows>,
    /// The allowance to store, when an estimate was set aside.
    pub spend: Option<Budget>,
}

/// Decides a request against the stored windows and today's spend.
pub fn admit(stored: Option<Windows>, spend: Budget, ask: &Admit, said: Vec<String>) -> (Admission, Changes) {
    let today = day_of(ask.now_ms);
    let current = stored.filter(|w| w.day == today).map(|w| w.counter);
    let mut changes = Changes {
        windows: None,
        spend: None,
    };
    let (quota, retry_after_secs) = if ask.limits.any() {
        match decide(current, ask.now_ms, ask.limits) {
            Decision::Reject {
                quota,
                retry_after_secs,
            } => (Some(quota), Some(retry_after_secs)),
            Decision::Allow { quota, counter, .. } => {
                changes.windows = Some(Windows { day: today, counter });
                (Some(quota), None)
            }
        }
    } else {
        (None, None)
    };
    let within_allowance = match ask.allowance {
        None => true,
        Some(limit) => {
            let spend = Budget { limit, ..spend };
            let admits = spend.admits(ask.estimate);
            if admits && retry_after_secs.is_none() {
                changes.spend = Some(Budget {
                    reserved: spend.reserved + ask.estimate,
                    ..spend
                });
            }
            admits
        }
    };
    let admission = Admission {
        quota,
        retry_after_secs,
        said,
        within_allowance,
    };
    (admission, changes)
}

/// The remembered lines worth keeping at `now_ms`: the newest
/// [`MAX_REMEMBERED`] said within [`SAID_KEPT_MS`], oldest first.
pub fn keep_said(mut said: Vec<(u64, String)>, now_ms: u64) -> Vec<(u64, String)> {
    said.retain(|(at, _)| now_ms.saturating_sub(*at) < SAID_KEPT_MS);
    sort_by_key(&mut said, |(at, _)| *at);
    let extra = said.len().saturating_sub(MAX_REMEMBERED);
    said.drain(..extra);
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000_000;

    fn ask(per_minute: u32) -> Admit {
        Admit {
            now_ms: NOW,
            limits: Limits {
                per_minute: Some(per_minute),
                per_day: Some(1000),
            },
            allowance: None,
            estimate: 0.0,
        }
    }

    #[test]
    fn fifty_requests_pass_and_the_fifty_first_is_refused() {
        let mut stored = None;
        for i in 0..50 {
            let (a, c) = admit(stored, Budget::default(), &ask(50), vec![]);
            assert_eq!(a.retry_after_secs, None, "request {i}");
            stored = c.windows;
        }
        let (a, c) = admit(stored, Budget::default(), &ask(50), vec![]);
        assert!(a.retry_after_secs.is_some());
        assert_eq!(c.windows, None, "a refusal writes nothing");
    }

    #[test]
    fn yesterday_s_windows_do_not_count() {
        let old = Windows {
            day: day_of(NOW) - 1,
            counter: Counter {
                minute: 0,
                minute_count: 0,
                day_count: 1000,
            },
        };
        let (a, _) = admit(Some(old), Budget::default(), &ask(5), vec![]);
        assert_eq!(a.retry_after_secs, None);
    }

    #[test]
    fn an_allowance_sets_the_estimate_aside_and_refuses_past_it() {
        let spend = Budget {
            limit: 0.0,
            spent: 90.0,
            reserved: 5.0,
        };
        let mut with_allowance = ask(50);
        with_allowance.allowance = Some(100.0);
        with_allowance.estimate = 5.0;
        let (a, c) = admit(None, spend, &with_allowance, vec![]);
        assert!(a.within_allowance);
        assert_eq!(c.spend.unwrap().reserved, 10.0);
        with_allowance.estimate = 5.5;
        let (a, c) = admit(None, spend, &with_allowance, vec![]);
        assert!(!a.within_allowance);
        assert_eq!(c.spend, None);
    }

    #[test]
    fn said_lines_are_kept_a_day_and_at_most_fifty() {
        let said: Vec<(u64, String)> = (0..60).map(|i| (NOW - 1000 * i, format!("line {i}"))).collect();
        let kept = keep_said(said, NOW);
        assert_eq!(kept.len(), MAX_REMEMBERED);
        assert_eq!(kept.last().unwrap().1, "line 0");
        let old = vec![
            (NOW - SAID_KEPT_MS, "old".to_string()),
            (NOW - 5, "new".to_string()),
        ];
        assert_eq!(keep_said(old, NOW), vec![(NOW - 5, "new".to_string())]);
    }
}
