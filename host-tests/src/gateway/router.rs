//! Picks the route for a request as Kong's router does, and computes the
//! path the upstream gets.
//!
//! Priority among the routes that match (Kong's `traditional_compatible`
//! order): more match categories first (`hosts`, `methods`, `paths` set);
//! then a plain host over a wildcard; then a regex path over a prefix,
//! regexes by `regex_priority` (highest first); then the longest matching
//! prefix; then declaration order.

use super::config::{Declarative, PathDef, RouteDef, ServiceDef};
use crate::node::PluginId;
use std::cmp::Reverse;
use std::sync::Arc;

/// A route ready to serve: its definition, its service and its filter chain.
#[derive(Debug)]
pub struct RouteEntry {
    pub def: RouteDef,
    pub service: ServiceDef,
    /// The service's chain, then the route's (Kong's order).
    pub chain: Vec<PluginId>,
    /// `kong.route_id`: the configured id, or a stable one from the name.
    pub route_id: String,
    pub service_id: String,
}

/// The routes of a configuration.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Arc<RouteEntry>>,
}

/// A match: the route and how much of the path its `paths` entry matched.
#[derive(Debug, Clone)]
pub struct Matched {
    pub route: Arc<RouteEntry>,
    /// Length of the matched path prefix (what `strip_path` removes).
    pub matched_len: usize,
}

impl Router {
    /// Routes of `config`; `chains[i]` is route `i`'s filter chain.
    pub fn new(config: &Declarative, mut chains: Vec<Vec<PluginId>>) -> Router {
        let mut routes = Vec::new();
        for (i, def) in config.routes.iter().enumerate() {
            let service = config.services[def.service].clone();
            let chain = chains.get_mut(i).map(std::mem::take).unwrap_or_default();
            let route_id = def
                .id
                .clone()
                .unwrap_or_else(|| stable_uuid("route", def.name.as_deref(), i));
            let service_id = service
                .id
                .clone()
                .unwrap_or_else(|| stable_uuid("service", service.name.as_deref(), def.service));
            routes.push(Arc::new(RouteEntry {
                def: def.clone(),
                service,
                chain,
                route_id,
                service_id,
            }));
        }
        Router { routes }
    }

    pub fn routes(&self) -> &[Arc<RouteEntry>] {
        &self.routes
    }

    /// The route for a request, if any. `host` is the Host header (a port
    /// in it is ignored unless a route's host names one); `path` has no
    /// query string.
    pub fn find(&self, method: &str, host: &str, path: &str) -> Option<Matched> {
        let mut best: Option<(Priority, Matched)> = None;
        for (order, route) in self.routes.iter().enumerate() {
            let def = &route.def;
            if !def.methods.is_empty() && !def.methods.iter().any(|m| m == method) {
                continue;
            }
            let host_match = if def.hosts.is_empty() {
                HostMatch::Plain
            } else {
                match def.hosts.iter().filter_map(|h| host_matches(h, host)).min() {
                    Some(m) => m,
                    None => continue,
                }
            };
            let path_match = if def.paths.is_empty() {
                Some(PathMatch {
                    regex_priority: None,
                    len: 0,
                })
            } else {
                def.paths
                    .iter()
                    .filter_map(|p| path_matches(p, def, path))
                    .max()
            };
            let Some(path_match) = path_match else {
                continue;
            };
            let categories = u8::from(!def.hosts.is_empty())
                + u8::from(!def.methods.is_empty())
                + u8::from(!def.paths.is_empty());
            let priority = Priority {
                categories,
                plain_host: host_match == HostMatch::Plain,
                path: path_match.clone(),
                order: Reverse(order),
            };
            if best.as_ref().is_none_or(|(p, _)| priority > *p) {
                best = Some((
                    priority,
                    Matched {
                        route: route.clone(),
                        matched_len: path_match.len,
                    },
                ));
            }
        }
        best.map(|(_, m)| m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HostMatch {
    Plain,
    Wildcard,
}

/// How a path entry matched: regex (with its priority) ranks above prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PathMatch {
    /// `Some` for a regex path.
    regex_priority: Option<i64>,
    len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    categories: u8,
    plain_host: bool,
    path: PathMatch,
    order: Reverse<usize>,
}

fn host_matches(pattern: &str, host: &str) -> Option<HostMatch> {
    let host = if pattern.contains(':') {
        host
    } else {
        strip_port(host)
    };
    let host = host.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    if let Some(suffix) = pattern.strip_prefix('*') {
        return (host.ends_with(suffix) && host.len() > suffix.len())
            .then_some(HostMatch::Wildcard);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return (host.starts_with(prefix) && host.len() > prefix.len())
            .then_some(HostMatch::Wildcard);
    }
    (host == pattern).then_some(HostMatch::Plain)
}

/// `host:port` → `host` (`[v6]:port` → `[v6]`).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn path_matches(p: &PathDef, def: &RouteDef, path: &str) -> Option<PathMatch> {
    match p {
        PathDef::Prefix(prefix) => path.starts_with(prefix.as_str()).then_some(PathMatch {
            regex_priority: None,
            len: prefix.len(),
        }),
        PathDef::Regex { regex, .. } => regex.find(path).map(|m| PathMatch {
            regex_priority: Some(def.regex_priority),
            len: m.end(),
        }),
    }
}

/// The path (and query) the upstream gets: with `strip_path`, the matched
/// part of the request path is removed; the rest is appended to the
/// service's path with one `/` between them.
pub fn upstream_path(m: &Matched, request_path: &str) -> String {
    let (path, query) = match request_path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (request_path, None),
    };
    let rest = if m.route.def.strip_path {
        // Recompute on the path as the filters left it: it may differ.
        let len = m
            .route
            .def
            .paths
            .iter()
            .filter_map(|p| path_matches(p, &m.route.def, path))
            .map(|pm| pm.len)
            .max()
            .unwrap_or(0);
        path.get(len..).unwrap_or("")
    } else {
        path
    };
    let mut out = join(m.route.service.path.as_deref(), rest);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn join(base: Option<&str>, rest: &str) -> String {
    match base {
        None | Some("") => {
            if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            }
        }
        Some(base) if rest.is_empty() => base.to_string(),
        Some(base) => {
            let a = base.strip_suffix('/').unwrap_or(base);
            let b = rest.strip_prefix('/').unwrap_or(rest);
            format!("{a}/{b}")
        }
    }
}

