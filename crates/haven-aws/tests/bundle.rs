//! What a deployment reads from a synthesis beside the stacks: the hosted source's connection,
//! whose console step `haven aws deploy` prints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Project;

fn bundle(edit: impl FnOnce(String) -> String) -> haven_aws::Bundle {
    let project = Project::new(edit);
    let spec = project.spec();
    let synthesis = haven_cfn::synth(&spec).unwrap();
    haven_aws::Bundle::from_synthesis(&spec, &synthesis).unwrap()
}

#[test]
fn a_hosted_source_brings_its_console_step_and_codecommit_none() {
    assert_eq!(bundle(|s| s).source_connection, None);
    let hosted =
        bundle(|s| s + "\n[source]\nprovider = \"github\"\nrepository = \"octo-org/hello\"\n");
    let c = hosted.source_connection.expect("a connection to authorise");
    assert_eq!(
        (c.name.as_str(), c.provider.as_str(), c.repository.as_str()),
        ("hello-github", "GitHub", "octo-org/hello")
    );
    assert_eq!(c.region, hosted.primary_region);
    assert!(c.console_url.starts_with("https://"), "{}", c.console_url);
    assert!(c.console_url.contains(&c.region), "{}", c.console_url);
    assert!(c.step.contains("pending"), "{}", c.step);
}
