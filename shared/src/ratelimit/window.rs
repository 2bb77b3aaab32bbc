//! Rate-limit windows: where a window starts, where it ends, and Kong's reset seconds.
//!
//! Fixed windows are aligned exactly as Kong's `kong.tools.timestamp.get_timestamps` aligns
//! them, so a user moving from Kong sees counters reset at the same instants: second, minute,
//! hour and day on multiples of their length since the Unix epoch (UTC), month on the first
//! of the UTC calendar month, year on January 1st UTC. Custom windows (`"90s"`) align on
//! multiples of their length since the epoch, as Kong's rate-limiting-advanced does.

use super::calendar;

/// One rate-limit period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One UTC day.
    Day,
    /// One UTC calendar month (28 to 31 days).
    Month,
    /// One UTC calendar year (365 or 366 days).
    Year,
    /// A custom length in seconds, never equal to a named length (those are normalised to the
    /// named window when the config is compiled).
    Seconds(u32),
}

/// How usage in a window is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowType {
    /// Count only the current window (Kong's `rate-limiting`); allows a burst of up to twice
    /// the limit across a boundary.
    #[default]
    Fixed,
    /// Weight the previous window by how much of it still overlaps a window-long span ending
    /// now (Kong rate-limiting-advanced's and Cloudflare's estimate): smooths boundary bursts.
    Sliding,
}

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

impl Window {
    /// The window a length in seconds denotes: a named window when the length is one, so that
    /// `"60s"` and `minute` are the same limit with the same headers.
    pub fn from_secs(secs: u32) -> Window {
        match secs {
            1 => Window::Second,
            60 => Window::Minute,
            3_600 => Window::Hour,
            86_400 => Window::Day,
            s => Window::Seconds(s),
        }
    }

    /// A stable small number identifying the window, for counter keys: 1..=6 for the named
    /// windows, 16 + length in seconds for custom ones.
    pub fn id(self) -> u64 {
        match self {
            Window::Second => 1,
            Window::Minute => 2,
            Window::Hour => 3,
            Window::Day => 4,
            Window::Month => 5,
            Window::Year => 6,
            Window::Seconds(s) => 16 + u64::from(s),
        }
    }

    /// Kong's `EXPIRATION` for the period, in seconds (month = 30 days, year = 365 days); for a
    /// custom window its length. Used for reset seconds, header `w=` values and ordering.
    pub fn nominal_secs(self) -> u64 {
        match self {
            Window::Second => 1,
            Window::Minute => 60,
            Window::Hour => 3_600,
            Window::Day => 86_400,
            Window::Month => 2_592_000,
            Window::Year => 31_536_000,
            Window::Seconds(s) => u64::from(s),
        }
    }

    /// Start (Unix ms) of the window containing `now_ms`.
    pub fn start_ms(self, now_ms: u64) -> u64 {
        match self {
            Window::Month => calendar::month_start_ms(now_ms),
            Window::Year => calendar::year_start_ms(now_ms),
            fixed => {
                let len = fixed.fixed_len_ms();
                now_ms - now_ms % len
            }
        }
    }

    /// Start (Unix ms) of the window after the one starting at `start_ms`: the end of that window.
    pub fn next_start_ms(self, start_ms: u64) -> u64 {
        match self {
            Window::Month => calendar::next_month_start_ms(start_ms),
            Window::Year => calendar::next_year_start_ms(start_ms),
            fixed => start_ms.saturating_add(fixed.fixed_len_ms()),
        }
    }

    /// Length in ms of windows that do not follow the calendar (never 0).
    fn fixed_len_ms(self) -> u64 {
        match self {
            Window::Second => SECOND_MS,
            Window::Minute => MINUTE_MS,
            Window::Hour => HOUR_MS,
            Window::Day => calendar::DAY_MS,
            Window::Seconds(s) => u64::from(s.max(1)) * SECOND_MS,
            // Calendar windows never reach here; a month-ish length keeps this total.
            Window::Month => 30 * calendar::DAY_MS,
            Window::Year => 365 * calendar::DAY_MS,
        }
    }

    /// Seconds until the counters reset, as Kong computes `RateLimit-Reset` and `Retry-After`:
    /// `max(1, EXPIRATION - floor((now - window_start) / 1000))`. For month and year Kong uses
    /// its nominal 30/365-day `EXPIRATION`, not the calendar end; we keep that for parity.
    pub fn reset_secs(self, now_ms: u64) -> u64 {
        let elapsed_secs = (now_ms - self.start_ms(now_ms)) / 1_000;
        self.nominal_secs().saturating_sub(elapsed_secs).max(1)
    }

