//! How long a session key lives, as arithmetic on Unix seconds: what expiry a
//! key gets when it is issued or renewed, and when an answer renews it.
//!
//! A key carries the time it was first issued; a renewal keeps it. So
//! however often a key is renewed, it ends `max` after its first issue
//! (`SESSION_KEY_MAX_LIFE_HOURS`, default 36). Before that end:
//!
//! - A key lives [`LIFETIME_SECS`] (12 hours) from its issue or latest
//!   renewal, and an answer renews it once less than half of that is left, as
//!   long as the renewal does not reach into the key's last [`OVERTIME_SECS`].
//! - In its last 12 hours a key is renewed only [`OVERTIME_STEP_SECS`] (one
//!   hour) at a time, when less than half an hour is left: it lives on only
//!   while the coach frontend keeps asking (it asks on every tip, chat line
//!   and entrance, and after `promptDelay` minutes of quiet). A key left idle
//!   there lapses within the hour.
//!
//! Why: a broadcaster live when the key reaches its last 12 hours keeps
//! being renewed hour by hour, so only a stream that has run without an
//! hour's break for those whole 12 hours meets the end; a stolen key
//! stops at the end however busily it is used. A key idle at the end of its
//! ordinary renewals expires there, and the next stream starts with the
//! app's own flow for an expired key (below), not with a cut.
//!
//! An expiry is never later than the end, so the `expiresAt` the coach
//! frontend keeps in `localStorage` is never later than the moment the key is
//! refused: when the app loads, it sees the key as expired and asks for a new
//! one itself (its `loadSessionData` in `src/api/cloudflareWorker.js`).

use std::ops::RangeInclusive;

/// How long a key lives from its issue or renewal, while it may still be
/// renewed in full: longer than a broadcast, so one key covers a show.
pub const LIFETIME_SECS: u64 = 12 * 3600;
/// The last part of a key's life, renewed only a step at a time while used.
pub const OVERTIME_SECS: u64 = 12 * 3600;
/// How long a renewal in the overtime lets a key live.
pub const OVERTIME_STEP_SECS: u64 = 3600;
/// `SESSION_KEY_MAX_LIFE_HOURS` when unset: a day and a half, so a key issued
/// for an evening's stream still covers the next day's, and no key outlives that.
pub const DEFAULT_MAX_LIFE_HOURS: u64 = 36;
/// What `SESSION_KEY_MAX_LIFE_HOURS` may be: at least the overtime (so a
/// stream always has its 12 hours of step renewals), at most 30 days.
pub const MAX_LIFE_HOURS: RangeInclusive<u64> = 12..=720;

/// The longest a key may live, counted from its first issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLife {
    max_secs: u64,
}

impl Default for KeyLife {
    fn default() -> KeyLife {
        KeyLife {
            max_secs: DEFAULT_MAX_LIFE_HOURS * 3600,
        }
    }
}

impl KeyLife {
    /// A life of `hours`, when [`MAX_LIFE_HOURS`] allows it.
    pub fn hours(hours: u64) -> Option<KeyLife> {
        MAX_LIFE_HOURS.contains(&hours).then_some(KeyLife {
            max_secs: hours * 3600,
        })
    }

    pub fn max_hours(&self) -> u64 {
        self.max_secs / 3600
    }

    /// When a key first issued at `issued` is refused, whatever its expiry says.
    pub fn end(&self, issued: u64) -> u64 {
        issued.saturating_add(self.max_secs)
    }

    /// The expiry of a key first issued at `issued`, signed at `now`: a full
    /// lifetime while that stays out of the overtime, then at least up to
    /// the overtime's start, then one step at a time; never past the end.
    pub fn expiry(&self, issued: u64, now: u64) -> u64 {
        let end = self.end(issued);
        let overtime = end.saturating_sub(OVERTIME_SECS);
        let full = now.saturating_add(LIFETIME_SECS);
        let step = now.saturating_add(OVERTIME_STEP_SECS).max(overtime);
        full.min(step).min(end)
    }

