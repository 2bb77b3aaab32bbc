//! Kong's DB-less declarative configuration (`kong.yml`), the subset the
//! gateway runs: services, routes and Wasm filter chains.
//!
//! The file is read as plain data, then every entity is checked field by
//! field, so an error names the file, the entity and the field:
//! `kong.yml: routes[2] ("orders"): service "nope" is not defined`. What
//! comes out ([`Declarative`]) is resolved and ready to route with.

use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// A configuration error: the file, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// The entity (`routes[2] ("orders")`), empty for the whole file.
    pub at: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.at, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The configuration, resolved: routes point at their service by index,
/// chains at their route or service.
#[derive(Debug, Clone)]
pub struct Declarative {
    pub file: String,
    pub services: Vec<ServiceDef>,
    pub routes: Vec<RouteDef>,
    pub chains: Vec<ChainDef>,
}

/// A Kong service: where requests go.
#[derive(Debug, Clone)]
pub struct ServiceDef {
    pub name: Option<String>,
    pub id: Option<String>,
    /// Where it was declared, for messages (`services[0] ("echo")`).
    pub at: String,
    pub host: String,
    pub port: u16,
    /// The path prefix requests get upstream (`None`: none).
    pub path: Option<String>,
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
}

/// A Kong route: what requests it takes, and for which service.
#[derive(Debug, Clone)]
pub struct RouteDef {
    pub name: Option<String>,
    pub id: Option<String>,
    pub at: String,
    /// Index into [`Declarative::services`].
    pub service: usize,
    pub paths: Vec<PathDef>,
    pub hosts: Vec<String>,
    /// Upper case.
    pub methods: Vec<String>,
    pub strip_path: bool,
    pub preserve_host: bool,
    pub regex_priority: i64,
}

/// One entry of a route's `paths`.
#[derive(Debug, Clone)]
pub enum PathDef {
    /// A plain path, matched as a prefix.
    Prefix(String),
    /// `~` followed by a regex, anchored at the start of the path.
    Regex { source: String, regex: Regex },
}

/// What a filter chain is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainTarget {
    Route(usize),
    Service(usize),
}

/// A filter chain (`filter_chains`).
#[derive(Debug, Clone)]
pub struct ChainDef {
    pub name: Option<String>,
    pub at: String,
    pub enabled: bool,
    pub target: ChainTarget,
    pub filters: Vec<FilterDef>,
    /// A filter attached as a plugin (Kong 3.9+), not a `filter_chains`
    /// entry: several may attach to one entity, after its chain.
    pub from_plugin: bool,
}

/// One filter of a chain.
#[derive(Debug, Clone)]
pub struct FilterDef {
    pub name: String,
    /// Where it was declared (`filter_chains[0] ("c").filters[1]`).
    pub at: String,
    /// The configuration as the filter receives it: a string as given, any
    /// other value as JSON text, nothing when absent.
    pub config: Vec<u8>,
    pub enabled: bool,
}

/// Kong's default service timeouts (milliseconds).
const KONG_DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// Fields of a plugin entry: Kong 3.9+ attaches a Wasm filter as a plugin
/// named after the filter (`kong/runloop/wasm/plugins.lua`), on a route or a
/// service, never a consumer.
const PLUGIN_FIELDS: [&str; 10] = [
    "name",
    "id",
    "instance_name",
    "config",
    "enabled",
    "route",
    "service",
    "protocols",
    "tags",
    "consumer",
];

/// Top-level keys Kong knows that this gateway does not run.
const UNSUPPORTED_ENTITIES: [&str; 17] = [
    "upstreams",
    "targets",
    "consumers",
    "consumer_groups",
    "certificates",
    "ca_certificates",
    "snis",
    "vaults",
    "keys",
    "key_sets",
    "acls",
    "basicauth_credentials",
    "keyauth_credentials",
    "jwt_secrets",
    "hmacauth_credentials",
    "oauth2_credentials",
    "workspaces",
];

/// Reads and checks a declarative configuration file.
pub fn load(path: &Path) -> Result<Declarative, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        at: String::new(),
        message: format!("cannot read the file: {e}"),
    })?;
    parse(&file, &text)
}

