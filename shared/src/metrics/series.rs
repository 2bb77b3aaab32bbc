//! The series table: label sets mapped to series indices and their counts, with a cap.
//!
//! Past `max_series` label sets, a new label set is counted under one overflow label set
//! (`service="__overflow__", route="__overflow__"`), and the requests it counts are the
//! `<prefix>_series_overflow_total` metric: memory and scrape size stay bounded whatever routes,
//! codes or consumers clients produce, and the loss is visible.
//!
//! # In shared data
//!
//! The node's table lives in shared data under the keys of [`SharedKeys`], so every worker adds
//! to it and the `/metrics` endpoint (served by any worker) reads it all:
//!
//! - `<base>/n` — how many indices were handed out ([`encode_count`], 8 bytes);
//! - `<base>/l/<i>` — series `i`'s labels ([`LabelSet::encode`]);
//! - `<base>/r/<i>` — its counts ([`SeriesRecord::encode`], fixed size); `<base>/r/overflow`
//!   for the overflow label set;
//! - `<base>/f/<fingerprint>` — from a label set to its index ([`encode_count`] of the index).
//!
//! A worker meeting a label set it has not cached reads `f/<fp>`, and uses that index if
//! `l/<index>` holds the same labels. Else it claims an index: CAS `n` from `k` to `k + 1`
//! when [`allocate`] allows, else counts under the overflow record. Then it writes `l/<k>` and
//! `f/<fp>`. Two workers racing on the same new label set can each claim an index; the
//! endpoint merges series with equal labels ([`SeriesTable::merge`]), so the text stays valid
//! and the counts exact. Counts are added with CAS retries ([`SeriesRecord::merge`] of a
//! worker's delta).

use std::collections::BTreeMap;

use super::labels::LabelSet;
use super::record::SeriesRecord;
use super::timing::Latencies;

/// Where a label set is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Its own series, at this index.
    Series(u32),
    /// The overflow label set (the table was full).
    Overflow,
}

/// Label sets and their counts, at most `max_series` of them plus the overflow.
///
/// Used by a worker to count (or batch deltas) and by the endpoint to gather the node's series
/// from shared data before rendering.
#[derive(Debug, Clone, Default)]
pub struct SeriesTable {
    max_series: u32,
    index: BTreeMap<LabelSet, u32>,
    series: Vec<(LabelSet, SeriesRecord)>,
    overflow: SeriesRecord,
}

impl SeriesTable {
    /// An empty table holding at most `max_series` label sets.
    pub fn new(max_series: u32) -> SeriesTable {
        SeriesTable {
            max_series,
            ..SeriesTable::default()
        }
    }

    /// The slot of a label set: its index, a new index if there is room, else the overflow.
    pub fn slot(&mut self, labels: &LabelSet) -> Slot {
        if let Some(i) = self.index.get(labels) {
            return Slot::Series(*i);
        }
        match allocate(self.series.len() as u64, self.max_series) {
            Some(i) => {
                self.index.insert(labels.clone(), i);
                self.series.push((labels.clone(), SeriesRecord::default()));
                Slot::Series(i)
            }
            None => Slot::Overflow,
        }
    }

    /// Counts one request for `labels`.
    pub fn record(&mut self, labels: &LabelSet, latencies: &Latencies) -> Slot {
        let slot = self.slot(labels);
        self.record_mut(slot).record(latencies);
        slot
    }

    /// Adds a record's counts under `labels` (a series read from shared data, or a worker's
    /// batch); series with equal labels add up into one.
    pub fn merge(&mut self, labels: &LabelSet, record: &SeriesRecord) -> Slot {
        let slot = self.slot(labels);
        self.record_mut(slot).merge(record);
        slot
    }

    /// Adds counts to the overflow label set (the overflow record read from shared data).
    pub fn merge_overflow(&mut self, record: &SeriesRecord) {
        self.overflow.merge(record);
    }

    fn record_mut(&mut self, slot: Slot) -> &mut SeriesRecord {
        let series = match slot {
            Slot::Series(i) => usize::try_from(i).ok().and_then(|i| self.series.get_mut(i)),
            Slot::Overflow => None,
        };
        match series {
            Some((_, record)) => record,
            None => &mut self.overflow,
        }
    }

    /// Series `i`, if there is one.
    pub fn get(&self, i: u32) -> Option<(&LabelSet, &SeriesRecord)> {
        let (labels, record) = self.series.get(usize::try_from(i).ok()?)?;
        Some((labels, record))
    }

    /// The series in index order (the overflow excluded).
    pub fn iter(&self) -> impl Iterator<Item = (&LabelSet, &SeriesRecord)> {
        self.series.iter().map(|(l, r)| (l, r))
    }

    /// The overflow label set's counts.
    pub fn overflow(&self) -> &SeriesRecord {
        &self.overflow
    }

    /// Requests counted under the overflow label set (`<prefix>_series_overflow_total`).
    pub fn overflow_requests(&self) -> u64 {
        self.overflow.requests
    }

    /// Number of series (the overflow excluded); never more than `max_series`.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series was created.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The cap.
    pub fn max_series(&self) -> u32 {
        self.max_series
    }

    /// Zeroes every count and keeps the label sets and indices: what a worker does after adding
    /// its batched deltas to shared data.
    pub fn clear_counts(&mut self) {
        for (_, record) in &mut self.series {
            *record = SeriesRecord::default();
        }
        self.overflow = SeriesRecord::default();
    }
}