/// A UUID-shaped id that stays the same across runs for the same entity
/// (Kong gives declarative entities without an `id` deterministic ones).
pub fn stable_uuid(kind: &str, name: Option<&str>, index: usize) -> String {
    let key = match name {
        Some(n) => format!("{kind}:{n}"),
        None => format!("{kind}#{index}"),
    };
    let a = fnv1a(0xcbf2_9ce4_8422_2325, key.as_bytes());
    let b = fnv1a(a ^ 0x9e37_79b9_7f4a_7c15, key.as_bytes());
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-5{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::gateway::config::parse;

    fn router(yaml: &str) -> Router {
        let d = parse("kong.yml", yaml).unwrap();
        let n = d.routes.len();
        Router::new(&d, vec![Vec::new(); n])
    }

    fn name(r: &Router, method: &str, host: &str, path: &str) -> Option<String> {
        r.find(method, host, path)
            .and_then(|m| m.route.def.name.clone())
    }

    const YAML: &str = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1/base
    routes:
      - {name: api, paths: ["/api"]}
      - {name: api-v2, paths: ["/api/v2"]}
      - {name: item, paths: ["~/api/items/\\d+$"]}
      - {name: post, paths: ["/api"], methods: [POST]}
      - {name: host, paths: ["/api"], hosts: ["a.test"]}
      - {name: wild, paths: ["/api"], hosts: ["*.b.test"]}
"#;

    #[test]
    fn kong_priorities() {
        let r = router(YAML);
        assert_eq!(name(&r, "GET", "x", "/api/users").as_deref(), Some("api"));
        assert_eq!(name(&r, "GET", "x", "/api/v2/x").as_deref(), Some("api-v2"));
        assert_eq!(
            name(&r, "GET", "x", "/api/items/7").as_deref(),
            Some("item")
        );
        assert_eq!(name(&r, "POST", "x", "/api/v2").as_deref(), Some("post"));
        assert_eq!(
            name(&r, "GET", "a.test:8000", "/api").as_deref(),
            Some("host")
        );
        assert_eq!(name(&r, "GET", "c.b.test", "/api").as_deref(), Some("wild"));
        assert_eq!(name(&r, "GET", "x", "/other"), None);
    }

    #[test]
    fn strip_path_joins_with_the_service_path() {
        let r = router(YAML);
        let m = r.find("GET", "x", "/api/users").unwrap();
        assert_eq!(upstream_path(&m, "/api/users?q=1"), "/base/users?q=1");
        assert_eq!(upstream_path(&m, "/api"), "/base");
        let m = r.find("GET", "x", "/api/items/7").unwrap();
        assert_eq!(upstream_path(&m, "/api/items/7"), "/base");
    }

    #[test]
    fn stable_ids_look_like_uuids() {
        let a = stable_uuid("route", Some("x"), 0);
        assert_eq!(a, stable_uuid("route", Some("x"), 3));
        assert_ne!(a, stable_uuid("route", Some("y"), 0));
        assert_eq!(a.len(), 36);
    }
}
