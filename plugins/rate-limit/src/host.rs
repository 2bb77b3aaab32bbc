//! The one adapter over host calls: every status becomes a value, never a
//! panic (the SDK's `Context` helpers unwrap, and real hosts do fail —
//! ngx_wasm_module refuses some properties with an error status).

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};
use std::time::UNIX_EPOCH;

/// How this host creates a shared-data key atomically. Envoy treats cas 0
/// as "write unconditionally" but writes a missing key under any cas;
/// ngx_wasm_module treats cas 0 as "only if missing". Found out once per
/// worker by [`detect_create_cas`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateCas {
    /// ngx_wasm_module: create with cas 0.
    Zero,
    /// Envoy (proxy-wasm-cpp-host): create with a cas no live key holds.
    NonZero,
}

/// A cas value for creating keys under [`CreateCas::NonZero`]: an existing
/// key answers a mismatch unless its cas is exactly this (the host's cas
/// counter would have to reach it, and then only that one write retries).
const CREATE_CAS: u32 = 0xFFFF_FFF1;

impl CreateCas {
    pub fn value(self) -> u32 {
        match self {
            CreateCas::Zero => 0,
            CreateCas::NonZero => CREATE_CAS,
        }
    }
}

/// Probes the host's CAS rule on one fixed key: writing it twice with
/// cas 0 succeeds twice under Envoy (unconditional) and at most once under
/// ngx_wasm_module (create-only). A fixed key, because shared data can
/// never free a key.
pub fn detect_create_cas() -> CreateCas {
    const PROBE: &str = "rl:cas-probe";
    for _ in 0..2 {
        if let Err(Status::CasMismatch) = hostcalls::set_shared_data(PROBE, Some(b"1"), None) {
            return CreateCas::Zero;
        }
    }
    CreateCas::NonZero
}

/// A shared-data value with its cas, or `None` when the key is missing.
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
    match hostcalls::get_shared_data(key) {
        Ok((Some(v), cas)) => Ok(Some((v, cas.unwrap_or(0)))),
        // An empty value comes back as no bytes but with a cas: the key
        // exists (a missing key has no cas).
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

/// A request header's raw bytes (never the SDK's UTF-8 `String` form,
/// which panics on non-UTF-8 values).
pub fn request_header(name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
}

/// Wall-clock milliseconds from the host.
pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn add_response_header(name: &str, value: &str) {
    let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, name, value);
}

pub fn send_response(status: u32, headers: Vec<(&str, &str)>, body: &[u8]) {
    if let Err(s) = hostcalls::send_http_response(status, headers, Some(body)) {
        log::error!("rate-limit: could not send the {status} response: {s:?}");
    }
}
