//! Host calls: the shared adapter (`host-calls`) and what only this plugin
//! does with the host.

pub use host_calls::{now_ms, property, shared_get, shared_set, CreateCas};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MapType;

/// A request header's raw bytes.
pub fn request_header(name: &str) -> Option<Vec<u8>> {
    host_calls::header(MapType::HttpRequestHeaders, name)
}

pub fn add_response_header(name: &str, value: &str) {
    let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, name, value);
}

pub fn send_response(status: u32, headers: Vec<(&str, &str)>, body: &[u8]) {
    if let Err(s) = hostcalls::send_http_response(status, headers, Some(body)) {
        log::error!("rate-limit: could not send the {status} response: {s:?}");
    }
}
