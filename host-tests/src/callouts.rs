//! HTTP callouts (`proxy_http_call`) performed as real HTTP/1.1 requests.
//!
//! The request runs on the node's tokio runtime; its outcome comes back to
//! the dispatching worker as an event, and the worker delivers it to the
//! plugin's `on_http_call_response` the next time it processes events —
//! as a host's event loop would.

use crate::state::WorkerEvent;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// A callout's outcome as the plugin sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallResult {
    /// The HTTP status, absent when the call failed.
    pub status: Option<u16>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, Vec<u8>)>,
    /// Why the call failed (timeout, refused connection, bad response).
    pub failure: Option<String>,
}

/// A validated callout, ready to send.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// `host:port` to connect to.
    pub target: String,
    pub method: String,
    pub path: String,
    pub authority: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

/// What a failure is called in ngx_wasm_module's `:dispatch_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Timeout,
    BrokenConnection,
    ResolverFailure,
}

impl FailureKind {
    pub fn dispatch_status(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::BrokenConnection => "broken connection",
            FailureKind::ResolverFailure => "resolver failure",
        }
    }
}

/// Starts a callout; its result is sent to `events` as `CallDone`.
pub fn spawn(
    runtime: &tokio::runtime::Handle,
    req: CallRequest,
    events: Sender<WorkerEvent>,
    plugin: usize,
    token: u32,
) {
    runtime.spawn(async move {
        let result = match tokio::time::timeout(req.timeout, perform(&req)).await {
            Ok(Ok(r)) => r,
            Ok(Err(kind_and_msg)) => failed(kind_and_msg.0, kind_and_msg.1),
            Err(_) => failed(
                FailureKind::Timeout,
                format!("no response within {} ms", req.timeout.as_millis()),
            ),
        };
        // The worker may be gone (node dropped): nothing to deliver to.
        let _ = events.send(WorkerEvent::CallDone {
            plugin,
            token,
            result,
        });
    });
}

fn failed(kind: FailureKind, msg: String) -> CallResult {
    CallResult {
        status: None,
        failure: Some(format!("{}: {msg}", kind.dispatch_status())),
        ..CallResult::default()
    }
}

async fn perform(req: &CallRequest) -> Result<CallResult, (FailureKind, String)> {
    let mut addrs = tokio::net::lookup_host(&req.target)
        .await
        .map_err(|e| (FailureKind::ResolverFailure, format!("{}: {e}", req.target)))?;
    let addr = addrs
        .next()
        .ok_or((FailureKind::ResolverFailure, req.target.clone()))?;
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
        (
            FailureKind::BrokenConnection,
            format!("connect {addr}: {e}"),
        )
    })?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| (FailureKind::BrokenConnection, e.to_string()))?;
    tokio::spawn(conn);
    let mut builder = hyper::Request::builder()
        .method(req.method.as_str())
        .uri(req.path.as_str())
        .header(hyper::header::HOST, req.authority.as_str());
    for (k, v) in &req.headers {
        if k.starts_with(':') || k.eq_ignore_ascii_case("host") {
            continue;
        }
        builder = builder.header(k.as_str(), v.as_slice());
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body.clone())))
        .map_err(|e| (FailureKind::BrokenConnection, format!("bad request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| (FailureKind::BrokenConnection, e.to_string()))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| (FailureKind::BrokenConnection, e.to_string()))?
        .to_bytes();
    let mut headers = vec![(
        ":status".to_string(),
        parts.status.as_str().as_bytes().to_vec(),
    )];
    for (k, v) in &parts.headers {
        headers.push((k.as_str().to_string(), v.as_bytes().to_vec()));
    }
    Ok(CallResult {
        status: Some(parts.status.as_u16()),
        headers,
        body: body.to_vec(),
        trailers: Vec::new(),
        failure: None,
    })
}
