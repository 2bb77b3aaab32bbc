//! How far batched mode can overshoot a limit, and why.
//!
//! In batched mode (`sync_rate` > 0) a node admits a request when
//! `synced_total + its own unsynced increments < limit`: it sees everything it admitted itself,
//! and everything the other nodes admitted up to the cluster total of its last sync. What it
//! cannot see is what the other nodes admitted since they last pushed to Redis before that.
//!
//! Take node *i* admitting a request at time *t*; its last sync read Redis at *s* ≥ *t* − *T*
//! (*T* the sync interval). Another node *j* last pushed before *s* at some *s − δ*, δ < *T*
//! (timers of different nodes are not in phase). Unseen by *i* are *j*'s admissions in
//! (*s − δ*, *t*]: at most *r* × (δ + *T*) < *r* × 2*T* at *r* requests/s on *j*, plus the
//! callout latency *d* during which the totals travel back. Summed over the other N − 1 nodes:
//!
//! ```text
//! admitted  ≤  limit + (N − 1) × r × (2T + d)        (and never more than N × limit)
//! ```
//!
//! With all timers in phase δ → 0 and it tightens to (N − 1) × r × (T + d): the familiar
//! "nodes × rate × interval". One node alone is exact (its workers share counters with CAS).
//! The bound holds while syncs succeed; while Redis is unreachable each node counts alone
//! (`fault_tolerant`), up to N × limit per window.

/// The most requests batched mode can admit beyond a limit, per window, with `nodes` nodes each
/// admitting up to `rate_per_sec_per_node` requests per second and syncing every
/// `interval_ms`: `(nodes − 1) × rate × 2 × interval`, rounded up. Assumes callouts take far
/// less than the interval; otherwise use [`overshoot_bound_with_latency`].
pub fn overshoot_bound(nodes: u64, rate_per_sec_per_node: u64, interval_ms: u64) -> u64 {
    overshoot_bound_with_latency(nodes, rate_per_sec_per_node, interval_ms, 0)
}

/// [`overshoot_bound`] with the callout round trip `latency_ms` (the callout timeout is a
/// safe value): `(nodes − 1) × rate × (2 × interval + latency)`, rounded up, saturating.
pub fn overshoot_bound_with_latency(
    nodes: u64,
    rate_per_sec_per_node: u64,
    interval_ms: u64,
    latency_ms: u64,
) -> u64 {
    let others = u128::from(nodes.saturating_sub(1));
    // < 2^66: cannot overflow; the products below saturate.
    let blind_ms = 2 * u128::from(interval_ms) + u128::from(latency_ms);
    let requests = others
        .saturating_mul(u128::from(rate_per_sec_per_node))
        .saturating_mul(blind_ms);
    u64::try_from(requests.div_ceil(1_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    both_targets_test! {
        fn three_nodes_at_a_hundred_per_second_syncing_every_100ms_overshoot_at_most_40() {
            assert_eq!(overshoot_bound(3, 100, 100), 40);
        }
    }

    both_targets_test! {
        fn one_node_never_overshoots() {
            assert_eq!(overshoot_bound(1, 1_000_000, 10_000), 0);
            assert_eq!(overshoot_bound(0, 5, 5), 0);
        }
    }

    both_targets_test! {
        fn fractions_of_a_request_round_up_and_latency_adds() {
            assert_eq!(overshoot_bound(2, 1, 1), 1);
            assert_eq!(overshoot_bound_with_latency(3, 100, 100, 50), 50);
            assert_eq!(overshoot_bound(u64::MAX, u64::MAX, u64::MAX), u64::MAX);
        }
    }
}
