//! The latency-metrics plugin configuration: JSON in, a checked [`MetricsConfig`] out.
//!
//! ```json
//! {
//!   "prefix": "kong",
//!   "names": { "upstream_latency_ms": "kong_upstream_latency_ms" },
//!   "labels": { "kubernetes_kind": "service", "kubernetes_name": "echo" },
//!   "env_labels": { "kubernetes_namespace": "POD_NAMESPACE" },
//!   "node_metadata_labels": { "kubernetes_namespace": "NAMESPACE" },
//!   "consumer": false,
//!   "max_series": 1000,
//!   "metrics_path": "/metrics",
//!   "upstream_timing": "auto"
//! }
//! ```
//!
//! Every field is optional; `null` reads as absent; unknown fields are refused. Errors name the
//! field path and what was expected, as the rate-limit config does.

use serde_json::{Map, Value};

use crate::json_fields::{invalid, render, Fields};

use super::exposition::{is_label_name, is_metric_name, ConstantLabels, BUILTIN_LABELS};
use super::labels::MAX_LABEL_VALUE_BYTES;
use super::timing::UpstreamTiming;

/// Default `max_series`.
pub const DEFAULT_MAX_SERIES: u32 = 1000;
/// Largest `max_series`: 100 000 series of 408 bytes (plus labels) is ~50 MB of shared data.
pub const MAX_MAX_SERIES: u32 = 100_000;

/// Why a config was refused: the rate-limit config's error type (field path and what was
/// expected in every message), under the name this module has always exported.
pub use crate::config_error::ConfigError as MetricsConfigError;

/// The exposed metric names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricNames {
    /// Requests per service, route, code, source, workspace, consumer (counter).
    pub http_requests_total: String,
    /// Upstream latency histogram.
    pub upstream_latency: String,
    /// Total request latency histogram.
    pub request_latency: String,
    /// The proxy's own latency histogram.
    pub kong_latency: String,
    /// Requests counted under the overflow label set (counter).
    pub series_overflow_total: String,
}

impl MetricNames {
    /// `<prefix>_http_requests_total`, `<prefix>_upstream_latency_ms`, … (Kong's names with
    /// `prefix` = `kong`).
    pub fn with_prefix(prefix: &str) -> MetricNames {
        MetricNames {
            http_requests_total: format!("{prefix}_http_requests_total"),
            upstream_latency: format!("{prefix}_upstream_latency_ms"),
            request_latency: format!("{prefix}_request_latency_ms"),
            kong_latency: format!("{prefix}_kong_latency_ms"),
            series_overflow_total: format!("{prefix}_series_overflow_total"),
        }
    }
}

impl Default for MetricNames {
    fn default() -> Self {
        MetricNames::with_prefix("kong")
    }
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    names: MetricNames,
    labels: Vec<(String, String)>,
    env_labels: Vec<(String, String)>,
    node_metadata_labels: Vec<(String, String)>,
    consumer: bool,
    max_series: u32,
    metrics_path: String,
    upstream_timing: UpstreamTiming,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            names: MetricNames::default(),
            labels: Vec::new(),
            env_labels: Vec::new(),
            node_metadata_labels: Vec::new(),
            consumer: false,
            max_series: DEFAULT_MAX_SERIES,
            metrics_path: "/metrics".to_owned(),
            upstream_timing: UpstreamTiming::Auto,
        }
    }
}

const TOP_FIELDS: &[&str] = &[
    "prefix",
    "names",
    "labels",
    "env_labels",
    "node_metadata_labels",
    "consumer",
    "max_series",
    "metrics_path",
    "upstream_timing",
];

const NAME_FIELDS: &[&str] = &[
    "http_requests_total",
    "upstream_latency_ms",
    "request_latency_ms",
    "kong_latency_ms",
    "series_overflow_total",
];

const METRIC_NAME: &str = "expected a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)";

impl MetricsConfig {
    /// Parses and checks a JSON config. Empty input reads as `{}`: every default.
    pub fn from_json(bytes: &[u8]) -> Result<MetricsConfig, MetricsConfigError> {
        let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(bytes).map_err(|e| MetricsConfigError::Json(e.to_string()))?
        };
        let f = Fields::new("", &value, TOP_FIELDS)?;
        let mut config = MetricsConfig::default();

        if let Some(prefix) = f.string("prefix")? {
            if !is_metric_name(prefix) {
                return Err(invalid(
                    "prefix",
                    METRIC_NAME,
                    &Value::String(prefix.to_owned()),
                ));
            }
            config.names = MetricNames::with_prefix(prefix);
        }
        if let Some(v) = f.get("names") {
            read_names(v, &mut config.names)?;
        }

