//! One plugin instance in one worker: instantiation as the spec orders it,
//! and every `proxy_on_*` callback.

use crate::callouts::CallResult;
use crate::error::HostError;
use crate::hostcalls;
use crate::node::NodeShared;
use crate::plugin::{engine, PluginSpec};
use crate::properties::Properties;
use crate::state::{HostState, Phase, StreamRef, WorkerEvent};
use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use wasmtime::{Instance, Linker, Store, Val};

/// The root context id each VM gives its plugin context.
pub const ROOT_CONTEXT_ID: u32 = 1;

/// A plugin's action from a stream callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

pub struct Vm {
    store: Store<HostState>,
    instance: Instance,
    pub plugin: Arc<PluginSpec>,
    next_context_id: u32,
    broken: Option<String>,
}

impl Vm {
    /// Instantiates the plugin and brings its root context up: `_initialize`
    /// (or `_start`), `proxy_on_context_create`, `proxy_on_vm_start`,
    /// `proxy_on_configure`. A false from the last two is a config error.
    pub fn start(
        node: Arc<NodeShared>,
        plugin: Arc<PluginSpec>,
        plugin_index: usize,
        worker: u32,
        events: Sender<WorkerEvent>,
    ) -> Result<Vm, HostError> {
        let load_err = |message: String| HostError::Load {
            plugin: plugin.name.clone(),
            message,
        };
        let mut linker = Linker::new(engine());
        hostcalls::link(&mut linker, node.profile).map_err(|e| load_err(format!("{e:#}")))?;
        let mut store = Store::new(
            engine(),
            HostState {
                node: node.clone(),
                plugin: plugin.clone(),
                plugin_index,
                worker,
                root_context_id: ROOT_CONTEXT_ID,
                effective_context: ROOT_CONTEXT_ID,
                phase: Phase::Start,
                streams: HashMap::new(),
                tick_period_ms: 0,
                next_tick_ms: 0,
                next_token: 1,
                calls: HashMap::new(),
                call_response: None,
                root_properties: Properties::default(),
                foreign_args: Vec::new(),
                events,
                done_called: false,
                memory: None,
                alloc: None,
            },
        );
        let instance = linker
            .instantiate(&mut store, &plugin.module)
            .map_err(|e| load_err(format!("{e:#} (under the {} profile)", node.profile.name())))?;
        if instance.get_memory(&mut store, "memory").is_none() {
            return Err(load_err("the module exports no `memory`".into()));
        }
        if instance
            .get_func(&mut store, "proxy_abi_version_0_2_1")
            .is_none()
        {
            return Err(load_err(
                "the module does not export `proxy_abi_version_0_2_1`: it was not built for proxy-wasm ABI v0.2.1".into(),
            ));
        }
        if instance
            .get_func(&mut store, "proxy_on_memory_allocate")
            .is_none()
            && instance.get_func(&mut store, "malloc").is_none()
        {
            return Err(load_err(
                "the module exports neither `proxy_on_memory_allocate` nor `malloc`".into(),
            ));
        }
        let memory = instance.get_memory(&mut store, "memory");
        let alloc = ["proxy_on_memory_allocate", "malloc"]
            .iter()
            .find_map(|name| instance.get_typed_func::<i32, i32>(&mut store, name).ok());
        if alloc.is_none() {
            return Err(load_err(
                "the allocation export has the wrong signature (expected (i32) -> i32)".into(),
            ));
        }
        store.data_mut().memory = memory;
        store.data_mut().alloc = alloc;
        let mut vm = Vm {
            store,
            instance,
            plugin,
            next_context_id: ROOT_CONTEXT_ID + 1,
            broken: None,
        };
        // A WASI reactor exports `_initialize`; a command exports `_start`.
        let init = if vm.has("_initialize") {
            "_initialize"
        } else {
            "_start"
        };
        vm.call(init, Phase::Start, ROOT_CONTEXT_ID, &[])?;
        vm.call(
            "proxy_on_context_create",
            Phase::Start,
            ROOT_CONTEXT_ID,
            &[Val::I32(ROOT_CONTEXT_ID as i32), Val::I32(0)],
        )?;
        let mark = node.logs.len();
        let vm_config_len = vm.plugin.vm_config.len() as i32;
        if vm.call_bool("proxy_on_vm_start", Phase::VmStart, vm_config_len)? == Some(false) {
            return Err(vm.config_error("proxy_on_vm_start", mark));
        }
        let config_len = vm.plugin.plugin_config.len() as i32;
        if vm.call_bool("proxy_on_configure", Phase::Configure, config_len)? == Some(false) {
            return Err(vm.config_error("proxy_on_configure", mark));
        }
        Ok(vm)
    }

