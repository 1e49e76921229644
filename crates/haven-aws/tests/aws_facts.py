"""Describes what a deployment created, through boto3 (the AWS SDK for Python), as JSON.

The Rust tests deploy with haven's own code (aws-sdk-cloudformation) and check the result with a
second, independent AWS SDK, so that a resource is verified by what the service says about it,
not by what haven believes it asked for. Haven's Rust build links only the CloudFormation SDK;
this script is how the tests reach EC2, ELBv2, ECS, ECR, SNS, CloudWatch Logs, SSM, S3 and
Route 53 without compiling those SDKs.

Usage: aws_facts.py ENDPOINT_URL REGION [REGION...]
Prints {"regions": {REGION: {...}}, "route53": {...}} on stdout.
"""

import json
import sys

import boto3


def client(service, endpoint, region):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def tags(items):
    return {t["Key"]: t["Value"] for t in items or []}


def region_facts(endpoint, region):
    ec2 = client("ec2", endpoint, region)
    elb = client("elbv2", endpoint, region)
    ecs = client("ecs", endpoint, region)
    ecr = client("ecr", endpoint, region)
    sns = client("sns", endpoint, region)
    logs = client("logs", endpoint, region)
    ssm = client("ssm", endpoint, region)
    cfn = client("cloudformation", endpoint, region)

    vpcs = [
        {"id": v["VpcId"], "cidr": v["CidrBlock"], "tags": tags(v.get("Tags"))}
        for v in ec2.describe_vpcs()["Vpcs"]
        if not v.get("IsDefault")
    ]
    ours = {v["id"] for v in vpcs}
    subnets = [
        {
            "id": s["SubnetId"],
            "vpc": s["VpcId"],
            "cidr": s["CidrBlock"],
            "az": s["AvailabilityZone"],
        }
        for s in ec2.describe_subnets()["Subnets"]
        if s["VpcId"] in ours
    ]
    groups = [
        {
            "id": g["GroupId"],
            "name": g["GroupName"],
            "vpc": g.get("VpcId"),
            "ingress": [
                {
                    "from": p.get("FromPort"),
                    "to": p.get("ToPort"),
                    "protocol": p.get("IpProtocol"),
                    "cidrs": [r["CidrIp"] for r in p.get("IpRanges", [])],
                    "groups": [r["GroupId"] for r in p.get("UserIdGroupPairs", [])],
                }
                for p in g.get("IpPermissions", [])
            ],
        }
        for g in ec2.describe_security_groups()["SecurityGroups"]
        if g.get("VpcId") in ours
    ]
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    load_balancers = [
        {
            "name": lb["LoadBalancerName"],
            "arn": lb["LoadBalancerArn"],
            "dns": lb["DNSName"],
            "scheme": lb.get("Scheme"),
            "vpc": lb.get("VpcId"),
            "listeners": [
                {"port": li.get("Port"), "protocol": li.get("Protocol")}
                for li in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])[
                    "Listeners"
                ]
            ],
        }
        for lb in lbs
    ]
    target_groups = [
        {
            "arn": tg["TargetGroupArn"],
            "port": tg.get("Port"),
            "protocol": tg.get("Protocol"),
            "target_type": tg.get("TargetType"),
            "health_check_path": tg.get("HealthCheckPath"),
            "vpc": tg.get("VpcId"),
        }
        for tg in elb.describe_target_groups()["TargetGroups"]
    ]
    clusters = ecs.list_clusters()["clusterArns"]
    services = []
    for c in clusters:
        arns = ecs.list_services(cluster=c)["serviceArns"]
        if arns:
            for s in ecs.describe_services(cluster=c, services=arns)["services"]:
                services.append(
                    {
                        "name": s["serviceName"],
                        "cluster": c.split("/")[-1],
                        "desired": s.get("desiredCount"),
                        "task_definition": s.get("taskDefinition"),
                    }
                )
    repositories = [
        {"name": r["repositoryName"], "uri": r["repositoryUri"]}
        for r in ecr.describe_repositories()["repositories"]
    ]
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    log_groups = [
        {"name": g["logGroupName"], "retention": g.get("retentionInDays")}
        for g in logs.describe_log_groups()["logGroups"]
    ]
    parameters = [
        {"name": p["Name"], "type": p["Type"], "key": p.get("KeyId")}
        for p in ssm.describe_parameters()["Parameters"]
    ]
    stacks = [
        {"name": s["StackName"], "status": s["StackStatus"]}
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    return {
        "vpcs": vpcs,
        "subnets": subnets,
        "security_groups": groups,
        "load_balancers": load_balancers,
        "target_groups": target_groups,
        "clusters": [c.split("/")[-1] for c in clusters],
        "services": services,
        "repositories": repositories,
        "topics": topics,
        "log_groups": log_groups,
        "parameters": parameters,
        "stacks": stacks,
    }


def route53_facts(endpoint):
    r53 = client("route53", endpoint, "us-east-1")
    zones = []
    for z in r53.list_hosted_zones()["HostedZones"]:
        zid = z["Id"].split("/")[-1]
        records = [
            {
                "name": r["Name"],
                "type": r["Type"],
                "set_identifier": r.get("SetIdentifier"),
                "failover": r.get("Failover"),
                "region": r.get("Region"),
                "health_check": r.get("HealthCheckId"),
                "alias": (r.get("AliasTarget") or {}).get("DNSName"),
            }
            for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
        ]
        zones.append({"id": zid, "name": z["Name"], "records": records})
    checks = [
        {
            "id": c["Id"],
            "fqdn": c["HealthCheckConfig"].get("FullyQualifiedDomainName"),
            "path": c["HealthCheckConfig"].get("ResourcePath"),
        }
        for c in r53.list_health_checks()["HealthChecks"]
    ]
    s3 = client("s3", endpoint, "us-east-1")
    buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    return {"zones": zones, "health_checks": checks, "buckets": buckets}


def main():
    endpoint, regions = sys.argv[1], sys.argv[2:]
    out = {
        "regions": {r: region_facts(endpoint, r) for r in regions},
        "global": route53_facts(endpoint),
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
