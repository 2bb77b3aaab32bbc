//! The plugin configuration: JSON in (Kong's `rate-limiting` fields plus ours), a checked,
//! ready-to-use [`RateLimitConfig`] out. Everything the request path needs (sorted limits, header
//! names, the rejection body, parsed CIDRs, rule matchers) is computed here, once, in
//! `on_configure`.

use serde_json::Value;

use super::identity::{Cidr, TrustedProxies};
use super::key::KeyPart;
use super::kong_redis::{refuse_kong_redis_fields, FLAT_FIELDS};
use super::limit_by::{compile_key, header_name, read_key_fields};
use super::limits::read_limits;
use super::policy::{read_policy, Policy};
use super::rules::{Rule, RuleMatch};
use crate::json_fields::{index, invalid, Fields};

/// Default number of counter slots per rule.
pub const DEFAULT_LOCAL_SLOTS: u32 = 65_536;
/// Most counter slots per rule: past this the shared-data table is too large to be a sane bound.
pub const MAX_LOCAL_SLOTS: u32 = 16_777_216;

pub use crate::config_error::ConfigError;

/// Which rate-limit headers are added to responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderMode {
    /// Kong's `X-RateLimit-*` and `RateLimit-*`.
    #[default]
    Kong,
    /// draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`.
    Ietf,
    /// Both.
    Both,
    /// None (`hide_client_headers: true`).
    None,
}

/// The compiled configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    rules: Vec<Rule>,
    default_rule: Rule,
    policy: Policy,
    fault_tolerant: bool,
    header_mode: HeaderMode,
    error_code: u32,
    error_body: Vec<u8>,
    trusted_proxies: TrustedProxies,
    local_slots: u32,
    request_headers: Vec<String>,
}

const TOP_FIELDS: &[&str] = &[
    "second",
    "minute",
    "hour",
    "day",
    "month",
    "year",
    "limits",
    "limit_by",
    "header_name",
    "path",
    "window_type",
    "policy",
    "redis_proxy",
    "sync_rate",
    "fault_tolerant",
    "hide_client_headers",
    "error_code",
    "error_message",
    "headers",
    "trusted_proxies",
    "consumer_header",
    "local_slots",
    "rules",
];

const RULE_FIELDS: &[&str] = &[
    "match",
    "second",
    "minute",
    "hour",
    "day",
    "month",
    "year",
    "limits",
    "limit_by",
    "header_name",
    "path",
    "window_type",
];

impl RateLimitConfig {
    /// Parses and checks a JSON config. Empty input reads as `{}` (and so fails with
    /// [`ConfigError::NoLimits`]).
    pub fn from_json(bytes: &[u8]) -> Result<RateLimitConfig, ConfigError> {
        let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?
        };
        let known: Vec<&str> = TOP_FIELDS.iter().chain(&FLAT_FIELDS).copied().collect();
        let f = Fields::new("", &value, &known)?;
        refuse_kong_redis_fields(&f)?;

        let consumer_header = match f.string("consumer_header")? {
            Some(h) => header_name(&f.path_of("consumer_header"), h)?,
            None => "x-consumer-id".to_owned(),
        };
        let top_keys = read_key_fields(&f)?;
        let top_limits = read_limits(&f)?;
        let top_key = compile_key(&top_keys, None, "", &consumer_header)?;
        let top_window_type = top_keys.window_type.unwrap_or_default();

        let mut rules = Vec::new();
        if let Some(items) = f.array("rules")? {
            for (i, item) in items.iter().enumerate() {
                let path = index("rules", i);
                let r = Fields::new(&path, item, RULE_FIELDS)?;
                let matcher = read_match(&r)?;
                let keys = read_key_fields(&r)?;
                let limits = read_limits(&r)?;
                let key = compile_key(&keys, Some(&top_keys), &path, &consumer_header)?;
                let window_type = keys.window_type.unwrap_or(top_window_type);
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                rules.push(Rule::new(index, matcher, limits, key, window_type));
            }
        }
        if top_limits.is_empty() && rules.iter().all(|r| r.limits().is_empty()) {
            return Err(ConfigError::NoLimits);
        }
        let default_index = u32::try_from(rules.len()).unwrap_or(u32::MAX);
        let default_rule = Rule::new(
            default_index,
            RuleMatch::default(),
            top_limits,
            top_key,
            top_window_type,
        );

