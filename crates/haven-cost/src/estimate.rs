//! The estimate: what `haven synth` would deploy for a spec, counted and priced per region,
//! with the seed's figures beside it and the saving each option brings.

use haven_spec::Spec;
use haven_spec::model::{
    AlarmKind, Architecture, CountType, Environment, NatMode, Region, Role, TagStatus,
};
use serde::Serialize;

use crate::assumptions::Assumptions;
use crate::prices::{self, HOURS_PER_MONTH, Price};

/// What to price: the spec as written, or with some of the cost options applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Run every task on ARM64 (Graviton), whatever `service.architecture` says.
    pub arm64: bool,
    /// Run staging's tasks on Fargate Spot.
    pub spot_staging: bool,
    /// NAT gateways for every region; `None` keeps each region's `nat`.
    pub nat: Option<NatMode>,
    pub assumptions: Assumptions,
}

/// A month of the architecture, priced.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub project: String,
    pub prices: PriceTable,
    /// The options as applied.
    pub options: Applied,
    /// The assumptions as used, `images` filled in.
    pub assumptions: Assumptions,
    pub regions: Vec<RegionCost>,
    /// Account-wide items: Route 53 is global and there is one pipeline.
    pub global: Vec<LineItem>,
    pub global_total: f64,
    pub total: f64,
    pub seed: SeedComparison,
    pub savings: Vec<Saving>,
    /// What the estimate leaves out or had to decide.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PriceTable {
    pub gathered: &'static str,
    pub scope: &'static str,
    pub hours_per_month: f64,
    pub spot: &'static str,
    pub entries: &'static [Price],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    pub architecture: Architecture,
    pub spot_staging: bool,
    /// `None`: each region's own `nat`.
    pub nat: Option<NatMode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionCost {
    pub region: String,
    pub role: Role,
    pub items: Vec<LineItem>,
    pub total: f64,
}

/// One line of the bill: `max(quantity - free, 0) × unit_price`, rounded to the cent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineItem {
    pub name: String,
    pub category: Category,
    /// How the quantity was counted: "2 tasks × 0.5 vCPU × 730 h".
    pub detail: String,
    pub quantity: f64,
    pub unit: &'static str,
    /// The part of the quantity a free allowance covers.
    pub free: f64,
    pub unit_price: f64,
    /// The price table entry (`prices.entries[].id`).
    pub price: &'static str,
    pub monthly: f64,
}

impl LineItem {
    pub fn cents(&self) -> i64 {
        to_cents(self.monthly)
    }
}

/// What a line is for, to compare with the seed's categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Fargate,
    LoadBalancer,
    Nat,
    PublicIpv4,
    Ecr,
    CodePipeline,
    CodeBuild,
    CloudWatch,
    Route53,
    Sns,
}

/// The seed's estimate (`architecture.md`, "Cost Estimates") beside this one.
#[derive(Debug, Clone, Serialize)]
pub struct SeedComparison {
    /// The seed's range per region, in dollars a month.
    pub low: f64,
    pub high: f64,
    pub regions: Vec<SeedRegion>,
    /// The seed's regional items, each with this estimate's figure per region (in `regions`'
    /// order). Everything else is in none of them.
    pub categories: Vec<SeedCategory>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedRegion {
    pub region: String,
    pub total: f64,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Below,
    Within,
    Above,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedCategory {
    pub name: &'static str,
    pub low: f64,
    pub high: f64,
    pub amounts: Vec<f64>,
}

/// What one option saves a month against the same estimate without it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saving {
    /// `arm64`, `spot-staging` or `single-nat`.
    pub option: &'static str,
    pub description: String,
    /// Negative when the option costs more.
    pub monthly_saving: f64,
    /// Whether this estimate already includes it.
    pub applied: bool,
}

/// The seed's per-region range and items, from its "Cost Estimates" section.
const SEED_LOW: f64 = 100.0;
const SEED_HIGH: f64 = 150.0;
const SEED_ITEMS: [(&str, Category, f64, f64); 4] = [
    ("Fargate", Category::Fargate, 30.0, 50.0),
    ("ALB", Category::LoadBalancer, 20.0, 30.0),
    ("NAT gateway", Category::Nat, 30.0, 45.0),
    ("ECR", Category::Ecr, 5.0, 10.0),
];

/// The choices one pricing run makes; savings rerun with one of them changed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Choices {
    arch: Architecture,
    spot_staging: bool,
    nat: Option<NatMode>,
}

