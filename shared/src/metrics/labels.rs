//! The label set of a series — service, route, status code, source, consumer — and its registry
//! record: the bytes that tell every worker (and the `/metrics` endpoint) which labels a series
//! index stands for.

use std::fmt;

/// Longest label value kept, in bytes. Longer values (a route named by a client, a huge consumer
/// header) are cut at a character boundary: series stay small and the registry record bounded.
pub const MAX_LABEL_VALUE_BYTES: usize = 128;

/// The `service` and `route` values of the one label set that counts series past `max_series`.
pub const OVERFLOW_LABEL: &str = "__overflow__";

/// Who made the response: Kong's `source` label of `kong_http_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The upstream service answered (`source="service"`).
    Service,
    /// The proxy answered itself: a plugin's local response, no route, upstream unreachable
    /// (`source="kong"`).
    Kong,
}

impl Source {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Service => "service",
            Source::Kong => "kong",
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Source::Service => 0,
            Source::Kong => 1,
        }
    }

    fn from_byte(b: u8) -> Option<Source> {
        match b {
            0 => Some(Source::Service),
            1 => Some(Source::Kong),
            _ => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One series' labels. Ordered by service, route, code, source, consumer: the order of the
/// exposition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSet {
    service: String,
    route: String,
    code: u16,
    source: Source,
    consumer: String,
}

impl LabelSet {
    /// A label set from request facts as the host gives them (bytes, maybe not UTF-8): values are
    /// read as UTF-8 (invalid sequences become U+FFFD) and cut to [`MAX_LABEL_VALUE_BYTES`].
    /// `consumer` is `b""` when per-consumer labels are off or there is no consumer.
    pub fn new(
        service: &[u8],
        route: &[u8],
        code: u16,
        source: Source,
        consumer: &[u8],
    ) -> LabelSet {
        LabelSet {
            service: label_value(service),
            route: label_value(route),
            code,
            source,
            consumer: label_value(consumer),
        }
    }

    /// The `service` label (Kong: the service name; empty when the route has none).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The `route` label.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The response status (the `code` label).
    pub fn code(&self) -> u16 {
        self.code
    }

    /// Who answered (the `source` label).
    pub fn source(&self) -> Source {
        self.source
    }

    /// The `consumer` label (empty when none).
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// A 64-bit hash of the label set, the same on every worker and node: a shared-data key
    /// from labels to the series index (see [`SharedKeys::by_fingerprint`](super::SharedKeys::by_fingerprint)).
    /// Not secret: a collision only costs a lookup miss, never a wrong series, because the
    /// registry record is compared before an index is used.
    pub fn fingerprint(&self) -> u64 {
        let mut bytes = Vec::with_capacity(self.encoded_len());
        self.encode(&mut bytes);
        crate::ratelimit::siphash13(FINGERPRINT_K0, FINGERPRINT_K1, &bytes)
    }

    fn encoded_len(&self) -> usize {
        REGISTRY_HEADER_BYTES + 3 + self.service.len() + self.route.len() + self.consumer.len()
    }

    /// Encodes the registry record into `out` (cleared first).
    ///
    /// Layout: `version u8 = 1 | code u16 LE | source u8 | len u8, service | len u8, route |
    /// len u8, consumer`; each length at most [`MAX_LABEL_VALUE_BYTES`], so a record is at most
    /// 391 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(REGISTRY_VERSION);
        out.extend_from_slice(&self.code.to_le_bytes());
        out.push(self.source.to_byte());
        for value in [&self.service, &self.route, &self.consumer] {
            // Values are capped at construction and decoding, so the length fits a u8; the
            // `min` keeps encoding total even if that ever changed.
            let bytes = &value.as_bytes()[..value.len().min(MAX_LABEL_VALUE_BYTES)];
            out.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(bytes);
        }
    }

    /// Decodes a registry record. `None` for anything [`encode`](Self::encode) does not write:
    /// another version, an unknown source, a value too long or not UTF-8, short or trailing bytes.
    pub fn decode(bytes: &[u8]) -> Option<LabelSet> {
        let (header, mut rest) = bytes.split_at_checked(REGISTRY_HEADER_BYTES)?;
        if header[0] != REGISTRY_VERSION {
            return None;
        }
        let code = u16::from_le_bytes([header[1], header[2]]);
        let source = Source::from_byte(header[3])?;
        let mut values = [String::new(), String::new(), String::new()];
        for value in &mut values {
            let (len, tail) = rest.split_first()?;
            let len = usize::from(*len);
            if len > MAX_LABEL_VALUE_BYTES {
                return None;
            }
            let (text, tail) = tail.split_at_checked(len)?;
            *value = std::str::from_utf8(text).ok()?.to_owned();
            rest = tail;
        }
        if !rest.is_empty() {
            return None;
        }
        let [service, route, consumer] = values;
        Some(LabelSet {
            service,
            route,
            code,
            source,
            consumer,
        })
    }
}

