//! The byte record a counter slot holds in shared data.
//!
//! Layout (little-endian, fixed size for a given number of limits `n`):
//!
//! ```text
//! offset 0        fingerprint      u64   full 64-bit keyed hash of the client key; 0 = empty
//! offset 8+24*i   window_start_ms  u64   start of limit i's current window (Unix ms)
//!        16+24*i  count            u64   requests counted in that window
//!        24+24*i  previous_count   u64   requests in the window before it (sliding windows)
//! ```
//!
//! `8 + 24 * n` bytes: 32 bytes for one limit, 200 for the maximum of 8. Bytes of any other
//! length (another config's record, a blanked value) decode as an empty slot.

use super::limits::MAX_LIMITS_PER_RULE;

/// One limit's counters in a record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Start (Unix ms) of the window `count` belongs to.
    pub window_start_ms: u64,
    /// Requests counted in that window.
    pub count: u64,
    /// Requests counted in the window just before it (used by sliding windows).
    pub previous_count: u64,
}

/// A decoded slot record: whose slot it is and its counters, one per limit of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The key's 64-bit hash (never 0 for a used slot).
    pub fingerprint: u64,
    len: u8,
    counters: [Counter; MAX_LIMITS_PER_RULE],
}

const HEADER_BYTES: usize = 8;
const COUNTER_BYTES: usize = 24;

impl Record {
    /// A record for `fingerprint` with zeroed counters for `n_limits` limits (capped at the maximum).
    pub fn new(fingerprint: u64, n_limits: usize) -> Record {
        Record {
            fingerprint,
            len: u8::try_from(n_limits.min(MAX_LIMITS_PER_RULE)).unwrap_or(0),
            counters: [Counter::default(); MAX_LIMITS_PER_RULE],
        }
    }

    /// The encoded size of a record for `n_limits` limits.
    pub fn encoded_len(n_limits: usize) -> usize {
        HEADER_BYTES + COUNTER_BYTES * n_limits
    }

    /// The counters, one per limit, in the rule's limit order.
    pub fn counters(&self) -> &[Counter] {
        &self.counters[..usize::from(self.len)]
    }

    /// Mutable counters.
    pub fn counters_mut(&mut self) -> &mut [Counter] {
        &mut self.counters[..usize::from(self.len)]
    }

    /// Decodes a slot value for a rule with `n_limits` limits. `None` (read it as an empty slot)
    /// for a missing or blanked value, a wrong length, or a zero fingerprint.
    pub fn decode(bytes: &[u8], n_limits: usize) -> Option<Record> {
        if n_limits == 0
            || n_limits > MAX_LIMITS_PER_RULE
            || bytes.len() != Self::encoded_len(n_limits)
        {
            return None;
        }
        let mut words = bytes.chunks_exact(8).map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        });
        let fingerprint = words.next()?;
        if fingerprint == 0 {
            return None;
        }
        let mut record = Record::new(fingerprint, n_limits);
        for c in record.counters_mut() {
            c.window_start_ms = words.next()?;
            c.count = words.next()?;
            c.previous_count = words.next()?;
        }
        Some(record)
    }

    /// Encodes into `out` (cleared first; reuse it across requests).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        for c in self.counters() {
            out.extend_from_slice(&c.window_start_ms.to_le_bytes());
            out.extend_from_slice(&c.count.to_le_bytes());
            out.extend_from_slice(&c.previous_count.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    both_targets_test! {
        fn record_round_trips_through_bytes() {
            let mut r = Record::new(0xdead_beef, 2);
            r.counters_mut()[0] = Counter { window_start_ms: 60_000, count: 3, previous_count: 9 };
            r.counters_mut()[1] = Counter { window_start_ms: 0, count: u64::MAX, previous_count: 0 };
            let mut buf = Vec::new();
            r.encode(&mut buf);
            assert_eq!(buf.len(), 56);
            assert_eq!(&buf[..8], &0xdead_beef_u64.to_le_bytes());
            assert_eq!(Record::decode(&buf, 2).unwrap(), r);
        }
    }

    both_targets_test! {
        fn wrong_length_or_empty_bytes_decode_as_an_empty_slot() {
            let mut buf = Vec::new();
            Record::new(7, 2).encode(&mut buf);
            assert_eq!(Record::decode(&buf, 1), None);
            assert_eq!(Record::decode(&buf[..55], 2), None);
            assert_eq!(Record::decode(&[], 2), None);
            assert_eq!(Record::decode(&[0u8; 32], 1), None, "fingerprint 0 is empty");
            assert_eq!(Record::decode(&[1u8; 32], 0), None);
            assert_eq!(Record::decode(&vec![1u8; Record::encoded_len(9)], 9), None);
        }
    }
}
