//! rate-limit: the proxy-wasm glue of the rate-limit plugin.
//!
//! The root context turns the JSON configuration into a ready
//! [`shared::ratelimit::RateLimitConfig`] once; each stream reads a few
//! request facts, asks `shared` for a decision and acts on it. Host calls go
//! through [`host`], which never unwraps a host status.

mod batched;
mod cluster;
mod facts;
mod host;
mod local;
mod metrics;
mod root;
mod stream;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    // Also installs a panic hook that logs at critical level before the
    // abort, so a bug shows in the host's log rather than as a bare trap.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::RateLimitRoot::default()) });
}}
