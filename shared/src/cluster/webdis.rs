//! The HTTP callouts to Webdis: `SCRIPT LOAD`, `EVALSHA`, and `EVAL` as the fallback on
//! `NOSCRIPT` (Redis restarted and lost its script cache).
//!
//! Every command is a `POST /` whose body is the Webdis command path with the `.raw` suffix
//! (`EVALSHA/<sha>/<nkeys>/<key>…/<arg>….raw`): Webdis answers it in RESP, and a body has no
//! practical length limit (128 MB) while a request line must stay under 80 KB — the script
//! alone is 2 KB url-encoded, and 100 long keys would not fit a path. Every argument is
//! percent-encoded with [`push_path_segment`].
//!
//! No `connection` header is sent, on purpose. Observed with Webdis 0.1.9: a request carrying
//! `Connection: close` is never answered if its end (the rest of the headers or the body)
//! arrives in a later read than the `Connection: close` line; without that header any split
//! is fine. Envoy's upstream HTTP/1.1 codec does not add it; Kong's ngx_wasm_module always
//! does (and writes the request with one `writev`), so with Kong keep Webdis on loopback or a
//! low-latency link, where a request of a few KB arrives in one read, and keep requests
//! small: the script is written compactly (1.4 KB url-encoded) for that reason. A hung call
//! ends at the callout timeout and is handled like any timeout.
//!
//! At most [`MAX_KEYS_PER_CALL`] counters go in one call: Redis runs a script alone, and a
//! 1000-key script blocks it for about 3 ms. [`calls`] splits a larger batch.

use crate::ratelimit::RedisProxy;

use super::keys::{batch_marker_key, push_path_segment};
use super::script::{MAX_SCRIPT_NUMBER, SCRIPT, SCRIPT_SHA1};

/// The most counters one call carries (Webdis runs a 100-key script in about 0.4 ms).
pub const MAX_KEYS_PER_CALL: usize = 100;

/// The content type of every callout body (Webdis ignores it; proxies in between should not
/// try to parse the body as a form).
pub const CONTENT_TYPE: &str = "text/plain";

/// Where callouts go and how they authenticate: from `redis_proxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The `:authority` header: `redis_proxy.authority`, else the upstream.
    pub authority: String,
    /// An `authorization` header value, if Webdis requires HTTP auth.
    pub authorization: Option<String>,
}

impl Endpoint {
    /// The endpoint a `redis_proxy` config names.
    pub fn of(proxy: &RedisProxy) -> Endpoint {
        Endpoint {
            authority: proxy
                .authority
                .clone()
                .unwrap_or_else(|| proxy.upstream.clone()),
            authorization: proxy.authorization.clone(),
        }
    }
}

/// One counter in a sync call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncItem {
    /// The Redis key ([`counter_key`](super::keys::counter_key)), not yet url-encoded.
    pub key: String,
    /// How much to add; 0 only reads the total.
    pub increment: u64,
    /// TTL (ms) to set if this call creates the key ([`counter_ttl_ms`](super::keys::counter_ttl_ms)).
    pub ttl_ms: u64,
}

/// One script run: the counters and the batch they are sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCall<'a> {
    /// `redis_proxy.key_prefix`, for the batch marker's key.
    pub key_prefix: &'a str,
    /// The batch id (unique per node and send, never reused for other increments); 0 for no
    /// exactly-once marker (strict mode, whose single increment is never re-sent).
    pub batch_id: u64,
    /// The counters, at most [`MAX_KEYS_PER_CALL`].
    pub items: &'a [SyncItem],
}

/// An HTTP callout ready for `dispatch_http_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    /// `:method`, `:path`, `:authority`, `content-type` and, if configured, `authorization`.
    pub headers: Vec<(&'static str, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

/// Why a call could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalloutError {
    /// More counters than [`MAX_KEYS_PER_CALL`]: split them with [`calls`].
    #[error("{0} counters in one call; at most {MAX_KEYS_PER_CALL} (split the batch)")]
    TooManyKeys(usize),
}

/// Splits counters into groups of at most [`MAX_KEYS_PER_CALL`], one call (and one batch id)
/// each.
pub fn calls(items: &[SyncItem]) -> impl Iterator<Item = &[SyncItem]> {
    items.chunks(MAX_KEYS_PER_CALL)
}

