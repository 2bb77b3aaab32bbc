//! Reading Webdis's answer to a callout: the HTTP status, then the body in RESP2 (the `.raw`
//! form), decoded with `redis-protocol`.
//!
//! What Webdis answers, observed (see HOSTS.md):
//! - 200 with the script's array of totals: bulk strings holding decimal integers
//!   (`*2\r\n$1\r\n6\r\n$1\r\n8\r\n`; Webdis would turn integers into such strings anyway, and
//!   mangles integers of 2^31 and more, so the script sends strings); integers are read too;
//! - 200 with `-NOSCRIPT …` after a Redis restart, or `-ERR …` for any other Redis error:
//!   the body decides, not the status;
//! - 503 at once while Redis is down, 403 for a command disabled in Webdis's ACL.
//!
//! Replies come from the network: any byte string gives a value, never a panic. A body that
//! is not one complete RESP value, holds a nested array (Webdis flattens nothing faithfully, and
//! a deep nesting would recurse in the decoder), or has another number of totals than keys
//! sent is [`SyncReply::Malformed`].

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::types::OwnedFrame;

use super::script::SCRIPT_SHA1;

/// The largest body read: a 100-key reply is under 3 KB.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The longest Redis error message kept (for logs).
const MAX_ERROR_CHARS: usize = 200;

/// What a sync call's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncReply {
    /// The cluster totals, one per counter sent, in order.
    Totals(Vec<u64>),
    /// Redis does not have the script (it restarted): send the call again with `EVAL`.
    NoScript,
    /// Redis answered an error (the message, cut to 200 characters). The script checks
    /// everything before writing, so nothing was applied.
    RedisError(String),
    /// HTTP 503: Webdis cannot reach Redis.
    Unavailable,
    /// HTTP 403: Webdis's ACL forbids the command (`EVALSHA`, `EVAL` or `SCRIPT` disabled).
    Forbidden,
    /// Any other HTTP status than 200.
    HttpStatus(u16),
    /// A 200 whose body is not the expected reply (what was wrong, for logs).
    Malformed(String),
}

impl SyncReply {
    /// Whether the answer proves that Redis applied none of the call's increments, so they may
    /// simply be sent again in a later batch ([`PendingEntry::not_applied`](super::PendingEntry::not_applied)).
    /// `false` for totals, and for answers that leave it unknown (another HTTP status, which
    /// a proxy in between may have made up after Webdis ran the script, or a malformed body):
    /// those must be re-sent as the same batch ([`PendingEntry::fail`](super::PendingEntry::fail)).
    pub fn proves_not_applied(&self) -> bool {
        matches!(
            self,
            SyncReply::NoScript
                | SyncReply::RedisError(_)
                | SyncReply::Unavailable
                | SyncReply::Forbidden
        )
    }
}

/// Decodes the answer to an `EVALSHA`/`EVAL` call that sent `expected` counters.
pub fn decode_sync_reply(status: u16, body: &[u8], expected: usize) -> SyncReply {
    let frame = match frame(status, body) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let items = match frame {
        OwnedFrame::Array(items) => items,
        other => return malformed_kind("an array of totals", &other),
    };
    if items.len() != expected {
        return SyncReply::Malformed(format!("expected {expected} totals, got {}", items.len()));
    }
    let mut totals = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let value = match item {
            OwnedFrame::Integer(n) => u64::try_from(*n).ok(),
            // Webdis's `.raw` arrays turn integers into bulk strings.
            OwnedFrame::BulkString(b) => parse_u64(b),
            _ => None,
        };
        match value {
            Some(v) => totals.push(v),
            None => {
                return SyncReply::Malformed(format!("total {i} is not a non-negative integer"))
            }
        }
    }
    SyncReply::Totals(totals)
}

/// Decodes the answer to [`script_load`](super::webdis::script_load): `Ok` when Redis loaded
/// the script under [`SCRIPT_SHA1`]; `Err` (never [`SyncReply::Totals`]) otherwise.
pub fn decode_load_reply(status: u16, body: &[u8]) -> Result<(), SyncReply> {
    match frame(status, body)? {
        OwnedFrame::BulkString(sha) | OwnedFrame::SimpleString(sha)
            if sha.eq_ignore_ascii_case(SCRIPT_SHA1.as_bytes()) =>
        {
            Ok(())
        }
        OwnedFrame::BulkString(_) | OwnedFrame::SimpleString(_) => Err(SyncReply::Malformed(
            "SCRIPT LOAD returned another SHA-1 than the script's".to_owned(),
        )),
        other => Err(malformed_kind("the script's SHA-1", &other)),
    }
}

