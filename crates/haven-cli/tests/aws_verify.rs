//! `haven aws verify`, `failover` and `failback` as a user runs them, against a moto server on
//! a free loopback port: the default architecture deployed (with a secret and a routed domain)
//! and made to serve where moto does nothing (the harness's `ready_moto`), then verified (a
//! table, `--json`, exit 0), failed over and back (a refusal without `--yes`, the change, the
//! same again changing nothing, `--json`), an under-sized secondary refused unless `--force`,
//! and verify failing on a secret missing in the secondary.
//!
//! The moto harness is haven-aws's, shared by path; the library's tests
//! (`crates/haven-aws/tests/verify.rs`, `failover.rs`) check the findings in detail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_common;
#[path = "../../haven-aws/tests/common/mod.rs"]
mod moto;

use aws_common::{haven, synthesized, text};
use moto::Moto;

/// A project with its templates written by `haven synth` to `out/`, made deployable on moto
/// (see `for_moto`), deployed, and made to serve (see `ready_moto`).
fn deployed(moto: &Moto) -> moto::Project {
    let zone = moto
        .python(
            "r = client('route53').create_hosted_zone(Name='example.com', CallerReference='t')\n\
             print(r['HostedZone']['Id'].split('/')[-1])",
        )
        .trim()
        .to_owned();
    let (project, bundle, _) = synthesized(|t| {
        t.replace(
            "desired = 2\n",
            "desired = 2\nsecrets = { DB_PASSWORD = \"/hello/db-password\" }\n",
        ) + &format!("\n[routing]\ndomain = \"app.example.com\"\nhosted_zone_id = \"{zone}\"\n")
    });
    moto::deploy_direct(moto, &bundle);
    moto::ready_moto(moto, &bundle, "v1");
    project
}

/// What moto named at random (health checks, target groups), replaced by stable words so that
/// the output can be compared.
fn redactions(moto: &Moto) -> Vec<(String, String)> {
    let out = moto.python(
        "cf = lambda r: client('cloudformation', r)\n\
         outs = lambda r, s: {o['OutputKey']: o['OutputValue'] for o in \
         cf(r).describe_stacks(StackName=s)['Stacks'][0]['Outputs']}\n\
         g = outs('us-east-1', 'hello-global')\n\
         print(g['UsEast1HealthCheckId'], '<east-check>')\n\
         print(g['UsWest2HealthCheckId'], '<west-check>')\n\
         name = lambda arn: arn.split(':targetgroup/')[1].split('/')[0]\n\
         e = outs('us-east-1', 'hello-us-east-1-network')\n\
         w = outs('us-west-2', 'hello-us-west-2-network')\n\
         print(name(e['ProductionBlueTargetGroupArn']), '<east-production-blue>')\n\
         print(name(e['StagingBlueTargetGroupArn']), '<east-staging-blue>')\n\
         print(name(w['ProductionBlueTargetGroupArn']), '<west-production-blue>')",
    );
    out.lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn redact(text: &str, redactions: &[(String, String)]) -> String {
    let mut text = text.to_owned();
    for (from, to) in redactions {
        text = text.replace(from, to);
    }
    // Columns are as wide as their widest cell; the redacted names are narrower.
    text.lines()
        .map(|l| {
            l.split("  ")
                .filter(|c| !c.is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn verify_failover_failback() {
    let moto = Moto::start_with_env(&[moto::MOTO_RUNNING]);
    let project = deployed(&moto);
    let dir = project.dir.path();
    let redactions = redactions(&moto);
    let run = |sub: &[&str]| {
        let mut args = vec!["aws"];
        args.extend_from_slice(sub);
        args.extend_from_slice(&["--out", "out"]);
        haven(dir, &moto, &args, None)
    };

    // verify: a table of findings on stdout, a summary on stderr, exit 0 (warnings allowed).
    let out = run(&["verify"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("Verified 38 checks: 25 ok"), "{stderr}");
    insta::assert_snapshot!("verify_table", redact(&stdout, &redactions));

    // --json: the same findings, and whether they passed.
    let out = run(&["verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 38);
    assert!(
        findings
            .iter()
            .all(|f| f["status"] == "ok" || f["status"] == "warning"),
        "{findings:?}"
    );
    assert!(findings.iter().any(|f| f["check"] == "health-checks"));

    // failover without --yes, stdin not a terminal: refused, nothing changed.
    let out = run(&["failover", "--to", "us-west-2"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("pass --yes"), "{stderr}");
    assert!(
        stderr.contains("invert the health check of us-east-1"),
        "{stderr}"
    );

    // failover --yes: the capacity, the change, and the states.
    let out = run(&["failover", "--to", "us-west-2", "--yes"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "Capacity us-west-2 runs 2 healthy production tasks (2 running, 2 healthy \
             targets); the primary (us-east-1) wants 2 (its live desired count)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("inverted the health check of us-east-1"),
        "{stderr}"
    );
    insta::assert_snapshot!("failover", redact(&stdout, &redactions));

    // Again: nothing to change; --json prints the health checks' states.
    let out = run(&["failover", "--to", "us-west-2", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the traffic already goes to us-west-2: nothing to change"),
        "{stderr}"
    );
    let states: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(states["changed"], serde_json::json!([]));
    let inverted: Vec<(&str, bool)> = states["health_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["region"].as_str().unwrap(),
                h["inverted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(inverted, [("us-east-1", true), ("us-west-2", false)]);

    // failback, twice.
    let out = run(&["failback", "--yes"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    insta::assert_snapshot!("failback", redact(&stdout, &redactions));
    let out = run(&["failback", "--yes"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no health check is inverted: nothing to change"),
        "{stderr}"
    );

    // An under-sized secondary is refused, naming both numbers; --force goes ahead.
    moto.python(
        "client('ecs', 'us-west-2').update_service(cluster='hello', service='hello-production', \
         desiredCount=1)",
    );
    let out = run(&["failover", "--to", "us-west-2", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "us-west-2 runs 1 healthy tasks, fewer than the 2 the primary (us-east-1) wants for \
             production"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    let out = run(&["failover", "--to", "us-west-2", "--yes", "--force"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: --force"), "{stderr}");
    assert!(stdout.contains("health check"), "{stdout}");

    // A secret missing in the secondary: verify fails and says where.
    moto.python("client('ssm', 'us-west-2').delete_parameter(Name='/hello/db-password')");
    let out = run(&["verify"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: the live account differs from the spec"),
        "{stderr}"
    );
    let failed: Vec<String> = redact(&stdout, &redactions)
        .lines()
        .filter(|l| l.contains(" | failed | "))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        failed,
        [
            "us-west-2 | parameters | /hello/db-password | failed | missing: the service's \
             DB_PASSWORD has no value here (`haven aws secret set DB_PASSWORD`)"
        ]
    );
}

/// failover and failback act on every region: --region is refused rather than ignored.
#[test]
fn failover_refuses_region() {
    let moto = Moto::start();
    let project = moto::Project::new(|t| t);
    let out = haven(
        project.dir.path(),
        &moto,
        &["aws", "failback", "--region", "us-east-1", "--yes"],
        None,
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--region does not apply to failback"),
        "{stderr}"
    );
}