/// Checks a declarative configuration given as text (YAML or JSON);
/// `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<Declarative, ConfigError> {
    let top_err = |message: String| ConfigError {
        file: file.to_string(),
        at: String::new(),
        message,
    };
    let doc: Value =
        serde_norway::from_str(text).map_err(|e| top_err(format!("not valid YAML: {e}")))?;
    let Value::Object(top) = doc else {
        return Err(top_err(
            "expected a mapping with `_format_version`, `services`, `routes`, `filter_chains`"
                .into(),
        ));
    };
    let mut b = Builder {
        file: file.to_string(),
        services: Vec::new(),
        routes: Vec::new(),
        raw_chains: Vec::new(),
    };
    let root = Entity {
        file: file.to_string(),
        at: String::new(),
        map: &top,
    };
    for key in top.keys() {
        match key.as_str() {
            "_format_version" | "_transform" | "services" | "routes" | "filter_chains"
            | "plugins" => {}
            k if UNSUPPORTED_ENTITIES.contains(&k) => {
                return Err(root.err(format!(
                    "`{k}`: this Kong entity is not supported by wasm-gateway"
                )))
            }
            k => return Err(root.err(format!("unknown entity `{k}`"))),
        }
    }
    match root.get::<Value>("_format_version")? {
        Some(Value::String(v)) if v == "3.0" => {}
        Some(other) => {
            return Err(root.err(format!("_format_version: expected \"3.0\", got {other}")))
        }
        None => return Err(root.err("_format_version: missing (expected \"3.0\")".into())),
    }
    root.get::<bool>("_transform")?;

    for (i, v) in root.list("services")?.iter().enumerate() {
        b.service(v, format!("services[{i}]"))?;
    }
    for (i, v) in root.list("routes")?.iter().enumerate() {
        b.route(v, format!("routes[{i}]"), None)?;
    }
    for (i, v) in root.list("filter_chains")?.iter().enumerate() {
        b.chain(v, format!("filter_chains[{i}]"), None)?;
    }
    for (i, v) in root.list("plugins")?.iter().enumerate() {
        b.plugin(v, format!("plugins[{i}]"), None)?;
    }
    b.finish()
}

/// One mapping in the file, with where it is.
struct Entity<'a> {
    file: String,
    at: String,
    map: &'a Map<String, Value>,
}

impl<'a> Entity<'a> {
    fn new(file: &str, at: String, value: &'a Value) -> Result<Entity<'a>, ConfigError> {
        match value {
            Value::Object(map) => Ok(Entity {
                file: file.to_string(),
                at,
                map,
            }),
            other => Err(ConfigError {
                file: file.to_string(),
                at,
                message: format!("expected a mapping, got {}", kind(other)),
            }),
        }
    }

    fn err(&self, message: String) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            at: self.at.clone(),
            message,
        }
    }

    /// Refuses any key not in `allowed`.
    fn only(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        for k in self.map.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(self.err(format!(
                    "unknown field `{k}` (this entity takes {})",
                    allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
    }

    /// A field of type `T`; `None` when absent or null.
    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| self.err(format!("{key}: {e}"))),
        }
    }

    fn list(&self, key: &str) -> Result<Vec<Value>, ConfigError> {
        Ok(self.get::<Vec<Value>>(key)?.unwrap_or_default())
    }

    /// The label of an entity: `routes[2] ("orders")`.
    fn labelled(mut self) -> Self {
        if let Some(Value::String(name)) = self.map.get("name") {
            self.at = format!("{} (\"{name}\")", self.at);
        }
        self
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A reference to another entity: `name-or-id`, `{name: ..}` or `{id: ..}`.
fn reference(e: &Entity<'_>, key: &str) -> Result<Option<String>, ConfigError> {
    match e.map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(m)) => match (m.get("name"), m.get("id")) {
            (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => Ok(Some(s.clone())),
            _ => Err(e.err(format!(
                "{key}: expected a name, or a mapping with `name` or `id`"
            ))),
        },
        Some(other) => Err(e.err(format!(
            "{key}: expected a name, or a mapping with `name` or `id`, got {}",
            kind(other)
        ))),
    }
}

