//! The client key a limit counts against, derived as Kong's rate-limiting `get_identifier` does.
//!
//! | `limit_by`   | identifier                                                   |
//! |--------------|--------------------------------------------------------------|
//! | `consumer`   | `X-Consumer-ID` (or `consumer_header`), else `X-Credential-Identifier`, else the IP |
//! | `credential` | `X-Credential-Identifier`, else the IP                       |
//! | `service`    | the service (Envoy cluster / Kong service) name, else the IP |
//! | `header`     | the value of `header_name`, else the IP                      |
//! | `path`       | the request path if it equals the configured `path`, else the IP |
//! | `ip`         | the client IP ([`client_ip`])                                |
//!
//! Every fallback ends at the client IP, as in Kong, so a request without the expected identity
//! is still limited (per address) instead of escaping the limit. Unlike Kong, an empty header
//! value counts as absent (Kong would put every such client in one shared bucket), and each part
//! is tagged with what it is, so a header whose value is an IP cannot share a counter with that IP.
//!
//! Parts of a composite key are written as `<tag><length>:<bytes>`: a value cannot contain a
//! forged separator, because the length says where it ends.

use std::io::Write as _;
use std::net::IpAddr;

use super::hash::siphash13;
use super::identity::{client_ip, TrustedProxies};

/// Values longer than this are replaced by a 128-bit hash, so a 1 MB header cannot make a 1 MB key.
pub const MAX_KEY_PART_BYTES: usize = 256;

/// What the plugin knows about the request, read once from the host. Header names are asked
/// in lower case; the plugin can answer from the handful of values it already read
/// ([`RateLimitConfig::request_headers`](super::RateLimitConfig::request_headers) lists the
/// headers the config needs).
pub trait RequestFacts {
    /// A request header's value (repeated headers: the plugin may join them with `,`).
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// `source.address`: `IP:port` (Envoy) or `IP` (Kong).
    fn source_address(&self) -> Option<&[u8]>;
    /// The route name (`xds.route_name` in Envoy, `kong.route_name` in Kong).
    fn route_name(&self) -> Option<&[u8]>;
    /// The service name (`xds.cluster_name` in Envoy, `kong.service_name` in Kong).
    fn service_name(&self) -> Option<&[u8]>;
    /// The `:path` pseudo-header, query string included or not.
    fn path(&self) -> Option<&[u8]>;
    /// The `:authority` / `Host` header.
    fn host(&self) -> Option<&[u8]>;
}

/// Request facts held as owned values: what the plugin fills in `on_http_request_headers`
/// (and what tests build by hand).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectedFacts {
    /// `(lower-case name, value)` of the headers the config needs.
    pub headers: Vec<(String, Vec<u8>)>,
    /// See [`RequestFacts::source_address`].
    pub source_address: Option<Vec<u8>>,
    /// See [`RequestFacts::route_name`].
    pub route_name: Option<Vec<u8>>,
    /// See [`RequestFacts::service_name`].
    pub service_name: Option<Vec<u8>>,
    /// See [`RequestFacts::path`].
    pub path: Option<Vec<u8>>,
    /// See [`RequestFacts::host`].
    pub host: Option<Vec<u8>>,
}

impl RequestFacts for CollectedFacts {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    fn source_address(&self) -> Option<&[u8]> {
        self.source_address.as_deref()
    }
    fn route_name(&self) -> Option<&[u8]> {
        self.route_name.as_deref()
    }
    fn service_name(&self) -> Option<&[u8]> {
        self.service_name.as_deref()
    }
    fn path(&self) -> Option<&[u8]> {
        self.path.as_deref()
    }
    fn host(&self) -> Option<&[u8]> {
        self.host.as_deref()
    }
}

/// One part of a limit key (`limit_by` value), compiled with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// `consumer`: the consumer header (lower case; `x-consumer-id` by default).
    Consumer {
        /// The header naming the consumer.
        header: String,
    },
    /// `credential`: `X-Credential-Identifier`.
    Credential,
    /// `ip`: the client IP.
    Ip,
    /// `service`: the service name.
    Service,
    /// `header`: the value of a header (lower-case name).
    Header {
        /// `header_name`.
        name: String,
    },
    /// `path`: the configured path, when the request's path equals it.
    Path {
        /// `path`.
        path: String,
    },
}

/// The parts of a key, in configured order (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// `limit_by`, compiled.
    pub parts: Vec<KeyPart>,
}

const CREDENTIAL_HEADER: &str = "x-credential-identifier";