    fn config_error(&self, callback: &'static str, mark: usize) -> HostError {
        let name = &self.plugin.name;
        HostError::Config {
            plugin: name.clone(),
            callback,
            logs: self
                .store
                .data()
                .node
                .logs
                .since(mark)
                .into_iter()
                .filter(|l| &l.plugin == name && l.worker == self.store.data().worker)
                .collect(),
        }
    }

    fn has(&mut self, export: &str) -> bool {
        self.instance.get_func(&mut self.store, export).is_some()
    }

    fn call_bool(
        &mut self,
        name: &'static str,
        phase: Phase,
        size: i32,
    ) -> Result<Option<bool>, HostError> {
        Ok(self
            .call(
                name,
                phase,
                ROOT_CONTEXT_ID,
                &[Val::I32(ROOT_CONTEXT_ID as i32), Val::I32(size)],
            )?
            .map(|v| v != 0))
    }

    /// Calls an export if the plugin has it; `None` when it has not or it
    /// returns nothing. A trap takes the VM out of service.
    pub fn call(
        &mut self,
        name: &str,
        phase: Phase,
        context: u32,
        args: &[Val],
    ) -> Result<Option<i32>, HostError> {
        if let Some(detail) = &self.broken {
            return Err(HostError::Broken {
                plugin: self.plugin.name.clone(),
                detail: detail.clone(),
            });
        }
        let Some(func) = self.instance.get_func(&mut self.store, name) else {
            return Ok(None);
        };
        let n_results = func.ty(&self.store).results().len();
        let mut results = vec![Val::I32(0); n_results];
        {
            let s = self.store.data_mut();
            s.phase = phase;
            s.effective_context = context;
        }
        if let Err(e) = func.call(&mut self.store, args, &mut results) {
            // The wasm backtrace, without the host's own native stack.
            let full = format!("{e:?}");
            let detail = full
                .split("\n\nStack backtrace:")
                .next()
                .unwrap_or(&full)
                .to_string();
            self.broken = Some(format!("{name}: {e}"));
            return Err(HostError::Trap {
                plugin: self.plugin.name.clone(),
                callback: name.to_string(),
                detail,
            });
        }
        Ok(results.first().and_then(Val::i32))
    }

    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Creates a stream context bound to `stream`.
    pub fn create_stream(&mut self, stream: StreamRef) -> Result<u32, HostError> {
        let id = self.next_context_id;
        self.next_context_id += 1;
        self.store.data_mut().streams.insert(id, stream);
        self.call(
            "proxy_on_context_create",
            Phase::Start,
            id,
            &[Val::I32(id as i32), Val::I32(ROOT_CONTEXT_ID as i32)],
        )?;
        Ok(id)
    }

    /// Calls a stream callback that returns an action.
    pub fn stream_call(
        &mut self,
        name: &str,
        phase: Phase,
        ctx: u32,
        args: &[i32],
    ) -> Result<Action, HostError> {
        let mut vals = vec![Val::I32(ctx as i32)];
        vals.extend(args.iter().map(|a| Val::I32(*a)));
        Ok(match self.call(name, phase, ctx, &vals)? {
            Some(crate::abi::action::PAUSE) => Action::Pause,
            _ => Action::Continue,
        })
    }

