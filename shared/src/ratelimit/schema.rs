//! The rate-limit configuration described as data: the fields [`RateLimitConfig::from_json`]
//! accepts, from which [`json_schema`] (Kong's `config_schema`) and [`reference_markdown`]
//! (`docs/config/rate-limit.md`) are both rendered.
//!
//! Kong's own Redis fields (`redis_host`, `redis.*`, …) are in the schema too, and it refuses
//! what the plugin refuses: any value but `null` or Kong's default (which `deck` exports). So
//! Kong reports a Redis setting a wasm filter cannot honour when the config is loaded, not when
//! a worker configures the filter.
//!
//! [`RateLimitConfig::from_json`]: super::RateLimitConfig::from_json

use serde_json::{json, Value};

use super::config::{DEFAULT_LOCAL_SLOTS, MAX_LOCAL_SLOTS};
use super::limits::MAX_LIMITS_PER_RULE;
use crate::config_schema::{self, Field, Object, Reference, Shape};

const PERIODS: [&str; 6] = ["second", "minute", "hour", "day", "month", "year"];
const LIMIT_BY: [&str; 6] = ["consumer", "credential", "ip", "service", "header", "path"];
/// A header name: an HTTP token.
const HEADER_NAME: &str = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";

fn positive_int() -> Value {
    json!({ "type": "integer", "minimum": 1 })
}

fn header_name() -> Value {
    json!({ "type": "string", "pattern": HEADER_NAME })
}

fn absolute_path() -> Value {
    json!({ "type": "string", "pattern": "^/" })
}

fn non_empty_string() -> Value {
    json!({ "type": "string", "minLength": 1 })
}

fn only_null() -> Value {
    json!({ "type": "null" })
}

/// `name` is present and its value satisfies `schema` (pass a schema refusing `null`).
fn has(name: &str, schema: Value) -> Value {
    json!({ "required": [name], "properties": { name: schema } })
}

/// `limit_by` names `kind` (alone or in its array).
fn limit_by_includes(kind: &str) -> Value {
    has(
        "limit_by",
        json!({ "anyOf": [
            { "enum": [kind] },
            { "type": "array", "not": { "items": { "not": { "enum": [kind] } } } }
        ] }),
    )
}

/// An object (the top level or a rule) sets at least one limit.
fn has_limits() -> Value {
    let mut any: Vec<Value> = PERIODS
        .iter()
        .map(|p| has(p, json!({ "type": "number" })))
        .collect();
    any.push(has("limits", json!({ "type": "array", "minItems": 1 })));
    json!({ "anyOf": any })
}

/// `limit_by` with `kind` needs `field` at the same level, or at the top level for a rule.
fn key_field_rules(kind: &str, field: &str, schema: fn() -> Value) -> [Value; 2] {
    let set_here = json!({ "anyOf": [{ "not": limit_by_includes(kind) }, has(field, schema())] });
    [
        set_here.clone(),
        json!({ "anyOf": [
            has(field, schema()),
            { "properties": { "rules": { "items": set_here } } }
        ] }),
    ]
}

fn top_constraints() -> Vec<Value> {
    let [header_top, header_rules] = key_field_rules("header", "header_name", header_name);
    let [path_top, path_rules] = key_field_rules("path", "path", absolute_path);
    vec![
        // At least one limit, at the top level or in a rule.
        json!({ "anyOf": [
            has_limits(),
            has("rules", json!({ "type": "array", "not": { "items": { "not": has_limits() } } }))
        ] }),
        // The cluster policies need the Webdis endpoint.
        json!({ "anyOf": [
            { "not": has("policy", json!({ "enum": ["cluster", "redis"] })) },
            has("redis_proxy", json!({ "type": "object" }))
        ] }),
        header_top,
        header_rules,
        path_top,
        path_rules,
    ]
}

fn match_constraints() -> Vec<Value> {
    let any: Vec<Value> = ["route_name", "host", "path_prefix"]
        .iter()
        .map(|f| has(f, json!({ "type": "string" })))
        .collect();
    vec![json!({ "anyOf": any })]
}

/// A field taking a Kong period.
const fn period(name: &'static str, kong: &'static str, example: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Leaf(positive_int),
        nullable: true,
        required: false,
        type_name: "integer ≥ 1",
        default: "",
        example,
        kong,
        doc: "At most this many requests per calendar period (Kong's fixed windows; sliding with \
              `window_type`).",
    }
}

