//! Destroy leaves nothing: deploy, deploy again, `destroy --force` once, and nothing of the
//! architecture is left in either region, read through boto3.
//!
//! The reported failure ("DependencyViolation: The vpc ... has dependencies and cannot be
//! deleted" on `hello-us-west-2-network`) is moto's: its CloudFormation never deletes a route
//! table (nor a NAT gateway, an internet gateway, ...), and its EC2 refuses to delete a VPC that
//! still has a route table besides its main one. haven's order (the reverse of the deploy order,
//! services before the network they run in) leaves nothing in the VPC. The harness therefore
//! runs moto with the deletions its models lack (`common::MOTO_AS_AWS`);
//! `moto_as_installed_never_deletes_route_tables` keeps the diagnosis checked against moto as
//! installed, so that a moto that fixes it says so. `moto_is_the_pinned_version` says which moto
//! the suite judges with.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod common;

use std::sync::Mutex;

use common::{Events, Moto, Project, block_on, installed_moto, options, pinned_moto};
use haven_aws::destroy::DestroyReport;
use haven_aws::{Bundle, Event, Method, deploy, destroy, plan, status};
use serde_json::{Value, json};

/// What is left of the architecture, by region, only the kinds with something left: every kind
/// of resource haven's templates create that moto's APIs can list (an INACTIVE ECS service,
/// cluster or task definition, a deleted NAT gateway or VPC endpoint are gone, as on AWS).
const LEFT: &str = r#"
out = {}
for r in ['us-east-1', 'us-west-2']:
    ec2 = client('ec2', r)
    vpcs = [v['VpcId'] for v in ec2.describe_vpcs()['Vpcs'] if not v.get('IsDefault')]
    in_vpcs = [{'Name': 'vpc-id', 'Values': vpcs}]
    elb = client('elbv2', r)
    ecs = client('ecs', r)
    cluster_arns = ecs.list_clusters()['clusterArns']
    clusters = ecs.describe_clusters(clusters=cluster_arns)['clusters'] if cluster_arns else []
    services = []
    for c in cluster_arns:
        arns = ecs.list_services(cluster=c)['serviceArns']
        if arns:
            services += [s['serviceName'] for s in ecs.describe_services(cluster=c, services=arns)['services'] if s['status'] == 'ACTIVE']
    kms = client('kms', r)
    out[r] = {
        'stacks': [s['StackName'] for s in client('cloudformation', r).list_stacks()['StackSummaries'] if s['StackStatus'] != 'DELETE_COMPLETE'],
        'vpcs': vpcs,
        'subnets': [s['SubnetId'] for s in ec2.describe_subnets(Filters=in_vpcs)['Subnets']] if vpcs else [],
        'route_tables': [t['RouteTableId'] for t in ec2.describe_route_tables(Filters=in_vpcs)['RouteTables']] if vpcs else [],
        'security_groups': [g['GroupId'] for g in ec2.describe_security_groups(Filters=in_vpcs)['SecurityGroups']] if vpcs else [],
        'nat_gateways': [n['NatGatewayId'] for n in ec2.describe_nat_gateways()['NatGateways'] if n['State'] not in ('deleting', 'deleted')],
        'internet_gateways': [i['InternetGatewayId'] for i in ec2.describe_internet_gateways()['InternetGateways']],
        'addresses': [a.get('AllocationId') for a in ec2.describe_addresses()['Addresses']],
        'flow_logs': [f['FlowLogId'] for f in ec2.describe_flow_logs()['FlowLogs']],
        'vpc_endpoints': [e['VpcEndpointId'] for e in ec2.describe_vpc_endpoints()['VpcEndpoints'] if e['State'].lower() != 'deleted'],
        'network_interfaces': [n['NetworkInterfaceId'] for n in ec2.describe_network_interfaces()['NetworkInterfaces']],
        'load_balancers': [l['LoadBalancerName'] for l in elb.describe_load_balancers()['LoadBalancers']],
        'target_groups': [t['TargetGroupName'] for t in elb.describe_target_groups()['TargetGroups']],
        'clusters': [c['clusterName'] for c in clusters if c['status'] == 'ACTIVE'],
        'services': services,
        'task_definitions': ecs.list_task_definitions(status='ACTIVE')['taskDefinitionArns'],
        'repositories': [x['repositoryName'] for x in client('ecr', r).describe_repositories()['repositories']],
        'log_groups': [g['logGroupName'] for g in client('logs', r).describe_log_groups()['logGroups']],
        'topics': [t['TopicArn'] for t in client('sns', r).list_topics()['Topics']],
        'rules': [x['Name'] for x in client('events', r).list_rules()['Rules']],
        'dashboards': [d['DashboardName'] for d in client('cloudwatch', r).list_dashboards()['DashboardEntries']],
        'keys': [k['KeyId'] for k in kms.list_keys()['Keys']],
        'aliases': [a['AliasName'] for a in kms.list_aliases()['Aliases'] if not a['AliasName'].startswith('alias/aws/')],
        'parameters': [p['Name'] for p in client('ssm', r).describe_parameters()['Parameters']],
    }
