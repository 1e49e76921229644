//! The model and the kernel agree: for every path users ask about, a real connection on a
//! throwaway VPC (routes, nftables) succeeds exactly when `haven_net::reach` says it is allowed.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use haven_net::{Place, Vpc as Model, reach};

fn preflight() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "probes need root (network namespaces, veths, nftables)"
    );
    for (tool, arg) in [("ip", "-V"), ("nft", "-v")] {
        let ok = Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "`{tool}` is missing (Debian: iproute2, nftables)");
    }
}

fn model(edit: impl FnOnce(String) -> String) -> Model {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let path = dir.join("haven.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let spec = haven_spec::load_str(&edit(text), &path, &dir).unwrap().spec;
    Model::of(&spec, spec.primary())
}

const PATHS: &[(&str, &str, u16)] = &[
    ("internet", "alb", 80),
    ("internet", "alb", 22),
    ("internet", "task", 8080),
    ("alb", "task", 8080),
    ("alb", "task", 22),
    ("task", "internet", 443),
    ("task", "internet", 80),
    ("private-2", "task", 8080),
    ("public-2", "alb", 80),
    ("task", "alb", 80),
];

#[test]
fn every_path_connects_exactly_when_the_model_allows_it() {
    preflight();
    let m = model(|t| t);
    let prefix = format!("p{}", std::process::id());
    let mut allowed = 0;
    for (from, to, port) in PATHS {
        let (from, to) = (
            Place::parse(from, &m).unwrap(),
            Place::parse(to, &m).unwrap(),
        );
        let verdict = reach(&m, &from, &to, *port);
        let probed = haven_vpc::probe(&prefix, &m, &from, &to, *port).unwrap();
        assert_eq!(
            probed.connected, verdict.allowed,
            "{from} → {to}:{port}: the model says {verdict:#?}, the probe saw {probed:#?}"
        );
        // A rule that drops says so in its counter; a missing route drops nothing.
        if !verdict.allowed
            && verdict
                .steps
                .last()
                .unwrap()
                .check
                .starts_with("security group")
        {
            assert!(
                probed.counted.iter().any(|c| c.contains("reject")),
                "{from} → {to}:{port}: {probed:#?}"
            );
        }
        allowed += usize::from(verdict.allowed);
    }
    assert!(allowed >= 3, "the table tries allowed paths too");
    let left = haven_vpc::leftovers(&prefix).unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_users_own_rule_is_enforced_as_the_model_says() {
    preflight();
    let rule = "\n[[network.rules]]\ngroup = \"tasks\"\ndirection = \"egress\"\nports = \"5432\"\ncidr = \"10.0.12.0/24\"\ndescription = \"To the database\"\n";
    let m = model(|t| format!("{t}{rule}"));
    let prefix = format!("u{}", std::process::id());
    for (to, port, allowed) in [
        ("private-2", 5432, true),
        ("private-2", 5433, false),
        ("public-1", 5432, false),
    ] {
        let to = Place::parse(to, &m).unwrap();
        let verdict = reach(&m, &Place::Task, &to, port);
        assert_eq!(verdict.allowed, allowed, "{to}:{port}: {verdict:#?}");
        let probed = haven_vpc::probe(&prefix, &m, &Place::Task, &to, port).unwrap();
        assert_eq!(probed.connected, allowed, "{to}:{port}: {probed:#?}");
    }
    assert!(haven_vpc::leftovers(&prefix).unwrap().is_empty());
}
