//! Shared data and shared queues.

use super::memory::{finish, read, read_str, return_bytes, trap, write_u32, Call, Fail};
use crate::abi::Status;
use crate::profile::HostProfile;
use crate::shared_data::QueueOwner;
use crate::state::{HostState, WorkerEvent};
use wasmtime::Linker;

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Call<'_>,
         kp: i32,
         kl: i32,
         ret_data: i32,
         ret_size: i32,
         ret_cas: i32|
         -> wasmtime::Result<i32> {
            finish((|| {
                let key = read_str(&mut c, kp, kl)?;
                require_zone(&c)?;
                let (value, cas) = c.data().node.shared_data.get(&key)?;
                return_bytes(&mut c, &value, ret_data, ret_size)?;
                write_u32(&mut c, ret_cas, cas)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: Call<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let key = read_str(&mut c, kp, kl)?;
                let value = read(&mut c, vp, vl)?;
                require_zone(&c)?;
                match c.data().node.shared_data.set(&key, &value, cas as u32) {
                    Status::Ok => Ok(()),
                    s => Err(Fail::Status(s)),
                }
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: Call<'_>, np: i32, nl: i32, ret: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let name = read_str(&mut c, np, nl)?;
                let s = c.data();
                let owner = QueueOwner {
                    worker: s.worker,
                    plugin: s.plugin_index,
                    // on_queue_ready goes to the plugin's root context.
                    context_id: s.root_context_id,
                };
                let id = s.node.queues.register(&s.plugin.vm_id, &name, owner);
                write_u32(&mut c, ret, id)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: Call<'_>, vp: i32, vl: i32, np: i32, nl: i32, ret: i32| -> wasmtime::Result<i32> {
            finish((|| {
                if c.data().node.profile.traps_on_unsupported_calls() {
                    return Err(trap(
                        "NYI - \"proxy_resolve_shared_queue\" (ngx_wasm_module traps here)",
                    ));
                }
                let vm_id = read_str(&mut c, vp, vl)?;
                let name = read_str(&mut c, np, nl)?;
                let id = c
                    .data()
                    .node
                    .queues
                    .resolve(&vm_id, &name)
                    .ok_or(Status::NotFound)?;
                write_u32(&mut c, ret, id)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: Call<'_>, id: i32, vp: i32, vl: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let value = read(&mut c, vp, vl)?;
                let node = c.data().node.clone();
                let owner = node.queues.enqueue(id as u32, &value)?;
                if node.profile.calls_on_queue_ready() {
                    node.send_event(
                        owner.worker,
                        WorkerEvent::QueueReady {
                            plugin: owner.plugin,
                            context_id: owner.context_id,
                            queue_id: id as u32,
                        },
                    );
                }
                Ok(())
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: Call<'_>, id: i32, ret_data: i32, ret_size: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let item = c.data().node.queues.dequeue(id as u32)?;
                return_bytes(&mut c, &item, ret_data, ret_size)
            })())
        },
    )?;
    Ok(())
}

/// ngx_wasm_module traps the instance when no `shm_kv` zone is configured.
fn require_zone(c: &Call<'_>) -> Result<(), Fail> {
    let node = &c.data().node;
    if node.profile == HostProfile::Kong && !node.kong_shm_kv {
        return Err(trap(
            "could not resolve namespace: no shm_kv zone (configure `shm_kv * 1m;` or Kong's `nginx_wasm_shm_kv`)",
        ));
    }
    Ok(())
}
