//! The node's batched-sync bookkeeping for one Redis counter, pure and stored in shared data.
//!
//! The node's view of a counter is the cluster total at the last sync plus what this node
//! counted since ([`PendingEntry::estimate`]). Increments move through three states:
//!
//! ```text
//! record_local(n)          begin_sync(id)                 ack(id, total)
//!   ──────────▶ pending ─────────────────▶ in_flight ───────────────────▶ in synced_total
//!                  ▲                           │  fail(id): stays in flight, re-sent as the
//!                  └── not_applied(id) ────────┘  same batch `id` by the next begin_sync
//! ```
//!
//! **Nothing lost, nothing counted twice.** An increment leaves the entry only on an `ack`,
//! i.e. when Redis's reply says the batch was applied; until then it is in `pending` or
//! `in_flight` and part of the estimate. The one ambiguous case is a callout whose reply never
//! arrived (timeout, broken connection, a 502 from a proxy, a garbled body): Redis may or may
//! not have applied it. Sending the increment again in a new batch could count it twice;
//! dropping it could lose it. So [`fail`](PendingEntry::fail) keeps `in_flight` under its
//! batch id, and the next [`begin_sync`](PendingEntry::begin_sync) re-sends exactly that
//! amount under exactly that id; the script's batch marker (`SET NX` on
//! `<prefix>:batch:<id>`, see [`script`](super::script)) applies a batch at most once and
//! answers a repeat with the current totals. Increments recorded meanwhile wait in `pending`
//! until the retry is acknowledged. Only a reply that proves nothing was applied
//! ([`SyncReply::proves_not_applied`](super::SyncReply::proves_not_applied): 503, 403,
//! `NOSCRIPT`, a Redis error — the script writes nothing before its checks pass) may
//! [`not_applied`](PendingEntry::not_applied) fold `in_flight` back into `pending`, and only
//! while no earlier send of the same batch had an unknown outcome (`uncertain`): a 503 to a
//! retry says nothing about the first attempt.
//!
//! Limits of the guarantee, honestly: the marker lives as long as the batch's longest counter
//! TTL, so a retry later than that could apply twice — but only into counters of windows that
//! are over. A batch id must never be reused for other increments: ids come from a per-node
//! random value and a sequence number (the plugin's job); two nodes drawing the same 64-bit id
//! within a window would lose one batch.
//!
//! Byte layout in shared data (little-endian, like [`Record`](crate::ratelimit::Record)):
//!
//! ```text
//! offset 0   window_start_ms  u64
//!        8   synced_total     u64
//!       16   pending          u64
//!       24   in_flight        u64
//!       32   batch_id         u64   batch of `in_flight` (0: none)
//!       40   flags            u64   bit 0: `uncertain`; other bits 0
//! ```

/// One counter's sync state on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingEntry {
    /// Start (Unix ms) of the window the counter belongs to (part of its Redis key).
    pub window_start_ms: u64,
    /// The cluster total at the last acknowledged sync (includes this node's acknowledged
    /// increments).
    pub synced_total: u64,
    /// Counted here since, not yet sent.
    pub pending: u64,
    /// Sent in batch `batch_id`, not yet acknowledged.
    pub in_flight: u64,
    /// The batch of the last send (0: none yet).
    pub batch_id: u64,
    /// A send of `batch_id` had an unknown outcome: Redis may already hold `in_flight`.
    pub uncertain: bool,
}

/// What to send for an entry in a sync call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSend {
    /// The batch id to send it under.
    pub batch_id: u64,
    /// The increment (0: only read the total).
    pub increment: u64,
    /// Whether this re-sends an unacknowledged batch (its id is not the one offered).
    pub retry: bool,
}

impl PendingEntry {
    /// The encoded size in bytes.
    pub const ENCODED_LEN: usize = 48;

    /// A new entry for the window starting at `window_start_ms`, nothing counted.
    pub fn new(window_start_ms: u64) -> PendingEntry {
        PendingEntry {
            window_start_ms,
            ..PendingEntry::default()
        }
    }

    /// The node's view of the counter: the last cluster total plus everything counted here
    /// since (sent or not).
    pub fn estimate(&self) -> u64 {
        self.synced_total
            .saturating_add(self.in_flight)
            .saturating_add(self.pending)
    }

    /// A request was allowed here and counts `n`.
    pub fn record_local(&mut self, n: u64) {
        self.pending = self.pending.saturating_add(n);
    }

    /// Whether there is anything to send: pending increments or an unacknowledged batch.
    pub fn has_unsynced(&self) -> bool {
        self.pending > 0 || self.in_flight > 0
    }

