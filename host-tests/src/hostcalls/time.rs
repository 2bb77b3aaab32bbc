//! `proxy_get_current_time_nanoseconds`, `proxy_set_tick_period_milliseconds`.

use super::memory::{finish, write_u64, Call};
use crate::profile::HostProfile;
use crate::state::HostState;
use wasmtime::Linker;

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: Call<'_>, ret: i32| -> wasmtime::Result<i32> {
            let now = now_nanos(&c);
            finish(write_u64(&mut c, ret, now))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: Call<'_>, period: i32| -> wasmtime::Result<i32> {
            let period = period as u32 as u64;
            let now_ms = c.data().node.clock.now_ms();
            let s = c.data_mut();
            s.tick_period_ms = period;
            s.next_tick_ms = now_ms.saturating_add(period);
            Ok(0)
        },
    )?;
    Ok(())
}

/// The node's clock at the profile's resolution (nginx caches time in
/// milliseconds).
pub fn now_nanos(c: &Call<'_>) -> u64 {
    let node = &c.data().node;
    let res = node.profile.time_resolution_nanos();
    node.clock.now_nanos() / res * res
}
