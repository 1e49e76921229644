//! `verify` against a moto server: the default architecture deployed (with a secret and a routed
//! domain) and made to look like a serving one where moto does nothing (`ready_moto`: the
//! image in each repository, the secret in each region, tasks running, targets registered),
//! then verified: it passes on what moto answers, and fails, naming the difference, on a
//! target group with no healthy target and on a secret missing in the secondary.
//!
//! What moto cannot answer (drift detection, alarms it skipped) comes back as warnings, which
//! are checked to be exactly those; `src/verify.rs` and `src/live.rs` cover them on recorded
//! AWS answers.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod common;

use common::{MOTO_RUNNING, Moto, Project, block_on, deploy_direct, ready_moto};
use haven_aws::verify::{CheckKind, Finding, FindingStatus, VerifyReport};

fn project(zone: &str) -> Project {
    Project::new(|t| {
        t.replace(
            "desired = 2\n",
            "desired = 2\nsecrets = { DB_PASSWORD = \"/hello/db-password\" }\n",
        ) + &format!("\n[routing]\ndomain = \"app.example.com\"\nhosted_zone_id = \"{zone}\"\n")
    })
}

fn hosted_zone(moto: &Moto) -> String {
    moto.python(
        "r = client('route53').create_hosted_zone(Name='example.com', CallerReference='t')\n\
         print(r['HostedZone']['Id'].split('/')[-1])",
    )
    .trim()
    .to_owned()
}

fn verify(moto: &Moto, project: &Project, bundle: &haven_aws::Bundle) -> VerifyReport {
    block_on(async {
        let aws = moto.aws().await;
        haven_aws::verify::verify(&aws, bundle, &project.spec(), &[])
            .await
            .unwrap()
    })
}

fn with(report: &VerifyReport, status: FindingStatus) -> Vec<&Finding> {
    report.with(status).collect()
}

#[test]
fn verify_passes_on_a_serving_deployment_and_names_what_differs() {
    let moto = Moto::start_with_env(&[MOTO_RUNNING]);
    let project = project(&hosted_zone(&moto));
    let bundle = project.bundle();
    deploy_direct(&moto, &bundle);

    // Before moto is made to look like a serving deployment: no image, no secret, no target.
    let report = verify(&moto, &project, &bundle);
    assert!(!report.passed());
    let failed: Vec<(CheckKind, Option<&str>)> = with(&report, FindingStatus::Failed)
        .iter()
        .map(|f| (f.check, f.region.as_deref()))
        .collect();
    for expected in [
        (CheckKind::Images, Some("us-west-2")),
        (CheckKind::Parameters, Some("us-west-2")),
        (CheckKind::Targets, Some("us-east-1")),
    ] {
        assert!(failed.contains(&expected), "{expected:?} not in {failed:?}");
    }

    ready_moto(&moto, &bundle, "v1");
    let report = verify(&moto, &project, &bundle);
    assert!(
        report.passed(),
        "{:#?}",
        with(&report, FindingStatus::Failed)
    );
    // What moto cannot answer is a warning, and only that: drift detection (moto answers
    // DetectStackDrift with an HTTP 500) and the alarms it skips.
    for w in with(&report, FindingStatus::Warning) {
        match w.check {
            CheckKind::Drift => assert!(w.detail.starts_with("not checked: "), "{w:?}"),
            CheckKind::Alarms => {
                assert!(w.detail.contains("AWS::CloudWatch::Alarm"), "{w:?}")
            }
            _ => panic!("unexpected warning: {w:?}"),
        }
    }
    // Each check that moto answers said ok, in both regions where it applies.
    let ok = |check: CheckKind, region: &str, subject: &str| {
        report.findings.iter().any(|f| {
            f.check == check
                && f.region.as_deref() == Some(region)
                && f.subject.contains(subject)
                && f.status == FindingStatus::Ok
        })
    };
    for region in ["us-east-1", "us-west-2"] {
        assert!(ok(
            CheckKind::Stack,
            region,
            &format!("hello-{region}-network")
        ));
        assert!(ok(CheckKind::Service, region, "hello-production"));
        assert!(ok(CheckKind::Targets, region, "production "));
        assert!(ok(CheckKind::Images, region, "hello:v1"));
        assert!(ok(CheckKind::Parameters, region, "/hello/db-password"));
        assert!(ok(
            CheckKind::Subscriptions,
            region,
            "hello-alerts email:ops@example.com"
        ));
        assert!(ok(CheckKind::HealthChecks, region, "health check "));
    }
    assert!(ok(CheckKind::Service, "us-east-1", "hello-staging"));
    assert!(ok(CheckKind::Stack, "us-east-1", "hello-global"));

    // A target group with no healthy target: the secondary's production targets deregistered.
    let group = moto
        .python(
            "cf = client('cloudformation', 'us-west-2')\n\
             outs = {o['OutputKey']: o['OutputValue'] for o in \
             cf.describe_stacks(StackName='hello-us-west-2-network')['Stacks'][0]['Outputs']}\n\
             arn = outs['ProductionBlueTargetGroupArn']\n\
             elb = client('elbv2', 'us-west-2')\n\
             ts = [d['Target'] for d in elb.describe_target_health(TargetGroupArn=arn)['TargetHealthDescriptions']]\n\
             elb.deregister_targets(TargetGroupArn=arn, Targets=ts)\n\
             print(arn.split(':targetgroup/')[1].split('/')[0])",
        )
        .trim()
        .to_owned();
    // And the secret missing in the secondary.
    moto.python("client('ssm', 'us-west-2').delete_parameter(Name='/hello/db-password')");

    let report = verify(&moto, &project, &bundle);
    assert!(!report.passed());
    let failed: Vec<(CheckKind, Option<&str>, &str, &str)> = with(&report, FindingStatus::Failed)
        .iter()
        .map(|f| {
            (
                f.check,
                f.region.as_deref(),
                f.subject.as_str(),
                f.detail.as_str(),
            )
        })
        .collect();
    let production_group = format!("production {group}");
    assert_eq!(
        failed,
        [
            (
                CheckKind::Targets,
                Some("us-west-2"),
                production_group.as_str(),
                "no healthy target: no target is registered",
            ),
            (
                CheckKind::Parameters,
                Some("us-west-2"),
                "/hello/db-password",
                "missing: the service's DB_PASSWORD has no value here \
                 (`haven aws secret set DB_PASSWORD`)",
            ),
        ]
    );

    // --region limits verify to one region: the primary still passes.
    let primary = block_on(async {
        let aws = moto.aws().await;
        haven_aws::verify::verify(&aws, &bundle, &project.spec(), &["us-east-1".to_owned()])
            .await
            .unwrap()
    });
    assert!(
        primary.passed(),
        "{:#?}",
        with(&primary, FindingStatus::Failed)
    );
    assert!(
        primary
            .findings
            .iter()
            .all(|f| f.region.as_deref() == Some("us-east-1")),
        "{:#?}",
        primary.findings
    );
}