out['global'] = {
    'roles': [x['RoleName'] for x in client('iam').list_roles()['Roles']],
    'buckets': [b['Name'] for b in client('s3').list_buckets()['Buckets']],
    'health_checks': [h['Id'] for h in client('route53').list_health_checks()['HealthChecks']],
}
print(json.dumps({r: {k: v for k, v in kinds.items() if v} for r, kinds in out.items()}))
"#;

fn left(moto: &Moto) -> Value {
    serde_json::from_str(moto.python(LEFT).trim()).unwrap()
}

fn nothing() -> Value {
    json!({"us-east-1": {}, "us-west-2": {}, "global": {}})
}

/// Deploys every stack (direct: moto keeps no outputs of change-set stacks).
fn deploy_all(moto: &Moto, bundle: &Bundle) {
    block_on(async {
        let aws = moto.aws().await;
        let opts = options(Method::Direct);
        let p = plan::plan(&aws, bundle, &[], &opts, true, &|_| {})
            .await
            .unwrap();
        deploy::execute(&aws, bundle, p, &opts, &|_| {})
            .await
            .unwrap();
    });
}

/// `destroy --force` over every region, once.
fn destroy_all(
    moto: &Moto,
    bundle: &Bundle,
    progress: &(dyn Fn(Event) + Sync),
) -> Result<DestroyReport, haven_aws::Error> {
    block_on(async {
        let aws = moto.aws().await;
        destroy::destroy(&aws, bundle, &[], true, &options(Method::Direct), progress).await
    })
}

fn notes(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Note {
                stack: Some(stack),
                message,
                ..
            } if message.starts_with("not deleted yet") => Some(format!("{stack}: {message}")),
            _ => None,
        })
        .collect()
}

#[test]
fn moto_is_the_pinned_version() {
    let (installed, pinned) = (installed_moto(), pinned_moto());
    eprintln!("moto {installed} judges the AWS tests");
    assert_eq!(
        installed, pinned,
        "the venv's moto is not the one scripts/requirements-test.txt pins: run scripts/test \
         (or pip install -r scripts/requirements-test.txt) to install {pinned}"
    );
}

