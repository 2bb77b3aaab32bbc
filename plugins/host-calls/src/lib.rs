//! The plugins' one adapter over host calls. Every status becomes a value,
//! never a panic: the SDK's `Context` helpers unwrap, and real hosts do
//! fail (ngx_wasm_module refuses some properties with an error status).
//! Where Envoy and Kong differ, the difference is handled here once.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};
use std::cell::Cell;
use std::time::UNIX_EPOCH;

/// How this host creates a shared-data key atomically. Envoy
/// (proxy-wasm-cpp-host) treats cas 0 as "write unconditionally" but writes
/// a missing key under any cas; ngx_wasm_module treats cas 0 as "only if
/// missing" and never creates under a non-zero cas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateCas {
    /// ngx_wasm_module: create with cas 0.
    Zero,
    /// Envoy: create with a cas no live key holds.
    NonZero,
}

/// The cas used to create keys under [`CreateCas::NonZero`]: an existing
/// key answers a mismatch unless its cas is exactly this (the host's
/// counter would have to reach it, and then only that write retries).
const CREATE_CAS: u32 = 0xFFFF_FFF1;

impl CreateCas {
    pub fn value(self) -> u32 {
        match self {
            CreateCas::Zero => 0,
            CreateCas::NonZero => CREATE_CAS,
        }
    }

    /// Probes the host's rule on one fixed key: two cas-0 writes both
    /// succeed only under Envoy. A fixed key, because shared data can never
    /// free a key.
    pub fn detect(probe_key: &str) -> CreateCas {
        for _ in 0..2 {
            if let Err(Status::CasMismatch) =
                hostcalls::set_shared_data(probe_key, Some(b"1"), None)
            {
                return CreateCas::Zero;
            }
        }
        CreateCas::NonZero
    }
}

/// A shared-data value with its cas, or `None` when the key is missing. An
/// empty value arrives from the SDK as no bytes but with a cas: the key
/// exists.
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
    match hostcalls::get_shared_data(key) {
        Ok((Some(v), cas)) => Ok(Some((v, cas.unwrap_or(0)))),
        Ok((None, Some(cas))) => Ok(Some((Vec::new(), cas))),
        Ok((None, None)) => Ok(None),
        Err(s) => Err(s),
    }
}

/// Writes a shared-data value under `cas` (0 is passed as is).
pub fn shared_set(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    hostcalls::set_shared_data(key, Some(value), (cas != 0).then_some(cas))
}

/// A property, or `None` when the host has none or refuses it.
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// A header's raw bytes (never the SDK's UTF-8 `String` form, which
/// panics on non-UTF-8 values).
pub fn header(map: MapType, name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(map, name).ok().flatten()
}

/// Wall-clock milliseconds from the host (nginx's resolution is 1 ms).
pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The route's name: Envoy's, Kong 3.9+'s, and Kong before 3.9 (ids only).
pub const ROUTE_NAME: [&[&str]; 3] = [
    &["xds", "route_name"],
    &["kong", "route_name"],
    &["kong", "route_id"],
];

/// The service's name, likewise.
pub const SERVICE_NAME: [&[&str]; 3] = [
    &["xds", "cluster_name"],
    &["kong", "service_name"],
    &["kong", "service_id"],
];

/// Asks each host's name for a fact in turn and remembers which answered,
/// so later requests on this worker make one host call.
#[derive(Debug, Default)]
pub struct FirstOf {
    hit: Cell<Option<usize>>,
}

impl FirstOf {
    /// The first property of `names` that answers, with its position.
    pub fn get(&self, names: &[&[&str]]) -> Option<(usize, Vec<u8>)> {
        if let Some(i) = self.hit.get() {
            if let Some(v) = names.get(i).and_then(|p| property(p)) {
                return Some((i, v));
            }
        }
        for (i, path) in names.iter().enumerate() {
            if let Some(v) = property(path) {
                self.hit.set(Some(i));
                return Some((i, v));
            }
        }
        None
    }

    /// Whether one of the names answered on this worker before: the host
    /// has this fact, so its absence now means something.
    pub fn known(&self) -> bool {
        self.hit.get().is_some()
    }
}