/// The HTTP status checks, then the body as one RESP2 value; errors already mapped.
fn frame(status: u16, body: &[u8]) -> Result<OwnedFrame, SyncReply> {
    match status {
        200 => {}
        503 => return Err(SyncReply::Unavailable),
        403 => return Err(SyncReply::Forbidden),
        other => return Err(SyncReply::HttpStatus(other)),
    }
    if body.len() > MAX_REPLY_BYTES {
        return Err(SyncReply::Malformed(format!(
            "body of {} bytes; at most {MAX_REPLY_BYTES}",
            body.len()
        )));
    }
    if body.first() != Some(&b'-') && has_nested_array(body) {
        return Err(SyncReply::Malformed("nested array".to_owned()));
    }
    let (frame, used) = match decode(body) {
        Ok(Some(decoded)) => decoded,
        Ok(None) => return Err(SyncReply::Malformed("truncated RESP".to_owned())),
        Err(e) => {
            return Err(SyncReply::Malformed(format!(
                "not RESP: {}",
                cut(e.details())
            )))
        }
    };
    if used != body.len() {
        return Err(SyncReply::Malformed(format!(
            "{} bytes after the reply",
            body.len() - used
        )));
    }
    match frame {
        OwnedFrame::Error(msg) if msg.starts_with("NOSCRIPT") => Err(SyncReply::NoScript),
        OwnedFrame::Error(msg) => Err(SyncReply::RedisError(cut(&msg))),
        f => Ok(f),
    }
}

/// Whether an array starts inside another array. Walks frame headers without recursion (and
/// skips bulk payloads, which may contain any byte); stops at anything it cannot follow and
/// leaves that to the decoder.
fn has_nested_array(body: &[u8]) -> bool {
    let mut pos = 0usize;
    // Elements still to read in the enclosing top-level array, if inside one.
    let mut open: Option<u64> = None;
    loop {
        let Some(&kind) = body.get(pos) else {
            return false;
        };
        let Some(eol) = find_crlf(body, pos) else {
            return false;
        };
        let line = &body[pos + 1..eol];
        pos = eol + 2;
        let len = std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok());
        match (kind, len) {
            (b'*', Some(n)) if n > 0 => {
                if open.is_some() {
                    return true;
                }
                open = Some(n.unsigned_abs());
                continue;
            }
            (b'$', Some(n)) if n >= 0 => {
                let Some(next) = usize::try_from(n)
                    .ok()
                    .and_then(|n| pos.checked_add(n)?.checked_add(2))
                else {
                    return false;
                };
                pos = next;
            }
            (b'*' | b'$' | b':' | b'+' | b'-', _) => {}
            _ => return false,
        }
        match open {
            Some(1) | None => return false,
            Some(n) => open = Some(n - 1),
        }
    }
}

