//! Route rules: which limits apply to a request. First matching rule wins; the top-level limits
//! are the default rule, used when none matches.

use super::key::{strip_query, KeySpec};
use super::limits::{Limit, LimitNames};
use super::window::WindowType;

/// What a rule matches; every condition given must hold (at least one is given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleMatch {
    /// Exact route name (`xds.route_name` / `kong.route_name`).
    pub route_name: Option<String>,
    /// Host, lower case, without port: exact, or `*.example.com` for any subdomain.
    pub host: Option<String>,
    /// Path prefix (byte prefix of the path without query, as Kong and Envoy route prefixes).
    pub path_prefix: Option<String>,
}

impl RuleMatch {
    /// Whether a request with these facts matches. An absent fact never matches a condition.
    pub fn matches(
        &self,
        route_name: Option<&[u8]>,
        host: Option<&[u8]>,
        path: Option<&[u8]>,
    ) -> bool {
        if let Some(want) = &self.route_name {
            if route_name != Some(want.as_bytes()) {
                return false;
            }
        }
        if let Some(want) = &self.host {
            match host.map(host_without_port) {
                Some(h) if host_matches(want, h) => {}
                _ => return false,
            }
        }
        if let Some(want) = &self.path_prefix {
            match path.map(strip_query) {
                Some(p) if p.starts_with(want.as_bytes()) => {}
                _ => return false,
            }
        }
        true
    }
}

fn host_matches(want: &str, host: &[u8]) -> bool {
    match want.strip_prefix('*') {
        // `*.example.com`: any non-empty label sequence before `.example.com`.
        Some(suffix) => {
            host.len() > suffix.len()
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
        }
        None => host.eq_ignore_ascii_case(want.as_bytes()),
    }
}

/// `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`, and a trailing dot dropped.
fn host_without_port(host: &[u8]) -> &[u8] {
    let host = if host.first() == Some(&b'[') {
        match host.iter().position(|b| *b == b']') {
            Some(i) => &host[..=i],
            None => host,
        }
    } else {
        match host.iter().rposition(|b| *b == b':') {
            Some(i) if host[i + 1..].iter().all(u8::is_ascii_digit) => &host[..i],
            _ => host,
        }
    };
    host.strip_suffix(b".").unwrap_or(host)
}

/// A compiled rule: its limits and how to key them, ready for the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(crate) index: u32,
    pub(crate) matcher: RuleMatch,
    pub(crate) limits: Vec<Limit>,
    pub(crate) names: Vec<LimitNames>,
    pub(crate) ietf_policy: String,
    pub(crate) key: KeySpec,
    pub(crate) window_type: WindowType,
}

impl Rule {
    pub(crate) fn new(
        index: u32,
        matcher: RuleMatch,
        limits: Vec<Limit>,
        key: KeySpec,
        window_type: WindowType,
    ) -> Rule {
        let names: Vec<LimitNames> = limits.iter().map(|l| LimitNames::of(l.window)).collect();
        let ietf_policy = limits
            .iter()
            .zip(&names)
            .map(|(l, n)| format!("{};q={};w={}", n.ietf_name, l.max, l.window.nominal_secs()))
            .collect::<Vec<_>>()
            .join(", ");
        Rule {
            index,
            matcher,
            limits,
            names,
            ietf_policy,
            key,
            window_type,
        }
    }

    /// The rule's index: its position in `rules`, or `rules.len()` for the top-level default.
    /// Slot keys (`rl:<index>:<slot>`) use it.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// What the rule matches (empty for the default rule).
    pub fn matcher(&self) -> &RuleMatch {
        &self.matcher
    }

    /// The limits, sorted by window length (shortest first).
    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// Header names of each limit, in the order of [`Rule::limits`].
    pub fn names(&self) -> &[LimitNames] {
        &self.names
    }

    /// The complete `RateLimit-Policy` value.
    pub fn ietf_policy(&self) -> &str {
        &self.ietf_policy
    }

    /// How the client key is derived.
    pub fn key(&self) -> &KeySpec {
        &self.key
    }

    /// Fixed or sliding windows.
    pub fn window_type(&self) -> WindowType {
        self.window_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(route: Option<&str>, host: Option<&str>, prefix: Option<&str>) -> RuleMatch {
        RuleMatch {
            route_name: route.map(str::to_owned),
            host: host.map(str::to_owned),
            path_prefix: prefix.map(str::to_owned),
        }
    }

    both_targets_test! {
        fn host_is_matched_case_insensitively_without_port() {
            let r = m(None, Some("api.example.com"), None);
            assert!(r.matches(None, Some(b"API.Example.com:8443"), None));
            assert!(r.matches(None, Some(b"api.example.com."), None));
            assert!(!r.matches(None, Some(b"api.example.org"), None));
            assert!(!r.matches(None, None, None));
        }
    }

    both_targets_test! {
        fn wildcard_host_matches_subdomains_only() {
            let r = m(None, Some("*.example.com"), None);
            assert!(r.matches(None, Some(b"a.b.example.com"), None));
            assert!(!r.matches(None, Some(b"example.com"), None));
            assert!(!r.matches(None, Some(b".example.com"), None));
        }
    }

    both_targets_test! {
        fn path_prefix_ignores_the_query_string() {
            let r = m(None, None, Some("/api/v1"));
            assert!(r.matches(None, None, Some(b"/api/v1/users?x=1")));
            assert!(!r.matches(None, None, Some(b"/api?p=/api/v1")));
            assert!(!r.matches(None, None, None));
        }
    }

    both_targets_test! {
        fn all_given_conditions_must_match() {
            let r = m(Some("orders"), Some("shop.test"), Some("/o"));
            assert!(r.matches(Some(b"orders"), Some(b"shop.test"), Some(b"/o/1")));
            assert!(!r.matches(Some(b"users"), Some(b"shop.test"), Some(b"/o/1")));
            assert!(!r.matches(Some(b"orders"), Some(b"shop.test"), Some(b"/x")));
        }
    }

    both_targets_test! {
        fn ipv6_host_keeps_its_brackets() {
            let r = m(None, Some("[::1]"), None);
            assert!(r.matches(None, Some(b"[::1]:8080"), None));
        }
    }
}
