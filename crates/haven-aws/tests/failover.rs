//! `failover` and `failback` against a moto server: the default architecture deployed with a
//! routed domain and made to serve (`ready_moto`), then the primary's Route 53 health check
//! inverted and restored, each twice (the second time changes nothing), read back through
//! boto3; and a secondary running fewer healthy tasks than the primary wants refused unless
//! forced.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod common;

use common::{MOTO_RUNNING, Moto, Project, block_on, deploy_direct, ready_moto};
use haven_aws::failover::{self, DesiredSource, FailoverError};

/// Each region's health check as boto3 reads it: (region, inverted), by the global stack's
/// outputs.
fn inverted(moto: &Moto) -> Vec<(String, bool)> {
    let out = moto.python(
        "cf = client('cloudformation')\n\
         outs = {o['OutputKey']: o['OutputValue'] for o in \
         cf.describe_stacks(StackName='hello-global')['Stacks'][0]['Outputs']}\n\
         r53 = client('route53')\n\
         for region, key in [('us-east-1', 'UsEast1HealthCheckId'), ('us-west-2', 'UsWest2HealthCheckId')]:\n\
         \x20   hc = r53.get_health_check(HealthCheckId=outs[key])['HealthCheck']\n\
         \x20   print(region, hc['HealthCheckConfig']['Inverted'])",
    );
    out.lines()
        .map(|l| {
            let (region, flag) = l.split_once(' ').unwrap();
            (region.to_owned(), flag == "True")
        })
        .collect()
}

fn states(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
    pairs.iter().map(|(r, b)| ((*r).to_owned(), *b)).collect()
}

#[test]
fn failover_inverts_the_primary_and_failback_restores_it() {
    let moto = Moto::start_with_env(&[MOTO_RUNNING]);
    let zone = moto
        .python(
            "r = client('route53').create_hosted_zone(Name='example.com', CallerReference='t')\n\
             print(r['HostedZone']['Id'].split('/')[-1])",
        )
        .trim()
        .to_owned();
    let project = Project::new(|t| {
        format!("{t}\n[routing]\ndomain = \"app.example.com\"\nhosted_zone_id = \"{zone}\"\n")
    });
    let bundle = project.bundle();
    let spec = project.spec();
    deploy_direct(&moto, &bundle);
    ready_moto(&moto, &bundle, "v1");
    assert_eq!(
        inverted(&moto),
        states(&[("us-east-1", false), ("us-west-2", false)])
    );

    block_on(async {
        let aws = moto.aws().await;

        // To the primary: refused, failback is the way back.
        let err = failover::plan(&aws, &bundle, &spec, Some("us-east-1"))
            .await
            .unwrap_err();
        assert!(matches!(err, FailoverError::ToPrimary(_)), "{err}");
        let err = failover::plan(&aws, &bundle, &spec, Some("eu-west-9"))
            .await
            .unwrap_err();
        assert!(matches!(err, FailoverError::UnknownRegion { .. }), "{err}");

        // Failover: the secondary has the capacity; the primary's check is inverted.
        let plan = failover::plan(&aws, &bundle, &spec, Some("us-west-2"))
            .await
            .unwrap();
        let capacity = plan.capacity.clone().unwrap();
        assert_eq!(
            (
                capacity.healthy_tasks,
                capacity.primary_desired,
                capacity.primary_desired_from
            ),
            (2, 2, DesiredSource::Live),
            "{capacity:?}"
        );
        plan.check_capacity(false).unwrap();
        let notes = std::sync::Mutex::new(Vec::new());
        let report = failover::execute(&aws, &plan, &|e| {
            if let haven_aws::Event::Note { message, .. } = e {
                notes.lock().unwrap().push(message);
            }
        })
        .await
        .unwrap();
        assert_eq!(report.changed.len(), 1);
        assert_eq!(report.changed[0].region, "us-east-1");
        assert!(report.changed[0].invert);
        assert!(
            notes.lock().unwrap()[0].starts_with("inverted the health check of us-east-1"),
            "{notes:?}"
        );
        let states_now: Vec<(String, bool)> = report
            .health_checks
            .iter()
            .map(|h| (h.region.clone(), h.inverted))
            .collect();
        assert_eq!(
            states_now,
            states(&[("us-east-1", true), ("us-west-2", false)])
        );
    });
    // boto3 reads what Route 53 (moto) now holds.
    assert_eq!(
        inverted(&moto),
        states(&[("us-east-1", true), ("us-west-2", false)])
    );

    block_on(async {
        let aws = moto.aws().await;
        // Again: nothing to change.
        let plan = failover::plan(&aws, &bundle, &spec, Some("us-west-2"))
            .await
            .unwrap();
        assert!(plan.changes.is_empty(), "{:?}", plan.changes);
        assert!(plan.capacity.is_none());

        // verify sees the failover in effect as a warning on the primary's health check.
        let report = haven_aws::verify::verify(&aws, &bundle, &spec, &[])
            .await
            .unwrap();
        let primary_check = report
            .findings
            .iter()
            .find(|f| {
                f.check == haven_aws::verify::CheckKind::HealthChecks
                    && f.region.as_deref() == Some("us-east-1")
            })
            .unwrap();
        assert_eq!(
            primary_check.status,
            haven_aws::verify::FindingStatus::Warning
        );
        assert!(
            primary_check.detail.starts_with("inverted"),
            "{primary_check:?}"
        );

        // Failback: un-inverted; again, nothing to change.
        let plan = failover::plan(&aws, &bundle, &spec, None).await.unwrap();
        assert_eq!(plan.changes.len(), 1);
        assert!(!plan.changes[0].invert);
        failover::execute(&aws, &plan, &|_| {}).await.unwrap();
        let again = failover::plan(&aws, &bundle, &spec, None).await.unwrap();
        assert!(again.changes.is_empty());
    });
    assert_eq!(
        inverted(&moto),
        states(&[("us-east-1", false), ("us-west-2", false)])
    );

    // An under-sized secondary: one running task where the primary wants two (UpdateService
    // sets moto's running count to the desired count).
    moto.python(
        "client('ecs', 'us-west-2').update_service(cluster='hello', service='hello-production', \
         desiredCount=1)",
    );
    block_on(async {
        let aws = moto.aws().await;
        let plan = failover::plan(&aws, &bundle, &spec, Some("us-west-2"))
            .await
            .unwrap();
        let capacity = plan.capacity.clone().unwrap();
        assert_eq!(
            (
                capacity.running_tasks,
                capacity.healthy_targets,
                capacity.healthy_tasks
            ),
            (1, 2, 1)
        );
        let err = plan.check_capacity(false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "us-west-2 runs 1 healthy tasks, fewer than the 2 the primary (us-east-1) wants for \
             production: it may not carry the traffic; pass --force to fail over anyway"
        );
        // Forced, it goes ahead.
        plan.check_capacity(true).unwrap();
        failover::execute(&aws, &plan, &|_| {}).await.unwrap();
    });
    assert_eq!(
        inverted(&moto),
        states(&[("us-east-1", true), ("us-west-2", false)])
    );
}

/// Without a routed domain there are no records for a health check to steer.
#[test]
fn failover_needs_routed_records() {
    let moto = Moto::start();
    let project = Project::new(|t| t);
    let bundle = project.bundle();
    let err = block_on(async {
        let aws = moto.aws().await;
        failover::plan(&aws, &bundle, &project.spec(), Some("us-west-2"))
            .await
            .unwrap_err()
    });
    assert!(matches!(err, FailoverError::NoRecords), "{err}");
}