const LIMIT: Object = Object {
    fields: &[
        Field {
            name: "max",
            shape: Shape::Leaf(positive_int),
            nullable: false,
            required: true,
            type_name: "integer ≥ 1",
            default: "",
            example: "100",
            kong: "",
            doc: "Requests allowed per window.",
        },
        Field {
            name: "window",
            shape: Shape::Leaf(|| json!({ "type": "string", "pattern": "^[0-9]+[smhd]$" })),
            nullable: false,
            required: true,
            type_name: "duration string",
            default: "",
            example: "\"90s\"",
            kong: "window_size (Rate Limiting Advanced)",
            doc: "The window: digits and a unit `s`, `m`, `h` or `d`, from 1s to 366d.",
        },
    ],
    constraints: config_schema::no_constraints,
    constraints_doc: "",
};

/// The key and window fields shared by the top level and rules.
const fn limits_field() -> Field {
    Field {
        name: "limits",
        shape: Shape::ArrayOf(&LIMIT),
        nullable: true,
        required: false,
        type_name: "array of objects",
        default: "[]",
        example: "[{\"max\": 100, \"window\": \"90s\"}]",
        kong: "limit + window_size (Rate Limiting Advanced)",
        doc: "Limits over custom windows, besides the named periods.",
    }
}

const fn limit_by_field(default: &'static str, doc: &'static str) -> Field {
    Field {
        name: "limit_by",
        shape: Shape::Leaf(|| {
            json!({ "anyOf": [
                { "type": "string", "enum": LIMIT_BY },
                { "type": "array", "minItems": 1, "uniqueItems": true,
                  "items": { "type": "string", "enum": LIMIT_BY } }
            ] })
        }),
        nullable: true,
        required: false,
        type_name: "string or array of strings: consumer, credential, ip, service, header, path",
        default,
        example: "[\"ip\", \"header\"]",
        kong: "limit_by",
        doc,
    }
}

const fn header_name_field(doc: &'static str) -> Field {
    Field {
        name: "header_name",
        shape: Shape::Leaf(header_name),
        nullable: true,
        required: false,
        type_name: "header name",
        default: "",
        example: "\"x-api-key\"",
        kong: "header_name",
        doc,
    }
}

const fn path_field(doc: &'static str) -> Field {
    Field {
        name: "path",
        shape: Shape::Leaf(absolute_path),
        nullable: true,
        required: false,
        type_name: "string starting with /",
        default: "",
        example: "\"/orders\"",
        kong: "path",
        doc,
    }
}

const fn window_type_field(default: &'static str) -> Field {
    Field {
        name: "window_type",
        shape: Shape::Leaf(|| json!({ "type": "string", "enum": ["fixed", "sliding"] })),
        nullable: true,
        required: false,
        type_name: "string: fixed, sliding",
        default,
        example: "\"sliding\"",
        kong: "window_type (Rate Limiting Advanced)",
        doc: "Fixed calendar windows, or a sliding estimate over the previous window.",
    }
}

const MATCH: Object = Object {
    fields: &[
        Field {
            name: "route_name",
            shape: Shape::Leaf(|| json!({ "type": "string" })),
            nullable: true,
            required: false,
            type_name: "string",
            default: "",
            example: "\"orders\"",
            kong: "",
            doc: "The route's name (`xds.route_name` in Envoy, `kong.route_name` in Kong 3.9+).",
        },
        Field {
            name: "host",
            shape: Shape::Leaf(
                || json!({ "type": "string", "pattern": "^(\\*\\.[^*/ ]*|[^*/ ]+)$" }),
            ),
            nullable: true,
            required: false,
            type_name: "host name, or *.suffix",
            default: "",
            example: "\"*.example.com\"",
            kong: "",
            doc: "The request's host (`:authority`), without port; case-insensitive.",
        },
        Field {
            name: "path_prefix",
            shape: Shape::Leaf(absolute_path),
            nullable: true,
            required: false,
            type_name: "string starting with /",
            default: "",
            example: "\"/api/\"",
            kong: "",
            doc: "A prefix of the request path.",
        },
    ],
    constraints: match_constraints,
    constraints_doc: "at least one of `route_name`, `host`, `path_prefix` is set; all that are \
                      set must hold.",
};

