//! The resolved defaults are the seed architecture's values exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use haven_spec::model::{NatMode, Role, RoutingMode, Strategy};

#[test]
fn minimal_spec_resolves_to_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
    let text = "[project]\nname = \"hello\"\n[service]\ncommand = [\"bin/hello\"]\n";
    let spec = haven_spec::load_str(text, Path::new("haven.toml"), dir.path())
        .unwrap()
        .spec;

    let regions: Vec<_> = spec
        .regions
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.role,
                r.vpc_cidr.to_string(),
                r.public_subnets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
                r.private_subnets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
                r.azs.clone(),
                r.nat,
            )
        })
        .collect();
    assert_eq!(
        regions,
        vec![
            (
                "us-east-1",
                Role::Primary,
                "10.0.0.0/16".to_owned(),
                vec!["10.0.1.0/24".to_owned(), "10.0.2.0/24".to_owned()],
                vec!["10.0.11.0/24".to_owned(), "10.0.12.0/24".to_owned()],
                vec!["us-east-1a".to_owned(), "us-east-1b".to_owned()],
                NatMode::Single,
            ),
            (
                "us-west-2",
                Role::Secondary,
                "10.1.0.0/16".to_owned(),
                vec!["10.1.1.0/24".to_owned(), "10.1.2.0/24".to_owned()],
                vec!["10.1.11.0/24".to_owned(), "10.1.12.0/24".to_owned()],
                vec!["us-west-2a".to_owned(), "us-west-2b".to_owned()],
                NatMode::Single,
            ),
        ]
    );

    let s = &spec.service;
    assert_eq!(
        (s.min, s.desired, s.max),
        (2, 2, 10),
        "seed: min 2, max 10 tasks"
    );
    let hc = &s.health_check;
    assert_eq!(hc.interval.as_secs(), 30, "seed: health checks every 30 s");
    // AWS's ALB defaults where the seed is silent.
    assert_eq!(
        (
            hc.timeout.as_secs(),
            hc.healthy_threshold,
            hc.unhealthy_threshold
        ),
        (5, 5, 2)
    );
    assert_eq!(hc.success_codes, "200");
    assert_eq!(s.load_balancer.deregistration_delay.as_secs(), 300);
    assert_eq!(
        s.deployment.strategy,
        Strategy::BlueGreen,
        "seed: blue/green deployments"
    );

    let alarm = |kind| {
        spec.monitoring
            .alarms
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.threshold)
    };
    use haven_spec::model::AlarmKind::*;
    assert_eq!(alarm(Cpu), Some(80.0), "seed: CPU > 80 %");
    assert_eq!(alarm(Memory), Some(80.0), "seed: memory > 80 %");
    assert!(
        alarm(Http5xx).is_some()
            && alarm(UnhealthyTargets).is_some()
            && alarm(PipelineFailure).is_some()
    );

    assert_eq!(
        spec.pipeline.stages,
        ["Source", "Build", "Staging", "Approval", "Production"],
        "seed: manual approval before production"
    );
    assert!(spec.pipeline.approval.enabled);
    assert!(
        spec.notifications.topics.contains_key("alerts"),
        "seed: e-mail alerts topic"
    );
    assert!(
        spec.registry.scan_on_push
            && spec.registry.replicate
            && !spec.registry.lifecycle.is_empty()
    );
    assert!(spec.source.replicate);
    assert_eq!(spec.source.protected_branches, ["main"]);
    assert_eq!(spec.routing.mode, RoutingMode::Failover);
    assert!(
        spec.local.bind.is_loopback(),
        "the twin binds to loopback by default"
    );
}

#[test]
fn bundled_example_is_valid_and_matches_the_defaults() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello/haven.toml");
    let loaded = haven_spec::load(&example).unwrap();
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    insta::assert_json_snapshot!("example_resolved", loaded.spec);
}

#[test]
fn drill_scenarios_take_their_own_keys_over_dr_over_the_defaults() {
    use haven_spec::Dur;
    use haven_spec::model::{Dr, Scenario};

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
    let load = |extra: &str| {
        let text =
            format!("[project]\nname = \"hello\"\n[service]\ncommand = [\"bin/hello\"]\n{extra}");
        haven_spec::load_str(&text, Path::new("haven.toml"), dir.path())
            .unwrap()
            .spec
            .dr
    };

    // Nothing set: the seed's estimate and AWS-independent defaults, every scenario present.
    let dr = load("");
    assert_eq!(dr, Dr::default());
    assert_eq!((dr.rto, dr.rpo), (Dur::secs(20 * 60), Dur::secs(60)));
    assert_eq!((dr.rps, dr.path.as_str()), (50, "/"));
    assert_eq!((dr.hold, dr.timeout), (Dur::secs(5), Dur::secs(60)));
    assert_eq!(dr.scenarios.len(), Scenario::ALL.len());

    let dr = load(
        "[dr]\nrto = \"5m\"\nrps = 2000\n[dr.scenarios.region-loss]\nrto = \"90s\"\n\
         [dr.scenarios.bad-release]\nimage = \"v9-broken\"\n",
    );
    // (scenario, rto, rps, rollback, scale_out, delay, image)
    type Row = (Scenario, u64, u32, bool, bool, u64, Option<&'static str>);
    let rows: &[Row] = &[
        (Scenario::TaskLoss, 300, 2000, false, false, 0, None),
        (Scenario::RegionLoss, 90, 2000, false, false, 0, None),
        (
            Scenario::BadRelease,
            300,
            2000,
            true,
            false,
            0,
            Some("v9-broken"),
        ),
        (
            Scenario::DependencyLatency,
            300,
            2000,
            false,
            false,
            200,
            None,
        ),
        // Five times [dr].rps, at most the generator's 5000.
        (Scenario::LoadSpike, 300, 5000, false, true, 0, None),
    ];
    for &(s, rto, rps, rollback, scale_out, delay_ms, image) in rows {
        let p = dr.scenario(s);
        assert_eq!(
            (
                p.rto,
                p.rps,
                p.rollback,
                p.scale_out,
                p.delay,
                p.image.as_deref()
            ),
            (
                Dur::secs(rto),
                rps,
                rollback,
                scale_out,
                Dur::millis(delay_ms),
                image
            ),
            "{s}"
        );
        assert_eq!((p.max_failed_requests, p.max_p99), (0, None), "{s}");
    }

    // A policy built by hand without its scenarios still answers for each, with the defaults.
    let bare = Dr {
        scenarios: Default::default(),
        ..Dr::default()
    };
    for s in Scenario::ALL {
        assert_eq!(bare.scenario(s), Dr::default().scenario(s), "{s}");
    }
}
