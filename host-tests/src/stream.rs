//! Driving one HTTP stream through a filter chain, phase by phase, as a
//! host does: request headers → body → trailers → (upstream) → response
//! headers → body → trailers → log → done.

use crate::error::HostError;
use crate::node::{PluginId, Worker};
use crate::profile::HostProfile;
use crate::properties::{Properties, Value};
use crate::state::{LocalResponse, Phase, StreamData, StreamRef};
use crate::vm::Action;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Pairs = Vec<(String, Vec<u8>)>;

/// A client request as it reaches the host.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authority: String,
    pub scheme: String,
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
    pub client_ip: String,
    pub client_port: u16,
    pub route_name: Option<String>,
    pub service_name: Option<String>,
    pub properties: Vec<(String, Value)>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            authority: "example.test".to_string(),
            scheme: "http".to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
            client_ip: "203.0.113.7".to_string(),
            client_port: 50123,
            route_name: None,
            service_name: None,
            properties: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Request {
        let mut r = Request::new("POST", path);
        r.body = body.into();
        r
    }

    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn trailer(mut self, name: &str, value: impl Into<Vec<u8>>) -> Request {
        self.trailers.push((name.to_string(), value.into()));
        self
    }

    pub fn authority(mut self, host: &str) -> Request {
        self.authority = host.to_string();
        self
    }

    pub fn client(mut self, ip: &str, port: u16) -> Request {
        self.client_ip = ip.to_string();
        self.client_port = port;
        self
    }

    /// The route (Envoy `xds.route_name`, Kong `kong.route_name`).
    pub fn route(mut self, name: &str) -> Request {
        self.route_name = Some(name.to_string());
        self
    }

    /// The service (Envoy `xds.cluster_name`, Kong `kong.service_name`).
    pub fn service(mut self, name: &str) -> Request {
        self.service_name = Some(name.to_string());
        self
    }

    pub fn property(mut self, path: &str, value: Value) -> Request {
        self.properties.push((path.to_string(), value));
        self
    }
}

/// An upstream's answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
    /// Properties the host sets once the upstream has answered, for the
    /// response phases and the log (nginx's `ngx.upstream_header_time`,
    /// Envoy's `response.backend_latency`).
    pub properties: Vec<(String, Value)>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
            properties: Vec::new(),
        }
    }

    pub fn property(mut self, path: &str, value: Value) -> Response {
        self.properties.push((path.to_string(), value));
        self
    }

    pub fn ok() -> Response {
        Response::new(200)
    }

    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    pub fn trailer(mut self, name: &str, value: impl Into<Vec<u8>>) -> Response {
        self.trailers.push((name.to_string(), value.into()));
        self
    }
}

/// The request as the upstream receives it, after the chain's changes.
#[derive(Debug, Clone, Default)]
pub struct UpstreamRequest {
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
}

impl UpstreamRequest {
    pub fn header(&self, name: &str) -> Option<String> {
        find(&self.headers, name)
    }
}

/// What happened to one stream: what the upstream got and what the client
/// got back.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The local response a plugin sent, if one did.
    pub local_response: Option<LocalResponse>,
    /// `None` when the request never reached the upstream.
    pub upstream_request: Option<UpstreamRequest>,
    pub status: u16,
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
    /// A plugin closed (reset) the stream.
    pub closed: bool,
}

