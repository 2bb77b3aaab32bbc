//! Who the client is: its IP, from the connection or — only behind trusted proxies — from
//! `X-Forwarded-For` / `Forwarded`.
//!
//! Trusting forwarded headers from anyone would let every client pick its own rate-limit key,
//! so they are read only when `trusted_proxies` is configured AND the connection comes from one
//! of them. The list is walked from the right (the hop our proxy appended) past trusted
//! addresses; the first untrusted address is the client, as nginx's `real_ip_recursive` and
//! Envoy's `xff_num_trusted_hops` do.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::key::RequestFacts;

/// An IPv4 or IPv6 network, `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network bits, IPv4 in the low 32 bits.
    network: u128,
    prefix: u8,
    v4: bool,
}

impl Cidr {
    /// Parses `addr[/prefix]`; `None` if malformed or the prefix is too long for the family.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let (bits, width, v4) = ip_bits(ip.to_canonical());
        let prefix = match prefix {
            None => width,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= width)?
            }
            Some(_) => return None,
        };
        Some(Cidr {
            network: bits & mask(prefix, width),
            prefix,
            v4,
        })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (bits, width, v4) = ip_bits(ip.to_canonical());
        v4 == self.v4 && bits & mask(self.prefix, width) == self.network
    }
}

fn ip_bits(ip: IpAddr) -> (u128, u8, bool) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32, true),
        IpAddr::V6(a) => (u128::from(a), 128, false),
    }
}

/// The mask of the first `prefix` bits of a `width`-bit address, in the low `width` bits.
fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    // `prefix` is in 1..=width <= 128, so both shifts are below 128.
    (u128::MAX << (128 - u32::from(prefix))) >> (128 - u32::from(width))
}

/// The proxies whose forwarded headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    cidrs: Vec<Cidr>,
}

impl TrustedProxies {
    /// A list of trusted networks (empty: forwarded headers are never read).
    pub fn new(cidrs: Vec<Cidr>) -> Self {
        TrustedProxies { cidrs }
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.cidrs.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidrs.iter().any(|c| c.contains(ip))
    }
}

/// The client IP of a request, or `None` if the host gave no parseable source address.
///
/// `source.address` is `IP:port` or `[v6]:port` in Envoy and the bare IP in Kong; both are
/// accepted. When the source is a trusted proxy, `X-Forwarded-For` is used if present, else
/// RFC 7239 `Forwarded: for=`; an unparseable hop stops the walk at the last trusted address.
pub fn client_ip(facts: &impl RequestFacts, trusted: &TrustedProxies) -> Option<IpAddr> {
    let source = parse_addr(facts.source_address()?)?;
    if trusted.is_empty() || !trusted.contains(source) {
        return Some(source);
    }
    if let Some(xff) = facts.header("x-forwarded-for") {
        return Some(walk_from_right(xff.rsplit(|b| *b == b','), source, trusted));
    }
    if let Some(fwd) = facts.header("forwarded") {
        let hops = fwd.rsplit(|b| *b == b',').map(forwarded_for);
        return Some(walk_from_right(hops, source, trusted));
    }
    Some(source)
}

/// The first untrusted address from the right; the leftmost one if all are trusted.
fn walk_from_right<'a>(
    hops: impl Iterator<Item = &'a [u8]>,
    source: IpAddr,
    trusted: &TrustedProxies,
) -> IpAddr {
    let mut last_trusted = source;
    for hop in hops {
        match parse_addr(hop) {
            Some(ip) if trusted.contains(ip) => last_trusted = ip,
            Some(ip) => return ip,
            // Only a trusted hop could have written this entry, and it did not write an
            // address: believe nothing further left.
            None => return last_trusted,
        }
    }
    last_trusted
}

