//! The default two-region architecture against a moto server: diff through change sets, deploy,
//! every resource checked through boto3, a changed value diffed as a Modify and applied, a
//! second deploy that changes nothing, destroy that leaves nothing.
//!
//! moto skips some resource types (the stacks still complete): CodeCommit, CodeBuild,
//! CodePipeline, CloudWatch alarms, Application Auto Scaling, ECR replication, SNS
//! subscriptions and security group egress rules. Nothing below checks those; the change sets
//! still list them, as AWS would. moto also drops the outputs of stacks deployed through change
//! sets, so deploys here use `Method::Direct` (see `moto_failures.rs` for what change-set
//! execution does on moto).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod common;

use common::{Events, Moto, Project, block_on, options};
use haven_aws::deploy::Outcome;
use haven_aws::{Event, Method, StackAction, deploy, destroy, plan, status};
use serde_json::Value;

fn strs<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap_or_default())
        .collect()
}

#[test]
fn deploy_diff_redeploy_destroy_default_architecture() {
    let moto = Moto::start();
    // A hosted zone for the global records, as a user would have one.
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
    let events = Events::default();
    let progress = |e: Event| events.push(e);

    block_on(async {
        let aws = moto.aws().await;

        // 1. diff before anything exists: the network stacks get change sets (no inputs), the
        // others are listed from their templates; nothing is left behind.
        let diff_options = options(Method::ChangeSet);
        let p = plan::plan(&aws, &bundle, &[], &diff_options, false, &progress)
            .await
            .unwrap();
        assert_eq!(p.stacks.len(), bundle.stacks.len());
        assert!(p.stacks.iter().all(|s| s.action == StackAction::Create));
        let network = &p.stacks[0];
        assert_eq!(network.stack, "hello-us-east-1-network");
        assert!(network.note.is_none(), "{:?}", network.note);
        assert!(
            network
                .changes
                .iter()
                .any(|c| c.action == "Add" && c.resource_type == "AWS::EC2::VPC"),
            "{:?}",
            network.changes
        );
        let registry = p.stacks.iter().find(|s| s.kind == "registry").unwrap();
        assert!(
            registry
                .note
                .as_deref()
                .unwrap()
                .contains("not deployed yet")
        );
        plan::discard(&aws, &p, &progress).await.unwrap();
        let st = status::status(&aws, &bundle, &[]).await.unwrap();
        assert!(
            st.stacks.iter().all(|s| s.status == status::NOT_DEPLOYED),
            "diff left stacks behind: {:?}",
            st.stacks
        );

        // 2. deploy.
        let opts = options(Method::Direct);
        let p = plan::plan(&aws, &bundle, &[], &opts, true, &progress)
            .await
            .unwrap();
        let report = deploy::execute(&aws, &bundle, p, &opts, &progress)
            .await
            .unwrap();
        assert!(report.stacks.iter().all(|s| s.result == Outcome::Created));
        let net = &report.stacks[0];
        assert!(net.outputs.contains_key("VpcId"), "{:?}", net.outputs);
        let urls: Vec<(&str, Option<&str>, &str)> = report
            .endpoints
            .iter()
            .map(|e| (e.name.as_str(), e.region.as_deref(), e.url.as_str()))
            .collect();
        assert!(
            urls.contains(&("global", None, "http://app.example.com")),
            "{urls:?}"
        );
        for region in ["us-east-1", "us-west-2"] {
            assert!(
                urls.iter().any(|(n, r, u)| *n == "production"
                    && *r == Some(region)
                    && u.starts_with("http://")),
                "{urls:?}"
            );
        }
        // Progress reported each stack and its final status.
        let evs = events.take();
        assert!(evs.iter().any(|e| matches!(e, Event::Done { stack, status }
            if stack == "hello-global" && status == "CREATE_COMPLETE")));
    });

    // 3. What exists, seen through boto3.
    let facts = moto.inspect(&["us-east-1", "us-west-2"]);
    for (region, cidr, subnets) in [
        (
            "us-east-1",
            "10.0.0.0/16",
            ["10.0.1.0/24", "10.0.2.0/24", "10.0.11.0/24", "10.0.12.0/24"],
        ),
        (
            "us-west-2",
            "10.1.0.0/16",
            ["10.1.1.0/24", "10.1.2.0/24", "10.1.11.0/24", "10.1.12.0/24"],
        ),
    ] {
        let r = &facts["regions"][region];
        assert_eq!(strs(&r["vpcs"], "cidr"), [cidr], "{region}");
        let mut got = strs(&r["subnets"], "cidr");
        got.sort();
        let mut want = subnets.to_vec();
        want.sort();
        assert_eq!(got, want, "{region} subnets");
        let azs: std::collections::BTreeSet<&str> = strs(&r["subnets"], "az").into_iter().collect();
        assert_eq!(azs.len(), 2, "{region}: subnets over two AZs");
        let groups = r["security_groups"].as_array().unwrap();
        let alb_sg = groups
            .iter()
            .find(|g| {
                g["ingress"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["from"] == 80 && p["cidrs"][0] == "0.0.0.0/0")
            })
            .unwrap_or_else(|| panic!("{region}: no ALB security group: {groups:?}"));
        let alb_sg_id = alb_sg["id"].as_str().unwrap();
        assert!(
            groups.iter().any(|g| g["ingress"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["from"] == 8080 && p["groups"][0] == alb_sg_id)),
            "{region}: tasks reachable from the ALB only: {groups:?}"
        );
        let lbs = strs(&r["load_balancers"], "name");
        assert!(lbs.contains(&"hello-production"), "{region}: {lbs:?}");
        assert_eq!(lbs.contains(&"hello-staging"), region == "us-east-1");
        let tgs = r["target_groups"].as_array().unwrap();
        assert_eq!(
            tgs.len(),
            if region == "us-east-1" { 4 } else { 2 },
            "{tgs:?}"
        );
        // moto keeps the port, protocol, target type and VPC, but not the health check's path
        // (it reports "/"), so the path is not checked.
        let vpc = &r["vpcs"][0]["id"];
        assert!(
            tgs.iter().all(|t| t["port"] == 8080
                && t["protocol"] == "HTTP"
                && t["target_type"] == "ip"
                && &t["vpc"] == vpc),
            "{tgs:?}"
        );
        assert_eq!(r["clusters"], serde_json::json!(["hello"]));
        let mut services = strs(&r["services"], "name");
        services.sort();
        let want: &[&str] = if region == "us-east-1" {
            &["hello-production", "hello-staging"]
        } else {
            &["hello-production"]
        };
        assert_eq!(services, want, "{region}");
        assert!(
            r["services"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["cluster"] == "hello")
        );
        assert_eq!(strs(&r["repositories"], "name"), ["hello"], "{region}");
        let topics: Vec<&str> = r["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            topics.iter().any(|t| t.ends_with(":hello-alerts")),
            "{topics:?}"
        );
        let logs = strs(&r["log_groups"], "name");
        assert!(logs.contains(&"/haven/hello/vpc-flow-logs"), "{logs:?}");
        assert!(
            logs.contains(&"/haven/hello/ecs/hello-production"),
            "{logs:?}"
        );
        assert!(
            r["log_groups"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["retention"] == 365),
            "{:?}",
            r["log_groups"]
        );
    }
    let zone_facts = facts["global"]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["id"] == zone.as_str())
        .unwrap();
    let records: Vec<&Value> = zone_facts["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with("app.example.com"))
        .collect();
    let mut failover: Vec<&str> = records
        .iter()
        .map(|r| r["failover"].as_str().unwrap())
        .collect();
    failover.sort();
    assert_eq!(failover, ["PRIMARY", "SECONDARY"], "{records:?}");
    assert!(
        records
            .iter()
            .all(|r| r["type"] == "A" && r["health_check"].is_string())
    );
    assert_eq!(
        facts["global"]["health_checks"].as_array().unwrap().len(),
        2
    );

    // 4. Change a value: diff shows Modify, deploy applies it. (The desired count: moto applies
    // it on update, while it ignores some other updates, such as a log group's retention.)
    project.edit(|t| t.replace("desired = 2", "desired = 3"));
    let mut changed = project.bundle();
    // A lower inline limit sends every template over 10 kB through the region's artifact bucket
    // (made by the delivery stacks, deployed by now), as a template over 51,200 bytes would go.
    changed.template_body_limit = 10_000;
    let uploads = std::sync::atomic::AtomicUsize::new(0);
    let count_uploads = |e: Event| {
        if matches!(&e, Event::Note { message, .. } if message.contains("uploading it to s3://hello-us-"))
        {
            uploads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    block_on(async {
        let aws = moto.aws().await;
        let opts = options(Method::Direct);
        let p = plan::plan(
            &aws,
            &changed,
            &[],
            &options(Method::ChangeSet),
            false,
            &|_| {},
        )
        .await
        .unwrap();
        for s in &p.stacks {
            let expected = if s.kind == "service" {
                StackAction::Update
            } else {
                StackAction::NoChanges
            };
            assert_eq!(s.action, expected, "{}: {:?}", s.stack, s.changes);
        }
        let svc = p
            .stacks
            .iter()
            .find(|s| s.stack == "hello-us-west-2-service")
            .unwrap();
        assert!(
            svc.changes.iter().any(|c| c.action == "Modify"
                && c.logical_id == "ProductionService"
                && c.resource_type == "AWS::ECS::Service"),
            "{:?}",
            svc.changes
        );
        plan::discard(&aws, &p, &|_| {}).await.unwrap();

        let p = plan::plan(&aws, &changed, &[], &opts, true, &count_uploads)
            .await
            .unwrap();
        let report = deploy::execute(&aws, &changed, p, &opts, &count_uploads)
            .await
            .unwrap();
        assert!(uploads.load(std::sync::atomic::Ordering::Relaxed) > 0);
        for s in &report.stacks {
            let expected = if s.stack.ends_with("-service") {
                Outcome::Updated
            } else {
                Outcome::Unchanged
            };
            assert_eq!(s.result, expected, "{}", s.stack);
        }
    });
    let facts = moto.inspect(&["us-east-1", "us-west-2"]);
    for region in ["us-east-1", "us-west-2"] {
        let services = facts["regions"][region]["services"].as_array().unwrap();
        let production = services
            .iter()
            .find(|s| s["name"] == "hello-production")
            .unwrap();
        assert_eq!(production["desired"], 3, "{region}: {services:?}");
    }

    // 5. The same again: nothing to do, stack by stack.
    block_on(async {
        let aws = moto.aws().await;
        let opts = options(Method::Direct);
        let p = plan::plan(&aws, &changed, &[], &opts, true, &|_| {})
            .await
            .unwrap();
        assert!(
            p.is_empty(),
            "{:?}",
            p.stacks
                .iter()
                .map(|s| (&s.stack, s.action))
                .collect::<Vec<_>>()
        );
        let report = deploy::execute(&aws, &changed, p, &opts, &|_| {})
            .await
            .unwrap();
        assert!(report.stacks.iter().all(|s| s.result == Outcome::Unchanged));
        assert_eq!(report.stacks.len(), changed.stacks.len());
        // Outputs are still reported.
        assert!(report.endpoints.iter().any(|e| e.name == "production"));
    });

    // 6. Destroy with --force: the artifact bucket holds objects (the uploaded templates, and
    // one more version of a file), which are deleted first; every stack, last first; nothing
    // is left.
    moto.python(
        "s3 = client('s3')\n\
         b = [x['Name'] for x in s3.list_buckets()['Buckets'] if x['Name'].startswith('hello-us-east-1-artifacts-')][0]\n\
         s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={'Status': 'Enabled'})\n\
         s3.put_object(Bucket=b, Key='a/b c.txt', Body=b'1')\n\
         s3.put_object(Bucket=b, Key='a/b c.txt', Body=b'2')",
    );
    let emptied = std::sync::Mutex::new(Vec::new());
    let note_emptied = |e: Event| {
        if let Event::Note { message, .. } = e {
            if let Some(bucket) = message.strip_prefix("emptying the bucket ") {
                emptied.lock().unwrap().push(bucket.to_owned());
            }
        }
    };
    block_on(async {
        let aws = moto.aws().await;
        let survey = destroy::survey(&aws, &changed, &[]).await.unwrap();
        assert_eq!(survey.first().unwrap().0, "hello-global");
        assert_eq!(survey.len(), changed.stacks.len());
        // One run deletes every stack (moto with the deletions its CloudFormation lacks: see
        // `MOTO_AS_AWS`).
        destroy::destroy(
            &aws,
            &changed,
            &[],
            true,
            &options(Method::Direct),
            &note_emptied,
        )
        .await
        .unwrap_or_else(|e| panic!("destroy: {e}"));
        let st = status::status(&aws, &changed, &[]).await.unwrap();
        assert!(st.stacks.iter().all(|s| s.status == status::NOT_DEPLOYED));
    });
    let emptied = emptied.into_inner().unwrap();
    assert!(
        emptied
            .iter()
            .any(|b| b.starts_with("hello-us-east-1-artifacts-")),
        "{emptied:?}"
    );
    let facts = moto.inspect(&["us-east-1", "us-west-2"]);
    for region in ["us-east-1", "us-west-2"] {
        let r = &facts["regions"][region];
        // Nothing is left (deleted ECS clusters and services stay listed as INACTIVE, on AWS
        // too: `tests/destroy.rs` checks that none is ACTIVE).
        for key in [
            "stacks",
            "vpcs",
            "subnets",
            "load_balancers",
            "target_groups",
            "repositories",
            "topics",
            "log_groups",
            "parameters",
        ] {
            assert_eq!(
                r[key],
                serde_json::json!([]),
                "{region}: {key} left after destroy"
            );
        }
    }
}
