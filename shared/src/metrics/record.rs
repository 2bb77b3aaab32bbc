//! The counts of one series: the request counter and the three latency histograms, as a fixed-size
//! byte record for shared data.
//!
//! Layout (little-endian u64 words, [`SeriesRecord::ENCODED_LEN`] = 408 bytes):
//!
//! ```text
//! word 0        version          = 1 (a record of another layout is refused, not misread)
//! word 1        requests         kong_http_requests_total for the series' labels
//! words 2..16   upstream buckets 14 counts: one per LATENCY_BUCKETS_MS bound, then +Inf
//! word 16       upstream sum     ms
//! words 17..31  request buckets  14 counts
//! word 31       request sum      ms
//! words 32..50  kong buckets     18 counts: one per KONG_LATENCY_BUCKETS_MS bound, then +Inf
//! word 50       kong sum         ms
//! ```
//!
//! Bucket counts are stored per bucket (not cumulative) and a histogram's count is their sum, so
//! `_count` always equals `_bucket{le="+Inf"}` whatever merges happened. All additions saturate:
//! no input makes them panic or wrap.

use super::buckets::{
    bucket_index, KONG_LATENCY_BUCKETS_MS, KONG_LATENCY_SLOTS, LATENCY_BUCKETS_MS, LATENCY_SLOTS,
};
use super::timing::Latencies;

/// A histogram over `N` buckets (the last one is `+Inf`) and the sum of observed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram<const N: usize> {
    counts: [u64; N],
    sum_ms: u64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            counts: [0; N],
            sum_ms: 0,
        }
    }
}

impl<const N: usize> Histogram<N> {
    /// Adds one observation; `bounds` are the histogram's `N - 1` finite bounds.
    pub fn observe(&mut self, bounds: &[u64], value_ms: u64) {
        let i = bucket_index(bounds, value_ms).min(N.saturating_sub(1));
        if let Some(c) = self.counts.get_mut(i) {
            *c = c.saturating_add(1);
            self.sum_ms = self.sum_ms.saturating_add(value_ms);
        }
    }

    /// Adds another histogram's counts and sum to this one.
    pub fn merge(&mut self, other: &Histogram<N>) {
        for (c, o) in self.counts.iter_mut().zip(other.counts) {
            *c = c.saturating_add(o);
        }
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
    }

    /// Per-bucket counts, not cumulative; the last is the `+Inf` bucket.
    pub fn counts(&self) -> &[u64; N] {
        &self.counts
    }

    /// Sum of observed values, ms.
    pub fn sum_ms(&self) -> u64 {
        self.sum_ms
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, c| a.saturating_add(*c))
    }

    fn words(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts
            .iter()
            .copied()
            .chain(std::iter::once(self.sum_ms))
    }

    fn read(words: &mut impl Iterator<Item = u64>) -> Option<Histogram<N>> {
        let mut h = Histogram::default();
        for c in &mut h.counts {
            *c = words.next()?;
        }
        h.sum_ms = words.next()?;
        Some(h)
    }
}

/// `kong_upstream_latency_ms` / `kong_request_latency_ms` buckets.
pub type LatencyHistogram = Histogram<LATENCY_SLOTS>;
/// `kong_kong_latency_ms` buckets.
pub type KongLatencyHistogram = Histogram<KONG_LATENCY_SLOTS>;

/// The counts of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesRecord {
    /// Requests counted (`kong_http_requests_total`).
    pub requests: u64,
    /// Upstream latency (only requests that reached an upstream).
    pub upstream: LatencyHistogram,
    /// Total request latency.
    pub request: LatencyHistogram,
    /// The proxy's own latency.
    pub kong: KongLatencyHistogram,
}

const RECORD_VERSION: u64 = 1;
// version, requests, then each histogram's buckets and sum.
const WORDS: usize = 2 + 2 * (LATENCY_SLOTS + 1) + (KONG_LATENCY_SLOTS + 1);

impl SeriesRecord {
    /// Size of an encoded record in bytes.
    pub const ENCODED_LEN: usize = 8 * WORDS;

    /// Counts one request with its latencies.
    pub fn record(&mut self, latencies: &Latencies) {
        self.requests = self.requests.saturating_add(1);
        if let Some(upstream) = latencies.upstream_ms {
            self.upstream.observe(&LATENCY_BUCKETS_MS, upstream);
        }
        self.request
            .observe(&LATENCY_BUCKETS_MS, latencies.request_ms);
        self.kong
            .observe(&KONG_LATENCY_BUCKETS_MS, latencies.kong_ms);
    }

    /// Adds another record's counts to this one (a worker's delta into the node's total, or one
    /// node's series into another's).
    pub fn merge(&mut self, other: &SeriesRecord) {
        self.requests = self.requests.saturating_add(other.requests);
        self.upstream.merge(&other.upstream);
        self.request.merge(&other.request);
        self.kong.merge(&other.kong);
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == SeriesRecord::default()
    }

