//! The hosts' timing values, read into integer milliseconds, and the three latencies of a request.
//!
//! ngx_wasm_module gives nginx variables as text seconds with a millisecond fraction
//! (`ngx.upstream_header_time` = `"0.122"`, `"-"` when there was no upstream, and a list such as
//! `"0.010, 0.122"` when nginx tried several servers, or `"0.010 : 0.122"` across internal
//! redirects). Envoy gives durations as 8-byte little-endian signed nanoseconds.

/// Where the upstream latency comes from (`upstream_timing` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamTiming {
    /// The host's own timing when it has one, else the filter's measurement.
    #[default]
    Auto,
    /// Only the host's timing (no upstream latency when the host gives none).
    Host,
    /// Only the filter's measurement: end of request headers to start of response headers.
    Filter,
}

impl UpstreamTiming {
    /// The upstream latency to record, given what the host said and what the filter measured.
    pub fn choose(self, host_ms: Option<u64>, filter_ms: Option<u64>) -> Option<u64> {
        match self {
            UpstreamTiming::Auto => host_ms.or(filter_ms),
            UpstreamTiming::Host => host_ms,
            UpstreamTiming::Filter => filter_ms,
        }
    }
}

/// The most integer digits accepted in a seconds value: 10^12 s is far past any request, and the
/// bound keeps the millisecond arithmetic clear of overflow.
const MAX_SECONDS_DIGITS: usize = 12;

/// An nginx time variable (`"0.122"`) in milliseconds. For a list (`"0.010, 0.122"`,
/// `"0.010 : 0.122"`) the last entry counts: it is the server that answered. `None` for `"-"`
/// (no upstream, or not final yet), an empty value, or anything that is not
/// `digits[.digits]`. Fraction digits past the third are dropped (nginx prints exactly three).
pub fn parse_ngx_seconds(bytes: &[u8]) -> Option<u64> {
    let last = bytes
        .rsplit(|b| *b == b',' || *b == b':')
        .next()?
        .trim_ascii();
    let (int, frac) = match last.iter().position(|b| *b == b'.') {
        Some(dot) => (&last[..dot], &last[dot + 1..]),
        None => (last, &[][..]),
    };
    let dangling_dot = frac.is_empty() && last.len() > int.len();
    if int.is_empty() || int.len() > MAX_SECONDS_DIGITS || dangling_dot {
        return None;
    }
    if !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let seconds = int
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    let mut millis = 0u64;
    for i in 0..3 {
        let digit = frac.get(i).map_or(0, |d| u64::from(d - b'0'));
        millis = millis * 10 + digit;
    }
    Some(seconds * 1000 + millis)
}

/// An Envoy duration attribute (`response.backend_latency`, `request.duration`): 8 bytes,
/// little-endian signed nanoseconds, rounded to the nearest millisecond. `None` for any other
/// length or a negative value.
pub fn parse_envoy_duration_ns(bytes: &[u8]) -> Option<u64> {
    let raw: [u8; 8] = bytes.try_into().ok()?;
    let nanos = u64::try_from(i64::from_le_bytes(raw)).ok()?;
    // nanos <= i64::MAX, so adding half a millisecond cannot overflow a u64.
    Some((nanos + 500_000) / 1_000_000)
}

/// The filter's own upstream measurement: from the end of the request headers to the start of
/// the response headers, both read from the host clock in ms. `None` if the clock went back.
pub fn filter_upstream_ms(request_headers_done_ms: u64, response_headers_ms: u64) -> Option<u64> {
    response_headers_ms.checked_sub(request_headers_done_ms)
}

/// The three latencies of one request, as Kong's prometheus plugin records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    /// Time spent waiting for the upstream (`kong_upstream_latency_ms`); `None` for a response
    /// the proxy made itself (no upstream).
    pub upstream_ms: Option<u64>,
    /// The whole request (`kong_request_latency_ms`).
    pub request_ms: u64,
    /// The proxy's own share: request minus upstream (`kong_kong_latency_ms`).
    pub kong_ms: u64,
}

