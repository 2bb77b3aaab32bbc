//! `wasm-gateway` over real HTTP: the binary as a child process, a Kong
//! declarative file, real filters, and an upstream that echoes what it got.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/http.rs"]
mod http;

use http::{get, refused, send, Echo, Gateway, TempDir, NOOP, PROBE, RATE_LIMIT};
use std::thread;
use std::time::Duration;

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// One service on the echo with the routes of the routing tests.
fn routing_yaml(echo: &str) -> String {
    format!(
        r#"_format_version: "3.0"
services:
  - name: echo
    url: http://{echo}/base
    routes:
      - name: api
        paths: ["/api"]
      - name: api-v2
        paths: ["/api/v2"]
      - name: keep
        paths: ["/keep"]
        strip_path: false
      - name: item
        paths: ["~/items/\\d+$"]
      - name: writes
        paths: ["/api"]
        methods: [POST, PUT]
        strip_path: false
  - name: bare
    host: 127.0.0.1
    port: {port}
routes:
  - name: by-host
    hosts: ["a.example.test"]
    service: bare
  - name: by-wildcard
    hosts: ["*.wild.test"]
    paths: ["/w"]
    service: {{name: bare}}
"#,
        port = echo.rsplit(':').next().unwrap()
    )
}

#[test]
fn prefix_routes_strip_their_path_and_keep_the_query() {
    let echo = Echo::start();
    let gw = Gateway::start(&routing_yaml(&echo.addr), &[]);
    let r = get(&gw.addr, "/api/users?page=2", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_path(), "/base/users?page=2");
    assert_eq!(get(&gw.addr, "/api", &[]).upstream_path(), "/base");
}

#[test]
fn the_longest_prefix_wins() {
    let echo = Echo::start();
    let gw = Gateway::start(&routing_yaml(&echo.addr), &[]);
    assert_eq!(get(&gw.addr, "/api/v2/x", &[]).upstream_path(), "/base/x");
}

#[test]
fn strip_path_false_keeps_the_whole_path() {
    let echo = Echo::start();
    let gw = Gateway::start(&routing_yaml(&echo.addr), &[]);
    assert_eq!(
        get(&gw.addr, "/keep/a", &[]).upstream_path(),
        "/base/keep/a"
    );
}

#[test]
fn regex_paths_match_anchored_and_strip_the_match() {
    let echo = Echo::start();
    let gw = Gateway::start(&routing_yaml(&echo.addr), &[]);
    let r = get(&gw.addr, "/items/42", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_path(), "/base");
    assert_eq!(get(&gw.addr, "/items/abc", &[]).status, 404);
    assert_eq!(get(&gw.addr, "/x/items/42", &[]).status, 404);
}

#[test]
fn methods_select_a_route() {
    let echo = Echo::start();
    let gw = Gateway::start(&routing_yaml(&echo.addr), &[]);
    let r = send(&gw.addr, "POST", "/api/orders", &[], b"{}");
    assert_eq!(r.json()["method"], "POST");
    // `writes` (paths + methods, no strip) outranks `api` (paths) for a POST...
    assert_eq!(r.upstream_path(), "/base/api/orders");
    // ...and a DELETE falls back to `api`.
    let r = send(&gw.addr, "DELETE", "/api/orders", &[], b"");
    assert_eq!(r.json()["method"], "DELETE");
    assert_eq!(r.upstream_path(), "/base/orders");
}

