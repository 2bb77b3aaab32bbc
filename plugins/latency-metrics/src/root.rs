//! The root context: the configuration and the constant labels, resolved
//! once per worker.

use crate::host::{self, CreateCas};
use crate::stream::MetricsStream;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use shared::metrics::{ConstantLabels, MetricsConfig, SharedKeys};
use std::rc::Rc;

/// What every stream of this worker shares.
pub struct Ready {
    pub config: MetricsConfig,
    pub constant: ConstantLabels,
    pub keys: SharedKeys,
    pub create: CreateCas,
    pub names: crate::stream::Names,
    /// Label set fingerprint → where this worker counts it: two shared
    /// reads saved on every request after the first of a series.
    pub targets: std::cell::RefCell<std::collections::HashMap<u64, crate::record::Target>>,
    pub abi: std::cell::RefCell<crate::abi_metrics::AbiMetrics>,
}

#[derive(Default)]
pub struct MetricsRoot {
    ready: Option<Rc<Ready>>,
}

impl Context for MetricsRoot {}

impl RootContext for MetricsRoot {
    fn on_configure(&mut self, _: usize) -> bool {
        let raw = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = match MetricsConfig::from_json(&raw) {
            Ok(c) => c,
            Err(e) => {
                log::error!("latency-metrics: invalid configuration: {e}");
                return false;
            }
        };
        // WASI environment (Envoy's vm_config.environment_variables) and
        // Envoy's node.metadata (Istio sets NAMESPACE, WORKLOAD_NAME, …);
        // Kong has no node metadata: those labels stay empty there.
        let constant = config.constant_labels(
            |var| std::env::var(var).ok(),
            |key| {
                host::property(&["node", "metadata", key]).and_then(|v| String::from_utf8(v).ok())
            },
        );
        self.ready = Some(Rc::new(Ready {
            keys: SharedKeys::new("lm"),
            create: CreateCas::detect("lm:cas-probe"),
            constant,
            config,
            names: Default::default(),
            targets: Default::default(),
            abi: Default::default(),
        }));
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(MetricsStream::new(self.ready.clone()?)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
