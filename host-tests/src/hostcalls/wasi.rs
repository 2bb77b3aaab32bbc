//! The part of WASI preview 1 that proxy-wasm hosts provide.
//!
//! Envoy implements a small subset of `wasi_snapshot_preview1` itself
//! rather than a full WASI: stdout/stderr go to the log, the environment
//! is `vm_config.environment_variables`, there is no file system. This host
//! does the same, so a plugin that needs more fails here as it would there.

use super::logging::log_line;
use super::memory::{read, write, write_u32, write_u64, Call, Fail};
use crate::abi::LogLevel;
use crate::profile::HostProfile;
use crate::state::HostState;
use wasmtime::Linker;

const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const FAULT: i32 = 21;
const INVAL: i32 = 28;
const NOTSUP: i32 = 58;

fn errno(r: Result<(), Fail>) -> wasmtime::Result<i32> {
    match r {
        Ok(()) => Ok(SUCCESS),
        Err(Fail::Status(_)) => Ok(FAULT),
        Err(Fail::Trap(e)) => Err(e),
    }
}

const M: &str = "wasi_snapshot_preview1";

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        M,
        "fd_write",
        |mut c: Call<'_>, fd: i32, iovs: i32, n: i32, ret: i32| -> wasmtime::Result<i32> {
            if fd != 1 && fd != 2 {
                return Ok(BADF);
            }
            errno((|| {
                let mut out = Vec::new();
                for i in 0..n.max(0) {
                    let iov = read(&mut c, iovs + i * 8, 8)?;
                    let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
                    let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
                    out.extend(read(&mut c, ptr, len)?);
                }
                let level = if fd == 1 {
                    LogLevel::Info
                } else {
                    LogLevel::Error
                };
                let text = String::from_utf8_lossy(&out);
                let text = text.trim_end_matches('\n');
                if !text.is_empty() {
                    log_line(&c, level, text.as_bytes());
                }
                write_u32(&mut c, ret, out.len() as u32)
            })())
        },
    )?;
    linker.func_wrap(
        M,
        "fd_read",
        |_: Call<'_>, _: i32, _: i32, _: i32, _: i32| Ok(BADF),
    )?;
    linker.func_wrap(M, "fd_close", |_: Call<'_>, _: i32| Ok(BADF))?;
    linker.func_wrap(
        M,
        "fd_seek",
        |_: Call<'_>, _: i32, _: i64, _: i32, _: i32| Ok(BADF),
    )?;
    linker.func_wrap(
        M,
        "fd_fdstat_get",
        |mut c: Call<'_>, fd: i32, ret: i32| -> wasmtime::Result<i32> {
            if fd != 1 && fd != 2 {
                return Ok(BADF);
            }
            // filetype CHARACTER_DEVICE (2), no flags, rights: fd_write only.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            stat[8..16].copy_from_slice(&(1u64 << 6).to_le_bytes());
            errno(write(&mut c, ret, &stat))
        },
    )?;
    linker.func_wrap(M, "fd_prestat_get", |_: Call<'_>, _: i32, _: i32| Ok(BADF))?;
    linker.func_wrap(
        M,
        "fd_prestat_dir_name",
        |_: Call<'_>, _: i32, _: i32, _: i32| Ok(NOTSUP),
    )?;
    linker.func_wrap(
        M,
        "args_sizes_get",
        |mut c: Call<'_>, argc: i32, size: i32| -> wasmtime::Result<i32> {
            errno(write_u32(&mut c, argc, 0).and_then(|_| write_u32(&mut c, size, 0)))
        },
    )?;
    linker.func_wrap(M, "args_get", |_: Call<'_>, _: i32, _: i32| Ok(SUCCESS))?;
    linker.func_wrap(
        M,
        "environ_sizes_get",
        |mut c: Call<'_>, count: i32, size: i32| -> wasmtime::Result<i32> {
            let env = environ(&c);
            let total: usize = env.iter().map(|e| e.len() + 1).sum();
            errno(
                write_u32(&mut c, count, env.len() as u32)
                    .and_then(|_| write_u32(&mut c, size, total as u32)),
            )
        },
    )?;
    linker.func_wrap(
        M,
        "environ_get",
        |mut c: Call<'_>, ptrs: i32, buf: i32| -> wasmtime::Result<i32> {
            let env = environ(&c);
            errno((|| {
                let mut at = buf;
                for (i, e) in env.iter().enumerate() {
                    write_u32(&mut c, ptrs + 4 * i as i32, at as u32)?;
                    write(&mut c, at, e.as_bytes())?;
                    write(&mut c, at + e.len() as i32, &[0])?;
                    at += e.len() as i32 + 1;
                }
                Ok(())
            })())
        },
    )?;
    linker.func_wrap(
        M,
        "clock_time_get",
        |mut c: Call<'_>, id: i32, _precision: i64, ret: i32| -> wasmtime::Result<i32> {
            let now = match id {
                0 => super::time::now_nanos(&c),
                1 => c.data().node.monotonic_nanos(),
                _ => return Ok(INVAL),
            };
            errno(write_u64(&mut c, ret, now))
        },
    )?;
    // Not declared by ngx_wasm_module: a module importing it fails to load
    // there, as under the Kong profile.
    if _profile == HostProfile::Envoy {
        linker.func_wrap(
            M,
            "clock_res_get",
            |mut c: Call<'_>, _id: i32, ret: i32| -> wasmtime::Result<i32> {
                errno(write_u64(&mut c, ret, 1))
            },
        )?;
    }
    linker.func_wrap(
        M,
        "random_get",
        |mut c: Call<'_>, buf: i32, len: i32| -> wasmtime::Result<i32> {
            let mut bytes = vec![0u8; len.max(0) as usize];
            if getrandom::fill(&mut bytes).is_err() {
                return Ok(FAULT);
            }
            errno(write(&mut c, buf, &bytes))
        },
    )?;
    linker.func_wrap(M, "sched_yield", |_: Call<'_>| Ok(SUCCESS))?;
    linker.func_wrap(
        M,
        "poll_oneoff",
        |_: Call<'_>, _: i32, _: i32, _: i32, _: i32| Ok(NOTSUP),
    )?;
    linker.func_wrap(
        M,
        "proc_exit",
        |_: Call<'_>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::format_err!("the plugin called proc_exit({code})"))
        },
    )?;
    Ok(())
}

fn environ(c: &Call<'_>) -> Vec<String> {
    c.data()
        .plugin
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}