#[test]
fn deploy_twice_then_destroy_leaves_nothing() {
    let moto = Moto::start();
    let project = Project::new(|t| t);
    let bundle = project.bundle();
    deploy_all(&moto, &bundle);
    // The second deploy updates the service stacks.
    project.edit(|t| t.replace("desired = 2", "desired = 3"));
    let changed = project.bundle();
    deploy_all(&moto, &changed);
    let before = left(&moto);
    assert_eq!(before["us-west-2"]["vpcs"].as_array().unwrap().len(), 1);
    assert_eq!(
        before["us-west-2"]["route_tables"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let events = Events::default();
    let report = destroy_all(&moto, &changed, &|e| events.push(e)).unwrap();

    // Every stack, in the reverse of the deploy order, at the first attempt.
    let deleted: Vec<&str> = report.deleted.iter().map(|d| d.stack.as_str()).collect();
    let mut order: Vec<&str> = changed.stacks.iter().map(|s| s.name.as_str()).collect();
    order.reverse();
    assert_eq!(deleted, order);
    assert!(report.deleted.iter().all(|d| d.retries == 0));
    assert_eq!(notes(&events.take()), Vec::<String>::new());
    let emptied: Vec<&String> = report.deleted.iter().flat_map(|d| &d.emptied).collect();
    assert_eq!(emptied.len(), 4, "{emptied:?}"); // two log buckets, two artifact buckets
    block_on(async {
        let aws = moto.aws().await;
        let st = status::status(&aws, &changed, &[]).await.unwrap();
        assert!(st.stacks.iter().all(|s| s.status == status::NOT_DEPLOYED));
    });
    assert_eq!(left(&moto), nothing());
}

#[test]
fn a_dependency_that_goes_away_is_waited_for() {
    let moto = Moto::start();
    let project = Project::new(|t| t);
    let bundle = project.bundle();
    deploy_all(&moto, &bundle);
    // Something outside the stack in the secondary's VPC, as a task's network interface is
    // for a while after its service is deleted: a subnet, whose VPC EC2 then refuses to delete
    // (the reported message). It goes away when destroy says it is waiting.
    let planted = moto
        .python(
            "ec2 = client('ec2', 'us-west-2')\n\
             vpc = [v['VpcId'] for v in ec2.describe_vpcs()['Vpcs'] if not v.get('IsDefault')][0]\n\
             print(ec2.create_subnet(VpcId=vpc, CidrBlock='10.1.200.0/24')['Subnet']['SubnetId'])",
        )
        .trim()
        .to_owned();
    let events = Mutex::new(Vec::new());
    let removed = Mutex::new(false);
    let report = destroy_all(&moto, &bundle, &|e| {
        if matches!(&e, Event::Note { message, .. } if message.starts_with("not deleted yet")) {
            let mut removed = removed.lock().unwrap();
            if !*removed {
                moto.python(&format!(
                    "client('ec2', 'us-west-2').delete_subnet(SubnetId='{planted}')"
                ));
                *removed = true;
            }
        }
        events.lock().unwrap().push(e);
    })
    .unwrap();

    let notes = notes(&events.into_inner().unwrap());
    assert_eq!(notes.len(), 1, "{notes:?}");
    let note = &notes[0];
    for part in [
        "hello-us-west-2-network: not deleted yet, something still uses one of its resources (",
        "(AWS::EC2::VPC): The vpc 'vpc-",
        "has dependencies and cannot be deleted.",
        "DependencyViolation",
        "deleting it again in 0.4 s (retry 1 of 8)",
    ] {
        assert!(note.contains(part), "{part:?} not in {note}");
    }
    let retried: Vec<(&str, u32)> = report
        .deleted
        .iter()
        .filter(|d| d.retries > 0)
        .map(|d| (d.stack.as_str(), d.retries))
        .collect();
    assert_eq!(retried, [("hello-us-west-2-network", 1)]);
    assert_eq!(report.deleted.len(), bundle.stacks.len());
    assert_eq!(left(&moto), nothing());
}

/// The diagnosis, against moto as installed: its CloudFormation deletes the subnets but never
/// the route tables, so EC2 refuses the VPC; DeleteStack answers that refusal and drops the
/// stack anyway. destroy reports the refusal and, finding the stack gone when it tries again,
/// finishes; the VPC and its route tables are left in moto.
#[test]
fn moto_as_installed_never_deletes_route_tables() {
    let moto = Moto::start_unpatched();
    let project = Project::new(|t| t);
    let bundle = project.bundle();
    deploy_all(&moto, &bundle);
    let events = Events::default();
    let report = destroy_all(&moto, &bundle, &|e| events.push(e)).unwrap();
    assert_eq!(report.deleted.len(), bundle.stacks.len());
    let notes = notes(&events.take());
    assert_eq!(notes.len(), 2, "{notes:?}");
    for (note, region) in notes.iter().zip(["us-west-2", "us-east-1"]) {
        assert!(
            note.starts_with(&format!("hello-{region}-network: not deleted yet")),
            "{note}"
        );
        assert!(
            note.contains("(DependencyViolation: The vpc vpc-")
                && note.contains("has dependencies and cannot be deleted."),
            "{note}"
        );
    }
    let left = left(&moto);
    for region in ["us-west-2", "us-east-1"] {
        let r = &left[region];
        assert!(r.get("subnets").is_none(), "{region}: {r}");
        assert_eq!(r["vpcs"].as_array().unwrap().len(), 1, "{region}: {r}");
        // The main route table and the stack's three (the public one, a private one per AZ).
        assert_eq!(
            r["route_tables"].as_array().unwrap().len(),
            4,
            "{region}: {r}"
        );
        assert!(r.get("nat_gateways").is_some(), "{region}: {r}");
        assert!(r.get("stacks").is_none(), "{region}: {r}");
    }
}