        let mut seen: Vec<(String, &'static str)> = Vec::new();
        config.labels = read_label_map(&f, "labels", &mut seen, |path, v| {
            string_value(path, v, "a label value", |s| {
                s.len() <= MAX_LABEL_VALUE_BYTES
            })
            .map_err(|e| too_long_hint(e, v))
        })?;
        config.env_labels = read_label_map(&f, "env_labels", &mut seen, |path, v| {
            string_value(
                path,
                v,
                "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                is_env_name,
            )
        })?;
        config.node_metadata_labels =
            read_label_map(&f, "node_metadata_labels", &mut seen, |path, v| {
                string_value(path, v, "a node.metadata key (a non-empty string)", |s| {
                    !s.is_empty() && s.len() <= MAX_LABEL_VALUE_BYTES
                })
            })?;

        if let Some(b) = f.boolean("consumer")? {
            config.consumer = b;
        }
        if let Some(v) = f.get("max_series") {
            config.max_series = integer(v)
                .filter(|n| (1..=u64::from(MAX_MAX_SERIES)).contains(n))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    invalid(
                        "max_series",
                        &format!("expected an integer from 1 to {MAX_MAX_SERIES}"),
                        v,
                    )
                })?;
        }
        if let Some(path) = f.string("metrics_path")? {
            let clean = path.starts_with('/')
                && !path
                    .chars()
                    .any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control());
            if !clean {
                return Err(invalid(
                    "metrics_path",
                    "expected a path starting with \"/\", without query, fragment or spaces",
                    &Value::String(path.to_owned()),
                ));
            }
            config.metrics_path = path.to_owned();
        }
        if let Some(v) = f.get("upstream_timing") {
            config.upstream_timing = match v.as_str() {
                Some("auto") => UpstreamTiming::Auto,
                Some("host") => UpstreamTiming::Host,
                Some("filter") => UpstreamTiming::Filter,
                _ => {
                    return Err(invalid(
                        "upstream_timing",
                        "expected one of \"auto\", \"host\", \"filter\"",
                        v,
                    ))
                }
            };
        }
        Ok(config)
    }

    /// The metric names.
    pub fn names(&self) -> &MetricNames {
        &self.names
    }

    /// Constant labels with their values (`labels`).
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// Labels whose value is a WASI environment variable: (label, variable) (`env_labels`).
    pub fn env_labels(&self) -> &[(String, String)] {
        &self.env_labels
    }

    /// Labels whose value is a `node.metadata` key: (label, key) (`node_metadata_labels`).
    pub fn node_metadata_labels(&self) -> &[(String, String)] {
        &self.node_metadata_labels
    }

    /// Whether `kong_http_requests_total` carries the consumer (Kong's `per_consumer`).
    pub fn consumer(&self) -> bool {
        self.consumer
    }

    /// The cap on label sets.
    pub fn max_series(&self) -> u32 {
        self.max_series
    }

    /// The path the plugin serves the Prometheus text on.
    pub fn metrics_path(&self) -> &str {
        &self.metrics_path
    }

    /// Where upstream latency comes from.
    pub fn upstream_timing(&self) -> UpstreamTiming {
        self.upstream_timing
    }

    /// The constant labels of every series, resolved once in `on_configure`: `labels` as given,
    /// `env_labels` through `env` (the WASI environment) and `node_metadata_labels` through
    /// `node_metadata` (Envoy's `node.metadata`; Kong has none). A source without a value gives
    /// an empty label value, so the label set stays the same on every pod.
    pub fn constant_labels(
        &self,
        env: impl Fn(&str) -> Option<String>,
        node_metadata: impl Fn(&str) -> Option<String>,
    ) -> ConstantLabels {
        let resolved = self
            .labels
            .iter()
            .cloned()
            .chain(
                self.env_labels
                    .iter()
                    .map(|(label, var)| (label.clone(), env(var).unwrap_or_default())),
            )
            .chain(
                self.node_metadata_labels
                    .iter()
                    .map(|(label, key)| (label.clone(), node_metadata(key).unwrap_or_default())),
            );
        ConstantLabels::new(resolved)
    }
}