struct RawChain {
    at: String,
    name: Option<String>,
    enabled: bool,
    /// Already resolved (nested), or a reference to resolve.
    target: Result<ChainTarget, (&'static str, String)>,
    filters: Vec<FilterDef>,
    from_plugin: bool,
}

struct Builder {
    file: String,
    services: Vec<ServiceDef>,
    routes: Vec<(RouteDef, Result<usize, String>)>,
    raw_chains: Vec<RawChain>,
}

const SERVICE_FIELDS: [&str; 16] = [
    "name",
    "id",
    "url",
    "protocol",
    "host",
    "port",
    "path",
    "retries",
    "connect_timeout",
    "write_timeout",
    "read_timeout",
    "tags",
    "enabled",
    "routes",
    "filter_chains",
    "plugins",
];

const ROUTE_FIELDS: [&str; 16] = [
    "name",
    "id",
    "paths",
    "hosts",
    "methods",
    "strip_path",
    "preserve_host",
    "protocols",
    "regex_priority",
    "path_handling",
    "service",
    "tags",
    "request_buffering",
    "response_buffering",
    "filter_chains",
    "plugins",
];

impl Builder {
    fn service(&mut self, v: &Value, at: String) -> Result<(), ConfigError> {
        let e = Entity::new(&self.file, at, v)?.labelled();
        e.only(&SERVICE_FIELDS)?;
        let name: Option<String> = e.get("name")?;
        let id: Option<String> = e.get("id")?;
        let url: Option<String> = e.get("url")?;
        let mut protocol: Option<String> = e.get("protocol")?;
        let mut host: Option<String> = e.get("host")?;
        let mut port: Option<u16> = e.get("port")?;
        let mut path: Option<String> = e.get("path")?;
        e.get::<u64>("retries")?;
        e.get::<u64>("write_timeout")?;
        e.get::<Vec<String>>("tags")?;
        if e.get::<bool>("enabled")? == Some(false) {
            return Err(e.err("enabled: disabled services are not supported".into()));
        }
        if let Some(url) = url {
            for f in ["protocol", "host", "port", "path"] {
                if e.map.contains_key(f) {
                    return Err(e.err(format!("url: give either `url` or `{f}`, not both")));
                }
            }
            let uri: hyper::Uri = url
                .parse()
                .map_err(|err| e.err(format!("url: \"{url}\" is not a URL: {err}")))?;
            protocol = uri.scheme_str().map(str::to_string);
            host = uri.host().map(str::to_string);
            port = uri.port_u16();
            path = uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .filter(|p| !p.is_empty() && p != "/" || url.ends_with('/'));
            if host.is_none() {
                return Err(e.err(format!("url: \"{url}\" has no host")));
            }
        }
        match protocol.as_deref() {
            None | Some("http") => {}
            Some(p) => {
                return Err(e.err(format!(
                    "protocol: \"{p}\" is not supported by wasm-gateway (http only)"
                )))
            }
        }
        let Some(host) = host else {
            return Err(e.err("host: missing (give `url` or `host`)".into()));
        };
        if let Some(p) = &path {
            if !p.starts_with('/') {
                return Err(e.err(format!("path: \"{p}\" must start with `/`")));
            }
        }
        let index = self.services.len();
        if let Some(n) = &name {
            if let Some(other) = self.services.iter().find(|s| s.name.as_ref() == Some(n)) {
                return Err(e.err(format!("name: \"{n}\" is already the name of {}", other.at)));
            }
        }
        self.services.push(ServiceDef {
            name,
            id,
            at: e.at.clone(),
            host,
            port: port.unwrap_or(80),
            path,
            connect_timeout_ms: e.get("connect_timeout")?.unwrap_or(KONG_DEFAULT_TIMEOUT_MS),
            read_timeout_ms: e.get("read_timeout")?.unwrap_or(KONG_DEFAULT_TIMEOUT_MS),
        });
        for (i, r) in e.list("routes")?.iter().enumerate() {
            self.route(r, format!("{}.routes[{i}]", e.at), Some(index))?;
        }
        self.nested_filters(&e, ChainTarget::Service(index))
    }

