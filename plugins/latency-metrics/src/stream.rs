//! One request: note the times, then count it in `on_log`, when the
//! host's own upstream timing is final. A request for `metrics_path` is
//! answered with the node's metrics instead.

use crate::host::{self, FirstOf};
use crate::record::{self, Target};
use crate::root::Ready;
use host_calls::{ROUTE_NAME, SERVICE_NAME};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};
use shared::metrics::{
    consumer_value, filter_upstream_ms, latencies, parse_envoy_duration_ns, parse_ngx_seconds,
    render, LabelSet, Source, CONTENT_TYPE,
};
use std::rc::Rc;

/// The host's upstream timing: nginx's variables (text seconds; the
/// response time is final in the log phase) and Envoy's
/// `response.backend_latency` (nanoseconds).
const UPSTREAM_TIME: [&[&str]; 3] = [
    &["ngx", "upstream_response_time"],
    &["ngx", "upstream_header_time"],
    &["response", "backend_latency"],
];

/// Which property names answered on this worker.
#[derive(Default)]
pub struct Names {
    route: FirstOf,
    service: FirstOf,
    upstream: FirstOf,
}

pub struct MetricsStream {
    ready: Rc<Ready>,
    started_ms: u64,
    request_done_ms: u64,
    response_started_ms: Option<u64>,
    status: u16,
    consumer: Vec<u8>,
    scrape: bool,
}

impl MetricsStream {
    pub fn new(ready: Rc<Ready>) -> MetricsStream {
        MetricsStream {
            ready,
            started_ms: 0,
            request_done_ms: 0,
            response_started_ms: None,
            status: 0,
            consumer: Vec::new(),
            scrape: false,
        }
    }

    fn serve_metrics(&self) {
        let ready = &self.ready;
        let table = record::gather(&ready.keys, ready.config.max_series());
        let mut text = String::with_capacity(4096);
        render(&mut text, ready.config.names(), &ready.constant, &table);
        let _ = hostcalls::send_http_response(
            200,
            vec![("content-type", CONTENT_TYPE)],
            Some(text.as_bytes()),
        );
    }

    /// Upstream time as the host measured it, if it exposes one.
    fn host_upstream_ms(&self) -> Option<u64> {
        let (i, v) = self.ready.names.upstream.get(&UPSTREAM_TIME)?;
        if i == 2 {
            parse_envoy_duration_ns(&v)
        } else {
            parse_ngx_seconds(&v)
        }
    }
}

impl Context for MetricsStream {}

impl HttpContext for MetricsStream {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        self.started_ms = host::now_ms();
        let path = host::header(MapType::HttpRequestHeaders, ":path").unwrap_or_default();
        let path = path.split(|b| *b == b'?').next().unwrap_or_default();
        if path == self.ready.config.metrics_path().as_bytes() {
            self.scrape = true;
            self.serve_metrics();
            return Action::Pause;
        }
        if self.ready.config.consumer() {
            let username = host::header(MapType::HttpRequestHeaders, "x-consumer-username");
            let id = host::header(MapType::HttpRequestHeaders, "x-consumer-id");
            self.consumer = consumer_value(username.as_deref(), id.as_deref()).to_vec();
        }
        self.request_done_ms = host::now_ms();
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        self.response_started_ms = Some(host::now_ms());
        self.status = host::header(MapType::HttpResponseHeaders, ":status")
            .and_then(|v| std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        Action::Continue
    }

    fn on_log(&mut self) {
        if self.scrape || self.started_ms == 0 {
            return;
        }
        let ready = self.ready.clone();
        let total = host::now_ms().saturating_sub(self.started_ms);
        let host_ms = self.host_upstream_ms();
        let filter_ms = self
            .response_started_ms
            .and_then(|end| filter_upstream_ms(self.request_done_ms, end));
        // A host that reports upstream timing (nginx) reports none for a
        // response made at the proxy (a plugin's local answer): no upstream.
        let local = host_ms.is_none() && ready.names.upstream.known();
        let upstream = if local {
            None
        } else {
            ready.config.upstream_timing().choose(host_ms, filter_ms)
        };
        let l = latencies(total, upstream);
        let source = if upstream.is_some() {
            Source::Service
        } else {
            Source::Kong
        };
        let route = ready
            .names
            .route
            .get(&ROUTE_NAME)
            .map(|(_, v)| v)
            .unwrap_or_default();
        let service = ready
            .names
            .service
            .get(&SERVICE_NAME)
            .map(|(_, v)| v)
            .unwrap_or_default();
        let labels = LabelSet::new(&service, &route, self.status, source, &self.consumer);
        let fp = labels.fingerprint();
        let cached = ready
            .targets
            .try_borrow()
            .ok()
            .and_then(|m| m.get(&fp).copied());
        let target = match cached {
            Some(t) => Ok(t),
            None => record::target(
                &ready.keys,
                ready.create,
                ready.config.max_series(),
                &labels,
            )
            .inspect(|t| {
                if let Ok(mut m) = ready.targets.try_borrow_mut() {
                    m.insert(fp, *t);
                }
            }),
        };
        if let (Ok(t), Ok(mut abi)) = (&target, ready.abi.try_borrow_mut()) {
            abi.record(ready.config.names(), *t, &labels, &l);
        }
        let counted = target.and_then(|t: Target| record::add(&ready.keys, ready.create, t, &l));
        if let Err(s) = counted {
            log::warn!("latency-metrics: could not count a request in shared data: {s:?}");
        }
    }
}