/// Writes the key of a request into `out` (cleared first; reuse it across requests).
pub fn build_key(
    spec: &KeySpec,
    facts: &impl RequestFacts,
    trusted: &TrustedProxies,
    out: &mut Vec<u8>,
) {
    out.clear();
    for part in &spec.parts {
        let found = match part {
            KeyPart::Consumer { header } => non_empty(facts.header(header))
                .map(|v| (b'c', v))
                .or_else(|| non_empty(facts.header(CREDENTIAL_HEADER)).map(|v| (b'k', v))),
            KeyPart::Credential => non_empty(facts.header(CREDENTIAL_HEADER)).map(|v| (b'k', v)),
            KeyPart::Service => non_empty(facts.service_name()).map(|v| (b's', v)),
            KeyPart::Header { name } => non_empty(facts.header(name)).map(|v| (b'h', v)),
            KeyPart::Path { path } => facts
                .path()
                .map(strip_query)
                .filter(|p| *p == path.as_bytes())
                .map(|p| (b'p', p)),
            KeyPart::Ip => None,
        };
        match found {
            Some((tag, value)) => push_part(out, tag, value),
            None => push_ip(out, facts, trusted),
        }
    }
}

fn non_empty(v: Option<&[u8]>) -> Option<&[u8]> {
    v.filter(|v| !v.is_empty())
}

/// The path without its query string (Kong's `kong.request.get_path()`).
pub(crate) fn strip_query(path: &[u8]) -> &[u8] {
    match path.iter().position(|b| *b == b'?') {
        Some(i) => &path[..i],
        None => path,
    }
}

/// The client IP part; if the host gave no parseable address, the raw source (tagged apart).
fn push_ip(out: &mut Vec<u8>, facts: &impl RequestFacts, trusted: &TrustedProxies) {
    match client_ip(facts, trusted) {
        Some(ip) => {
            let mut text = [0u8; 64];
            let len = format_ip(ip, &mut text);
            push_part(out, b'i', &text[..len]);
        }
        None => push_part(out, b'u', facts.source_address().unwrap_or(b"")),
    }
}

/// Writes the canonical text of `ip` into `buf`, returning its length (at most 45 bytes).
fn format_ip(ip: IpAddr, buf: &mut [u8; 64]) -> usize {
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // An IP address's text always fits 64 bytes, so the write cannot fail.
    let _ = write!(cursor, "{ip}");
    usize::try_from(cursor.position()).unwrap_or(0)
}

