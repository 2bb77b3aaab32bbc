//! Counter slots: where a client key's counters live in shared data, with bounded memory.
//!
//! proxy-wasm shared data can never delete a key (Envoy only blanks the value), so one
//! shared-data key per client would grow without bound under a flood of new clients (or
//! spoofed keys). Instead each rule owns a table of `local_slots` slots, keyed
//! `rl:<rule>:<slot>`, and a client key maps to [`PROBES`] candidate slots from its keyed hash
//! ([`key_hash`](super::key_hash)). The slot record stores the full 64-bit hash as a
//! fingerprint to recognise its owner.
//!
//! Slot choice ([`choose_slot`]): the candidate whose fingerprint matches; else the first one
//! that is empty or whose windows have all expired (reclaimable); else [`SlotChoice::Full`],
//! and the plugin lets the request through (fail-open, counted and logged). A live record is
//! never evicted, so a flood of new keys can never reset a limited client's counters.
//!
//! Memory bound per node: `rules × local_slots × (record bytes + key bytes + host overhead)`,
//! where record bytes = `8 + 24 × limits` ([`Record`]), key bytes ≈ 16 (`rl:<r>:<i>`), and the
//! host overhead is its per-entry cost (Envoy: a hash-map node and a CAS id, ~100 bytes).
//! E.g. 2 rules × 65 536 slots × (32 + 16 + 100) ≈ 19 MB at worst; for Kong size
//! `nginx_wasm_shm_kv` for it, or its LRU will evict counters.
//!
//! Writes are compare-and-swap: the plugin reads each candidate with its CAS token, and if the
//! write of a claimed or updated slot fails, it retries the whole choice (another worker may
//! just have claimed that slot for another key).

use super::decimal::push_u64;
use super::limits::Limit;
use super::record::Record;
use super::window::WindowType;

/// How many candidate slots a key has.
pub const PROBES: usize = 4;

/// The candidate slot indices of a key, distinct (fewer than [`PROBES`] only in tables smaller
/// than that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probes {
    idx: [u32; PROBES],
    len: u8,
}

impl Probes {
    /// The slot indices, in probe order.
    pub fn as_slice(&self) -> &[u32] {
        &self.idx[..usize::from(self.len)]
    }
}

/// The candidate slots of a key hash in a table of `slots` slots: two independent positions
/// from the hash's two halves and their neighbours (`a, b, a+1, b+1`), like two-choice hashing
/// with buckets of two, which keeps tables usable up to a high fill.
pub fn probe_slots(hash: u64, slots: u32) -> Probes {
    let mut probes = Probes {
        idx: [0; PROBES],
        len: 0,
    };
    if slots == 0 {
        return probes;
    }
    let n = u64::from(slots);
    let a = (hash & 0xffff_ffff) % n;
    let b = (hash >> 32) % n;
    let want = PROBES.min(usize::try_from(slots).unwrap_or(PROBES));
    let mut step = 0u64;
    while usize::from(probes.len) < want {
        for base in [a, b] {
            // `(base + step) % n < n <= u32::MAX`
            let i = u32::try_from((base + step) % n).unwrap_or(0);
            if usize::from(probes.len) < want && !probes.as_slice().contains(&i) {
                probes.idx[usize::from(probes.len)] = i;
                probes.len += 1;
            }
        }
        step += 1;
    }
    probes
}

/// Writes the shared-data key of slot `slot` of rule `rule` into `buf` (cleared first):
/// `rl:<rule>:<slot>`.
pub fn slot_key(rule: u32, slot: u32, buf: &mut String) {
    buf.clear();
    buf.push_str("rl:");
    push_u64(buf, u64::from(rule));
    buf.push(':');
    push_u64(buf, u64::from(slot));
}

