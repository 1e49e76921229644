//! The line items of each service: counted from the spec as `haven synth` deploys it, priced
//! from the table with the account's free allowances.

use haven_spec::Spec;
use haven_spec::model::{
    AlarmKind, Architecture, CountType, Environment, NatMode, Role, TagStatus,
};

use super::money::{cents_to_dollars, count, money_cents, names, num};
use super::{Category, Choices, LineItem, RegionCost, environments, ordered};
use crate::assumptions::Assumptions;
use crate::prices::{self, HOURS_PER_MONTH, Price};

/// Every region's line items, primary first, and the account-wide ones.
pub(super) fn price(spec: &Spec, c: Choices, a: &Assumptions) -> (Vec<RegionCost>, Vec<LineItem>) {
    // Free allowances are per account, so the regions draw on one pool, primary first.
    let mut free = FreeAllowances {
        dashboards: prices::FREE_DASHBOARDS,
        log_gb: prices::FREE_LOG_GB,
    };
    let runs = f64::from(a.builds_per_month);
    let images = f64::from(a.images.unwrap_or(0));

    let mut regions = Vec::new();
    for region in ordered(spec) {
        let envs = environments(spec, region);
        let azs = region.public_subnets.len() as f64;
        let mut items = Vec::new();
        for env in &envs {
            items.extend(fargate(env, c, a));
        }
        items.extend(load_balancers(&envs, a));
        let nat = c.nat.unwrap_or(region.nat);
        let gateways = match nat {
            NatMode::Single => 1.0,
            NatMode::PerAz => azs,
        };
        items.extend(nat_gateways(nat, gateways, a));
        items.push(public_ipv4(gateways, envs.len() as f64, azs));
        if region.role == Role::Primary || spec.registry.replicate {
            items.push(ecr(region.role, images, a));
        }
        if region.role == Role::Primary {
            items.push(codebuild(runs, a));
        }
        items.extend(cloudwatch(spec, envs.len() as f64, a, &mut free));
        let total = sum(&items);
        regions.push(RegionCost {
            region: region.name.clone(),
            role: region.role,
            items,
            total,
        });
    }
    (regions, account_wide(spec, runs, a))
}

/// What is left of the account's free allowances that regions share.
struct FreeAllowances {
    dashboards: f64,
    log_gb: f64,
}

/// An ALB per environment: its hours and its capacity units.
fn load_balancers(envs: &[&Environment], a: &Assumptions) -> [LineItem; 2] {
    let albs = envs.len() as f64;
    let staging_here = envs.iter().any(|e| e.name == "staging");
    let lcu = a.alb_lcu + if staging_here { a.staging_alb_lcu } else { 0.0 };
    [
        item(
            "ALB hours",
            Category::LoadBalancer,
            format!(
                "{} ({}) × {} h",
                count(albs, "load balancer"),
                names(envs),
                HOURS_PER_MONTH
            ),
            albs * HOURS_PER_MONTH,
            "ALB-hours",
            0.0,
            &prices::ALB_HOUR,
            1.0,
        ),
        item(
            "ALB capacity",
            Category::LoadBalancer,
            if staging_here {
                format!(
                    "({} production + {} staging) LCU × {} h",
                    num(a.alb_lcu),
                    num(a.staging_alb_lcu),
                    HOURS_PER_MONTH
                )
            } else {
                format!("{} LCU × {} h", num(a.alb_lcu), HOURS_PER_MONTH)
            },
            lcu * HOURS_PER_MONTH,
            "LCU-hours",
            0.0,
            &prices::ALB_LCU,
            1.0,
        ),
    ]
}

/// A region's NAT gateways: their hours and the data they process.
fn nat_gateways(nat: NatMode, gateways: f64, a: &Assumptions) -> [LineItem; 2] {
    [
        item(
            "NAT gateway hours",
            Category::Nat,
            format!(
                "{} ({}) × {} h",
                count(gateways, "gateway"),
                match nat {
                    NatMode::Single => "single",
                    NatMode::PerAz => "one per AZ",
                },
                HOURS_PER_MONTH
            ),
            gateways * HOURS_PER_MONTH,
            "gateway-hours",
            0.0,
            &prices::NAT_HOUR,
            1.0,
        ),
        item(
            "NAT gateway data",
            Category::Nat,
            "assumed (nat_gb)".into(),
            a.nat_gb,
            "GB",
            0.0,
            &prices::NAT_GB,
            1.0,
        ),
    ]
}

/// Each NAT gateway has an Elastic IP; an internet-facing ALB has an address per AZ.
fn public_ipv4(gateways: f64, albs: f64, azs: f64) -> LineItem {
    item(
        "Public IPv4 addresses",
        Category::PublicIpv4,
        format!(
            "({} NAT + {} ALB × {} AZs) × {} h",
            num(gateways),
            num(albs),
            num(azs),
            HOURS_PER_MONTH
        ),
        (gateways + albs * azs) * HOURS_PER_MONTH,
        "IP-hours",
        0.0,
        &prices::PUBLIC_IPV4,
        1.0,
    )
}

