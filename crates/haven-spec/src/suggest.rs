//! "Did you mean" suggestions for misspelt keys and values.

/// The candidate closest to `input`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        // Optimal string alignment: Levenshtein plus adjacent transpositions, which are the
        // commonest typos.
        .map(|c| {
            (
                c,
                strsim::osa_distance(&input_lower, &c.to_ascii_lowercase()),
            )
        })
        .filter(|(c, d)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by_key(|(_, d)| *d)
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["health_check", "load_balancer", "port", "desired"];
        let check = |input: &str, expect: Option<&str>| {
            assert_eq!(did_you_mean(input, keys), expect, "{input}");
        };
        check("helth_check", Some("health_check"));
        check("prot", Some("port"));
        check("desried", Some("desired"));
        check("Port", Some("port"));
        check("zzz", None);
        check("balancer", None);
    }
}