    fn route(&mut self, v: &Value, at: String, parent: Option<usize>) -> Result<(), ConfigError> {
        let e = Entity::new(&self.file, at, v)?.labelled();
        e.only(&ROUTE_FIELDS)?;
        let name: Option<String> = e.get("name")?;
        let id: Option<String> = e.get("id")?;
        let service_ref = reference(&e, "service")?;
        let service = match (parent, service_ref) {
            (Some(_), Some(_)) => {
                return Err(
                    e.err("service: a route nested under a service belongs to that service".into())
                )
            }
            (Some(p), None) => Ok(p),
            (None, Some(r)) => Err(r),
            (None, None) => {
                return Err(e.err(
                    "service: missing (a route needs a service: give `service: <name>` or \
                     nest the route under its service)"
                        .into(),
                ))
            }
        };
        let raw_paths: Vec<String> = e.get("paths")?.unwrap_or_default();
        let mut paths = Vec::new();
        for (i, p) in raw_paths.iter().enumerate() {
            if let Some(src) = p.strip_prefix('~') {
                let regex = Regex::new(&format!("^(?:{src})"))
                    .map_err(|err| e.err(format!("paths[{i}]: invalid regex \"{src}\": {err}")))?;
                paths.push(PathDef::Regex {
                    source: src.to_string(),
                    regex,
                });
            } else if p.starts_with('/') {
                paths.push(PathDef::Prefix(p.clone()));
            } else {
                return Err(e.err(format!(
                    "paths[{i}]: \"{p}\" must start with `/` (a prefix) or `~` (a regex)"
                )));
            }
        }
        let hosts: Vec<String> = e.get("hosts")?.unwrap_or_default();
        for (i, h) in hosts.iter().enumerate() {
            let stars = h.matches('*').count();
            let ok = h.is_empty()
                || stars == 0
                || (stars == 1 && (h.starts_with("*.") || h.ends_with(".*")));
            if !ok || h.is_empty() {
                return Err(e.err(format!(
                    "hosts[{i}]: \"{h}\" is not a host name (a wildcard goes first or last: \
                     `*.example.com`, `example.*`)"
                )));
            }
        }
        let methods: Vec<String> = e
            .get::<Vec<String>>("methods")?
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        if paths.is_empty() && hosts.is_empty() && methods.is_empty() {
            return Err(e.err("a route needs at least one of `paths`, `hosts`, `methods`".into()));
        }
        let protocols: Option<Vec<String>> = e.get("protocols")?;
        if let Some(ps) = protocols {
            if !ps.iter().any(|p| p == "http") {
                return Err(e.err(format!(
                    "protocols: {ps:?} has no \"http\" (wasm-gateway listens for plain HTTP)"
                )));
            }
        }
        match e.get::<String>("path_handling")?.as_deref() {
            None | Some("v0") | Some("v1") => {}
            Some(other) => {
                return Err(e.err(format!(
                    "path_handling: expected \"v0\" or \"v1\", got \"{other}\""
                )))
            }
        }
        e.get::<Vec<String>>("tags")?;
        e.get::<bool>("request_buffering")?;
        e.get::<bool>("response_buffering")?;
        if let Some(n) = &name {
            if let Some((other, _)) = self.routes.iter().find(|(r, _)| r.name.as_ref() == Some(n)) {
                return Err(e.err(format!("name: \"{n}\" is already the name of {}", other.at)));
            }
        }
        let index = self.routes.len();
        let def = RouteDef {
            name,
            id,
            at: e.at.clone(),
            service: 0,
            paths,
            hosts,
            methods,
            strip_path: e.get("strip_path")?.unwrap_or(true),
            preserve_host: e.get("preserve_host")?.unwrap_or(false),
            regex_priority: e.get("regex_priority")?.unwrap_or(0),
        };
        self.routes.push((def, service));
        self.nested_filters(&e, ChainTarget::Route(index))
    }

    /// The filter chains and filter plugins nested under a service or route.
    fn nested_filters(&mut self, e: &Entity<'_>, target: ChainTarget) -> Result<(), ConfigError> {
        for (i, c) in e.list("filter_chains")?.iter().enumerate() {
            self.chain(c, format!("{}.filter_chains[{i}]", e.at), Some(target))?;
        }
        for (i, p) in e.list("plugins")?.iter().enumerate() {
            self.plugin(p, format!("{}.plugins[{i}]", e.at), Some(target))?;
        }
        Ok(())
    }

