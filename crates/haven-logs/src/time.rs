//! Event times: milliseconds since the Unix epoch (as CloudWatch Logs keeps them), written as
//! RFC 3339 in UTC in stream files, and the `[Container]` times of CodeBuild's plain-text logs.

use std::time::SystemTime;

use haven_time::{Precision, Utc};

const MS_PER_DAY: u64 = 86_400_000;

/// Milliseconds since the epoch; times before it count as 0.
pub fn to_ms(t: SystemTime) -> u64 {
    haven_time::unix_millis(t)
}

pub fn from_ms(ms: u64) -> SystemTime {
    haven_time::from_unix_millis(ms)
}

pub fn now_ms() -> u64 {
    haven_time::now_millis()
}

/// `2024-01-31T12:34:56.789Z`: always 24 bytes, so stream files parse at a fixed width.
pub fn rfc3339(ms: u64) -> String {
    Utc::from_unix_millis(i64::try_from(ms).unwrap_or(i64::MAX)).rfc3339(Precision::Millis)
}

/// Parses an RFC 3339 UTC time at the start of `s` (`2024-01-31T12:34:56Z`, with an optional
/// fraction of 1 to 9 digits); returns the time and the bytes it took.
pub fn parse_rfc3339(s: &[u8]) -> Option<(u64, usize)> {
    haven_time::parse_rfc3339_prefix(s)
}

/// Parses CodeBuild's `[Container] 2024/01/31 12:34:56.123456 …` prefix.
pub fn parse_container(line: &[u8]) -> Option<u64> {
    let s = line.strip_prefix(b"[Container] ")?;
    let days = u64::try_from(haven_time::parse_date(s.get(..10)?, b'/')?).ok()?;
    if s.get(10) != Some(&b' ') {
        return None;
    }
    let (tod, _) = haven_time::parse_time_of_day(s.get(11..)?)?;
    days.checked_mul(MS_PER_DAY)?.checked_add(tod)
}

/// The event time a plain-text log line carries, if any: CodeBuild's `[Container]` prefix or
/// a leading RFC 3339 time.
pub fn line_time(line: &[u8]) -> Option<u64> {
    parse_container(line).or_else(|| parse_rfc3339(line).map(|(t, _)| t))
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