/// `SCRIPT LOAD` of [`SCRIPT`]; the reply is the script's SHA-1 ([`decode_load_reply`](super::reply::decode_load_reply)).
pub fn script_load(endpoint: &Endpoint) -> Callout {
    let mut body = String::with_capacity(2_200);
    body.push_str("SCRIPT/LOAD/");
    push_path_segment(&mut body, SCRIPT.as_bytes());
    body.push_str(".raw");
    post(endpoint, body)
}

/// `EVALSHA` of the loaded script for `call`.
pub fn evalsha(endpoint: &Endpoint, call: &SyncCall<'_>) -> Result<Callout, CalloutError> {
    command(endpoint, call, "EVALSHA/", SCRIPT_SHA1.as_bytes())
}

/// `EVAL` of the script text for `call`: the fallback when `EVALSHA` answers `NOSCRIPT`
/// (it also loads the script into Redis's cache, so later `EVALSHA`s work again).
pub fn eval(endpoint: &Endpoint, call: &SyncCall<'_>) -> Result<Callout, CalloutError> {
    command(endpoint, call, "EVAL/", SCRIPT.as_bytes())
}

fn command(
    endpoint: &Endpoint,
    call: &SyncCall<'_>,
    verb: &str,
    script: &[u8],
) -> Result<Callout, CalloutError> {
    if call.items.len() > MAX_KEYS_PER_CALL {
        return Err(CalloutError::TooManyKeys(call.items.len()));
    }
    let keys_len: usize = call.items.iter().map(|i| i.key.len() * 3 + 40).sum();
    let mut body = String::with_capacity(verb.len() + script.len() * 3 + keys_len + 64);
    body.push_str(verb);
    push_path_segment(&mut body, script);
    body.push('/');
    body.push_str(&(call.items.len() + 1).to_string());
    body.push('/');
    push_path_segment(
        &mut body,
        batch_marker_key(call.key_prefix, call.batch_id).as_bytes(),
    );
    for item in call.items {
        body.push('/');
        push_path_segment(&mut body, item.key.as_bytes());
    }
    // The marker must outlive every counter of the batch (see the script's docs).
    let marker_ttl = if call.batch_id == 0 {
        0
    } else {
        call.items.iter().map(|i| ttl(i.ttl_ms)).max().unwrap_or(1)
    };
    body.push('/');
    body.push_str(&marker_ttl.to_string());
    for item in call.items {
        body.push('/');
        body.push_str(&item.increment.min(MAX_SCRIPT_NUMBER).to_string());
        body.push('/');
        body.push_str(&ttl(item.ttl_ms).to_string());
    }
    body.push_str(".raw");
    Ok(post(endpoint, body))
}

/// A TTL the script accepts: 0 would delete the key at once.
fn ttl(ms: u64) -> u64 {
    ms.clamp(1, MAX_SCRIPT_NUMBER)
}

