//! latency-metrics: upstream latency and request outcomes per route and
//! service, in Kong's metric names, served as Prometheus text on
//! `metrics_path` and aggregated over the node's workers in shared data.
//! Histograms, series and exposition live in `shared::metrics`.

mod abi_metrics;
mod host;
mod record;
mod root;
mod stream;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::MetricsRoot::default()) });
}}