fn read_names(v: &Value, names: &mut MetricNames) -> Result<(), MetricsConfigError> {
    let f = Fields::new("names", v, NAME_FIELDS)?;
    let slots: [(&str, &mut String); 5] = [
        ("http_requests_total", &mut names.http_requests_total),
        ("upstream_latency_ms", &mut names.upstream_latency),
        ("request_latency_ms", &mut names.request_latency),
        ("kong_latency_ms", &mut names.kong_latency),
        ("series_overflow_total", &mut names.series_overflow_total),
    ];
    let mut set: Vec<&str> = Vec::new();
    for (key, slot) in slots {
        if let Some(name) = f.string(key)? {
            if !is_metric_name(name) {
                return Err(invalid(
                    &f.path_of(key),
                    METRIC_NAME,
                    &Value::String(name.to_owned()),
                ));
            }
            *slot = name.to_owned();
            set.push(key);
        }
    }
    // Each histogram also owns `<name>_bucket`, `_sum` and `_count`: no two families may share
    // a sample name, or the exposition would be invalid.
    let mut taken: Vec<(String, &str)> = vec![
        (names.http_requests_total.clone(), "http_requests_total"),
        (names.series_overflow_total.clone(), "series_overflow_total"),
    ];
    let histograms = [
        ("upstream_latency_ms", &names.upstream_latency),
        ("request_latency_ms", &names.request_latency),
        ("kong_latency_ms", &names.kong_latency),
    ];
    for (key, name) in histograms {
        for suffix in ["", "_bucket", "_sum", "_count"] {
            taken.push((format!("{name}{suffix}"), key));
        }
    }
    for (i, (sample, key)) in taken.iter().enumerate() {
        if let Some((_, other)) = taken[..i].iter().find(|(n, k)| n == sample && k != key) {
            // Blame a name the user set (a default cannot be the mistake).
            let (blamed, with) = if set.contains(key) {
                (*key, *other)
            } else {
                (*other, *key)
            };
            return Err(MetricsConfigError::Invalid {
                path: format!("names.{blamed}"),
                message: format!(
                    "expected a name no other metric uses, but `{sample}` is also a sample of \
                     the `{with}` metric"
                ),
            });
        }
    }
    Ok(())
}

/// Reads an object of label name → string, refusing names that are not Prometheus label names,
/// built-in labels, or labels another map already set.
fn read_label_map(
    f: &Fields<'_>,
    key: &'static str,
    seen: &mut Vec<(String, &'static str)>,
    value: impl Fn(&str, &Value) -> Result<String, MetricsConfigError>,
) -> Result<Vec<(String, String)>, MetricsConfigError> {
    let Some(v) = f.get(key) else {
        return Ok(Vec::new());
    };
    let Value::Object(map) = v else {
        return Err(invalid(
            key,
            "expected an object of label name to string",
            v,
        ));
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, v) in map {
        let path = format!("{key}.{name}");
        if !is_label_name(name) {
            return Err(MetricsConfigError::Invalid {
                path,
                message: format!(
                    "expected a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with \
                     \"__\"), got {}",
                    render(&Value::String(name.clone()))
                ),
            });
        }
        if BUILTIN_LABELS.contains(&name.as_str()) {
            return Err(MetricsConfigError::Invalid {
                path,
                message: format!(
                    "`{name}` is a built-in label ({}); choose another name",
                    BUILTIN_LABELS.join(", ")
                ),
            });
        }
        if let Some((_, other)) = seen.iter().find(|(n, _)| n == name) {
            return Err(MetricsConfigError::Invalid {
                path,
                message: format!("label `{name}` is already set by `{other}`"),
            });
        }
        seen.push((name.clone(), key));
        out.push((name.clone(), value(&path, v)?));
    }
    Ok(out)
}

fn string_value(
    path: &str,
    v: &Value,
    expected: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<String, MetricsConfigError> {
    match v.as_str() {
        Some(s) if ok(s) => Ok(s.to_owned()),
        _ => Err(invalid(path, &format!("expected {expected}"), v)),
    }
}

fn too_long_hint(e: MetricsConfigError, v: &Value) -> MetricsConfigError {
    match (e, v.as_str()) {
        (MetricsConfigError::Invalid { path, .. }, Some(s)) => MetricsConfigError::Invalid {
            path,
            message: format!(
                "expected a label value of at most {MAX_LABEL_VALUE_BYTES} bytes, got {} bytes",
                s.len()
            ),
        },
        (e, _) => e,
    }
}

fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A non-negative integer (`5` or `5.0`, as Kong stores numbers).
fn integer(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 9_007_199_254_740_992.0)
            // Checked above: integral and within u64's exact-f64 range.
            .map(|f| f as u64)
    })
}
