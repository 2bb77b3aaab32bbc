//! The lease that makes one worker of a node the one that syncs.
//!
//! `on_tick` fires in every worker (HOSTS.md), but a node should send its pending increments
//! once per interval. The lease is a small record in shared data: a worker syncs only while it
//! holds an unexpired lease, takes a free or expired one with a CAS write, and renews its own
//! each tick. A worker that dies (or a VM that is reloaded) simply stops renewing, and another
//! takes over once the lease expires; a duplicate sync in that hand-over is harmless because
//! unacknowledged batches are re-sent under their own ids ([`pending`](super::pending)).
//!
//! Layout (little-endian, 16 bytes): `holder u64` (a random non-zero worker id; 0 = nobody),
//! `expires_ms u64` (Unix ms). Other lengths decode as no lease.

/// Who syncs for the node, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The holding worker's id (non-zero).
    pub holder: u64,
    /// The lease is void from this instant (Unix ms).
    pub expires_ms: u64,
}

impl Lease {
    /// The encoded size in bytes.
    pub const ENCODED_LEN: usize = 16;

    /// Whether worker `me` may take (or renew) the lease at `now_ms`, given the stored one:
    /// none, expired, or already its own. A worker id of 0 may never take it.
    pub fn may_take(current: Option<&Lease>, me: u64, now_ms: u64) -> bool {
        me != 0
            && match current {
                None => true,
                Some(l) => l.holder == 0 || l.holder == me || now_ms >= l.expires_ms,
            }
    }

    /// The lease `me` writes (with CAS) when it takes or renews it at `now_ms` for `ttl_ms`.
    /// Use a TTL of a few sync intervals, so that one late tick does not hand it over.
    pub fn taken(me: u64, now_ms: u64, ttl_ms: u64) -> Lease {
        Lease {
            holder: me,
            expires_ms: now_ms.saturating_add(ttl_ms),
        }
    }

    /// Whether `me` holds this lease at `now_ms`.
    pub fn is_held_by(&self, me: u64, now_ms: u64) -> bool {
        me != 0 && self.holder == me && now_ms < self.expires_ms
    }

    /// Decodes a stored lease; `None` (no lease) for any other length.
    pub fn decode(bytes: &[u8]) -> Option<Lease> {
        let holder: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
        let expires: [u8; 8] = bytes.get(8..)?.try_into().ok()?;
        Some(Lease {
            holder: u64::from_le_bytes(holder),
            expires_ms: u64::from_le_bytes(expires),
        })
    }

    /// The 16 stored bytes.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.holder.to_le_bytes());
        out[8..].copy_from_slice(&self.expires_ms.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    both_targets_test! {
        fn a_free_lease_may_be_taken() {
            assert!(Lease::may_take(None, 7, 1_000));
            let blank = Lease { holder: 0, expires_ms: u64::MAX };
            assert!(Lease::may_take(Some(&blank), 7, 1_000));
        }
    }

    both_targets_test! {
        fn a_live_lease_of_another_worker_may_not_be_taken() {
            let l = Lease::taken(1, 1_000, 300);
            assert!(!Lease::may_take(Some(&l), 2, 1_299));
            assert!(Lease::may_take(Some(&l), 1, 1_299), "its holder renews it");
        }
    }

    both_targets_test! {
        fn an_expired_lease_may_be_taken_over() {
            let l = Lease::taken(1, 1_000, 300);
            assert!(Lease::may_take(Some(&l), 2, 1_300));
            assert!(!l.is_held_by(1, 1_300));
            assert!(l.is_held_by(1, 1_299));
            assert!(!l.is_held_by(2, 1_000));
        }
    }

    both_targets_test! {
        fn worker_id_zero_never_holds_a_lease() {
            assert!(!Lease::may_take(None, 0, 0));
            assert!(!Lease { holder: 0, expires_ms: u64::MAX }.is_held_by(0, 0));
        }
    }

    both_targets_test! {
        fn lease_round_trips_through_sixteen_bytes() {
            let l = Lease::taken(0xabcd, u64::MAX - 5, 300);
            assert_eq!(l.expires_ms, u64::MAX, "saturates");
            let bytes = l.encode();
            assert_eq!(Lease::decode(&bytes), Some(l));
            assert_eq!(Lease::decode(&bytes[..15]), None);
            assert_eq!(Lease::decode(&[0u8; 17]), None);
            assert_eq!(Lease::decode(&[]), None);
        }
    }
}
