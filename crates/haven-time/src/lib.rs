//! UTC calendar dates and the RFC 3339 texts AWS prints, without a date library.
//!
//! The calendar is the proleptic Gregorian one, converted with Howard Hinnant's algorithms
//! (<https://howardhinnant.github.io/date_algorithms.html>); times are UTC and leap seconds are
//! not counted, as Unix time does not count them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;
const MS_PER_DAY: u64 = 86_400_000;

/// The wall clock: the one place haven reads it (`Instant` measures durations). Inlined, as
/// the proxy reads it for every request.
#[inline]
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Time since the epoch; times before it count as zero.
#[inline]
pub fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Whole seconds since the epoch; times before it count as 0.
#[inline]
pub fn unix_secs(t: SystemTime) -> u64 {
    since_epoch(t).as_secs()
}

/// Milliseconds since the epoch; times before it count as 0.
#[inline]
pub fn unix_millis(t: SystemTime) -> u64 {
    u64::try_from(since_epoch(t).as_millis()).unwrap_or(u64::MAX)
}

/// Microseconds since the epoch; times before it count as 0.
#[inline]
pub fn unix_micros(t: SystemTime) -> u64 {
    u64::try_from(since_epoch(t).as_micros()).unwrap_or(u64::MAX)
}

/// The instant `ms` milliseconds after the epoch.
pub fn from_unix_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The instant `secs` seconds after the epoch.
pub fn from_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Now, in whole seconds since the epoch.
#[inline]
pub fn now_secs() -> u64 {
    unix_secs(now())
}

/// Now, in milliseconds since the epoch.
#[inline]
pub fn now_millis() -> u64 {
    unix_millis(now())
}

/// Now, in microseconds since the epoch.
#[inline]
pub fn now_micros() -> u64 {
    unix_micros(now())
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // Both fit: the day is 1..=31 and the month 1..=12.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Days since 1970-01-01 of a civil date, the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// How many fraction digits [`Utc::rfc3339`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `2026-05-01T12:00:00Z`
    Secs,
    /// `2026-05-01T12:00:00.123Z`
    Millis,
    /// `2026-05-01T12:00:00.123456Z`
    Micros,
}

/// An instant as a UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Below a second, 0..1_000_000_000.
    pub nanos: u32,
}

impl Utc {
    /// Seconds since the epoch (before it, negative).
    pub fn from_unix_secs(secs: i64) -> Utc {
        Utc::from_parts(secs, 0)
    }

    /// Milliseconds since the epoch (before it, negative; rounded down).
    pub fn from_unix_millis(ms: i64) -> Utc {
        // rem_euclid is 0..1000, so the nanoseconds fit.
        let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
        Utc::from_parts(ms.div_euclid(1000), nanos)
    }

    /// A system time; times before the epoch count backwards from it.
    pub fn from_system_time(t: SystemTime) -> Utc {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Utc::from_parts(
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(e) => {
                let d = e.duration();
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match d.subsec_nanos() {
                    0 => Utc::from_parts(-secs, 0),
                    n => Utc::from_parts(-secs - 1, 1_000_000_000 - n),
                }
            }
        }
    }

    fn from_parts(secs: i64, nanos: u32) -> Utc {
        let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        // The second of the day is 0..86_400, so every part fits.
        let sod = u32::try_from(secs.rem_euclid(SECS_PER_DAY)).unwrap_or(0);
        Utc {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod % 3600 / 60,
            second: sod % 60,
            nanos,
        }
    }

    /// The day of the week, 0 for Sunday.
    pub fn weekday(&self) -> u32 {
        // 1970-01-01 was a Thursday; rem_euclid is 0..7.
        let days = days_from_civil(self.year, self.month, self.day);
        u32::try_from((days + 4).rem_euclid(7)).unwrap_or(0)
    }

    /// `2026-05-01T12:00:00Z` with `precision`'s fraction (truncated, not rounded).
    pub fn rfc3339(&self, precision: Precision) -> String {
        let date = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        match precision {
            Precision::Secs => format!("{date}Z"),
            Precision::Millis => format!("{date}.{:03}Z", self.nanos / 1_000_000),
            Precision::Micros => format!("{date}.{:06}Z", self.nanos / 1000),
        }
    }
}

/// `t` as RFC 3339 UTC with `precision`'s fraction.
pub fn rfc3339(t: SystemTime, precision: Precision) -> String {
    Utc::from_system_time(t).rfc3339(precision)
}

/// Parses an RFC 3339 UTC time at the start of `s` (`2024-01-31T12:34:56Z`, with an optional
/// fraction of 1 to 9 digits, truncated to milliseconds); returns milliseconds since the epoch
/// and the bytes it took. Times before 1970 and offsets other than `Z` are `None`.
pub fn parse_rfc3339_prefix(s: &[u8]) -> Option<(u64, usize)> {
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    if rest.first() != Some(&b'T') {
        return None;
    }
    let days = parse_date(date, b'-')?;
    let (tod, used) = parse_time_of_day(rest.get(1..)?)?;
    if rest.get(1 + used) != Some(&b'Z') {
        return None;
    }
    Some((epoch_ms(days, tod)?, 10 + 1 + used + 1))
}

/// Parses a whole string as [`parse_rfc3339_prefix`] does, into milliseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    match parse_rfc3339_prefix(s.as_bytes())? {
        (ms, used) if used == s.len() => Some(ms),
        _ => None,
    }
}

/// `YYYY<sep>MM<sep>DD` (exactly 10 bytes) to days since the epoch; the month must be 1..=12
/// and the day 1..=31.
pub fn parse_date(s: &[u8], sep: u8) -> Option<i64> {
    if s.len() != 10 || s[4] != sep || s[7] != sep {
        return None;
    }
    let y = i64::try_from(digits(&s[..4])?).ok()?;
    let m = u32::try_from(digits(&s[5..7])?).ok()?;
    let d = u32::try_from(digits(&s[8..10])?).ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `HH:MM:SS[.fraction]` at the start of `s` (1 to 9 fraction digits, truncated) to
/// milliseconds into the day, and the bytes it took. A leap second (`:60`) is accepted.
pub fn parse_time_of_day(s: &[u8]) -> Option<(u64, usize)> {
    if s.len() < 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&s[..2])?, digits(&s[3..5])?, digits(&s[6..8])?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut used = 8;
    let mut ms = 0;
    if s.get(8) == Some(&b'.') {
        let frac = s[9..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac == 0 || frac > 9 {
            return None;
        }
        // Milliseconds: the first three digits, padded.
        let mut first3 = [b'0'; 3];
        for (slot, d) in first3.iter_mut().zip(&s[9..9 + frac]) {
            *slot = *d;
        }
        ms = digits(&first3)?;
        used = 9 + frac;
    }
    Some(((h * 3600 + m * 60 + sec) * 1000 + ms, used))
}

fn epoch_ms(days: i64, tod_ms: u64) -> Option<u64> {
    let days = u64::try_from(days).ok()?;
    days.checked_mul(MS_PER_DAY)?.checked_add(tod_ms)
}

fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests;
