//! The numeric vocabulary of proxy-wasm ABI v0.2.1, as the spec defines it.
//!
//! Kept as plain constants and small enums so host functions read like the
//! spec text they implement.

/// `proxy_status_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    ParseFailure = 4,
    InvalidMemoryAccess = 6,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
    Unimplemented = 12,
}

/// `proxy_log_level_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

impl LogLevel {
    /// Maps the wire value; out-of-range levels are reported as critical so
    /// they are never lost.
    pub fn from_i32(v: i32) -> LogLevel {
        match v {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            _ => LogLevel::Critical,
        }
    }
}

/// `proxy_buffer_type_t`.
pub mod buffer {
    pub const HTTP_REQUEST_BODY: i32 = 0;
    pub const HTTP_RESPONSE_BODY: i32 = 1;
    pub const DOWNSTREAM_DATA: i32 = 2;
    pub const UPSTREAM_DATA: i32 = 3;
    pub const HTTP_CALL_RESPONSE_BODY: i32 = 4;
    pub const GRPC_CALL_MESSAGE: i32 = 5;
    pub const VM_CONFIGURATION: i32 = 6;
    pub const PLUGIN_CONFIGURATION: i32 = 7;
    pub const FOREIGN_FUNCTION_ARGUMENTS: i32 = 8;
}

/// `proxy_map_type_t`.
pub mod map {
    pub const HTTP_REQUEST_HEADERS: i32 = 0;
    pub const HTTP_REQUEST_TRAILERS: i32 = 1;
    pub const HTTP_RESPONSE_HEADERS: i32 = 2;
    pub const HTTP_RESPONSE_TRAILERS: i32 = 3;
    pub const GRPC_CALL_INITIAL_METADATA: i32 = 4;
    pub const GRPC_CALL_TRAILING_METADATA: i32 = 5;
    pub const HTTP_CALL_RESPONSE_HEADERS: i32 = 6;
    pub const HTTP_CALL_RESPONSE_TRAILERS: i32 = 7;
}

/// `proxy_stream_type_t`.
pub mod stream {
    pub const HTTP_REQUEST: i32 = 0;
    pub const HTTP_RESPONSE: i32 = 1;
    pub const DOWNSTREAM: i32 = 2;
    pub const UPSTREAM: i32 = 3;
}

/// `proxy_action_t`.
pub mod action {
    pub const CONTINUE: i32 = 0;
    pub const PAUSE: i32 = 1;
}

/// `proxy_metric_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    pub fn from_i32(v: i32) -> Option<MetricType> {
        match v {
            0 => Some(MetricType::Counter),
            1 => Some(MetricType::Gauge),
            2 => Some(MetricType::Histogram),
            _ => None,
        }
    }
}

/// Serializes header pairs in the ABI's map format: a u32 count, a
/// (key length, value length) u32 pair per entry, then each key and value
/// followed by a NUL byte. All integers little-endian.
pub fn serialize_map(pairs: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut size = 4 + pairs.len() * 8;
    for (k, v) in pairs {
        size += k.len() + v.len() + 2;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Parses the ABI's map format; `None` when the bytes do not hold a
/// well-formed map (the host answers `BAD_ARGUMENT`/`PARSE_FAILURE` then
/// instead of trusting lengths that point past the buffer).
pub fn deserialize_map(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let mut sizes = Vec::with_capacity(count.min(1024));
    let mut p = 4usize;
    for _ in 0..count {
        let k = u32::from_le_bytes(bytes.get(p..p + 4)?.try_into().ok()?) as usize;
        let v = u32::from_le_bytes(bytes.get(p + 4..p + 8)?.try_into().ok()?) as usize;
        sizes.push((k, v));
        p += 8;
    }
    let mut out = Vec::with_capacity(count.min(1024));
    for (k, v) in sizes {
        let key = bytes.get(p..p + k)?;
        p += k + 1;
        let value = bytes.get(p..p + v)?;
        p += v + 1;
        out.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn map_round_trips_through_the_wire_format() {
        let pairs = vec![
            (":path".to_string(), b"/a".to_vec()),
            ("x".to_string(), vec![0xff, 0x00, 0x41]),
            ("empty".to_string(), Vec::new()),
        ];
        assert_eq!(deserialize_map(&serialize_map(&pairs)).unwrap(), pairs);
    }

    #[test]
    fn truncated_map_is_refused_not_read_past_its_end() {
        let bytes = serialize_map(&[("key".to_string(), b"value".to_vec())]);
        assert!(deserialize_map(&bytes[..bytes.len() - 3]).is_none());
        assert!(deserialize_map(&[5, 0, 0, 0]).is_none());
    }
}
