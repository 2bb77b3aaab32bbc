//! What a worker VM's host functions can see: the node, the plugin, the
//! contexts and the callback under way.

use crate::callouts::CallResult;
use crate::node::NodeShared;
use crate::plugin::PluginSpec;
use crate::properties::Properties;
use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// The callback the host is in, which decides what host calls may do (a
/// request property in `on_tick` is refused by ngx_wasm_module, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Start,
    VmStart,
    Configure,
    Tick,
    QueueReady,
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
    HttpCallResponse,
    Log,
    Done,
    Delete,
    ForeignFunction,
}

impl Phase {
    /// Phases in which a request is at hand for property reads.
    pub fn in_request(self) -> bool {
        !matches!(
            self,
            Phase::Start | Phase::VmStart | Phase::Configure | Phase::Tick | Phase::QueueReady
        )
    }
}

/// A local response a plugin sent with `proxy_send_local_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub details: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub grpc_status: i32,
}

/// One HTTP stream's host-side state, shared by every plugin of a chain.
#[derive(Debug, Default)]
pub struct StreamData {
    pub request_headers: Vec<(String, Vec<u8>)>,
    pub request_body: Vec<u8>,
    pub request_trailers: Vec<(String, Vec<u8>)>,
    pub response_headers: Vec<(String, Vec<u8>)>,
    pub response_body: Vec<u8>,
    pub response_trailers: Vec<(String, Vec<u8>)>,
    /// Request-scoped properties (and what plugins set with
    /// `proxy_set_property`).
    pub properties: Properties,
    pub local_response: Option<LocalResponse>,
    /// `proxy_continue_stream` was called for the request or response.
    pub resume_request: bool,
    pub resume_response: bool,
    pub closed: bool,
    /// Headers a plugin removed under the Kong profile: ngx_wasm_module does
    /// not carry such removals to the upstream.
    pub removed_request_headers: Vec<(String, Vec<u8>)>,
    /// Length of the request body as received, for Kong's truncation of a
    /// longer replacement.
    pub original_request_body_len: Option<usize>,
}

/// A shared handle on a stream.
pub type StreamRef = Arc<Mutex<StreamData>>;

/// An event a worker must deliver to one of its VMs.
#[derive(Debug)]
pub enum WorkerEvent {
    CallDone {
        plugin: usize,
        token: u32,
        result: CallResult,
    },
    QueueReady {
        plugin: usize,
        context_id: u32,
        queue_id: u32,
    },
}

/// The store data of one VM (one plugin in one worker).
pub struct HostState {
    pub node: Arc<NodeShared>,
    pub plugin: Arc<PluginSpec>,
    pub plugin_index: usize,
    pub worker: u32,
    pub root_context_id: u32,
    /// The context host calls act on (`proxy_set_effective_context`).
    pub effective_context: u32,
    pub phase: Phase,
    pub streams: HashMap<u32, StreamRef>,
    pub tick_period_ms: u64,
    pub next_tick_ms: u64,
    pub next_token: u32,
    /// Callout token → context that dispatched it.
    pub calls: HashMap<u32, u32>,
    /// The callout response being delivered, in `on_http_call_response`.
    pub call_response: Option<CallResult>,
    /// Root-level properties set by the plugin outside a request.
    pub root_properties: Properties,
    pub foreign_args: Vec<u8>,
    pub events: Sender<WorkerEvent>,
    /// Set by `proxy_done`.
    pub done_called: bool,
    /// The plugin's memory and allocator, looked up once after
    /// instantiation (every host call that returns data uses them).
    pub memory: Option<wasmtime::Memory>,
    pub alloc: Option<wasmtime::TypedFunc<i32, i32>>,
}

impl HostState {
    /// The stream of the effective context, if it is a stream context.
    pub fn stream(&self) -> Option<StreamRef> {
        self.streams.get(&self.effective_context).cloned()
    }
}
