//! Histogram bucket bounds, exactly as Kong's prometheus plugin declares them, so `le` labels (and
//! so dashboards and `histogram_quantile` queries written for Kong) match.

/// Upper bounds (ms) of `kong_upstream_latency_ms` and `kong_request_latency_ms` buckets (Kong's
/// `UPSTREAM_LATENCY_BUCKETS`).
pub const LATENCY_BUCKETS_MS: [u64; 13] = [
    25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000,
];

/// Upper bounds (ms) of `kong_kong_latency_ms` buckets (Kong's `KONG_LATENCY_BUCKETS`): the
/// proxy's own time is small, so its buckets are finer.
pub const KONG_LATENCY_BUCKETS_MS: [u64; 17] = [
    1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000,
];

/// Buckets of a latency histogram stored per series: one per bound plus `+Inf`.
pub const LATENCY_SLOTS: usize = LATENCY_BUCKETS_MS.len() + 1;

/// Buckets of the proxy-latency histogram stored per series: one per bound plus `+Inf`.
pub const KONG_LATENCY_SLOTS: usize = KONG_LATENCY_BUCKETS_MS.len() + 1;

/// The bucket a value falls in, with Prometheus' `le` semantics: the first bound with
/// `value_ms <= bound`; `bounds.len()` (the `+Inf` bucket) when it exceeds them all.
/// `bounds` must be sorted ascending (both constants above are).
pub fn bucket_index(bounds: &[u64], value_ms: u64) -> usize {
    bounds.partition_point(|bound| *bound < value_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    both_targets_test! {
        fn a_value_equal_to_a_bound_lands_in_that_bound() {
            assert_eq!(bucket_index(&LATENCY_BUCKETS_MS, 25), 0);
            assert_eq!(bucket_index(&LATENCY_BUCKETS_MS, 60_000), 12);
            assert_eq!(bucket_index(&KONG_LATENCY_BUCKETS_MS, 1), 0);
            assert_eq!(bucket_index(&KONG_LATENCY_BUCKETS_MS, 6000), 16);
        }
    }

    both_targets_test! {
        fn a_value_just_above_a_bound_lands_in_the_next() {
            assert_eq!(bucket_index(&LATENCY_BUCKETS_MS, 26), 1);
            assert_eq!(bucket_index(&LATENCY_BUCKETS_MS, 81), 3);
            assert_eq!(bucket_index(&KONG_LATENCY_BUCKETS_MS, 8), 4);
        }
    }

    both_targets_test! {
        fn zero_lands_in_the_first_bucket() {
            assert_eq!(bucket_index(&LATENCY_BUCKETS_MS, 0), 0);
            assert_eq!(bucket_index(&KONG_LATENCY_BUCKETS_MS, 0), 0);
        }
    }

    both_targets_test! {
        fn values_above_the_last_bound_land_in_plus_inf() {
            assert_eq!(bucket_index(&LATENCY_BUCKETS_MS, 60_001), LATENCY_BUCKETS_MS.len());
            assert_eq!(bucket_index(&LATENCY_BUCKETS_MS, u64::MAX), LATENCY_BUCKETS_MS.len());
            assert_eq!(bucket_index(&KONG_LATENCY_BUCKETS_MS, 6001), KONG_LATENCY_BUCKETS_MS.len());
            assert_eq!(bucket_index(&[], 5), 0);
        }
    }

    both_targets_test! {
        fn a_120_ms_upstream_lands_in_le_250() {
            assert_eq!(LATENCY_BUCKETS_MS[bucket_index(&LATENCY_BUCKETS_MS, 120)], 250);
        }
    }

    both_targets_test! {
        fn bounds_are_kongs_and_strictly_ascending() {
            assert!(LATENCY_BUCKETS_MS.windows(2).all(|w| w[0] < w[1]));
            assert!(KONG_LATENCY_BUCKETS_MS.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(LATENCY_SLOTS, 14);
            assert_eq!(KONG_LATENCY_SLOTS, 18);
        }
    }
}