    /// Starts a sync of this entry, offering the fresh batch id `batch_id` (non-zero, never
    /// used before). If an earlier batch is unacknowledged, returns that batch again,
    /// unchanged, and `pending` waits; otherwise moves `pending` into `in_flight` under
    /// `batch_id`. An increment of 0 is a plain read of the cluster total.
    pub fn begin_sync(&mut self, batch_id: u64) -> SyncSend {
        if self.in_flight > 0 {
            return SyncSend {
                batch_id: self.batch_id,
                increment: self.in_flight,
                retry: true,
            };
        }
        self.in_flight = self.pending;
        self.pending = 0;
        self.batch_id = batch_id;
        self.uncertain = false;
        SyncSend {
            batch_id,
            increment: self.in_flight,
            retry: false,
        }
    }

    /// Redis applied batch `batch_id` (or found it already applied) and the counter's total is
    /// `total`. A reply for another batch than the entry's current one is stale and ignored
    /// (returns `false`).
    pub fn ack(&mut self, batch_id: u64, total: u64) -> bool {
        if batch_id != self.batch_id {
            return false;
        }
        self.synced_total = total;
        self.in_flight = 0;
        self.uncertain = false;
        true
    }

    /// Batch `batch_id` may or may not have been applied (timeout, dispatch failure, an
    /// unexpected status or body): keep it in flight so the next [`begin_sync`](Self::begin_sync)
    /// re-sends it as the same batch.
    pub fn fail(&mut self, batch_id: u64) {
        if batch_id == self.batch_id && self.in_flight > 0 {
            self.uncertain = true;
        }
    }

    /// This send of batch `batch_id` was certainly not applied: its increment returns to
    /// `pending` and goes out with the next batch — unless an earlier send of the batch had an
    /// unknown outcome, in which case it stays in flight for a retry as [`fail`](Self::fail)
    /// leaves it. Ignored for another batch than the current one.
    pub fn not_applied(&mut self, batch_id: u64) {
        if batch_id == self.batch_id && !self.uncertain {
            self.pending = self.pending.saturating_add(self.in_flight);
            self.in_flight = 0;
        }
    }

