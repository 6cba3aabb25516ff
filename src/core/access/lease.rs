//! The deployment's daily budget, spent in slices: no single object sits on
//! every request's path. Each caller's state object holds a slice of the
//! day's budget (a lease) and sets each request's worst case aside from it
//! locally; it asks the deployment's object for a new slice only when its
//! slice cannot cover the next request, and reports what it spent (and gives
//! back what it holds) with that ask or on its alarm.
//!
//! The guarantee, by construction: the deployment grants slices only out of
//! what is left (limit − reported spend − slices outstanding), and a request
//! runs only when its worst case fits in its caller's slice. So the day's
//! spend passes the limit only by what requests cost beyond their worst-case
//! estimate (none, when every call reports usage within it). Slices shrink
//! as the budget runs low ([`SLICE_SHARE`] of what is left), so what is held
//! idle in slices is at most that per active caller, and comes back on the
//! caller's alarm. Pure
//! arithmetic; the edge's `state` module moves the bytes.

use crate::core::access::usage::Budget;
use serde::{Deserialize, Serialize};

/// A slice is this share of what is left of the day's budget (at least what
/// the caller wants: the rest of the next request's worst case), and at most
/// [`SLICE_MAX_REQUESTS`] of what it wants, so no caller holds much idle.
pub const SLICE_SHARE: f64 = 1.0 / 16.0;
/// The most worst cases one slice holds.
pub const SLICE_MAX_REQUESTS: f64 = 8.0;
/// How long a caller's object keeps unreported spend before its alarm
/// reports it (and gives its slice back), by default (`USAGE_REPORT_SECONDS`):
/// the staleness of `GET /admin/usage`.
pub const REPORT_AFTER_MS: u64 = 60_000;

/// A caller's slice of one day's deployment budget.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Lease {
    /// Granted and not yet set aside or spent (below 0 only when requests
    /// cost more than their worst case).
    pub free: f64,
    /// Set aside for requests still running.
    pub reserved: f64,
    /// Spent and not yet reported to the deployment.
    pub unreported: f64,
}

/// What a caller's object tells the deployment's when it asks for a slice
/// or reports on its alarm.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Report {
    /// Spent since the last report (out of slices granted before).
    pub spent: f64,
    /// Slice given back.
    pub returned: f64,
    /// The slice wanted now: at least this much (0: none).
    pub want: f64,
}

impl Lease {
    /// Sets `estimate` aside when the slice covers it.
    pub fn take(&mut self, estimate: f64) -> bool {
        if self.free + 1e-9 < estimate {
            return false;
        }
        self.free -= estimate;
        self.reserved += estimate;
        true
    }

    /// A request that set `estimate` aside cost `cost`: the rest goes back
    /// to the slice, the cost waits to be reported.
    pub fn settle(&mut self, estimate: f64, cost: f64) {
        let estimate = estimate.min(self.reserved).max(0.0);
        self.reserved -= estimate;
        self.free += estimate - cost;
        self.unreported += cost;
    }

    /// The report to send, asking for `want` and giving back the free slice
    /// when `give_back`; the lease forgets what it reports.
    pub fn report(&mut self, want: f64, give_back: bool) -> Report {
        let returned = if give_back { self.free.max(0.0) } else { 0.0 };
        self.free -= returned;
        let spent = std::mem::take(&mut self.unreported);
        Report {
            spent,
            returned,
            want,
        }
    }

    /// A report the deployment never received: put back.
    pub fn unreport(&mut self, r: &Report) {
        self.unreported += r.spent;
        self.free += r.returned;
    }
}