/// The repository's images, in the primary and in each replica.
fn ecr(role: Role, images: f64, a: &Assumptions) -> LineItem {
    item(
        "ECR storage",
        Category::Ecr,
        format!(
            "{} × {} GB{}",
            count(images, "image"),
            num(a.image_gb),
            if role == Role::Primary {
                ""
            } else {
                ", replica"
            }
        ),
        images * a.image_gb,
        "GB-months",
        0.0,
        &prices::ECR_STORAGE,
        1.0,
    )
}

/// The pipeline's builds, in the primary.
fn codebuild(runs: f64, a: &Assumptions) -> LineItem {
    let minutes = runs * a.build_minutes;
    item(
        "CodeBuild minutes",
        Category::CodeBuild,
        format!("{} × {} min", count(runs, "run"), num(a.build_minutes)),
        minutes,
        "build-minutes",
        minutes.min(prices::FREE_CODEBUILD_MINUTES),
        &prices::CODEBUILD_SMALL_MINUTE,
        1.0,
    )
}

/// A region's alarms, dashboard and log ingestion, drawing on the account's free allowances.
fn cloudwatch(spec: &Spec, envs: f64, a: &Assumptions, free: &mut FreeAllowances) -> Vec<LineItem> {
    let per_env = alarms_per_environment(spec);
    let mut items = vec![item(
        "CloudWatch alarms",
        Category::CloudWatch,
        format!(
            "{} × {} per environment",
            count(envs, "environment"),
            num(per_env)
        ),
        per_env * envs,
        "alarm-months",
        0.0,
        &prices::CLOUDWATCH_ALARM,
        1.0,
    )];
    if spec.monitoring.dashboard {
        let free_here = free.dashboards.min(1.0);
        free.dashboards -= free_here;
        items.push(item(
            "CloudWatch dashboard",
            Category::CloudWatch,
            "one per region; 3 free per account, primary first".into(),
            1.0,
            "dashboard-months",
            free_here,
            &prices::CLOUDWATCH_DASHBOARD,
            1.0,
        ));
    }
    let free_here = free.log_gb.min(a.log_gb);
    free.log_gb -= free_here;
    items.push(item(
        "CloudWatch Logs ingested",
        Category::CloudWatch,
        "assumed (log_gb); 5 GB free per account, primary first".into(),
        a.log_gb,
        "GB",
        free_here,
        &prices::CLOUDWATCH_LOGS_GB,
        1.0,
    ));
    items
}

/// Route 53's health checks, the one pipeline and SNS: billed once per account.
fn account_wide(spec: &Spec, runs: f64, a: &Assumptions) -> Vec<LineItem> {
    let deploys = deploy_actions(spec);
    let minutes = runs * (1.0 + a.build_minutes + a.deploy_minutes * deploys);
    let emails = f64::from(a.sns_emails);
    vec![
        item(
            "Route 53 health checks",
            Category::Route53,
            "one per region's production ALB".into(),
            spec.regions.len() as f64,
            "check-months",
            0.0,
            &prices::ROUTE53_HEALTH_CHECK,
            1.0,
        ),
        item(
            "CodePipeline (V2) action minutes",
            Category::CodePipeline,
            format!(
                "{} × (1 source + {} build + {} deploys × {}) min",
                count(runs, "run"),
                num(a.build_minutes),
                num(deploys),
                num(a.deploy_minutes)
            ),
            minutes,
            "action-minutes",
            minutes.min(prices::FREE_CODEPIPELINE_MINUTES),
            &prices::CODEPIPELINE_V2_MINUTE,
            1.0,
        ),
        item(
            "SNS e-mail notifications",
            Category::Sns,
            "assumed (sns_emails), all regions".into(),
            emails,
            "e-mails",
            emails.min(prices::FREE_SNS_EMAILS),
            &prices::SNS_EMAIL,
            1.0,
        ),
    ]
}

