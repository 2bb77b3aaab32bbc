//! Properties (Envoy attributes, ngx_wasm_module properties) as a settable
//! tree, encoded as each host encodes them.

use crate::abi::serialize_map;
use crate::profile::HostProfile;
use std::collections::BTreeMap;

/// A property value before host encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bytes(Vec<u8>),
    /// Nanoseconds since the Unix epoch.
    Timestamp(u64),
    /// Nanoseconds.
    Duration(u64),
    Bool(bool),
    Map(Vec<(String, Vec<u8>)>),
}

impl Value {
    /// The bytes a plugin receives. Envoy: integers, timestamps and
    /// durations as little-endian 8-byte integers, booleans as one byte,
    /// maps in the header-map format. ngx_wasm_module: text, with times
    /// as seconds with a millisecond fraction (`1700000000.123`).
    pub fn encode(&self, profile: HostProfile) -> Vec<u8> {
        let typed = profile.typed_properties();
        match self {
            Value::Str(s) => s.as_bytes().to_vec(),
            Value::Bytes(b) => b.clone(),
            Value::Int(i) if typed => i.to_le_bytes().to_vec(),
            Value::Int(i) => i.to_string().into_bytes(),
            Value::Timestamp(ns) | Value::Duration(ns) if typed => ns.to_le_bytes().to_vec(),
            Value::Timestamp(ns) | Value::Duration(ns) => {
                format!("{}.{:03}", ns / 1_000_000_000, (ns / 1_000_000) % 1000).into_bytes()
            }
            Value::Bool(b) if typed => vec![u8::from(*b)],
            Value::Bool(b) => if *b { "true" } else { "false" }.as_bytes().to_vec(),
            Value::Map(pairs) => serialize_map(pairs),
        }
    }
}

/// Paths arrive as NUL-separated segments; the tree keys them dotted.
pub fn dotted_path(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    trimmed
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

/// Properties that only exist inside a request. ngx_wasm_module refuses
/// them elsewhere with an error status.
pub fn is_request_scoped(path: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "request.",
        "response.",
        "source.",
        "destination.",
        "upstream.",
        "connection.",
        "ngx.",
        "kong.",
        "xds.route_name",
    ];
    PREFIXES
        .iter()
        .any(|p| path.starts_with(p) || path == p.trim_end_matches('.'))
}

/// Properties no host of the profile has: ngx_wasm_module answers NotFound
/// for Envoy's xDS and node attributes, `destination.*` and `plugin_vm_id`.
pub fn absent_in(profile: HostProfile, path: &str) -> bool {
    match profile {
        HostProfile::Kong => {
            path.starts_with("xds.")
                || path.starts_with("node.")
                || path == "node"
                || path.starts_with("destination.")
                || path == "plugin_vm_id"
        }
        HostProfile::Envoy => path.starts_with("ngx.") || path.starts_with("kong."),
    }
}

/// A flat, dotted-path property tree.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    values: BTreeMap<String, Value>,
}

impl Properties {
    pub fn set(&mut self, path: &str, value: Value) {
        self.values.insert(path.to_string(), value);
    }

    pub fn remove(&mut self, path: &str) {
        self.values.remove(path);
    }

    /// Looks a path up, also answering `a.b.<key>` from a map at `a.b`
    /// (Envoy resolves `request.headers.<name>` that way).
    pub fn get(&self, path: &str) -> Option<Value> {
        if let Some(v) = self.values.get(path) {
            return Some(v.clone());
        }
        let (parent, key) = path.rsplit_once('.')?;
        match self.values.get(parent)? {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| Value::Bytes(v.clone())),
            _ => None,
        }
    }

    pub fn merged_over(&self, base: &Properties) -> Properties {
        let mut out = base.clone();
        for (k, v) in &self.values {
            out.values.insert(k.clone(), v.clone());
        }
        out
    }
}
