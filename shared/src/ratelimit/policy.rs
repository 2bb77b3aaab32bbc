//! Where counters live: this node only (`local`), or across nodes through Redis behind Webdis
//! (`cluster` / `redis`, as Kong names them). Kong's own Redis fields are refused in
//! [`kong_redis`](super::kong_redis); `redis_proxy` is what replaces them.

use serde_json::Value;

use super::config::ConfigError;
use crate::json_fields::{invalid, Fields};

/// Where counters are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// In this node's shared data only (Kong's `local`).
    Local,
    /// Across nodes through Redis (Kong's `cluster` and `redis`), reached via Webdis.
    Cluster {
        /// The Webdis endpoint.
        proxy: RedisProxy,
        /// When to sync.
        sync_rate: SyncRate,
    },
}

/// How counts are synchronised with Redis (Kong's `sync_rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRate {
    /// `-1`: every request waits for Redis.
    Strict,
    /// `> 0` seconds: increments are batched and sent on a timer of this many milliseconds.
    EveryMs(u64),
}

/// The Webdis endpoint in front of Redis (`redis_proxy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisProxy {
    /// The callout target: an Envoy cluster name, or `host:port` in Kong.
    pub upstream: String,
    /// The `:authority` of callouts (defaults to `upstream` in the plugin).
    pub authority: Option<String>,
    /// Callout timeout in milliseconds.
    pub timeout_ms: u64,
    /// An `Authorization` header value for Webdis's HTTP auth.
    pub authorization: Option<String>,
    /// Prefix of every Redis key.
    pub key_prefix: String,
}

pub(crate) fn read_policy(f: &Fields<'_>) -> Result<Policy, ConfigError> {
    let cluster = matches!(
        f.one_of("policy", &["local", "cluster", "redis"])?,
        Some(1 | 2)
    );
    let sync_rate = match f.get("sync_rate") {
        None => SyncRate::Strict,
        Some(v) => match v.as_f64() {
            Some(-1.0) => SyncRate::Strict,
            // Capped at a day: any longer and the counts would never be useful across nodes.
            Some(x) if x > 0.0 && x <= 86_400.0 => {
                SyncRate::EveryMs(((x * 1000.0).ceil() as u64).max(1))
            }
            _ => return Err(invalid(
                "sync_rate",
                "expected -1 (sync on every request) or a number of seconds between 0 and 86400",
                v,
            )),
        },
    };
    let proxy = match f.get("redis_proxy") {
        None => None,
        Some(v) => Some(read_redis_proxy(v)?),
    };
    if !cluster {
        return Ok(Policy::Local);
    }
    match proxy {
        Some(proxy) => Ok(Policy::Cluster { proxy, sync_rate }),
        None => Err(ConfigError::Invalid {
            path: "redis_proxy.upstream".to_owned(),
            message: "required when `policy` is \"cluster\" or \"redis\": name the Webdis \
                      upstream (an Envoy cluster, or host:port in Kong)"
                .to_owned(),
        }),
    }
}

fn read_redis_proxy(v: &Value) -> Result<RedisProxy, ConfigError> {
    let p = Fields::new(
        "redis_proxy",
        v,
        &[
            "upstream",
            "authority",
            "timeout_ms",
            "authorization",
            "key_prefix",
        ],
    )?;
    let non_empty = |key: &str| -> Result<Option<String>, ConfigError> {
        match p.string(key)? {
            Some("") => Err(invalid(
                &p.path_of(key),
                "expected a non-empty string",
                &Value::String(String::new()),
            )),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let upstream = non_empty("upstream")?.ok_or_else(|| ConfigError::Invalid {
        path: "redis_proxy.upstream".to_owned(),
        message: "required: name the Webdis upstream (an Envoy cluster, or host:port in Kong)"
            .to_owned(),
    })?;
    Ok(RedisProxy {
        upstream,
        authority: non_empty("authority")?,
        timeout_ms: p.positive_int("timeout_ms")?.unwrap_or(1_000),
        authorization: non_empty("authorization")?,
        key_prefix: non_empty("key_prefix")?.unwrap_or_else(|| "ratelimit".to_owned()),
    })
}