/// The deployment's side: `budget` takes the report (its spend counted, the
/// slices it covered and the one given back no longer outstanding) and, when
/// a slice is wanted, grants one out of what is left: [`SLICE_SHARE`] of it,
/// at least what is wanted; 0 when not even that is left. `budget.reserved`
/// is the slices outstanding.
pub fn grant(budget: &mut Budget, r: &Report) -> f64 {
    budget.spent += r.spent;
    budget.reserved = (budget.reserved - r.spent - r.returned).max(0.0);
    if r.want <= 0.0 {
        return 0.0;
    }
    let left = budget.left();
    if left + 1e-9 < r.want {
        return 0.0;
    }
    let slice = (left * SLICE_SHARE)
        .min(r.want * SLICE_MAX_REQUESTS)
        .max(r.want)
        .min(left);
    budget.reserved += slice;
    slice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::draws;

    fn budget(limit: f64) -> Budget {
        Budget {
            limit,
            spent: 0.0,
            reserved: 0.0,
        }
    }

    #[test]
    fn a_slice_is_a_share_of_what_is_left_and_shrinks_as_it_runs_low() {
        let mut b = budget(1600.0);
        let want = |w: f64| Report {
            want: w,
            ..Report::default()
        };
        assert_eq!(grant(&mut b, &want(50.0)), 100.0, "a sixteenth of what is left");
        assert_eq!(grant(&mut b, &want(50.0)), 1500.0 / 16.0);
        // What was granted is outstanding, not spent.
        assert_eq!((b.spent, b.reserved), (0.0, 100.0 + 1500.0 / 16.0));
        assert_eq!(
            grant(&mut b, &want(1.0)),
            8.0,
            "at most eight times what is wanted"
        );
        assert_eq!(grant(&mut b, &want(900.0)), 900.0, "at least what is wanted");
        let mut low = budget(100.0);
        low.spent = 90.0;
        assert_eq!(
            grant(&mut low, &want(4.0)),
            4.0,
            "at least the request's worst case"
        );
        assert_eq!(grant(&mut low, &want(7.0)), 0.0, "not even that is left");
    }

    #[test]
    fn a_lease_sets_aside_settles_and_reports() {
        let mut l = Lease {
            free: 100.0,
            ..Lease::default()
        };
        assert!(l.take(40.0));
        assert!(l.take(40.0));
        assert!(!l.take(40.0), "20 left");
        l.settle(40.0, 3.0);
        assert_eq!((l.free, l.reserved, l.unreported), (57.0, 40.0, 3.0));
        let r = l.report(0.0, true);
        assert_eq!((r.spent, r.returned), (3.0, 57.0));
        assert_eq!((l.free, l.unreported), (0.0, 0.0));
        l.unreport(&r);
        assert_eq!((l.free, l.unreported), (57.0, 3.0));
    }

    /// Many callers, each asking for slices, spending up to their worst case
    /// and reporting now and then, in random order: the spend never passes
    /// the budget, and everything granted is spent, given back or held.
    #[test]
    fn many_callers_never_spend_past_the_budget() {
        let mut next = draws(7);
        for round in 0..50 {
            let limit = 500.0 + next(5000) as f64;
            let mut dep = budget(limit);
            let mut leases = vec![Lease::default(); 50];
            let mut spent_total = 0.0;
            for _ in 0..3000 {
                let i = next(50);
                let estimate = 1.0 + next(40) as f64;
                let l = &mut leases[i];
                if !l.take(estimate) {
                    let r = l.report(estimate, false);
                    let g = grant(&mut dep, &r);
                    l.free += g;
                    if !l.take(estimate) {
                        continue; // over budget: the rules coach answers
                    }
                }
                let cost = estimate * next(101) as f64 / 100.0;
                l.settle(estimate, cost);
                spent_total += cost;
                if next(10) == 0 {
                    let r = l.report(0.0, true);
                    grant(&mut dep, &r);
                }
            }
            assert!(
                spent_total <= limit + 1e-6,
                "round {round}: {spent_total} > {limit}"
            );
            // Nothing is lost or counted twice: what the deployment counts as
            // outstanding is what the leases hold, and every cost is either
            // reported or waiting to be.
            let held: f64 = leases.iter().map(|l| l.free + l.reserved + l.unreported).sum();
            let unreported: f64 = leases.iter().map(|l| l.unreported).sum();
            assert!(
                (dep.reserved - held).abs() < 1e-6,
                "round {round}: {} vs {held}",
                dep.reserved
            );
            assert!(
                (dep.spent + unreported - spent_total).abs() < 1e-6,
                "round {round}"
            );
        }
    }
}
