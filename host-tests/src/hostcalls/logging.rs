//! `proxy_log`, `proxy_get_log_level`.

use super::memory::{finish, read, write_u32, Call};
use crate::abi::LogLevel;
use crate::logs::LogLine;
use crate::profile::HostProfile;
use crate::state::HostState;
use wasmtime::Linker;

pub fn link(linker: &mut Linker<HostState>, profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: Call<'_>, level: i32, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let msg = read(&mut c, ptr, len)?;
                log_line(&c, LogLevel::from_i32(level), &msg);
                Ok(())
            })())
        },
    )?;
    if profile.get_log_level_has_abi_signature() {
        linker.func_wrap(
            "env",
            "proxy_get_log_level",
            |mut c: Call<'_>, ret: i32| -> wasmtime::Result<i32> {
                let level = c.data().node.log_level() as u32;
                finish(write_u32(&mut c, ret, level))
            },
        )?;
    } else {
        // ngx_wasm_module declares this import as (i32, i32) -> i32: a
        // module that imports the ABI's (i32) -> i32 fails to instantiate,
        // as there.
        linker.func_wrap(
            "env",
            "proxy_get_log_level",
            |c: Call<'_>, _: i32, _: i32| -> wasmtime::Result<i32> {
                Ok(c.data().node.log_level() as i32)
            },
        )?;
    }
    Ok(())
}

/// Records a line if the node's level lets it through, as hosts filter.
pub fn log_line(c: &Call<'_>, level: LogLevel, msg: &[u8]) {
    let s = c.data();
    if level < s.node.log_level() {
        return;
    }
    s.node.logs.push(LogLine {
        plugin: s.plugin.name.clone(),
        worker: s.worker,
        level,
        message: String::from_utf8_lossy(msg).into_owned(),
    });
}
