//! Rate-limit arithmetic over fixed windows, shaped for Workers KV: one key per
//! caller per day holding both the day's and the current minute's count, so
//! an allowed request costs one KV write and a rejected one none; the key
//! expires on its own a minute after its day ends. Either window may be left
//! out: the minute when the Rate Limiting binding counts it, the day when the
//! operator turns the daily quota off.
//!
//! Counts kept by the Workers Rate Limiting binding (failed authentications,
//! and the minute window when configured) are not here: the binding answers
//! only allowed or not, per Cloudflare location.

use serde::{Deserialize, Serialize};

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;
/// KV's smallest expiration TTL.
pub const MIN_TTL_SECS: u64 = 60;

/// The counters stored for one caller and one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counter {
    /// Minute window index (ms since epoch / 60,000) the `minute_count` belongs to.
    pub minute: u64,
    pub minute_count: u32,
    pub day_count: u32,
}

/// The windows counted for one caller (in its state object or in KV);
/// `None` is not counted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
}

impl Limits {
    /// Whether KV has anything to count (else no read and no write).
    pub fn any(&self) -> bool {
        self.per_minute.is_some() || self.per_day.is_some()
    }
}

/// `Retry-After` for a refusal by a Rate Limiting binding, which does not say
/// when its window ends: its period, 60 s as shipped in `wrangler.toml`
/// (a period is 10 or 60 s, so 60 is never too short).
pub const BINDING_RETRY_AFTER_SECS: u64 = 60;

/// Where a caller stands against its tightest window: the `RateLimit-*`
/// header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the reported window resets (at least 1).
    pub reset_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Serve it; write `counter` to `key` with `ttl_secs`.
    Allow {
        quota: Quota,
        counter: Counter,
        ttl_secs: u64,
    },
    /// 429 with `Retry-After: retry_after_secs`; write nothing.
    Reject { quota: Quota, retry_after_secs: u64 },
}

fn secs_until(now_ms: u64, window_ms: u64) -> u64 {
    let left_ms = window_ms - now_ms % window_ms;
    left_ms.div_ceil(1000).max(1)
}

/// The UTC day (days since the epoch) containing `now_ms`.
pub fn day_of(now_ms: u64) -> u64 {
    now_ms / DAY_MS
}

/// KV key of a caller's counter for the day containing `now_ms`.
pub fn counter_key(caller_id: &str, now_ms: u64) -> String {
    format!("rl:{caller_id}:{}", now_ms / DAY_MS)
}

/// Decides one request of a caller whose stored counter (for today's key) is
/// `stored`. At least one window of `limits` is set.
/// Whichever window is closer to running out, to report.
fn tightest(minute: Option<Quota>, day: Option<Quota>, minute_reset: u64) -> Quota {
    match (minute, day) {
        (Some(m), Some(d)) if d.remaining < m.remaining => d,
        (Some(m), _) => m,
        (None, Some(d)) => d,
        (None, None) => Quota {
            limit: 0,
            remaining: 0,
            reset_secs: minute_reset,
        },
    }
}