/// Two lines for an environment's minimum tasks: vCPU-hours and GB-hours.
pub(super) fn fargate(env: &Environment, c: Choices, a: &Assumptions) -> [LineItem; 2] {
    let staging = env.name == "staging";
    // Fargate Spot runs X86_64 tasks only, so Spot staging stays on x86 whatever the arch.
    let spot = staging && c.spot_staging;
    let arch = if spot { Architecture::X86_64 } else { c.arch };
    let (vcpu_price, gb_price, arch_name) = match arch {
        Architecture::X86_64 => (&prices::FARGATE_X86_VCPU, &prices::FARGATE_X86_GB, "x86_64"),
        Architecture::Arm64 => (&prices::FARGATE_ARM_VCPU, &prices::FARGATE_ARM_GB, "arm64"),
    };
    let factor = if spot {
        1.0 - a.spot_discount_percent / 100.0
    } else {
        1.0
    };
    let how = if spot {
        format!("{arch_name}, Spot at {}% off", num(a.spot_discount_percent))
    } else {
        arch_name.to_owned()
    };
    let tasks = f64::from(env.min);
    let vcpu = f64::from(env.cpu) / 1024.0;
    let gb = f64::from(env.memory) / 1024.0;
    let tasks_text = count(tasks, "task");
    [
        item(
            &format!("Fargate {} vCPU", env.name),
            Category::Fargate,
            format!(
                "{tasks_text} × {} vCPU × {} h ({how})",
                num(vcpu),
                HOURS_PER_MONTH
            ),
            tasks * vcpu * HOURS_PER_MONTH,
            "vCPU-hours",
            0.0,
            vcpu_price,
            factor,
        ),
        item(
            &format!("Fargate {} memory", env.name),
            Category::Fargate,
            format!(
                "{tasks_text} × {} GB × {} h ({how})",
                num(gb),
                HOURS_PER_MONTH
            ),
            tasks * gb * HOURS_PER_MONTH,
            "GB-hours",
            0.0,
            gb_price,
            factor,
        ),
    ]
}

/// The alarms `haven synth` creates per environment (see haven-cfn's monitoring stack): CPU and
/// memory one each, 5xx two (the ALB's own and the tasks'), unhealthy targets one, and the
/// 5xx-rate alarm deployments roll back on. The pipeline-failure "alarm" is an EventBridge
/// rule, which costs nothing here.
fn alarms_per_environment(spec: &Spec) -> f64 {
    let from_spec: u32 = spec
        .monitoring
        .alarms
        .iter()
        .map(|a| match a.kind {
            AlarmKind::Cpu | AlarmKind::Memory | AlarmKind::UnhealthyTargets => 1,
            AlarmKind::Http5xx => 2,
            AlarmKind::PipelineFailure => 0,
        })
        .sum();
    let rollback = u32::from(spec.service.deployment.rollback_on_alarm);
    f64::from(from_spec + rollback)
}

/// ECS deploy actions per pipeline run: staging's, then production's in every region.
fn deploy_actions(spec: &Spec) -> f64 {
    let staging = spec.pipeline.stages.contains(&"Staging") && spec.environments.staging.is_some();
    (usize::from(staging) + spec.regions.len()) as f64
}

/// Images kept per repository, and where the figure comes from.
pub(super) fn images(spec: &Spec, a: &Assumptions) -> (u32, String) {
    if let Some(n) = a.images {
        return (n, format!("ECR holds {n} images (given)."));
    }
    let covers_all = |t: TagStatus, prefixes: &[String]| {
        t == TagStatus::Any || (t == TagStatus::Tagged && prefixes.is_empty())
    };
    let rules = &spec.registry.lifecycle;
    if let Some(rule) = rules
        .iter()
        .filter(|r| {
            r.count_type == CountType::ImageCountMoreThan
                && covers_all(r.tag_status, &r.tag_prefixes)
        })
        .min_by_key(|r| r.count)
    {
        return (
            rule.count,
            format!(
                "ECR holds {} images: the lifecycle rule \"{}\" keeps that many.",
                rule.count, rule.description
            ),
        );
    }
    // One image per pipeline run, each kept for the rule's days.
    if let Some(rule) = rules
        .iter()
        .filter(|r| {
            r.count_type == CountType::SinceImagePushed && covers_all(r.tag_status, &r.tag_prefixes)
        })
        .min_by_key(|r| r.count)
    {
        let n = (u64::from(a.builds_per_month) * u64::from(rule.count)).div_ceil(30);
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        return (
            n,
            format!(
                "ECR holds {n} images: {} pushes a month, each kept {} days (\"{}\").",
                a.builds_per_month, rule.count, rule.description
            ),
        );
    }
    let n = a.builds_per_month.saturating_mul(12);
    (
        n,
        format!(
            "ECR holds {n} images: no lifecycle rule limits them, so a year of pushes is assumed; \
             add an image_count_more_than rule."
        ),
    )
}

#[allow(clippy::too_many_arguments)]
fn item(
    name: &str,
    category: Category,
    detail: String,
    quantity: f64,
    unit: &'static str,
    free: f64,
    price: &Price,
    factor: f64,
) -> LineItem {
    let unit_price = price.usd * factor;
    let billable = (quantity - free).max(0.0);
    LineItem {
        name: name.to_owned(),
        category,
        detail,
        quantity,
        unit,
        free,
        unit_price,
        price: price.id,
        monthly: cents_to_dollars(money_cents(billable * unit_price)),
    }
}

pub(super) fn sum(items: &[LineItem]) -> f64 {
    cents_to_dollars(items.iter().map(LineItem::cents).sum())
}
