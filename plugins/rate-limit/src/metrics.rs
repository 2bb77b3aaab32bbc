//! The plugin's counters, through the proxy-wasm metrics ABI (Envoy shows
//! them in `/stats`, Kong 3.9+ as `pw_rate_limit_*` with `wasm_metrics`).

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Metric ids, defined once per worker in `on_configure`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Metrics {
    allowed: Option<u32>,
    rejected: Option<u32>,
    table_full: Option<u32>,
    store_errors: Option<u32>,
    sync_failures: Option<u32>,
    sync_backlog_full: Option<u32>,
}

fn counter(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, name).ok()
}

impl Metrics {
    pub fn define() -> Metrics {
        Metrics {
            allowed: counter("rate_limit_allowed_total"),
            rejected: counter("rate_limit_rejected_total"),
            table_full: counter("rate_limit_table_full_total"),
            store_errors: counter("rate_limit_store_errors_total"),
            sync_failures: counter("rate_limit_sync_failures_total"),
            sync_backlog_full: counter("rate_limit_sync_backlog_full_total"),
        }
    }

    fn bump(id: Option<u32>) {
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    pub fn allowed(&self) {
        Self::bump(self.allowed);
    }

    pub fn rejected(&self) {
        Self::bump(self.rejected);
    }

    /// A new key found every candidate slot held by live keys.
    pub fn table_full(&self) {
        Self::bump(self.table_full);
    }

    /// A callout to Webdis failed, timed out or was answered with an error.
    pub fn sync_failure(&self) {
        Self::bump(self.sync_failures);
    }

    /// A slot could not be queued for the next sync (the dirty lists are
    /// full): its increments stay counted on this node only.
    pub fn sync_backlog_full(&self) {
        Self::bump(self.sync_backlog_full);
    }

    /// Shared data refused a read or write (other than a CAS mismatch).
    pub fn store_error(&self) {
        Self::bump(self.store_errors);
    }
}
