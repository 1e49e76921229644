//! CVSS v3.x base scores of advisories' vectors, through the `cvss` crate (the RustSec
//! project's), which applies v3.0's and v3.1's own `Roundup`. The crate scores a vector that
//! lacks a base metric as if the metric were harmless; an advisory's vector must have all eight,
//! so a missing one is an error here rather than a lower score.

/// The base score (0.0 to 10.0) of a `CVSS:3.0/...` or `CVSS:3.1/...` vector. Every base
/// metric must be there once; temporal and environmental metrics are allowed and ignored
/// (they do not change the base score). The error says what is wrong with the vector.
pub fn base_score(vector: &str) -> Result<f64, String> {
    let v: cvss::v3::Vector = vector
        .parse()
        .map_err(|e: cvss::Error| format!("not a CVSS v3 vector: {e}"))?;
    let present = [
        ("AV", v.av.is_some()),
        ("AC", v.ac.is_some()),
        ("PR", v.pr.is_some()),
        ("UI", v.ui.is_some()),
        ("S", v.s.is_some()),
        ("C", v.c.is_some()),
        ("I", v.i.is_some()),
        ("A", v.a.is_some()),
    ];
    if let Some((name, _)) = present.iter().find(|(_, there)| !there) {
        return Err(format!("the base metric `{name}` is missing"));
    }
    Ok(v.base_score().value())
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
            ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "prefix"),
            ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", "version: 2.0"),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "`A` is missing"),
            (
                "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "AV (Attack Vector) metric: `X`",
            ),
            (
                "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "duplicate",
            ),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1", "`ZZ`"),
            ("CVSS:3.1/AV/AC:L", "component: `AV`"),
        ] {
            let err = base_score(vector).unwrap_err();
            assert!(err.contains(says), "{vector}: {err}");
        }
    }
}
