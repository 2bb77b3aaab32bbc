//! The Prometheus text exposition format (0.0.4) of a series table, with Kong's metric and label
//! names, so dashboards and HPA rules written for Kong's prometheus plugin work unchanged.
//!
//! Families, in this order: `<prefix>_http_requests_total` (service, route, code, source,
//! workspace, consumer), `<prefix>_kong_latency_ms`, `<prefix>_request_latency_ms`,
//! `<prefix>_upstream_latency_ms` (service, route, workspace), `<prefix>_series_overflow_total`.
//! The constant labels follow the built-in ones, sorted by name; `le` comes last. Series are sorted
//! by label values, so the same counts always render the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::buckets::{KONG_LATENCY_BUCKETS_MS, LATENCY_BUCKETS_MS};
use super::config::MetricNames;
use super::labels::{label_value, OVERFLOW_LABEL};
use super::record::{Histogram, SeriesRecord};
use super::series::SeriesTable;

/// The `Content-Type` of the rendered text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `workspace` label value (Kong's default workspace; a proxy-wasm host has no workspaces).
pub const WORKSPACE: &str = "default";

/// Label names the plugin sets itself: constant labels may not reuse them.
pub const BUILTIN_LABELS: &[&str] = &[
    "service",
    "route",
    "code",
    "source",
    "workspace",
    "consumer",
    "le",
];

const HELP_REQUESTS: &str = "HTTP status codes per consumer/service/route in Kong";
const HELP_KONG: &str = "Latency added by Kong and enabled plugins for each service/route in Kong";
const HELP_REQUEST: &str = "Total latency incurred during requests for each service/route in Kong";
const HELP_UPSTREAM: &str = "Latency added by upstream response for each service/route in Kong";
const HELP_OVERFLOW: &str =
    "Requests counted under the overflow label set because max_series label sets already exist";

/// Whether `name` is a Prometheus label name we accept: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting
/// with `__` (reserved for Prometheus itself).
pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok && !name.starts_with("__") && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `name` is a Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':');
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Appends a label value escaped as the format requires: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Labels with the same value on every series of the node (`kubernetes_namespace`, …),
/// resolved once at configure time and pre-rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConstantLabels {
    pairs: Vec<(String, String)>,
    rendered: String,
}

impl ConstantLabels {
    /// Constant labels from (name, value) pairs. Whatever the input, the result keeps the
    /// exposition valid: names that are not label names or are built-in are dropped, the first of
    /// duplicate names wins, values are cut to the label value limit; pairs are sorted by name.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> ConstantLabels {
        let mut kept: Vec<(String, String)> = Vec::new();
        for (name, value) in pairs {
            let usable = is_label_name(&name)
                && !BUILTIN_LABELS.contains(&name.as_str())
                && !kept.iter().any(|(n, _)| *n == name);
            if usable {
                let value = label_value(value.as_bytes());
                kept.push((name, value));
            }
        }
        kept.sort();
        let mut rendered = String::new();
        for (name, value) in &kept {
            rendered.push(',');
            rendered.push_str(name);
            rendered.push_str("=\"");
            escape_label_value(&mut rendered, value);
            rendered.push('"');
        }
        ConstantLabels {
            pairs: kept,
            rendered,
        }
    }

    /// The labels, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Appends the exposition of `table` to `out`.
