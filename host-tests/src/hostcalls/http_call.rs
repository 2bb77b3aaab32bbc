//! `proxy_http_call`: resolve the target as the profile's host does, then
//! send the request for real.

use super::memory::{finish, read, read_str, write_u32, Call, Fail};
use crate::abi::{deserialize_map, Status};
use crate::callouts::{spawn, CallRequest};
use crate::profile::HostProfile;
use crate::state::HostState;
use std::time::Duration;
use wasmtime::Linker;

pub fn link(linker: &mut Linker<HostState>, _profile: HostProfile) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: Call<'_>,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         timeout: i32,
         ret: i32|
         -> wasmtime::Result<i32> {
            finish((|| {
                let upstream = read_str(&mut c, up, ul)?;
                let headers = deserialize_map(&read(&mut c, hp, hl)?).ok_or(Status::BadArgument)?;
                let body = read(&mut c, bp, bl)?;
                let _trailers =
                    deserialize_map(&read(&mut c, tp, tl)?).ok_or(Status::BadArgument)?;
                let req = build(&c, &upstream, headers, body, timeout as u32)?;
                let s = c.data_mut();
                let token = s.next_token;
                s.next_token = s.next_token.wrapping_add(1).max(1);
                s.calls.insert(token, s.effective_context);
                let (events, plugin) = (s.events.clone(), s.plugin_index);
                spawn(s.node.runtime(), req, events, plugin, token);
                write_u32(&mut c, ret, token)
            })())
        },
    )?;
    Ok(())
}

fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Validates a callout as the profile's host does. Envoy: the upstream is
/// a cluster name and `:method`, `:path`, `:authority` are required.
/// ngx_wasm_module: the upstream is `host:port` (port 80 when absent).
fn build(
    c: &Call<'_>,
    upstream: &str,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    timeout_ms: u32,
) -> Result<CallRequest, Fail> {
    let node = &c.data().node;
    let profile = node.profile;
    let target = if profile.callouts_by_cluster_name() {
        node.cluster(upstream).ok_or(Status::BadArgument)?
    } else {
        if upstream.is_empty() || upstream.starts_with("unix:") {
            return Err(Fail::Status(Status::BadArgument));
        }
        if upstream
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            upstream.to_string()
        } else {
            format!("{upstream}:80")
        }
    };
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let method = header(&headers, ":method").map(text);
    let path = header(&headers, ":path").map(text);
    let authority = header(&headers, ":authority").map(text);
    let (method, path, authority) = match profile {
        HostProfile::Envoy => (
            method.ok_or(Status::BadArgument)?,
            path.ok_or(Status::BadArgument)?,
            authority.ok_or(Status::BadArgument)?,
        ),
        HostProfile::Kong => (
            method.unwrap_or_else(|| "GET".to_string()),
            path.unwrap_or_else(|| "/".to_string()),
            authority.unwrap_or_else(|| upstream.to_string()),
        ),
    };
    if !path.starts_with('/') {
        return Err(Fail::Status(Status::BadArgument));
    }
    // Envoy and nginx both apply a default when the plugin passes 0.
    let timeout = if timeout_ms == 0 { 1000 } else { timeout_ms };
    Ok(CallRequest {
        target,
        method,
        path,
        authority,
        headers,
        body,
        timeout: Duration::from_millis(u64::from(timeout)),
    })
}
