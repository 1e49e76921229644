//! Reachability on the bundled example's network: every path users ask about, with what decides
//! it, as a table.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use haven_net::{Decision, Place, Vpc, reach};

fn example(edit: impl FnOnce(String) -> String) -> haven_spec::Spec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let text = std::fs::read_to_string(dir.join("haven.toml")).unwrap();
    haven_spec::load_str(&edit(text), Path::new("haven.toml"), &dir)
        .unwrap()
        .spec
}

fn primary(spec: &haven_spec::Spec) -> Vpc {
    Vpc::of(spec, spec.primary())
}

/// `(from, to, port, allowed, the check that decides, a text its reason holds)`.
const PATHS: &[(&str, &str, u16, bool, &str, &str)] = &[
    (
        "internet",
        "alb",
        80,
        true,
        "security group ingress",
        "HTTP from anywhere",
    ),
    (
        "internet",
        "alb",
        22,
        false,
        "security group ingress",
        "no ingress rule for port 22",
    ),
    (
        "internet",
        "task",
        8080,
        false,
        "route",
        "nothing in private-1 has a public address",
    ),
    (
        "alb",
        "task",
        8080,
        true,
        "security group ingress",
        "From the ALB on the container port 8080",
    ),
    (
        "alb",
        "task",
        22,
        false,
        "security group egress",
        "no egress rule for port 22",
    ),
    (
        "task",
        "internet",
        443,
        true,
        "security group egress",
        "HTTPS out",
    ),
    (
        "task",
        "internet",
        80,
        false,
        "security group egress",
        "no egress rule for port 80",
    ),
    (
        "private-2",
        "task",
        8080,
        false,
        "security group ingress",
        "from 10.0.12.0/24",
    ),
    (
        "task",
        "alb",
        80,
        false,
        "security group egress",
        "no egress rule for port 80",
    ),
];

#[test]
fn every_path_and_what_decides_it() {
    let vpc = primary(&example(|t| t));
    for (from, to, port, allowed, check, reason) in PATHS {
        let v = reach(
            &vpc,
            &Place::parse(from, &vpc).unwrap(),
            &Place::parse(to, &vpc).unwrap(),
            *port,
        );
        assert_eq!(v.allowed, *allowed, "{from} → {to}:{port}: {v:#?}");
        let last = v.steps.last().unwrap();
        let deciding = if *allowed {
            v.steps.iter().find(|s| s.check == *check)
        } else {
            Some(last)
        };
        let deciding = deciding.unwrap_or_else(|| panic!("{from} → {to}:{port}: {v:#?}"));
        assert_eq!(deciding.check, *check, "{from} → {to}:{port}: {v:#?}");
        assert!(deciding.by.contains(reason), "{from} → {to}:{port}: {v:#?}");
        if !*allowed {
            assert_eq!(last.decision, Decision::Deny);
        }
    }
}

#[test]
fn a_private_subnet_leaves_through_its_nat_as_the_spec_says() {
    let route = |spec: &haven_spec::Spec| {
        let vpc = primary(spec);
        let v = reach(
            &vpc,
            &Place::parse("private-2", &vpc).unwrap(),
            &Place::Internet,
            443,
        );
        v.steps[0].by.clone()
    };
    // One NAT: the second AZ's egress depends on the first AZ's gateway, as on AWS.
    assert!(route(&example(|t| t)).contains("NAT gateway 1 in route table private-2"));
    let per_az = example(|t| t.replace("nat = \"single\"", "nat = \"per-az\""));
    assert!(route(&per_az).contains("NAT gateway 2 in route table private-2"));
}

#[test]
fn unknown_places_are_named_with_the_known_ones() {
    let vpc = primary(&example(|t| t));
    let err = Place::parse("privat-1", &vpc).unwrap_err().to_string();
    assert!(
        err.contains("`privat-1`") && err.contains("private-1"),
        "{err}"
    );
}

#[test]
fn the_model_of_the_example() {
    insta::assert_json_snapshot!(primary(&example(|t| t)));
}

#[test]
fn the_users_own_rules_open_what_they_say_and_nothing_else() {
    let rule = "\n[[network.rules]]\ngroup = \"tasks\"\ndirection = \"egress\"\nports = \"5432\"\ncidr = \"10.0.12.0/24\"\ndescription = \"To the database\"\n";
    let with = primary(&example(|t| format!("{t}{rule}")));
    let without = primary(&example(|t| t));
    let ask =
        |vpc: &Vpc, to: &str, port| reach(vpc, &Place::Task, &Place::parse(to, vpc).unwrap(), port);
    let v = ask(&with, "private-2", 5432);
    assert!(v.allowed, "{v:#?}");
    assert!(
        v.steps.iter().any(|s| s.by.contains("To the database")),
        "{v:#?}"
    );
    assert!(!ask(&without, "private-2", 5432).allowed);
    // Only that block and that port.
    assert!(!ask(&with, "public-1", 5432).allowed);
    assert!(!ask(&with, "private-2", 5433).allowed);
}
