//! Host calls that never unwrap a status, and where Envoy and Kong name
//! things differently.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};
use std::cell::Cell;
use std::time::UNIX_EPOCH;

/// How this host creates a shared-data key atomically (see the rate-limit
/// plugin's `host.rs`: Envoy writes a missing key under any cas and treats
/// cas 0 as unconditional; ngx_wasm_module treats cas 0 as create-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateCas {
    Zero,
    NonZero,
}

impl CreateCas {
    pub fn value(self) -> u32 {
        match self {
            CreateCas::Zero => 0,
            CreateCas::NonZero => 0xFFFF_FFF1,
        }
    }

    /// Two cas-0 writes of one key: both succeed only under Envoy.
    pub fn detect() -> CreateCas {
        for _ in 0..2 {
            if let Err(Status::CasMismatch) =
                hostcalls::set_shared_data("lm:cas-probe", Some(b"1"), None)
            {
                return CreateCas::Zero;
            }
        }
        CreateCas::NonZero
    }
}

/// A shared value and its cas; an empty value is a present key.
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
    match hostcalls::get_shared_data(key) {
        Ok((Some(v), cas)) => Ok(Some((v, cas.unwrap_or(0)))),
        Ok((None, Some(cas))) => Ok(Some((Vec::new(), cas))),
        Ok((None, None)) => Ok(None),
        Err(s) => Err(s),
    }
}

pub fn shared_set(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    hostcalls::set_shared_data(key, Some(value), (cas != 0).then_some(cas))
}

pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

pub fn header(map: MapType, name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(map, name).ok().flatten()
}

pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Asks each host's name for a fact in turn and remembers which answered,
/// so later requests on this worker make one call.
#[derive(Default)]
pub struct FirstOf {
    hit: Cell<Option<usize>>,
}

impl FirstOf {
    /// Whether one of the names has answered on this worker before: the
    /// host has this fact (so its absence now means something).
    pub fn known(&self) -> bool {
        self.hit.get().is_some()
    }

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
}
