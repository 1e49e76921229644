//! CVSS v3.x base scores, computed from a vector string with the formula of the CVSS v3.1
//! specification (section 7.1), including its `Roundup` that avoids floating-point surprises.

/// The base score (0.0 to 10.0) of a `CVSS:3.0/...` or `CVSS:3.1/...` vector. Every base
/// metric must be there once; temporal and environmental metrics are allowed and ignored
/// (they do not change the base score). The error says what is wrong with the vector.
pub fn base_score(vector: &str) -> Result<f64, String> {
    let rest = vector
        .strip_prefix("CVSS:3.1/")
        .or_else(|| vector.strip_prefix("CVSS:3.0/"))
        .ok_or_else(|| "a CVSS v3 vector starts with `CVSS:3.1/` or `CVSS:3.0/`".to_owned())?;
    let mut m: [Option<char>; 8] = [None; 8];
    const NAMES: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
    for part in rest.split('/') {
        let (name, value) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}` is not METRIC:VALUE"))?;
        let mut chars = value.chars();
        let (Some(v), None) = (chars.next(), chars.next()) else {
            return Err(format!("`{part}`: the value is one letter"));
        };
        match NAMES.iter().position(|n| *n == name) {
            Some(i) if m[i].is_some() => return Err(format!("`{name}` is given twice")),
            Some(i) => m[i] = Some(v),
            // Temporal and environmental metrics: not part of the base score.
            None if is_other_metric(name) => {}
            None => return Err(format!("`{name}` is not a CVSS v3 metric")),
        }
    }
    let get = |i: usize| m[i].ok_or_else(|| format!("the base metric `{}` is missing", NAMES[i]));
    let bad = |i: usize, v: char| format!("`{}:{v}` is not a valid value", NAMES[i]);
    let scope_changed = match get(4)? {
        'U' => false,
        'C' => true,
        v => return Err(bad(4, v)),
    };
    let av = match get(0)? {
        'N' => 0.85,
        'A' => 0.62,
        'L' => 0.55,
        'P' => 0.2,
        v => return Err(bad(0, v)),
    };
    let ac = match get(1)? {
        'L' => 0.77,
        'H' => 0.44,
        v => return Err(bad(1, v)),
    };
    let pr = match (get(2)?, scope_changed) {
        ('N', _) => 0.85,
        ('L', false) => 0.62,
        ('L', true) => 0.68,
        ('H', false) => 0.27,
        ('H', true) => 0.5,
        (v, _) => return Err(bad(2, v)),
    };
    let ui = match get(3)? {
        'N' => 0.85,
        'R' => 0.62,
        v => return Err(bad(3, v)),
    };
    let cia = |i: usize| match get(i)? {
        'H' => Ok(0.56),
        'L' => Ok(0.22),
        'N' => Ok(0.0),
        v => Err(bad(i, v)),
    };
    let (c, i, a) = (cia(5)?, cia(6)?, cia(7)?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if scope_changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02_f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    let total = if scope_changed {
        1.08 * (impact + exploitability)
    } else {
        impact + exploitability
    };
    Ok(roundup(total.min(10.0)))
}

fn is_other_metric(name: &str) -> bool {
    matches!(
        name,
        "E" | "RL"
            | "RC"
            | "CR"
            | "IR"
            | "AR"
            | "MAV"
            | "MAC"
            | "MPR"
            | "MUI"
            | "MS"
            | "MC"
            | "MI"
            | "MA"
    )
}

/// CVSS v3.1's `Roundup`: the smallest number with one decimal that is at least `x`, computed
/// on integers so that 4.000000001 (a float artefact) is 4.0, not 4.1.
fn roundup(x: f64) -> f64 {
    // Scores are in 0..=10: the casts cannot overflow.
    #[allow(clippy::cast_possible_truncation)]
    let int = (x * 100_000.0).round() as i64;
    #[allow(clippy::cast_precision_loss)]
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        (int / 10_000 + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(vector: &str, expect: f64) {
        let got = base_score(vector).unwrap_or_else(|e| panic!("{vector}: {e}"));
        assert!(
            (got - expect).abs() < 1e-9,
            "{vector}: {got}, expected {expect}"
        );
    }

    #[test]
    fn known_vectors_score_as_the_nvd_calculator_says() {
        for (vector, score) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            // Reflected XSS, the textbook scope-changed vector.
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:L/I:L/A:N", 4.7),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            // Order does not matter; temporal metrics do not change the base score.
            ("CVSS:3.0/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N/E:P/RL:O", 9.8),
        ] {
            check(vector, score);
        }
    }

    #[test]
    fn malformed_vectors_say_what_is_wrong() {
        for (vector, says) in [
            ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "starts with"),
            ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", "starts with"),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "`A` is missing"),
            ("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "`AV:X`"),
            ("CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "twice"),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1", "`ZZ`"),
            ("CVSS:3.1/AV/AC:L", "METRIC:VALUE"),
        ] {
            let err = base_score(vector).unwrap_err();
            assert!(err.contains(says), "{vector}: {err}");
        }
    }
}
