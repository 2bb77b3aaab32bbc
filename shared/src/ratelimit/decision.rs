//! The rate-limit decision for one request, computed from a slot record with Kong's semantics.
//!
//! From Kong's `rate-limiting/handler.lua`: for each limit, `remaining = limit - usage`; if any
//! `remaining <= 0` the request is stopped and NOT counted; otherwise every limit is
//! incremented. Header values: `remaining - 1` for every limit when the request passes (it
//! used one), or for the stopping limit when it is stopped, then `max(0, ..)`. The "most
//! restrictive" limit (smallest remaining, ties to the longer window) gives `RateLimit-*` and
//! `Retry-After`.

use super::limits::{Limit, MAX_LIMITS_PER_RULE};
use super::record::{Counter, Record};
use super::window::{sliding_usage, Window, WindowType};

/// The outcome for one request under one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    len: u8,
    limits: [Limit; MAX_LIMITS_PER_RULE],
    remaining: [u64; MAX_LIMITS_PER_RULE],
    /// Index (in [`Decision::limits`]) of the most restrictive limit.
    pub most_restrictive: usize,
    /// Seconds until the most restrictive limit's window resets (Kong's `RateLimit-Reset`).
    pub reset_secs: u64,
    /// `Retry-After` seconds when rejected.
    pub retry_after_secs: Option<u64>,
}

const NO_LIMIT: Limit = Limit {
    max: 0,
    window: Window::Second,
};

impl Decision {
    /// The limits decided on, sorted by window length.
    pub fn limits(&self) -> &[Limit] {
        &self.limits[..usize::from(self.len)]
    }

    /// Per limit, the remaining count shown to the client (`X-RateLimit-Remaining-*`).
    pub fn remaining(&self) -> &[u64] {
        &self.remaining[..usize::from(self.len)]
    }

    /// The most restrictive limit and its remaining count, if there is any limit.
    pub fn most_restrictive_limit(&self) -> Option<(Limit, u64)> {
        let i = self.most_restrictive;
        Some((*self.limits().get(i)?, *self.remaining().get(i)?))
    }
}

/// Decides one request: rolls the record's windows over to `now_ms`, computes each limit's usage
/// (fixed: the current count; sliding: [`sliding_usage`]), and returns the decision with the
/// record to CAS-write back (`None` when rejected: a rejected request is not counted).
///
/// `record` is the slot's current value if it belongs to `fingerprint` (else pass `None`).
/// `cost` is how many requests this one counts as; `0` is read as `1`. A request is stopped
/// when a limit has fewer than `cost` left (for `cost = 1`, Kong's `remaining <= 0`).
pub fn apply(
    record: Option<&Record>,
    fingerprint: u64,
    now_ms: u64,
    limits: &[Limit],
    window_type: WindowType,
    cost: u64,
) -> (Decision, Option<Record>) {
    let limits = &limits[..limits.len().min(MAX_LIMITS_PER_RULE)];
    let cost = cost.max(1);
    let old = record.filter(|r| r.fingerprint == fingerprint && r.counters().len() == limits.len());
    let mut next = Record::new(fingerprint, limits.len());
    // remaining before this request, per limit (may be negative after a config lowered a limit)
    let mut before = [0i128; MAX_LIMITS_PER_RULE];
    let mut stopped = false;
    for (i, limit) in limits.iter().enumerate() {
        let counter = roll(
            old.map(|r| r.counters()[i]),
            limit.window,
            window_type,
            now_ms,
        );
        let usage = match window_type {
            WindowType::Fixed => counter.count,
            WindowType::Sliding => sliding_usage(
                counter.count,
                counter.previous_count,
                counter.window_start_ms,
                limit.window.next_start_ms(counter.window_start_ms),
                now_ms,
            ),
        };
        before[i] = i128::from(limit.max) - i128::from(usage);
        if before[i] < i128::from(cost) {
            stopped = true;
        }
        next.counters_mut()[i] = counter;
    }

    let mut decision = Decision {
        allowed: !stopped,
        len: u8::try_from(limits.len()).unwrap_or(0),
        limits: [NO_LIMIT; MAX_LIMITS_PER_RULE],
        remaining: [0; MAX_LIMITS_PER_RULE],
        most_restrictive: 0,
        reset_secs: 0,
        retry_after_secs: None,
    };
    let mut best: Option<(u64, u64)> = None; // (remaining, nominal window secs)
    for (i, limit) in limits.iter().enumerate() {
        let stops_here = before[i] < i128::from(cost);
        let shown = if !stopped || stops_here {
            before[i] - i128::from(cost)
        } else {
            before[i]
        };
        let shown = u64::try_from(shown.max(0)).unwrap_or(u64::MAX);
        decision.limits[i] = *limit;
        decision.remaining[i] = shown;
        let window_secs = limit.window.nominal_secs();
        let better = match best {
            None => true,
            Some((r, w)) => shown < r || (shown == r && window_secs > w),
        };
        if better {
            best = Some((shown, window_secs));
            decision.most_restrictive = i;
            decision.reset_secs = limit.window.reset_secs(now_ms);
        }
    }
    if stopped {
        decision.retry_after_secs = Some(decision.reset_secs);
        return (decision, None);
    }
    if limits.is_empty() {
        return (decision, None);
    }
    for c in next.counters_mut() {
        c.count = c.count.saturating_add(cost);
    }
    (decision, Some(next))
}

