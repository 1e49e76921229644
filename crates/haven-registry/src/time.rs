//! Times as the registry writes them in `index.json`: RFC 3339 UTC, and milliseconds since the
//! epoch to compare them (strings with and without a fraction do not sort as times).

use std::time::SystemTime;

use haven_time::{Precision, Utc};

/// Milliseconds since the epoch, for a time.
pub(crate) fn millis(t: SystemTime) -> u64 {
    haven_time::unix_millis(t)
}

/// Now as RFC 3339 UTC to the second, e.g. `2026-05-01T12:00:00Z`.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(haven_time::now_secs())
}

/// Seconds since the epoch as RFC 3339 UTC.
pub(crate) fn rfc3339(secs: u64) -> String {
    Utc::from_unix_secs(i64::try_from(secs).unwrap_or(i64::MAX)).rfc3339(Precision::Secs)
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds, e.g.
/// `2026-05-01T12:00:00.250Z`: push times, which order images pushed within one second.
pub(crate) fn rfc3339_ms(ms: u64) -> String {
    Utc::from_unix_millis(i64::try_from(ms).unwrap_or(i64::MAX)).rfc3339(Precision::Millis)
}

/// Parses what [`rfc3339`] and [`rfc3339_ms`] write (UTC, `Z`, optional fraction) into
/// milliseconds since the epoch; `None` for anything else.
pub(crate) fn parse_rfc3339(s: &str) -> Option<u64> {
    haven_time::parse_rfc3339(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_777_636_800), "2026-05-01T12:00:00Z");
        assert_eq!(rfc3339_ms(1_777_636_800_250), "2026-05-01T12:00:00.250Z");
    }

    #[test]
    fn parsing_inverts_formatting() {
        for ms in [0, 951_782_400_000, 1_777_636_800_250, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339_ms(ms)), Some(ms), "{ms}");
            assert_eq!(parse_rfc3339(&rfc3339(ms / 1000)), Some(ms / 1000 * 1000));
        }
        assert_eq!(
            parse_rfc3339("2026-05-01T12:00:00.5Z"),
            Some(1_777_636_800_500)
        );
        for bad in [
            "",
            "2026-05-01",
            "2026-05-01T12:00:00",
            "2026-13-01T12:00:00Z",
            "2026-05-01T12:00:00.Z",
            "2026-05-01T12:00:00+01:00",
            "20x6-05-01T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
