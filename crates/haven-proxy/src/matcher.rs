//! ALB health-check success codes (`Matcher.HttpCode`): "200", "200-299", "200,202".

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Lowest and highest code AWS accepts in an HTTP/HTTPS matcher.
const MIN_CODE: u16 = 200;
const MAX_CODE: u16 = 499;

/// The set of HTTP status codes a health check accepts as a pass.
///
/// Syntax is the ALB's: single codes and inclusive ranges separated by commas,
/// e.g. `"200"`, `"200-299"`, `"200,202"`, `"200,204-206"`. AWS limits the codes
/// to 200..=499 for HTTP health checks, and so does this parser.
#[derive(Clone, PartialEq, Eq)]
pub struct Matcher {
    /// One bit per status code 0..512; a bitset makes `matches` a shift and a mask.
    bits: [u64; 8],
    text: String,
}

impl Matcher {
    /// Parses the ALB success-code syntax.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidMatcher {
            input: input.to_owned(),
            reason,
        };
        let mut bits = [0u64; 8];
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(bad("empty"));
        }
        for part in trimmed.split(',') {
            let part = part.trim();
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (parse_code(lo.trim()), parse_code(hi.trim())),
                None => (parse_code(part), parse_code(part)),
            };
            let (Some(lo), Some(hi)) = (lo, hi) else {
                return Err(bad("expected a status code or a range like 200-299"));
            };
            if lo > hi {
                return Err(bad("range start is above its end"));
            }
            if lo < MIN_CODE || hi > MAX_CODE {
                return Err(bad("codes must be between 200 and 499"));
            }
            for code in lo..=hi {
                bits[usize::from(code / 64)] |= 1 << (code % 64);
            }
        }
        Ok(Self {
            bits,
            text: trimmed.to_owned(),
        })
    }

    /// Whether `status` counts as a successful health check.
    pub fn matches(&self, status: u16) -> bool {
        let idx = usize::from(status / 64);
        idx < self.bits.len() && self.bits[idx] & (1 << (status % 64)) != 0
    }

    /// The matcher as it was written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn parse_code(s: &str) -> Option<u16> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Default for Matcher {
    /// The ALB default: `200`.
    fn default() -> Self {
        let mut bits = [0u64; 8];
        bits[200 / 64] |= 1 << (200 % 64);
        Self {
            bits,
            text: "200".to_owned(),
        }
    }
}

impl FromStr for Matcher {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({:?})", self.text)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_range_and_list() {
        let m = Matcher::parse("200").unwrap();
        assert!(m.matches(200) && !m.matches(201) && !m.matches(0) && !m.matches(600));
        let m = Matcher::parse("200-299").unwrap();
        assert!(m.matches(200) && m.matches(250) && m.matches(299) && !m.matches(300));
        let m = Matcher::parse("200,202").unwrap();
        assert!(m.matches(200) && !m.matches(201) && m.matches(202));
        let m = Matcher::parse(" 200 , 204-206 ").unwrap();
        assert!(m.matches(205) && !m.matches(207) && m.as_str() == "200 , 204-206");
        assert_eq!(Matcher::default(), Matcher::parse("200").unwrap());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "abc", "2000", "299-200", "100", "500", "200-", "-200", "200,,201", "20",
        ] {
            assert!(Matcher::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