/// Which slot a key's counters go in.
// Returned by value once per request; boxing the record would allocate on the request path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotChoice {
    /// The key already owns this slot; its record is given.
    Owned {
        /// The slot index.
        slot: u32,
        /// Its current record.
        record: Record,
    },
    /// The slot is empty or reclaimable: write a fresh record for the key there.
    Claim {
        /// The slot index.
        slot: u32,
    },
    /// Every candidate is held by another live key: let the request through uncounted.
    Full,
}

/// Chooses the slot for `fingerprint` among `probes`, reading each candidate's record with
/// `read` (the plugin decodes the shared-data value with [`Record::decode`] and keeps its CAS
/// token). Stops reading at the first owned slot.
pub fn choose_slot(
    probes: &Probes,
    fingerprint: u64,
    now_ms: u64,
    limits: &[Limit],
    window_type: WindowType,
    mut read: impl FnMut(u32) -> Option<Record>,
) -> SlotChoice {
    let mut free = None;
    for &slot in probes.as_slice() {
        match read(slot) {
            Some(record) if record.fingerprint == fingerprint => {
                return SlotChoice::Owned { slot, record };
            }
            Some(record) if !is_dead(&record, now_ms, limits, window_type) => {}
            _ => {
                if free.is_none() {
                    free = Some(slot);
                }
            }
        }
    }
    match free {
        Some(slot) => SlotChoice::Claim { slot },
        None => SlotChoice::Full,
    }
}