    /// The period's lower-case name as Kong's messages and the IETF policy name use it
    /// (`"minute"`), or `None` for custom windows (named `"<secs>s"`).
    pub fn kong_name(self) -> Option<&'static str> {
        match self {
            Window::Second => Some("second"),
            Window::Minute => Some("minute"),
            Window::Hour => Some("hour"),
            Window::Day => Some("day"),
            Window::Month => Some("month"),
            Window::Year => Some("year"),
            Window::Seconds(_) => None,
        }
    }

    /// The name used in messages and IETF headers: `"minute"`, or `"90s"` for custom windows.
    pub fn name(self) -> String {
        match self.kong_name() {
            Some(n) => n.to_owned(),
            None => format!("{}s", self.nominal_secs()),
        }
    }

    /// The suffix of Kong's `X-RateLimit-Limit-<suffix>` headers: `Minute`, or the length in
    /// seconds for custom windows (`X-RateLimit-Limit-90`, as rate-limiting-advanced names them).
    pub fn header_suffix(self) -> String {
        match self {
            Window::Second => "Second".to_owned(),
            Window::Minute => "Minute".to_owned(),
            Window::Hour => "Hour".to_owned(),
            Window::Day => "Day".to_owned(),
            Window::Month => "Month".to_owned(),
            Window::Year => "Year".to_owned(),
            Window::Seconds(s) => s.to_string(),
        }
    }
}

