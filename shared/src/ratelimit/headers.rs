//! Rate-limit response headers, in Kong's form and the IETF draft's.
//!
//! Kong (`rate-limiting`): per limit `X-RateLimit-Limit-<Period>` / `X-RateLimit-Remaining-<Period>`,
//! plus `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` of the most restrictive limit,
//! and `Retry-After` on rejection. IETF (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy`
//! listing every limit (`"minute";q=5;w=60`) and `RateLimit` for the most restrictive one
//! (`"minute";r=4;t=37`). Names are lower case: HTTP/2 requires it and HTTP/1 ignores case.

use super::config::HeaderMode;
use super::decimal::push_u64;
use super::decision::Decision;
use super::rules::Rule;

/// The `Content-Type` of the rejection body ([`RateLimitConfig::error_body`](super::RateLimitConfig::error_body)).
pub const REJECTION_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Headers to add, held in one reused `String` so writing them does not allocate once warm.
#[derive(Debug, Clone, Default)]
pub struct HeaderBuf {
    text: String,
    /// (name start, value start = name end, value end) in `text`.
    entries: Vec<(usize, usize, usize)>,
}

impl HeaderBuf {
    /// Removes every header, keeping the capacity.
    pub fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
    }

    /// The `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|&(n, v, e)| {
            (
                self.text.get(n..v).unwrap_or(""),
                self.text.get(v..e).unwrap_or(""),
            )
        })
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of the first header named `name`, if any (for tests and logs).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn start(&mut self, name: &str) {
        let n = self.text.len();
        self.text.push_str(name);
        let v = self.text.len();
        self.entries.push((n, v, v));
    }

    fn finish(&mut self) {
        let end = self.text.len();
        if let Some(last) = self.entries.last_mut() {
            last.2 = end;
        }
    }

    fn push_num(&mut self, name: &str, value: u64) {
        self.start(name);
        push_u64(&mut self.text, value);
        self.finish();
    }
}