fn find_crlf(body: &[u8], from: usize) -> Option<usize> {
    body.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

/// A non-negative decimal integer with nothing around it.
fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn malformed_kind(wanted: &str, got: &OwnedFrame) -> SyncReply {
    let kind = match got {
        OwnedFrame::SimpleString(_) => "a simple string",
        OwnedFrame::Error(_) => "an error",
        OwnedFrame::Integer(_) => "an integer",
        OwnedFrame::BulkString(_) => "a bulk string",
        OwnedFrame::Array(_) => "an array",
        OwnedFrame::Null => "nil",
    };
    SyncReply::Malformed(format!("expected {wanted}, got {kind}"))
}

fn cut(msg: &str) -> String {
    msg.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(v: &[u64]) -> SyncReply {
        SyncReply::Totals(v.to_vec())
    }

    fn is_malformed(r: &SyncReply) -> bool {
        matches!(r, SyncReply::Malformed(_))
    }

    both_targets_test! {
        fn webdis_stringified_integer_arrays_decode_as_totals() {
            let body = b"*2\r\n$1\r\n6\r\n$1\r\n0\r\n";
            assert_eq!(decode_sync_reply(200, body, 2), totals(&[6, 0]));
        }
    }

    both_targets_test! {
        fn totals_beyond_32_bits_decode_from_bulk_strings() {
            let body = b"*2\r\n$15\r\n999999999999999\r\n$10\r\n4294967296\r\n";
            assert_eq!(
                decode_sync_reply(200, body, 2),
                totals(&[999_999_999_999_999, 4_294_967_296])
            );
        }
    }

    both_targets_test! {
        fn plain_integer_arrays_decode_as_totals_too() {
            let body = b"*3\r\n:1\r\n:0\r\n:999999999999999\r\n";
            assert_eq!(decode_sync_reply(200, body, 3), totals(&[1, 0, 999_999_999_999_999]));
        }
    }

    both_targets_test! {
        fn an_empty_call_reads_an_empty_array() {
            assert_eq!(decode_sync_reply(200, b"*0\r\n", 0), totals(&[]));
        }
    }

    both_targets_test! {
        fn noscript_is_detected_in_a_200_body() {
            let body = b"-NOSCRIPT No matching script. Please use EVAL.\r\n";
            let r = decode_sync_reply(200, body, 1);
            assert_eq!(r, SyncReply::NoScript);
            assert!(r.proves_not_applied());
        }
    }

    both_targets_test! {
        fn other_redis_errors_keep_their_message() {
            let body = b"-ERR rate-limit sync: bad number\r\n";
            assert_eq!(
                decode_sync_reply(200, body, 1),
                SyncReply::RedisError("ERR rate-limit sync: bad number".to_owned())
            );
            let long = format!("-ERR {}\r\n", "x".repeat(1_000));
            match decode_sync_reply(200, long.as_bytes(), 1) {
                SyncReply::RedisError(m) => assert_eq!(m.chars().count(), MAX_ERROR_CHARS),
                other => unreachable!("{other:?}"),
            }
        }
    }

    both_targets_test! {
        fn status_503_means_redis_is_unavailable_whatever_the_body() {
            assert_eq!(decode_sync_reply(503, b"", 1), SyncReply::Unavailable);
            assert_eq!(decode_sync_reply(503, b"*1\r\n:1\r\n", 1), SyncReply::Unavailable);
            assert_eq!(decode_load_reply(503, b""), Err(SyncReply::Unavailable));
        }
    }

    both_targets_test! {
        fn status_403_means_the_command_is_forbidden() {
            assert_eq!(decode_sync_reply(403, b"", 1), SyncReply::Forbidden);
        }
    }

    both_targets_test! {
        fn other_statuses_are_reported_and_leave_the_outcome_unknown() {
            let r = decode_sync_reply(502, b"*1\r\n:1\r\n", 1);
            assert_eq!(r, SyncReply::HttpStatus(502));
            assert!(!r.proves_not_applied());
            assert_eq!(decode_sync_reply(0, b"", 1), SyncReply::HttpStatus(0));
        }
    }

    both_targets_test! {
        fn a_count_mismatch_is_malformed() {
            let body = b"*2\r\n$1\r\n6\r\n$1\r\n8\r\n";
            assert!(is_malformed(&decode_sync_reply(200, body, 3)));
            assert!(is_malformed(&decode_sync_reply(200, body, 1)));
        }
    }

    both_targets_test! {
        fn an_array_webdis_dropped_a_nil_from_is_malformed() {
            // `*2` announced, one element left: truncated.
            let r = decode_sync_reply(200, b"*2\r\n$1\r\n6\r\n", 2);
            assert_eq!(r, SyncReply::Malformed("truncated RESP".to_owned()));
            assert!(!r.proves_not_applied());
        }
    }

    both_targets_test! {
        fn garbage_bodies_are_malformed() {
            for body in [
                &b""[..],
                b"hello",
                b"{\"EVALSHA\":[1,2]}",
                b"<html>502 Bad Gateway</html>",
                b"*1\r\n:1\r\n:2\r\n",
                b"*-1\r\n",
                b"$-1\r\n",
                b":5\r\n",
                b"+OK\r\n",
                b"*1\r\n$2\r\n-5\r\n",
                b"*1\r\n$3\r\n1e3\r\n",
                b"*1\r\n$0\r\n\r\n",
                b"*1\r\n:-1\r\n",
                b"*1\r\n+1\r\n",
                b"*1\r\n$1\r\n\xff\r\n",
                b"*1\r\n:99999999999999999999999\r\n",
                b"*1\r\n$1\r\n12\r\n",
                // Webdis 0.1.9 formatting an 11-digit integer inside an array.
                b"*1\r\n$10\r\n99999999999\r\n",
                // ... and a top-level integer of 2^31 or more: cut, no CRLF.
                b":21",
                b"*x\r\n",
                b"\xff\xfe\x00",
            ] {
                let r = decode_sync_reply(200, body, 1);
                assert!(is_malformed(&r), "{body:?} gave {r:?}");
            }
        }
    }

    both_targets_test! {
        fn hostile_lengths_and_nesting_are_malformed_without_allocating_or_recursing() {
            assert!(is_malformed(&decode_sync_reply(200, b"*9223372036854775807\r\n", 1)));
            assert!(is_malformed(&decode_sync_reply(200, b"*1\r\n$9223372036854775807\r\nab", 1)));
            assert!(is_malformed(&decode_sync_reply(200, b"*1\r\n$18446744073709551615\r\n", 1)));
            assert!(is_malformed(&decode_sync_reply(200, b"*1\r\n*1\r\n:1\r\n", 1)));
            let deep = "*1\r\n".repeat(MAX_REPLY_BYTES / 4);
            assert_eq!(
                decode_sync_reply(200, deep.as_bytes(), 1),
                SyncReply::Malformed("nested array".to_owned())
            );
            let huge = vec![b'*'; MAX_REPLY_BYTES + 1];
            assert!(is_malformed(&decode_sync_reply(200, &huge, 1)));
        }
    }

    both_targets_test! {
        fn a_nested_array_hidden_after_a_bulk_payload_is_found() {
            // The `*` inside the bulk payload is data; the one after it is a nested array.
            assert_eq!(
                decode_sync_reply(200, b"*2\r\n$3\r\n*1\r\r\n*1\r\n:1\r\n", 2),
                SyncReply::Malformed("nested array".to_owned())
            );
            assert_eq!(
                decode_sync_reply(200, b"*2\r\n$3\r\n*1\r\r\n:1\r\n", 2),
                SyncReply::Malformed("total 0 is not a non-negative integer".to_owned())
            );
        }
    }

    both_targets_test! {
        fn every_prefix_and_every_byte_flip_of_a_reply_decodes_without_panicking() {
            let good = b"*3\r\n$1\r\n6\r\n:12\r\n$3\r\n100\r\n";
            for end in 0..good.len() {
                let r = decode_sync_reply(200, &good[..end], 3);
                assert!(is_malformed(&r), "prefix {end}: {r:?}");
            }
            for i in 0..good.len() {
                for b in [0u8, b'*', b'$', b':', b'-', b'\r', b'\n', b'9', 0xff] {
                    let mut bad = good.to_vec();
                    bad[i] = b;
                    let _ = decode_sync_reply(200, &bad, 3);
                }
            }
        }
    }

    both_targets_test! {
        fn pseudo_random_bytes_never_panic() {
            // xorshift: deterministic "fuzz" over RESP-ish alphabets.
            let alphabet = b"*$:-+\r\n0123456789-abc\xff";
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for _ in 0..3_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = usize::try_from(x % 40).unwrap_or(0);
                let body: Vec<u8> = (0..len)
                    .map(|i| {
                        let k = usize::try_from((x >> (i % 58)) % 21).unwrap_or(0);
                        alphabet[k]
                    })
                    .collect();
                let _ = decode_sync_reply(200, &body, usize::try_from(x % 4).unwrap_or(0));
                let _ = decode_load_reply(200, &body);
            }
        }
    }

    both_targets_test! {
        fn script_load_reply_must_name_the_scripts_sha1() {
            let ok = format!("${}\r\n{SCRIPT_SHA1}\r\n", SCRIPT_SHA1.len());
            assert_eq!(decode_load_reply(200, ok.as_bytes()), Ok(()));
            let other = b"$40\r\n0000000000000000000000000000000000000000\r\n";
            assert!(matches!(decode_load_reply(200, other), Err(SyncReply::Malformed(_))));
            assert!(matches!(decode_load_reply(200, b":1\r\n"), Err(SyncReply::Malformed(_))));
            assert_eq!(decode_load_reply(403, b""), Err(SyncReply::Forbidden));
        }
    }
}
