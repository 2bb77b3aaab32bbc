//! Host functions, grouped by concern; `link` adds them all to a linker.

pub mod buffers;
pub mod context;
pub mod headers;
pub mod http_call;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod properties;
pub mod shared;
pub mod time;
pub mod unimplemented;
pub mod wasi;

use crate::profile::HostProfile;
use crate::state::HostState;
use wasmtime::Linker;

/// Every host function of ABI v0.2.1 plus the WASI subset, as `profile`'s
/// host declares them.
pub fn link(linker: &mut Linker<HostState>, profile: HostProfile) -> wasmtime::Result<()> {
    logging::link(linker, profile)?;
    time::link(linker, profile)?;
    buffers::link(linker, profile)?;
    headers::link(linker, profile)?;
    context::link(linker, profile)?;
    http_call::link(linker, profile)?;
    shared::link(linker, profile)?;
    metrics::link(linker, profile)?;
    properties::link(linker, profile)?;
    unimplemented::link(linker, profile)?;
    wasi::link(linker, profile)?;
    Ok(())
}
