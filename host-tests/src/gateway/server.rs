//! The HTTP/1.1 side: accept connections, route each request, hand it to a
//! worker, answer what the chain made of it. On Ctrl-C or SIGTERM it stops
//! accepting and lets the requests in flight finish.

use super::pool::{Job, Queue};
use super::router::{strip_port, Router};
use super::upstream::{kong_error, Client, HOP_BY_HOP};
use crate::stream::{Request, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a shutdown waits for requests in flight.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

type Body = Full<Bytes>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every connection needs.
pub struct Shared {
    pub router: Router,
    pub queue: Arc<Queue>,
    pub listen_port: u16,
}

/// Serves until Ctrl-C or SIGTERM, then drains.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let graceful = GracefulShutdown::new();
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("wasm-gateway: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let service = service_fn(move |req| handle(req, peer, shared.clone()));
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // A client that goes away mid-request is not our error.
                    let _ = conn.await;
                });
            }
            () = &mut signal => break,
        }
    }
    drop(listener);
    eprintln!("wasm-gateway: shutting down: finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_LIMIT) => {
            eprintln!("wasm-gateway: requests still in flight after {DRAIN_LIMIT:?}: leaving them");
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn handle(
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Result<hyper::Response<Body>, BoxError> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_string()))
        .unwrap_or_default();
    let path = path_and_query.split('?').next().unwrap_or("/");
    let Some(matched) = shared.router.find(&method, &host, path) else {
        return Ok(reply(kong_error(404, "no Route matched with those values")));
    };
    let body = match body.collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return Ok(reply(kong_error(400, "Bad request"))),
    };
    let route = &matched.route;
    let mut request = Request::new(&method, &path_and_query)
        .authority(&host)
        .client(&peer.ip().to_string(), peer.port());
    request.body = body;
    for (k, v) in &parts.headers {
        if matches!(k.as_str(), "connection" | "keep-alive" | "proxy-connection") {
            continue;
        }
        request = request.header(k.as_str(), v.as_bytes());
    }
    if let Some(name) = &route.def.name {
        request = request.route(name);
    }
    if let Some(name) = &route.service.name {
        request = request.service(name);
    }
    request = request
        .property(
            "kong.route_id",
            crate::properties::Value::Str(route.route_id.clone()),
        )
        .property(
            "kong.service_id",
            crate::properties::Value::Str(route.service_id.clone()),
        );
    let client = Client {
        ip: peer.ip().to_string(),
        port: peer.port(),
        host: strip_port(&host).to_string(),
        listen_port: shared.listen_port,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = Job {
        matched: matched.clone(),
        request,
        client,
        reply: tx,
    };
    if shared.queue.push(job).is_err() {
        return Ok(reply(kong_error(503, "Service unavailable: shutting down")));
    }
    let exchange = match rx.await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            eprintln!("wasm-gateway: {method} {path_and_query}: {e}");
            return Ok(reply(kong_error(500, "An unexpected error occurred")));
        }
        Err(_) => return Ok(reply(kong_error(500, "An unexpected error occurred"))),
    };
    if exchange.closed {
        // A filter reset the stream: drop the connection, as nginx does.
        return Err("stream closed by a filter".into());
    }
    let status = if exchange.status == 0 {
        500
    } else {
        exchange.status
    };
    let mut response = Response::new(status).body(exchange.body);
    response.headers = exchange.headers;
    if exchange.upstream_request.is_some() {
        // Kong marks proxied answers (not its own or a filter's).
        response = response.header("via", "1.1 wasm-gateway");
    }
    Ok(reply(response))
}

fn reply(r: Response) -> hyper::Response<Body> {
    let mut builder = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        let lower = k.to_ascii_lowercase();
        if k.starts_with(':') || HOP_BY_HOP.contains(&lower.as_str()) {
            continue;
        }
        builder = builder.header(k.as_str(), v.as_slice());
    }
    builder
        .body(Full::new(Bytes::from(r.body)))
        .unwrap_or_else(|_| {
            let mut fallback = hyper::Response::new(Full::new(Bytes::from_static(
                b"{\"message\":\"An unexpected error occurred\"}\n",
            )));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}