/// Usage of a sliding window at `now_ms`: `current + previous * (len - elapsed) / len`, rounded
/// down, where the current window is `[start_ms, end_ms)`. Integer math in `u128` so large
/// counts cannot overflow.
pub fn sliding_usage(current: u64, previous: u64, start_ms: u64, end_ms: u64, now_ms: u64) -> u64 {
    let len = u128::from(end_ms.saturating_sub(start_ms).max(1));
    let elapsed = u128::from(now_ms.saturating_sub(start_ms)).min(len);
    let weighted = u128::from(previous) * (len - elapsed) / len;
    // `weighted <= previous`, so it fits in u64.
    current.saturating_add(u64::try_from(weighted).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ratelimit::calendar::{days_from_civil, DAY_MS};

    /// Unix ms of a UTC civil date and time.
    fn at(y: i64, mo: u32, d: u32, h: u64, mi: u64, s: u64, ms: u64) -> u64 {
        let days = u64::try_from(days_from_civil(y, mo, d)).unwrap();
        days * DAY_MS + h * 3_600_000 + mi * 60_000 + s * 1_000 + ms
    }

    both_targets_test! {
        fn minute_window_starts_on_the_minute_utc() {
            let now = at(2024, 5, 17, 13, 42, 37, 250);
            assert_eq!(Window::Minute.start_ms(now), at(2024, 5, 17, 13, 42, 0, 0));
            assert_eq!(Window::Minute.next_start_ms(Window::Minute.start_ms(now)), at(2024, 5, 17, 13, 43, 0, 0));
        }
    }

    both_targets_test! {
        fn second_hour_and_day_windows_align_on_epoch_multiples() {
            let now = at(2024, 5, 17, 13, 42, 37, 250);
            assert_eq!(Window::Second.start_ms(now), at(2024, 5, 17, 13, 42, 37, 0));
            assert_eq!(Window::Hour.start_ms(now), at(2024, 5, 17, 13, 0, 0, 0));
            assert_eq!(Window::Day.start_ms(now), at(2024, 5, 17, 0, 0, 0, 0));
        }
    }

    both_targets_test! {
        fn month_window_starts_on_the_first_of_the_month_utc() {
            let now = at(2024, 5, 17, 13, 42, 37, 250);
            assert_eq!(Window::Month.start_ms(now), at(2024, 5, 1, 0, 0, 0, 0));
            assert_eq!(Window::Month.next_start_ms(at(2024, 5, 1, 0, 0, 0, 0)), at(2024, 6, 1, 0, 0, 0, 0));
        }
    }

    both_targets_test! {
        fn month_window_boundaries_are_exact_to_the_millisecond() {
            let last_ms_of_april = at(2024, 4, 30, 23, 59, 59, 999);
            assert_eq!(Window::Month.start_ms(last_ms_of_april), at(2024, 4, 1, 0, 0, 0, 0));
            assert_eq!(Window::Month.start_ms(last_ms_of_april + 1), at(2024, 5, 1, 0, 0, 0, 0));
        }
    }

    both_targets_test! {
        fn february_of_a_leap_year_has_twenty_nine_days() {
            let feb = at(2024, 2, 1, 0, 0, 0, 0);
            assert_eq!(Window::Month.next_start_ms(feb) - feb, 29 * DAY_MS);
            let feb = at(2023, 2, 1, 0, 0, 0, 0);
            assert_eq!(Window::Month.next_start_ms(feb) - feb, 28 * DAY_MS);
            assert_eq!(Window::Month.start_ms(at(2024, 2, 29, 12, 0, 0, 0)), at(2024, 2, 1, 0, 0, 0, 0));
        }
    }

    both_targets_test! {
        fn december_rolls_over_into_january_of_the_next_year() {
            let dec = at(2023, 12, 1, 0, 0, 0, 0);
            assert_eq!(Window::Month.next_start_ms(dec), at(2024, 1, 1, 0, 0, 0, 0));
        }
    }

    both_targets_test! {
        fn year_window_starts_on_january_first_utc_and_leap_years_are_longer() {
            let now = at(2024, 7, 4, 1, 2, 3, 4);
            let start = Window::Year.start_ms(now);
            assert_eq!(start, at(2024, 1, 1, 0, 0, 0, 0));
            assert_eq!(Window::Year.next_start_ms(start) - start, 366 * DAY_MS);
            let start = Window::Year.start_ms(at(2023, 7, 4, 0, 0, 0, 0));
            assert_eq!(Window::Year.next_start_ms(start) - start, 365 * DAY_MS);
        }
    }

    both_targets_test! {
        fn custom_window_aligns_on_multiples_of_its_length() {
            let w = Window::from_secs(90);
            assert_eq!(w, Window::Seconds(90));
            assert_eq!(w.start_ms(100_000), 90_000);
            assert_eq!(w.next_start_ms(90_000), 180_000);
            assert_eq!(w.start_ms(179_999), 90_000);
        }
    }

    both_targets_test! {
        fn named_lengths_become_named_windows() {
            assert_eq!(Window::from_secs(60), Window::Minute);
            assert_eq!(Window::from_secs(86_400), Window::Day);
            assert_eq!(Window::from_secs(1), Window::Second);
        }
    }

    both_targets_test! {
        fn reset_counts_down_as_kong_computes_it() {
            let start = at(2024, 5, 17, 13, 42, 0, 0);
            assert_eq!(Window::Minute.reset_secs(start), 60);
            assert_eq!(Window::Minute.reset_secs(start + 999), 60);
            assert_eq!(Window::Minute.reset_secs(start + 23_500), 37);
            assert_eq!(Window::Minute.reset_secs(start + 59_999), 1);
            assert_eq!(Window::Second.reset_secs(start + 999), 1);
        }
    }

    both_targets_test! {
        fn month_reset_uses_kongs_thirty_day_expiration() {
            // Kong: EXPIRATION.month = 2592000; 31-day months bottom out at 1, never 0.
            let start = at(2024, 5, 1, 0, 0, 0, 0);
            assert_eq!(Window::Month.reset_secs(start), 2_592_000);
            assert_eq!(Window::Month.reset_secs(at(2024, 5, 31, 12, 0, 0, 0)), 1);
        }
    }

    both_targets_test! {
        fn window_names_and_suffixes() {
            assert_eq!(Window::Minute.name(), "minute");
            assert_eq!(Window::Seconds(90).name(), "90s");
            assert_eq!(Window::Hour.header_suffix(), "Hour");
            assert_eq!(Window::Seconds(90).header_suffix(), "90");
            assert_ne!(Window::Seconds(90).id(), Window::Seconds(91).id());
        }
    }

    both_targets_test! {
        fn sliding_usage_weights_the_previous_window_by_its_overlap() {
            // 10 in the previous minute, 2 so far, 15 s into this minute: 2 + 10 * 45/60 = 9.5 -> 9.
            assert_eq!(sliding_usage(2, 10, 60_000, 120_000, 75_000), 9);
            assert_eq!(sliding_usage(2, 10, 60_000, 120_000, 60_000), 12);
            assert_eq!(sliding_usage(2, 10, 60_000, 120_000, 119_999), 2);
            assert_eq!(sliding_usage(u64::MAX, u64::MAX, 0, 1, 0), u64::MAX);
        }
    }
}
