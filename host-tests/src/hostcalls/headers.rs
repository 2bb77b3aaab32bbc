//! The header-map functions, on request/response headers and trailers and
//! on a callout's response.

use super::memory::{finish, read, read_str, return_bytes, write_u32, Call, Fail};
use crate::abi::{deserialize_map, map, serialize_map, Status};
use crate::profile::HostProfile;
use crate::state::HostState;
use wasmtime::Linker;

type Pairs = Vec<(String, Vec<u8>)>;

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    // Not declared by ngx_wasm_module (see buffers.rs).
    if _profile == HostProfile::Envoy {
        linker.func_wrap(
            "env",
            "proxy_get_header_map_size",
            |mut c: Call<'_>, kind: i32, ret: i32| -> wasmtime::Result<i32> {
                finish((|| {
                    let pairs = with_map(&mut c, kind, |m| Ok(m.clone()))?;
                    write_u32(&mut c, ret, serialize_map(&pairs).len() as u32)
                })())
            },
        )?;
    }
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Call<'_>, kind: i32, ret_data: i32, ret_size: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let pairs = with_map(&mut c, kind, |m| Ok(m.clone()))?;
                return_bytes(&mut c, &serialize_map(&pairs), ret_data, ret_size)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Call<'_>, kind: i32, data: i32, len: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let bytes = read(&mut c, data, len)?;
                let pairs = deserialize_map(&bytes).ok_or(Status::BadArgument)?;
                with_mut_map(&mut c, kind, |m| {
                    *m = pairs;
                    Ok(())
                })
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Call<'_>,
         kind: i32,
         kp: i32,
         kl: i32,
         ret_data: i32,
         ret_size: i32|
         -> wasmtime::Result<i32> {
            finish((|| {
                let key = read_str(&mut c, kp, kl)?;
                let value = with_map(&mut c, kind, |m| {
                    m.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                        .map(|(_, v)| v.clone())
                        .ok_or(Fail::Status(Status::NotFound))
                })?;
                return_bytes(&mut c, &value, ret_data, ret_size)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: Call<'_>, kind: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let key = read_str(&mut c, kp, kl)?;
                let value = read(&mut c, vp, vl)?;
                with_mut_map(&mut c, kind, |m| {
                    m.push((key, value));
                    Ok(())
                })
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: Call<'_>, kind: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let key = read_str(&mut c, kp, kl)?;
                let value = read(&mut c, vp, vl)?;
                with_mut_map(&mut c, kind, |m| {
                    // Replace the first occurrence and drop the others: a
                    // replaced header has one value, as in both hosts.
                    let mut seen = false;
                    m.retain_mut(|(k, v)| {
                        if !k.eq_ignore_ascii_case(&key) {
                            return true;
                        }
                        if seen {
                            return false;
                        }
                        seen = true;
                        *v = value.clone();
                        true
                    });
                    if !seen {
                        m.push((key.clone(), value.clone()));
                    }
                    Ok(())
                })
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Call<'_>, kind: i32, kp: i32, kl: i32| -> wasmtime::Result<i32> {
            finish((|| {
                let key = read_str(&mut c, kp, kl)?;
                let kong = c.data().node.profile == HostProfile::Kong;
                let removed = with_mut_map(&mut c, kind, |m| {
                    let removed: Pairs = m
                        .iter()
                        .filter(|(k, _)| k.eq_ignore_ascii_case(&key))
                        .cloned()
                        .collect();
                    m.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    Ok(removed)
                })?;
                if kong && kind == map::HTTP_REQUEST_HEADERS && !removed.is_empty() {
                    if let Some(stream) = c.data().stream() {
                        if let Ok(mut st) = stream.lock() {
                            st.removed_request_headers.extend(removed);
                        }
                    }
                }
                Ok(())
            })())
        },
    )?;
    Ok(())
}

/// Runs `f` on a read-only view of the map `kind`.
fn with_map<T>(
    c: &mut Call<'_>,
    kind: i32,
    f: impl FnOnce(&Pairs) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let s = c.data();
    match kind {
        map::HTTP_CALL_RESPONSE_HEADERS | map::HTTP_CALL_RESPONSE_TRAILERS => {
            let r = s.call_response.as_ref().ok_or(Status::NotFound)?;
            if kind == map::HTTP_CALL_RESPONSE_HEADERS {
                f(&r.headers)
            } else {
                f(&r.trailers)
            }
        }
        map::GRPC_CALL_INITIAL_METADATA | map::GRPC_CALL_TRAILING_METADATA => {
            Err(Fail::Status(Status::NotFound))
        }
        map::HTTP_REQUEST_HEADERS
        | map::HTTP_REQUEST_TRAILERS
        | map::HTTP_RESPONSE_HEADERS
        | map::HTTP_RESPONSE_TRAILERS => {
            let stream = s.stream().ok_or(Status::NotFound)?;
            let st = stream.lock().map_err(|_| Status::InternalFailure)?;
            f(match kind {
                map::HTTP_REQUEST_HEADERS => &st.request_headers,
                map::HTTP_REQUEST_TRAILERS => &st.request_trailers,
                map::HTTP_RESPONSE_HEADERS => &st.response_headers,
                _ => &st.response_trailers,
            })
        }
        _ => Err(Fail::Status(Status::BadArgument)),
    }
}

/// Runs `f` on the mutable map `kind`; callout maps are read-only.
fn with_mut_map<T>(
    c: &mut Call<'_>,
    kind: i32,
    f: impl FnOnce(&mut Pairs) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let s = c.data();
    match kind {
        map::HTTP_REQUEST_HEADERS
        | map::HTTP_REQUEST_TRAILERS
        | map::HTTP_RESPONSE_HEADERS
        | map::HTTP_RESPONSE_TRAILERS => {
            let stream = s.stream().ok_or(Status::NotFound)?;
            let mut st = stream.lock().map_err(|_| Status::InternalFailure)?;
            f(match kind {
                map::HTTP_REQUEST_HEADERS => &mut st.request_headers,
                map::HTTP_REQUEST_TRAILERS => &mut st.request_trailers,
                map::HTTP_RESPONSE_HEADERS => &mut st.response_headers,
                _ => &mut st.response_trailers,
            })
        }
        map::HTTP_CALL_RESPONSE_HEADERS
        | map::HTTP_CALL_RESPONSE_TRAILERS
        | map::GRPC_CALL_INITIAL_METADATA
        | map::GRPC_CALL_TRAILING_METADATA => Err(Fail::Status(Status::BadArgument)),
        _ => Err(Fail::Status(Status::BadArgument)),
    }
}
