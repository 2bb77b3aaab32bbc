//! Kong's `config_schema` (from `shared`, as `cargo xtask build` writes it into
//! `<filter>.meta.json`) and the real .wasm filter accept and refuse the same configurations:
//! what Kong lets through when it loads a config, the filter configures with, and what Kong
//! refuses, the filter would refuse too.
//!
//! Left out on purpose (JSON Schema cannot state them; see "Checked by the plugin only" in
//! docs/config/): Kong's period order, two limits on one window, more than 8 limits, window
//! bounds, address ranges in `trusted_proxies`, duplicate labels and metric names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use host_tests::{HostError, HostProfile, Node, Plugin};
use serde_json::Value;

const RATE_LIMIT_GOOD: &[&str] = &[
    r#"{"minute": 5, "limit_by": "ip"}"#,
    r#"{"second": 10, "hour": 100, "limit_by": "ip"}"#,
    r#"{"minute": 5}"#,
    r#"{"minute": 5, "limit_by": ["ip", "header"], "header_name": "x-api-key"}"#,
    r#"{"minute": 5, "limit_by": "path", "path": "/orders"}"#,
    r#"{"minute": 5, "limit_by": "credential", "window_type": "sliding"}"#,
    r#"{"limits": [{"max": 100, "window": "90s"}], "limit_by": "service"}"#,
    r#"{"minute": 5, "limits": [{"max": 100, "window": "2h"}]}"#,
    r#"{"minute": 5, "policy": "local", "fault_tolerant": false, "hide_client_headers": true}"#,
    r#"{"minute": 5, "error_code": 503, "error_message": "Slow down", "headers": "both"}"#,
    r#"{"minute": 5, "headers": "ietf", "consumer_header": "x-user-id", "local_slots": 1024}"#,
    r#"{"minute": 5, "limit_by": "ip", "trusted_proxies": ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"]}"#,
    r#"{"minute": 5, "policy": "redis", "redis_proxy": {"upstream": "127.0.0.1:7379"}}"#,
    r#"{"minute": 5, "policy": "cluster", "sync_rate": 0.5, "redis_proxy": {"upstream": "webdis", "authority": "webdis.internal", "timeout_ms": 250, "authorization": "Basic dTpw", "key_prefix": "rl"}}"#,
    r#"{"minute": 5, "policy": "redis", "sync_rate": -1, "redis_proxy": {"upstream": "webdis:7379"}}"#,
    r#"{"minute": 5, "redis_proxy": {"upstream": "webdis:7379"}}"#,
    r#"{"minute": 5, "limit_by": "ip", "redis_host": null, "redis_port": 6379, "redis_timeout": 2000, "redis_database": 0, "redis_ssl": false, "redis_ssl_verify": false, "redis_password": null}"#,
    r#"{"minute": 5, "redis": {"host": null, "port": 6379, "timeout": 2000, "database": 0, "ssl": false, "username": null, "keepalive_pool_size": 256}}"#,
    r#"{"minute": 5, "second": null, "hour": null, "limit_by": "ip", "policy": null, "redis_proxy": null, "rules": null}"#,
    r#"{"rules": [{"match": {"route_name": "orders"}, "minute": 5}]}"#,
    r#"{"minute": 100, "rules": [{"match": {"route_name": "health"}}, {"match": {"host": "*.example.com", "path_prefix": "/api/"}, "second": 2, "limit_by": "ip"}]}"#,
    r#"{"header_name": "x-key", "rules": [{"match": {"host": "api.example.com"}, "minute": 5, "limit_by": "header"}]}"#,
    r#"{"rules": [{"match": {"path_prefix": "/a"}, "minute": 5, "limit_by": "path", "path": "/a", "window_type": "sliding", "limits": [{"max": 50, "window": "10m"}]}]}"#,
];