impl Exchange {
    /// The first response header of that name, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        find(&self.headers, name)
    }

    /// Every response header of that name, as text.
    pub fn headers_named(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn find(pairs: &Pairs, name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// How long a paused stream may wait for its plugin before the test fails.
pub const PAUSE_LIMIT: Duration = Duration::from_secs(30);

enum Flow {
    Continue,
    Local,
    Closed,
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

impl Worker {
    /// Runs one request through `chain` (plugins in declared order); when
    /// it reaches the upstream, `upstream` answers it.
    pub fn run(
        &mut self,
        chain: &[PluginId],
        request: Request,
        upstream: impl FnOnce(&UpstreamRequest) -> Response,
    ) -> Result<Exchange, HostError> {
        let profile = self.node.profile;
        let stream: StreamRef = Arc::new(Mutex::new(initial_stream(self, &request)));
        let mut ctxs = Vec::with_capacity(chain.len());
        for p in chain {
            let vm = self
                .vms
                .get_mut(p.0)
                .ok_or_else(|| HostError::Usage(format!("no plugin {p:?} on this node")))?;
            ctxs.push((p.0, vm.create_stream(stream.clone())?));
        }
        let result = self.run_phases(profile, &ctxs, &stream, &request, upstream);
        for (p, ctx) in &ctxs {
            if let Some(vm) = self.vms.get_mut(*p) {
                if !vm.is_broken() {
                    vm.finish_stream(*ctx)?;
                }
            }
        }
        result
    }

    fn run_phases(
        &mut self,
        profile: HostProfile,
        ctxs: &[(usize, u32)],
        stream: &StreamRef,
        request: &Request,
        upstream: impl FnOnce(&UpstreamRequest) -> Response,
    ) -> Result<Exchange, HostError> {
        let kong = profile == HostProfile::Kong;
        let has_body = !request.body.is_empty();
        let has_trailers = !request.trailers.is_empty();
        // ngx_wasm_module never sets end_of_stream in the header phases.
        let headers_eos = !kong && !has_body && !has_trailers;
        let body_visible =
            !(kong && request.body.len() > crate::hostcalls::buffers::KONG_VISIBLE_BODY_LIMIT);

        let mut flow = Flow::Continue;
        'request: for &(p, ctx) in ctxs {
            let n = lock(stream)?.request_headers.len() as i32;
            flow = self.phase(
                p,
                ctx,
                stream,
                "proxy_on_request_headers",
                Phase::RequestHeaders,
                &[n, i32::from(headers_eos)],
                true,
            )?;
            if !matches!(flow, Flow::Continue) {
                break 'request;
            }
        }
        if matches!(flow, Flow::Continue) && has_body && body_visible {
            for &(p, ctx) in ctxs {
                let len = lock(stream)?.request_body.len() as i32;
                flow = self.phase(
                    p,
                    ctx,
                    stream,
                    "proxy_on_request_body",
                    Phase::RequestBody,
                    &[len, i32::from(!has_trailers)],
                    true,
                )?;
                if !matches!(flow, Flow::Continue) {
                    break;
                }
            }
        }
        if matches!(flow, Flow::Continue) && has_trailers {
            for &(p, ctx) in ctxs {
                let n = lock(stream)?.request_trailers.len() as i32;
                flow = self.phase(
                    p,
                    ctx,
                    stream,
                    "proxy_on_request_trailers",
                    Phase::RequestTrailers,
                    &[n],
                    true,
                )?;
                if !matches!(flow, Flow::Continue) {
                    break;
                }
            }
        }
        if matches!(flow, Flow::Closed) {
            return exchange(stream, None, true);
        }

        let mut upstream_request = None;
        let response = if matches!(flow, Flow::Local) {
            None
        } else {
            let mut st = lock(stream)?;
            let mut headers = st.request_headers.clone();
            // ngx_wasm_module does not carry a removed header upstream.
            for (k, v) in st.removed_request_headers.drain(..) {
                if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(&k)) {
                    headers.push((k, v));
                }
            }
            let req = UpstreamRequest {
                headers,
                body: st.request_body.clone(),
                trailers: st.request_trailers.clone(),
            };
            drop(st);
            let resp = upstream(&req);
            upstream_request = Some(req);
            Some(resp)
        };

        {
            let mut st = lock(stream)?;
            match (&response, &st.local_response) {
                (Some(r), _) => {
                    for (k, v) in &r.properties {
                        st.properties.set(k, v.clone());
                    }
                    let mut h = vec![(":status".to_string(), r.status.to_string().into_bytes())];
                    h.extend(r.headers.iter().cloned());
                    st.response_headers = h;
                    st.response_body = r.body.clone();
                    st.response_trailers = r.trailers.clone();
                }
                (None, Some(local)) => {
                    let local = local.clone();
                    st.response_headers = local_response_headers(&local);
                    st.response_body = local.body;
                }
                (None, None) => {}
            }
        }

        let order: Vec<(usize, u32)> = if profile.response_phases_reversed() {
            ctxs.iter().rev().copied().collect()
        } else {
            ctxs.to_vec()
        };
        let (resp_body, resp_trailers) = {
            let st = lock(stream)?;
            (
                !st.response_body.is_empty(),
                !st.response_trailers.is_empty(),
            )
        };
        let resp_eos = !kong && !resp_body && !resp_trailers;
        let mut rflow = Flow::Continue;
        for &(p, ctx) in &order {
            let n = lock(stream)?.response_headers.len() as i32;
            rflow = self.phase(
                p,
                ctx,
                stream,
                "proxy_on_response_headers",
                Phase::ResponseHeaders,
                &[n, i32::from(resp_eos)],
                false,
            )?;
            if !matches!(rflow, Flow::Continue) {
                break;
            }
        }
        if matches!(rflow, Flow::Continue) && resp_body {
            for &(p, ctx) in &order {
                let len = lock(stream)?.response_body.len() as i32;
                rflow = self.phase(
                    p,
                    ctx,
                    stream,
                    "proxy_on_response_body",
                    Phase::ResponseBody,
                    &[len, i32::from(!resp_trailers)],
                    false,
                )?;
                if !matches!(rflow, Flow::Continue) {
                    break;
                }
            }
        }
        if matches!(rflow, Flow::Continue) && resp_trailers {
            for &(p, ctx) in &order {
                let n = lock(stream)?.response_trailers.len() as i32;
                rflow = self.phase(
                    p,
                    ctx,
                    stream,
                    "proxy_on_response_trailers",
                    Phase::ResponseTrailers,
                    &[n],
                    false,
                )?;
                if !matches!(rflow, Flow::Continue) {
                    break;
                }
            }
        }
        if matches!(rflow, Flow::Local) && response.is_some() {
            // A local response sent while the response was in the filters
            // replaces it (headers had not gone out yet).
            let mut st = lock(stream)?;
            if let Some(local) = st.local_response.clone() {
                st.response_headers = local_response_headers(&local);
                st.response_body = local.body;
                st.response_trailers.clear();
            }
        }
        exchange(stream, upstream_request, matches!(rflow, Flow::Closed))
    }

    /// One callback of one plugin, then — if it paused — events until the
    /// plugin continues the stream, answers locally or closes it.
    #[allow(clippy::too_many_arguments)]
    fn phase(
        &mut self,
        plugin: usize,
        ctx: u32,
        stream: &StreamRef,
        callback: &'static str,
        phase: Phase,
        args: &[i32],
        request_side: bool,
    ) -> Result<Flow, HostError> {
        {
            let mut st = lock(stream)?;
            st.resume_request = false;
            st.resume_response = false;
        }
        let had_local = lock(stream)?.local_response.is_some();
        let vm = self
            .vms
            .get_mut(plugin)
            .ok_or_else(|| HostError::Usage("plugin vanished".into()))?;
        let action = vm.stream_call(callback, phase, ctx, args)?;
        let started = Instant::now();
        loop {
            {
                let st = lock(stream)?;
                if st.closed {
                    return Ok(Flow::Closed);
                }
                if st.local_response.is_some() && !had_local {
                    return Ok(Flow::Local);
                }
                let resumed = if request_side {
                    st.resume_request
                } else {
                    st.resume_response
                };
                if action == Action::Continue || resumed {
                    return Ok(Flow::Continue);
                }
            }
            if started.elapsed() > PAUSE_LIMIT {
                let name = self
                    .vms
                    .get(plugin)
                    .map(|v| v.plugin.name.clone())
                    .unwrap_or_default();
                return Err(HostError::Stalled {
                    plugin: name,
                    phase: callback,
                    waited_ms: PAUSE_LIMIT.as_millis() as u64,
                });
            }
            self.process_events(Some(Duration::from_millis(20)))?;
            if !self.node.clock.is_virtual() {
                self.fire_due_ticks()?;
            }
        }
    }
}

fn lock(stream: &StreamRef) -> Result<std::sync::MutexGuard<'_, StreamData>, HostError> {
    stream
        .lock()
        .map_err(|_| HostError::Usage("stream state poisoned".into()))
}