const RULE: Object = Object {
    fields: &[
        Field {
            name: "match",
            shape: Shape::Object(&MATCH),
            nullable: false,
            required: true,
            type_name: "object",
            default: "",
            example: "{\"route_name\": \"orders\"}",
            kong: "",
            doc: "Which requests the rule takes.",
        },
        period("second", "second", "10"),
        period("minute", "minute", "5"),
        period("hour", "hour", "1000"),
        period("day", "day", "10000"),
        period("month", "month", "100000"),
        period("year", "year", "1000000"),
        limits_field(),
        limit_by_field(
            "the top level's",
            "What a client is, for this rule; taken from the top level when absent.",
        ),
        header_name_field(
            "The header `limit_by: header` counts by; taken from the top level when absent.",
        ),
        path_field("The path `limit_by: path` counts; taken from the top level when absent."),
        window_type_field("the top level's"),
    ],
    constraints: config_schema::no_constraints,
    constraints_doc: "",
};

const REDIS_PROXY: Object = Object {
    fields: &[
        Field {
            name: "upstream",
            shape: Shape::Leaf(non_empty_string),
            nullable: false,
            required: true,
            type_name: "non-empty string",
            default: "",
            example: "\"webdis:7379\"",
            kong: "redis.host + redis.port",
            doc: "Where Webdis is: an Envoy cluster name, or `host:port` in Kong and nginx.",
        },
        Field {
            name: "authority",
            shape: Shape::Leaf(non_empty_string),
            nullable: true,
            required: false,
            type_name: "non-empty string",
            default: "the upstream",
            example: "\"webdis.internal\"",
            kong: "",
            doc: "The `:authority` of callouts.",
        },
        Field {
            name: "timeout_ms",
            shape: Shape::Leaf(positive_int),
            nullable: true,
            required: false,
            type_name: "integer ≥ 1 (ms)",
            default: "1000",
            example: "250",
            kong: "redis.timeout",
            doc: "Callout timeout.",
        },
        Field {
            name: "authorization",
            shape: Shape::Leaf(non_empty_string),
            nullable: true,
            required: false,
            type_name: "non-empty string",
            default: "",
            example: "\"Basic dXNlcjpwYXNz\"",
            kong: "redis.password",
            doc: "An `Authorization` header for Webdis's HTTP auth (Redis credentials stay in Webdis).",
        },
        Field {
            name: "key_prefix",
            shape: Shape::Leaf(non_empty_string),
            nullable: true,
            required: false,
            type_name: "non-empty string",
            default: "ratelimit",
            example: "\"rl-prod\"",
            kong: "redis.database",
            doc: "Prefix of every Redis key: separates gateways sharing a Redis.",
        },
    ],
    constraints: config_schema::no_constraints,
    constraints_doc: "",
};

/// A Kong Redis field accepted only as `null` or Kong's default.
const fn kong_redis(name: &'static str, default: &'static str, leaf: fn() -> Value) -> Field {
    Field {
        name,
        shape: Shape::Leaf(leaf),
        nullable: true,
        required: false,
        type_name: "null or Kong's default",
        default,
        example: "null",
        kong: name,
        doc: "Refused unless `null` or Kong's default (as `deck` exports it): a wasm filter \
              cannot open a socket to Redis; use `redis_proxy`.",
    }
}

fn kong_redis_object() -> Value {
    json!({
        "type": "object",
        "properties": {
            "port": { "enum": [null, 6379] },
            "timeout": { "enum": [null, 2000] },
            "connect_timeout": { "enum": [null, 2000] },
            "send_timeout": { "enum": [null, 2000] },
            "read_timeout": { "enum": [null, 2000] },
            "database": { "enum": [null, 0] },
            "ssl": { "enum": [null, false] },
            "ssl_verify": { "enum": [null, false] },
            "connection_is_proxied": { "enum": [null, false] },
            "keepalive_pool_size": { "enum": [null, 256] },
            "cluster_max_redirections": { "enum": [null, 5] }
        },
        "additionalProperties": { "type": "null" }
    })
}