    /// The new expiry when a key (`issued`, `expires`) presented at `now`
    /// is due for renewal: the renewal would extend it, and less than half of
    /// what a renewal gives is left. `None` otherwise.
    pub fn renewal(&self, issued: u64, expires: u64, now: u64) -> Option<u64> {
        let next = self.expiry(issued, now);
        let left = expires.saturating_sub(now);
        let gives = next.saturating_sub(now);
        (next > expires && left < gives / 2).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_795_000_000;
    const H: u64 = 3600;

    /// Renews a key issued at T0 on every request, one every `every` seconds
    /// from `from` to `until`; returns its expiry, or the time it was refused.
    fn used(life: KeyLife, from: u64, until: u64, every: u64) -> Result<u64, u64> {
        let mut expires = life.expiry(T0, T0);
        let mut now = from;
        while now < until {
            if now >= expires || now >= life.end(T0) {
                return Err(now);
            }
            if let Some(next) = life.renewal(T0, expires, now) {
                assert!(next <= life.end(T0), "renewed past the end at {now}");
                expires = next;
            }
            now += every;
        }
        Ok(expires)
    }

    #[test]
    fn a_new_key_lives_twelve_hours() {
        let life = KeyLife::default();
        assert_eq!(life.expiry(T0, T0), T0 + 12 * H);
        assert_eq!(life.end(T0), T0 + 36 * H);
    }

    #[test]
    fn renewed_only_past_half_life() {
        let life = KeyLife::default();
        let expires = T0 + 12 * H;
        assert_eq!(life.renewal(T0, expires, T0 + 6 * H), None);
        assert_eq!(life.renewal(T0, expires, T0 + 6 * H + 1), Some(T0 + 18 * H + 1));
    }

    #[test]
    fn a_key_used_without_pause_is_refused_at_its_end() {
        let life = KeyLife::default();
        // A request every five minutes for two days: the key is renewed, never past
        // the end, and refused exactly there.
        assert_eq!(used(life, T0, T0 + 48 * H, 300), Err(T0 + 36 * H));
    }

    #[test]
    fn full_renewals_stop_where_the_overtime_starts() {
        let life = KeyLife::default();
        // Renewed at 23 h, the expiry stays at the overtime's start (24 h).
        assert_eq!(life.expiry(T0, T0 + 13 * H), T0 + 24 * H);
        assert_eq!(life.renewal(T0, T0 + 24 * H, T0 + 20 * H), None);
        // In the overtime, an hour at a time, with less than half an hour left.
        assert_eq!(life.renewal(T0, T0 + 24 * H, T0 + 23 * H + 1799), None);
        assert_eq!(
            life.renewal(T0, T0 + 24 * H, T0 + 23 * H + 1801),
            Some(T0 + 24 * H + 1801)
        );
        assert_eq!(life.expiry(T0, T0 + 35 * H + 1800), T0 + 36 * H);
    }

    #[test]
    fn a_key_idle_at_the_overtime_lapses_there() {
        let life = KeyLife::default();
        // Used for the first 20 hours, then not until 25 hours: expired at 24.
        let expires = used(life, T0, T0 + 20 * H, 600).unwrap();
        assert_eq!(expires, T0 + 24 * H);
        assert!(T0 + 25 * H >= expires);
    }

    #[test]
    fn a_stream_running_into_the_overtime_is_renewed_while_it_asks() {
        let life = KeyLife::default();
        // Asked every 20 minutes from hour 18 to hour 30: never refused.
        let mut expires = life.expiry(T0, T0);
        for now in (T0 + 6 * H + 1..T0 + 18 * H).step_by(3600) {
            if let Some(next) = life.renewal(T0, expires, now) {
                expires = next;
            }
        }
        let mut now = T0 + 18 * H;
        while now < T0 + 30 * H {
            assert!(now < expires, "cut off at {}", now - T0);
            if let Some(next) = life.renewal(T0, expires, now) {
                expires = next;
            }
            now += 1200;
        }
        // After the last request, it lives on for at least 20 minutes and at most the hour.
        let last = now - 1200;
        assert!(expires > now, "alive 20 minutes after the last request");
        assert!(expires <= last + OVERTIME_STEP_SECS, "lapses within the hour");
    }

    #[test]
    fn the_shortest_life_is_all_overtime() {
        let life = KeyLife::hours(12).unwrap();
        assert_eq!(life.expiry(T0, T0), T0 + H);
        assert_eq!(used(life, T0, T0 + 24 * H, 600), Err(T0 + 12 * H));
        assert_eq!(KeyLife::hours(11), None);
        assert_eq!(KeyLife::hours(721), None);
        assert_eq!(KeyLife::hours(720).unwrap().max_hours(), 720);
    }

    #[test]
    fn no_overflow_near_the_end_of_time() {
        let life = KeyLife::hours(720).unwrap();
        assert_eq!(life.end(u64::MAX - 5), u64::MAX);
        assert_eq!(life.expiry(u64::MAX - 5, u64::MAX - 5), u64::MAX);
        assert_eq!(life.renewal(u64::MAX - 5, u64::MAX, u64::MAX), None);
    }
}