/// Prices a month of the spec's architecture with `opts` applied. Assumptions are used as given:
/// check them first with [`Assumptions::validate`].
pub fn estimate(spec: &Spec, opts: &Options) -> Estimate {
    let mut assumptions = opts.assumptions.clone();
    let (images, images_note) = images(spec, &assumptions);
    assumptions.images = Some(images);
    let choices = Choices {
        arch: if opts.arm64 {
            Architecture::Arm64
        } else {
            spec.service.architecture
        },
        spot_staging: opts.spot_staging,
        nat: opts.nat,
    };
    let (regions, global) = price(spec, choices, &assumptions);
    let global_total = sum(&global);
    let total = cents_to_dollars(
        regions.iter().map(|r| to_cents(r.total)).sum::<i64>() + to_cents(global_total),
    );
    let savings = savings(spec, choices, &assumptions);
    let seed = seed(
        &regions,
        &global,
        global_total,
        spec.environments.staging.is_some(),
    );
    let mut notes = vec![images_note];
    notes.extend(notes_for(spec, choices, &assumptions, &regions));
    Estimate {
        project: spec.project.name.clone(),
        prices: PriceTable {
            gathered: prices::GATHERED,
            scope: prices::SCOPE,
            hours_per_month: HOURS_PER_MONTH,
            spot: prices::SPOT,
            entries: prices::TABLE,
        },
        options: Applied {
            architecture: choices.arch,
            spot_staging: choices.spot_staging,
            nat: choices.nat,
        },
        assumptions,
        regions,
        global,
        global_total,
        total,
        seed,
        savings,
        notes,
    }
}

/// The primary first, then the secondaries as written: account-wide free allowances are used up
/// in this order.
fn ordered(spec: &Spec) -> Vec<&Region> {
    std::iter::once(spec.primary())
        .chain(spec.secondaries())
        .collect()
}

/// The environments a region runs: production everywhere, staging in the primary only.
fn environments<'a>(spec: &'a Spec, region: &Region) -> Vec<&'a Environment> {
    let mut envs = vec![&spec.environments.production];
    if region.role == Role::Primary {
        envs.extend(spec.environments.staging.as_ref());
    }
    envs
}