const TOP: Object = Object {
    fields: &[
        period("second", "second", "10"),
        period("minute", "minute", "5"),
        period("hour", "hour", "1000"),
        period("day", "day", "10000"),
        period("month", "month", "100000"),
        period("year", "year", "1000000"),
        limits_field(),
        limit_by_field("\"consumer\"", "What a client is: the parts of its key."),
        header_name_field("The header `limit_by: header` counts by."),
        path_field("The path `limit_by: path` counts."),
        window_type_field("\"fixed\""),
        Field {
            name: "policy",
            shape: Shape::Leaf(
                || json!({ "type": "string", "enum": ["local", "cluster", "redis"] }),
            ),
            nullable: true,
            required: false,
            type_name: "string: local, cluster, redis",
            default: "\"local\"",
            example: "\"redis\"",
            kong: "policy",
            doc: "`local`: counters in this node's shared memory. `cluster` and `redis`: counters \
                  in Redis, reached through Webdis (`redis_proxy`).",
        },
        Field {
            name: "redis_proxy",
            shape: Shape::Object(&REDIS_PROXY),
            nullable: true,
            required: false,
            type_name: "object",
            default: "",
            example: "{\"upstream\": \"webdis:7379\"}",
            kong: "redis",
            doc: "The Webdis in front of Redis, for the `cluster` and `redis` policies.",
        },
        Field {
            name: "sync_rate",
            shape: Shape::Leaf(|| {
                json!({ "type": "number", "anyOf": [
                    { "enum": [-1] },
                    { "minimum": 0, "exclusiveMinimum": true, "maximum": 86400 }
                ] })
            }),
            nullable: true,
            required: false,
            type_name: "-1, or seconds in (0, 86400]",
            default: "-1",
            example: "0.5",
            kong: "sync_rate",
            doc: "`-1`: every request waits for Redis. Seconds: counts are batched and synced on \
                  this period.",
        },
        Field {
            name: "fault_tolerant",
            shape: Shape::Leaf(|| json!({ "type": "boolean" })),
            nullable: true,
            required: false,
            type_name: "boolean",
            default: "true",
            example: "false",
            kong: "fault_tolerant",
            doc: "Let requests through when the counters cannot be read or written.",
        },
        Field {
            name: "hide_client_headers",
            shape: Shape::Leaf(|| json!({ "type": "boolean" })),
            nullable: true,
            required: false,
            type_name: "boolean",
            default: "false",
            example: "true",
            kong: "hide_client_headers",
            doc: "Send no rate-limit headers (wins over `headers`).",
        },
        Field {
            name: "error_code",
            shape: Shape::Leaf(|| json!({ "type": "integer", "minimum": 100, "maximum": 599 })),
            nullable: true,
            required: false,
            type_name: "integer 100-599",
            default: "429",
            example: "503",
            kong: "error_code",
            doc: "The status of a rejection.",
        },
        Field {
            name: "error_message",
            shape: Shape::Leaf(|| json!({ "type": "string" })),
            nullable: true,
            required: false,
            type_name: "string",
            default: "\"API rate limit exceeded\"",
            example: "\"Slow down\"",
            kong: "error_message",
            doc: "The `message` of the JSON body of a rejection.",
        },
        Field {
            name: "headers",
            shape: Shape::Leaf(
                || json!({ "type": "string", "enum": ["kong", "ietf", "both", "none"] }),
            ),
            nullable: true,
            required: false,
            type_name: "string: kong, ietf, both, none",
            default: "\"kong\"",
            example: "\"both\"",
            kong: "",
            doc: "Kong's `X-RateLimit-*` and `RateLimit-*` headers, the IETF draft's \
                  `RateLimit-Policy` and `RateLimit`, both, or none.",
        },
        Field {
            name: "trusted_proxies",
            shape: Shape::Leaf(|| {
                json!({ "type": "array", "items": { "type": "string", "anyOf": [
                    { "pattern": "^[0-9]{1,3}(\\.[0-9]{1,3}){3}(/[0-9]{1,2})?$" },
                    { "pattern": "^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/[0-9]{1,3})?$" }
                ] } })
            }),
            nullable: true,
            required: false,
            type_name: "array of IP addresses or CIDRs",
            default: "[]",
            example: "[\"10.0.0.0/8\"]",
            kong: "trusted_ips (kong.conf)",
            doc: "Proxies whose `X-Forwarded-For` and `Forwarded` headers are believed for \
                  `limit_by: ip`.",
        },
        Field {
            name: "consumer_header",
            shape: Shape::Leaf(header_name),
            nullable: true,
            required: false,
            type_name: "header name",
            default: "\"x-consumer-id\"",
            example: "\"x-user-id\"",
            kong: "",
            doc: "The request header naming the consumer, for `limit_by: consumer` (a wasm \
                  filter cannot see Kong's consumer).",
        },
        Field {
            name: "local_slots",
            shape: Shape::Leaf(
                || json!({ "type": "integer", "minimum": 1, "maximum": MAX_LOCAL_SLOTS }),
            ),
            nullable: true,
            required: false,
            type_name: "integer 1-16777216",
            default: "65536",
            example: "1024",
            kong: "",
            doc: "Counter slots per rule in shared memory: about the number of clients counted \
                  at once per rule.",
        },
        Field {
            name: "rules",
            shape: Shape::ArrayOf(&RULE),
            nullable: true,
            required: false,
            type_name: "array of objects",
            default: "[]",
            example: "[{\"match\": {\"route_name\": \"orders\"}, \"minute\": 5}]",
            kong: "",
            doc: "Per-route limits: the first rule whose `match` holds applies, else the top \
                  level; a rule without limits exempts what it matches.",
        },
        kong_redis("redis_host", "null", only_null),
        kong_redis("redis_port", "6379", || json!({ "enum": [6379] })),
        kong_redis("redis_password", "null", only_null),
        kong_redis("redis_username", "null", only_null),
        kong_redis("redis_ssl", "false", || json!({ "enum": [false] })),
        kong_redis("redis_ssl_verify", "false", || json!({ "enum": [false] })),
        kong_redis("redis_server_name", "null", only_null),
        kong_redis("redis_timeout", "2000", || json!({ "enum": [2000] })),
        kong_redis("redis_database", "0", || json!({ "enum": [0] })),
        kong_redis("redis", "Kong's defaults", kong_redis_object),
    ],
    constraints: top_constraints,
    constraints_doc: "at least one limit (a named period or a `limits` entry) at the top level \
                      or in a rule; `policy` `cluster` or `redis` needs `redis_proxy`; \
                      `limit_by` with `header` needs `header_name`, and with `path` needs \
                      `path` (a rule may take them from the top level).",
};