const RATE_LIMIT_BAD: &[&str] = &[
    r#"{}"#,
    r#"[]"#,
    r#""minute""#,
    r#"{"minute": "5"}"#,
    r#"{"minute": 0}"#,
    r#"{"minute": -1}"#,
    r#"{"minute": 5.5}"#,
    r#"{"minute": 5, "burst": 2}"#,
    r#"{"minute": 5, "limit_by": "consumer-group"}"#,
    r#"{"minute": 5, "limit_by": "cookie"}"#,
    r#"{"minute": 5, "limit_by": []}"#,
    r#"{"minute": 5, "limit_by": ["ip", "ip"]}"#,
    r#"{"minute": 5, "limit_by": "header"}"#,
    r#"{"minute": 5, "limit_by": ["ip", "path"]}"#,
    r#"{"minute": 5, "header_name": "x api"}"#,
    r#"{"minute": 5, "path": "orders"}"#,
    r#"{"minute": 5, "window_type": "rolling"}"#,
    r#"{"minute": 5, "policy": "redis"}"#,
    r#"{"minute": 5, "policy": "cluster", "redis_proxy": null}"#,
    r#"{"minute": 5, "policy": "memory"}"#,
    r#"{"minute": 5, "redis_proxy": {}}"#,
    r#"{"minute": 5, "redis_proxy": {"upstream": ""}}"#,
    r#"{"minute": 5, "redis_proxy": {"upstream": "w", "timeout_ms": 0}}"#,
    r#"{"minute": 5, "redis_proxy": {"upstream": "w", "db": 1}}"#,
    r#"{"minute": 5, "redis_proxy": "webdis:7379"}"#,
    r#"{"minute": 5, "sync_rate": 0}"#,
    r#"{"minute": 5, "sync_rate": -2}"#,
    r#"{"minute": 5, "sync_rate": 90000}"#,
    r#"{"minute": 5, "fault_tolerant": "yes"}"#,
    r#"{"minute": 5, "error_code": 99}"#,
    r#"{"minute": 5, "error_code": 600}"#,
    r#"{"minute": 5, "error_message": 5}"#,
    r#"{"minute": 5, "headers": "draft"}"#,
    r#"{"minute": 5, "trusted_proxies": "10.0.0.0/8"}"#,
    r#"{"minute": 5, "trusted_proxies": ["proxy.internal"]}"#,
    r#"{"minute": 5, "consumer_header": ""}"#,
    r#"{"minute": 5, "local_slots": 0}"#,
    r#"{"minute": 5, "local_slots": 16777217}"#,
    r#"{"minute": 5, "redis_host": "redis.internal"}"#,
    r#"{"minute": 5, "redis_port": 6380}"#,
    r#"{"minute": 5, "redis_password": "secret"}"#,
    r#"{"minute": 5, "redis_timeout": 500}"#,
    r#"{"minute": 5, "redis": {"host": "redis.internal"}}"#,
    r#"{"minute": 5, "redis": {"port": 6380}}"#,
    r#"{"minute": 5, "redis": "redis.internal"}"#,
    r#"{"limits": []}"#,
    r#"{"limits": [{"max": 5}]}"#,
    r#"{"limits": [{"window": "90s"}]}"#,
    r#"{"limits": [{"max": 5, "window": "90"}]}"#,
    r#"{"limits": [{"max": 5, "window": 90}]}"#,
    r#"{"limits": [{"max": 5, "window": "90s", "burst": 1}]}"#,
    r#"{"limits": [null]}"#,
    r#"{"rules": []}"#,
    r#"{"rules": [{"match": {"route_name": "r"}}]}"#,
    r#"{"rules": [{"minute": 5}]}"#,
    r#"{"rules": [{"match": {}, "minute": 5}]}"#,
    r#"{"rules": [{"match": {"route_name": null}, "minute": 5}]}"#,
    r#"{"rules": [{"match": {"host": "a.*.com"}, "minute": 5}]}"#,
    r#"{"rules": [{"match": {"host": ""}, "minute": 5}]}"#,
    r#"{"rules": [{"match": {"path_prefix": "api"}, "minute": 5}]}"#,
    r#"{"rules": [{"match": {"route_name": "r", "method": "GET"}, "minute": 5}]}"#,
    r#"{"rules": [{"match": {"route_name": "r"}, "minute": 5, "policy": "local"}]}"#,
    r#"{"rules": [{"match": {"route_name": "r"}, "minute": 5, "limit_by": "header"}]}"#,
    r#"{"rules": [{"match": {"route_name": "r"}, "minute": 5, "limit_by": ["path"]}]}"#,
    r#"{"rules": [null]}"#,
];

