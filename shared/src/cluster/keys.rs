//! The Redis key scheme of the cluster policy, and how keys are written into Webdis paths.
//!
//! One Redis counter per rule, limit (window), window instance and client key:
//!
//! ```text
//! <key_prefix>:<rule>:<window id>:<window start ms>:<client key, base64url without padding>
//! ratelimit:0:2:1715953320000:aTEyNzo6MQ
//! ```
//!
//! - `key_prefix` — `redis_proxy.key_prefix` (default `ratelimit`): separates plugins,
//!   environments or tenants sharing one Redis.
//! - `rule` — the rule's index in the config (the top-level limits are the default rule).
//!   Nodes must run the same rule list to share counters; reordering rules starts new counters.
//! - `window id` — [`Window::id`]: `2` for a minute, `16 + seconds` for a custom window. A rule
//!   has at most one limit per window, so this names the limit; changing only a limit's `max`
//!   keeps its count.
//! - `window start ms` — [`Window::start_ms`] of the window the count belongs to (Unix ms,
//!   UTC-aligned exactly as the local policy aligns them). A new window is a new key, so no
//!   node ever has to reset a counter, and a node whose clock is a little behind counts into
//!   the window it believes in.
//! - the client key — the bytes [`build_key`](crate::ratelimit::build_key) derived (Kong's
//!   identifier), base64url-encoded: the alphabet `A–Z a–z 0–9 - _` is unreserved in URLs, so
//!   arbitrary bytes (header values, IPv6 addresses, `:` inside composite keys) can neither
//!   collide with the `:` separators nor be mangled on their way through Webdis. It is NOT the
//!   keyed slot hash: that hash's seed is per node, and nodes must agree on keys.
//!
//! A batch marker (see [`script`](super::script)) is `<key_prefix>:batch:<batch id, 16 hex
//! digits>`; its second field is never a number, so it cannot collide with a counter.
//!
//! Expiry ([`counter_ttl_ms`]): a counter lives for one window length after it is created
//! (so at least until its window ends), two for sliding windows, whose previous window is still
//! read during the current one. Calendar windows use the actual length of their month or year.
//!
//! In Webdis paths every byte but `A–Z a–z 0–9 - _ ~` is percent-encoded ([`push_path_segment`]):
//! Webdis splits the path on `/`, drops a `.raw`/`.json`/`.txt` suffix as the output format
//! and turns `+` into a space, so `.`, `/`, `+`, `#`, `?`, `%`, `:` and the rest are escaped.

use crate::ratelimit::{Window, WindowType};

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// The Redis key of the counter of `client_key` under rule `rule`, limit window `window`, in
/// the window that starts at `window_start_ms` (see the module docs for the scheme).
pub fn counter_key(
    key_prefix: &str,
    rule: u32,
    window: Window,
    window_start_ms: u64,
    client_key: &[u8],
) -> String {
    let mut key = String::with_capacity(key_prefix.len() + 40 + client_key.len() * 4 / 3);
    key.push_str(key_prefix);
    key.push(':');
    key.push_str(&rule.to_string());
    key.push(':');
    key.push_str(&window.id().to_string());
    key.push(':');
    key.push_str(&window_start_ms.to_string());
    key.push(':');
    push_base64url(&mut key, client_key);
    key
}

/// The Redis key of the marker that records that batch `batch_id` was applied.
pub fn batch_marker_key(key_prefix: &str, batch_id: u64) -> String {
    format!("{key_prefix}:batch:{batch_id:016x}")
}

/// How long (ms) a counter must live in Redis: one window length (two for sliding windows),
/// counted from its creation, which is never before its window starts. At least 1 ms.
pub fn counter_ttl_ms(window: Window, window_type: WindowType, window_start_ms: u64) -> u64 {
    let len = window
        .next_start_ms(window_start_ms)
        .saturating_sub(window_start_ms)
        .max(1);
    match window_type {
        WindowType::Fixed => len,
        WindowType::Sliding => len.saturating_mul(2),
    }
}

/// Appends `bytes` base64url-encoded without padding (RFC 4648 §5).
pub fn push_base64url(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let six = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(B64URL[six as usize]));
        }
    }
}