/// Appends `<tag><len>:<value>`, or `<TAG>32:<hex of a 128-bit hash>` for long values.
fn push_part(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    if value.len() <= MAX_KEY_PART_BYTES {
        out.push(tag);
        super::decimal::push_u64_bytes(out, value.len() as u64);
        out.push(b':');
        out.extend_from_slice(value);
        return;
    }
    // Fixed keys: this only shortens the value; the slot hash (keyed by the node's secret
    // seed) is applied to the whole key afterwards.
    let h1 = siphash13(0x6b65_7970_6172_7431, 0x6c6f_6e67_7661_6c31, value);
    let h2 = siphash13(0x6b65_7970_6172_7432, 0x6c6f_6e67_7661_6c32, value);
    out.push(tag.to_ascii_uppercase());
    out.extend_from_slice(b"32:");
    for h in [h1, h2] {
        for byte in h.to_be_bytes() {
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ratelimit::identity::Cidr;

    fn facts(headers: &[(&str, &[u8])]) -> CollectedFacts {
        CollectedFacts {
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.to_vec()))
                .collect(),
            source_address: Some(b"192.0.2.10:5555".to_vec()),
            ..CollectedFacts::default()
        }
    }

    fn key(parts: Vec<KeyPart>, f: &CollectedFacts) -> Vec<u8> {
        let mut out = Vec::new();
        build_key(&KeySpec { parts }, f, &TrustedProxies::default(), &mut out);
        out
    }

    fn consumer() -> KeyPart {
        KeyPart::Consumer {
            header: "x-consumer-id".to_owned(),
        }
    }

    both_targets_test! {
        fn ip_key_is_the_client_address_without_port() {
            assert_eq!(key(vec![KeyPart::Ip], &facts(&[])), b"i10:192.0.2.10");
        }
    }

    both_targets_test! {
        fn consumer_key_uses_the_consumer_id_header() {
            let f = facts(&[("x-consumer-id", b"alice"), ("x-credential-identifier", b"k1")]);
            assert_eq!(key(vec![consumer()], &f), b"c5:alice");
        }
    }

    both_targets_test! {
        fn consumer_key_falls_back_to_credential_then_ip() {
            let f = facts(&[("x-credential-identifier", b"k1")]);
            assert_eq!(key(vec![consumer()], &f), b"k2:k1");
            assert_eq!(key(vec![consumer()], &facts(&[])), b"i10:192.0.2.10");
        }
    }

    both_targets_test! {
        fn custom_consumer_header_is_read() {
            let f = facts(&[("x-user", b"bob")]);
            let part = KeyPart::Consumer { header: "x-user".to_owned() };
            assert_eq!(key(vec![part], &f), b"c3:bob");
        }
    }

    both_targets_test! {
        fn credential_key_falls_back_to_ip() {
            assert_eq!(key(vec![KeyPart::Credential], &facts(&[])), b"i10:192.0.2.10");
            let f = facts(&[("x-credential-identifier", b"k9")]);
            assert_eq!(key(vec![KeyPart::Credential], &f), b"k2:k9");
        }
    }

    both_targets_test! {
        fn service_key_uses_the_service_name_else_ip() {
            let mut f = facts(&[]);
            assert_eq!(key(vec![KeyPart::Service], &f), b"i10:192.0.2.10");
            f.service_name = Some(b"orders".to_vec());
            assert_eq!(key(vec![KeyPart::Service], &f), b"s6:orders");
        }
    }

    both_targets_test! {
        fn header_key_uses_the_header_value_else_ip() {
            let part = || KeyPart::Header { name: "x-api-key".to_owned() };
            assert_eq!(key(vec![part()], &facts(&[("x-api-key", b"abc")])), b"h3:abc");
            assert_eq!(key(vec![part()], &facts(&[])), b"i10:192.0.2.10");
            assert_eq!(key(vec![part()], &facts(&[("x-api-key", b"")])), b"i10:192.0.2.10");
        }
    }

    both_targets_test! {
        fn path_key_only_when_the_path_equals_the_configured_one() {
            let part = || KeyPart::Path { path: "/login".to_owned() };
            let mut f = facts(&[]);
            f.path = Some(b"/login?next=/".to_vec());
            assert_eq!(key(vec![part()], &f), b"p6:/login");
            f.path = Some(b"/login/x".to_vec());
            assert_eq!(key(vec![part()], &f), b"i10:192.0.2.10");
        }
    }

    both_targets_test! {
        fn composite_key_parts_cannot_be_forged_with_separators() {
            let parts = || vec![KeyPart::Header { name: "x-a".to_owned() }, KeyPart::Header { name: "x-b".to_owned() }];
            let one = key(parts(), &facts(&[("x-a", b"a"), ("x-b", b"h1:b")]));
            let two = key(parts(), &facts(&[("x-a", b"a2:h1"), ("x-b", b"b")]));
            assert_ne!(one, two);
            assert_eq!(one, b"h1:ah4:h1:b");
        }
    }

    both_targets_test! {
        fn header_valued_like_an_ip_does_not_share_the_ips_counter() {
            let part = KeyPart::Header { name: "x-api-key".to_owned() };
            let by_header = key(vec![part], &facts(&[("x-api-key", b"192.0.2.10")]));
            assert_ne!(by_header, key(vec![KeyPart::Ip], &facts(&[])));
        }
    }

    both_targets_test! {
        fn non_utf8_header_bytes_are_kept_as_bytes() {
            let part = KeyPart::Header { name: "x-api-key".to_owned() };
            assert_eq!(key(vec![part], &facts(&[("x-api-key", b"\xff\x00\xfe")])), b"h3:\xff\x00\xfe");
        }
    }

    both_targets_test! {
        fn megabyte_header_value_becomes_a_short_hash() {
            let big = vec![b'a'; 1 << 20];
            let mut other = big.clone();
            other[(1 << 20) - 1] = b'b';
            let part = || vec![KeyPart::Header { name: "x-api-key".to_owned() }];
            let k1 = key(part(), &facts(&[("x-api-key", &big)]));
            let k2 = key(part(), &facts(&[("x-api-key", &other)]));
            assert_eq!(k1.len(), 4 + 32);
            assert!(k1.starts_with(b"H32:"));
            assert_ne!(k1, k2);
        }
    }

    both_targets_test! {
        fn garbage_source_address_still_gives_a_key() {
            let mut f = facts(&[]);
            f.source_address = Some(b"\xffjunk".to_vec());
            assert_eq!(key(vec![KeyPart::Ip], &f), b"u5:\xffjunk");
            f.source_address = None;
            assert_eq!(key(vec![KeyPart::Ip], &f), b"u0:");
        }
    }

    both_targets_test! {
        fn ip_key_uses_forwarded_address_behind_a_trusted_proxy() {
            let mut f = facts(&[("x-forwarded-for", b"198.51.100.7")]);
            f.source_address = Some(b"10.0.0.2:80".to_vec());
            let trusted = TrustedProxies::new(vec![Cidr::parse("10.0.0.0/8").unwrap()]);
            let mut out = Vec::new();
            build_key(&KeySpec { parts: vec![KeyPart::Ip] }, &f, &trusted, &mut out);
            assert_eq!(out, b"i12:198.51.100.7");
        }
    }
}
