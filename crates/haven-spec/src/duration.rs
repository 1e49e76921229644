//! Durations written as `500ms`, `30s`, `5m`, `2h` or `7d`.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// A duration from the spec; it prints back in the same short form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    pub const fn millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    /// Parses `30s`-style text; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        if number.is_empty() {
            return Err(format!("`{text}` is not a duration"));
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?;
        let ms_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("`{text}` has no unit")),
            other => return Err(format!("`{other}` is not a unit of time")),
        };
        n.checked_mul(ms_per_unit)
            .map(Self::millis)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl From<Dur> for Duration {
    fn from(d: Dur) -> Self {
        d.0
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let units = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (size, unit) in units {
            if ms >= size && ms % size == 0 {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let check = |input: &str, expect: Result<&str, &str>| {
            let got = Dur::parse(input).map(|d| d.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), expect, "{input}");
        };
        check("30s", Ok("30s"));
        check("90s", Ok("90s"));
        check("120s", Ok("2m"));
        check("500ms", Ok("500ms"));
        check("1500ms", Ok("1500ms"));
        check("7d", Ok("7d"));
        check("30", Err("`30` has no unit"));
        check("s", Err("`s` is not a duration"));
        check("5 minutes", Err("` minutes` is not a unit of time"));
        check(
            "99999999999999999999s",
            Err("`99999999999999999999s` is too large"),
        );
    }
}
