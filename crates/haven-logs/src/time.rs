//! Event times: milliseconds since the Unix epoch (as CloudWatch Logs keeps them), written as
//! RFC 3339 in UTC in stream files, and the `[Container]` times of CodeBuild's plain-text logs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MS_PER_DAY: u64 = 86_400_000;

/// Milliseconds since the epoch; times before it count as 0.
pub fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

pub fn now_ms() -> u64 {
    to_ms(SystemTime::now())
}

/// `2024-01-31T12:34:56.789Z`: always 24 bytes, so stream files parse at a fixed width.
pub fn rfc3339(ms: u64) -> String {
    let days = i64::try_from(ms / MS_PER_DAY).unwrap_or(0);
    let rem = ms % MS_PER_DAY;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1000) % 60,
        rem % 1000
    )
}

/// Parses an RFC 3339 UTC time at the start of `s` (`2024-01-31T12:34:56Z`, with an optional
/// fraction of 1 to 9 digits); returns the time and the bytes it took.
pub fn parse_rfc3339(s: &[u8]) -> Option<(u64, usize)> {
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    if rest.first() != Some(&b'T') {
        return None;
    }
    let days = date_days(date, b'-')?;
    let (tod, used) = time_of_day(rest.get(1..)?)?;
    let rest = &rest[1 + used..];
    if rest.first() != Some(&b'Z') {
        return None;
    }
    Some((to_epoch_ms(days, tod)?, 10 + 1 + used + 1))
}

/// Parses CodeBuild's `[Container] 2024/01/31 12:34:56.123456 …` prefix.
pub fn parse_container(line: &[u8]) -> Option<u64> {
    let s = line.strip_prefix(b"[Container] ")?;
    let days = date_days(s.get(..10)?, b'/')?;
    if s.get(10) != Some(&b' ') {
        return None;
    }
    let (tod, _) = time_of_day(s.get(11..)?)?;
    to_epoch_ms(days, tod)
}

/// The event time a plain-text log line carries, if any: CodeBuild's `[Container]` prefix or
/// a leading RFC 3339 time.
pub fn line_time(line: &[u8]) -> Option<u64> {
    parse_container(line).or_else(|| parse_rfc3339(line).map(|(t, _)| t))
}

fn to_epoch_ms(days: i64, tod_ms: u64) -> Option<u64> {
    let days = u64::try_from(days).ok()?;
    days.checked_mul(MS_PER_DAY)?.checked_add(tod_ms)
}

fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// `YYYY<sep>MM<sep>DD` to days since the epoch.
fn date_days(s: &[u8], sep: u8) -> Option<i64> {
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

/// `HH:MM:SS[.fraction]` to milliseconds into the day, and the bytes it took.
fn time_of_day(s: &[u8]) -> Option<(u64, usize)> {
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

/// Days since 1970-01-01 of a civil date, Howard Hinnant's algorithm.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day), the inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0, 1_700_000_000_123, 951_782_400_000, 4_102_444_799_999] {
            let text = rfc3339(ms);
            assert_eq!(text.len(), 24, "{text}");
            assert_eq!(parse_rfc3339(text.as_bytes()), Some((ms, 24)), "{text}");
        }
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parses_the_forms_logs_use() {
        let cases: &[(&str, Option<u64>)] = &[
            ("2023-11-14T22:13:20Z rest", Some(1_700_000_000_000)),
            ("2023-11-14T22:13:20.123456Z", Some(1_700_000_000_123)),
            ("2023-11-14T22:13:20.1Z", Some(1_700_000_000_100)),
            ("2023-11-14 22:13:20Z", None),
            ("2023-13-14T22:13:20Z", None),
            ("2023-11-14T22:13:20", None),
            ("hello", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_rfc3339(text.as_bytes()).map(|(t, _)| t),
                *want,
                "{text}"
            );
        }
        assert_eq!(
            parse_container(b"[Container] 2023/11/14 22:13:20.123456 Running command make"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_container(b"[Container] soon"), None);
        assert_eq!(
            line_time(b"2023-11-14T22:13:20.500Z stage started"),
            Some(1_700_000_000_500)
        );
        assert_eq!(line_time(b"plain output"), None);
    }
}
