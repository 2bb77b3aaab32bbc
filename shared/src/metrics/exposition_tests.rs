//! Tests of the Prometheus text: a byte-exact fixture, escaping, overflow, order, and a small
//! structural check of every line (names declared, label names unique, `_count` = `+Inf`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use super::*;

fn labels(service: &str, route: &str, code: u16, source: Source) -> LabelSet {
    LabelSet::new(service.as_bytes(), route.as_bytes(), code, source, b"")
}

fn text(table: &SeriesTable, constant: &ConstantLabels) -> String {
    let mut out = String::new();
    render(&mut out, &MetricNames::default(), constant, table);
    out
}

fn namespace_label() -> ConstantLabels {
    ConstantLabels::new([("kubernetes_namespace".to_owned(), "default".to_owned())])
}

const FIXTURE: &str = r#"# HELP kong_http_requests_total HTTP status codes per consumer/service/route in Kong
# TYPE kong_http_requests_total counter
kong_http_requests_total{service="echo",route="echo-route",code="200",source="service",workspace="default",consumer="",kubernetes_namespace="default"} 1
kong_http_requests_total{service="echo",route="echo-route",code="503",source="kong",workspace="default",consumer="",kubernetes_namespace="default"} 1
# HELP kong_kong_latency_ms Latency added by Kong and enabled plugins for each service/route in Kong
# TYPE kong_kong_latency_ms histogram
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="1"} 0
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="2"} 0
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="5"} 1
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="7"} 1
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="10"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="15"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="20"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="30"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="50"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="75"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="100"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="200"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="500"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="750"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="1000"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="3000"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="6000"} 2
kong_kong_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="+Inf"} 2
kong_kong_latency_ms_sum{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default"} 11
kong_kong_latency_ms_count{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default"} 2
# HELP kong_request_latency_ms Total latency incurred during requests for each service/route in Kong
# TYPE kong_request_latency_ms histogram
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="25"} 1
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="50"} 1
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="80"} 1
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="100"} 1
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="250"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="400"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="700"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="1000"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="2000"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="5000"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="10000"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="30000"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="60000"} 2
kong_request_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="+Inf"} 2
kong_request_latency_ms_sum{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default"} 133
kong_request_latency_ms_count{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default"} 2
# HELP kong_upstream_latency_ms Latency added by upstream response for each service/route in Kong
# TYPE kong_upstream_latency_ms histogram
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="25"} 0
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="50"} 0
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="80"} 0
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="100"} 0
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="250"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="400"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="700"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="1000"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="2000"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="5000"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="10000"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="30000"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="60000"} 1
kong_upstream_latency_ms_bucket{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default",le="+Inf"} 1
kong_upstream_latency_ms_sum{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default"} 122
kong_upstream_latency_ms_count{service="echo",route="echo-route",workspace="default",kubernetes_namespace="default"} 1
# HELP kong_series_overflow_total Requests counted under the overflow label set because max_series label sets already exist
# TYPE kong_series_overflow_total counter
kong_series_overflow_total{kubernetes_namespace="default"} 0
"#;

both_targets_test! {
    fn a_small_table_renders_byte_exact() {
        let mut table = SeriesTable::new(10);
        // Inserted in reverse order: the text is sorted by labels, not by arrival.
        table.record(&labels("echo", "echo-route", 503, Source::Kong), &latencies(3, None));
        table.record(&labels("echo", "echo-route", 200, Source::Service), &latencies(130, Some(122)));
        assert_eq!(text(&table, &namespace_label()), FIXTURE);
    }
}

both_targets_test! {
    fn quotes_backslashes_and_newlines_in_label_values_are_escaped() {
        let mut table = SeriesTable::new(10);
        let odd = LabelSet::new(b"s\\1", b"r\"x\"\ny", 200, Source::Service, b"c\\\"\n");
        table.record(&odd, &latencies(1, Some(1)));
        let constant = ConstantLabels::new([("team".to_owned(), "a\"b\\c\nd".to_owned())]);
        let out = text(&table, &constant);
        assert!(out.contains(
            r#"kong_http_requests_total{service="s\\1",route="r\"x\"\ny",code="200",source="service",workspace="default",consumer="c\\\"\n",team="a\"b\\c\nd"} 1"#
        ), "{out}");
        assert!(out.contains(
            r#"kong_upstream_latency_ms_count{service="s\\1",route="r\"x\"\ny",workspace="default",team="a\"b\\c\nd"} 1"#
        ), "{out}");
        check_structure(&out);
    }
}

both_targets_test! {
    fn the_overflow_label_set_and_counter_are_rendered() {
        let mut table = SeriesTable::new(1);
        table.record(&labels("svc", "a", 200, Source::Service), &latencies(30, Some(20)));
        table.record(&labels("svc", "b", 200, Source::Service), &latencies(30, Some(20)));
        table.record(&labels("svc", "c", 404, Source::Kong), &latencies(2, None));
        let out = text(&table, &ConstantLabels::default());
        assert!(out.contains(
            "kong_http_requests_total{service=\"__overflow__\",route=\"__overflow__\",code=\"\",\
             source=\"\",workspace=\"default\",consumer=\"\"} 2\n"
        ), "{out}");
        assert!(out.contains(
            "kong_upstream_latency_ms_count{service=\"__overflow__\",route=\"__overflow__\",\
             workspace=\"default\"} 1\n"
        ), "{out}");
        assert!(out.ends_with("# TYPE kong_series_overflow_total counter\nkong_series_overflow_total 2\n"), "{out}");
        check_structure(&out);
    }
}

both_targets_test! {
    fn series_differing_in_code_share_one_latency_series() {
        let mut table = SeriesTable::new(10);
        table.record(&labels("svc", "r", 200, Source::Service), &latencies(30, Some(20)));
        table.record(&labels("svc", "r", 500, Source::Service), &latencies(30, Some(20)));
        let out = text(&table, &ConstantLabels::default());
        assert!(out.contains(
            "kong_upstream_latency_ms_count{service=\"svc\",route=\"r\",workspace=\"default\"} 2\n"
        ));
        assert_eq!(out.matches("kong_upstream_latency_ms_count").count(), 1);
        assert_eq!(out.matches("kong_http_requests_total{").count(), 2);
    }
}

both_targets_test! {
    fn a_route_with_only_local_responses_has_no_upstream_series() {
        let mut table = SeriesTable::new(10);
        table.record(&labels("svc", "r", 429, Source::Kong), &latencies(1, None));
        let out = text(&table, &ConstantLabels::default());
        assert!(!out.contains("kong_upstream_latency_ms_bucket"));
        assert!(out.contains("# TYPE kong_upstream_latency_ms histogram\n"));
        assert!(out.contains("kong_request_latency_ms_count{service=\"svc\",route=\"r\",workspace=\"default\"} 1\n"));
    }
}

both_targets_test! {
    fn an_empty_table_renders_headers_and_a_zero_overflow() {
        let out = text(&SeriesTable::new(10), &ConstantLabels::default());
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples, ["kong_series_overflow_total 0"]);
        assert_eq!(out.lines().filter(|l| l.starts_with("# TYPE")).count(), 5);
    }
}

both_targets_test! {
    fn configured_names_are_used() {
        let config = MetricsConfig::from_json(br#"{"prefix": "gw", "names": {"upstream_latency_ms": "up_ms"}}"#).unwrap();
        let mut table = SeriesTable::new(10);
        table.record(&labels("svc", "r", 200, Source::Service), &latencies(30, Some(20)));
        let mut out = String::new();
        render(&mut out, config.names(), &ConstantLabels::default(), &table);
        assert!(out.contains("\nup_ms_sum{"));
        assert!(out.contains("\ngw_request_latency_ms_sum{"));
        assert!(out.contains("\ngw_http_requests_total{"));
        assert!(out.contains("\ngw_series_overflow_total 0\n"));
        check_structure(&out);
    }
}

both_targets_test! {
    fn constant_labels_are_sorted_and_never_break_the_text() {
        let c = ConstantLabels::new(
            [("zone", "z"), ("code", "x"), ("__meta", "x"), ("bad-name", "x"), ("app", "a"), ("zone", "again")]
                .map(|(a, b)| (a.to_owned(), b.to_owned())),
        );
        let names: Vec<&str> = c.pairs().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["app", "zone"]);
        assert_eq!(c.pairs()[1].1, "z");
    }
}

both_targets_test! {
    fn a_big_random_table_renders_a_well_formed_text() {
        let mut table = SeriesTable::new(50);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let route = format!("r{}", seed % 80);
            let code = [200, 201, 404, 500, 503][(seed >> 8) as usize % 5];
            let source = if code >= 500 { Source::Kong } else { Source::Service };
            let upstream = (source == Source::Service).then_some((seed >> 16) % 70_000);
            table.record(&labels("svc", &route, code, source), &latencies((seed >> 32) % 70_000, upstream));
        }
        let out = text(&table, &namespace_label());
        check_structure(&out);
        let total: u64 = out
            .lines()
            .filter(|l| l.starts_with("kong_http_requests_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 2000);
    }
}

/// A small check of the text format: every sample belongs to a family declared by `# TYPE`
/// before it, label names are unique in a sample, no two samples share name and labels, values
/// are integers, every histogram's `_count` equals its `+Inf` bucket and buckets are cumulative.
fn check_structure(text: &str) {
    assert!(text.ends_with('\n'));
    let mut families: Vec<(String, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut last_bucket: Option<(String, u64)> = None;
    let mut inf: Vec<(String, u64)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.push((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: u64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let (family, kind) = families.last().unwrap();
        let suffix = name
            .strip_prefix(family.as_str())
            .unwrap_or_else(|| panic!("{line} outside {family}"));
        match kind.as_str() {
            "counter" => assert_eq!(suffix, ""),
            "histogram" => assert!(["_bucket", "_sum", "_count"].contains(&suffix), "{line}"),
            other => panic!("type {other}"),
        }
        let pairs = split_labels(labels);
        let names: BTreeSet<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), pairs.len(), "duplicate label name in {line}");
        assert!(pairs.iter().all(|(n, _)| is_label_name(n) || n == "le"));
        assert!(seen.insert(series.to_owned()), "duplicate sample {series}");
        let without_le: String = pairs
            .iter()
            .filter(|(n, _)| n != "le")
            .map(|(n, v)| format!("{n}={v},"))
            .collect();
        let key = format!("{family}|{without_le}");
        if suffix == "_bucket" {
            if let Some((k, prev)) = &last_bucket {
                if *k == key {
                    assert!(value >= *prev, "buckets not cumulative at {line}");
                }
            }
            last_bucket = Some((key.clone(), value));
            if pairs.iter().any(|(n, v)| n == "le" && v == "+Inf") {
                inf.push((key, value));
            }
        } else if suffix == "_count" {
            let (k, v) = inf.iter().find(|(k, _)| *k == key).unwrap();
            assert_eq!((k, *v), (&key, value), "_count != +Inf bucket at {line}");
        }
    }
}

/// Splits `a="x",b="y\"z"` into (name, raw escaped value) pairs.
fn split_labels(labels: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = labels;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match (escaped, c) {
                (true, 'n' | '\\' | '"') => escaped = false,
                (true, other) => panic!("bad escape \\{other} in {labels}"),
                (false, '\\') => escaped = true,
                (false, '\n') => panic!("raw newline in {labels}"),
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, _) => {}
            }
        }
        let end = end.unwrap();
        out.push((name.to_owned(), after[..end].to_owned()));
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    out
}
