//! Civil (proleptic Gregorian, UTC) dates from day counts and back.
//!
//! Kong aligns its `month` and `year` windows on calendar boundaries in UTC, so we need
//! calendar arithmetic; Howard Hinnant's `days_from_civil` / `civil_from_days` algorithms
//! (<https://howardhinnant.github.io/date_algorithms.html>) do it exactly, in a few integer
//! operations, without a date crate in the wasm binary.

/// Milliseconds in a UTC day (no leap seconds in Unix time).
pub(crate) const DAY_MS: u64 = 86_400_000;

/// Days since 1970-01-01 of the civil date `y-m-d` (`m` in 1..=12, `d` in 1..=31).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month 1..=12, day 1..=31)` of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
                                                   // The ranges above are guaranteed by the algorithm; the fallbacks are unreachable.
    let d = u32::try_from(d).unwrap_or(1);
    let m = u32::try_from(m).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day count of a Unix millisecond instant (instants are never before 1970 here).
fn day_of(now_ms: u64) -> i64 {
    i64::try_from(now_ms / DAY_MS).unwrap_or(i64::MAX / 2)
}

fn ms_of_day(days: i64) -> u64 {
    u64::try_from(days).unwrap_or(0).saturating_mul(DAY_MS)
}

/// Start (ms) of the UTC calendar month containing `now_ms`.
pub(crate) fn month_start_ms(now_ms: u64) -> u64 {
    let (y, m, _) = civil_from_days(day_of(now_ms));
    ms_of_day(days_from_civil(y, m, 1))
}

/// Start (ms) of the UTC calendar month after the one starting at `start_ms`.
pub(crate) fn next_month_start_ms(start_ms: u64) -> u64 {
    let (y, m, _) = civil_from_days(day_of(start_ms));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    ms_of_day(days_from_civil(y, m, 1))
}

/// Start (ms) of the UTC calendar year containing `now_ms`.
pub(crate) fn year_start_ms(now_ms: u64) -> u64 {
    let (y, _, _) = civil_from_days(day_of(now_ms));
    ms_of_day(days_from_civil(y, 1, 1))
}

/// Start (ms) of the UTC calendar year after the one starting at `start_ms`.
pub(crate) fn next_year_start_ms(start_ms: u64) -> u64 {
    let (y, _, _) = civil_from_days(day_of(start_ms));
    ms_of_day(days_from_civil(y + 1, 1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    both_targets_test! {
        fn epoch_is_day_zero() {
            assert_eq!(days_from_civil(1970, 1, 1), 0);
            assert_eq!(civil_from_days(0), (1970, 1, 1));
        }
    }

    both_targets_test! {
        fn leap_day_2024_round_trips() {
            let d = days_from_civil(2024, 2, 29);
            assert_eq!(civil_from_days(d), (2024, 2, 29));
            assert_eq!(civil_from_days(d + 1), (2024, 3, 1));
        }
    }

    both_targets_test! {
        fn century_years_follow_the_gregorian_rule() {
            // 2000 is a leap year, 2100 is not.
            assert_eq!(civil_from_days(days_from_civil(2000, 2, 28) + 1), (2000, 2, 29));
            assert_eq!(civil_from_days(days_from_civil(2100, 2, 28) + 1), (2100, 3, 1));
        }
    }

    both_targets_test! {
        fn every_day_for_four_centuries_round_trips() {
            let start = days_from_civil(1970, 1, 1);
            let end = days_from_civil(2370, 1, 1);
            let mut prev = civil_from_days(start - 1);
            for z in start..end {
                let c = civil_from_days(z);
                assert_eq!(days_from_civil(c.0, c.1, c.2), z);
                assert!(c > prev);
                prev = c;
            }
        }
    }
}