/// The index to claim when `count` indices are handed out, or `None` when the table is full.
pub fn allocate(count: u64, max_series: u32) -> Option<u32> {
    u32::try_from(count).ok().filter(|c| *c < max_series)
}

/// Encodes a count or index for shared data (8 bytes, little-endian).
pub fn encode_count(n: u64) -> [u8; 8] {
    n.to_le_bytes()
}

/// Decodes [`encode_count`]'s bytes; `None` for any other length (a missing or blanked value:
/// read it as 0).
pub fn decode_count(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// The shared-data keys of a node's series table (see the module docs). `base` is the key
/// namespace, e.g. `latency_metrics` (Kong's shm_kv keys are `<namespace>/<key>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedKeys {
    base: String,
}

impl SharedKeys {
    /// Keys under `base`.
    pub fn new(base: &str) -> SharedKeys {
        SharedKeys {
            base: base.to_owned(),
        }
    }

    /// How many series indices were handed out.
    pub fn count(&self) -> String {
        format!("{}/n", self.base)
    }

    /// The labels of series `i`.
    pub fn labels(&self, i: u32) -> String {
        format!("{}/l/{i}", self.base)
    }

    /// The counts of series `i`.
    pub fn record(&self, i: u32) -> String {
        format!("{}/r/{i}", self.base)
    }

    /// The counts of the overflow label set.
    pub fn overflow(&self) -> String {
        format!("{}/r/overflow", self.base)
    }

    /// The index of the label set with this [`LabelSet::fingerprint`].
    pub fn by_fingerprint(&self, fingerprint: u64) -> String {
        format!("{}/f/{fingerprint:016x}", self.base)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::metrics::labels::Source;
    use crate::metrics::timing::latencies;

    fn route(name: &str) -> LabelSet {
        LabelSet::new(b"svc", name.as_bytes(), 200, Source::Service, b"")
    }

    both_targets_test! {
        fn the_series_cap_holds_under_a_flood_of_route_names() {
            let mut table = SeriesTable::new(1000);
            for i in 0..10_000 {
                table.record(&route(&format!("route-{i}")), &latencies(10, Some(8)));
            }
            assert_eq!(table.len(), 1000);
            assert_eq!(table.overflow_requests(), 9000);
            let counted: u64 = table.iter().map(|(_, r)| r.requests).sum();
            assert_eq!(counted, 1000);
            assert_eq!(table.overflow().request.count(), 9000);
        }
    }

    both_targets_test! {
        fn a_known_series_keeps_counting_after_the_table_is_full() {
            let mut table = SeriesTable::new(2);
            assert_eq!(table.record(&route("a"), &latencies(1, None)), Slot::Series(0));
            assert_eq!(table.record(&route("b"), &latencies(1, None)), Slot::Series(1));
            assert_eq!(table.record(&route("c"), &latencies(1, None)), Slot::Overflow);
            assert_eq!(table.record(&route("a"), &latencies(1, None)), Slot::Series(0));
            assert_eq!(table.get(0).unwrap().1.requests, 2);
            assert_eq!(table.overflow_requests(), 1);
        }
    }

    both_targets_test! {
        fn series_with_equal_labels_merge_into_one() {
            let mut a = SeriesRecord::default();
            a.record(&latencies(10, Some(8)));
            let mut table = SeriesTable::new(10);
            table.merge(&route("x"), &a);
            table.merge(&route("x"), &a);
            assert_eq!(table.len(), 1);
            assert_eq!(table.get(0).unwrap().1.requests, 2);
        }
    }

    both_targets_test! {
        fn merging_into_a_full_table_counts_as_overflow() {
            let mut r = SeriesRecord::default();
            r.record(&latencies(10, Some(8)));
            r.record(&latencies(10, Some(8)));
            let mut table = SeriesTable::new(1);
            table.merge(&route("x"), &r);
            assert_eq!(table.merge(&route("y"), &r), Slot::Overflow);
            table.merge_overflow(&r);
            assert_eq!(table.overflow_requests(), 4);
        }
    }

    both_targets_test! {
        fn clearing_counts_keeps_the_indices() {
            let mut table = SeriesTable::new(10);
            table.record(&route("a"), &latencies(1, None));
            table.record(&route("b"), &latencies(1, None));
            table.clear_counts();
            assert!(table.iter().all(|(_, r)| r.is_empty()));
            assert_eq!(table.slot(&route("b")), Slot::Series(1));
        }
    }

    both_targets_test! {
        fn allocation_stops_at_max_series() {
            assert_eq!(allocate(0, 1000), Some(0));
            assert_eq!(allocate(999, 1000), Some(999));
            assert_eq!(allocate(1000, 1000), None);
            assert_eq!(allocate(u64::MAX, 1000), None);
            assert_eq!(allocate(0, 0), None);
        }
    }

    both_targets_test! {
        fn counts_round_trip_and_refuse_other_lengths() {
            assert_eq!(decode_count(&encode_count(1234)), Some(1234));
            assert_eq!(decode_count(&[]), None);
            assert_eq!(decode_count(&[1; 7]), None);
        }
    }

    both_targets_test! {
        fn shared_keys_are_namespaced() {
            let k = SharedKeys::new("latency_metrics");
            assert_eq!(k.count(), "latency_metrics/n");
            assert_eq!(k.labels(7), "latency_metrics/l/7");
            assert_eq!(k.record(7), "latency_metrics/r/7");
            assert_eq!(k.overflow(), "latency_metrics/r/overflow");
            assert_eq!(k.by_fingerprint(0xab), "latency_metrics/f/00000000000000ab");
        }
    }
}
