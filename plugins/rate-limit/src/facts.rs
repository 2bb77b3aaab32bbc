//! Request facts read from the host once per request — only those the
//! configuration needs — and where Envoy and Kong name them differently.

use crate::host;
use shared::ratelimit::{CollectedFacts, RateLimitConfig};
use std::cell::Cell;

/// Route-name properties in the order tried: Envoy's, Kong 3.9+'s, and
/// Kong before 3.9 (which has only ids).
const ROUTE_PROPERTIES: [&[&str]; 3] = [
    &["xds", "route_name"],
    &["kong", "route_name"],
    &["kong", "route_id"],
];
const SERVICE_PROPERTIES: [&[&str]; 3] = [
    &["xds", "cluster_name"],
    &["kong", "service_name"],
    &["kong", "service_id"],
];

/// Remembers which property answered, so later requests on this worker
/// make one host call instead of trying every host's name.
#[derive(Default)]
pub struct PropertyNames {
    route: Cell<Option<usize>>,
    service: Cell<Option<usize>>,
}

fn first_answer(names: &[&[&str]], hit: &Cell<Option<usize>>) -> Option<Vec<u8>> {
    if let Some(i) = hit.get() {
        if let Some(v) = names.get(i).and_then(|p| host::property(p)) {
            return Some(v);
        }
    }
    for (i, path) in names.iter().enumerate() {
        if let Some(v) = host::property(path) {
            hit.set(Some(i));
            return Some(v);
        }
    }
    None
}

/// Reads what `config` needs: its headers, the client address, the route
/// (counters are kept per route, as Kong keeps them per route and service)
/// and the service name when a key uses it. The host is taken from
/// `:authority`: Kong's `request.host` is the machine's name.
pub fn collect(config: &RateLimitConfig, names: &PropertyNames) -> CollectedFacts {
    let mut facts = CollectedFacts::default();
    for name in config.request_headers() {
        if let Some(v) = host::request_header(name) {
            facts.headers.push((name.clone(), v));
        }
    }
    facts.source_address = host::property(&["source", "address"]);
    facts.route_name = first_answer(&ROUTE_PROPERTIES, &names.route);
    if config.needs_service_name() {
        facts.service_name = first_answer(&SERVICE_PROPERTIES, &names.service);
    }
    // Each host call costs on every request: read only what is used.
    if config.needs_path() {
        facts.path = host::request_header(":path");
    }
    if config.needs_host() {
        facts.host = host::request_header(":authority").or_else(|| host::request_header("host"));
    }
    facts
}
