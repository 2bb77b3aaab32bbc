//! Request facts read from the host once per request — only those the
//! configuration needs — and where Envoy and Kong name them differently.

use crate::host;
use host_calls::{FirstOf, ROUTE_NAME, SERVICE_NAME};
use shared::ratelimit::{CollectedFacts, RateLimitConfig};

/// Remembers which property names answered, so later requests on this
/// worker make one host call instead of trying every host's name.
#[derive(Default)]
pub struct PropertyNames {
    route: FirstOf,
    service: FirstOf,
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
    facts.route_name = names.route.get(&ROUTE_NAME).map(|(_, v)| v);
    if config.needs_service_name() {
        facts.service_name = names.service.get(&SERVICE_NAME).map(|(_, v)| v);
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
