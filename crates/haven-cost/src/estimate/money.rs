//! Money and quantities: cents rounded as a bill rounds them, and the texts of amounts, unit
//! prices and counts.

use haven_spec::model::Environment;

/// Dollars to cents, half up, as a bill rounds. Rounding to micro-dollars first drops the binary
/// noise (730 × 0.0225 is 16.424999…), so a half cent on paper is a half cent here.
pub(super) fn money_cents(usd: f64) -> i64 {
    let micros = (usd * 1e6).round() as i64;
    (micros + 5_000).div_euclid(10_000)
}

pub(super) fn to_cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

pub(super) fn cents_to_dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// `$1,234.56`; negative amounts as `-$1.00`.
pub fn dollars(usd: f64) -> String {
    let cents = to_cents(usd);
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// A unit price with the digits it has: `$0.04048`, `$0.10`, `$3.00`.
pub fn unit_dollars(usd: f64) -> String {
    let text = format!("{usd:.7}");
    let text = text.trim_end_matches('0');
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    format!("${whole}.{frac:0<2}")
}

/// A quantity with up to three decimals and thousands separators: `1,460`, `0.5`, `73`.
pub fn num(x: f64) -> String {
    let text = format!("{:.3}", x.abs());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole = whole
        .parse::<u64>()
        .map(thousands)
        .unwrap_or_else(|_| whole.to_owned());
    let sign = if x < 0.0 && text != "0" { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub(super) fn count(n: f64, noun: &str) -> String {
    if n == 1.0 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", num(n))
    }
}

pub(super) fn names(envs: &[&Environment]) -> String {
    envs.iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_cents_round_up_despite_binary_noise() {
        assert_eq!(money_cents(730.0 * 0.0225), 1643);
        assert_eq!(money_cents(0.004445 * 730.0), 324);
        assert_eq!(money_cents(0.0), 0);
        assert_eq!(money_cents(14.7752), 1478);
    }

    #[test]
    fn formats() {
        assert_eq!(dollars(1234.5), "$1,234.50");
        assert_eq!(dollars(-73.0), "-$73.00");
        assert_eq!(unit_dollars(0.04048), "$0.04048");
        assert_eq!(unit_dollars(3.0), "$3.00");
        assert_eq!(unit_dollars(0.1), "$0.10");
        assert_eq!(unit_dollars(0.00002), "$0.00002");
        assert_eq!(unit_dollars(0.0022225), "$0.0022225");
        assert_eq!(num(1460.0), "1,460");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(73.0), "73");
        assert_eq!(num(1_234_567.25), "1,234,567.25");
        assert_eq!(count(1.0, "task"), "1 task");
        assert_eq!(count(2.0, "task"), "2 tasks");
    }
}