        let policy = read_policy(&f)?;
        let fault_tolerant = f.boolean("fault_tolerant")?.unwrap_or(true);
        let hide = f.boolean("hide_client_headers")?.unwrap_or(false);
        let mode = match f.one_of("headers", &["kong", "ietf", "both", "none"])? {
            None | Some(0) => HeaderMode::Kong,
            Some(1) => HeaderMode::Ietf,
            Some(2) => HeaderMode::Both,
            Some(_) => HeaderMode::None,
        };
        let header_mode = if hide { HeaderMode::None } else { mode };
        let error_code = match f.get("error_code") {
            None => 429,
            Some(v) => v
                .as_u64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|x| x.fract() == 0.0 && *x >= 0.0)
                        .map(|x| x as u64)
                })
                .filter(|c| (100..=599).contains(c))
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| {
                    invalid("error_code", "expected an HTTP status code (100-599)", v)
                })?,
        };
        let error_message = f
            .string("error_message")?
            .unwrap_or("API rate limit exceeded");
        let error_body = serde_json::to_vec(&serde_json::json!({ "message": error_message }))
            .map_err(|e| ConfigError::Json(e.to_string()))?;
        let trusted_proxies = read_trusted_proxies(&f)?;
        let local_slots = match f.positive_int("local_slots")? {
            None => DEFAULT_LOCAL_SLOTS,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_LOCAL_SLOTS)
                .ok_or_else(|| ConfigError::Invalid {
                    path: "local_slots".to_owned(),
                    message: format!(
                        "expected at most {MAX_LOCAL_SLOTS} slots per rule (shared memory grows \
                         with rules x local_slots x record size), got {n}"
                    ),
                })?,
        };

        let mut config = RateLimitConfig {
            rules,
            default_rule,
            policy,
            fault_tolerant,
            header_mode,
            error_code,
            error_body,
            trusted_proxies,
            local_slots,
            request_headers: Vec::new(),
        };
        config.request_headers = config.compute_request_headers();
        Ok(config)
    }

    /// The rule for a request: the first rule whose match holds, else the top-level default.
    /// `None` when nothing is to be limited: no rule matched and the top level has no limits, or
    /// the matching rule has none (a rule without limits exempts what it matches).
    pub fn select_rule(
        &self,
        route_name: Option<&[u8]>,
        host: Option<&[u8]>,
        path: Option<&[u8]>,
    ) -> Option<(u32, &Rule)> {
        let rule = self
            .rules
            .iter()
            .find(|r| r.matcher().matches(route_name, host, path))
            .unwrap_or(&self.default_rule);
        if rule.limits().is_empty() {
            None
        } else {
            Some((rule.index(), rule))
        }
    }

    /// The rules, in order (index = position).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The top-level rule (index `rules().len()`), if it has limits.
    pub fn default_rule(&self) -> Option<&Rule> {
        Some(&self.default_rule).filter(|r| !r.limits().is_empty())
    }

    /// Local or cluster counting.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether to let requests through when counters cannot be read or written (Kong's
    /// `fault_tolerant`, default true).
    pub fn fault_tolerant(&self) -> bool {
        self.fault_tolerant
    }

    /// Which headers to add.
    pub fn header_mode(&self) -> HeaderMode {
        self.header_mode
    }

    /// The status of a rejection (default 429).
    pub fn error_code(&self) -> u32 {
        self.error_code
    }

    /// The rejection body, `{"message":"..."}`; its content type is
    /// [`REJECTION_CONTENT_TYPE`](super::REJECTION_CONTENT_TYPE).
    pub fn error_body(&self) -> &[u8] {
        &self.error_body
    }

    /// Proxies whose forwarded headers are believed.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }

    /// Counter slots per rule.
    pub fn local_slots(&self) -> u32 {
        self.local_slots
    }

    /// Lower-case names of the request headers any key may need: the plugin reads these (and
    /// `:path`, `:authority`, `source.address`) once per request to answer [`RequestFacts`](super::RequestFacts).
    pub fn request_headers(&self) -> &[String] {
        &self.request_headers
    }

    /// Whether any rule matches on the route name (so the plugin must read that property).
    pub fn needs_route_name(&self) -> bool {
        self.rules.iter().any(|r| r.matcher().route_name.is_some())
    }

    /// Whether a rule matches on the path or a key uses it: else the plugin
    /// need not read `:path` at all.
    pub fn needs_path(&self) -> bool {
        self.rules.iter().any(|r| r.matcher().path_prefix.is_some())
            || self.all_rules().any(|r| {
                r.key()
                    .parts
                    .iter()
                    .any(|p| matches!(p, KeyPart::Path { .. }))
            })
    }

    /// Whether a rule matches on the host.
    pub fn needs_host(&self) -> bool {
        self.rules.iter().any(|r| r.matcher().host.is_some())
    }

    /// Whether any key uses the service name.
    pub fn needs_service_name(&self) -> bool {
        self.all_rules()
            .any(|r| r.key().parts.contains(&KeyPart::Service))
    }

    fn all_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().chain(std::iter::once(&self.default_rule))
    }

    fn compute_request_headers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |h: &str| {
            if !out.iter().any(|o| o == h) {
                out.push(h.to_owned());
            }
        };
        for rule in self.all_rules().filter(|r| !r.limits().is_empty()) {
            for part in &rule.key().parts {
                match part {
                    KeyPart::Consumer { header } => {
                        add(header);
                        add("x-credential-identifier");
                    }
                    KeyPart::Credential => add("x-credential-identifier"),
                    KeyPart::Header { name } => add(name),
                    KeyPart::Ip | KeyPart::Service | KeyPart::Path { .. } => {}
                }
            }
        }
        if !self.trusted_proxies.is_empty() {
            add("x-forwarded-for");
            add("forwarded");
        }
        out
    }
}