pub fn decide(stored: Option<Counter>, now_ms: u64, limits: Limits) -> Decision {
    let minute = now_ms / MINUTE_MS;
    let stored = stored.unwrap_or_default();
    let day_count = stored.day_count;
    let minute_count = if stored.minute == minute {
        stored.minute_count
    } else {
        0
    };
    let minute_reset = secs_until(now_ms, MINUTE_MS);
    let day_reset = secs_until(now_ms, DAY_MS);
    let over = |limit: Option<u32>, count: u32| limit.is_some_and(|l| count >= l);
    let over_minute = over(limits.per_minute, minute_count);
    let over_day = over(limits.per_day, day_count);
    if over_minute || over_day {
        // The wait is until every exhausted window has reset.
        let (limit, reset) = match (over_day, limits.per_day, limits.per_minute) {
            (true, Some(day), _) => (day, day_reset),
            (_, _, Some(minute)) => (minute, minute_reset),
            _ => (0, minute_reset),
        };
        return Decision::Reject {
            quota: Quota {
                limit,
                remaining: 0,
                reset_secs: reset,
            },
            retry_after_secs: reset,
        };
    }
    let counter = Counter {
        minute,
        minute_count: minute_count + 1,
        day_count: day_count + 1,
    };
    let minute_quota = limits.per_minute.map(|l| Quota {
        limit: l,
        remaining: l - counter.minute_count,
        reset_secs: minute_reset,
    });
    let day_quota = limits.per_day.map(|l| Quota {
        limit: l,
        remaining: l - counter.day_count,
        reset_secs: day_reset,
    });
    Decision::Allow {
        quota: tightest(minute_quota, day_quota, minute_reset),
        counter,
        ttl_secs: day_reset + MIN_TTL_SECS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_minute: Some(3),
        per_day: Some(10),
    };
    // 2025-03-13T03:15:45Z
    const NOW: u64 = 1_741_835_745_000;

    fn run(mut stored: Option<Counter>, now: u64, n: u32) -> (Vec<bool>, Option<Counter>) {
        let mut outcomes = Vec::new();
        for _ in 0..n {
            match decide(stored, now, LIMITS) {
                Decision::Allow { counter, .. } => {
                    stored = Some(counter);
                    outcomes.push(true);
                }
                Decision::Reject { .. } => outcomes.push(false),
            }
        }
        (outcomes, stored)
    }

    #[test]
    fn n_pass_then_the_next_is_rejected_with_a_sane_retry_after() {
        let (outcomes, stored) = run(None, NOW, 4);
        assert_eq!(outcomes, [true, true, true, false]);
        match decide(stored, NOW, LIMITS) {
            Decision::Reject {
                retry_after_secs,
                quota,
            } => {
                assert_eq!(retry_after_secs, 15, "03:15:45 -> 03:16:00");
                assert_eq!(quota.remaining, 0);
                assert_eq!(quota.limit, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_minute_window_resets() {
        let (_, stored) = run(None, NOW, 3);
        let next_minute = NOW + 15_000;
        match decide(stored, next_minute, LIMITS) {
            Decision::Allow { counter, quota, .. } => {
                assert_eq!(counter.minute_count, 1);
                assert_eq!(counter.day_count, 4);
                assert_eq!(quota.remaining, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_day_limit_holds_across_minutes_and_reports_the_day() {
        let mut stored = None;
        let mut now = NOW;
        for _ in 0..10 {
            match decide(stored, now, LIMITS) {
                Decision::Allow { counter, .. } => stored = Some(counter),
                other => panic!("{other:?}"),
            }
            now += 60_000;
        }
        match decide(stored, now, LIMITS) {
            Decision::Reject {
                quota,
                retry_after_secs,
            } => {
                assert_eq!(quota.limit, 10);
                assert!(
                    retry_after_secs > 60 && retry_after_secs <= 86_400,
                    "{retry_after_secs}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn headers_count_down_and_ttl_outlives_the_day() {
        match decide(None, NOW, LIMITS) {
            Decision::Allow { quota, ttl_secs, .. } => {
                assert_eq!((quota.limit, quota.remaining, quota.reset_secs), (3, 2, 15));
                assert!(ttl_secs > MIN_TTL_SECS);
                // 03:15:45 -> midnight is 74,655 s.
                assert_eq!(ttl_secs, 74_655 + MIN_TTL_SECS);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn window_edges() {
        assert_eq!(
            secs_until(60_000, MINUTE_MS),
            60,
            "at a boundary a whole window is left"
        );
        assert_eq!(secs_until(119_999, MINUTE_MS), 1);
        assert_eq!(secs_until(119_001, MINUTE_MS), 1);
        assert_eq!(secs_until(119_000, MINUTE_MS), 1);
        assert_eq!(secs_until(118_999, MINUTE_MS), 2);
        assert_ne!(counter_key("abc", DAY_MS - 1), counter_key("abc", DAY_MS));
    }

    #[test]
    fn only_the_day_is_counted_when_the_binding_has_the_minute() {
        let day_only = Limits {
            per_minute: None,
            per_day: Some(2),
        };
        let mut stored = None;
        for remaining in [1, 0] {
            match decide(stored, NOW, day_only) {
                Decision::Allow { counter, quota, .. } => {
                    assert_eq!((quota.limit, quota.remaining), (2, remaining));
                    stored = Some(counter);
                }
                other => panic!("{other:?}"),
            }
        }
        match decide(stored, NOW, day_only) {
            Decision::Reject { quota, .. } => assert_eq!(quota.limit, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_minute_is_counted_when_the_day_is_off() {
        let minute_only = Limits {
            per_minute: Some(1),
            per_day: None,
        };
        assert!(minute_only.any());
        assert!(!Limits {
            per_minute: None,
            per_day: None
        }
        .any());
        let Decision::Allow { counter, .. } = decide(
            Some(Counter {
                minute: 0,
                minute_count: 0,
                day_count: 1_000_000,
            }),
            NOW,
            minute_only,
        ) else {
            panic!("no day limit, whatever the day count");
        };
        match decide(Some(counter), NOW, minute_only) {
            Decision::Reject { retry_after_secs, .. } => assert_eq!(retry_after_secs, 15),
            other => panic!("{other:?}"),
        }
    }
}