/// Writes the headers for `decision` under `rule` in the configured `mode` into `out` (cleared
/// first). Nothing for [`HeaderMode::None`] or a rule without limits.
pub fn write_headers(decision: &Decision, rule: &Rule, mode: HeaderMode, out: &mut HeaderBuf) {
    out.clear();
    let Some((top, top_remaining)) = decision.most_restrictive_limit() else {
        return;
    };
    let (kong, ietf) = match mode {
        HeaderMode::None => return,
        HeaderMode::Kong => (true, false),
        HeaderMode::Ietf => (false, true),
        HeaderMode::Both => (true, true),
    };
    if kong {
        for ((limit, remaining), names) in decision
            .limits()
            .iter()
            .zip(decision.remaining())
            .zip(rule.names())
        {
            out.push_num(&names.limit_header, limit.max);
            out.push_num(&names.remaining_header, *remaining);
        }
        out.push_num("RateLimit-Limit", top.max);
        out.push_num("RateLimit-Remaining", top_remaining);
        out.push_num("RateLimit-Reset", decision.reset_secs);
    }
    if ietf {
        out.start("RateLimit-Policy");
        out.text.push_str(rule.ietf_policy());
        out.finish();
        out.start("RateLimit");
        if let Some(names) = rule.names().get(decision.most_restrictive) {
            out.text.push_str(&names.ietf_name);
        }
        out.text.push_str(";r=");
        push_u64(&mut out.text, top_remaining);
        out.text.push_str(";t=");
        push_u64(&mut out.text, decision.reset_secs);
        out.finish();
    }
    if let Some(retry) = decision.retry_after_secs {
        out.push_num("Retry-After", retry);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::ratelimit::config::RateLimitConfig;
    use crate::ratelimit::decision::apply;
    use crate::ratelimit::record::Record;

    const T0: u64 = 1_715_953_320_000; // a minute boundary

    fn decide_n(config: &str, n: usize, now: u64) -> (RateLimitConfig, Vec<Decision>) {
        let c = RateLimitConfig::from_json(config.as_bytes()).expect("valid config");
        let rule = c.default_rule().expect("default rule").clone();
        let mut rec: Option<Record> = None;
        let ds = (0..n)
            .map(|_| {
                let (d, next) = apply(rec.as_ref(), 1, now, rule.limits(), rule.window_type(), 1);
                if next.is_some() {
                    rec = next;
                }
                d
            })
            .collect();
        (c, ds)
    }

    fn headers(c: &RateLimitConfig, d: &Decision) -> Vec<(String, String)> {
        let mut buf = HeaderBuf::default();
        write_headers(d, c.default_rule().unwrap(), c.header_mode(), &mut buf);
        buf.iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    both_targets_test! {
        fn kong_headers_count_down_four_to_zero_for_five_per_minute() {
            let (c, ds) = decide_n(r#"{"minute": 5}"#, 5, T0 + 23_500);
            let mut buf = HeaderBuf::default();
            let mut seen = Vec::new();
            for d in &ds {
                write_headers(d, c.default_rule().unwrap(), c.header_mode(), &mut buf);
                assert_eq!(buf.get("X-RateLimit-Limit-Minute"), Some("5"));
                assert_eq!(buf.get("RateLimit-Limit"), Some("5"));
                assert_eq!(buf.get("RateLimit-Reset"), Some("37"));
                assert_eq!(buf.get("Retry-After"), None);
                seen.push(buf.get("X-RateLimit-Remaining-Minute").unwrap().to_owned());
                assert_eq!(buf.get("RateLimit-Remaining"), seen.last().map(String::as_str));
            }
            assert_eq!(seen, ["4", "3", "2", "1", "0"]);
        }
    }

    both_targets_test! {
        fn rejection_headers_include_retry_after() {
            let (c, ds) = decide_n(r#"{"minute": 5}"#, 6, T0 + 23_500);
            let h = headers(&c, &ds[5]);
            assert_eq!(
                h,
                [
                    ("X-RateLimit-Limit-Minute", "5"),
                    ("X-RateLimit-Remaining-Minute", "0"),
                    ("RateLimit-Limit", "5"),
                    ("RateLimit-Remaining", "0"),
                    ("RateLimit-Reset", "37"),
                    ("Retry-After", "37"),
                ]
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
            );
        }
    }

    both_targets_test! {
        fn ietf_headers_list_every_policy_and_the_most_restrictive_state() {
            let (c, ds) = decide_n(
                r#"{"minute": 5, "limits": [{"max": 100, "window": "90s"}], "headers": "ietf"}"#,
                1,
                T0 + 23_500,
            );
            let h = headers(&c, &ds[0]);
            assert_eq!(h.len(), 2);
            assert_eq!(h[0], ("RateLimit-Policy".to_owned(), "\"minute\";q=5;w=60, \"90s\";q=100;w=90".to_owned()));
            assert_eq!(h[1], ("RateLimit".to_owned(), "\"minute\";r=4;t=37".to_owned()));
        }
    }

    both_targets_test! {
        fn custom_windows_use_their_seconds_as_kong_header_suffix() {
            let (c, ds) = decide_n(r#"{"limits": [{"max": 10, "window": "90s"}]}"#, 1, T0);
            let h = headers(&c, &ds[0]);
            assert_eq!(h[0], ("X-RateLimit-Limit-90".to_owned(), "10".to_owned()));
            assert_eq!(h[1], ("X-RateLimit-Remaining-90".to_owned(), "9".to_owned()));
        }
    }

    both_targets_test! {
        fn both_mode_writes_kong_and_ietf_headers_and_one_retry_after() {
            let (c, ds) = decide_n(r#"{"second": 1, "headers": "both"}"#, 2, T0);
            let h = headers(&c, &ds[1]);
            let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                [
                    "X-RateLimit-Limit-Second",
                    "X-RateLimit-Remaining-Second",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                    "RateLimit-Policy",
                    "RateLimit",
                    "Retry-After",
                ]
            );
        }
    }

    both_targets_test! {
        fn hidden_client_headers_write_nothing() {
            let (c, ds) = decide_n(r#"{"second": 1, "hide_client_headers": true}"#, 2, T0);
            assert!(headers(&c, &ds[1]).is_empty());
            let (c, ds) = decide_n(r#"{"second": 1, "headers": "none"}"#, 2, T0);
            assert!(headers(&c, &ds[1]).is_empty());
        }
    }

    both_targets_test! {
        fn most_restrictive_header_follows_kongs_tie_break() {
            // Both limits have 4 left after one request: Kong picks the longer window.
            let (c, ds) = decide_n(r#"{"second": 5, "hour": 5}"#, 1, T0 + 1_500);
            let h = headers(&c, &ds[0]);
            let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap();
            assert_eq!(get("RateLimit-Limit"), "5");
            assert_eq!(get("RateLimit-Remaining"), "4");
            assert_eq!(get("RateLimit-Reset"), "1079");
        }
    }

    both_targets_test! {
        fn header_buffer_is_reused_without_leftovers() {
            let (c, ds) = decide_n(r#"{"second": 1, "minute": 2}"#, 2, T0);
            let mut buf = HeaderBuf::default();
            write_headers(&ds[1], c.default_rule().unwrap(), c.header_mode(), &mut buf);
            let n = buf.len();
            write_headers(&ds[0], c.default_rule().unwrap(), c.header_mode(), &mut buf);
            assert_eq!(buf.len(), n - 1, "no retry-after the second time");
            assert!(!buf.is_empty());
        }
    }
}
