//! One request: decide in `on_http_request_headers`, then add the
//! rate-limit headers to the upstream's response.

use crate::facts;
use crate::host;
use crate::local::{self, Outcome, Scratch};
use crate::root::Ready;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use shared::ratelimit::{build_key, write_headers, HeaderBuf, REJECTION_CONTENT_TYPE};
use std::cell::RefCell;
use std::rc::Rc;

/// Kong's body for a failure of the counter store with
/// `fault_tolerant: false`.
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
}

impl RateLimitStream {
    pub fn new(ready: Rc<Ready>) -> RateLimitStream {
        RateLimitStream {
            ready,
            headers: HeaderBuf::default(),
        }
    }
}

impl Context for RateLimitStream {}

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
        SCRATCH.with(|cell| {
            let Ok(mut guard) = cell.try_borrow_mut() else {
                return Action::Continue;
            };
            let (scratch, client, key, buf) = &mut *guard;
            build_key(rule.key(), &facts, config.trusted_proxies(), client);
            // Counters are per route, as Kong keeps them per route.
            key.clear();
            key.extend_from_slice(facts.route_name.as_deref().unwrap_or_default());
            key.push(0xff);
            key.extend_from_slice(client);
            let outcome = local::count(
                scratch,
                ready.create,
                ready.seed,
                config.local_slots(),
                ready.table.wrapping_add(rule_index),
                rule,
                key,
                now,
            );
            match outcome {
                Outcome::Decided(decision) => {
                    if decision.allowed {
                        ready.metrics.allowed();
                        write_headers(&decision, rule, config.header_mode(), &mut self.headers);
                        return Action::Continue;
                    }
                    write_headers(&decision, rule, config.header_mode(), buf);
                    ready.metrics.rejected();
                    let mut headers: Vec<(&str, &str)> = vec![("content-type", REJECTION_CONTENT_TYPE)];
                    headers.extend(buf.iter());
                    host::send_response(config.error_code(), headers, config.error_body());
                    Action::Pause
                }
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
                    if config.fault_tolerant() {
                        Action::Continue
                    } else {
                        host::send_response(
                            500,
                            vec![("content-type", REJECTION_CONTENT_TYPE)],
                            STORE_FAILURE_BODY,
                        );
                        Action::Pause
                    }
                }
            }
        })
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