/// Splits a request's total time into upstream, request and proxy latency. The proxy's share is
/// `total - upstream`, saturating: the two come from different clocks (host timing against the
/// filter's clock) and may disagree by a millisecond. For the same reason the request latency is
/// never less than the upstream latency.
pub fn latencies(total_ms: u64, upstream_ms: Option<u64>) -> Latencies {
    let upstream = upstream_ms.unwrap_or(0);
    Latencies {
        upstream_ms,
        request_ms: total_ms.max(upstream),
        kong_ms: total_ms.saturating_sub(upstream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    both_targets_test! {
        fn ngx_seconds_with_millisecond_fraction_read_as_ms() {
            assert_eq!(parse_ngx_seconds(b"0.122"), Some(122));
            assert_eq!(parse_ngx_seconds(b"0.000"), Some(0));
            assert_eq!(parse_ngx_seconds(b"12.345"), Some(12_345));
            assert_eq!(parse_ngx_seconds(b"3"), Some(3000));
            assert_eq!(parse_ngx_seconds(b"1.5"), Some(1500));
            assert_eq!(parse_ngx_seconds(b" 0.122 "), Some(122));
            assert_eq!(parse_ngx_seconds(b"0.1229"), Some(122));
        }
    }

    both_targets_test! {
        fn ngx_dash_means_no_upstream_time() {
            assert_eq!(parse_ngx_seconds(b"-"), None);
            assert_eq!(parse_ngx_seconds(b"0.010, -"), None);
        }
    }

    both_targets_test! {
        fn ngx_retried_upstream_list_takes_the_last_server() {
            assert_eq!(parse_ngx_seconds(b"0.010, 0.122"), Some(122));
            assert_eq!(parse_ngx_seconds(b"0.010, 0.020, 0.122"), Some(122));
            assert_eq!(parse_ngx_seconds(b"0.010 : 0.122"), Some(122));
            assert_eq!(parse_ngx_seconds(b"-, 0.122"), Some(122));
        }
    }

    both_targets_test! {
        fn ngx_garbage_is_no_time() {
            for bad in [
                &b""[..], b" ", b".5", b"0.", b"abc", b"0.12x", b"-0.5", b"+1", b"1e3", b"0..1",
                b"0.010,", b"1.2.3", b"9999999999999", b"\xff\xfe", b"0.1 2",
            ] {
                assert_eq!(parse_ngx_seconds(bad), None, "{:?}", String::from_utf8_lossy(bad));
            }
        }
    }

    both_targets_test! {
        fn the_longest_accepted_seconds_value_does_not_overflow() {
            assert_eq!(parse_ngx_seconds(b"999999999999.999"), Some(999_999_999_999_999));
        }
    }

    both_targets_test! {
        fn envoy_nanoseconds_round_to_the_nearest_ms() {
            assert_eq!(parse_envoy_duration_ns(&120_000_000i64.to_le_bytes()), Some(120));
            assert_eq!(parse_envoy_duration_ns(&120_499_999i64.to_le_bytes()), Some(120));
            assert_eq!(parse_envoy_duration_ns(&120_500_000i64.to_le_bytes()), Some(121));
            assert_eq!(parse_envoy_duration_ns(&0i64.to_le_bytes()), Some(0));
            assert_eq!(
                parse_envoy_duration_ns(&i64::MAX.to_le_bytes()),
                Some(9_223_372_036_855)
            );
        }
    }

    both_targets_test! {
        fn envoy_wrong_length_or_negative_is_no_time() {
            assert_eq!(parse_envoy_duration_ns(&[]), None);
            assert_eq!(parse_envoy_duration_ns(&[1, 2, 3, 4]), None);
            assert_eq!(parse_envoy_duration_ns(&[0; 9]), None);
            assert_eq!(parse_envoy_duration_ns(b"0.122"), None);
            assert_eq!(parse_envoy_duration_ns(&(-1i64).to_le_bytes()), None);
        }
    }

    both_targets_test! {
        fn proxy_latency_is_total_minus_upstream() {
            let l = latencies(130, Some(122));
            assert_eq!(l, Latencies { upstream_ms: Some(122), request_ms: 130, kong_ms: 8 });
        }
    }

    both_targets_test! {
        fn a_local_response_is_all_proxy_latency() {
            let l = latencies(4, None);
            assert_eq!(l, Latencies { upstream_ms: None, request_ms: 4, kong_ms: 4 });
        }
    }

    both_targets_test! {
        fn upstream_longer_than_total_saturates_instead_of_wrapping() {
            let l = latencies(120, Some(122));
            assert_eq!(l, Latencies { upstream_ms: Some(122), request_ms: 122, kong_ms: 0 });
        }
    }

    both_targets_test! {
        fn auto_timing_prefers_the_host_and_falls_back_to_the_filter() {
            assert_eq!(UpstreamTiming::Auto.choose(Some(122), Some(125)), Some(122));
            assert_eq!(UpstreamTiming::Auto.choose(None, Some(125)), Some(125));
            assert_eq!(UpstreamTiming::Host.choose(None, Some(125)), None);
            assert_eq!(UpstreamTiming::Filter.choose(Some(122), Some(125)), Some(125));
            assert_eq!(filter_upstream_ms(1000, 1120), Some(120));
            assert_eq!(filter_upstream_ms(1120, 1000), None);
        }
    }
}
