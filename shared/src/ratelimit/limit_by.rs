//! `limit_by` and the fields that go with it (`header_name`, `path`, `window_type`), read at
//! the top level and in rules. A rule's missing key fields are taken from the top level, so a
//! rule only states what differs.

use serde_json::Value;

use super::config::ConfigError;
use super::key::{KeyPart, KeySpec};
use super::window::WindowType;
use crate::json_fields::{index, invalid, join, one_of, Fields};

/// The key fields of one level, before inheritance.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyFields {
    /// `(kinds, path of limit_by)`.
    limit_by: Option<(Vec<&'static str>, String)>,
    header_name: Option<String>,
    path: Option<String>,
    pub(crate) window_type: Option<WindowType>,
}

const LIMIT_BY: [&str; 6] = ["consumer", "credential", "ip", "service", "header", "path"];

pub(crate) fn read_key_fields(f: &Fields<'_>) -> Result<KeyFields, ConfigError> {
    let limit_by = match f.get("limit_by") {
        None => None,
        Some(v) => Some((
            read_limit_by(&f.path_of("limit_by"), v)?,
            f.path_of("limit_by"),
        )),
    };
    let header_name = match f.string("header_name")? {
        Some(h) => Some(header_name(&f.path_of("header_name"), h)?),
        None => None,
    };
    let path = match f.string("path")? {
        Some(p) if p.starts_with('/') => Some(p.to_owned()),
        Some(p) => {
            return Err(invalid(
                &f.path_of("path"),
                "expected a string starting with \"/\"",
                &Value::String(p.to_owned()),
            ))
        }
        None => None,
    };
    let window_type = match f.one_of("window_type", &["fixed", "sliding"])? {
        None => None,
        Some(0) => Some(WindowType::Fixed),
        Some(_) => Some(WindowType::Sliding),
    };
    Ok(KeyFields {
        limit_by,
        header_name,
        path,
        window_type,
    })
}

fn read_limit_by(path: &str, v: &Value) -> Result<Vec<&'static str>, ConfigError> {
    let one = |path: &str, v: &Value| -> Result<&'static str, ConfigError> {
        if v.as_str() == Some("consumer-group") {
            return Err(ConfigError::Unsupported {
                path: path.to_owned(),
                message: "\"consumer-group\" is not supported: a wasm filter cannot see Kong's \
                          consumer groups; use \"header\" with `header_name` set to a header your \
                          auth layer fills (e.g. X-Consumer-Groups), or \"consumer\""
                    .to_owned(),
            });
        }
        Ok(LIMIT_BY[one_of(path, v, &LIMIT_BY)?])
    };
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(invalid(path, "expected at least one of \"consumer\", \"credential\", \"ip\", \"service\", \"header\", \"path\"", v));
            }
            let mut kinds = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let item_path = index(path, i);
                let kind = one(&item_path, item)?;
                if kinds.contains(&kind) {
                    return Err(invalid(
                        &item_path,
                        "expected each `limit_by` value once",
                        item,
                    ));
                }
                kinds.push(kind);
            }
            Ok(kinds)
        }
        _ => Ok(vec![one(path, v)?]),
    }
}

/// The key of a level, with a rule's missing key fields taken from the top level.
pub(crate) fn compile_key(
    own: &KeyFields,
    top: Option<&KeyFields>,
    scope: &str,
    consumer_header: &str,
) -> Result<KeySpec, ConfigError> {
    let inherited = |pick: fn(&KeyFields) -> Option<&String>| -> Option<String> {
        pick(own).or_else(|| top.and_then(pick)).cloned()
    };
    let (kinds, limit_by_path) = match own
        .limit_by
        .as_ref()
        .or(top.and_then(|t| t.limit_by.as_ref()))
    {
        Some((kinds, path)) => (kinds.clone(), path.clone()),
        None => (vec!["consumer"], join(scope, "limit_by")),
    };
    let mut parts = Vec::new();
    for kind in kinds {
        parts.push(match kind {
            "consumer" => KeyPart::Consumer {
                header: consumer_header.to_owned(),
            },
            "credential" => KeyPart::Credential,
            "service" => KeyPart::Service,
            "header" => KeyPart::Header {
                name: inherited(|k| k.header_name.as_ref()).ok_or_else(|| {
                    ConfigError::Invalid {
                        path: join(scope, "header_name"),
                        message: format!("required when `{limit_by_path}` includes \"header\""),
                    }
                })?,
            },
            "path" => KeyPart::Path {
                path: inherited(|k| k.path.as_ref()).ok_or_else(|| ConfigError::Invalid {
                    path: join(scope, "path"),
                    message: format!("required when `{limit_by_path}` includes \"path\""),
                })?,
            },
            _ => KeyPart::Ip,
        });
    }
    Ok(KeySpec { parts })
}

/// A header name, lower-cased; refuses characters HTTP does not allow in names.
pub(crate) fn header_name(path: &str, h: &str) -> Result<String, ConfigError> {
    let ok = !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(h.to_ascii_lowercase())
    } else {
        Err(invalid(
            path,
            "expected a header name (letters, digits and !#$%&'*+-.^_`|~)",
            &Value::String(h.to_owned()),
        ))
    }
}