    fn chain(
        &mut self,
        v: &Value,
        at: String,
        parent: Option<ChainTarget>,
    ) -> Result<(), ConfigError> {
        let e = Entity::new(&self.file, at, v)?.labelled();
        e.only(&[
            "name", "id", "enabled", "filters", "route", "service", "tags",
        ])?;
        let name: Option<String> = e.get("name")?;
        e.get::<String>("id")?;
        e.get::<Vec<String>>("tags")?;
        let route = reference(&e, "route")?;
        let service = reference(&e, "service")?;
        let target = match (parent, route, service) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(e.err(
                    "a filter chain nested under a route or service is attached to it: \
                     remove `route`/`service`"
                        .into(),
                ))
            }
            (Some(t), None, None) => Ok(t),
            (None, Some(_), Some(_)) => {
                return Err(e.err(
                    "give either `route` or `service`, not both (one chain per entity)".into(),
                ))
            }
            (None, Some(r), None) => Err(("route", r)),
            (None, None, Some(s)) => Err(("service", s)),
            (None, None, None) => {
                return Err(
                    e.err("route: missing (a filter chain needs a `route` or a `service`)".into())
                )
            }
        };
        let mut filters = Vec::new();
        let list = e.list("filters")?;
        if list.is_empty() {
            return Err(e.err("filters: a filter chain needs at least one filter".into()));
        }
        for (i, f) in list.iter().enumerate() {
            let fe = Entity::new(&self.file, format!("{}.filters[{i}]", e.at), f)?;
            fe.only(&["name", "config", "enabled"])?;
            let Some(fname) = fe.get::<String>("name")? else {
                return Err(fe.err("name: missing (the filter's file name without `.wasm`)".into()));
            };
            let fe = fe.labelled();
            let config = match fe.map.get("config") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => s.clone().into_bytes(),
                Some(other) => serde_json::to_vec(other)
                    .map_err(|err| fe.err(format!("config: cannot encode as JSON: {err}")))?,
            };
            filters.push(FilterDef {
                name: fname,
                at: fe.at.clone(),
                config,
                enabled: fe.get("enabled")?.unwrap_or(true),
            });
        }
        self.raw_chains.push(RawChain {
            at: e.at.clone(),
            name,
            enabled: e.get("enabled")?.unwrap_or(true),
            target,
            filters,
            from_plugin: false,
        });
        Ok(())
    }

    /// A Wasm filter attached as a plugin (Kong 3.9+): `name` is the
    /// filter, on a `route` or a `service` (nested, or by reference).
    fn plugin(
        &mut self,
        v: &Value,
        at: String,
        parent: Option<ChainTarget>,
    ) -> Result<(), ConfigError> {
        let e = Entity::new(&self.file, at, v)?.labelled();
        e.only(&PLUGIN_FIELDS)?;
        let Some(name) = e.get::<String>("name")? else {
            return Err(e.err("name: missing (a Wasm filter's file name without `.wasm`)".into()));
        };
        e.get::<String>("id")?;
        e.get::<String>("instance_name")?;
        e.get::<Vec<String>>("protocols")?;
        e.get::<Vec<String>>("tags")?;
        if !matches!(e.map.get("consumer"), None | Some(Value::Null)) {
            return Err(
                e.err("consumer: a Wasm filter plugin cannot be scoped to a consumer".into())
            );
        }
        let route = reference(&e, "route")?;
        let service = reference(&e, "service")?;
        let target = match (parent, route, service) {
            (Some(t), None, None) => Ok(t),
            (Some(_), _, _) => {
                return Err(e.err("a plugin nested under a route or service is attached to it: remove `route`/`service`".into()))
            }
            (None, Some(_), Some(_)) => {
                return Err(e.err("give either `route` or `service`, not both (Kong: mutually exclusive)".into()))
            }
            (None, Some(r), None) => Err(("route", r)),
            (None, None, Some(s)) => Err(("service", s)),
            (None, None, None) => {
                return Err(e.err("route: missing (a Wasm filter plugin needs a `route` or a `service`)".into()))
            }
        };
        let config = match e.map.get("config") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.clone().into_bytes(),
            Some(other) => serde_json::to_vec(other)
                .map_err(|err| e.err(format!("config: cannot encode as JSON: {err}")))?,
        };
        let enabled = e.get("enabled")?.unwrap_or(true);
        self.raw_chains.push(RawChain {
            at: e.at.clone(),
            name: None,
            enabled,
            target,
            filters: vec![FilterDef {
                name,
                at: e.at.clone(),
                config,
                enabled: true,
            }],
            from_plugin: true,
        });
        Ok(())
    }

    fn err(&self, at: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            at: at.to_string(),
            message,
        }
    }

    fn find_service(&self, r: &str) -> Option<usize> {
        self.services
            .iter()
            .position(|s| s.name.as_deref() == Some(r) || s.id.as_deref() == Some(r))
    }

    fn finish(self) -> Result<Declarative, ConfigError> {
        let mut routes = Vec::new();
        for (mut def, service) in self.routes.iter().cloned() {
            def.service = match service {
                Ok(i) => i,
                Err(r) => self
                    .find_service(&r)
                    .ok_or_else(|| self.err(&def.at, format!("service \"{r}\" is not defined")))?,
            };
            routes.push(def);
        }
        let mut chains: Vec<ChainDef> = Vec::new();
        for raw in &self.raw_chains {
            let target = match &raw.target {
                Ok(t) => *t,
                Err(("route", r)) => routes
                    .iter()
                    .position(|x| x.name.as_deref() == Some(r) || x.id.as_deref() == Some(r))
                    .map(ChainTarget::Route)
                    .ok_or_else(|| self.err(&raw.at, format!("route \"{r}\" is not defined")))?,
                Err((_, s)) => self
                    .find_service(s)
                    .map(ChainTarget::Service)
                    .ok_or_else(|| self.err(&raw.at, format!("service \"{s}\" is not defined")))?,
            };
            // Kong keeps one filter chain per route and per service (filter
            // plugins are not chains: several may attach).
            if let Some(other) = chains
                .iter()
                .find(|c| c.target == target && !c.from_plugin && !raw.from_plugin)
            {
                let what = match target {
                    ChainTarget::Route(i) => format!("route {}", label(&routes[i].at)),
                    ChainTarget::Service(i) => format!("service {}", label(&self.services[i].at)),
                };
                return Err(self.err(
                    &raw.at,
                    format!("{what} already has a filter chain ({})", other.at),
                ));
            }
            chains.push(ChainDef {
                name: raw.name.clone(),
                at: raw.at.clone(),
                enabled: raw.enabled,
                target,
                filters: raw.filters.clone(),
                from_plugin: raw.from_plugin,
            });
        }
        // An entity's filter chain runs before the filters attached to it
        // as plugins.
        chains.sort_by_key(|c| c.from_plugin);
        Ok(Declarative {
            file: self.file,
            services: self.services,
            routes,
            chains,
        })
    }
}