#[test]
fn hosts_select_a_route_with_or_without_a_port_and_by_wildcard() {
    let echo = Echo::start();
    let gw = Gateway::start(&routing_yaml(&echo.addr), &[]);
    let r = get(&gw.addr, "/anything", &[("host", "a.example.test:8000")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_path(), "/anything");
    let r = get(&gw.addr, "/w/x", &[("host", "api.wild.test")]);
    assert_eq!(r.upstream_path(), "/x");
    assert_eq!(get(&gw.addr, "/w/x", &[("host", "wild.test")]).status, 404);
}

#[test]
fn an_unmatched_request_gets_kongs_404() {
    let echo = Echo::start();
    let gw = Gateway::start(&routing_yaml(&echo.addr), &[]);
    let r = get(&gw.addr, "/nowhere", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["message"],
        "no Route matched with those values"
    );
    assert_eq!(echo.hits(), 0);
}

fn chain_yaml(echo: &str) -> String {
    format!(
        r#"_format_version: "3.0"
services:
  - name: echo
    url: http://{echo}
    filter_chains:
      - name: service-chain
        filters:
          - name: svc_probe
    routes:
      - name: chained
        paths: ["/chain"]
        filter_chains:
          - name: route-chain
            filters:
              - name: first
              - name: off
                enabled: false
              - name: second
                config: {{tick_ms: 0}}
  - name: plain
    url: http://{echo}
routes:
  - name: local
    paths: ["/local"]
    service: plain
  - name: noop
    paths: ["/noop"]
    service: plain
filter_chains:
  - name: local-chain
    route: local
    filters:
      - name: first
  - name: noop-chain
    route: {{name: noop}}
    filters:
      - name: noop
"#
    )
}

const CHAIN_FILTERS: [(&str, &str); 5] = [
    ("svc_probe", PROBE),
    ("first", PROBE),
    ("second", PROBE),
    ("off", PROBE),
    ("noop", NOOP),
];

#[test]
fn service_filters_run_before_route_filters_in_declared_order() {
    let echo = Echo::start();
    let gw = Gateway::start(&chain_yaml(&echo.addr), &CHAIN_FILTERS);
    let r = get(&gw.addr, "/chain", &[]);
    assert_eq!(r.status, 200);
    // The disabled filter is not in the chain.
    assert_eq!(
        r.headers_named("x-probe-seen"),
        ["svc_probe", "first", "second"]
    );
}

#[test]
fn a_filter_answers_locally_and_the_upstream_is_not_called() {
    let echo = Echo::start();
    let gw = Gateway::start(&chain_yaml(&echo.addr), &CHAIN_FILTERS);
    let r = get(
        &gw.addr,
        "/local",
        &[("x-probe", "local"), ("x-probe-arg", "403")],
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.body, "denied by probe");
    assert_eq!(r.header("x-local").as_deref(), Some("yes"));
    assert_eq!(echo.hits(), 0);
}

#[test]
fn a_request_paused_on_a_callout_resumes_when_it_answers() {
    let echo = Echo::start();
    let gw = Gateway::start(&chain_yaml(&echo.addr), &CHAIN_FILTERS);
    let r = get(
        &gw.addr,
        "/local",
        &[("x-probe", "callout-continue"), ("x-probe-arg", &echo.addr)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // The callout's status, added by the filter once it came back.
    assert_eq!(
        r.upstream_header("x-callout-status").as_deref(),
        Some("200")
    );
    assert_eq!(echo.hits(), 2);
}

#[test]
fn headers_pass_both_ways_and_filters_change_them() {
    let echo = Echo::start();
    let gw = Gateway::start(&chain_yaml(&echo.addr), &CHAIN_FILTERS);
    let r = get(
        &gw.addr,
        "/local",
        &[
            ("x-probe", "headers"),
            ("x-client", "c1"),
            ("x-replace", "old"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("x-client").as_deref(), Some("c1"));
    assert_eq!(r.upstream_header("x-added").as_deref(), Some("1"));
    assert_eq!(r.upstream_header("x-replace").as_deref(), Some("new"));
    assert_eq!(
        r.upstream_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1")
    );
    // The upstream's own header, and one a filter added on the way back.
    assert_eq!(r.header("x-upstream").as_deref(), Some("echo"));
    assert_eq!(r.header("x-probe-seen").as_deref(), Some("first"));
}

#[test]
fn bodies_pass_through_both_ways() {
    let echo = Echo::start();
    let gw = Gateway::start(&chain_yaml(&echo.addr), &CHAIN_FILTERS);
    let body = "x".repeat(5000) + "end";
    let r = send(&gw.addr, "POST", "/noop", &[], body.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body"].as_str(), Some(body.as_str()));
    assert_eq!(r.upstream_header("content-length").as_deref(), Some("5003"));
}

#[test]
fn filters_see_kongs_properties() {
    let echo = Echo::start();
    let gw = Gateway::start(&chain_yaml(&echo.addr), &CHAIN_FILTERS);
    let prop = |name: &str| {
        get(
            &gw.addr,
            "/local",
            &[("x-probe", "property"), ("x-probe-arg", name)],
        )
    };
    assert_eq!(prop("kong.route_name").body, hex("local"));
    assert_eq!(prop("kong.service_name").body, hex("plain"));
    assert_eq!(prop("source.address").body, hex("127.0.0.1"));
    assert_eq!(prop("request.path").body, hex("/local"));
    assert_eq!(prop("kong.route_id").status, 200);
}

#[test]
fn an_object_config_reaches_the_filter_as_json() {
    let echo = Echo::start();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: echo
    url: http://{}
    routes:
      - name: r
        paths: ["/"]
        filter_chains:
          - filters:
              - name: probe
                config: {{limit: 5, by: [ip]}}
"#,
        echo.addr
    );
    let gw = Gateway::start(&yaml, &[("probe", PROBE)]);
    let r = get(&gw.addr, "/", &[("x-probe", "buffer")]);
    assert_eq!(r.body, r#"{"by":["ip"],"limit":5}|"#);
}

#[test]
fn an_upstream_that_is_down_gets_kongs_502() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: down
    url: http://127.0.0.1:{port}
    routes: [{{name: r, paths: ["/"]}}]
"#
    );
    let gw = Gateway::start(&yaml, &[]);
    let r = get(&gw.addr, "/", &[]);
    assert_eq!(r.status, 502);
    assert!(
        r.body
            .contains("An invalid response was received from the upstream server"),
        "{}",
        r.body
    );
}

#[test]
fn the_rate_limit_filter_rejects_the_sixth_request_in_a_minute() {
    let echo = Echo::start();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: echo
    url: http://{}
    routes:
      - name: limited
        paths: ["/limited"]
        filter_chains:
          - filters:
              - name: rate_limit
                config: {{minute: 5, limit_by: ip}}
"#,
        echo.addr
    );
    let gw = Gateway::start(&yaml, &[("rate_limit", RATE_LIMIT)]);
    let statuses: Vec<u16> = (0..6)
        .map(|_| get(&gw.addr, "/limited", &[]).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    assert_eq!(echo.hits(), 5);
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_zero() {
    let echo = Echo::start();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: echo
    url: http://{}
    routes: [{{name: r, paths: ["/"]}}]
"#,
        echo.addr
    );
    let mut gw = Gateway::start(&yaml, &[]);
    let addr = gw.addr.clone();
    let slow = thread::spawn(move || get(&addr, "/slow", &[("x-delay-ms", "1500")]));
    thread::sleep(Duration::from_millis(400));
    gw.terminate();
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_path(), "/slow");
    let status = gw.wait(Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", gw.stderr());
}

// Bad input: one message naming the file, the entity and the field.

fn refusal(yaml: Option<&str>, filters: &[(&str, &str)]) -> String {
    let (status, stderr) = refused(yaml, filters);
    assert!(!status.success());
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("wasm-gateway:"))
            .count(),
        1,
        "one message expected:\n{stderr}"
    );
    stderr
}

#[test]
fn a_missing_config_file_is_named() {
    let e = refusal(None, &[]);
    assert!(e.contains("kong.yml: cannot read the file"), "{e}");
}

#[test]
fn bad_yaml_is_refused() {
    let e = refusal(Some("_format_version: \"3.0\"\nservices: [\n"), &[]);
    assert!(e.contains("kong.yml: not valid YAML"), "{e}");
}

#[test]
fn an_unknown_entity_is_refused() {
    let e = refusal(Some("_format_version: \"3.0\"\nservicez: []\n"), &[]);
    assert!(e.contains("kong.yml: unknown entity `servicez`"), "{e}");
}

#[test]
fn an_unknown_field_is_named_with_its_entity() {
    let e = refusal(
        Some(
            r#"_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - {name: r, pathz: ["/"]}
"#,
        ),
        &[],
    );
    assert!(
        e.contains(r#"kong.yml: services[0] ("s").routes[0] ("r"): unknown field `pathz`"#),
        "{e}"
    );
}

#[test]
fn a_route_without_a_service_is_refused() {
    let e = refusal(
        Some("_format_version: \"3.0\"\nroutes:\n  - {name: lonely, paths: [\"/\"]}\n"),
        &[],
    );
    assert!(
        e.contains(r#"kong.yml: routes[0] ("lonely"): service: missing"#),
        "{e}"
    );
}

#[test]
fn a_route_naming_an_undefined_service_is_refused() {
    let e = refusal(
        Some(
            r#"_format_version: "3.0"
services: [{name: s, url: "http://127.0.0.1:1"}]
routes:
  - {name: fine, paths: ["/a"], service: s}
  - {name: orders, paths: ["/b"], service: nope}
"#,
        ),
        &[],
    );
    assert!(
        e.contains(r#"kong.yml: routes[1] ("orders"): service "nope" is not defined"#),
        "{e}"
    );
}

#[test]
fn a_filter_missing_from_the_filters_directory_is_refused() {
    let e = refusal(
        Some(
            r#"_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{name: r, paths: ["/"]}]
filter_chains:
  - name: c
    route: r
    filters: [{name: nope}]
"#,
        ),
        &[("probe", PROBE)],
    );
    assert!(
        e.contains(r#"kong.yml: filter_chains[0] ("c").filters[0] ("nope"): name: filter "nope" is not in --filters"#),
        "{e}"
    );
    assert!(e.contains("it holds probe"), "{e}");
}

#[test]
fn a_filter_refusing_its_configuration_is_reported_with_its_logs() {
    let e = refusal(
        Some(
            r#"_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    filter_chains:
      - filters: [{name: probe, config: "fail"}]
    routes: [{name: r, paths: ["/"]}]
"#,
        ),
        &[("probe", PROBE)],
    );
    assert!(
        e.contains(r#"kong.yml: services[0] ("s").filter_chains[0].filters[0] ("probe"): config: the filter refused its configuration"#),
        "{e}"
    );
    assert!(
        e.contains("probe: `fail`: this configuration is refused on purpose"),
        "{e}"
    );
}

#[test]
fn a_plugin_that_is_no_wasm_filter_is_refused_naming_it() {
    let e = refusal(
        Some(
            r#"_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - name: r
        paths: ["/"]
        plugins: [{name: rate-limiting, config: {minute: 5}}]
"#,
        ),
        &[("probe", PROBE)],
    );
    assert!(
        e.contains(r#"services[0] ("s").routes[0] ("r").plugins[0] ("rate-limiting"): name: plugin: wasm-gateway runs no Lua plugins"#),
        "{e}"
    );
}

#[test]
fn filters_attached_as_plugins_run_after_the_entitys_filter_chain() {
    // Kong 3.9+: a Wasm filter can be attached as a plugin named after it,
    // on a route or a service, nested or by reference.
    let echo = Echo::start();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: s
    url: http://{}
    plugins:
      - name: svc_probe
        config: "tick_ms=0"
    routes:
      - name: r
        paths: ["/p"]
        filter_chains:
          - filters: [{{name: first}}]
plugins:
  - name: second
    route: r
"#,
        echo.addr
    );
    let gw = Gateway::start(&yaml, &CHAIN_FILTERS);
    let r = get(&gw.addr, "/p", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers_named("x-probe-seen"),
        ["svc_probe", "first", "second"]
    );
}

#[test]
fn a_config_against_the_filters_meta_json_schema_is_refused_naming_the_field() {
    // Kong 3.5+ validates a filter's config with `config_schema` from `<name>.meta.json`.
    let meta_dir = TempDir::new("meta");
    let meta = meta_dir.0.join("rate_limit.meta.json");
    let schema = serde_json::json!({ "config_schema": shared::ratelimit::json_schema() });
    std::fs::write(&meta, schema.to_string()).unwrap();
    let meta = meta.to_str().unwrap().to_string();
    let e = refusal(
        Some(
            r#"_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - name: r
        paths: ["/"]
        filter_chains:
          - filters: [{name: rate_limit, config: {minute: 5, limit_by: ip, window_type: rolling}}]
"#,
        ),
        &[("rate_limit", RATE_LIMIT), ("rate_limit", &meta)],
    );
    assert!(
        e.contains(r#"kong.yml: services[0] ("s").routes[0] ("r").filter_chains[0].filters[0] ("rate_limit"): config.window_type: does not match the config_schema of rate_limit.meta.json"#),
        "{e}"
    );
}
