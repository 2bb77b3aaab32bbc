//! The local policy's counter store: slot records in the node's shared
//! data, updated with compare-and-swap so every worker's count lands.

use crate::host::{self, CreateCas};
use proxy_wasm::types::Status;
use shared::ratelimit::{
    apply, choose_slot, key_hash, probe_slots, slot_key, Decision, Record, Rule, SlotChoice, PROBES,
};

/// How many times a request retries after losing a CAS race before it
/// gives up and is treated as a store failure. Contention on one key from
/// every worker at once settles in a few rounds.
const MAX_ATTEMPTS: u32 = 64;

/// The outcome of counting one request (local or batched cluster mode).
// Returned by value once per request: boxing the decision would allocate
// on the request path.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Decided(Decision),
    /// Every candidate slot is held by another live key (see
    /// `shared::ratelimit::slots`): the request goes on uncounted.
    TableFull,
    /// Shared data failed (or kept losing races): the fault policy decides.
    StoreFailed(Status),
}

/// Per-worker scratch space, reused so the request path does not allocate
/// once warm.
#[derive(Default)]
pub struct Scratch {
    key_name: String,
    encoded: Vec<u8>,
}

/// Counts one request for the client key `key` under `rule`.
#[allow(clippy::too_many_arguments)]
pub fn count(
    scratch: &mut Scratch,
    create: CreateCas,
    seed: u64,
    slots: u32,
    rule_index: u32,
    rule: &Rule,
    key: &[u8],
    now_ms: u64,
) -> Outcome {
    let fingerprint = key_hash(seed, key);
    let probes = probe_slots(fingerprint, slots);
    let limits = rule.limits();
    let window_type = rule.window_type();
    for _ in 0..MAX_ATTEMPTS {
        // The cas of each candidate as read; `None` = the key is missing.
        let mut cas: [Option<u32>; PROBES] = [None; PROBES];
        let mut failure = None;
        let choice = choose_slot(&probes, fingerprint, now_ms, limits, window_type, |slot| {
            slot_key(rule_index, slot, &mut scratch.key_name);
            match host::shared_get(&scratch.key_name) {
                Ok(Some((value, c))) => {
                    if let Some(i) = probes.as_slice().iter().position(|s| *s == slot) {
                        cas[i] = Some(c);
                    }
                    Record::decode(&value, limits.len())
                }
                Ok(None) => None,
                Err(s) => {
                    failure = Some(s);
                    None
                }
            }
        });
        if let Some(s) = failure {
            return Outcome::StoreFailed(s);
        }
        let (slot, current) = match choice {
            SlotChoice::Full => return Outcome::TableFull,
            SlotChoice::Owned { slot, record } => (slot, Some(record)),
            SlotChoice::Claim { slot } => (slot, None),
        };
        let (decision, next) = apply(
            current.as_ref(),
            fingerprint,
            now_ms,
            limits,
            window_type,
            1,
        );
        let Some(next) = next else {
            // Rejected: nothing is counted, nothing to write.
            return Outcome::Decided(decision);
        };
        let slot_cas = probes
            .as_slice()
            .iter()
            .position(|s| *s == slot)
            .and_then(|i| cas[i]);
        scratch.encoded.clear();
        next.encode(&mut scratch.encoded);
        slot_key(rule_index, slot, &mut scratch.key_name);
        let write_cas = slot_cas.unwrap_or(create.value());
        match host::shared_set(&scratch.key_name, &scratch.encoded, write_cas) {
            Ok(()) => return Outcome::Decided(decision),
            Err(Status::CasMismatch) => continue,
            Err(s) => return Outcome::StoreFailed(s),
        }
    }
    Outcome::StoreFailed(Status::CasMismatch)
}
