//! Tests of the calendar, the formatting and the parsing against known instants.

use std::time::Duration;

use super::*;

/// (days since the epoch, year, month, day)
const DATES: &[(i64, i64, u32, u32)] = &[
    (0, 1970, 1, 1),
    (-1, 1969, 12, 31),
    (364, 1970, 12, 31),
    (365, 1971, 1, 1),
    (11_016, 2000, 2, 29),
    (11_017, 2000, 3, 1),
    (19_782, 2024, 2, 29),
    (47_481, 2099, 12, 31),
    (47_482, 2100, 1, 1),
    // 2100 is not a leap year: February 28th is followed by March 1st.
    (47_540, 2100, 2, 28),
    (47_541, 2100, 3, 1),
    (-719_468, 0, 3, 1),
];

#[test]
fn civil_dates_match_known_days() {
    for &(days, y, m, d) in DATES {
        assert_eq!(civil_from_days(days), (y, m, d), "{days}");
        assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
    }
}

#[test]
fn civil_round_trips_over_four_centuries() {
    let mut last = civil_from_days(-1);
    for days in 0..146_097 * 2 {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
        // Each day follows the previous one.
        let next_day = (y, m, d) == (last.0, last.1, last.2 + 1);
        let next_month =
            d == 1 && ((y == last.0 && m == last.1 + 1) || (y == last.0 + 1 && m == 1));
        assert!(next_day || next_month, "{last:?} then {y}-{m}-{d}");
        last = (y, m, d);
    }
}

#[test]
fn formats_known_instants() {
    let t = UNIX_EPOCH + Duration::from_nanos(1_795_626_000_123_456_789);
    assert_eq!(rfc3339(t, Precision::Secs), "2026-11-25T17:00:00Z");
    assert_eq!(rfc3339(t, Precision::Millis), "2026-11-25T17:00:00.123Z");
    assert_eq!(rfc3339(t, Precision::Micros), "2026-11-25T17:00:00.123456Z");
    assert_eq!(Utc::from_system_time(t).weekday(), 3); // a Wednesday
    assert_eq!(
        rfc3339(UNIX_EPOCH, Precision::Millis),
        "1970-01-01T00:00:00.000Z"
    );
    assert_eq!(Utc::from_unix_secs(0).weekday(), 4); // a Thursday
    assert_eq!(
        Utc::from_unix_secs(951_782_400).rfc3339(Precision::Secs),
        "2000-02-29T00:00:00Z"
    );
    assert_eq!(
        Utc::from_unix_millis(4_102_444_799_999).rfc3339(Precision::Millis),
        "2099-12-31T23:59:59.999Z"
    );
    assert_eq!(
        Utc::from_unix_secs(4_107_542_400).rfc3339(Precision::Secs),
        "2100-03-01T00:00:00Z"
    );
}

#[test]
fn instants_before_the_epoch_count_backwards() {
    let want = "1969-12-31T23:59:59.999Z";
    assert_eq!(Utc::from_unix_millis(-1).rfc3339(Precision::Millis), want);
    let t = UNIX_EPOCH - Duration::from_millis(1);
    assert_eq!(rfc3339(t, Precision::Millis), want);
    let t = UNIX_EPOCH - Duration::from_secs(1);
    assert_eq!(rfc3339(t, Precision::Micros), "1969-12-31T23:59:59.000000Z");
    assert_eq!(Utc::from_unix_secs(-86_400).weekday(), 3);
}

#[test]
fn parsing_inverts_formatting() {
    for ms in [
        0,
        1_700_000_000_123,
        951_782_400_000,
        4_102_444_799_999,
        4_107_542_400_001,
    ] {
        let t = Utc::from_unix_millis(i64::try_from(ms).unwrap_or(0));
        let text = t.rfc3339(Precision::Millis);
        assert_eq!(text.len(), 24, "{text}");
        assert_eq!(
            parse_rfc3339_prefix(text.as_bytes()),
            Some((ms, 24)),
            "{text}"
        );
        assert_eq!(parse_rfc3339(&text), Some(ms), "{text}");
        let text = t.rfc3339(Precision::Secs);
        assert_eq!(parse_rfc3339(&text), Some(ms / 1000 * 1000), "{text}");
        let text = t.rfc3339(Precision::Micros);
        assert_eq!(parse_rfc3339(&text), Some(ms), "{text}");
    }
}