/// The `for=` value of one `Forwarded` element (`for=192.0.2.1;proto=http`), or `b""`.
fn forwarded_for(element: &[u8]) -> &[u8] {
    for pair in element.split(|b| *b == b';') {
        let pair = trim(pair);
        if pair.len() > 4 && pair[..4].eq_ignore_ascii_case(b"for=") {
            let v = &pair[4..];
            return match v {
                [b'"', inner @ .., b'"'] => inner,
                _ => v,
            };
        }
    }
    b""
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// An address in any of the forms hosts and proxies write: `1.2.3.4`, `1.2.3.4:80`, `::1`,
/// `[::1]`, `[::1]:80`. Anything else (non-UTF-8, `unknown`, `_hidden`) is `None`.
pub(crate) fn parse_addr(raw: &[u8]) -> Option<IpAddr> {
    let raw = trim(raw);
    // The longest textual address with a port is ~55 bytes; refuse junk before parsing it.
    if raw.is_empty() || raw.len() > 64 {
        return None;
    }
    let s = std::str::from_utf8(raw).ok()?;
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || is_port(after.strip_prefix(':')?)) {
            return None;
        }
        return inner
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| IpAddr::V6(a).to_canonical());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (host, port) = s.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ratelimit::key::CollectedFacts;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|c| Cidr::parse(c).unwrap()).collect())
    }

    fn facts(source: &str, headers: &[(&str, &[u8])]) -> CollectedFacts {
        let mut f = CollectedFacts {
            source_address: Some(source.as_bytes().to_vec()),
            ..CollectedFacts::default()
        };
        for (n, v) in headers {
            f.headers.push(((*n).to_owned(), v.to_vec()));
        }
        f
    }

    both_targets_test! {
        fn envoy_source_address_port_is_stripped() {
            let none = TrustedProxies::default();
            assert_eq!(client_ip(&facts("10.1.2.3:51234", &[]), &none), Some(ip("10.1.2.3")));
            assert_eq!(client_ip(&facts("[2001:db8::7]:443", &[]), &none), Some(ip("2001:db8::7")));
        }
    }

    both_targets_test! {
        fn kong_bare_source_address_is_used_as_is() {
            let none = TrustedProxies::default();
            assert_eq!(client_ip(&facts("127.0.0.1", &[]), &none), Some(ip("127.0.0.1")));
            assert_eq!(client_ip(&facts("::1", &[]), &none), Some(ip("::1")));
        }
    }

    both_targets_test! {
        fn x_forwarded_for_ignored_without_trusted_proxies() {
            let f = facts("10.0.0.5:1000", &[("x-forwarded-for", b"203.0.113.9")]);
            assert_eq!(client_ip(&f, &TrustedProxies::default()), Some(ip("10.0.0.5")));
        }
    }

    both_targets_test! {
        fn x_forwarded_for_ignored_when_the_source_is_not_trusted() {
            let f = facts("192.0.2.1:1000", &[("x-forwarded-for", b"203.0.113.9")]);
            assert_eq!(client_ip(&f, &trusted(&["10.0.0.0/8"])), Some(ip("192.0.2.1")));
        }
    }

    both_targets_test! {
        fn x_forwarded_for_walks_from_the_right_past_trusted_hops() {
            let f = facts(
                "10.0.0.5:1000",
                &[("x-forwarded-for", b"6.6.6.6, 203.0.113.9, 10.0.0.7")],
            );
            // 6.6.6.6 was written by the client itself: never believed.
            assert_eq!(client_ip(&f, &trusted(&["10.0.0.0/8"])), Some(ip("203.0.113.9")));
        }
    }

    both_targets_test! {
        fn x_forwarded_for_all_trusted_takes_the_leftmost() {
            let f = facts("10.0.0.5:1000", &[("x-forwarded-for", b"10.9.9.9,10.0.0.7")]);
            assert_eq!(client_ip(&f, &trusted(&["10.0.0.0/8"])), Some(ip("10.9.9.9")));
        }
    }

    both_targets_test! {
        fn x_forwarded_for_junk_stops_at_the_last_trusted_hop() {
            let f = facts("10.0.0.5:1000", &[("x-forwarded-for", b"1.1.1.1, \xff\xfe, 10.0.0.7")]);
            assert_eq!(client_ip(&f, &trusted(&["10.0.0.0/8"])), Some(ip("10.0.0.7")));
        }
    }

    both_targets_test! {
        fn forwarded_header_for_with_quoted_ipv6_and_port() {
            let f = facts(
                "[fd00::1]:80",
                &[("forwarded", b"for=192.0.2.43;proto=http, For=\"[2001:db8:cafe::17]:4711\";by=x")],
            );
            assert_eq!(client_ip(&f, &trusted(&["fd00::/8"])), Some(ip("2001:db8:cafe::17")));
        }
    }

    both_targets_test! {
        fn forwarded_header_obfuscated_identifier_is_not_believed() {
            let f = facts("10.0.0.1", &[("forwarded", b"for=_hidden")]);
            assert_eq!(client_ip(&f, &trusted(&["10.0.0.0/8"])), Some(ip("10.0.0.1")));
        }
    }

    both_targets_test! {
        fn ipv4_mapped_ipv6_source_matches_an_ipv4_cidr() {
            let f = facts("[::ffff:10.0.0.5]:80", &[("x-forwarded-for", b"198.51.100.2")]);
            assert_eq!(client_ip(&f, &trusted(&["10.0.0.0/8"])), Some(ip("198.51.100.2")));
        }
    }

    both_targets_test! {
        fn cidr_parsing_and_matching() {
            let c = Cidr::parse("192.168.0.0/16").unwrap();
            assert!(c.contains(ip("192.168.255.1")));
            assert!(!c.contains(ip("192.169.0.1")));
            assert!(!c.contains(ip("::1")));
            assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
            assert!(Cidr::parse("2001:db8::/32").unwrap().contains(ip("2001:db8:1::1")));
            assert!(!Cidr::parse("2001:db8::/32").unwrap().contains(ip("2001:db9::1")));
            assert!(Cidr::parse("10.0.0.1").unwrap().contains(ip("10.0.0.1")));
            assert!(!Cidr::parse("10.0.0.1").unwrap().contains(ip("10.0.0.2")));
            assert!(Cidr::parse("::/0").unwrap().contains(ip("2001::1")));
            for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/+8", "x"] {
                assert_eq!(Cidr::parse(bad), None, "{bad}");
            }
        }
    }

    both_targets_test! {
        fn unparseable_source_addresses_give_no_ip() {
            let none = TrustedProxies::default();
            for bad in [&b"\xff\xfe"[..], b"unix:/tmp/sock", b"", b"1.2.3.4:99999999"] {
                let f = CollectedFacts {
                    source_address: Some(bad.to_vec()),
                    ..CollectedFacts::default()
                };
                assert_eq!(client_ip(&f, &none), None);
            }
        }
    }
}
