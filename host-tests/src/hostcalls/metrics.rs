//! `proxy_define_metric`, `proxy_increment_metric`, `proxy_record_metric`,
//! `proxy_get_metric`.

use super::memory::{finish, read_str, trap, write_u32, write_u64, Call, Fail};
use crate::abi::{MetricType, Status};
use crate::metrics::MetricMisuse;
use crate::profile::HostProfile;
use crate::state::HostState;
use wasmtime::Linker;

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Call<'_>, kind: i32, np: i32, nl: i32, ret: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let kind = MetricType::from_i32(kind).ok_or(Status::BadArgument)?;
                let name = read_str(&mut c, np, nl)?;
                let id = c.data().node.metrics.define(kind, &name)?;
                write_u32(&mut c, ret, id)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |c: Call<'_>, id: i32, offset: i64| -> wasmtime::Result<i32> {
            finish((|| {
                let node = &c.data().node;
                if node.profile.traps_on_unsupported_calls()
                    && node.metrics.kind(id as u32) == Some(MetricType::Gauge)
                {
                    return Err(trap(
                        "attempt to increment a gauge (ngx_wasm_module traps here)",
                    ));
                }
                node.metrics.increment(id as u32, offset).map_err(misuse)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |c: Call<'_>, id: i32, value: i64| -> wasmtime::Result<i32> {
            finish(
                c.data()
                    .node
                    .metrics
                    .record(id as u32, value as u64)
                    .map_err(misuse),
            )
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: Call<'_>, id: i32, ret: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let node = c.data().node.clone();
                if node.profile.traps_on_unsupported_calls()
                    && node.metrics.kind(id as u32) == Some(MetricType::Histogram)
                {
                    return Err(trap(
                        "attempt to get a histogram (ngx_wasm_module traps here)",
                    ));
                }
                let v = node.metrics.get(id as u32).map_err(misuse)?;
                write_u64(&mut c, ret, v)
            })())
        },
    )?;
    Ok(())
}

fn misuse(m: MetricMisuse) -> Fail {
    match m {
        MetricMisuse::UnknownId => Fail::Status(Status::NotFound),
        MetricMisuse::WrongKind => Fail::Status(Status::BadArgument),
    }
}
