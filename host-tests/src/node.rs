//! A data-plane node: one shared store, queues and metrics, and N worker
//! VMs per plugin — an Envoy process with its worker threads, or nginx with
//! its worker processes. Several nodes model several pods.

use crate::abi::LogLevel;
use crate::clock::Clock;
use crate::error::HostError;
use crate::logs::LogStore;
use crate::metrics::MetricStore;
use crate::plugin::{compile, Plugin, PluginSpec};
use crate::profile::HostProfile;
use crate::properties::{Properties, Value};
use crate::shared_data::{SharedData, SharedQueues};
use crate::state::WorkerEvent;
use crate::vm::Vm;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What all workers of a node share.
pub struct NodeShared {
    pub profile: HostProfile,
    pub clock: Clock,
    pub node_id: String,
    pub logs: LogStore,
    pub shared_data: SharedData,
    pub queues: SharedQueues,
    pub metrics: MetricStore,
    /// Kong: whether an `shm_kv` zone is configured.
    pub kong_shm_kv: bool,
    /// Envoy: cluster name → `host:port`.
    clusters: Mutex<HashMap<String, String>>,
    senders: Mutex<Vec<Sender<WorkerEvent>>>,
    log_level: AtomicU8,
    started: Instant,
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// Properties every plugin on this node sees (node.id, node.metadata.*).
    pub properties: Properties,
}

impl NodeShared {
    pub fn log_level(&self) -> LogLevel {
        LogLevel::from_i32(i32::from(self.log_level.load(Ordering::Relaxed)))
    }

    pub fn cluster(&self, name: &str) -> Option<String> {
        self.clusters.lock().ok()?.get(name).cloned()
    }

    /// The runtime callouts run on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    pub fn monotonic_nanos(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    pub fn send_event(&self, worker: u32, event: WorkerEvent) {
        if let Ok(senders) = self.senders.lock() {
            if let Some(s) = senders.get(worker as usize) {
                let _ = s.send(event);
            }
        }
    }
}

impl Drop for NodeShared {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Builds a [`Node`].
pub struct NodeBuilder {
    profile: HostProfile,
    workers: usize,
    clock: Clock,
    node_id: String,
    clusters: HashMap<String, String>,
    kong_shm_kv: bool,
    shm_capacity: Option<usize>,
    log_level: LogLevel,
    properties: Properties,
    handle: Option<tokio::runtime::Handle>,
}

impl NodeBuilder {
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn node_id(mut self, id: &str) -> Self {
        self.node_id = id.to_string();
        self
    }

    /// An Envoy cluster the plugins may call by name.
    pub fn cluster(mut self, name: &str, host_port: &str) -> Self {
        self.clusters
            .insert(name.to_string(), host_port.to_string());
        self
    }

    /// Kong without `nginx_wasm_shm_kv`: shared data traps.
    pub fn without_shm_kv(mut self) -> Self {
        self.kong_shm_kv = false;
        self
    }

    /// Kong's `shm_kv` zone size in bytes: past it, least recently used
    /// entries are evicted.
    pub fn shm_capacity(mut self, bytes: usize) -> Self {
        self.shm_capacity = Some(bytes);
        self
    }

    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = level;
        self
    }

    /// A node-wide property, e.g. `node.metadata.NAMESPACE`.
    pub fn property(mut self, path: &str, value: Value) -> Self {
        self.properties.set(path, value);
        self
    }

