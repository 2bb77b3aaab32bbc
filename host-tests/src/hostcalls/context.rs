//! Stream control and context functions: `proxy_continue_stream`,
//! `proxy_close_stream`, `proxy_send_local_response`, `proxy_done`,
//! `proxy_set_effective_context`, `proxy_get_status`.

use super::memory::{finish, read, read_str, return_bytes, trap, write_u32, Call, Fail};
use crate::abi::{deserialize_map, stream, Status};
use crate::profile::HostProfile;
use crate::state::{HostState, LocalResponse};
use wasmtime::Linker;

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |c: Call<'_>, kind: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let st = c.data().stream().ok_or(Status::NotFound)?;
                let mut st = st.lock().map_err(|_| Status::InternalFailure)?;
                match kind {
                    stream::HTTP_REQUEST => st.resume_request = true,
                    stream::HTTP_RESPONSE => st.resume_response = true,
                    stream::DOWNSTREAM | stream::UPSTREAM => {
                        return Err(Fail::Status(Status::Unimplemented))
                    }
                    _ => return Err(Fail::Status(Status::BadArgument)),
                }
                Ok(())
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_close_stream",
        |c: Call<'_>, kind: i32| -> wasmtime::Result<i32> {
            finish((|| {
                if c.data().node.profile.traps_on_unsupported_calls() {
                    return Err(trap(
                        "NYI - \"proxy_close_stream\" (ngx_wasm_module traps here)",
                    ));
                }
                if !(stream::HTTP_REQUEST..=stream::UPSTREAM).contains(&kind) {
                    return Err(Fail::Status(Status::BadArgument));
                }
                let st = c.data().stream().ok_or(Status::NotFound)?;
                st.lock().map_err(|_| Status::InternalFailure)?.closed = true;
                Ok(())
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Call<'_>,
         status: i32,
         dp: i32,
         dl: i32,
         bp: i32,
         bl: i32,
         hp: i32,
         hl: i32,
         grpc: i32|
         -> wasmtime::Result<i32> {
            finish((|| {
                let details = read_str(&mut c, dp, dl)?;
                let body = read(&mut c, bp, bl)?;
                let headers = deserialize_map(&read(&mut c, hp, hl)?).ok_or(Status::BadArgument)?;
                if !(100..=999).contains(&status) {
                    return Err(Fail::Status(Status::BadArgument));
                }
                let st = c.data().stream().ok_or(Status::NotFound)?;
                let mut st = st.lock().map_err(|_| Status::InternalFailure)?;
                if st.local_response.is_some() {
                    return Err(Fail::Status(Status::BadArgument));
                }
                st.local_response = Some(LocalResponse {
                    status: status as u32,
                    details,
                    body,
                    headers,
                    grpc_status: grpc,
                });
                Ok(())
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_done",
        |mut c: Call<'_>| -> wasmtime::Result<i32> {
            finish((|| {
                if c.data().node.profile.traps_on_unsupported_calls() {
                    return Err(trap("NYI - \"proxy_done\" (ngx_wasm_module traps here)"));
                }
                c.data_mut().done_called = true;
                Ok(())
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut c: Call<'_>, id: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let id = id as u32;
                let s = c.data_mut();
                if id != s.root_context_id && !s.streams.contains_key(&id) {
                    return Err(Fail::Status(Status::BadArgument));
                }
                s.effective_context = id;
                Ok(())
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_status",
        |mut c: Call<'_>, ret_code: i32, ret_data: i32, ret_size: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let (code, msg) = match &c.data().call_response {
                    Some(r) => (
                        r.status.unwrap_or(0) as u32,
                        r.failure.clone().unwrap_or_default(),
                    ),
                    None => return Err(Fail::Status(Status::NotFound)),
                };
                write_u32(&mut c, ret_code, code)?;
                return_bytes(&mut c, msg.as_bytes(), ret_data, ret_size)
            })())
        },
    )?;
    Ok(())
}