pub fn render(
    out: &mut String,
    names: &MetricNames,
    constant: &ConstantLabels,
    table: &SeriesTable,
) {
    render_requests(out, names, constant, table);

    // The latency families are labelled by service and route only: series differing in code,
    // source or consumer add up.
    let mut by_route: BTreeMap<(&str, &str), SeriesRecord> = BTreeMap::new();
    for (labels, record) in table.iter() {
        by_route
            .entry((labels.service(), labels.route()))
            .or_default()
            .merge(record);
    }
    if !table.overflow().is_empty() {
        by_route
            .entry((OVERFLOW_LABEL, OVERFLOW_LABEL))
            .or_default()
            .merge(table.overflow());
    }
    let families: [(&str, &str, PickHistogram); 3] = [
        (&names.kong_latency, HELP_KONG, |r| {
            HistogramView::new(&r.kong, &KONG_LATENCY_BUCKETS_MS)
        }),
        (&names.request_latency, HELP_REQUEST, |r| {
            HistogramView::new(&r.request, &LATENCY_BUCKETS_MS)
        }),
        (&names.upstream_latency, HELP_UPSTREAM, |r| {
            HistogramView::new(&r.upstream, &LATENCY_BUCKETS_MS)
        }),
    ];
    for (name, help, view) in families {
        header(out, name, help, "histogram");
        for ((service, route), record) in &by_route {
            let h = view(record);
            if h.count == 0 {
                continue;
            }
            let mut cumulative = 0u64;
            for (i, c) in h.counts.iter().enumerate() {
                cumulative = cumulative.saturating_add(*c);
                out.push_str(name);
                out.push_str("_bucket");
                route_labels(out, service, route, constant);
                match h.bounds.get(i) {
                    Some(bound) => {
                        let _ = write!(out, ",le=\"{bound}\"}} {cumulative}");
                    }
                    None => {
                        let _ = write!(out, ",le=\"+Inf\"}} {cumulative}");
                    }
                }
                out.push('\n');
            }
            out.push_str(name);
            out.push_str("_sum");
            route_labels(out, service, route, constant);
            let _ = writeln!(out, "}} {}", h.sum_ms);
            out.push_str(name);
            out.push_str("_count");
            route_labels(out, service, route, constant);
            let _ = writeln!(out, "}} {}", h.count);
        }
    }

    header(out, &names.series_overflow_total, HELP_OVERFLOW, "counter");
    out.push_str(&names.series_overflow_total);
    if !constant.is_empty() {
        out.push('{');
        // Skip the leading comma of the pre-rendered labels.
        out.push_str(constant.rendered.get(1..).unwrap_or_default());
        out.push('}');
    }
    let _ = writeln!(out, " {}", table.overflow_requests());
}

fn render_requests(
    out: &mut String,
    names: &MetricNames,
    constant: &ConstantLabels,
    table: &SeriesTable,
) {
    header(out, &names.http_requests_total, HELP_REQUESTS, "counter");
    let mut series: Vec<_> = table.iter().filter(|(_, r)| r.requests > 0).collect();
    series.sort_by(|a, b| a.0.cmp(b.0));
    for (labels, record) in series {
        out.push_str(&names.http_requests_total);
        out.push_str("{service=\"");
        escape_label_value(out, labels.service());
        out.push_str("\",route=\"");
        escape_label_value(out, labels.route());
        let _ = write!(
            out,
            "\",code=\"{}\",source=\"{}\",workspace=\"{WORKSPACE}\",consumer=\"",
            labels.code(),
            labels.source()
        );
        escape_label_value(out, labels.consumer());
        out.push('"');
        out.push_str(&constant.rendered);
        let _ = writeln!(out, "}} {}", record.requests);
    }
    let overflow = table.overflow_requests();
    if overflow > 0 {
        out.push_str(&names.http_requests_total);
        let _ = write!(
            out,
            "{{service=\"{OVERFLOW_LABEL}\",route=\"{OVERFLOW_LABEL}\",code=\"\",source=\"\",\
             workspace=\"{WORKSPACE}\",consumer=\"\"{}}} {overflow}",
            constant.rendered
        );
        out.push('\n');
    }
}

/// `{service="…",route="…",workspace="default"<constant labels>` (no closing brace: `le` may
/// follow).
fn route_labels(out: &mut String, service: &str, route: &str, constant: &ConstantLabels) {
    out.push_str("{service=\"");
    escape_label_value(out, service);
    out.push_str("\",route=\"");
    escape_label_value(out, route);
    out.push_str("\",workspace=\"");
    out.push_str(WORKSPACE);
    out.push('"');
    out.push_str(&constant.rendered);
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Which histogram of a record a family renders.
type PickHistogram = for<'r> fn(&'r SeriesRecord) -> HistogramView<'r>;

/// One histogram of a record with its bounds, whatever its bucket count.
struct HistogramView<'a> {
    counts: &'a [u64],
    bounds: &'a [u64],
    sum_ms: u64,
    count: u64,
}

impl<'a> HistogramView<'a> {
    fn new<const N: usize>(h: &'a Histogram<N>, bounds: &'a [u64]) -> HistogramView<'a> {
        HistogramView {
            counts: h.counts(),
            bounds,
            sum_ms: h.sum_ms(),
            count: h.count(),
        }
    }
}