/// Appends `bytes` as one Webdis path segment: every byte but `A–Z a–z 0–9 - _ ~` as `%XX`.
/// (`.` is unreserved in RFC 3986 but must be escaped for Webdis: a segment ending in `.raw`
/// would lose that suffix.)
pub fn push_path_segment(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(bytes: &[u8]) -> String {
        let mut s = String::new();
        push_path_segment(&mut s, bytes);
        s
    }

    fn b64(bytes: &[u8]) -> String {
        let mut s = String::new();
        push_base64url(&mut s, bytes);
        s
    }

    both_targets_test! {
        fn counter_key_names_prefix_rule_window_start_and_client() {
            let key = counter_key("ratelimit", 3, Window::Minute, 1_715_953_320_000, b"10.0.0.1");
            assert_eq!(key, "ratelimit:3:2:1715953320000:MTAuMC4wLjE");
        }
    }

    both_targets_test! {
        fn different_limits_windows_and_clients_get_different_keys() {
            let a = counter_key("p", 0, Window::Minute, 60_000, b"k");
            assert_ne!(a, counter_key("p", 1, Window::Minute, 60_000, b"k"));
            assert_ne!(a, counter_key("p", 0, Window::Hour, 60_000, b"k"));
            assert_ne!(a, counter_key("p", 0, Window::Minute, 120_000, b"k"));
            assert_ne!(a, counter_key("p", 0, Window::Minute, 60_000, b"k2"));
            assert_ne!(a, counter_key("q", 0, Window::Minute, 60_000, b"k"));
        }
    }

    both_targets_test! {
        fn client_key_bytes_never_add_a_separator() {
            // Raw, client `x:2:0:y` would read as more fields; encoded it stays one field.
            let key = counter_key("p", 0, Window::Minute, 0, b"x:2:0:y");
            assert_eq!(key.matches(':').count(), 4);
            assert_eq!(key, "p:0:2:0:eDoyOjA6eQ");
        }
    }

    both_targets_test! {
        fn base64url_matches_rfc4648_without_padding() {
            assert_eq!(b64(b""), "");
            assert_eq!(b64(b"f"), "Zg");
            assert_eq!(b64(b"fo"), "Zm8");
            assert_eq!(b64(b"foo"), "Zm9v");
            assert_eq!(b64(b"foob"), "Zm9vYg");
            assert_eq!(b64(b"fooba"), "Zm9vYmE");
            assert_eq!(b64(b"foobar"), "Zm9vYmFy");
            assert_eq!(b64(&[0xfb, 0xff, 0xbf]), "-_-_");
        }
    }

    both_targets_test! {
        fn path_segment_escapes_the_characters_webdis_would_reinterpret() {
            assert_eq!(segment(b"key.raw"), "key%2Eraw");
            assert_eq!(segment(b"a/b+c#d?e%f g"), "a%2Fb%2Bc%23d%3Fe%25f%20g");
            assert_eq!(segment(b"ratelimit:0:2:60000:Zm9v-_"), "ratelimit%3A0%3A2%3A60000%3AZm9v-_");
            assert_eq!(segment(&[0x00, 0xff]), "%00%FF");
            assert_eq!(segment(b"AZaz09-_~"), "AZaz09-_~");
        }
    }

    both_targets_test! {
        fn a_prefix_ending_in_raw_keeps_its_suffix_in_the_path() {
            let key = counter_key("rl.raw", 0, Window::Second, 0, b"x.json");
            let seg = segment(key.as_bytes());
            assert!(!seg.contains('.'), "{seg}");
            assert!(seg.starts_with("rl%2Eraw%3A"));
        }
    }

    both_targets_test! {
        fn marker_keys_cannot_be_counter_keys() {
            assert_eq!(batch_marker_key("rl", 0xabc), "rl:batch:0000000000000abc");
        }
    }

    both_targets_test! {
        fn counters_expire_after_one_window_or_two_when_sliding() {
            assert_eq!(counter_ttl_ms(Window::Minute, WindowType::Fixed, 60_000), 60_000);
            assert_eq!(counter_ttl_ms(Window::Minute, WindowType::Sliding, 60_000), 120_000);
            assert_eq!(counter_ttl_ms(Window::Seconds(90), WindowType::Fixed, 90_000), 90_000);
            // February 2024 (leap year): 29 days.
            let feb_2024 = 1_706_745_600_000;
            assert_eq!(counter_ttl_ms(Window::Month, WindowType::Fixed, feb_2024), 29 * 86_400_000);
        }
    }
}
