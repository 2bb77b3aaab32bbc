//! Limits (`max` requests per window) as read from Kong's named fields and our `limits` array.

use serde_json::Value;

use super::config::ConfigError;
use super::window::Window;
use crate::json_fields::{index, invalid, join, positive_int, Fields};

/// At most this many limits per rule: a slot record holds a counter per limit, and a bound
/// keeps records (and the per-request work) small and fixed-size.
pub const MAX_LIMITS_PER_RULE: usize = 8;

/// The longest custom window: a leap year. Longer periods are what `year` is for.
const MAX_CUSTOM_WINDOW_SECS: u64 = 366 * 86_400;

/// Kong's named period fields, shortest first.
pub(crate) const NAMED_PERIODS: [(&str, Window); 6] = [
    ("second", Window::Second),
    ("minute", Window::Minute),
    ("hour", Window::Hour),
    ("day", Window::Day),
    ("month", Window::Month),
    ("year", Window::Year),
];

/// One limit: at most `max` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The number of requests allowed in one window (at least 1).
    pub max: u64,
    /// The window the count runs over.
    pub window: Window,
}

/// Header names and header fragments of one limit, computed once when the config is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitNames {
    /// `X-RateLimit-Limit-Minute` (custom windows: `X-RateLimit-Limit-90`), spelled as Kong sends it.
    pub limit_header: String,
    /// `X-RateLimit-Remaining-Minute`.
    pub remaining_header: String,
    /// The IETF policy name, quoted: `"minute"`, `"90s"`.
    pub ietf_name: String,
}

impl LimitNames {
    pub(crate) fn of(window: Window) -> LimitNames {
        let suffix = window.header_suffix();
        LimitNames {
            limit_header: format!("X-RateLimit-Limit-{suffix}"),
            remaining_header: format!("X-RateLimit-Remaining-{suffix}"),
            ietf_name: format!("\"{}\"", window.name()),
        }
    }
}

/// Reads the named period fields and the `limits` array of one object (the top level or a
/// rule); returns the limits sorted by window length, checked for Kong's period order.
pub(crate) fn read_limits(f: &Fields<'_>) -> Result<Vec<Limit>, ConfigError> {
    // (limit, path of the field that set it) so duplicate errors can name the field.
    let mut found: Vec<(Limit, String)> = Vec::new();
    for (name, window) in NAMED_PERIODS {
        if let Some(max) = f.positive_int(name)? {
            found.push((Limit { max, window }, f.path_of(name)));
        }
    }
    if let Some(items) = f.array("limits")? {
        let list_path = f.path_of("limits");
        for (i, item) in items.iter().enumerate() {
            let item_path = index(&list_path, i);
            let item = Fields::new(&item_path, item, &["max", "window"])?;
            let max = item
                .get("max")
                .ok_or_else(|| missing(&item.path_of("max"), "a positive integer"))
                .and_then(|v| positive_int(&item.path_of("max"), v))?;
            let window_path = item.path_of("window");
            let window = item
                .get("window")
                .ok_or_else(|| missing(&window_path, "a duration such as \"90s\""))
                .and_then(|v| parse_duration(&window_path, v))?;
            if let Some((_, earlier)) = found.iter().find(|(l, _)| l.window == window) {
                return Err(ConfigError::Invalid {
                    path: window_path,
                    message: format!(
                        "a {} window is already limited by `{earlier}`",
                        window.name()
                    ),
                });
            }
            found.push((Limit { max, window }, window_path));
        }
    }
    if found.len() > MAX_LIMITS_PER_RULE {
        return Err(ConfigError::Invalid {
            path: if f.path().is_empty() {
                "limits".to_owned()
            } else {
                join(f.path(), "limits")
            },
            message: format!(
                "at most {MAX_LIMITS_PER_RULE} limits are allowed together, got {}",
                found.len()
            ),
        });
    }
    let mut limits: Vec<Limit> = found.into_iter().map(|(l, _)| l).collect();
    limits.sort_by_key(|l| l.window.nominal_secs());
    check_period_order(f.path(), &limits)?;
    Ok(limits)
}

/// Kong's `validate_periods_order`: a longer period may not have a lower limit than a shorter one
/// (it could never be reached). `limits` is sorted shortest first.
fn check_period_order(scope: &str, limits: &[Limit]) -> Result<(), ConfigError> {
    for (i, shorter) in limits.iter().enumerate() {
        for longer in &limits[i + 1..] {
            if longer.max < shorter.max {
                return Err(ConfigError::PeriodOrder {
                    scope: scope.to_owned(),
                    longer: longer.window.name(),
                    longer_max: longer.max,
                    shorter: shorter.window.name(),
                    shorter_max: shorter.max,
                });
            }
        }
    }
    Ok(())
}

fn missing(path: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_owned(),
        message: format!("required: expected {expected}"),
    }
}

/// A window duration: a positive integer followed by `s`, `m`, `h` or `d` (`"90s"`, `"5m"`).
fn parse_duration(path: &str, v: &Value) -> Result<Window, ConfigError> {
    const EXPECTED: &str =
        "expected a duration such as \"90s\", \"5m\", \"1h\" or \"1d\" (at most 366d)";
    let Value::String(s) = v else {
        return Err(invalid(path, EXPECTED, v));
    };
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(invalid(path, EXPECTED, v)),
    };
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .filter(|secs| (1..=MAX_CUSTOM_WINDOW_SECS).contains(secs))
        .and_then(|secs| u32::try_from(secs).ok());
    match secs {
        Some(secs) => Ok(Window::from_secs(secs)),
        None => Err(invalid(path, EXPECTED, v)),
    }
}
