//! `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`, `proxy_get_buffer_status`.

use super::memory::{finish, read, return_bytes, write_u32, Call, Fail};
use crate::abi::{buffer, Status};
use crate::profile::HostProfile;
use crate::state::HostState;
use wasmtime::Linker;

/// ngx_wasm_module's default `client_body_buffer_size`: larger request
/// bodies go to a temp file and are not visible to filters.
pub const KONG_VISIBLE_BODY_LIMIT: usize = 16 * 1024;

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Call<'_>,
         kind: i32,
         start: i32,
         max: i32,
         ret_data: i32,
         ret_size: i32|
         -> wasmtime::Result<i32> {
            finish((|| {
                let whole = buffer_bytes(&c, kind)?;
                let start = (start as u32 as usize).min(whole.len());
                let end = start.saturating_add(max as u32 as usize).min(whole.len());
                let slice = whole[start..end].to_vec();
                return_bytes(&mut c, &slice, ret_data, ret_size)
            })())
        },
    )?;
    // ngx_wasm_module does not declare this one: a module importing it
    // fails to load there, as under the Kong profile.
    if _profile == HostProfile::Envoy {
        linker.func_wrap(
            "env",
            "proxy_get_buffer_status",
            |mut c: Call<'_>, kind: i32, ret_size: i32, ret_flags: i32| -> wasmtime::Result<i32> {
                finish((|| {
                    let len = buffer_bytes(&c, kind)?.len();
                    write_u32(&mut c, ret_size, len as u32)?;
                    write_u32(&mut c, ret_flags, 0)
                })())
            },
        )?;
    }
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: Call<'_>,
         kind: i32,
         start: i32,
         size: i32,
         data: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            finish((|| {
                let bytes = read(&mut c, data, len)?;
                set_buffer(
                    &mut c,
                    kind,
                    start as u32 as usize,
                    size as u32 as usize,
                    &bytes,
                )
            })())
        },
    )?;
    Ok(())
}

fn buffer_bytes(c: &Call<'_>, kind: i32) -> Result<Vec<u8>, Fail> {
    let s = c.data();
    match kind {
        buffer::PLUGIN_CONFIGURATION => Ok(s.plugin.plugin_config.clone()),
        buffer::VM_CONFIGURATION => Ok(s.plugin.vm_config.clone()),
        buffer::HTTP_CALL_RESPONSE_BODY => s
            .call_response
            .as_ref()
            .map(|r| r.body.clone())
            .ok_or(Fail::Status(Status::NotFound)),
        buffer::FOREIGN_FUNCTION_ARGUMENTS => Ok(s.foreign_args.clone()),
        buffer::HTTP_REQUEST_BODY | buffer::HTTP_RESPONSE_BODY => {
            let stream = s.stream().ok_or(Status::NotFound)?;
            let st = stream.lock().map_err(|_| Status::InternalFailure)?;
            if kind == buffer::HTTP_REQUEST_BODY {
                if s.node.profile == HostProfile::Kong
                    && st.request_body.len() > KONG_VISIBLE_BODY_LIMIT
                {
                    return Err(Fail::Status(Status::NotFound));
                }
                Ok(st.request_body.clone())
            } else {
                Ok(st.response_body.clone())
            }
        }
        buffer::DOWNSTREAM_DATA | buffer::UPSTREAM_DATA | buffer::GRPC_CALL_MESSAGE => {
            Err(Fail::Status(Status::NotFound))
        }
        _ => Err(Fail::Status(Status::BadArgument)),
    }
}

fn set_buffer(
    c: &mut Call<'_>,
    kind: i32,
    start: usize,
    size: usize,
    bytes: &[u8],
) -> Result<(), Fail> {
    let s = c.data();
    let profile = s.node.profile;
    match kind {
        buffer::HTTP_REQUEST_BODY | buffer::HTTP_RESPONSE_BODY => {
            let stream = s.stream().ok_or(Status::NotFound)?;
            let mut st = stream.lock().map_err(|_| Status::InternalFailure)?;
            let original_len = st.original_request_body_len;
            let body = if kind == buffer::HTTP_REQUEST_BODY {
                &mut st.request_body
            } else {
                &mut st.response_body
            };
            let start = start.min(body.len());
            let end = start.saturating_add(size).min(body.len());
            body.splice(start..end, bytes.iter().copied());
            // ngx_wasm_module cuts a longer replacement request body to the
            // length the client sent.
            if kind == buffer::HTTP_REQUEST_BODY && profile == HostProfile::Kong {
                if let Some(limit) = original_len {
                    body.truncate(limit);
                }
            }
            Ok(())
        }
        buffer::HTTP_CALL_RESPONSE_BODY
        | buffer::PLUGIN_CONFIGURATION
        | buffer::VM_CONFIGURATION
        | buffer::FOREIGN_FUNCTION_ARGUMENTS => Err(Fail::Status(Status::BadArgument)),
        _ => Err(Fail::Status(Status::NotFound)),
    }
}