fn read_match(r: &Fields<'_>) -> Result<RuleMatch, ConfigError> {
    let path = r.path_of("match");
    let Some(v) = r.get("match") else {
        return Err(ConfigError::Invalid {
            path,
            message: "required: expected an object with `route_name`, `host` or `path_prefix`"
                .to_owned(),
        });
    };
    let m = Fields::new(&path, v, &["route_name", "host", "path_prefix"])?;
    let route_name = m.string("route_name")?.map(str::to_owned);
    let host = match m.string("host")? {
        None => None,
        Some(h) => {
            let wildcard_ok = !h.contains('*') || (h.starts_with("*.") && !h[1..].contains('*'));
            if h.is_empty() || !wildcard_ok || h.contains(['/', ' ']) {
                return Err(invalid(
                    &m.path_of("host"),
                    "expected a host name such as \"api.example.com\" or \"*.example.com\"",
                    &Value::String(h.to_owned()),
                ));
            }
            Some(h.to_ascii_lowercase())
        }
    };
    let path_prefix = match m.string("path_prefix")? {
        None => None,
        Some(p) if p.starts_with('/') => Some(p.to_owned()),
        Some(p) => {
            return Err(invalid(
                &m.path_of("path_prefix"),
                "expected a string starting with \"/\"",
                &Value::String(p.to_owned()),
            ))
        }
    };
    if route_name.is_none() && host.is_none() && path_prefix.is_none() {
        return Err(ConfigError::Invalid {
            path,
            message: "expected at least one of `route_name`, `host`, `path_prefix`".to_owned(),
        });
    }
    Ok(RuleMatch {
        route_name,
        host,
        path_prefix,
    })
}

fn read_trusted_proxies(f: &Fields<'_>) -> Result<TrustedProxies, ConfigError> {
    let mut cidrs = Vec::new();
    for (i, v) in f
        .array("trusted_proxies")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let cidr = v.as_str().and_then(Cidr::parse).ok_or_else(|| {
            invalid(
                &index("trusted_proxies", i),
                "expected an IPv4 or IPv6 address or CIDR such as \"10.0.0.0/8\"",
                v,
            )
        })?;
        cidrs.push(cidr);
    }
    Ok(TrustedProxies::new(cidrs))
}
