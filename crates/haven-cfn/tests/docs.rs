//! The docs list every checkov skip haven can write, with the reason the templates carry.

fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn aws_md_lists_every_skip_with_its_reason() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/aws.md");
    let doc = normalized(&std::fs::read_to_string(path).expect("docs/aws.md exists"));
    for listed in haven_cfn::skips::ALL {
        let row = normalized(&format!(
            "| {} | {} | {} | {} |",
            listed.skip.id, listed.resources, listed.when, listed.skip.comment
        ));
        assert!(doc.contains(&row), "docs/aws.md lacks the row:\n{row}");
    }
}
