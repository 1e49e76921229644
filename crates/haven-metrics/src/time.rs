//! Instants as the store keeps them (Unix seconds or milliseconds) and as CloudWatch prints them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_time::{Precision, Utc};

/// Whole Unix seconds, rounded down (also before 1970, where `as_secs` would round up).
pub(crate) fn secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 { -s - 1 } else { -s }
        }
    }
}

pub(crate) fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_secs(s: i64) -> SystemTime {
    from_millis(s.saturating_mul(1000))
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// Rounds down to a multiple of `step` (also for negative instants).
pub(crate) fn floor(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

/// `2025-11-26T18:00:00Z`: how `--json` output and Datapoints print instants.
pub fn rfc3339(t: SystemTime) -> String {
    Utc::from_unix_millis(millis(t)).rfc3339(Precision::Secs)
}

/// `2025-11-26T18:00:00.000+0000`: CloudWatch's spelling in alarm reason data.
pub(crate) fn cloudwatch_millis(ms: i64) -> String {
    let p = Utc::from_unix_millis(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        p.year,
        p.month,
        p.day,
        p.hour,
        p.minute,
        p.second,
        p.nanos / 1_000_000
    )
}

/// `26/11/25 18:00:00`: how CloudWatch's alarm reasons print a datapoint's time (dd/mm/yy).
pub(crate) fn reason_time(secs: i64) -> String {
    let p = Utc::from_unix_secs(secs);
    format!(
        "{:02}/{:02}/{:02} {:02}:{:02}:{:02}",
        p.day,
        p.month,
        p.year.rem_euclid(100),
        p.hour,
        p.minute,
        p.second
    )
}

/// A period as people write it: `5s`, `1m`, `90s`, `1h`.
pub(crate) fn short_duration(secs: i64) -> String {
    if secs % 3600 == 0 && secs >= 3600 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 && secs >= 60 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_instants_as_cloudwatch_does() {
        // 2025-11-26T18:00:00Z
        let t = from_secs(1_764_180_000);
        assert_eq!(rfc3339(t), "2025-11-26T18:00:00Z");
        assert_eq!(reason_time(1_764_180_000), "26/11/25 18:00:00");
        assert_eq!(
            cloudwatch_millis(1_764_180_000_123),
            "2025-11-26T18:00:00.123+0000"
        );
        assert_eq!(rfc3339(from_secs(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(from_secs(951_782_400)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn floors_before_the_epoch() {
        assert_eq!(floor(-1, 60), -60);
        assert_eq!(floor(59, 60), 0);
        assert_eq!(secs(UNIX_EPOCH - Duration::from_millis(1)), -1);
    }
}
