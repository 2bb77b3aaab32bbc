//! The root context: configuration once, then a stream context per request
//! sharing it.

use crate::batched;
use crate::facts::PropertyNames;
use crate::host::{self, CreateCas};
use crate::metrics::Metrics;
use crate::stream::RateLimitStream;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, Status};
use shared::ratelimit::{Policy, RateLimitConfig, SyncRate, WindowType};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::time::Duration;

/// The shared-data key of the node's hash seed: one per node, so every
/// worker maps a client to the same slots, and unknown to clients, so they
/// cannot aim keys at a victim's slots.
const SEED_KEY: &str = "rl:seed";

/// What every stream of this worker shares, ready for the request path.
pub struct Ready {
    pub config: RateLimitConfig,
    pub seed: u64,
    /// Names this configuration's slot tables (`rl:<table + rule>:<slot>`):
    /// records are shaped by a rule's limits, so two configurations must
    /// never read each other's slots as their own.
    pub table: u32,
    pub create: CreateCas,
    pub metrics: Metrics,
    pub names: PropertyNames,
}

#[derive(Default)]
pub struct RateLimitRoot {
    ready: Option<Rc<Ready>>,
    /// Batched cluster mode: this worker's syncer and the interval.
    sync: Option<(batched::Syncer, u64)>,
}

impl Context for RateLimitRoot {
    fn on_http_call_response(&mut self, token: u32, _: usize, body_size: usize, _: usize) {
        if let (Some(ready), Some((syncer, _))) = (&self.ready, &mut self.sync) {
            syncer.on_response(ready, token, body_size);
        }
    }
}

fn random_u64() -> u64 {
    // std's RandomState is seeded from WASI `random_get`.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(host::now_ms());
    h.finish()
}

/// The node's seed: read it, or create it (atomically, by the host's rule)
/// and read back whichever worker's seed won.
fn node_seed(create: CreateCas) -> Result<u64, Status> {
    for _ in 0..8 {
        if let Some((v, _)) = host::shared_get(SEED_KEY)? {
            if let Ok(bytes) = <[u8; 8]>::try_from(v.as_slice()) {
                return Ok(u64::from_le_bytes(bytes));
            }
        }
        match host::shared_set(SEED_KEY, &random_u64().to_le_bytes(), create.value()) {
            Ok(()) | Err(Status::CasMismatch) => continue,
            Err(s) => return Err(s),
        }
    }
    Err(Status::CasMismatch)
}

impl RootContext for RateLimitRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = match RateLimitConfig::from_json(&raw) {
            Ok(c) => c,
            Err(e) => {
                log::error!("rate-limit: invalid configuration: {e}");
                return false;
            }
        };
        if let Policy::Cluster {
            sync_rate: SyncRate::EveryMs(ms),
            ..
        } = config.policy()
        {
            let sliding = config
                .rules()
                .iter()
                .chain(config.default_rule())
                .any(|r| r.window_type() == WindowType::Sliding);
            if sliding {
                log::error!(
                    "rate-limit: invalid configuration: `window_type`: \"sliding\" needs `sync_rate: -1` with the cluster policy (batched sync counts fixed windows)"
                );
                return false;
            }
            let _ = hostcalls::set_tick_period(Duration::from_millis((*ms).max(1)));
            self.sync = Some((batched::Syncer::new(random_u64() | 1), *ms));
        }
        let create = CreateCas::detect("rl:cas-probe");
        let seed = match node_seed(create) {
            Ok(s) => s,
            Err(s) => {
                log::error!("rate-limit: shared data is not usable ({s:?}): counters need the host's shared key-value store");
                return false;
            }
        };
        // 16 bits of table per configuration, 16 for its rules.
        let table = (shared::ratelimit::key_hash(0, &raw) as u32) & 0xFFFF_0000;
        self.ready = Some(Rc::new(Ready {
            config,
            seed,
            table,
            create,
            metrics: Metrics::define(),
            names: PropertyNames::default(),
        }));
        true
    }

    fn on_tick(&mut self) {
        if let (Some(ready), Some((syncer, ms))) = (&self.ready, &mut self.sync) {
            syncer.tick(ready, *ms);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let ready = self.ready.clone()?;
        Some(Box::new(RateLimitStream::new(ready)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