    /// Encodes into `out` (cleared first; reuse it across calls).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(Self::ENCODED_LEN);
        let words = [RECORD_VERSION, self.requests]
            .into_iter()
            .chain(self.upstream.words())
            .chain(self.request.words())
            .chain(self.kong.words());
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Decodes a record. `None` for any length but [`ENCODED_LEN`](Self::ENCODED_LEN) or
    /// another version (a missing or blanked shared-data value reads as `None`: count from
    /// [`SeriesRecord::default`]).
    pub fn decode(bytes: &[u8]) -> Option<SeriesRecord> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let mut words = bytes.chunks_exact(8).map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        });
        if words.next()? != RECORD_VERSION {
            return None;
        }
        Some(SeriesRecord {
            requests: words.next()?,
            upstream: Histogram::read(&mut words)?,
            request: Histogram::read(&mut words)?,
            kong: Histogram::read(&mut words)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::metrics::timing::latencies;

    both_targets_test! {
        fn a_record_is_408_bytes() {
            assert_eq!(SeriesRecord::ENCODED_LEN, 408);
            let mut buf = Vec::new();
            SeriesRecord::default().encode(&mut buf);
            assert_eq!(buf.len(), 408);
        }
    }

    both_targets_test! {
        fn a_record_round_trips_through_bytes() {
            let mut r = SeriesRecord::default();
            r.record(&latencies(130, Some(122)));
            r.record(&latencies(4, None));
            r.record(&latencies(u64::MAX, Some(u64::MAX)));
            let mut buf = Vec::new();
            r.encode(&mut buf);
            assert_eq!(&buf[..8], &1u64.to_le_bytes());
            assert_eq!(&buf[8..16], &3u64.to_le_bytes());
            assert_eq!(SeriesRecord::decode(&buf).unwrap(), r);
        }
    }

    both_targets_test! {
        fn decode_refuses_wrong_lengths_and_versions() {
            let mut buf = Vec::new();
            SeriesRecord::default().encode(&mut buf);
            assert_eq!(SeriesRecord::decode(&buf[..407]), None);
            assert_eq!(SeriesRecord::decode(&[]), None);
            let mut longer = buf.clone();
            longer.extend_from_slice(&[0; 8]);
            assert_eq!(SeriesRecord::decode(&longer), None);
            buf[0] = 2;
            assert_eq!(SeriesRecord::decode(&buf), None);
        }
    }

    both_targets_test! {
        fn latencies_land_in_their_buckets() {
            let mut r = SeriesRecord::default();
            r.record(&latencies(25, Some(25)));
            assert_eq!(r.upstream.counts()[0], 1, "25 ms is le=25");
            assert_eq!(r.request.counts()[0], 1);
            assert_eq!(r.kong.counts()[0], 1, "0 ms proxy latency is le=1");
            r.record(&latencies(130, Some(122)));
            assert_eq!(r.upstream.counts()[4], 1, "122 ms is le=250");
            assert_eq!(r.kong.counts()[4], 1, "8 ms is le=10");
            r.record(&latencies(70_000, None));
            assert_eq!(r.request.counts()[13], 1, "70 s is +Inf");
            assert_eq!(r.kong.counts()[17], 1, "70 s of proxy time is +Inf");
            assert_eq!(r.requests, 3);
            assert_eq!(r.upstream.count(), 2, "a local response has no upstream latency");
            assert_eq!(r.upstream.sum_ms(), 147);
            assert_eq!(r.request.sum_ms(), 70_155);
        }
    }

    both_targets_test! {
        fn merge_adds_every_count_and_sum() {
            let mut a = SeriesRecord::default();
            a.record(&latencies(130, Some(122)));
            let mut b = SeriesRecord::default();
            b.record(&latencies(130, Some(122)));
            b.record(&latencies(3, None));
            a.merge(&b);
            let mut expected = SeriesRecord::default();
            for l in [latencies(130, Some(122)), latencies(130, Some(122)), latencies(3, None)] {
                expected.record(&l);
            }
            assert_eq!(a, expected);
        }
    }

    both_targets_test! {
        fn sums_and_counts_saturate_instead_of_wrapping() {
            let mut a = SeriesRecord::default();
            a.record(&latencies(u64::MAX, Some(u64::MAX)));
            let b = a;
            a.merge(&b);
            a.requests = u64::MAX;
            a.merge(&b);
            assert_eq!(a.requests, u64::MAX);
            assert_eq!(a.upstream.sum_ms(), u64::MAX);
            assert_eq!(a.upstream.count(), 3);
        }
    }

    both_targets_test! {
        fn an_empty_record_is_empty() {
            let mut r = SeriesRecord::default();
            assert!(r.is_empty());
            r.record(&latencies(1, None));
            assert!(!r.is_empty());
        }
    }
}