    /// Decodes an entry; `None` for bytes of another length (a blanked or foreign value).
    pub fn decode(bytes: &[u8]) -> Option<PendingEntry> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let mut words = bytes.chunks_exact(8).map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        });
        let entry = PendingEntry {
            window_start_ms: words.next()?,
            synced_total: words.next()?,
            pending: words.next()?,
            in_flight: words.next()?,
            batch_id: words.next()?,
            uncertain: words.next()? & 1 == 1,
        };
        Some(entry)
    }

    /// Encodes into `out` (cleared first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        for w in [
            self.window_start_ms,
            self.synced_total,
            self.pending,
            self.in_flight,
            self.batch_id,
            u64::from(self.uncertain),
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A toy Redis counter with batch markers, as the script behaves.
    #[derive(Default)]
    struct Redis {
        total: u64,
        applied: Vec<u64>,
    }

    impl Redis {
        fn run(&mut self, send: SyncSend) -> u64 {
            if !self.applied.contains(&send.batch_id) {
                self.applied.push(send.batch_id);
                self.total += send.increment;
            }
            self.total
        }
    }

    both_targets_test! {
        fn estimate_is_synced_total_plus_everything_counted_here_since() {
            let mut e = PendingEntry::new(60_000);
            e.record_local(2);
            let s = e.begin_sync(1);
            e.record_local(1);
            assert_eq!((s.increment, e.estimate()), (2, 3));
            assert!(e.ack(1, 10));
            assert_eq!(e.estimate(), 11, "10 in the cluster, 1 not yet sent");
        }
    }

    both_targets_test! {
        fn an_acknowledged_increment_is_counted_once() {
            let mut redis = Redis::default();
            let mut e = PendingEntry::new(0);
            e.record_local(3);
            let s = e.begin_sync(1);
            let total = redis.run(s);
            e.ack(s.batch_id, total);
            assert_eq!((redis.total, e.estimate(), e.has_unsynced()), (3, 3, false));
        }
    }

    both_targets_test! {
        fn a_timed_out_sync_that_reached_redis_is_not_counted_twice() {
            let mut redis = Redis::default();
            let mut e = PendingEntry::new(0);
            e.record_local(3);
            let s = e.begin_sync(1);
            redis.run(s); // applied, but the reply is lost
            e.fail(s.batch_id);
            e.record_local(2);
            let retry = e.begin_sync(2);
            assert_eq!(retry, SyncSend { batch_id: 1, increment: 3, retry: true });
            e.ack(retry.batch_id, redis.run(retry));
            assert_eq!((redis.total, e.estimate()), (3, 5));
            let next = e.begin_sync(3);
            e.ack(next.batch_id, redis.run(next));
            assert_eq!((redis.total, e.estimate(), e.has_unsynced()), (5, 5, false));
        }
    }

    both_targets_test! {
        fn a_timed_out_sync_that_never_reached_redis_is_not_lost() {
            let mut redis = Redis::default();
            let mut e = PendingEntry::new(0);
            e.record_local(3);
            let s = e.begin_sync(1);
            e.fail(s.batch_id); // never reached Redis
            let retry = e.begin_sync(2);
            e.ack(retry.batch_id, redis.run(retry));
            assert_eq!((redis.total, e.estimate()), (3, 3));
        }
    }

    both_targets_test! {
        fn a_sync_proven_not_applied_goes_out_with_the_next_batch() {
            let mut redis = Redis::default();
            let mut e = PendingEntry::new(0);
            e.record_local(3);
            let s = e.begin_sync(1);
            e.not_applied(s.batch_id); // e.g. 503: Redis down
            e.record_local(1);
            assert_eq!(e.estimate(), 4);
            let next = e.begin_sync(2);
            assert_eq!(next, SyncSend { batch_id: 2, increment: 4, retry: false });
            e.ack(next.batch_id, redis.run(next));
            assert_eq!((redis.total, e.estimate()), (4, 4));
        }
    }

    both_targets_test! {
        fn many_failures_in_any_order_never_lose_or_double_count() {
            let mut redis = Redis::default();
            let mut e = PendingEntry::new(0);
            let mut counted = 0u64;
            let mut x: u64 = 12_345;
            for id in 1..=500u64 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let n = (x >> 60) % 3;
                e.record_local(n);
                counted += n;
                let s = e.begin_sync(id);
                match (x >> 33) % 4 {
                    0 => e.fail(s.batch_id),                      // lost before Redis
                    1 => { redis.run(s); e.fail(s.batch_id) }     // applied, reply lost
                    2 => e.not_applied(s.batch_id),               // proven not applied
                    _ => { let t = redis.run(s); e.ack(s.batch_id, t); }
                }
                assert_eq!(e.estimate(), counted, "the node's own view is exact");
                assert!(redis.total <= counted, "never counted twice");
            }
            let s = e.begin_sync(1_000);
            e.ack(s.batch_id, redis.run(s));
            let s = e.begin_sync(1_001);
            e.ack(s.batch_id, redis.run(s));
            assert_eq!((redis.total, e.estimate(), e.has_unsynced()), (counted, counted, false));
        }
    }

    both_targets_test! {
        fn a_503_to_a_retry_does_not_release_a_batch_that_may_have_been_applied() {
            let mut redis = Redis::default();
            let mut e = PendingEntry::new(0);
            e.record_local(3);
            let s = e.begin_sync(1);
            redis.run(s);
            e.fail(s.batch_id); // applied, reply lost
            let retry = e.begin_sync(2);
            e.not_applied(retry.batch_id); // the retry met a 503
            let again = e.begin_sync(3);
            assert_eq!(again, SyncSend { batch_id: 1, increment: 3, retry: true });
            e.ack(again.batch_id, redis.run(again));
            assert_eq!((redis.total, e.estimate()), (3, 3));
        }
    }

    both_targets_test! {
        fn a_stale_reply_for_an_older_batch_is_ignored() {
            let mut e = PendingEntry::new(0);
            e.record_local(1);
            let a = e.begin_sync(1);
            assert!(e.ack(a.batch_id, 1));
            e.record_local(1);
            let b = e.begin_sync(2);
            assert!(!e.ack(a.batch_id, 1), "a duplicate reply of batch 1");
            e.not_applied(a.batch_id);
            assert_eq!((e.in_flight, e.pending, e.estimate()), (1, 0, 2));
            assert!(e.ack(b.batch_id, 2));
        }
    }

    both_targets_test! {
        fn an_entry_with_nothing_pending_syncs_as_a_read() {
            let mut e = PendingEntry::new(0);
            let s = e.begin_sync(9);
            assert_eq!(s, SyncSend { batch_id: 9, increment: 0, retry: false });
            assert!(e.ack(9, 42));
            assert_eq!(e.estimate(), 42);
        }
    }

    both_targets_test! {
        fn entry_round_trips_through_forty_eight_little_endian_bytes() {
            let e = PendingEntry {
                window_start_ms: 1_715_953_320_000,
                synced_total: 7,
                pending: u64::MAX,
                in_flight: 3,
                batch_id: 0xfeed,
                uncertain: true,
            };
            let mut buf = Vec::new();
            e.encode(&mut buf);
            assert_eq!(buf.len(), PendingEntry::ENCODED_LEN);
            assert_eq!(&buf[8..16], &7u64.to_le_bytes());
            assert_eq!(PendingEntry::decode(&buf), Some(e));
            assert_eq!(&buf[40..], &1u64.to_le_bytes());
            assert_eq!(PendingEntry::decode(&buf[..47]), None);
            assert_eq!(PendingEntry::decode(&[]), None);
        }
    }
}
