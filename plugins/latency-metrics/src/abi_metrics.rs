//! The same series through the proxy-wasm metrics ABI, for hosts that
//! export plugin metrics themselves (Envoy's `/stats/prometheus`, Kong
//! 3.9+ with `wasm_metrics`).
//!
//! Metric names carry their labels the way Istio's stats plugin does,
//! `<name>_<label>=.=<value>;.;…`, so one `stats_tags` entry per label
//! (`regex: "(_service=\\.=(.+?);\\.;)"`, see envoy-config/) turns them back
//! into Prometheus labels on the plain metric name. Latency histograms are
//! recorded in milliseconds; the host chooses their buckets (Envoy's
//! default histogram buckets, ngx_wasm_module's powers of two), so for
//! Kong's exact buckets scrape `metrics_path` instead.

use crate::record::Target;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use shared::metrics::{LabelSet, Latencies, MetricNames, OVERFLOW_LABEL};
use std::collections::HashMap;

/// Metric ids of one series.
#[derive(Debug, Clone, Copy)]
pub struct SeriesIds {
    requests: Option<u32>,
    upstream: Option<u32>,
    request: Option<u32>,
    kong: Option<u32>,
}

/// Ids per series, defined on first use by this worker (the host returns
/// the same id to every worker for the same name).
#[derive(Default)]
pub struct AbiMetrics {
    ids: HashMap<(Target, u64), SeriesIds>,
}

fn tag(out: &mut String, label: &str, value: &str) {
    out.push('_');
    out.push_str(label);
    out.push_str("=.=");
    // `;` would end the tag early in the extraction regex.
    out.extend(value.chars().map(|c| if c == ';' { '_' } else { c }));
    out.push_str(";.;");
}

fn define(kind: MetricType, name: &str) -> Option<u32> {
    hostcalls::define_metric(kind, name).ok()
}

impl AbiMetrics {
    /// Counts one request; series past the cap go to the overflow labels,
    /// as on the endpoint.
    pub fn record(
        &mut self,
        names: &MetricNames,
        target: Target,
        labels: &LabelSet,
        l: &Latencies,
    ) {
        let key = (target, labels.fingerprint());
        let ids = *self.ids.entry(key).or_insert_with(|| {
            let (service, route) = match target {
                Target::Series(_) => (labels.service(), labels.route()),
                Target::Overflow => (OVERFLOW_LABEL, OVERFLOW_LABEL),
            };
            let mut base = String::new();
            tag(&mut base, "service", service);
            tag(&mut base, "route", route);
            let mut requests = format!("{}{base}", names.http_requests_total);
            tag(&mut requests, "code", &labels.code().to_string());
            tag(&mut requests, "source", labels.source().as_str());
            tag(&mut requests, "workspace", "default");
            tag(&mut requests, "consumer", labels.consumer());
            let mut hist = base.clone();
            tag(&mut hist, "workspace", "default");
            SeriesIds {
                requests: define(MetricType::Counter, &requests),
                upstream: define(
                    MetricType::Histogram,
                    &format!("{}{hist}", names.upstream_latency),
                ),
                request: define(
                    MetricType::Histogram,
                    &format!("{}{hist}", names.request_latency),
                ),
                kong: define(
                    MetricType::Histogram,
                    &format!("{}{hist}", names.kong_latency),
                ),
            }
        });
        if let Some(id) = ids.requests {
            let _ = hostcalls::increment_metric(id, 1);
        }
        if let (Some(id), Some(ms)) = (ids.upstream, l.upstream_ms) {
            let _ = hostcalls::record_metric(id, ms);
        }
        if let Some(id) = ids.request {
            let _ = hostcalls::record_metric(id, l.request_ms);
        }
        if let Some(id) = ids.kong {
            let _ = hostcalls::record_metric(id, l.kong_ms);
        }
    }
}
