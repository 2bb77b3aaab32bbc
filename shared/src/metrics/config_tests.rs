//! Tests of the latency-metrics config: defaults, every field, every refusal message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn ok(json: &str) -> MetricsConfig {
    match MetricsConfig::from_json(json.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("config {json} refused: {e}"),
    }
}

fn err(json: &str) -> String {
    match MetricsConfig::from_json(json.as_bytes()) {
        Ok(_) => panic!("config {json} accepted"),
        Err(e) => e.to_string(),
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

both_targets_test! {
    fn an_empty_config_has_kongs_names_and_the_defaults() {
        for json in ["", "  ", "{}"] {
            let c = ok(json);
            assert_eq!(c.names().http_requests_total, "kong_http_requests_total");
            assert_eq!(c.names().upstream_latency, "kong_upstream_latency_ms");
            assert_eq!(c.names().request_latency, "kong_request_latency_ms");
            assert_eq!(c.names().kong_latency, "kong_kong_latency_ms");
            assert_eq!(c.names().series_overflow_total, "kong_series_overflow_total");
            assert!(c.labels().is_empty() && c.env_labels().is_empty());
            assert!(c.node_metadata_labels().is_empty());
            assert!(!c.consumer());
            assert_eq!(c.max_series(), DEFAULT_MAX_SERIES);
            assert_eq!(c.metrics_path(), "/metrics");
            assert_eq!(c.upstream_timing(), UpstreamTiming::Auto);
        }
    }
}

both_targets_test! {
    fn every_field_is_read() {
        let c = ok(r#"{
            "prefix": "gw",
            "names": {"upstream_latency_ms": "kong_upstream_latency_ms"},
            "labels": {"kubernetes_kind": "service", "kubernetes_name": "echo"},
            "env_labels": {"kubernetes_namespace": "POD_NAMESPACE"},
            "node_metadata_labels": {"istio_workload": "WORKLOAD_NAME"},
            "consumer": true,
            "max_series": 5.0,
            "metrics_path": "/-/metrics",
            "upstream_timing": "filter"
        }"#);
        assert_eq!(c.names().http_requests_total, "gw_http_requests_total");
        assert_eq!(c.names().upstream_latency, "kong_upstream_latency_ms");
        assert_eq!(c.names().kong_latency, "gw_kong_latency_ms");
        assert_eq!(c.labels(), pairs(&[("kubernetes_kind", "service"), ("kubernetes_name", "echo")]));
        assert_eq!(c.env_labels(), pairs(&[("kubernetes_namespace", "POD_NAMESPACE")]));
        assert_eq!(c.node_metadata_labels(), pairs(&[("istio_workload", "WORKLOAD_NAME")]));
        assert!(c.consumer());
        assert_eq!(c.max_series(), 5);
        assert_eq!(c.metrics_path(), "/-/metrics");
        assert_eq!(c.upstream_timing(), UpstreamTiming::Filter);
    }
}

both_targets_test! {
    fn null_fields_count_as_absent() {
        let c = ok(r#"{"prefix": null, "names": {"kong_latency_ms": null}, "labels": null,
                      "max_series": null, "upstream_timing": null}"#);
        assert_eq!(c, MetricsConfig::default());
    }
}

both_targets_test! {
    fn constant_labels_resolve_from_config_env_and_node_metadata() {
        let c = ok(r#"{"labels": {"kubernetes_kind": "service"},
                      "env_labels": {"kubernetes_namespace": "POD_NAMESPACE", "pod": "POD_NAME"},
                      "node_metadata_labels": {"mesh_namespace": "NAMESPACE"}}"#);
        let labels = c.constant_labels(
            |var| (var == "POD_NAMESPACE").then(|| "shop".to_owned()),
            |key| (key == "NAMESPACE").then(|| "istio-ns".to_owned()),
        );
        assert_eq!(
            labels.pairs(),
            pairs(&[
                ("kubernetes_kind", "service"),
                ("kubernetes_namespace", "shop"),
                ("mesh_namespace", "istio-ns"),
                ("pod", ""),
            ])
        );
    }
}

both_targets_test! {
    fn not_json_or_not_an_object_is_refused() {
        assert!(err("{").starts_with("the configuration is not valid JSON"));
        assert_eq!(err("[1]"), "the configuration must be a JSON object, got an array");
        assert_eq!(err("\"kong\""), "the configuration must be a JSON object, got \"kong\"");
    }
}

both_targets_test! {
    fn unknown_fields_are_refused_with_their_path() {
        assert_eq!(err(r#"{"max_serie": 5}"#), "unknown field `max_serie`");
        assert_eq!(err(r#"{"names": {"upstream": "x"}}"#), "unknown field `names.upstream`");
    }
}

both_targets_test! {
    fn prefix_and_names_must_be_metric_names() {
        assert_eq!(
            err(r#"{"prefix": "my-gw"}"#),
            r#"`prefix`: expected a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got "my-gw""#
        );
        assert_eq!(
            err(r#"{"prefix": ""}"#),
            r#"`prefix`: expected a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got """#
        );
        assert_eq!(
            err(r#"{"names": {"kong_latency_ms": "9lives"}}"#),
            r#"`names.kong_latency_ms`: expected a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got "9lives""#
        );
        assert_eq!(err(r#"{"prefix": 5}"#), "`prefix`: expected a string, got 5");
        assert_eq!(err(r#"{"names": "x"}"#), "`names`: expected an object, got \"x\"");
    }
}

both_targets_test! {
    fn two_metrics_sharing_a_sample_name_are_refused() {
        assert_eq!(
            err(r#"{"names": {"http_requests_total": "kong_upstream_latency_ms_count"}}"#),
            "`names.http_requests_total`: expected a name no other metric uses, but \
             `kong_upstream_latency_ms_count` is also a sample of the `upstream_latency_ms` metric"
        );
        assert_eq!(
            err(r#"{"names": {"request_latency_ms": "kong_kong_latency_ms"}}"#),
            "`names.request_latency_ms`: expected a name no other metric uses, but \
             `kong_kong_latency_ms` is also a sample of the `kong_latency_ms` metric"
        );
    }
}

both_targets_test! {
    fn label_names_must_be_prometheus_label_names() {
        let expected = |name: &str, shown: &str| {
            format!(
                "`labels.{name}`: expected a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not \
                 starting with \"__\"), got \"{shown}\""
            )
        };
        assert_eq!(err(r#"{"labels": {"__name__": "x"}}"#), expected("__name__", "__name__"));
        assert_eq!(err(r#"{"labels": {"1st": "x"}}"#), expected("1st", "1st"));
        assert_eq!(err(r#"{"labels": {"k8s-name": "x"}}"#), expected("k8s-name", "k8s-name"));
        assert_eq!(err(r#"{"labels": {"": "x"}}"#), expected("", ""));
        assert!(ok(r#"{"labels": {"_private": "x"}}"#).labels().len() == 1);
    }
}

both_targets_test! {
    fn constant_labels_may_not_reuse_built_in_labels() {
        for name in BUILTIN_LABELS {
            assert_eq!(
                err(&format!(r#"{{"env_labels": {{"{name}": "X"}}}}"#)),
                format!(
                    "`env_labels.{name}`: `{name}` is a built-in label (service, route, code, \
                     source, workspace, consumer, le); choose another name"
                )
            );
        }
    }
}

both_targets_test! {
    fn a_label_set_by_two_sources_is_refused() {
        assert_eq!(
            err(r#"{"labels": {"kubernetes_namespace": "a"},
                    "env_labels": {"kubernetes_namespace": "POD_NAMESPACE"}}"#),
            "`env_labels.kubernetes_namespace`: label `kubernetes_namespace` is already set by `labels`"
        );
        assert_eq!(
            err(r#"{"env_labels": {"ns": "POD_NAMESPACE"}, "node_metadata_labels": {"ns": "NAMESPACE"}}"#),
            "`node_metadata_labels.ns`: label `ns` is already set by `env_labels`"
        );
    }
}

both_targets_test! {
    fn label_values_must_be_short_strings() {
        assert_eq!(
            err(r#"{"labels": {"team": 5}}"#),
            "`labels.team`: expected a label value, got 5"
        );
        let long = "x".repeat(129);
        assert_eq!(
            err(&format!(r#"{{"labels": {{"team": "{long}"}}}}"#)),
            "`labels.team`: expected a label value of at most 128 bytes, got 129 bytes"
        );
        assert_eq!(
            err(r#"{"labels": ["team"]}"#),
            "`labels`: expected an object of label name to string, got an array"
        );
    }
}

both_targets_test! {
    fn env_and_metadata_sources_are_checked() {
        assert_eq!(
            err(r#"{"env_labels": {"ns": "POD NAMESPACE"}}"#),
            r#"`env_labels.ns`: expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*), got "POD NAMESPACE""#
        );
        assert_eq!(
            err(r#"{"node_metadata_labels": {"ns": ""}}"#),
            r#"`node_metadata_labels.ns`: expected a node.metadata key (a non-empty string), got """#
        );
    }
}

both_targets_test! {
    fn max_series_must_be_from_1_to_100000() {
        for bad in ["0", "100001", "-1", "2.5", "\"10\"", "true"] {
            assert_eq!(
                err(&format!(r#"{{"max_series": {bad}}}"#)),
                format!("`max_series`: expected an integer from 1 to 100000, got {bad}")
            );
        }
        assert_eq!(ok(r#"{"max_series": 100000}"#).max_series(), 100_000);
        assert_eq!(ok(r#"{"max_series": 1}"#).max_series(), 1);
    }
}

both_targets_test! {
    fn metrics_path_must_be_a_plain_absolute_path() {
        for bad in ["metrics", "", "/metrics?x=1", "/a b", "/m#x"] {
            assert_eq!(
                err(&format!(r#"{{"metrics_path": "{bad}"}}"#)),
                format!(
                    "`metrics_path`: expected a path starting with \"/\", without query, fragment \
                     or spaces, got \"{bad}\""
                )
            );
        }
    }
}

both_targets_test! {
    fn consumer_must_be_a_boolean_and_timing_a_known_mode() {
        assert_eq!(err(r#"{"consumer": "yes"}"#), "`consumer`: expected true or false, got \"yes\"");
        assert_eq!(
            err(r#"{"upstream_timing": "envoy"}"#),
            r#"`upstream_timing`: expected one of "auto", "host", "filter", got "envoy""#
        );
        assert_eq!(ok(r#"{"upstream_timing": "host"}"#).upstream_timing(), UpstreamTiming::Host);
    }
}