/// Rules of the plugin that JSON Schema cannot state.
const PLUGIN_ONLY: &[&str] = &[
    "Kong's period order: a longer period may not have a lower limit than a shorter one \
     (`{\"second\": 10, \"minute\": 5}` is refused), named periods and `limits` together.",
    "No two limits of one rule (or the top level) on the same window, e.g. `minute: 5` and a \
     `limits` entry `\"60s\"`.",
    "At most 8 limits per rule, named periods and `limits` together.",
    "`limits[].window` is from 1s to 366d (the schema checks its form).",
    "`trusted_proxies[]`: the address and prefix length are valid (the schema checks their form).",
    "`redis.*` and `redis_*` with a number written with a fraction (`6379.0`) are not Kong's \
     default.",
];

const INTRO: &str = "The configuration of the `rate_limit` filter: Kong's `rate-limiting` plugin fields, plus \
rules per route, custom windows and a Redis reached through Webdis. Every field is optional (at \
least one limit must be set); `null` reads as absent, as `deck` exports unset fields; unknown \
fields are refused.

`cargo xtask build` writes the same description as JSON Schema (draft-04) into \
`target/plugins/rate_limit.meta.json`, where Kong 3.5+ reads it to validate a filter's `config` \
and to accept it as a JSON object. Example:

```json
{\"minute\": 5, \"limit_by\": \"ip\", \"policy\": \"redis\", \"redis_proxy\": {\"upstream\": \"webdis:7379\"}, \"sync_rate\": 0.5}
```";

/// The JSON Schema (draft-04) of the rate-limit configuration: Kong's `config_schema`.
pub fn json_schema() -> Value {
    config_schema::root_schema(
        "rate_limit filter configuration",
        "Kong rate-limiting fields for the rate_limit proxy-wasm filter; see docs/config/rate-limit.md.",
        &TOP,
    )
}

/// The Markdown configuration reference, `docs/config/rate-limit.md`.
pub fn reference_markdown() -> String {
    config_schema::reference_markdown(
        &Reference {
            title: "rate_limit configuration reference",
            intro: INTRO,
            kong_column: true,
            plugin_only: PLUGIN_ONLY,
        },
        &TOP,
    )
}

// Keep the documented bounds tied to the parser's constants.
const _: () = assert!(MAX_LIMITS_PER_RULE == 8);
const _: () = assert!(DEFAULT_LOCAL_SLOTS == 65_536);
const _: () = assert!(MAX_LOCAL_SLOTS == 16_777_216);

#[cfg(test)]
mod tests {
    use super::*;

    crate::both_targets_test! {
        fn the_committed_reference_is_the_generated_one() {
            assert!(
                reference_markdown() == include_str!("../../../docs/config/rate-limit.md"),
                "docs/config/rate-limit.md is out of date: run `cargo xtask build` to regenerate it"
            );
        }
    }
}