    /// `on_log`, `on_done`, `on_delete`, and forgets the context.
    pub fn finish_stream(&mut self, ctx: u32) -> Result<(), HostError> {
        let c = Val::I32(ctx as i32);
        let r = self
            .call("proxy_on_log", Phase::Log, ctx, std::slice::from_ref(&c))
            .and_then(|_| self.call("proxy_on_done", Phase::Done, ctx, std::slice::from_ref(&c)))
            .and_then(|_| {
                self.call(
                    "proxy_on_delete",
                    Phase::Delete,
                    ctx,
                    std::slice::from_ref(&c),
                )
            });
        self.store.data_mut().streams.remove(&ctx);
        r.map(|_| ())
    }

    /// Delivers a callout's outcome to the context that dispatched it.
    pub fn deliver_call(&mut self, token: u32, mut result: CallResult) -> Result<(), HostError> {
        let Some(ctx) = self.store.data_mut().calls.remove(&token) else {
            return Ok(());
        };
        // The stream may have ended meanwhile; Envoy drops such responses.
        if ctx != ROOT_CONTEXT_ID && !self.store.data().streams.contains_key(&ctx) {
            return Ok(());
        }
        if result.status.is_none()
            && self
                .store
                .data()
                .node
                .profile
                .failed_callout_has_dispatch_status()
        {
            let reason = result
                .failure
                .as_deref()
                .and_then(|f| f.split(':').next())
                .unwrap_or("broken connection")
                .to_string();
            result.headers = vec![(":dispatch_status".to_string(), reason.into_bytes())];
        }
        let (nh, nb, nt) = (
            result.headers.len() as i32,
            result.body.len() as i32,
            result.trailers.len() as i32,
        );
        self.store.data_mut().call_response = Some(result);
        let r = self.call(
            "proxy_on_http_call_response",
            Phase::HttpCallResponse,
            ctx,
            &[
                Val::I32(ctx as i32),
                Val::I32(token as i32),
                Val::I32(nh),
                Val::I32(nb),
                Val::I32(nt),
            ],
        );
        self.store.data_mut().call_response = None;
        r.map(|_| ())
    }

    pub fn queue_ready(&mut self, ctx: u32, queue_id: u32) -> Result<(), HostError> {
        self.call(
            "proxy_on_queue_ready",
            Phase::QueueReady,
            ctx,
            &[Val::I32(ctx as i32), Val::I32(queue_id as i32)],
        )
        .map(|_| ())
    }

    /// Fires `on_tick` when its period has come round at `now_ms`.
    pub fn tick_if_due(&mut self, now_ms: u64) -> Result<bool, HostError> {
        let s = self.store.data();
        if s.tick_period_ms == 0 || now_ms < s.next_tick_ms {
            return Ok(false);
        }
        let period = s.tick_period_ms;
        self.store.data_mut().next_tick_ms = now_ms + period;
        self.call(
            "proxy_on_tick",
            Phase::Tick,
            ROOT_CONTEXT_ID,
            &[Val::I32(ROOT_CONTEXT_ID as i32)],
        )?;
        Ok(true)
    }

    /// When the next tick is due, if a period is set.
    pub fn next_tick_ms(&self) -> Option<u64> {
        let s = self.store.data();
        (s.tick_period_ms > 0).then_some(s.next_tick_ms)
    }

    pub fn tick_period_ms(&self) -> u64 {
        self.store.data().tick_period_ms
    }

    /// Callouts dispatched and not yet answered.
    pub fn pending_calls(&self) -> usize {
        self.store.data().calls.len()
    }

    /// Whether the plugin called `proxy_done`.
    pub fn done_called(&self) -> bool {
        self.store.data().done_called
    }

    /// Calls `proxy_on_foreign_function` (hosts with foreign functions call
    /// back into the plugin this way).
    pub fn foreign_function(&mut self, function_id: u32, args: &[u8]) -> Result<(), HostError> {
        self.store.data_mut().foreign_args = args.to_vec();
        self.call(
            "proxy_on_foreign_function",
            Phase::ForeignFunction,
            ROOT_CONTEXT_ID,
            &[
                Val::I32(ROOT_CONTEXT_ID as i32),
                Val::I32(function_id as i32),
                Val::I32(args.len() as i32),
            ],
        )
        .map(|_| ())
    }
}