/// Headers of a local response as hosts send it: `:status`, the plugin's
/// headers, and a content-length.
fn local_response_headers(local: &LocalResponse) -> Pairs {
    let mut h = vec![(":status".to_string(), local.status.to_string().into_bytes())];
    h.extend(local.headers.iter().cloned());
    h.push((
        "content-length".to_string(),
        local.body.len().to_string().into_bytes(),
    ));
    h
}

fn exchange(
    stream: &StreamRef,
    upstream_request: Option<UpstreamRequest>,
    closed: bool,
) -> Result<Exchange, HostError> {
    let st = lock(stream)?;
    let status = find(&st.response_headers, ":status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Exchange {
        local_response: st.local_response.clone(),
        upstream_request,
        status,
        headers: st
            .response_headers
            .iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .cloned()
            .collect(),
        body: st.response_body.clone(),
        trailers: st.response_trailers.clone(),
        closed,
    })
}

/// The stream's starting state: pseudo-headers and headers, and the
/// request properties the profile's host exposes.
fn initial_stream(worker: &Worker, req: &Request) -> StreamData {
    let node = &worker.node;
    let profile = node.profile;
    let lower = |k: &str| {
        if profile == HostProfile::Envoy {
            k.to_ascii_lowercase()
        } else {
            k.to_string()
        }
    };
    let mut headers: Pairs = vec![
        (":authority".into(), req.authority.clone().into_bytes()),
        (":path".into(), req.path.clone().into_bytes()),
        (":method".into(), req.method.clone().into_bytes()),
        (":scheme".into(), req.scheme.clone().into_bytes()),
    ];
    headers.extend(req.headers.iter().map(|(k, v)| (lower(k), v.clone())));
    let request_id = find(&req.headers, "x-request-id")
        .unwrap_or_else(|| format!("req-{}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed)));
    let url_path = req.path.split('?').next().unwrap_or("").to_string();
    let mut p = Properties::default();
    p.set("request.path", Value::Str(req.path.clone()));
    p.set("request.url_path", Value::Str(url_path));
    p.set("request.method", Value::Str(req.method.clone()));
    p.set("request.scheme", Value::Str(req.scheme.clone()));
    p.set("request.id", Value::Str(request_id));
    p.set("request.protocol", Value::Str("HTTP/1.1".into()));
    p.set("request.time", Value::Timestamp(node.clock.now_nanos()));
    p.set("source.port", Value::Int(i64::from(req.client_port)));
    match profile {
        HostProfile::Envoy => {
            p.set("request.host", Value::Str(req.authority.clone()));
            p.set(
                "source.address",
                Value::Str(format!("{}:{}", bracket(&req.client_ip), req.client_port)),
            );
            p.set("destination.address", Value::Str("127.0.0.1:8000".into()));
            p.set("destination.port", Value::Int(8000));
            if let Some(r) = &req.route_name {
                p.set("xds.route_name", Value::Str(r.clone()));
            }
            if let Some(s) = &req.service_name {
                p.set("xds.cluster_name", Value::Str(s.clone()));
            }
        }
        HostProfile::Kong => {
            // nginx's $hostname: the machine, not the Host header.
            p.set("request.host", Value::Str(node.node_id.clone()));
            p.set("source.address", Value::Str(req.client_ip.clone()));
            if let Some(r) = &req.route_name {
                p.set("kong.route_name", Value::Str(r.clone()));
                p.set("kong.route_id", Value::Str(format!("{r}-id")));
            }
            if let Some(s) = &req.service_name {
                p.set("kong.service_name", Value::Str(s.clone()));
                p.set("kong.service_id", Value::Str(format!("{s}-id")));
            }
        }
    }
    for (k, v) in &req.properties {
        p.set(k, v.clone());
    }
    StreamData {
        request_headers: headers,
        request_body: req.body.clone(),
        request_trailers: req.trailers.clone(),
        properties: p,
        original_request_body_len: Some(req.body.len()),
        ..StreamData::default()
    }
}

fn bracket(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}
