//! Bad input never panics: the loader on arbitrary text and on mutations of a valid spec; and
//! the schema walk agrees with serde on all of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../../examples/hello/haven.toml");

fn load(text: &str) {
    // Valid or not, loading must return; the result itself is checked elsewhere.
    let outcome = haven_spec::load_str(text, Path::new("haven.toml"), Path::new("/nonexistent"));
    if let Err(haven_spec::LoadError::Invalid(d)) = outcome {
        assert!(d.has_errors());
        let rendered = d.to_string();
        assert!(rendered.contains("error"));
        // The schema walk finds every unknown key and wrong type, so what it leaves always
        // deserializes: the deserializer's own error (`schema`) is never the one reported.
        assert!(
            d.iter().all(|d| d.code != "schema"),
            "{rendered}\n---\n{text}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        load(&text);
    }

    #[test]
    fn toml_like_text(text in "(\\[[a-z_.\\[\\]]{1,20}\\]\n|[a-z_]{1,12} = (\"[^\"\n]{0,12}\"|-?[0-9]{1,12}|\\[\\]|\\{\\}|true)\n){0,12}") {
        load(&text);
    }

    #[test]
    fn mutated_example(at in 0usize..EXAMPLE.len(), cut in 0usize..40, insert in "[ -~\n]{0,8}") {
        let mut at = at;
        while !EXAMPLE.is_char_boundary(at) { at -= 1; }
        let mut end = (at + cut).min(EXAMPLE.len());
        while !EXAMPLE.is_char_boundary(end) { end -= 1; }
        let text = format!("{}{}{}", &EXAMPLE[..at], insert, &EXAMPLE[end..]);
        load(&text);
    }
}
