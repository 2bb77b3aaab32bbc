//! Why a plugin configuration was refused: one error type for both plugins' configs, read by
//! `json_fields`. Every message names the field path and what was expected. The Kong
//! variants (`Unsupported`, `PeriodOrder`) only come from the rate-limit config.

/// Why a config was refused. Every message names the field path and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The bytes are not JSON.
    #[error("the configuration is not valid JSON: {0}")]
    Json(String),
    /// The top level is not an object.
    #[error("the configuration must be a JSON object, got {got}")]
    NotAnObject {
        /// A short rendering of what was given.
        got: String,
    },
    /// A field we do not know (typos must not pass silently).
    #[error("unknown field `{path}`")]
    UnknownField {
        /// Path of the field, e.g. `rules[1].match.foo`.
        path: String,
    },
    /// A field with a wrong value.
    #[error("`{path}`: {message}")]
    Invalid {
        /// Path of the field, e.g. `minute` or `rules[1].match.path_prefix`.
        path: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A Kong field that a wasm plugin cannot honour.
    #[error("`{path}`: {message}")]
    Unsupported {
        /// Path of the field, e.g. `redis.host`.
        path: String,
        /// What to use instead.
        message: String,
    },
    /// Kong's period-order rule: a longer period with a lower limit than a shorter one.
    #[error("{}The limit for {longer}({longer_max}) cannot be lower than the limit for {shorter}({shorter_max})", scope_prefix(.scope))]
    PeriodOrder {
        /// `""` at the top level, `rules[1]` in a rule.
        scope: String,
        /// The longer period's name.
        longer: String,
        /// Its limit.
        longer_max: u64,
        /// The shorter period's name.
        shorter: String,
        /// Its limit.
        shorter_max: u64,
    },
    /// No limit anywhere (Kong's message, with our `limits` added).
    #[error("at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year', 'limits'")]
    NoLimits,
}

fn scope_prefix(scope: &str) -> String {
    if scope.is_empty() {
        String::new()
    } else {
        format!("`{scope}`: ")
    }
}
