//! A native proxy-wasm host (ABI v0.2.1) on wasmtime, for testing plugins
//! as Envoy and Kong's ngx_wasm_module would run them.
//!
//! - [`Node`]: one shared-data store, queues and metrics, N worker VMs per
//!   plugin. Several nodes model several gateway pods.
//! - [`HostProfile`]: every place Envoy and ngx_wasm_module differ.
//! - [`Worker::run`]: one HTTP stream through a filter chain, returning
//!   what the client and the upstream saw ([`Exchange`]).
//!
//! See `README.md` for the table of ABI functions and their tests.

pub mod abi;
pub mod callouts;
pub mod clock;
pub mod error;
pub mod gateway;
pub mod hostcalls;
pub mod logs;
pub mod metrics;
pub mod node;
pub mod plugin;
pub mod profile;
pub mod properties;
pub mod registry;
pub mod services;
pub mod shared_data;
pub mod state;
pub mod stream;
pub mod vm;

pub use abi::LogLevel;
pub use clock::Clock;
pub use error::HostError;
pub use node::{Node, NodeBuilder, PluginId, Worker};
pub use plugin::Plugin;
pub use profile::HostProfile;
pub use properties::Value;
pub use stream::{Exchange, Request, Response, UpstreamRequest};
