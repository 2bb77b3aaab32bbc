//! Counting a request into the node's series in shared data, and reading
//! them all back for the endpoint (the protocol of
//! `shared::metrics::series`).

use crate::host::{self, CreateCas};
use proxy_wasm::types::Status;
use shared::metrics::{
    allocate, decode_count, encode_count, LabelSet, Latencies, SeriesRecord, SeriesTable,
    SharedKeys,
};

const MAX_ATTEMPTS: u32 = 64;

/// Where this worker counts a label set: a series index, or the overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Series(u32),
    Overflow,
}

/// The index of `labels`, claiming a new one when there is room.
pub fn target(
    keys: &SharedKeys,
    create: CreateCas,
    max: u32,
    labels: &LabelSet,
) -> Result<Target, Status> {
    let mut enc = Vec::new();
    labels.encode(&mut enc);
    let by_fp = keys.by_fingerprint(labels.fingerprint());
    if let Some((v, _)) = host::shared_get(&by_fp)? {
        if let Some(i) = decode_count(&v).and_then(|i| u32::try_from(i).ok()) {
            if matches!(host::shared_get(&keys.labels(i))?, Some((l, _)) if l == enc) {
                return Ok(Target::Series(i));
            }
        }
    }
    for _ in 0..MAX_ATTEMPTS {
        let (n, cas) = match host::shared_get(&keys.count())? {
            Some((v, cas)) => (decode_count(&v).unwrap_or(0), cas),
            None => (0, create.value()),
        };
        let Some(i) = allocate(n, max) else {
            return Ok(Target::Overflow);
        };
        match host::shared_set(&keys.count(), &encode_count(n + 1), cas) {
            Ok(()) => {
                // Index i is this worker's alone now: its labels are new.
                host::shared_set(&keys.labels(i), &enc, create.value())?;
                // A racing worker may have mapped the same labels first; the
                // endpoint merges equal label sets, so either index counts.
                let _ = host::shared_set(&by_fp, &encode_count(u64::from(i)), create.value());
                return Ok(Target::Series(i));
            }
            Err(Status::CasMismatch) => continue,
            Err(s) => return Err(s),
        }
    }
    Err(Status::CasMismatch)
}

/// Adds one request to a series record with compare-and-swap.
pub fn add(
    keys: &SharedKeys,
    create: CreateCas,
    target: Target,
    latencies: &Latencies,
) -> Result<(), Status> {
    let key = match target {
        Target::Series(i) => keys.record(i),
        Target::Overflow => keys.overflow(),
    };
    let mut buf = Vec::with_capacity(SeriesRecord::ENCODED_LEN);
    for _ in 0..MAX_ATTEMPTS {
        let (mut record, cas) = match host::shared_get(&key)? {
            Some((v, cas)) => (SeriesRecord::decode(&v).unwrap_or_default(), cas),
            None => (SeriesRecord::default(), create.value()),
        };
        record.record(latencies);
        record.encode(&mut buf);
        match host::shared_set(&key, &buf, cas) {
            Ok(()) => return Ok(()),
            Err(Status::CasMismatch) => continue,
            Err(s) => return Err(s),
        }
    }
    Err(Status::CasMismatch)
}

/// Every series of the node, read from shared data.
pub fn gather(keys: &SharedKeys, max: u32) -> SeriesTable {
    let mut table = SeriesTable::new(max);
    let n = match host::shared_get(&keys.count()) {
        Ok(Some((v, _))) => decode_count(&v).unwrap_or(0),
        _ => 0,
    };
    for i in 0..n.min(u64::from(max)) as u32 {
        let labels = host::shared_get(&keys.labels(i))
            .ok()
            .flatten()
            .and_then(|(v, _)| LabelSet::decode(&v));
        let record = host::shared_get(&keys.record(i))
            .ok()
            .flatten()
            .and_then(|(v, _)| SeriesRecord::decode(&v));
        if let (Some(l), Some(r)) = (labels, record) {
            table.merge(&l, &r);
        }
    }
    if let Ok(Some((v, _))) = host::shared_get(&keys.overflow()) {
        if let Some(r) = SeriesRecord::decode(&v) {
            table.merge_overflow(&r);
        }
    }
    table
}
