//! The network stack: the region's KMS key, VPC, subnets, gateways, routes, flow logs, S3
//! endpoint, security groups, log bucket, and one ALB per environment with its target groups,
//! listeners and the rules ECS blue/green shifts. These outlive every deployment: the global
//! records point at the ALBs' DNS names.

use haven_spec::model::{Algorithm, Environment, NatMode, Region};

use crate::StackKind;
use crate::facts;
use crate::iam::{PolicyDocument, Principal, Statement};
use crate::model::resources::edge::{
    Action, Certificate, FixedResponseConfig, ForwardConfig, HttpHeaderConfig, Listener,
    ListenerRule, LoadBalancer, Matcher, PathPatternConfig, RedirectConfig, RuleCondition,
    TargetGroup, WeightedTargetGroup,
};
use crate::model::resources::iam::{InlinePolicy, Role};
use crate::model::resources::network::{
    Eip, FlowLog, InternetGateway, NatGateway, Route, RouteTable, SecurityGroup,
    SecurityGroupIngress, SgRule, Subnet, SubnetRouteTableAssociation, Vpc, VpcEndpoint,
    VpcGatewayAttachment,
};
use crate::model::resources::observe::LogGroup;
use crate::model::resources::storage::{
    AbortIncompleteMultipartUpload, Bucket, BucketEncryption, BucketPolicy, KmsAlias, KmsKey,
    LifecycleConfiguration, LifecycleRule, NoncurrentVersionExpiration, OwnershipControls,
    OwnershipRule, PublicAccessBlock, ServerSideEncryptionByDefault, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use crate::model::{Expr, ExprList, Resource, kv};
use crate::names::pascal;
use crate::skips;
use crate::stacks::{Builder, Cx, Stack, name_tag, out};

pub fn build(cx: Cx<'_>, region: &Region) -> Stack {
    let mut b = Builder::new(
        StackKind::Network,
        &region.name,
        cx.stack_name(&region.name, StackKind::Network),
        format!(
            "haven {}: {} network: key, VPC, subnets, NAT, flow logs, security groups, ALBs",
            cx.names.project(),
            region.name
        ),
    );
    key(&mut b, cx, region);
    vpc(&mut b, cx, region);
    flow_logs(&mut b, cx, region);
    security_groups(&mut b, cx, region);
    log_bucket(&mut b, cx, region);
    let certificate = certificate(&mut b, cx, region);
    for env in cx.environments(region) {
        load_balancer(&mut b, cx, region, env, certificate.as_ref());
    }
    b.finish()
}

/// The HTTPS listeners' certificate. ACM certificates are regional: the spec's serves its own
/// region, and every other region takes one as a deploy-time parameter.
fn certificate(b: &mut Builder, cx: Cx<'_>, region: &Region) -> Option<Expr> {
    let arn = cx.spec.service.load_balancer.certificate_arn.as_ref()?;
    if arn.split(':').nth(3) == Some(region.name.as_str()) {
        return Some(arn.clone().into());
    }
    Some(b.deploy_time(
        "CertificateArn",
        &format!(
            "An ACM certificate in {} for the names {arn} covers (ACM certificates are regional)",
            region.name
        ),
        &format!(
            "^arn:aws[a-z-]*:acm:{}:[0-9]{{12}}:certificate/.+$",
            region.name
        ),
    ))
}

/// The region's customer-managed key: logs, SNS, ECR, artifacts and secrets use it.
fn key(b: &mut Builder, cx: Cx<'_>, region: &Region) {
    let root = Principal::Aws(vec![Expr::global_arn("iam", "root", true)]);
    let log_groups = Expr::arn("logs", &format!("log-group:{}/*", cx.names.log_prefix()));
    let policy = PolicyDocument::new(vec![
        // The default key policy: the account administers the key through IAM, so that IAM
        // policies (like every role's here) can grant its use.
        Statement::allow(&["kms:*"], vec![Expr::str("*")])
            .sid("AccountAdministersThroughIam")
            .principal(root),
        Statement::allow(
            &[
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
            ],
            vec![Expr::str("*")],
        )
        .sid("CloudWatchLogsEncryptsHavenLogGroups")
        .principal(Principal::Service(vec![format!(
            "logs.{}.amazonaws.com",
            region.name
        )]))
        .condition(
            "ArnLike",
            "kms:EncryptionContext:aws:logs:arn",
            vec![log_groups],
        ),
        // CloudWatch alarms and EventBridge rules publish to the encrypted topics.
        Statement::allow(
            &["kms:Decrypt", "kms:GenerateDataKey"],
            vec![Expr::str("*")],
        )
        .sid("AlarmsAndRulesPublishToEncryptedTopics")
        .principal(Principal::Service(vec![
            "cloudwatch.amazonaws.com".to_owned(),
            "events.amazonaws.com".to_owned(),
        ])),
    ]);
    b.add(
        "Key",
        KmsKey {
            description: format!(
                "haven {}: encrypts logs, topics, images and artifacts in {}",
                cx.names.project(),
                region.name
            ),
            enable_key_rotation: true,
            key_policy: Some(policy),
            ..KmsKey::default()
        },
    );
    b.add(
        "KeyAlias",
        KmsAlias {
            alias_name: cx.names.key_alias(),
            target_key_id: Expr::r#ref("Key"),
        },
    );
    b.output(
        out::KEY_ARN,
        "The region's KMS key",
        Expr::get_att("Key", "Arn"),
    );
}

fn vpc(b: &mut Builder, cx: Cx<'_>, region: &Region) {
    let project = cx.names.project();
    let vpc_id = Expr::r#ref("Vpc");
    b.add(
        "Vpc",
        Vpc {
            cidr_block: region.vpc_cidr.to_string().into(),
            enable_dns_hostnames: true,
            enable_dns_support: true,
            tags: name_tag(format!("{project}-{}", region.name)),
        },
    );
    b.add(
        "InternetGateway",
        InternetGateway {
            tags: name_tag(format!("{project}-{}", region.name)),
        },
    );
    b.add(
        "InternetGatewayAttachment",
        VpcGatewayAttachment {
            vpc_id: vpc_id.clone(),
            internet_gateway_id: Expr::r#ref("InternetGateway"),
        },
    );

    // Public subnets share one route table to the internet gateway.
    b.add(
        "PublicRouteTable",
        RouteTable {
            vpc_id: vpc_id.clone(),
            tags: name_tag(format!("{project}-{}-public", region.name)),
        },
    );
    b.add(
        "PublicDefaultRoute",
        Resource::new(Route {
            route_table_id: Expr::r#ref("PublicRouteTable"),
            destination_cidr_block: "0.0.0.0/0".into(),
            gateway_id: Some(Expr::r#ref("InternetGateway")),
            ..Route::default()
        })
        // The route needs the gateway attached, which nothing in its properties says.
        .depends_on(&["InternetGatewayAttachment"]),
    );
    for (i, cidr) in region.public_subnets.iter().enumerate() {
        let n = i + 1;
        b.add(
            &format!("PublicSubnet{n}"),
            Subnet {
                vpc_id: vpc_id.clone(),
                cidr_block: cidr.to_string().into(),
                availability_zone: Expr::az(i),
                // The ALB and NAT gateways have their own addresses; nothing else lives here.
                map_public_ip_on_launch: false,
                tags: name_tag(format!("{project}-{}-public-{n}", region.name)),
            },
        );
        b.add(
            &format!("PublicSubnet{n}RouteTableAssociation"),
            SubnetRouteTableAssociation {
                subnet_id: Expr::r#ref(format!("PublicSubnet{n}")),
                route_table_id: Expr::r#ref("PublicRouteTable"),
            },
        );
    }

    let nat_count = match region.nat {
        NatMode::Single => 1,
        NatMode::PerAz => region.public_subnets.len(),
    };
    for n in 1..=nat_count {
        b.add(
            &format!("NatEip{n}"),
            Resource::new(Eip {
                domain: "vpc",
                tags: name_tag(format!("{project}-{}-nat-{n}", region.name)),
            })
            .depends_on(&["InternetGatewayAttachment"]),
        );
        b.add(
            &format!("NatGateway{n}"),
            NatGateway {
                allocation_id: Expr::get_att(format!("NatEip{n}"), "AllocationId"),
                subnet_id: Expr::r#ref(format!("PublicSubnet{n}")),
                tags: name_tag(format!("{project}-{}-nat-{n}", region.name)),
            },
        );
    }

    // One private route table per AZ, so that per-AZ NAT keeps each AZ's egress in that AZ.
    for (i, cidr) in region.private_subnets.iter().enumerate() {
        let n = i + 1;
        let nat = if nat_count == 1 { 1 } else { n };
        b.add(
            &format!("PrivateSubnet{n}"),
            Subnet {
                vpc_id: vpc_id.clone(),
                cidr_block: cidr.to_string().into(),
                availability_zone: Expr::az(i),
                map_public_ip_on_launch: false,
                tags: name_tag(format!("{project}-{}-private-{n}", region.name)),
            },
        );
        b.add(
            &format!("PrivateRouteTable{n}"),
            RouteTable {
                vpc_id: vpc_id.clone(),
                tags: name_tag(format!("{project}-{}-private-{n}", region.name)),
            },
        );
        b.add(
            &format!("PrivateDefaultRoute{n}"),
            Route {
                route_table_id: Expr::r#ref(format!("PrivateRouteTable{n}")),
                destination_cidr_block: "0.0.0.0/0".into(),
                nat_gateway_id: Some(Expr::r#ref(format!("NatGateway{nat}"))),
                ..Route::default()
            },
        );
        b.add(
            &format!("PrivateSubnet{n}RouteTableAssociation"),
            SubnetRouteTableAssociation {
                subnet_id: Expr::r#ref(format!("PrivateSubnet{n}")),
                route_table_id: Expr::r#ref(format!("PrivateRouteTable{n}")),
            },
        );
    }

    // Image layers come from S3: the gateway endpoint keeps that traffic off the NAT gateways.
    let private_tables = (1..=region.private_subnets.len())
        .map(|n| Expr::r#ref(format!("PrivateRouteTable{n}")))
        .collect();
    b.add(
        "S3Endpoint",
        VpcEndpoint {
            vpc_id: vpc_id.clone(),
            service_name: Expr::sub("com.amazonaws.${AWS::Region}.s3"),
            vpc_endpoint_type: "Gateway",
            route_table_ids: ExprList::Items(private_tables),
            policy_document: None,
        },
    );

    b.output(out::VPC_ID, "The VPC", vpc_id);
    let private = (1..=region.private_subnets.len())
        .map(|n| Expr::r#ref(format!("PrivateSubnet{n}")))
        .collect();
    b.output(
        out::PRIVATE_SUBNETS,
        "The private subnets (tasks), comma-separated",
        Expr::Join(",".into(), private),
    );
}

fn flow_logs(b: &mut Builder, cx: Cx<'_>, region: &Region) {
    let group = cx.names.flow_log_group();
    b.add(
        "FlowLogGroup",
        LogGroup {
            log_group_name: group.clone(),
            retention_in_days: cx.spec.monitoring.log_retention_days,
            kms_key_id: Expr::get_att("Key", "Arn"),
            tags: Vec::new(),
        },
    );
    let policy = PolicyDocument::new(vec![
        Statement::allow(
            &[
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
            ],
            vec![Expr::get_att("FlowLogGroup", "Arn")],
        )
        .sid("WriteFlowLogs"),
    ]);
    b.add(
        "FlowLogRole",
        Role {
            role_name: cx.names.role(&region.name, "flow-logs"),
            description: "Lets VPC Flow Logs write the VPC's flow log group".into(),
            assume_role_policy_document: PolicyDocument::assume_by("vpc-flow-logs.amazonaws.com"),
            policies: vec![InlinePolicy {
                policy_name: "write-flow-logs".into(),
                policy_document: policy,
            }],
            tags: Vec::new(),
        },
    );
    b.add(
        "FlowLog",
        FlowLog {
            resource_id: Expr::r#ref("Vpc"),
            resource_type: "VPC",
            traffic_type: "ALL",
            log_destination_type: "cloud-watch-logs",
            log_group_name: Expr::r#ref("FlowLogGroup"),
            deliver_logs_permission_arn: Expr::get_att("FlowLogRole", "Arn"),
            max_aggregation_interval: 60,
            tags: Vec::new(),
        },
    );
}

/// The security groups as `haven-net` models them (the twin enforces the same rules): the ALB
/// accepts web traffic from anywhere and reaches tasks only on the container port; tasks accept
/// only the ALB's group, and reach out only over HTTPS.
fn security_groups(b: &mut Builder, cx: Cx<'_>, region: &Region) {
    let net = haven_net::Vpc::of(cx.spec, region);
    let https = cx.spec.service.load_balancer.certificate_arn.is_some();
    let logical = |g: haven_net::GroupId| match g {
        haven_net::GroupId::Alb => "AlbSecurityGroup",
        haven_net::GroupId::Task => "TaskSecurityGroup",
    };
    let rule = |r: &haven_net::SgRule, outbound: bool| {
        let mut out = SgRule {
            description: r.description.clone(),
            ip_protocol: r.protocol.cfn(),
            from_port: r.from_port,
            to_port: r.to_port,
            ..SgRule::default()
        };
        match r.peer {
            haven_net::Peer::Cidr(c) => out.cidr_ip = Some(c.to_string().into()),
            haven_net::Peer::Group(g) if outbound => {
                out.destination_security_group_id = Some(Expr::get_att(logical(g), "GroupId"));
            }
            haven_net::Peer::Group(g) => {
                out.source_security_group_id = Some(Expr::get_att(logical(g), "GroupId"));
            }
        }
        out
    };
    let suffix = |g: haven_net::GroupId| match g {
        haven_net::GroupId::Alb => "alb",
        haven_net::GroupId::Task => "tasks",
    };
    for g in &net.groups {
        // A group's ingress from another group is a resource of its own: inline, the two
        // groups would reference each other.
        let (inline, separate): (Vec<_>, Vec<_>) = g
            .ingress
            .iter()
            .partition(|r| matches!(r.peer, haven_net::Peer::Cidr(_)));
        let mut resource = Resource::new(SecurityGroup {
            group_description: g.description.clone(),
            vpc_id: Expr::r#ref("Vpc"),
            security_group_ingress: inline.iter().map(|r| rule(r, false)).collect(),
            security_group_egress: g.egress.iter().map(|r| rule(r, true)).collect(),
            tags: name_tag(format!(
                "{}-{}-{}",
                cx.names.project(),
                region.name,
                suffix(g.id)
            )),
        });
        if g.id == haven_net::GroupId::Alb {
            resource = resource.skip(if https {
                skips::PORT_80_REDIRECT
            } else {
                skips::PORT_80_NO_CERTIFICATE
            });
        }
        b.add(logical(g.id), resource);
        for r in separate {
            let haven_net::Peer::Group(source) = r.peer else {
                continue;
            };
            let title = |g: haven_net::GroupId| match g {
                haven_net::GroupId::Alb => "Alb",
                haven_net::GroupId::Task => "Task",
            };
            b.add(
                &format!("{}IngressFrom{}", title(g.id), title(source)),
                SecurityGroupIngress {
                    group_id: Expr::get_att(logical(g.id), "GroupId"),
                    description: r.description.clone(),
                    ip_protocol: r.protocol.cfn(),
                    from_port: r.from_port,
                    to_port: r.to_port,
                    source_security_group_id: Some(Expr::get_att(logical(source), "GroupId")),
                },
            );
        }
    }
    b.output(
        out::TASK_SECURITY_GROUP,
        "The tasks' security group",
        Expr::get_att("TaskSecurityGroup", "GroupId"),
    );
}

/// The region's log bucket: ALB access logs and S3 server access logs. Both deliveries require
/// S3-managed encryption (SSE-S3), which is why this bucket does not use the KMS key.
fn log_bucket(b: &mut Builder, cx: Cx<'_>, region: &Region) {
    let name = Expr::sub(cx.names.log_bucket(&region.name));
    b.add(
        "LogBucket",
        Resource::new(Bucket {
            bucket_name: name,
            bucket_encryption: BucketEncryption {
                server_side_encryption_configuration: vec![ServerSideEncryptionRule {
                    bucket_key_enabled: None,
                    server_side_encryption_by_default: ServerSideEncryptionByDefault {
                        sse_algorithm: "AES256",
                        kms_master_key_id: None,
                    },
                }],
            },
            versioning_configuration: VersioningConfiguration { status: "Enabled" },
            public_access_block_configuration: PublicAccessBlock::all(),
            ownership_controls: OwnershipControls {
                rules: vec![OwnershipRule {
                    object_ownership: "BucketOwnerEnforced",
                }],
            },
            logging_configuration: None,
            lifecycle_configuration: Some(LifecycleConfiguration {
                rules: vec![LifecycleRule {
                    id: "expire-logs".into(),
                    status: "Enabled",
                    expiration_in_days: Some(cx.spec.monitoring.log_retention_days),
                    noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
                        noncurrent_days: 30,
                    }),
                    abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
                        days_after_initiation: 7,
                    }),
                }],
            }),
            tags: Vec::new(),
        })
        .skip(skips::LOG_BUCKET_ACCESS_LOGS),
    );
    let objects = |prefix: &str| Expr::sub(format!("${{LogBucket.Arn}}/{prefix}"));
    let mut statements = vec![deny_insecure_transport("LogBucket")];
    for env in cx.environments(region) {
        statements.push(
            Statement::allow(
                &["s3:PutObject"],
                vec![objects(&format!(
                    "alb/{}/AWSLogs/${{AWS::AccountId}}/*",
                    env.name
                ))],
            )
            .sid(&format!("AlbAccessLogs{}", pascal(&env.name)))
            .principal(facts::elb_log_principal(&region.name)),
        );
    }
    statements.push(
        Statement::allow(&["s3:PutObject"], vec![objects("s3/*")])
            .sid("S3ServerAccessLogs")
            .principal(Principal::Service(vec!["logging.s3.amazonaws.com".into()]))
            .condition(
                "StringEquals",
                "aws:SourceAccount",
                vec![Expr::r#ref("AWS::AccountId")],
            ),
    );
    b.add(
        "LogBucketPolicy",
        BucketPolicy {
            bucket: Expr::r#ref("LogBucket"),
            policy_document: PolicyDocument::new(statements),
        },
    );
}

/// Refuses any request to the bucket (a logical id) that is not over TLS.
pub fn deny_insecure_transport(bucket: &str) -> Statement {
    Statement::deny(
        &["s3:*"],
        vec![
            Expr::get_att(bucket, "Arn"),
            Expr::sub(format!("${{{bucket}.Arn}}/*")),
        ],
    )
    .sid("DenyInsecureTransport")
    .principal(Principal::Everyone)
    .condition("Bool", "aws:SecureTransport", vec!["false".into()])
}

fn load_balancer(
    b: &mut Builder,
    cx: Cx<'_>,
    region: &Region,
    env: &Environment,
    certificate: Option<&Expr>,
) {
    let e = pascal(&env.name);
    let lb = cx.spec.service.load_balancer.clone();
    let hc = &cx.spec.service.health_check;
    let alb_id = format!("{e}LoadBalancer");
    let subnets = (1..=region.public_subnets.len())
        .map(|n| Expr::r#ref(format!("PublicSubnet{n}")))
        .collect();
    b.add(
        &alb_id,
        Resource::new(LoadBalancer {
            name: Some(cx.names.alb(env)),
            r#type: "application",
            scheme: "internet-facing",
            ip_address_type: "ipv4",
            subnets: ExprList::Items(subnets),
            security_groups: ExprList::Items(vec![Expr::get_att("AlbSecurityGroup", "GroupId")]),
            load_balancer_attributes: vec![
                kv("routing.http.drop_invalid_header_fields.enabled", "true"),
                kv("access_logs.s3.enabled", "true"),
                kv("access_logs.s3.bucket", Expr::r#ref("LogBucket")),
                kv("access_logs.s3.prefix", format!("alb/{}", env.name)),
                kv(
                    "idle_timeout.timeout_seconds",
                    lb.idle_timeout.as_secs().to_string(),
                ),
            ],
            tags: Vec::new(),
        })
        // ELB checks that it may write the bucket when access logs are switched on.
        .depends_on(&["LogBucketPolicy", "InternetGatewayAttachment"]),
    );

    let algorithm = match lb.algorithm {
        Algorithm::RoundRobin => "round_robin",
        Algorithm::LeastOutstandingRequests => "least_outstanding_requests",
    };
    for color in ["Blue", "Green"] {
        b.add(
            &format!("{e}{color}TargetGroup"),
            TargetGroup {
                vpc_id: Expr::r#ref("Vpc"),
                port: cx.spec.service.port,
                protocol: "HTTP",
                protocol_version: "HTTP1",
                target_type: "ip",
                health_check_enabled: true,
                health_check_protocol: "HTTP",
                health_check_path: hc.path.clone(),
                health_check_interval_seconds: hc.interval.as_secs(),
                health_check_timeout_seconds: hc.timeout.as_secs(),
                healthy_threshold_count: hc.healthy_threshold,
                unhealthy_threshold_count: hc.unhealthy_threshold,
                matcher: Matcher {
                    http_code: hc.success_codes.clone(),
                },
                target_group_attributes: vec![
                    kv(
                        "deregistration_delay.timeout_seconds",
                        lb.deregistration_delay.as_secs().to_string(),
                    ),
                    kv("load_balancing.algorithm.type", algorithm),
                ],
                tags: name_tag(format!(
                    "{}-{}",
                    cx.names.ecs_service(env),
                    color.to_lowercase()
                )),
            },
        );
    }

    // Requests reach the service through rules, never the default action: ECS blue/green
    // shifts traffic by rewriting the rules' weights.
    let no_route = Action {
        r#type: "fixed-response",
        fixed_response_config: Some(FixedResponseConfig {
            status_code: "404",
            content_type: "text/plain",
            message_body: "not found".into(),
        }),
        ..Action::default()
    };
    let serving = if let Some(arn) = certificate {
        b.add(
            &format!("{e}HttpsListener"),
            Listener {
                load_balancer_arn: Expr::r#ref(&alb_id),
                port: 443,
                protocol: "HTTPS",
                ssl_policy: Some(facts::TLS_POLICY),
                certificates: vec![Certificate {
                    certificate_arn: arn.clone(),
                }],
                default_actions: vec![no_route],
            },
        );
        b.add(
            &format!("{e}HttpListener"),
            Listener {
                load_balancer_arn: Expr::r#ref(&alb_id),
                port: 80,
                protocol: "HTTP",
                default_actions: vec![Action {
                    r#type: "redirect",
                    redirect_config: Some(RedirectConfig {
                        protocol: "HTTPS",
                        port: "443",
                        host: "#{host}",
                        path: "/#{path}",
                        query: "#{query}",
                        status_code: "HTTP_301",
                    }),
                    ..Action::default()
                }],
                ..Listener::default()
            },
        );
        format!("{e}HttpsListener")
    } else {
        b.add(
            &format!("{e}HttpListener"),
            Resource::new(Listener {
                load_balancer_arn: Expr::r#ref(&alb_id),
                port: 80,
                protocol: "HTTP",
                default_actions: vec![no_route],
                ..Listener::default()
            })
            .skip(skips::HTTP_LISTENER_NO_CERTIFICATE)
            .skip(skips::HTTP_LISTENER_NO_CERTIFICATE_TLS),
        );
        format!("{e}HttpListener")
    };

    let forward = |blue: u32, green: u32| Action {
        r#type: "forward",
        forward_config: Some(ForwardConfig {
            target_groups: vec![
                WeightedTargetGroup {
                    target_group_arn: Expr::r#ref(format!("{e}BlueTargetGroup")),
                    weight: blue,
                },
                WeightedTargetGroup {
                    target_group_arn: Expr::r#ref(format!("{e}GreenTargetGroup")),
                    weight: green,
                },
            ],
        }),
        ..Action::default()
    };
    let test_listener = cx.spec.service.deployment.test_listener;
    if test_listener {
        // Requests carrying the test header reach the new tasks before production traffic does.
        b.add(
            &format!("{e}TestRule"),
            ListenerRule {
                listener_arn: Expr::r#ref(&serving),
                priority: 1,
                conditions: vec![RuleCondition {
                    field: "http-header",
                    http_header_config: Some(HttpHeaderConfig {
                        http_header_name: facts::TEST_HEADER.into(),
                        values: vec!["true".into()],
                    }),
                    ..RuleCondition::default()
                }],
                actions: vec![forward(100, 0)],
            },
        );
    }
    b.add(
        &format!("{e}TrafficRule"),
        ListenerRule {
            listener_arn: Expr::r#ref(&serving),
            priority: 10,
            conditions: vec![RuleCondition {
                field: "path-pattern",
                path_pattern_config: Some(PathPatternConfig {
                    values: vec!["/*".into()],
                }),
                ..RuleCondition::default()
            }],
            actions: vec![forward(100, 0)],
        },
    );

    let blue = Expr::r#ref(format!("{e}BlueTargetGroup"));
    let green = Expr::r#ref(format!("{e}GreenTargetGroup"));
    b.output(
        &out::env(env, out::BLUE_TG),
        "The target group serving production traffic first",
        blue.clone(),
    );
    b.output(
        &out::env(env, out::GREEN_TG),
        "The alternate target group for blue/green deployments",
        green.clone(),
    );
    // CloudWatch's TargetGroup dimension, `targetgroup/name/id`, is the ARN's last field.
    b.output(
        &out::env(env, out::BLUE_TG_NAME),
        "The blue target group's CloudWatch dimension",
        Expr::split_select(5, ":", blue),
    );
    b.output(
        &out::env(env, out::GREEN_TG_NAME),
        "The green target group's CloudWatch dimension",
        Expr::split_select(5, ":", green),
    );
    b.output(
        &out::env(env, out::TRAFFIC_RULE),
        "The rule ECS shifts production traffic with",
        Expr::r#ref(format!("{e}TrafficRule")),
    );
    if test_listener {
        b.output(
            &out::env(env, out::TEST_RULE),
            "The rule ECS sends test traffic to the new tasks with",
            Expr::r#ref(format!("{e}TestRule")),
        );
    }
    // CloudWatch's LoadBalancer dimension, `app/name/id`, follows `loadbalancer/` in the ARN.
    b.output(
        &out::env(env, out::ALB_NAME),
        "The ALB's CloudWatch dimension",
        Expr::split_select(1, ":loadbalancer/", Expr::r#ref(&alb_id)),
    );
    b.output(
        &out::env(env, out::ALB_DNS),
        "The ALB's DNS name",
        Expr::get_att(&alb_id, "DNSName"),
    );
    b.output(
        &out::env(env, out::ALB_ZONE),
        "The ALB's hosted zone, for alias records",
        Expr::get_att(&alb_id, "CanonicalHostedZoneID"),
    );
}