const REGISTRY_VERSION: u8 = 1;
const REGISTRY_HEADER_BYTES: usize = 4;
// Fixed SipHash keys ("lat-metr", "series-1"): every worker and node must agree on fingerprints.
const FINGERPRINT_K0: u64 = 0x6c61_742d_6d65_7472;
const FINGERPRINT_K1: u64 = 0x7365_7269_6573_2d31;

/// A label value from host bytes: UTF-8 (invalid sequences replaced), cut to at most
/// [`MAX_LABEL_VALUE_BYTES`] at a character boundary.
pub fn label_value(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut end = text.len().min(MAX_LABEL_VALUE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The consumer label from Kong's consumer headers: `X-Consumer-Username` when present and not
/// empty (what Kong's prometheus plugin labels by), else `X-Consumer-ID`, else empty.
pub fn consumer_value<'a>(username: Option<&'a [u8]>, id: Option<&'a [u8]>) -> &'a [u8] {
    username
        .filter(|u| !u.is_empty())
        .or(id)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> LabelSet {
        LabelSet::new(b"echo", b"echo-route", 200, Source::Service, b"alice")
    }

    both_targets_test! {
        fn registry_record_round_trips() {
            let mut buf = Vec::new();
            let labels = sample();
            labels.encode(&mut buf);
            assert_eq!(buf.len(), 4 + 3 + 4 + 10 + 5);
            assert_eq!(LabelSet::decode(&buf).unwrap(), labels);

            let odd = LabelSet::new("é\"\\\n".as_bytes(), b"", 0, Source::Kong, &[b'x'; 500]);
            odd.encode(&mut buf);
            assert_eq!(LabelSet::decode(&buf).unwrap(), odd);
        }
    }

    both_targets_test! {
        fn registry_decode_refuses_what_encode_never_writes() {
            let mut buf = Vec::new();
            sample().encode(&mut buf);
            for cut in 0..buf.len() {
                assert_eq!(LabelSet::decode(&buf[..cut]), None, "cut at {cut}");
            }
            let mut trailing = buf.clone();
            trailing.push(0);
            assert_eq!(LabelSet::decode(&trailing), None);
            let mut version = buf.clone();
            version[0] = 2;
            assert_eq!(LabelSet::decode(&version), None);
            let mut source = buf.clone();
            source[3] = 7;
            assert_eq!(LabelSet::decode(&source), None);
            let mut not_utf8 = buf.clone();
            not_utf8[5] = 0xff;
            assert_eq!(LabelSet::decode(&not_utf8), None);
            let mut too_long = vec![1, 200, 0, 0, 129];
            too_long.extend_from_slice(&[b'a'; 129]);
            too_long.extend_from_slice(&[0, 0]);
            assert_eq!(LabelSet::decode(&too_long), None);
        }
    }

    both_targets_test! {
        fn long_label_values_are_cut_at_a_character_boundary() {
            assert_eq!(label_value(&[b'a'; 300]).len(), MAX_LABEL_VALUE_BYTES);
            // 127 ASCII bytes then a 2-byte character: it would end at 129, so it is dropped.
            let mut s = "a".repeat(127);
            s.push('é');
            assert_eq!(label_value(s.as_bytes()), "a".repeat(127));
        }
    }

    both_targets_test! {
        fn invalid_utf8_label_bytes_are_replaced_not_refused() {
            assert_eq!(label_value(b"r\xffx"), "r\u{fffd}x");
        }
    }

    both_targets_test! {
        fn consumer_is_the_username_else_the_id() {
            assert_eq!(consumer_value(Some(b"alice"), Some(b"1234")), b"alice");
            assert_eq!(consumer_value(Some(b""), Some(b"1234")), b"1234");
            assert_eq!(consumer_value(None, Some(b"1234")), b"1234");
            assert_eq!(consumer_value(None, None), b"");
        }
    }

    both_targets_test! {
        fn fingerprints_differ_per_label_set_and_are_stable() {
            let a = sample();
            let b = LabelSet::new(b"echo", b"echo-route", 201, Source::Service, b"alice");
            assert_eq!(a.fingerprint(), sample().fingerprint());
            assert_ne!(a.fingerprint(), b.fingerprint());
        }
    }
}