/// Whether no window of the record can still affect a decision: fixed windows have ended;
/// sliding windows have ended and so has the window after them (whose estimate still weighs
/// the old count). A record not shaped for these limits is dead too.
pub fn is_dead(record: &Record, now_ms: u64, limits: &[Limit], window_type: WindowType) -> bool {
    if record.counters().len() != limits.len() {
        return true;
    }
    record.counters().iter().zip(limits).all(|(c, l)| {
        let mut end = l.window.next_start_ms(c.window_start_ms);
        if window_type == WindowType::Sliding {
            end = l.window.next_start_ms(end);
        }
        now_ms >= end
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::ratelimit::decision::apply;
    use crate::ratelimit::hash::key_hash;
    use crate::ratelimit::window::Window;

    const T0: u64 = 1_715_953_320_000;

    fn minute(max: u64) -> Vec<Limit> {
        vec![Limit {
            max,
            window: Window::Minute,
        }]
    }

    /// A toy shared-data table: one decoded record per slot.
    struct Table {
        slots: Vec<Option<Record>>,
    }

    impl Table {
        fn new(n: usize) -> Self {
            Table {
                slots: vec![None; n],
            }
        }

        /// One request for `key` as the plugin would run it; `None` when the table was full.
        fn hit(&mut self, key: &[u8], now: u64, limits: &[Limit], wt: WindowType) -> Option<bool> {
            let h = key_hash(99, key);
            let n = u32::try_from(self.slots.len()).unwrap();
            let probes = probe_slots(h, n);
            let choice = choose_slot(&probes, h, now, limits, wt, |i| self.slots[i as usize]);
            let (slot, record) = match choice {
                SlotChoice::Owned { slot, record } => (slot, Some(record)),
                SlotChoice::Claim { slot } => (slot, None),
                SlotChoice::Full => return None,
            };
            let (d, next) = apply(record.as_ref(), h, now, limits, wt, 1);
            if let Some(next) = next {
                self.slots[slot as usize] = Some(next);
            }
            Some(d.allowed)
        }
    }

    both_targets_test! {
        fn slot_keys_name_rule_and_slot() {
            let mut buf = String::from("junk");
            slot_key(3, 65_535, &mut buf);
            assert_eq!(buf, "rl:3:65535");
        }
    }

    both_targets_test! {
        fn probes_are_distinct_and_in_range() {
            for h in [0u64, 1, u64::MAX, 0x1234_5678_9abc_def0, 7 << 32 | 7] {
                for n in [1u32, 2, 3, 4, 5, 64, 65_536, 16_777_216] {
                    let p = probe_slots(h, n);
                    assert_eq!(p.as_slice().len(), PROBES.min(n as usize));
                    assert!(p.as_slice().iter().all(|&i| i < n));
                    let mut s = p.as_slice().to_vec();
                    s.sort_unstable();
                    s.dedup();
                    assert_eq!(s.len(), p.as_slice().len());
                }
            }
            assert!(probe_slots(5, 0).as_slice().is_empty());
        }
    }

    both_targets_test! {
        fn a_key_finds_its_own_slot_again() {
            let mut t = Table::new(64);
            for _ in 0..5 {
                assert_eq!(t.hit(b"alice", T0, &minute(5), WindowType::Fixed), Some(true));
            }
            assert_eq!(t.hit(b"alice", T0, &minute(5), WindowType::Fixed), Some(false));
            assert_eq!(t.hit(b"bob", T0, &minute(5), WindowType::Fixed), Some(true));
        }
    }

    both_targets_test! {
        fn flood_of_new_keys_never_evicts_a_live_key() {
            let mut t = Table::new(16);
            let limits = minute(3);
            for _ in 0..3 {
                t.hit(b"victim", T0, &limits, WindowType::Fixed);
            }
            let mut full = 0;
            for i in 0..10_000u32 {
                if t.hit(&i.to_le_bytes(), T0 + 1_000, &limits, WindowType::Fixed).is_none() {
                    full += 1;
                }
            }
            assert!(full > 9_000, "the table fills up and then refuses new keys");
            assert_eq!(t.hit(b"victim", T0 + 2_000, &limits, WindowType::Fixed), Some(false));
        }
    }

    both_targets_test! {
        fn expired_slots_are_reclaimed_for_new_keys() {
            let mut t = Table::new(4);
            let limits = minute(3);
            for i in 0..4u32 {
                t.hit(&i.to_le_bytes(), T0, &limits, WindowType::Fixed);
            }
            assert_eq!(t.hit(b"late", T0 + 30_000, &limits, WindowType::Fixed), None);
            assert_eq!(t.hit(b"late", T0 + 60_000, &limits, WindowType::Fixed), Some(true));
        }
    }

    both_targets_test! {
        fn sliding_records_live_one_window_longer() {
            let limits = minute(3);
            let mut r = Record::new(1, 1);
            r.counters_mut()[0].window_start_ms = T0;
            assert!(!is_dead(&r, T0 + 60_000, &limits, WindowType::Sliding));
            assert!(is_dead(&r, T0 + 120_000, &limits, WindowType::Sliding));
            assert!(is_dead(&r, T0 + 60_000, &limits, WindowType::Fixed));
            assert!(is_dead(&r, T0, &[], WindowType::Fixed), "shape mismatch");
        }
    }

    both_targets_test! {
        fn a_full_table_fails_open_for_the_new_key_only() {
            let mut t = Table::new(1);
            let limits = minute(1);
            assert_eq!(t.hit(b"a", T0, &limits, WindowType::Fixed), Some(true));
            assert_eq!(t.hit(b"b", T0, &limits, WindowType::Fixed), None);
            assert_eq!(t.hit(b"a", T0, &limits, WindowType::Fixed), Some(false));
        }
    }

    both_targets_test! {
        fn choose_stops_reading_at_the_owned_slot() {
            let h = key_hash(1, b"k");
            let probes = probe_slots(h, 1024);
            let mut owned = Record::new(h, 1);
            owned.counters_mut()[0].window_start_ms = T0;
            let first = probes.as_slice()[0];
            let mut reads = 0;
            let choice = choose_slot(&probes, h, T0, &minute(1), WindowType::Fixed, |i| {
                reads += 1;
                if i == first { Some(owned) } else { panic!("read past the owned slot") }
            });
            assert_eq!(reads, 1);
            assert_eq!(choice, SlotChoice::Owned { slot: first, record: owned });
        }
    }
}
