//! The host-independent core of the latency-metrics plugin: Kong's latency histograms and request
//! counter per service and route, aggregated over a node's workers through shared data and
//! exposed as Prometheus text.
//!
//! The plugin glue does:
//! 1. `on_configure` — [`MetricsConfig::from_json`], then [`MetricsConfig::constant_labels`]
//!    with the WASI environment and `node.metadata` read once;
//! 2. per request — [`parse_ngx_seconds`] / [`parse_envoy_duration_ns`] on the host's upstream
//!    timing, [`UpstreamTiming::choose`] against the filter's own [`filter_upstream_ms`], then
//!    [`latencies`]; a [`LabelSet`] from route, service, status, [`Source`] and (if configured)
//!    [`consumer_value`];
//! 3. counting — [`SeriesRecord::record`] into the series' record found through
//!    [`SharedKeys`] (or batched in a worker's [`SeriesTable`] and added with
//!    [`SeriesRecord::merge`]), new indices claimed with [`allocate`] up to `max_series`;
//! 4. on `metrics_path` — every series read back into a [`SeriesTable`] and [`render`]ed with
//!    [`CONTENT_TYPE`].
//!
//! Nothing here reads a clock or calls the host; nothing panics on any input.

mod buckets;
mod config;
mod exposition;
mod labels;
mod record;
mod schema;
mod series;
mod timing;

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod exposition_tests;

pub use buckets::{
    bucket_index, KONG_LATENCY_BUCKETS_MS, KONG_LATENCY_SLOTS, LATENCY_BUCKETS_MS, LATENCY_SLOTS,
};
pub use config::{
    MetricNames, MetricsConfig, MetricsConfigError, DEFAULT_MAX_SERIES, MAX_MAX_SERIES,
};
pub use exposition::{
    escape_label_value, is_label_name, is_metric_name, render, ConstantLabels, BUILTIN_LABELS,
    CONTENT_TYPE, WORKSPACE,
};
pub use labels::{
    consumer_value, label_value, LabelSet, Source, MAX_LABEL_VALUE_BYTES, OVERFLOW_LABEL,
};
pub use record::{Histogram, KongLatencyHistogram, LatencyHistogram, SeriesRecord};
pub use schema::{json_schema, reference_markdown};
pub use series::{allocate, decode_count, encode_count, SeriesTable, SharedKeys, Slot};
pub use timing::{
    filter_upstream_ms, latencies, parse_envoy_duration_ns, parse_ngx_seconds, Latencies,
    UpstreamTiming,
};
