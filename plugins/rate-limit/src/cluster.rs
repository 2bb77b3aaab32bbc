//! The cluster policy's request path in strict mode (`sync_rate: -1`): one
//! callout to Webdis per request runs the sync script on this request's
//! counters, and the decision is taken on the cluster totals it returns.

use crate::host;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, Status};
use shared::cluster::{
    counter_key, counter_ttl_ms, decode_sync_reply, eval, evalsha, Callout, Endpoint, SyncCall,
    SyncItem, SyncReply, MAX_REPLY_BYTES,
};
use shared::ratelimit::{apply, Counter, Decision, Record, RedisProxy, Rule, WindowType};
use std::time::Duration;

/// A strict-mode request waiting for its callout.
pub struct Strict {
    items: Vec<SyncItem>,
    /// Whether this call already fell back from `EVALSHA` to `EVAL`.
    sent_eval: bool,
    pub now_ms: u64,
}

/// The counters of one request: per limit its current window's counter
/// (incremented by one) and, for sliding windows, the previous window's
/// (read only).
pub fn items(prefix: &str, rule_index: u32, rule: &Rule, key: &[u8], now_ms: u64) -> Vec<SyncItem> {
    let wt = rule.window_type();
    let mut items = Vec::with_capacity(rule.limits().len() * 2);
    for limit in rule.limits() {
        let start = limit.window.start_ms(now_ms);
        items.push(SyncItem {
            key: counter_key(prefix, rule_index, limit.window, start, key),
            increment: 1,
            ttl_ms: counter_ttl_ms(limit.window, wt, start),
        });
        if wt == WindowType::Sliding {
            let prev = limit.window.start_ms(start.saturating_sub(1));
            items.push(SyncItem {
                key: counter_key(prefix, rule_index, limit.window, prev, key),
                increment: 0,
                ttl_ms: counter_ttl_ms(limit.window, wt, prev),
            });
        }
    }
    items
}

impl Strict {
    pub fn new(items: Vec<SyncItem>, now_ms: u64) -> Strict {
        Strict {
            items,
            sent_eval: false,
            now_ms,
        }
    }

    /// Sends the call (`EVALSHA`, or `EVAL` after a `NOSCRIPT`).
    pub fn dispatch(&self, proxy: &RedisProxy) -> Result<u32, Status> {
        let endpoint = Endpoint::of(proxy);
        let call = SyncCall {
            key_prefix: &proxy.key_prefix,
            batch_id: 0,
            items: &self.items,
        };
        let built = if self.sent_eval {
            eval(&endpoint, &call)
        } else {
            evalsha(&endpoint, &call)
        };
        let callout = built.map_err(|_| Status::BadArgument)?;
        send(proxy, &callout)
    }

    /// Reads the callout's answer; `true` with it when it was the first
    /// `NOSCRIPT` (Redis restarted): [`Strict::dispatch`] again, now
    /// with `EVAL`.
    pub fn read_reply(&mut self, body_size: usize) -> (SyncReply, bool) {
        let reply = read_reply(body_size, self.items.len());
        let retry = reply == SyncReply::NoScript && !self.sent_eval;
        if retry {
            self.sent_eval = true;
        }
        (reply, retry)
    }

    /// The decision on the cluster totals, with Kong's header semantics:
    /// the totals include this request, so the count before it is one less.
    pub fn decide(&self, rule: &Rule, totals: &[u64]) -> Decision {
        let mut record = Record::new(1, rule.limits().len());
        let sliding = rule.window_type() == WindowType::Sliding;
        let mut t = totals.iter();
        for (limit, counter) in rule.limits().iter().zip(record.counters_mut()) {
            let current = t.next().copied().unwrap_or(0);
            let previous = if sliding {
                t.next().copied().unwrap_or(0)
            } else {
                0
            };
            *counter = Counter {
                window_start_ms: limit.window.start_ms(self.now_ms),
                count: current.saturating_sub(1),
                previous_count: previous,
            };
        }
        apply(
            Some(&record),
            1,
            self.now_ms,
            rule.limits(),
            rule.window_type(),
            1,
        )
        .0
    }
}

/// Dispatches a built callout to the configured upstream.
pub fn send(proxy: &RedisProxy, callout: &Callout) -> Result<u32, Status> {
    let headers: Vec<(&str, &str)> = callout
        .headers
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    hostcalls::dispatch_http_call(
        &proxy.upstream,
        headers,
        Some(&callout.body),
        vec![],
        Duration::from_millis(proxy.timeout_ms),
    )
}

/// The HTTP status and body of the callout being answered, decoded. A
/// failed callout (no `:status`: Envoy gives no headers, Kong a
/// `:dispatch_status`) reads as HTTP status 0.
pub fn read_reply(body_size: usize, expected: usize) -> SyncReply {
    let status = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()
        .and_then(|v| {
            std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse::<u16>().ok())
        })
        .unwrap_or(0);
    if status == 0 {
        let why =
            hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":dispatch_status")
                .ok()
                .flatten()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_else(|| "no response".into());
        return SyncReply::Malformed(format!("callout failed: {why}"));
    }
    let body = hostcalls::get_buffer(
        BufferType::HttpCallResponseBody,
        0,
        body_size.min(MAX_REPLY_BYTES),
    )
    .ok()
    .flatten()
    .unwrap_or_default();
    decode_sync_reply(status, &body, expected)
}

const HEALTH_KEY: &str = "rl:cluster-health";

/// Whether the last sync said the cluster store is failing (read by
/// requests only when `fault_tolerant` is false).
pub fn is_failing() -> bool {
    matches!(host::shared_get(HEALTH_KEY), Ok(Some((v, _))) if v == b"failing")
}

/// Keeps the cluster's health in shared data so that, of all workers, only
/// the one that sees the change logs it: once per incident, not per
/// request.
pub fn note_health(ok: bool, detail: &str) {
    const KEY: &str = HEALTH_KEY;
    let want: &[u8] = if ok { b"ok" } else { b"failing" };
    let Ok(current) = host::shared_get(KEY) else {
        return;
    };
    let (was, cas) = match &current {
        Some((v, cas)) => (v.as_slice() == b"ok", *cas),
        None => (true, 0),
    };
    if was == ok {
        return;
    }
    let flipped = match current {
        Some(_) => host::shared_set(KEY, want, cas).is_ok(),
        None => host::shared_set(KEY, want, 0).is_ok(),
    };
    if flipped {
        if ok {
            log::info!(
                "rate-limit: Redis reachable again through Webdis; cluster counting resumed"
            );
        } else {
            log::error!("rate-limit: cluster counter store failing ({detail}); deciding on this node's counters until it recovers");
        }
    }
}