/// The counter as of `now_ms`: unchanged in the same window; moved to the new window
/// otherwise, keeping the old count as `previous_count` when the new window directly follows
/// it (sliding windows weigh it in).
fn roll(old: Option<Counter>, window: Window, window_type: WindowType, now_ms: u64) -> Counter {
    let start = window.start_ms(now_ms);
    let Some(old) = old else {
        return Counter {
            window_start_ms: start,
            count: 0,
            previous_count: 0,
        };
    };
    if old.window_start_ms >= start {
        // Same window, or a worker whose clock is a little ahead already moved on: count in
        // the newer window rather than wiping it.
        return old;
    }
    let previous_count = match window_type {
        WindowType::Sliding if window.next_start_ms(old.window_start_ms) == start => old.count,
        _ => 0,
    };
    Counter {
        window_start_ms: start,
        count: 0,
        previous_count,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const T0: u64 = 1_715_953_320_000; // 2024-05-17T13:42:00Z, a minute boundary

    fn per_minute(max: u64) -> Vec<Limit> {
        vec![Limit {
            max,
            window: Window::Minute,
        }]
    }

    /// Runs `n` requests at `now`, threading the record through; returns the decisions.
    fn run(
        record: &mut Option<Record>,
        n: usize,
        now: u64,
        limits: &[Limit],
        wt: WindowType,
    ) -> Vec<Decision> {
        (0..n)
            .map(|_| {
                let (d, next) = apply(record.as_ref(), 42, now, limits, wt, 1);
                if let Some(next) = next {
                    *record = Some(next);
                }
                d
            })
            .collect()
    }

    both_targets_test! {
        fn sixth_request_in_a_minute_is_rejected() {
            let mut r = None;
            let d = run(&mut r, 6, T0 + 1_000, &per_minute(5), WindowType::Fixed);
            assert!(d[..5].iter().all(|d| d.allowed));
            assert!(!d[5].allowed);
        }
    }

    both_targets_test! {
        fn remaining_counts_down_four_to_zero_for_five_per_minute() {
            let mut r = None;
            let d = run(&mut r, 6, T0 + 1_000, &per_minute(5), WindowType::Fixed);
            let shown: Vec<u64> = d.iter().map(|d| d.remaining()[0]).collect();
            assert_eq!(shown, vec![4, 3, 2, 1, 0, 0]);
        }
    }

    both_targets_test! {
        fn rejected_requests_are_not_counted() {
            let mut r = None;
            run(&mut r, 5, T0, &per_minute(5), WindowType::Fixed);
            let (d, next) = apply(r.as_ref(), 42, T0, &per_minute(5), WindowType::Fixed, 1);
            assert!(!d.allowed);
            assert_eq!(next, None);
            assert_eq!(r.unwrap().counters()[0].count, 5);
        }
    }

    both_targets_test! {
        fn counter_resets_in_the_next_fixed_window() {
            let mut r = None;
            run(&mut r, 5, T0 + 59_000, &per_minute(5), WindowType::Fixed);
            let d = run(&mut r, 1, T0 + 60_000, &per_minute(5), WindowType::Fixed);
            assert!(d[0].allowed);
            assert_eq!(d[0].remaining()[0], 4);
        }
    }

    both_targets_test! {
        fn rejection_carries_retry_after_equal_to_the_reset() {
            let mut r = None;
            let d = run(&mut r, 6, T0 + 23_500, &per_minute(5), WindowType::Fixed);
            assert_eq!(d[4].retry_after_secs, None);
            assert_eq!(d[5].reset_secs, 37);
            assert_eq!(d[5].retry_after_secs, Some(37));
        }
    }

    both_targets_test! {
        fn fixed_window_allows_a_double_burst_across_the_boundary() {
            let limits = per_minute(10);
            let mut r = None;
            let late = run(&mut r, 10, T0 + 59_900, &limits, WindowType::Fixed);
            let early = run(&mut r, 10, T0 + 60_100, &limits, WindowType::Fixed);
            assert!(late.iter().chain(&early).all(|d| d.allowed));
        }
    }

    both_targets_test! {
        fn sliding_window_smooths_the_boundary_burst() {
            let limits = per_minute(10);
            let mut r = None;
            let late = run(&mut r, 10, T0 + 59_900, &limits, WindowType::Sliding);
            assert!(late.iter().all(|d| d.allowed));
            // 100 ms into the next minute the previous 10 still weigh 10 * 59.9/60 = 9.98 -> 9.
            let early = run(&mut r, 3, T0 + 60_100, &limits, WindowType::Sliding);
            assert!(early[0].allowed);
            assert!(!early[1].allowed);
            // Halfway through, 5 of the previous 10 still count, plus the 1 counted above.
            let half = run(&mut r, 5, T0 + 90_000, &limits, WindowType::Sliding);
            let allowed = half.iter().filter(|d| d.allowed).count();
            assert_eq!(allowed, 4);
        }
    }

    both_targets_test! {
        fn sliding_window_forgets_a_window_that_is_not_the_previous_one() {
            let limits = per_minute(10);
            let mut r = None;
            run(&mut r, 10, T0 + 59_900, &limits, WindowType::Sliding);
            let d = run(&mut r, 1, T0 + 120_100, &limits, WindowType::Sliding);
            assert_eq!(d[0].remaining()[0], 9);
            assert_eq!(r.unwrap().counters()[0].previous_count, 0);
        }
    }

    both_targets_test! {
        fn all_limits_count_and_any_exhausted_limit_stops() {
            let limits = vec![
                Limit { max: 2, window: Window::Second },
                Limit { max: 3, window: Window::Minute },
            ];
            let mut r = None;
            let first = run(&mut r, 3, T0, &limits, WindowType::Fixed);
            assert!(first[0].allowed && first[1].allowed && !first[2].allowed);
            let next_second = run(&mut r, 2, T0 + 1_000, &limits, WindowType::Fixed);
            assert!(next_second[0].allowed, "minute has 1 left");
            assert!(!next_second[1].allowed, "minute exhausted");
            assert_eq!(next_second[1].remaining(), &[1, 0]);
        }
    }

    both_targets_test! {
        fn most_restrictive_is_the_smallest_remaining() {
            let limits = vec![
                Limit { max: 10, window: Window::Second },
                Limit { max: 12, window: Window::Minute },
            ];
            let mut r = None;
            let d = run(&mut r, 5, T0, &limits, WindowType::Fixed);
            // After 5: second 5 left, minute 7 left.
            assert_eq!(d[4].remaining(), &[5, 7]);
            assert_eq!(d[4].most_restrictive, 0);
            assert_eq!(d[4].reset_secs, 1);
        }
    }

    both_targets_test! {
        fn ties_go_to_the_longer_window_as_in_kong() {
            let limits = vec![
                Limit { max: 5, window: Window::Second },
                Limit { max: 5, window: Window::Hour },
            ];
            let (d, _) = apply(None, 42, T0 + 1_500, &limits, WindowType::Fixed, 1);
            assert_eq!(d.remaining(), &[4, 4]);
            assert_eq!(d.most_restrictive, 1);
            assert_eq!(d.reset_secs, 3_600 - 2_521); // 42 min 1.5 s into the hour
            assert_eq!(d.most_restrictive_limit(), Some((limits[1], 4)));
        }
    }

    both_targets_test! {
        fn on_rejection_only_the_stopping_limit_is_decremented() {
            let limits = vec![
                Limit { max: 1, window: Window::Second },
                Limit { max: 100, window: Window::Hour },
            ];
            let mut r = None;
            let d = run(&mut r, 2, T0, &limits, WindowType::Fixed);
            assert_eq!(d[0].remaining(), &[0, 99]);
            // Stopped by the second limit: the hour shows 99 (not decremented), second 0.
            assert_eq!(d[1].remaining(), &[0, 99]);
            assert_eq!(d[1].most_restrictive, 0);
            assert_eq!(d[1].retry_after_secs, Some(1));
        }
    }

    both_targets_test! {
        fn cost_counts_several_requests_and_stops_when_not_enough_remain() {
            let mut r = None;
            let (d, next) = apply(r.as_ref(), 42, T0, &per_minute(5), WindowType::Fixed, 3);
            assert!(d.allowed);
            assert_eq!(d.remaining()[0], 2);
            r = next;
            let (d, next) = apply(r.as_ref(), 42, T0, &per_minute(5), WindowType::Fixed, 3);
            assert!(!d.allowed);
            assert_eq!(next, None);
        }
    }

    both_targets_test! {
        fn a_record_of_another_key_is_ignored() {
            let mut r = None;
            run(&mut r, 5, T0, &per_minute(5), WindowType::Fixed);
            let (d, next) = apply(r.as_ref(), 43, T0, &per_minute(5), WindowType::Fixed, 1);
            assert!(d.allowed);
            assert_eq!(next.unwrap().fingerprint, 43);
        }
    }

    both_targets_test! {
        fn a_worker_slightly_behind_does_not_wipe_the_newer_window() {
            let mut r = None;
            run(&mut r, 3, T0 + 60_000, &per_minute(5), WindowType::Fixed);
            let (d, next) = apply(r.as_ref(), 42, T0 + 59_999, &per_minute(5), WindowType::Fixed, 1);
            assert_eq!(d.remaining()[0], 1);
            assert_eq!(next.unwrap().counters()[0].count, 4);
        }
    }

    both_targets_test! {
        fn no_limits_allows_and_writes_nothing() {
            let (d, next) = apply(None, 42, T0, &[], WindowType::Fixed, 1);
            assert!(d.allowed);
            assert_eq!(next, None);
            assert_eq!(d.most_restrictive_limit(), None);
        }
    }
}
