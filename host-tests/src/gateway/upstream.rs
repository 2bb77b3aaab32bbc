//! The request to the service, as the filter chain left it: a real
//! HTTP/1.1 exchange on a new connection, with the service's timeouts.
//! Failures answer as Kong does (502, or 504 on a timeout).

use super::router::{strip_port, upstream_path, Matched};
use crate::properties::Value;
use crate::stream::{Response, UpstreamRequest};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// Who asked, for the `X-Forwarded-*` headers Kong adds.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: String,
    pub port: u16,
    pub host: String,
    pub listen_port: u16,
}

/// Headers that belong to one connection, never forwarded.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

/// Kong's answer when the upstream cannot be reached or answers garbage.
pub fn bad_gateway() -> Response {
    kong_error(
        502,
        "An invalid response was received from the upstream server",
    )
}

/// A Kong error page: JSON with a `message`.
pub fn kong_error(status: u16, message: &str) -> Response {
    Response::new(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(format!("{{\"message\":\"{message}\"}}\n"))
}

/// Sends `up` to the route's service, blocking this (non-runtime) thread on
/// `runtime` until the answer or a timeout.
pub fn call(
    runtime: &tokio::runtime::Handle,
    m: &Matched,
    client: &Client,
    up: &UpstreamRequest,
) -> Response {
    let service = &m.route.service;
    let pseudo = |name: &str| up.header(name).unwrap_or_default();
    let method = pseudo(":method");
    let path = upstream_path(m, &pseudo(":path"));
    let host = if m.route.def.preserve_host {
        pseudo(":authority")
    } else if service.port == 80 {
        service.host.clone()
    } else {
        format!("{}:{}", service.host, service.port)
    };
    let mut builder = hyper::Request::builder()
        .method(method.as_str())
        .uri(path.as_str())
        .header(hyper::header::HOST, host.as_str());
    for (k, v) in &up.headers {
        let lower = k.to_ascii_lowercase();
        if k.starts_with(':') || lower == "host" || HOP_BY_HOP.contains(&lower.as_str()) {
            continue;
        }
        if lower.starts_with("x-forwarded-") || lower == "x-real-ip" {
            continue;
        }
        builder = builder.header(k.as_str(), v.as_slice());
    }
    let forwarded_for = match up.header("x-forwarded-for") {
        Some(prior) => format!("{prior}, {}", client.ip),
        None => client.ip.clone(),
    };
    let request_path = pseudo(":path");
    builder = builder
        .header("x-forwarded-for", forwarded_for)
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", strip_port(&client.host))
        .header("x-forwarded-port", client.listen_port.to_string())
        .header(
            "x-forwarded-path",
            request_path.split('?').next().unwrap_or(""),
        )
        .header("x-real-ip", client.ip.as_str());
    let request = match builder.body(Full::new(Bytes::from(up.body.clone()))) {
        Ok(r) => r,
        Err(_) => return kong_error(500, "An unexpected error occurred"),
    };
    let target = format!("{}:{}", service.host, service.port);
    let connect = Duration::from_millis(service.connect_timeout_ms);
    let read = Duration::from_millis(service.read_timeout_ms);
    let sent = std::time::Instant::now();
    runtime.block_on(async move {
        let stream =
            match tokio::time::timeout(connect, tokio::net::TcpStream::connect(&target)).await {
                Ok(Ok(s)) => s,
                Ok(Err(_)) => return bad_gateway(),
                Err(_) => return kong_error(504, "The upstream server is timed out"),
            };
        let _ = stream.set_nodelay(true);
        let exchange = async {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .ok()?;
            tokio::spawn(conn);
            let response = sender.send_request(request).await.ok()?;
            let header_time = sent.elapsed();
            let (parts, body) = response.into_parts();
            let body = body.collect().await.ok()?.to_bytes();
            // nginx's upstream timing variables, as Kong's filters read them
            // (seconds with milliseconds, as text).
            let secs = |d: Duration| format!("{:.3}", d.as_secs_f64());
            let mut r = Response::new(parts.status.as_u16())
                .body(body.to_vec())
                .property("ngx.upstream_header_time", Value::Str(secs(header_time)))
                .property(
                    "ngx.upstream_response_time",
                    Value::Str(secs(sent.elapsed())),
                );
            for (k, v) in &parts.headers {
                if !HOP_BY_HOP.contains(&k.as_str()) {
                    r.headers
                        .push((k.as_str().to_string(), v.as_bytes().to_vec()));
                }
            }
            Some(r)
        };
        match tokio::time::timeout(read, exchange).await {
            Ok(Some(r)) => r,
            Ok(None) => bad_gateway(),
            Err(_) => kong_error(504, "The upstream server is timed out"),
        }
    })
}