fn post(endpoint: &Endpoint, body: String) -> Callout {
    let mut headers = vec![
        (":method", "POST".to_owned()),
        (":path", "/".to_owned()),
        (":authority", endpoint.authority.clone()),
        ("content-type", CONTENT_TYPE.to_owned()),
    ];
    if let Some(auth) = &endpoint.authorization {
        headers.push(("authorization", auth.clone()));
    }
    Callout {
        headers,
        body: body.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            authority: "webdis.internal:7379".to_owned(),
            authorization: None,
        }
    }

    fn item(key: &str, increment: u64, ttl_ms: u64) -> SyncItem {
        SyncItem {
            key: key.to_owned(),
            increment,
            ttl_ms,
        }
    }

    fn body(c: &Callout) -> String {
        String::from_utf8(c.body.clone()).unwrap()
    }

    fn header<'a>(c: &'a Callout, name: &str) -> Option<&'a str> {
        c.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    both_targets_test! {
        fn evalsha_body_names_marker_then_counters_then_their_arguments() {
            let items = [item("rl:0:2:60000:eA", 3, 60_000), item("rl:0:2:0:eA", 0, 120_000)];
            let call = SyncCall { key_prefix: "rl", batch_id: 0x2a, items: &items };
            let c = evalsha(&endpoint(), &call).unwrap();
            assert_eq!(
                body(&c),
                format!(
                    "EVALSHA/{SCRIPT_SHA1}/3/rl%3Abatch%3A000000000000002a/rl%3A0%3A2%3A60000%3AeA/\
                     rl%3A0%3A2%3A0%3AeA/120000/3/60000/0/120000.raw"
                )
            );
        }
    }

    both_targets_test! {
        fn callouts_are_posts_to_the_root_with_authority_and_content_type() {
            let c = script_load(&endpoint());
            assert_eq!(header(&c, ":method"), Some("POST"));
            assert_eq!(header(&c, ":path"), Some("/"));
            assert_eq!(header(&c, ":authority"), Some("webdis.internal:7379"));
            assert_eq!(header(&c, "content-type"), Some("text/plain"));
            assert_eq!(header(&c, "authorization"), None);
        }
    }

    both_targets_test! {
        fn authorization_is_sent_when_configured() {
            let proxy = RedisProxy {
                upstream: "webdis".to_owned(),
                authority: None,
                timeout_ms: 100,
                authorization: Some("Basic dXNlcjpwdw==".to_owned()),
                key_prefix: "rl".to_owned(),
            };
            let e = Endpoint::of(&proxy);
            assert_eq!(e.authority, "webdis", "the upstream when no authority is set");
            let c = script_load(&e);
            assert_eq!(header(&c, "authorization"), Some("Basic dXNlcjpwdw=="));
        }
    }

    both_targets_test! {
        fn script_load_sends_the_script_url_encoded_with_no_dot_before_raw() {
            let b = body(&script_load(&endpoint()));
            assert!(b.starts_with("SCRIPT/LOAD/--%20gateway-wasm%20rate-limit%20sync%20v1%0A"));
            assert!(b.ends_with(".raw"));
            assert_eq!(b.matches('.').count(), 1, "only the .raw suffix");
            assert_eq!(b.matches('/').count(), 2, "one argument: the script");
        }
    }

    both_targets_test! {
        fn eval_fallback_carries_the_script_instead_of_its_sha() {
            let items = [item("k", 1, 1_000)];
            let call = SyncCall { key_prefix: "rl", batch_id: 7, items: &items };
            let b = body(&eval(&endpoint(), &call).unwrap());
            assert!(b.starts_with("EVAL/--%20gateway-wasm"));
            assert!(b.ends_with("/2/rl%3Abatch%3A0000000000000007/k/1000/1/1000.raw"));
        }
    }

    both_targets_test! {
        fn strict_mode_batch_zero_sends_no_marker_ttl() {
            let items = [item("k", 1, 1_000)];
            let call = SyncCall { key_prefix: "rl", batch_id: 0, items: &items };
            let b = body(&evalsha(&endpoint(), &call).unwrap());
            assert!(b.ends_with("/k/0/1/1000.raw"), "{b}");
        }
    }

    both_targets_test! {
        fn keys_with_dots_and_plus_are_escaped_in_the_body() {
            let items = [item("p:a.raw+b/c", 1, 1_000)];
            let call = SyncCall { key_prefix: "p", batch_id: 1, items: &items };
            let b = body(&evalsha(&endpoint(), &call).unwrap());
            assert!(b.contains("/p%3Aa%2Eraw%2Bb%2Fc/"), "{b}");
        }
    }

    both_targets_test! {
        fn numbers_are_clamped_to_what_the_script_accepts() {
            let items = [item("k", u64::MAX, 0)];
            let call = SyncCall { key_prefix: "p", batch_id: 1, items: &items };
            let b = body(&evalsha(&endpoint(), &call).unwrap());
            assert!(b.ends_with("/k/1/999999999999999/1.raw"), "{b}");
        }
    }

    both_targets_test! {
        fn more_than_the_cap_is_refused_and_calls_split_it() {
            let items: Vec<SyncItem> = (0..250).map(|i| item(&format!("k{i}"), 1, 1_000)).collect();
            let call = SyncCall { key_prefix: "p", batch_id: 1, items: &items };
            assert_eq!(evalsha(&endpoint(), &call), Err(CalloutError::TooManyKeys(250)));
            let sizes: Vec<usize> = calls(&items).map(<[SyncItem]>::len).collect();
            assert_eq!(sizes, vec![100, 100, 50]);
            for chunk in calls(&items) {
                let call = SyncCall { key_prefix: "p", batch_id: 1, items: chunk };
                assert!(evalsha(&endpoint(), &call).is_ok());
            }
        }
    }
}
