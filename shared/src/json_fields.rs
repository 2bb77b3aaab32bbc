//! Reading a JSON config object field by field, with the field path in every error.
//!
//! Why not `#[derive(Deserialize)]` on raw structs: serde's errors carry a line and column but
//! not the field path (`rules[1].match.path_prefix`), and Kong configs exported by `deck` set
//! unused fields to `null`, which we must read as "absent". Walking a `serde_json::Value` keeps
//! both under our control with no extra crate in the wasm binary.

use serde_json::{Map, Value};

use crate::config_error::ConfigError;

/// A JSON object being read, with its path (`""` for the root, `"rules[1].match"` below).
pub(crate) struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// Reads `value` as an object at `path`; refuses any key not in `known`.
    pub(crate) fn new(path: &str, value: &'a Value, known: &[&str]) -> Result<Self, ConfigError> {
        let Value::Object(map) = value else {
            if path.is_empty() {
                return Err(ConfigError::NotAnObject { got: render(value) });
            }
            return Err(invalid(path, "expected an object", value));
        };
        let fields = Fields {
            path: path.to_owned(),
            map,
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                return Err(ConfigError::UnknownField {
                    path: fields.path_of(key),
                });
            }
        }
        Ok(fields)
    }

    /// The path of a field of this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The path of this object.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// A field's value; `null` counts as absent, as Kong treats it.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An optional positive integer (a JSON number without fraction, `5` or `5.0`).
    pub(crate) fn positive_int(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        self.get(key)
            .map(|v| positive_int(&self.path_of(key), v))
            .transpose()
    }

    /// An optional string.
    pub(crate) fn string(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(invalid(&self.path_of(key), "expected a string", v)),
        }
    }

    /// An optional boolean.
    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(invalid(&self.path_of(key), "expected true or false", v)),
        }
    }

    /// An optional string that must be one of `allowed`; returns its index in `allowed`.
    pub(crate) fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<usize>, ConfigError> {
        self.get(key)
            .map(|v| one_of(&self.path_of(key), v, allowed))
            .transpose()
    }

    /// An optional array.
    pub(crate) fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(invalid(&self.path_of(key), "expected an array", v)),
        }
    }
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A positive integer: `5` and `5.0` are accepted (Kong stores numbers), `5.5`, `0`, `-1`, `"5"`
/// are not. Integers above 2^53 are accepted only in exact integer form.
pub(crate) fn positive_int(path: &str, v: &Value) -> Result<u64, ConfigError> {
    let parsed = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= 9_007_199_254_740_992.0)
                // Checked above: an integral value within u64's exact-f64 range.
                .map(|f| f as u64)
        }),
        _ => None,
    };
    match parsed {
        Some(n) if n > 0 => Ok(n),
        _ => Err(invalid(path, "expected a positive integer", v)),
    }
}

/// A string among `allowed`; returns its index.
pub(crate) fn one_of(path: &str, v: &Value, allowed: &[&str]) -> Result<usize, ConfigError> {
    if let Value::String(s) = v {
        if let Some(i) = allowed.iter().position(|a| a == s) {
            return Ok(i);
        }
    }
    let list = allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Err(invalid(path, &format!("expected one of {list}"), v))
}

/// The error "`path`: expected ..., got <value>".
pub(crate) fn invalid(path: &str, expected: &str, got: &Value) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_owned(),
        message: format!("{expected}, got {}", render(got)),
    }
}

/// A short rendering of a JSON value for error messages (long values are cut, so an error
/// message never echoes a huge config back into a log).
pub(crate) fn render(v: &Value) -> String {
    let s = match v {
        Value::Object(_) => return "an object".to_owned(),
        Value::Array(_) => return "an array".to_owned(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}