/// `services[0] ("echo")` → `"echo"`; an unnamed entity keeps its position.
fn label(at: &str) -> String {
    match at.rsplit_once(" (") {
        Some((_, name)) => name.trim_end_matches(')').to_string(),
        None => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn err(text: &str) -> String {
        parse("kong.yml", text).unwrap_err().to_string()
    }

    #[test]
    fn nested_and_top_level_forms_resolve() {
        let d = parse(
            "kong.yml",
            r#"
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:9000/base
    routes:
      - name: nested
        paths: ["/n"]
        filter_chains:
          - filters: [{name: f, config: {a: 1}}]
routes:
  - name: top
    paths: ["~/items/\\d+$"]
    service: echo
filter_chains:
  - name: svc
    service: {name: echo}
    filters: [{name: g, config: "x=1", enabled: false}]
"#,
        )
        .unwrap();
        assert_eq!(d.services[0].path.as_deref(), Some("/base"));
        assert_eq!(d.services[0].port, 9000);
        assert_eq!(d.routes.len(), 2);
        assert_eq!(d.routes[1].service, 0);
        assert_eq!(d.chains[0].target, ChainTarget::Route(0));
        assert_eq!(d.chains[0].filters[0].config, br#"{"a":1}"#);
        assert_eq!(d.chains[1].target, ChainTarget::Service(0));
        assert!(!d.chains[1].filters[0].enabled);
    }

    #[test]
    fn an_undefined_service_is_named_with_its_route() {
        let e = err(r#"
_format_version: "3.0"
routes:
  - {name: a, paths: ["/a"], service: nope}
"#);
        assert_eq!(
            e,
            r#"kong.yml: routes[0] ("a"): service "nope" is not defined"#
        );
    }

    #[test]
    fn an_unknown_field_is_named() {
        let e = err(r#"
_format_version: "3.0"
services:
  - {name: s, host: x, colour: red}
"#);
        assert!(
            e.starts_with(r#"kong.yml: services[0] ("s"): unknown field `colour`"#),
            "{e}"
        );
    }

    #[test]
    fn a_bad_type_names_its_field() {
        let e = err(r#"
_format_version: "3.0"
services:
  - {name: s, host: x, port: eighty}
"#);
        assert!(
            e.starts_with(r#"kong.yml: services[0] ("s"): port: invalid type"#),
            "{e}"
        );
    }
}
