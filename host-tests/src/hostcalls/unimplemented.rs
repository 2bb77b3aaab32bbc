//! gRPC and foreign functions: answered with `UNIMPLEMENTED` and logged,
//! never a trap, so a plugin that probes for them keeps running.
//!
//! (ngx_wasm_module traps on gRPC calls; our plugins never make them, and a
//! host that traps would hide the rest of a test's findings.)

use super::logging::log_line;
use super::memory::Call;
use crate::abi::{LogLevel, Status};
use crate::profile::HostProfile;
use crate::state::HostState;
use wasmtime::Linker;

fn refuse(c: &Call<'_>, name: &str) -> wasmtime::Result<i32> {
    let msg = format!("host: {name} is not implemented by this host; answered UNIMPLEMENTED");
    log_line(c, LogLevel::Warn, msg.as_bytes());
    Ok(Status::Unimplemented as i32)
}

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |c: Call<'_>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32| { refuse(&c, "proxy_grpc_call") },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |c: Call<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| {
            refuse(&c, "proxy_grpc_stream")
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_send",
        |c: Call<'_>, _: i32, _: i32, _: i32, _: i32| refuse(&c, "proxy_grpc_send"),
    )?;
    linker.func_wrap("env", "proxy_grpc_cancel", |c: Call<'_>, _: i32| {
        refuse(&c, "proxy_grpc_cancel")
    })?;
    linker.func_wrap("env", "proxy_grpc_close", |c: Call<'_>, _: i32| {
        refuse(&c, "proxy_grpc_close")
    })?;
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |c: Call<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| {
            refuse(&c, "proxy_call_foreign_function")
        },
    )?;
    Ok(())
}
