//! One request: decide in `on_http_request_headers` (or, in strict cluster
//! mode, when the callout answers), then add the rate-limit headers to the
//! upstream's response.

use crate::batched;
use crate::cluster::{self, Strict};
use crate::facts;
use crate::host;
use crate::local::{self, Outcome, Scratch};
use crate::root::Ready;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use shared::cluster::SyncReply;
use shared::ratelimit::{
    build_key, write_headers, Decision, HeaderBuf, Policy, SyncRate, REJECTION_CONTENT_TYPE,
};
use std::cell::RefCell;
use std::rc::Rc;

/// Kong's body when the counter store fails and `fault_tolerant` is false.
const STORE_FAILURE_BODY: &[u8] = br#"{"message":"An unexpected error occurred"}"#;

thread_local! {
    /// Buffers reused by every request of this worker.
    static SCRATCH: RefCell<(Scratch, Vec<u8>, Vec<u8>, HeaderBuf)> = RefCell::new(Default::default());
}

pub struct RateLimitStream {
    ready: Rc<Ready>,
    /// Headers to add to the upstream's response (empty when hidden or
    /// when this plugin answered the request itself).
    headers: HeaderBuf,
    /// Strict cluster mode: the rule, client key and call in flight.
    waiting: Option<(u32, Vec<u8>, Strict)>,
}

impl RateLimitStream {
    pub fn new(ready: Rc<Ready>) -> RateLimitStream {
        RateLimitStream {
            ready,
            headers: HeaderBuf::default(),
            waiting: None,
        }
    }

    /// Acts on a decision: go on (keeping the headers for the response) or
    /// answer with the configured error.
    fn conclude(&mut self, rule_index: u32, decision: &Decision) -> Action {
        let ready = self.ready.clone();
        let config = &ready.config;
        let Some(rule) = rule_of(config, rule_index) else {
            return Action::Continue;
        };
        if decision.allowed {
            ready.metrics.allowed();
            write_headers(decision, rule, config.header_mode(), &mut self.headers);
            return Action::Continue;
        }
        ready.metrics.rejected();
        let mut buf = HeaderBuf::default();
        write_headers(decision, rule, config.header_mode(), &mut buf);
        let mut headers: Vec<(&str, &str)> = vec![("content-type", REJECTION_CONTENT_TYPE)];
        headers.extend(buf.iter());
        host::send_response(config.error_code(), headers, config.error_body());
        Action::Pause
    }

    /// Counts on this node's shared data: the local policy, and the cluster
    /// policy's fallback while Redis is unreachable.
    fn count_locally(&mut self, rule_index: u32, key: &[u8], now: u64) -> Action {
        let ready = self.ready.clone();
        let config = &ready.config;
        let Some(rule) = rule_of(config, rule_index) else {
            return Action::Continue;
        };
        let outcome = SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut guard) => local::count(
                &mut guard.0,
                ready.create,
                ready.seed,
                config.local_slots(),
                ready.table.wrapping_add(rule_index),
                rule,
                key,
                now,
            ),
            Err(_) => Outcome::TableFull,
        });
        self.act_on(rule_index, outcome)
    }

    /// Acts on a counted request: its decision, or the table-full and
    /// store-failure policies.
    fn act_on(&mut self, rule_index: u32, outcome: Outcome) -> Action {
        let ready = self.ready.clone();
        let config = &ready.config;
        match outcome {
            Outcome::Decided(decision) => self.conclude(rule_index, &decision),
            Outcome::TableFull => {
                ready.metrics.table_full();
                log::warn!(
                    "rate-limit: every counter slot for this key is held by live keys (local_slots = {}); request let through uncounted",
                    config.local_slots()
                );
                Action::Continue
            }
            Outcome::StoreFailed(status) => {
                ready.metrics.store_error();
                log::error!("rate-limit: shared data failed: {status:?}");
                self.fault()
            }
        }
    }

    /// The counter store failed: go on if fault tolerant, else Kong's 500.
    fn fault(&self) -> Action {
        if self.ready.config.fault_tolerant() {
            return Action::Continue;
        }
        host::send_response(
            500,
            vec![("content-type", REJECTION_CONTENT_TYPE)],
            STORE_FAILURE_BODY,
        );
        Action::Pause
    }

    /// Strict mode could not reach Redis: log once per incident, count it,
    /// and decide on this node's counters (or fail closed).
    fn cluster_failed(&mut self, rule_index: u32, key: &[u8], now: u64, detail: &str) -> Action {
        self.ready.metrics.sync_failure();
        cluster::note_health(false, detail);
        if !self.ready.config.fault_tolerant() {
            return self.fault();
        }
        self.count_locally(rule_index, key, now)
    }
}