fn price(spec: &Spec, c: Choices, a: &Assumptions) -> (Vec<RegionCost>, Vec<LineItem>) {
    // Free allowances are per account, so the regions draw on one pool, primary first.
    let mut free_dashboards = prices::FREE_DASHBOARDS;
    let mut free_log_gb = prices::FREE_LOG_GB;
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

        let albs = envs.len() as f64;
        let staging_here = envs.iter().any(|e| e.name == "staging");
        items.push(item(
            "ALB hours",
            Category::LoadBalancer,
            format!(
                "{} ({}) × {} h",
                count(albs, "load balancer"),
                names(&envs),
                HOURS_PER_MONTH
            ),
            albs * HOURS_PER_MONTH,
            "ALB-hours",
            0.0,
            &prices::ALB_HOUR,
            1.0,
        ));
        let lcu = a.alb_lcu + if staging_here { a.staging_alb_lcu } else { 0.0 };
        items.push(item(
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
        ));

        let nat = c.nat.unwrap_or(region.nat);
        let gateways = match nat {
            NatMode::Single => 1.0,
            NatMode::PerAz => azs,
        };
        items.push(item(
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
        ));
        items.push(item(
            "NAT gateway data",
            Category::Nat,
            "assumed (nat_gb)".into(),
            a.nat_gb,
            "GB",
            0.0,
            &prices::NAT_GB,
            1.0,
        ));

        // Each NAT gateway has an Elastic IP; an internet-facing ALB has an address per AZ.
        let ips = gateways + albs * azs;
        items.push(item(
            "Public IPv4 addresses",
            Category::PublicIpv4,
            format!(
                "({} NAT + {} ALB × {} AZs) × {} h",
                num(gateways),
                num(albs),
                num(azs),
                HOURS_PER_MONTH
            ),
            ips * HOURS_PER_MONTH,
            "IP-hours",
            0.0,
            &prices::PUBLIC_IPV4,
            1.0,
        ));

        if region.role == Role::Primary || spec.registry.replicate {
            items.push(item(
                "ECR storage",
                Category::Ecr,
                format!(
                    "{} × {} GB{}",
                    count(images, "image"),
                    num(a.image_gb),
                    if region.role == Role::Primary {
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
            ));
        }

        if region.role == Role::Primary {
            let minutes = runs * a.build_minutes;
            items.push(item(
                "CodeBuild minutes",
                Category::CodeBuild,
                format!("{} × {} min", count(runs, "run"), num(a.build_minutes)),
                minutes,
                "build-minutes",
                minutes.min(prices::FREE_CODEBUILD_MINUTES),
                &prices::CODEBUILD_SMALL_MINUTE,
                1.0,
            ));
        }

        let per_env = alarms_per_environment(spec);
        let alarms = per_env * envs.len() as f64;
        items.push(item(
            "CloudWatch alarms",
            Category::CloudWatch,
            format!(
                "{} × {} per environment",
                count(envs.len() as f64, "environment"),
                num(per_env)
            ),
            alarms,
            "alarm-months",
            0.0,
            &prices::CLOUDWATCH_ALARM,
            1.0,
        ));
        if spec.monitoring.dashboard {
            let free = free_dashboards.min(1.0);
            free_dashboards -= free;
            items.push(item(
                "CloudWatch dashboard",
                Category::CloudWatch,
                "one per region; 3 free per account, primary first".into(),
                1.0,
                "dashboard-months",
                free,
                &prices::CLOUDWATCH_DASHBOARD,
                1.0,
            ));
        }
        let free = free_log_gb.min(a.log_gb);
        free_log_gb -= free;
        items.push(item(
            "CloudWatch Logs ingested",
            Category::CloudWatch,
            "assumed (log_gb); 5 GB free per account, primary first".into(),
            a.log_gb,
            "GB",
            free,
            &prices::CLOUDWATCH_LOGS_GB,
            1.0,
        ));

        let total = sum(&items);
        regions.push(RegionCost {
            region: region.name.clone(),
            role: region.role,
            items,
            total,
        });
    }

    let mut global = Vec::new();
    let checks = spec.regions.len() as f64;
    global.push(item(
        "Route 53 health checks",
        Category::Route53,
        "one per region's production ALB".into(),
        checks,
        "check-months",
        0.0,
        &prices::ROUTE53_HEALTH_CHECK,
        1.0,
    ));
    let deploys = deploy_actions(spec);
    let per_run = 1.0 + a.build_minutes + a.deploy_minutes * deploys;
    let minutes = runs * per_run;
    global.push(item(
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
    ));
    let emails = f64::from(a.sns_emails);
    global.push(item(
        "SNS e-mail notifications",
        Category::Sns,
        "assumed (sns_emails), all regions".into(),
        emails,
        "e-mails",
        emails.min(prices::FREE_SNS_EMAILS),
        &prices::SNS_EMAIL,
        1.0,
    ));
    (regions, global)
}

/// Two lines for an environment's minimum tasks: vCPU-hours and GB-hours.
fn fargate(env: &Environment, c: Choices, a: &Assumptions) -> [LineItem; 2] {
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
fn images(spec: &Spec, a: &Assumptions) -> (u32, String) {
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

fn savings(spec: &Spec, c: Choices, a: &Assumptions) -> Vec<Saving> {
    let total = |c: Choices| {
        let (regions, global) = price(spec, c, a);
        regions.iter().map(|r| to_cents(r.total)).sum::<i64>() + to_cents(sum(&global))
    };
    let saving = |with: Choices, without: Choices| cents_to_dollars(total(without) - total(with));
    let all_single = ordered(spec)
        .iter()
        .all(|r| c.nat.unwrap_or(r.nat) == NatMode::Single);
    vec![
        Saving {
            option: "arm64",
            description: "ARM64 (Graviton) tasks instead of x86_64".into(),
            monthly_saving: saving(
                Choices {
                    arch: Architecture::Arm64,
                    ..c
                },
                Choices {
                    arch: Architecture::X86_64,
                    ..c
                },
            ),
            applied: c.arch == Architecture::Arm64,
        },
        Saving {
            option: "spot-staging",
            description: if spec.environments.staging.is_some() {
                "Fargate Spot for staging (interruptible, x86_64 only)".into()
            } else {
                "Fargate Spot for staging (no staging environment)".into()
            },
            monthly_saving: saving(
                Choices {
                    spot_staging: true,
                    ..c
                },
                Choices {
                    spot_staging: false,
                    ..c
                },
            ),
            applied: c.spot_staging,
        },
        Saving {
            option: "single-nat",
            description: "one NAT gateway per region instead of one per AZ \
                          (egress then depends on one AZ)"
                .into(),
            monthly_saving: saving(
                Choices {
                    nat: Some(NatMode::Single),
                    ..c
                },
                Choices {
                    nat: Some(NatMode::PerAz),
                    ..c
                },
            ),
            applied: all_single,
        },
    ]
}

fn seed(
    regions: &[RegionCost],
    global: &[LineItem],
    global_total: f64,
    staging: bool,
) -> SeedComparison {
    let verdict = |t: f64| {
        if t < SEED_LOW {
            Verdict::Below
        } else if t > SEED_HIGH {
            Verdict::Above
        } else {
            Verdict::Within
        }
    };
    let seed_regions: Vec<SeedRegion> = regions
        .iter()
        .map(|r| SeedRegion {
            region: r.region.clone(),
            total: r.total,
            verdict: verdict(r.total),
        })
        .collect();
    let categories = SEED_ITEMS
        .iter()
        .map(|(name, cat, low, high)| SeedCategory {
            name,
            low: *low,
            high: *high,
            amounts: regions
                .iter()
                .map(|r| {
                    cents_to_dollars(
                        r.items
                            .iter()
                            .filter(|i| i.category == *cat)
                            .map(LineItem::cents)
                            .sum(),
                    )
                })
                .collect(),
        })
        .collect();
    let pipeline = global
        .iter()
        .filter(|i| i.category == Category::CodePipeline)
        .map(LineItem::cents)
        .sum::<i64>();
    let each = seed_regions
        .iter()
        .map(|r| {
            format!(
                "{} comes to {} ({})",
                r.region,
                dollars(r.total),
                match r.verdict {
                    Verdict::Below => "below it",
                    Verdict::Within => "within it",
                    Verdict::Above => "above it",
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "The seed estimates $100-150 a month per region (Fargate $30-50 for 2 tasks, ALB $20-30, \
         NAT $30-45, ECR $5-10, CodePipeline ~$1). {each}; the account-wide items add {}. \
         The seed leaves out the public IPv4 addresses AWS has charged for since February 2024, \
         CloudWatch, CodeBuild, Route 53 and SNS; its CodePipeline figure is V1's $1 a pipeline, \
         while haven's V2 pipeline is billed by the action minute ({} here).{}",
        dollars(global_total),
        dollars(cents_to_dollars(pipeline)),
        if staging {
            " The primary region also runs staging: its tasks and its own ALB."
        } else {
            ""
        },
    );
    SeedComparison {
        low: SEED_LOW,
        high: SEED_HIGH,
        regions: seed_regions,
        categories,
        text,
    }
}

fn notes_for(spec: &Spec, c: Choices, a: &Assumptions, regions: &[RegionCost]) -> Vec<String> {
    let mut notes = Vec::new();
    // The marginal task is what scaling out costs; say it, since the estimate counts minimums.
    let production = &spec.environments.production;
    let one = Environment {
        min: 1,
        ..production.clone()
    };
    let per_task: i64 = fargate(&one, c, a).iter().map(LineItem::cents).sum();
    notes.push(format!(
        "Tasks are counted at their minimum (production {} per region{}); each further \
         production task in a region adds {} a month, up to max = {}.",
        production.min,
        spec.environments
            .staging
            .as_ref()
            .map(|s| format!(", staging {}", s.min))
            .unwrap_or_default(),
        dollars(cents_to_dollars(per_task)),
        production.max
    ));
    if c.arch == Architecture::Arm64 && c.spot_staging && spec.environments.staging.is_some() {
        notes.push(
            "Fargate Spot runs x86_64 tasks only: staging is priced as x86_64 Spot and production \
             as ARM64, which needs a multi-architecture image."
                .into(),
        );
    }
    if spec.build.compute_type != "BUILD_GENERAL1_SMALL" {
        notes.push(format!(
            "CodeBuild is priced as BUILD_GENERAL1_SMALL; {} costs more per minute and is not in \
             the price table.",
            spec.build.compute_type
        ));
    }
    let https = spec.service.load_balancer.certificate_arn.is_some();
    let fast = spec.routing.health_check_interval.as_secs() < 30;
    if https || fast {
        notes.push(format!(
            "Route 53 charges extra for {} health checks; the optional features are not in the \
             price table.",
            match (https, fast) {
                (true, true) => "HTTPS and 10-second",
                (true, false) => "HTTPS",
                _ => "10-second",
            }
        ));
    }
    if regions.len() > 3 && spec.monitoring.dashboard {
        notes.push("Dashboards beyond the account's 3 free ones are charged.".into());
    }
    notes.push(
        "Not priced (not in the price table): KMS keys, S3 (pipeline artifacts, ALB access logs), \
         CodeCommit, log storage after ingestion, data transfer out and between regions (image \
         and repository replication), the Route 53 hosted zone and queries, and CloudWatch's free \
         tier of 10 alarms."
            .into(),
    );
    notes
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

fn sum(items: &[LineItem]) -> f64 {
    cents_to_dollars(items.iter().map(LineItem::cents).sum())
}

/// Dollars to cents, half up, as a bill rounds. Rounding to micro-dollars first drops the binary
/// noise (730 × 0.0225 is 16.424999…), so a half cent on paper is a half cent here.
fn money_cents(usd: f64) -> i64 {
    let micros = (usd * 1e6).round() as i64;
    (micros + 5_000).div_euclid(10_000)
}

fn to_cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

fn cents_to_dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// `$1,234.56`; negative amounts as `-$1.00`.
pub fn dollars(usd: f64) -> String {
    let cents = to_cents(usd);
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// A unit price with the digits it has: `$0.04048`, `$0.10`, `$3.00`.
pub fn unit_dollars(usd: f64) -> String {
    let text = format!("{usd:.7}");
    let text = text.trim_end_matches('0');
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    format!("${whole}.{frac:0<2}")
}

/// A quantity with up to three decimals and thousands separators: `1,460`, `0.5`, `73`.
pub fn num(x: f64) -> String {
    let text = format!("{:.3}", x.abs());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole = whole
        .parse::<u64>()
        .map(thousands)
        .unwrap_or_else(|_| whole.to_owned());
    let sign = if x < 0.0 && text != "0" { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn count(n: f64, noun: &str) -> String {
    if n == 1.0 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", num(n))
    }
}

fn names(envs: &[&Environment]) -> String {
    envs.iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_cents_round_up_despite_binary_noise() {
        assert_eq!(money_cents(730.0 * 0.0225), 1643);
        assert_eq!(money_cents(0.004445 * 730.0), 324);
        assert_eq!(money_cents(0.0), 0);
        assert_eq!(money_cents(14.7752), 1478);
    }

    #[test]
    fn formats() {
        assert_eq!(dollars(1234.5), "$1,234.50");
        assert_eq!(dollars(-73.0), "-$73.00");
        assert_eq!(unit_dollars(0.04048), "$0.04048");
        assert_eq!(unit_dollars(3.0), "$3.00");
        assert_eq!(unit_dollars(0.1), "$0.10");
        assert_eq!(unit_dollars(0.00002), "$0.00002");
        assert_eq!(unit_dollars(0.0022225), "$0.0022225");
        assert_eq!(num(1460.0), "1,460");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(73.0), "73");
        assert_eq!(num(1_234_567.25), "1,234,567.25");
        assert_eq!(count(1.0, "task"), "1 task");
        assert_eq!(count(2.0, "task"), "2 tasks");
    }
}
