//! Rate-limit arithmetic over fixed windows, shaped for Workers KV: one key per
//! caller per day holding both the day's and the current minute's count, so
//! an allowed request costs one KV write and a rejected one none; the key
//! expires on its own a minute after its day ends.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_minute: u32,
    pub per_day: u32,
}

/// The `RateLimit-*` header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the reported window resets (at least 1).
    pub reset_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Serve it; write `counter` to `key` with `ttl_secs`.
    Allow {
        status: Status,
        counter: Counter,
        ttl_secs: u64,
    },
    /// 429 with `Retry-After: retry_after_secs`; write nothing.
    Reject { status: Status, retry_after_secs: u64 },
}

fn secs_until(now_ms: u64, window_ms: u64) -> u64 {
    let left_ms = window_ms - now_ms % window_ms;
    left_ms.div_ceil(1000).max(1)
}

/// KV key of a caller's counter for the day containing `now_ms`.
pub fn counter_key(caller_id: &str, now_ms: u64) -> String {
    format!("rl:{caller_id}:{}", now_ms / DAY_MS)
}

/// Decides one request of a caller whose stored counter (for today's key) is `stored`.
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
    let over_minute = minute_count >= limits.per_minute;
    let over_day = day_count >= limits.per_day;
    if over_minute || over_day {
        // The wait is until every exhausted window has reset.
        let (limit, reset) = if over_day {
            (limits.per_day, day_reset)
        } else {
            (limits.per_minute, minute_reset)
        };
        return Decision::Reject {
            status: Status {
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
    let minute_left = limits.per_minute - counter.minute_count;
    let day_left = limits.per_day - counter.day_count;
    // Report whichever window is closer to running out.
    let status = if day_left < minute_left {
        Status {
            limit: limits.per_day,
            remaining: day_left,
            reset_secs: day_reset,
        }
    } else {
        Status {
            limit: limits.per_minute,
            remaining: minute_left,
            reset_secs: minute_reset,
        }
    };
    Decision::Allow {
        status,
        counter,
        ttl_secs: day_reset + MIN_TTL_SECS,
    }
}

/// KV key counting failed authentications from one address in the current minute.
pub fn auth_failure_key(ip: &str, now_ms: u64) -> String {
    format!("af:{ip}:{}", now_ms / MINUTE_MS)
}

/// TTL of an auth-failure counter: past the end of its minute, and at least KV's minimum.
pub fn auth_failure_ttl(now_ms: u64) -> u64 {
    secs_until(now_ms, MINUTE_MS) + MIN_TTL_SECS
}

/// Seconds an address over its failure budget must wait.
pub fn auth_failure_retry_after(now_ms: u64) -> u64 {
    secs_until(now_ms, MINUTE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_minute: 3,
        per_day: 10,
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
                status,
            } => {
                assert_eq!(retry_after_secs, 15, "03:15:45 -> 03:16:00");
                assert_eq!(status.remaining, 0);
                assert_eq!(status.limit, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_minute_window_resets() {
        let (_, stored) = run(None, NOW, 3);
        let next_minute = NOW + 15_000;
        match decide(stored, next_minute, LIMITS) {
            Decision::Allow { counter, status, .. } => {
                assert_eq!(counter.minute_count, 1);
                assert_eq!(counter.day_count, 4);
                assert_eq!(status.remaining, 2);
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
                status,
                retry_after_secs,
            } => {
                assert_eq!(status.limit, 10);
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
            Decision::Allow { status, ttl_secs, .. } => {
                assert_eq!((status.limit, status.remaining, status.reset_secs), (3, 2, 15));
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
        assert_eq!(
            auth_failure_key("203.0.113.7", NOW),
            auth_failure_key("203.0.113.7", NOW + 14_000)
        );
        assert!(auth_failure_ttl(NOW) >= MIN_TTL_SECS);
    }
}
