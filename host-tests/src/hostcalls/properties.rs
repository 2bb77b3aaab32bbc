//! `proxy_get_property`, `proxy_set_property`.

use super::memory::{finish, read, return_bytes, Call, Fail};
use crate::abi::{serialize_map, Status};
use crate::profile::HostProfile;
use crate::properties::{absent_in, dotted_path, is_request_scoped, Value};
use crate::state::HostState;
use wasmtime::Linker;

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Call<'_>,
         pp: i32,
         pl: i32,
         ret_data: i32,
         ret_size: i32|
         -> wasmtime::Result<i32> {
            finish((|| {
                let path = dotted_path(&read(&mut c, pp, pl)?);
                let value = lookup(&c, &path)?;
                return_bytes(&mut c, &value, ret_data, ret_size)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: Call<'_>, pp: i32, pl: i32, vp: i32, vl: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let path = dotted_path(&read(&mut c, pp, pl)?);
                let value = read(&mut c, vp, vl)?;
                let s = c.data_mut();
                if s.node.profile == HostProfile::Kong
                    && is_request_scoped(&path)
                    && !s.phase.in_request()
                {
                    return Err(Fail::Status(Status::InternalFailure));
                }
                match s.stream() {
                    Some(stream) => {
                        let mut st = stream.lock().map_err(|_| Status::InternalFailure)?;
                        st.properties.set(&path, Value::Bytes(value));
                    }
                    None => s.root_properties.set(&path, Value::Bytes(value)),
                }
                Ok(())
            })())
        },
    )?;
    Ok(())
}

/// Resolves a property as the profile's host would.
fn lookup(c: &Call<'_>, path: &str) -> Result<Vec<u8>, Fail> {
    let s = c.data();
    let profile = s.node.profile;
    let stream = s.stream();
    if is_request_scoped(path) && (stream.is_none() || !s.phase.in_request()) {
        // Envoy has no stream info in a root context: the attribute is
        // simply not there. ngx_wasm_module answers with an error, which
        // makes the Rust SDK's `get_property` panic.
        return Err(Fail::Status(
            if profile.refuses_request_properties_outside_requests() {
                Status::InternalFailure
            } else {
                Status::NotFound
            },
        ));
    }
    if absent_in(profile, path) {
        return Err(Fail::Status(Status::NotFound));
    }
    if let Some(stream) = stream {
        let st = stream.lock().map_err(|_| Status::InternalFailure)?;
        if let Some(v) = dynamic(profile, path, &st) {
            return Ok(v);
        }
        if let Some(v) = st.properties.get(path) {
            return Ok(v.encode(profile));
        }
    }
    if let Some(v) = s.root_properties.get(path) {
        return Ok(v.encode(profile));
    }
    if let Some(v) = s.plugin.properties.get(path) {
        return Ok(v.encode(profile));
    }
    Err(Fail::Status(Status::NotFound))
}

/// Properties computed from the stream's current headers.
fn dynamic(profile: HostProfile, path: &str, st: &crate::state::StreamData) -> Option<Vec<u8>> {
    let header = |pairs: &[(String, Vec<u8>)], name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if let Some(name) = path.strip_prefix("request.headers.") {
        return header(&st.request_headers, name);
    }
    if let Some(name) = path.strip_prefix("response.headers.") {
        return header(&st.response_headers, name);
    }
    match (path, profile) {
        ("request.headers", HostProfile::Envoy) => Some(serialize_map(&st.request_headers)),
        ("response.headers", HostProfile::Envoy) => Some(serialize_map(&st.response_headers)),
        ("response.code", _) => {
            let code: i64 = header(&st.response_headers, ":status")
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|v| v.parse().ok())?;
            Some(Value::Int(code).encode(profile))
        }
        _ => None,
    }
}
