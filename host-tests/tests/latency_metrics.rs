//! The latency-metrics plugin through the real .wasm: buckets, exact counts
//! across workers, labels, the series cap and the Prometheus endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use host_tests::{HostError, HostProfile, Node, Plugin, PluginId, Request, Response, Value};

fn metrics_node(profile: HostProfile, workers: usize, config: &str) -> (Node, PluginId) {
    let mut n = node(profile, workers);
    let id = n
        .load(Plugin::new("latency_metrics", LATENCY_METRICS).config(config))
        .unwrap();
    (n, id)
}

fn scrape(n: &mut Node, id: PluginId) -> String {
    let ex = n
        .worker(0)
        .run(&[id], Request::get("/metrics"), |_| {
            panic!("scrape reached the upstream")
        })
        .unwrap();
    assert_eq!(ex.status, 200);
    assert_eq!(
        ex.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    ex.body_text()
}

fn kong_request(route: &str) -> Request {
    Request::get("/orders").route(route).service("orders-svc")
}

/// An upstream answer as nginx times it: 122 ms (Kong's filters read it).
fn upstream_122ms() -> Response {
    Response::ok()
        .property("ngx.upstream_header_time", Value::Str("0.120".into()))
        .property("ngx.upstream_response_time", Value::Str("0.122".into()))
}

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[test]
fn counts_are_exact_across_workers_and_land_in_kongs_buckets() {
    let (mut n, id) = metrics_node(HostProfile::Kong, 3, "{}");
    for w in 0..3 {
        for _ in 0..10 {
            n.worker(w)
                .run(&[id], kong_request("orders"), |_| upstream_122ms())
                .unwrap();
        }
    }
    let text = scrape(&mut n, id);
    let requests = line(&text, "kong_http_requests_total{").unwrap();
    assert!(
        requests.contains(r#"service="orders-svc""#) && requests.contains(r#"route="orders""#),
        "{requests}"
    );
    assert!(requests.contains(r#"code="200""#) && requests.contains(r#"source="service""#));
    assert!(requests.ends_with(" 30"), "{requests}");
    let bucket = |le: &str| {
        let prefix = "kong_upstream_latency_ms_bucket{";
        text.lines()
            .find(|l| l.starts_with(prefix) && l.contains(&format!("le=\"{le}\"")))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    assert_eq!(bucket("100").as_deref(), Some("0"));
    assert_eq!(
        bucket("250").as_deref(),
        Some("30"),
        "122 ms lands in le=250"
    );
    assert_eq!(bucket("+Inf").as_deref(), Some("30"));
    assert!(line(&text, "kong_upstream_latency_ms_sum{")
        .unwrap()
        .ends_with(" 3660"));
    assert!(line(&text, "kong_upstream_latency_ms_count{")
        .unwrap()
        .ends_with(" 30"));
}

#[test]
fn envoy_backend_latency_is_read_as_nanoseconds() {
    let (mut n, id) = metrics_node(HostProfile::Envoy, 1, "{}");
    let req = Request::get("/x")
        .route("r")
        .service("outbound|80||echo.shop.svc.cluster.local");
    n.worker(0)
        .run(&[id], req, |_| {
            Response::new(503).property("response.backend_latency", Value::Duration(80_000_000))
        })
        .unwrap();
    let text = scrape(&mut n, id);
    assert!(line(&text, "kong_http_requests_total{")
        .unwrap()
        .contains(r#"code="503""#));
    assert!(
        line(&text, "kong_upstream_latency_ms_sum{")
            .unwrap()
            .ends_with(" 80"),
        "{text}"
    );
}

#[test]
fn without_host_timing_the_filter_measures_the_upstream() {
    let mut n = host_tests::Node::builder(HostProfile::Envoy)
        .build()
        .unwrap();
    let id = n
        .load(Plugin::new("latency_metrics", LATENCY_METRICS).config("{}"))
        .unwrap();
    n.worker(0)
        .run(&[id], Request::get("/slow").route("slow"), |_| {
            std::thread::sleep(std::time::Duration::from_millis(120));
            Response::ok()
        })
        .unwrap();
    let text = scrape(&mut n, id);
    let bucket = |le: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("kong_upstream_latency_ms_bucket{")
                    && l.contains(&format!("le=\"{le}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    assert_eq!(bucket("100").as_deref(), Some("0"), "{text}");
    assert_eq!(bucket("250").as_deref(), Some("1"));
}

#[test]
fn label_values_are_escaped() {
    let (mut n, id) = metrics_node(HostProfile::Kong, 1, "{}");
    n.worker(0)
        .run(&[id], kong_request("we\"ird\\route\nname"), |_| {
            Response::ok()
        })
        .unwrap();
    let text = scrape(&mut n, id);
    assert!(text.contains(r#"route="we\"ird\\route\nname""#), "{text}");
}

#[test]
fn the_series_cap_holds_under_a_flood_of_route_names() {
    let (mut n, id) = metrics_node(HostProfile::Kong, 2, r#"{"max_series": 5}"#);
    for i in 0..200 {
        n.worker(i)
            .run(&[id], kong_request(&format!("route-{i}")), |_| {
                Response::ok()
            })
            .unwrap();
    }
    let text = scrape(&mut n, id);
    let series = text
        .lines()
        .filter(|l| l.starts_with("kong_http_requests_total{"))
        .count();
    assert_eq!(series, 6, "5 series and the overflow label set:\n{text}");
    assert!(text.contains("route=\"__overflow__\""));
    assert_eq!(
        line(&text, "kong_series_overflow_total").unwrap(),
        "kong_series_overflow_total 195"
    );
}

#[test]
fn enrichment_labels_come_from_config_environment_and_node_metadata() {
    let mut n = node(HostProfile::Envoy, 1);
    let config = r#"{"labels": {"kubernetes_kind": "service"},
                     "env_labels": {"kubernetes_namespace": "POD_NAMESPACE"},
                     "node_metadata_labels": {"kubernetes_name": "WORKLOAD_NAME"}}"#;
    let id = n
        .load(
            Plugin::new("latency_metrics", LATENCY_METRICS)
                .config(config)
                .env("POD_NAMESPACE", "shop")
                .property("node.metadata.WORKLOAD_NAME", Value::Str("echo".into())),
        )
        .unwrap();
    n.worker(0)
        .run(&[id], Request::get("/").route("r"), |_| Response::ok())
        .unwrap();
    let text = scrape(&mut n, id);
    let upstream = line(&text, "kong_upstream_latency_ms_count{").unwrap();
    for label in [
        r#"kubernetes_kind="service""#,
        r#"kubernetes_namespace="shop""#,
        r#"kubernetes_name="echo""#,
    ] {
        assert!(upstream.contains(label), "{label} missing in {upstream}");
    }
}

#[test]
fn a_bad_config_is_refused_naming_the_field() {
    let mut n = node(HostProfile::Kong, 1);
    let err = n
        .load(
            Plugin::new("latency_metrics", LATENCY_METRICS)
                .config(r#"{"metrics_path": "metrics"}"#),
        )
        .unwrap_err();
    let HostError::Config { logs, .. } = err else {
        panic!("{err}")
    };
    assert!(
        logs.iter().any(|l| l.message.contains("metrics_path")),
        "{logs:?}"
    );
}

#[test]
fn a_local_answer_from_another_filter_counts_with_source_kong() {
    let mut n = node(HostProfile::Kong, 1);
    let metrics = n
        .load(Plugin::new("latency_metrics", LATENCY_METRICS).config("{}"))
        .unwrap();
    let limit = n
        .load(Plugin::new("rate_limit", RATE_LIMIT).config(r#"{"minute": 1, "limit_by": "ip"}"#))
        .unwrap();
    for _ in 0..2 {
        n.worker(0)
            .run(&[metrics, limit], kong_request("orders"), |_| {
                upstream_122ms()
            })
            .unwrap();
    }
    let text = scrape(&mut n, metrics);
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("kong_http_requests_total{"))
        .collect();
    assert!(
        requests.iter().any(|l| l.contains(r#"code="200""#)
            && l.contains(r#"source="service""#)
            && l.ends_with(" 1")),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|l| l.contains(r#"code="429""#)
            && l.contains(r#"source="kong""#)
            && l.ends_with(" 1")),
        "{requests:?}"
    );
    assert!(
        line(&text, "kong_upstream_latency_ms_count{")
            .unwrap()
            .ends_with(" 1"),
        "the 429 had no upstream"
    );
}

/// promtool: `$PROMTOOL` (set by scripts/test), the PATH, or the copy
/// scripts/test unpacks into target/tools.
fn promtool() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("PROMTOOL") {
        return p.into();
    }
    let unpacked =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/promtool");
    if unpacked.exists() {
        return unpacked;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("promtool"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("promtool not found: run scripts/test (it unpacks Debian's prometheus package) or set PROMTOOL"))
}

#[test]
fn the_endpoint_is_valid_exposition_for_promtool_and_a_rust_parser() {
    let (mut n, id) = metrics_node(
        HostProfile::Kong,
        2,
        r#"{"max_series": 3, "labels": {"kubernetes_namespace": "shop"}}"#,
    );
    for (i, route) in ["orders", "a\"b\\c\nd", "third", "fourth", "fifth"]
        .iter()
        .enumerate()
    {
        n.worker(i)
            .run(&[id], kong_request(route), |_| upstream_122ms())
            .unwrap();
    }
    let text = scrape(&mut n, id);

    let mut child = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exit 3 is lint findings only; the one promtool has is Kong's own
    // naming (`_ms`), which dashboards depend on. Anything else fails.
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "promtool could not parse:\n{report}\n{text}"
    );
    for finding in report.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            finding.contains("should not contain abbreviated units"),
            "unexpected promtool finding: {finding}"
        );
    }

    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let requests: f64 = parsed
        .samples
        .iter()
        .filter(|s| s.metric == "kong_http_requests_total")
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(
        requests, 5.0,
        "every request counted once, overflow included"
    );
    assert!(parsed
        .samples
        .iter()
        .any(|s| s.labels.get("kubernetes_namespace") == Some("shop")));
}

#[test]
fn abi_metrics_match_the_endpoint_and_carry_their_labels_in_the_name() {
    let (mut n, id) = metrics_node(HostProfile::Envoy, 3, "{}");
    for w in 0..3 {
        for _ in 0..4 {
            n.worker(w)
                .run(&[id], kong_request("orders"), |_| {
                    upstream_122ms()
                        .property("response.backend_latency", Value::Duration(122_000_000))
                })
                .unwrap();
        }
    }
    let text = scrape(&mut n, id);
    let requests = "kong_http_requests_total_service=.=orders-svc;.;_route=.=orders;.;_code=.=200;.;_source=.=service;.;_workspace=.=default;.;_consumer=.=;.;";
    assert_eq!(
        n.metrics().value(requests),
        Some(host_tests::metrics::MetricValue::Counter(12)),
        "{:?}",
        n.metrics().all()
    );
    assert!(line(&text, "kong_http_requests_total{")
        .unwrap()
        .ends_with(" 12"));
    let upstream =
        "kong_upstream_latency_ms_service=.=orders-svc;.;_route=.=orders;.;_workspace=.=default;.;";
    let Some(host_tests::metrics::MetricValue::Histogram(h)) = n.metrics().value(upstream) else {
        panic!("{:?}", n.metrics().all())
    };
    assert_eq!((h.count, h.sum), (12, 12 * 122));
    assert!(line(&text, "kong_upstream_latency_ms_sum{")
        .unwrap()
        .ends_with(&format!(" {}", 12 * 122)));
}

#[test]
fn each_node_counts_exactly_the_requests_it_served() {
    let mut nodes: Vec<(Node, PluginId)> = (0..3)
        .map(|_| metrics_node(HostProfile::Kong, 2, "{}"))
        .collect();
    for (i, (n, id)) in nodes.iter_mut().enumerate() {
        for k in 0..(i + 1) * 3 {
            n.worker(k)
                .run(&[*id], kong_request("orders"), |_| upstream_122ms())
                .unwrap();
        }
    }
    for (i, (n, id)) in nodes.iter_mut().enumerate() {
        let text = scrape(n, *id);
        let count = line(&text, "kong_http_requests_total{")
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(count, ((i + 1) * 3).to_string(), "node {i}");
    }
}