#[test]
fn parses_fractions_of_one_to_nine_digits() {
    let cases: &[(&str, Option<(u64, usize)>)] = &[
        ("2023-11-14T22:13:20Z rest", Some((1_700_000_000_000, 20))),
        ("2023-11-14T22:13:20.1Z", Some((1_700_000_000_100, 22))),
        ("2023-11-14T22:13:20.123456Z", Some((1_700_000_000_123, 27))),
        (
            "2023-11-14T22:13:20.123456789Z",
            Some((1_700_000_000_123, 30)),
        ),
        ("2023-11-14T22:13:60Z", Some((1_700_000_040_000, 20))),
        ("2023-11-14T22:13:20.1234567890Z", None),
        ("2023-11-14T22:13:20.Z", None),
        ("2023-11-14 22:13:20Z", None),
        ("2023-13-14T22:13:20Z", None),
        ("2023-11-00T22:13:20Z", None),
        ("2023-11-14T24:13:20Z", None),
        ("2023-11-14T22:60:20Z", None),
        ("2023-11-14T22:13:61Z", None),
        ("2023-11-14T22:13:20", None),
        ("2023-11-14T22:13:20+01:00", None),
        ("1969-12-31T23:59:59Z", None),
        ("20x3-11-14T22:13:20Z", None),
        ("2023-11-14T22:1:20Z", None),
        ("2023-11-14T22:13:2é", None),
        ("hello", None),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_rfc3339_prefix(text.as_bytes()), *want, "{text}");
    }
    assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z rest"), None);
    assert_eq!(
        parse_rfc3339("2023-11-14T22:13:20.5Z"),
        Some(1_700_000_000_500)
    );
}

#[test]
fn parses_dates_and_times_of_day_alone() {
    assert_eq!(parse_date(b"2023/11/14", b'/'), Some(19_675));
    assert_eq!(parse_date(b"2023-11-14", b'/'), None);
    assert_eq!(parse_date(b"2023/11/1", b'/'), None);
    assert_eq!(
        parse_time_of_day(b"22:13:20.123456 x"),
        Some((80_000_123, 15))
    );
    assert_eq!(parse_time_of_day(b"22:13"), None);
}

#[test]
fn epoch_conversions_agree() {
    use std::time::UNIX_EPOCH;
    let cases: [(SystemTime, u64, u64, u64); 3] = [
        (UNIX_EPOCH, 0, 0, 0),
        (
            UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            1_700_000_000,
            1_700_000_000_123,
            1_700_000_000_123_456,
        ),
        // Before the epoch counts as the epoch.
        (UNIX_EPOCH - Duration::from_secs(5), 0, 0, 0),
    ];
    for (t, secs, millis, micros) in cases {
        assert_eq!(unix_secs(t), secs, "{t:?}");
        assert_eq!(unix_millis(t), millis, "{t:?}");
        assert_eq!(unix_micros(t), micros, "{t:?}");
    }
    assert_eq!(unix_millis(from_unix_millis(1_234_567)), 1_234_567);
    assert_eq!(unix_secs(from_unix_secs(86_400)), 86_400);
}

#[test]
fn the_clock_reads_the_same_in_every_unit() {
    let (s, ms, us) = (now_secs(), now_millis(), now_micros());
    // Read in order, so each later reading is at least the earlier one in its unit.
    assert!(ms / 1000 >= s && us / 1000 >= ms, "{s} {ms} {us}");
    assert!(ms / 1000 - s < 5, "{s} {ms}");
}
