//! SipHash-1-3, written out here so the slot hash is keyed and identical on every worker.
//!
//! Why keyed: client keys (IPs, header values) are chosen by clients. With an unkeyed hash an
//! attacker could compute keys that land on the same slots as a victim and fill them. The plugin
//! keeps one random 64-bit seed in shared data, so all workers of a node agree on slot positions
//! while outsiders cannot predict them. SipHash-1-3 is the keyed hash Rust's `HashMap` uses; it is
//! fast on short inputs and small in code. `std`'s implementation is not a stable API, hence this copy.

/// A second key half derived from the seed (any fixed odd constant works: it only has to differ
/// from the seed so the two SipHash key words are not equal).
const K1_MIX: u64 = 0x9e37_79b9_7f4a_7c15;

struct State {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
}

impl State {
    fn new(k0: u64, k1: u64) -> Self {
        State {
            v0: k0 ^ 0x736f_6d65_7073_6575,
            v1: k1 ^ 0x646f_7261_6e64_6f6d,
            v2: k0 ^ 0x6c79_6765_6e65_7261,
            v3: k1 ^ 0x7465_6462_7974_6573,
        }
    }

    #[inline]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13);
        self.v1 ^= self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16);
        self.v3 ^= self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21);
        self.v3 ^= self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17);
        self.v1 ^= self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    fn compress(&mut self, m: u64) {
        self.v3 ^= m;
        self.round();
        self.v0 ^= m;
    }
}

/// SipHash-1-3 of `data` under the 128-bit key `(k0, k1)`.
pub fn siphash13(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut s = State::new(k0, k1);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        s.compress(u64::from_le_bytes(w));
    }
    let tail = chunks.remainder();
    // The length byte wraps modulo 256 by definition of SipHash.
    let mut last = (data.len() as u64 & 0xff) << 56;
    for (i, &b) in tail.iter().enumerate() {
        last |= u64::from(b) << (8 * i);
    }
    s.compress(last);
    s.v2 ^= 0xff;
    s.round();
    s.round();
    s.round();
    s.v0 ^ s.v1 ^ s.v2 ^ s.v3
}

/// The 64-bit keyed hash of a client key; never 0, because a fingerprint of 0 marks an empty slot.
pub fn key_hash(seed: u64, key: &[u8]) -> u64 {
    match siphash13(seed, seed ^ K1_MIX, key) {
        0 => 1,
        h => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    both_targets_test! {
        fn matches_the_siphash13_reference_vectors() {
            // Key 00..0f, message 00..(n-1): the reference vectors of SipHash-1-3 as used in
            // Rust's `core::hash::sip` tests (`test_siphash_1_3`).
            let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
            let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
            // (length, expected output as little-endian hex)
            let vectors = [
                (0, "dcc40f055801acab"),
                (1, "93ca577df39bf4c9"),
                (7, "4011b19b987d92d3"),
                (8, "8e9a298d11959036"),
                (15, "5699512a6dd820d3"),
                (63, "a8b3bbb76290199d"),
            ];
            let msg: Vec<u8> = (0u8..64).collect();
            for (len, hex) in vectors {
                let got: String = siphash13(k0, k1, &msg[..len])
                    .to_le_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(got, hex, "vector {len}");
            }
        }
    }

    both_targets_test! {
        fn different_seeds_place_the_same_key_differently() {
            assert_ne!(key_hash(1, b"10.0.0.1"), key_hash(2, b"10.0.0.1"));
            assert_eq!(key_hash(7, b"10.0.0.1"), key_hash(7, b"10.0.0.1"));
        }
    }
}