    /// Runs callouts on an existing runtime (the gateway's) instead of one
    /// of the node's own.
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    pub fn build(self) -> Result<Node, HostError> {
        let (runtime, handle) = match self.handle {
            Some(h) => (None, h),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        HostError::Usage(format!("cannot start the callout runtime: {e}"))
                    })?;
                let h = rt.handle().clone();
                (Some(rt), h)
            }
        };
        let mut properties = self.properties;
        if self.profile == HostProfile::Envoy {
            properties.set("node.id", Value::Str(self.node_id.clone()));
        }
        let shared = Arc::new(NodeShared {
            profile: self.profile,
            clock: self.clock,
            node_id: self.node_id,
            logs: LogStore::default(),
            shared_data: SharedData::new(
                self.profile.cas_rule(),
                if self.profile == HostProfile::Kong {
                    self.shm_capacity
                } else {
                    None
                },
            ),
            queues: SharedQueues::default(),
            metrics: MetricStore::default(),
            kong_shm_kv: self.kong_shm_kv,
            clusters: Mutex::new(self.clusters),
            senders: Mutex::new(Vec::new()),
            log_level: AtomicU8::new(self.log_level as u8),
            started: Instant::now(),
            runtime,
            handle,
            properties,
        });
        let mut workers = Vec::new();
        for id in 0..self.workers {
            let (tx, rx) = channel();
            if let Ok(mut s) = shared.senders.lock() {
                s.push(tx.clone());
            }
            workers.push(Worker {
                id: id as u32,
                node: shared.clone(),
                vms: Vec::new(),
                events: rx,
                sender: tx,
            });
        }
        Ok(Node {
            shared,
            workers,
            plugins: Vec::new(),
        })
    }
}

/// A loaded plugin, by its position in the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PluginId(pub usize);

/// A node with its workers.
pub struct Node {
    shared: Arc<NodeShared>,
    workers: Vec<Worker>,
    plugins: Vec<Arc<PluginSpec>>,
}

impl Node {
    /// A node of the given profile, one worker, a real clock.
    pub fn builder(profile: HostProfile) -> NodeBuilder {
        NodeBuilder {
            profile,
            workers: 1,
            clock: Clock::Real,
            node_id: "node-0".to_string(),
            clusters: HashMap::new(),
            kong_shm_kv: true,
            shm_capacity: None,
            log_level: LogLevel::Trace,
            properties: Properties::default(),
            handle: None,
        }
    }

    /// Loads a plugin into every worker: instantiate, start the VM,
    /// configure. Any worker's failure fails the load, with the plugin's
    /// own log lines in the error.
    pub fn load(&mut self, plugin: Plugin) -> Result<PluginId, HostError> {
        let module = compile(&plugin.name, &plugin.wasm)?;
        let mut properties = Properties::default();
        properties.set("plugin_name", Value::Str(plugin.name.clone()));
        properties.set("plugin_root_id", Value::Str(plugin.root_id.clone()));
        properties.set("plugin_vm_id", Value::Str(plugin.vm_id.clone()));
        for (k, v) in &plugin.properties {
            properties.set(k, v.clone());
        }
        let spec = Arc::new(PluginSpec {
            name: plugin.name,
            root_id: plugin.root_id,
            vm_id: plugin.vm_id,
            plugin_config: plugin.plugin_config,
            vm_config: plugin.vm_config,
            env: plugin.env,
            properties: properties.merged_over(&self.shared.properties),
            module,
        });
        let index = self.plugins.len();
        let mut started = Vec::new();
        for w in &self.workers {
            started.push(Vm::start(
                self.shared.clone(),
                spec.clone(),
                index,
                w.id,
                w.sender.clone(),
            )?);
        }
        for (w, vm) in self.workers.iter_mut().zip(started) {
            w.vms.push(vm);
        }
        self.plugins.push(spec);
        Ok(PluginId(index))
    }

    pub fn shared(&self) -> &Arc<NodeShared> {
        &self.shared
    }

    pub fn profile(&self) -> HostProfile {
        self.shared.profile
    }

    pub fn worker(&mut self, i: usize) -> &mut Worker {
        let n = self.workers.len();
        &mut self.workers[i % n]
    }

    pub fn workers_mut(&mut self) -> &mut [Worker] {
        &mut self.workers
    }

    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    pub fn logs(&self) -> &LogStore {
        &self.shared.logs
    }

    pub fn metrics(&self) -> &MetricStore {
        &self.shared.metrics
    }

    pub fn shared_data(&self) -> &SharedData {
        &self.shared.shared_data
    }