pub(crate) fn rule_of(
    config: &shared::ratelimit::RateLimitConfig,
    index: u32,
) -> Option<&shared::ratelimit::Rule> {
    config
        .rules()
        .get(index as usize)
        .or_else(|| config.default_rule().filter(|r| r.index() == index))
}

impl Context for RateLimitStream {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some((rule_index, key, mut strict)) = self.waiting.take() else {
            return;
        };
        let ready = self.ready.clone();
        let Policy::Cluster { proxy, .. } = ready.config.policy() else {
            return;
        };
        let (reply, retry) = strict.read_reply(body_size);
        let action = match reply {
            SyncReply::Totals(totals) => {
                cluster::note_health(true, "");
                match rule_of(&ready.config, rule_index) {
                    Some(rule) => {
                        let decision = strict.decide(rule, &totals);
                        self.conclude(rule_index, &decision)
                    }
                    None => Action::Continue,
                }
            }
            SyncReply::NoScript if retry => {
                // Redis restarted and lost its script cache: EVAL loads it.
                match strict.dispatch(proxy) {
                    Ok(_) => {
                        self.waiting = Some((rule_index, key, strict));
                        return;
                    }
                    Err(s) => self.cluster_failed(
                        rule_index,
                        &key,
                        strict.now_ms,
                        &format!("dispatch refused: {s:?}"),
                    ),
                }
            }
            other => self.cluster_failed(rule_index, &key, strict.now_ms, &format!("{other:?}")),
        };
        if action == Action::Continue {
            let _ = hostcalls::resume_http_request();
        }
    }
}

impl HttpContext for RateLimitStream {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let ready = self.ready.clone();
        let config = &ready.config;
        let facts = facts::collect(config, &ready.names);
        let Some((rule_index, rule)) = config.select_rule(
            facts.route_name.as_deref(),
            facts.host.as_deref(),
            facts.path.as_deref(),
        ) else {
            return Action::Continue;
        };
        let now = host::now_ms();
        // Counters are per route, as Kong keeps them per route.
        let mut key = Vec::new();
        SCRATCH.with(|cell| {
            if let Ok(mut guard) = cell.try_borrow_mut() {
                let client = &mut guard.1;
                build_key(rule.key(), &facts, config.trusted_proxies(), client);
                key.reserve(client.len() + 32);
                key.extend_from_slice(facts.route_name.as_deref().unwrap_or_default());
                key.push(0xff);
                key.extend_from_slice(client);
            }
        });
        match config.policy() {
            Policy::Cluster {
                proxy,
                sync_rate: SyncRate::Strict,
            } => {
                let strict = Strict::new(
                    cluster::items(&proxy.key_prefix, rule_index, rule, &key, now),
                    now,
                );
                match strict.dispatch(proxy) {
                    Ok(_) => {
                        self.waiting = Some((rule_index, key, strict));
                        Action::Pause
                    }
                    Err(s) => self.cluster_failed(
                        rule_index,
                        &key,
                        now,
                        &format!("dispatch to `{}` refused: {s:?}", proxy.upstream),
                    ),
                }
            }
            Policy::Cluster {
                sync_rate: SyncRate::EveryMs(_),
                ..
            } => {
                if !config.fault_tolerant() && cluster::is_failing() {
                    return self.fault();
                }
                let table = ready.table.wrapping_add(rule_index);
                let outcome = batched::count(&ready, table, rule, &key, now);
                self.act_on(rule_index, outcome)
            }
            Policy::Local => self.count_locally(rule_index, &key, now),
        }
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        // Hosts also run this phase for a local response; ours carried its
        // headers already, and `headers` is empty then.
        for (name, value) in self.headers.iter() {
            host::add_response_header(name, value);
        }
        self.headers.clear();
        Action::Continue
    }
}