const METRICS_GOOD: &[&str] = &[
    r#"{}"#,
    r#"{"prefix": "gateway"}"#,
    r#"{"names": {"upstream_latency_ms": "kong_upstream_latency_ms", "http_requests_total": "reqs"}}"#,
    r#"{"labels": {"kubernetes_kind": "service", "kubernetes_name": "echo", "_": "x"}}"#,
    r#"{"env_labels": {"kubernetes_namespace": "POD_NAMESPACE"}, "node_metadata_labels": {"pod": "NAME"}}"#,
    r#"{"consumer": true, "max_series": 100000, "metrics_path": "/internal/metrics", "upstream_timing": "host"}"#,
    r#"{"upstream_timing": "filter", "max_series": 1}"#,
    r#"{"prefix": null, "names": null, "labels": null, "consumer": null, "metrics_path": null}"#,
    r#"{"names": {"kong_latency_ms": null}}"#,
];

const METRICS_BAD: &[&str] = &[
    r#"[]"#,
    r#"{"prefx": "kong"}"#,
    r#"{"prefix": "1kong"}"#,
    r#"{"prefix": "kong-gw"}"#,
    r#"{"prefix": 5}"#,
    r#"{"names": {"upstream": "x"}}"#,
    r#"{"names": {"upstream_latency_ms": "bad name"}}"#,
    r#"{"names": "kong"}"#,
    r#"{"labels": {"__name": "x"}}"#,
    r#"{"labels": {"9lives": "x"}}"#,
    r#"{"labels": {"route": "x"}}"#,
    r#"{"labels": {"le": "x"}}"#,
    r#"{"labels": {"team": 5}}"#,
    r#"{"labels": {"team": null}}"#,
    r#"{"labels": ["team"]}"#,
    r#"{"env_labels": {"ns": "POD-NAMESPACE"}}"#,
    r#"{"env_labels": {"ns": ""}}"#,
    r#"{"node_metadata_labels": {"ns": ""}}"#,
    r#"{"consumer": "yes"}"#,
    r#"{"max_series": 0}"#,
    r#"{"max_series": 100001}"#,
    r#"{"max_series": 1.5}"#,
    r#"{"metrics_path": "metrics"}"#,
    r#"{"metrics_path": "/metrics?x=1"}"#,
    r#"{"metrics_path": "/my metrics"}"#,
    r#"{"metrics_path": "/m#top"}"#,
    r#"{"upstream_timing": "nginx"}"#,
];

/// Whether the filter configures with `config` under Kong's profile.
fn plugin_accepts(node: &mut Node, name: &str, wasm: &str, config: &str) -> bool {
    match node.load(Plugin::new(name, wasm).config(config)) {
        Ok(_) => true,
        Err(HostError::Config { .. }) => false,
        Err(other) => panic!("{name} with {config}: not a config refusal: {other}"),
    }
}

fn check(name: &str, wasm: &str, schema: &Value, good: &[&str], bad: &[&str]) {
    // Kong checks the schema itself against draft-04's meta-schema.
    assert!(
        jsonschema::draft4::meta::is_valid(schema),
        "{name}: the config_schema is not a valid draft-04 schema"
    );
    let validator = jsonschema::validator_for(schema).unwrap();
    let mut node = node(HostProfile::Kong, 1);
    let mut disagreements = Vec::new();
    for (config, expected) in good
        .iter()
        .map(|c| (c, true))
        .chain(bad.iter().map(|c| (c, false)))
    {
        let instance: Value = serde_json::from_str(config).unwrap();
        let by_schema = validator.is_valid(&instance);
        let by_plugin = plugin_accepts(&mut node, name, wasm, config);
        if by_schema != expected || by_plugin != expected {
            let error = validator
                .validate(&instance)
                .err()
                .map(|e| format!(" ({} at {:?})", e, e.instance_path().to_string()))
                .unwrap_or_default();
            disagreements.push(format!(
                "{config}: expected {}, schema {}{error}, plugin {}",
                verdict(expected),
                verdict(by_schema),
                verdict(by_plugin)
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{name}: schema and plugin disagree:\n{}",
        disagreements.join("\n")
    );
}

fn verdict(accepts: bool) -> &'static str {
    if accepts {
        "accepts"
    } else {
        "refuses"
    }
}

#[test]
fn rate_limit_schema_and_plugin_accept_and_refuse_the_same_configs() {
    check(
        "rate_limit",
        RATE_LIMIT,
        &shared::ratelimit::json_schema(),
        RATE_LIMIT_GOOD,
        RATE_LIMIT_BAD,
    );
}

#[test]
fn latency_metrics_schema_and_plugin_accept_and_refuse_the_same_configs() {
    check(
        "latency_metrics",
        LATENCY_METRICS,
        &shared::metrics::json_schema(),
        METRICS_GOOD,
        METRICS_BAD,
    );
}
