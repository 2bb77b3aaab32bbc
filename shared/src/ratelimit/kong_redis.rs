//! Kong's Redis fields, which a wasm plugin cannot honour: refused with what to use instead.
//!
//! Kong's `redis` policy opens a TCP connection to Redis; a proxy-wasm filter can only make
//! HTTP callouts, so our cluster mode talks to Redis through Webdis (`redis_proxy`). Silently
//! ignoring `redis_host` would turn a cluster-wide limit into a per-node one, so a set value is
//! an error. Values equal to Kong's defaults are accepted and ignored: `deck` exports every field
//! with its default (`redis_port: 6379`, `redis: {"host": null, "port": 6379, ...}`), and a user
//! pasting a local-policy Kong config should not have to delete them.

use serde_json::{json, Value};

use super::config::ConfigError;
use crate::json_fields::{join, Fields};

/// The flat (pre-3.6, now "shorthand") Redis fields and their Kong defaults.
pub(crate) const FLAT_FIELDS: [&str; 10] = [
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_username",
    "redis_ssl",
    "redis_ssl_verify",
    "redis_server_name",
    "redis_timeout",
    "redis_database",
    "redis",
];

fn kong_default(field: &str) -> Option<Value> {
    Some(match field {
        "port" => json!(6379),
        "timeout" | "connect_timeout" | "send_timeout" | "read_timeout" => json!(2000),
        "database" => json!(0),
        "ssl" | "ssl_verify" | "connection_is_proxied" => json!(false),
        "keepalive_pool_size" => json!(256),
        "cluster_max_redirections" => json!(5),
        _ => return None,
    })
}

/// What to use instead of a Kong Redis setting (field name without the `redis_`/`redis.` prefix).
fn instead(field: &str) -> &'static str {
    match field {
        "password" | "username" | "sentinel_password" | "sentinel_username" => {
            "a wasm plugin cannot authenticate to Redis itself; keep the Redis credentials in \
             Webdis's config and set `redis_proxy.authorization` if Webdis requires HTTP auth"
        }
        "timeout" | "connect_timeout" | "send_timeout" | "read_timeout" => {
            "a wasm plugin talks to Redis over HTTP through Webdis; set `redis_proxy.timeout_ms`"
        }
        "database" => {
            "a wasm plugin talks to Redis through Webdis; choose the database in Webdis's config, \
             or separate keys with `redis_proxy.key_prefix`"
        }
        "ssl" | "ssl_verify" | "server_name" => {
            "a wasm plugin talks to Redis through Webdis; configure TLS to Redis in Webdis"
        }
        _ => {
            "a wasm plugin cannot open a socket to Redis; point `redis_proxy.upstream` at a \
             Webdis in front of your Redis (policy \"redis\")"
        }
    }
}

fn refused(path: String, field: &str) -> ConfigError {
    ConfigError::Unsupported {
        path,
        message: instead(field).to_owned(),
    }
}

/// Refuses any Kong Redis field of the top-level object that is set to a non-default value.
pub(crate) fn refuse_kong_redis_fields(f: &Fields<'_>) -> Result<(), ConfigError> {
    for name in FLAT_FIELDS {
        let Some(value) = f.get(name) else { continue };
        if name == "redis" {
            let Value::Object(map) = value else {
                return Err(refused(f.path_of("redis"), "host"));
            };
            // Report `host` first: it is the setting that matters.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| *k != "host");
            for key in keys {
                let v = &map[key.as_str()];
                if !v.is_null() && kong_default(key).as_ref() != Some(v) {
                    return Err(refused(join(&f.path_of("redis"), key), key));
                }
            }
            continue;
        }
        let field = name.trim_start_matches("redis_");
        if kong_default(field).as_ref() != Some(value) {
            return Err(refused(f.path_of(name), field));
        }
    }
    Ok(())
}