    /// Moves a virtual clock forward by `ms`, firing every tick that falls
    /// due on the way at its own time, worker by worker.
    pub fn advance_ms(&mut self, ms: u64) -> Result<(), HostError> {
        let Clock::Virtual(ns) = &self.shared.clock else {
            return Err(HostError::Usage("advance_ms needs a virtual clock".into()));
        };
        let target = self.shared.clock.now_ms() + ms;
        loop {
            let next = self
                .workers
                .iter()
                .flat_map(|w| w.vms.iter().filter_map(Vm::next_tick_ms))
                .filter(|t| *t <= target)
                .min();
            let Some(at) = next else { break };
            let at = at.max(self.shared.clock.now_ms());
            ns.store(at * 1_000_000, Ordering::SeqCst);
            for w in &mut self.workers {
                w.fire_due_ticks()?;
            }
        }
        ns.store(target * 1_000_000, Ordering::SeqCst);
        Ok(())
    }

    /// Waits (up to `timeout`) until no worker has a callout in flight,
    /// delivering each response as it arrives.
    pub fn settle(&mut self, timeout: Duration) -> Result<(), HostError> {
        let deadline = Instant::now() + timeout;
        for w in &mut self.workers {
            w.settle_until(deadline)?;
        }
        Ok(())
    }
}

/// One worker: a VM per loaded plugin, and the events addressed to them.
pub struct Worker {
    pub id: u32,
    pub(crate) node: Arc<NodeShared>,
    pub(crate) vms: Vec<Vm>,
    events: Receiver<WorkerEvent>,
    sender: Sender<WorkerEvent>,
}

impl Worker {
    pub fn node(&self) -> &Arc<NodeShared> {
        &self.node
    }

    /// The VM of a plugin, for direct callback tests.
    pub fn vm(&mut self, plugin: PluginId) -> Option<&mut Vm> {
        self.vms.get_mut(plugin.0)
    }

    /// Delivers events already waiting, or waits up to `wait` for one.
    /// Answers how many were delivered.
    pub fn process_events(&mut self, wait: Option<Duration>) -> Result<usize, HostError> {
        let mut n = 0;
        let first = match wait {
            Some(d) => match self.events.recv_timeout(d) {
                Ok(e) => Some(e),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
            },
            None => self.events.try_recv().ok(),
        };
        let mut next = first;
        while let Some(event) = next {
            self.dispatch(event)?;
            n += 1;
            next = self.events.try_recv().ok();
        }
        Ok(n)
    }

    fn dispatch(&mut self, event: WorkerEvent) -> Result<(), HostError> {
        match event {
            WorkerEvent::CallDone {
                plugin,
                token,
                result,
            } => match self.vms.get_mut(plugin) {
                Some(vm) => vm.deliver_call(token, result),
                None => Ok(()),
            },
            WorkerEvent::QueueReady {
                plugin,
                context_id,
                queue_id,
            } => match self.vms.get_mut(plugin) {
                Some(vm) => vm.queue_ready(context_id, queue_id),
                None => Ok(()),
            },
        }
    }

    /// Fires `on_tick` on every VM whose period has come round.
    pub fn fire_due_ticks(&mut self) -> Result<(), HostError> {
        let now = self.node.clock.now_ms();
        for vm in &mut self.vms {
            vm.tick_if_due(now)?;
        }
        Ok(())
    }

    /// Callouts in flight from this worker.
    pub fn pending_calls(&self) -> usize {
        self.vms.iter().map(Vm::pending_calls).sum()
    }

    pub fn settle_until(&mut self, deadline: Instant) -> Result<(), HostError> {
        while self.pending_calls() > 0 {
            let now = Instant::now();
            if now >= deadline {
                return Err(HostError::Usage(format!(
                    "worker {} still has {} callout(s) in flight",
                    self.id,
                    self.pending_calls()
                )));
            }
            self.process_events(Some((deadline - now).min(Duration::from_millis(50))))?;
        }
        self.process_events(None)?;
        Ok(())
    }
}
