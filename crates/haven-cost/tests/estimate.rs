//! `haven cost` against figures computed by hand from the price table, line by line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use haven_cost::{Assumptions, Estimate, Options, Verdict, estimate};
use haven_spec::Spec;
use haven_spec::model::NatMode;

fn spec(text: &str) -> Spec {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
    haven_spec::load_str(text, Path::new("haven.toml"), dir.path())
        .unwrap()
        .spec
}

/// Line items by name, in cents.
type Lines<'a> = &'a [(&'a str, i64)];
/// A region's name, its lines and its total, owned, for comparing.
type Bill = (String, Vec<(String, i64)>, i64);

/// What an estimate must come to, in cents. `items` lists every line of every region (and
/// `global`), in order, so a line added or dropped fails the test too.
struct Expected<'a> {
    regions: &'a [(&'a str, Lines<'a>, i64)],
    global: Lines<'a>,
    global_total: i64,
    total: i64,
    savings: &'a [(&'a str, i64, bool)],
}

fn cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

fn check(text: &str, options: &Options, expected: &Expected<'_>) -> Estimate {
    let e = estimate(&spec(text), options);
    let got_regions: Vec<Bill> = e
        .regions
        .iter()
        .map(|r| {
            (
                r.region.clone(),
                r.items
                    .iter()
                    .map(|i| (i.name.clone(), i.cents()))
                    .collect(),
                cents(r.total),
            )
        })
        .collect();
    let want_regions: Vec<Bill> = expected
        .regions
        .iter()
        .map(|(r, items, total)| {
            (
                (*r).to_owned(),
                items.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect(),
                *total,
            )
        })
        .collect();
    assert_eq!(got_regions, want_regions);
    let got_global: Vec<(String, i64)> = e
        .global
        .iter()
        .map(|i| (i.name.clone(), i.cents()))
        .collect();
    let want_global: Vec<(String, i64)> = expected
        .global
        .iter()
        .map(|(n, c)| ((*n).to_owned(), *c))
        .collect();
    assert_eq!(got_global, want_global);
    assert_eq!(cents(e.global_total), expected.global_total);
    assert_eq!(cents(e.total), expected.total);
    let got_savings: Vec<(&str, i64, bool)> = e
        .savings
        .iter()
        .map(|s| (s.option, cents(s.monthly_saving), s.applied))
        .collect();
    assert_eq!(got_savings, expected.savings);
    // The parts add up to the totals.
    for r in &e.regions {
        assert_eq!(
            r.items.iter().map(|i| i.cents()).sum::<i64>(),
            cents(r.total)
        );
    }
    e
}

const MINIMAL: &str = "[project]\nname = \"hello\"\n[service]\ncommand = [\"bin/hello\"]\n";

/// The default spec (the seed's architecture) with the default assumptions.
///
/// us-east-1 (primary: production and staging; 2 AZs; single NAT):
///   Fargate production vCPU    2 tasks × 0.5 vCPU × 730 h = 730 × $0.04048   = 29.5504 → 29.55
///   Fargate production memory  2 × 1 GB × 730 = 1,460 GB-h × $0.004445      =  6.4897 →  6.49
///   Fargate staging vCPU       1 × 0.5 × 730 = 365 × $0.04048               = 14.7752 → 14.78
///   Fargate staging memory     1 × 1 × 730 = 730 × $0.004445                = 3.24485 →  3.24
///   ALB hours                  2 ALBs × 730 = 1,460 × $0.0225               =            32.85
///   ALB capacity               (1 + 0.1) LCU × 730 = 803 × $0.008           =   6.424 →  6.42
///   NAT gateway hours          1 × 730 × $0.045                             =            32.85
///   NAT gateway data           20 GB × $0.045                               =             0.90
///   Public IPv4                (1 NAT + 2 ALBs × 2 AZs) × 730 = 3,650 × $0.005 =         18.25
///   ECR storage                30 images (lifecycle rule) × 0.1 GB × $0.10  =             0.30
///   CodeBuild                  40 runs × 10 min = 400 − 100 free = 300 × $0.005 =         1.50
///   CloudWatch alarms          2 envs × 6 (cpu, memory, 2 × 5xx, unhealthy, rollback) × $0.10 = 1.20
///   CloudWatch dashboard       1, covered by the 3 free                     =             0.00
///   CloudWatch Logs            5 GB, covered by the 5 free GB               =             0.00
///                                                                     total =           148.33
/// us-west-2 (secondary: production only; 2 AZs; single NAT):
///   Fargate production         29.55 + 6.49                                 =            36.04
///   ALB hours                  730 × $0.0225 = 16.425                       →            16.43
///   ALB capacity               1 LCU × 730 × $0.008                         =             5.84
///   NAT gateway                32.85 + 0.90                                 =            33.75
///   Public IPv4                (1 + 1 × 2) × 730 = 2,190 × $0.005           =            10.95
///   ECR storage (replica)                                                   =             0.30
///   CloudWatch alarms          6 × $0.10                                    =             0.60
///   CloudWatch dashboard       the 2nd of the 3 free                        =             0.00
///   CloudWatch Logs            5 GB, free GB used up by the primary: 5 × $0.50 =          2.50
///                                                                     total =           106.41
/// global:
///   Route 53 health checks     2 × $0.50                                    =             1.00
///   CodePipeline V2            40 runs × (1 + 10 + 3 deploys × 10) = 1,640 − 100 free
///                              = 1,540 × $0.002                             =             3.08
///   SNS e-mail                 100, within the 1,000 free                   =             0.00
///                                                                     total =             4.08
/// total: 148.33 + 106.41 + 4.08 = 258.82
///
/// Savings:
///   arm64: Fargate at $0.03238 / $0.00356: primary 23.64 + 5.20 + 11.82 + 2.60 = 43.26
///          against 54.06 (10.80); secondary 28.84 against 36.04 (7.20)  = 18.00
///   spot-staging: staging at 50 % off: 365 × $0.02024 = 7.3876 → 7.39, 730 × $0.0022225
///          = 1.622425 → 1.62; 9.01 against 18.02                         =  9.01
///   single-nat (in effect): per-AZ adds a gateway (32.85) and its address (3.65) in each
///          region: 2 × 36.50                                             = 73.00
const DEFAULT_PRIMARY: &[(&str, i64)] = &[
    ("Fargate production vCPU", 2955),
    ("Fargate production memory", 649),
    ("Fargate staging vCPU", 1478),
    ("Fargate staging memory", 324),
    ("ALB hours", 3285),
    ("ALB capacity", 642),
    ("NAT gateway hours", 3285),
    ("NAT gateway data", 90),
    ("Public IPv4 addresses", 1825),
    ("ECR storage", 30),
    ("CodeBuild minutes", 150),
    ("CloudWatch alarms", 120),
    ("CloudWatch dashboard", 0),
    ("CloudWatch Logs ingested", 0),
];
const DEFAULT_SECONDARY: &[(&str, i64)] = &[
    ("Fargate production vCPU", 2955),
    ("Fargate production memory", 649),
    ("ALB hours", 1643),
    ("ALB capacity", 584),
    ("NAT gateway hours", 3285),
    ("NAT gateway data", 90),
    ("Public IPv4 addresses", 1095),
    ("ECR storage", 30),
    ("CloudWatch alarms", 60),
    ("CloudWatch dashboard", 0),
    ("CloudWatch Logs ingested", 250),
];

#[test]
fn default_spec() {
    let e = check(
        MINIMAL,
        &Options::default(),
        &Expected {
            regions: &[
                ("us-east-1", DEFAULT_PRIMARY, 14833),
                ("us-west-2", DEFAULT_SECONDARY, 10641),
            ],
            global: &[
                ("Route 53 health checks", 100),
                ("CodePipeline (V2) action minutes", 308),
                ("SNS e-mail notifications", 0),
            ],
            global_total: 408,
            total: 25882,
            savings: &[
                ("arm64", 1800, false),
                ("spot-staging", 901, false),
                ("single-nat", 7300, true),
            ],
        },
    );
    // Both regions fall inside the seed's $100-150.
    let verdicts: Vec<Verdict> = e.seed.regions.iter().map(|r| r.verdict).collect();
    assert_eq!(verdicts, [Verdict::Within, Verdict::Within]);
    assert_eq!(e.assumptions.images, Some(30));
    // The seed's categories, per region: Fargate, ALB, NAT, ECR.
    let categories: Vec<(&str, Vec<i64>)> = e
        .seed
        .categories
        .iter()
        .map(|c| (c.name, c.amounts.iter().map(|a| cents(*a)).collect()))
        .collect();
    assert_eq!(
        categories,
        [
            ("Fargate", vec![5406, 3604]),
            ("ALB", vec![3927, 2227]),
            ("NAT gateway", vec![3375, 3375]),
            ("ECR", vec![30, 30]),
        ]
    );
}

/// The example's spec writes out every default, so it costs the same as the minimal one.
#[test]
fn the_example_is_the_default() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello/haven.toml"),
    )
    .unwrap();
    let example = estimate(&spec(&text), &Options::default());
    let minimal = estimate(&spec(MINIMAL), &Options::default());
    assert_eq!(cents(example.total), cents(minimal.total));
    assert_eq!(cents(example.total), 25882);
}

const BIG: &str = r#"
[project]
name = "big"

[[regions]]
name = "us-east-1"
role = "primary"
vpc_cidr = "10.0.0.0/16"
azs = 3

[[regions]]
name = "us-west-2"
role = "secondary"
vpc_cidr = "10.1.0.0/16"

[service]
command = ["bin/big"]
cpu = 1024
memory = 2048
desired = 3
min = 3
"#;

/// Bigger tasks (1 vCPU, 2 GB, 3 in production), 3 AZs in the primary, with `--arm64`,
/// `--nat per-az`, 100 GB through NAT and 100 pipeline runs a month.
///
/// us-east-1 (3 AZs, so 3 NAT gateways):
///   Fargate production vCPU    3 × 1 vCPU × 730 = 2,190 × $0.03238          = 70.9122 → 70.91
///   Fargate production memory  3 × 2 GB × 730 = 4,380 × $0.00356            = 15.5928 → 15.59
///   Fargate staging vCPU       1 × 1 × 730 = 730 × $0.03238                 = 23.6374 → 23.64
///   Fargate staging memory     1 × 2 × 730 = 1,460 × $0.00356               =  5.1976 →  5.20
///   ALB hours, capacity        as the default                               = 32.85 + 6.42
///   NAT gateway hours          3 × 730 = 2,190 × $0.045                     =            98.55
///   NAT gateway data           100 GB × $0.045                              =             4.50
///   Public IPv4                (3 NAT + 2 ALBs × 3 AZs) × 730 = 6,570 × $0.005 =         32.85
///   ECR storage                                                             =             0.30
///   CodeBuild                  100 × 10 = 1,000 − 100 free = 900 × $0.005   =             4.50
///   CloudWatch alarms, dashboard, logs as the default                       = 1.20 + 0 + 0
///                                                                     total =           296.51
/// us-west-2 (2 AZs, so 2 NAT gateways):
///   Fargate production         70.91 + 15.59                                =            86.50
///   ALB hours, capacity        16.43 + 5.84                                 =            22.27
///   NAT gateway hours          2 × 730 = 1,460 × $0.045                     =            65.70
///   NAT gateway data           100 × $0.045                                 =             4.50
///   Public IPv4                (2 + 1 × 2) × 730 = 2,920 × $0.005           =            14.60
///   ECR 0.30, alarms 0.60, dashboard 0, logs 2.50                           =             3.40
///                                                                     total =           196.97
/// global: Route 53 1.00; CodePipeline 100 × 41 = 4,100 − 100 = 4,000 × $0.002 = 8.00; SNS 0
///                                                                     total =             9.00
/// total: 296.51 + 196.97 + 9.00 = 502.48
///
/// Savings:
///   arm64 (in effect): x86 would be 88.65 + 19.47 + 29.55 + 6.49 = 144.16 against 115.34 in the
///          primary (28.82) and 108.12 against 86.50 in the secondary (21.62)  = 50.44
///   spot-staging: staging as x86 Spot (Spot has no ARM64): 730 × $0.02024 = 14.78 and
///          1,460 × $0.0022225 = 3.24485 → 3.24; 18.02 against 28.84      = 10.82
///   single-nat: 2 gateways and addresses fewer in the primary, 1 in the secondary:
///          3 × (32.85 + 3.65)                                            = 109.50
#[test]
fn bigger_tasks_arm64_per_az_nat() {
    let e = check(
        BIG,
        &Options {
            arm64: true,
            spot_staging: false,
            nat: Some(NatMode::PerAz),
            assumptions: Assumptions {
                nat_gb: 100.0,
                builds_per_month: 100,
                ..Assumptions::default()
            },
        },
        &Expected {
            regions: &[
                (
                    "us-east-1",
                    &[
                        ("Fargate production vCPU", 7091),
                        ("Fargate production memory", 1559),
                        ("Fargate staging vCPU", 2364),
                        ("Fargate staging memory", 520),
                        ("ALB hours", 3285),
                        ("ALB capacity", 642),
                        ("NAT gateway hours", 9855),
                        ("NAT gateway data", 450),
                        ("Public IPv4 addresses", 3285),
                        ("ECR storage", 30),
                        ("CodeBuild minutes", 450),
                        ("CloudWatch alarms", 120),
                        ("CloudWatch dashboard", 0),
                        ("CloudWatch Logs ingested", 0),
                    ],
                    29651,
                ),
                (
                    "us-west-2",
                    &[
                        ("Fargate production vCPU", 7091),
                        ("Fargate production memory", 1559),
                        ("ALB hours", 1643),
                        ("ALB capacity", 584),
                        ("NAT gateway hours", 6570),
                        ("NAT gateway data", 450),
                        ("Public IPv4 addresses", 1460),
                        ("ECR storage", 30),
                        ("CloudWatch alarms", 60),
                        ("CloudWatch dashboard", 0),
                        ("CloudWatch Logs ingested", 250),
                    ],
                    19697,
                ),
            ],
            global: &[
                ("Route 53 health checks", 100),
                ("CodePipeline (V2) action minutes", 800),
                ("SNS e-mail notifications", 0),
            ],
            global_total: 900,
            total: 50248,
            savings: &[
                ("arm64", 5044, true),
                ("spot-staging", 1082, false),
                ("single-nat", 10950, false),
            ],
        },
    );
    let verdicts: Vec<Verdict> = e.seed.regions.iter().map(|r| r.verdict).collect();
    assert_eq!(verdicts, [Verdict::Above, Verdict::Above]);
}

/// Spot for staging alone: only staging's two lines change (see `default_spec`).
#[test]
fn spot_staging_halves_staging() {
    let mut primary = DEFAULT_PRIMARY.to_vec();
    primary[2] = ("Fargate staging vCPU", 739);
    primary[3] = ("Fargate staging memory", 162);
    check(
        MINIMAL,
        &Options {
            spot_staging: true,
            ..Options::default()
        },
        &Expected {
            regions: &[
                ("us-east-1", &primary, 14833 - 901),
                ("us-west-2", DEFAULT_SECONDARY, 10641),
            ],
            global: &[
                ("Route 53 health checks", 100),
                ("CodePipeline (V2) action minutes", 308),
                ("SNS e-mail notifications", 0),
            ],
            global_total: 408,
            total: 25882 - 901,
            savings: &[
                // Spot staging stays x86_64, so ARM64 saves production's 7.20 a region only.
                ("arm64", 1440, false),
                ("spot-staging", 901, true),
                ("single-nat", 7300, true),
            ],
        },
    );
}

/// Without staging there is one ALB, no staging tasks, one deploy fewer, and Spot saves nothing.
#[test]
fn no_staging() {
    let text =
        format!("{MINIMAL}[environments.staging]\nenabled = false\n[pipeline]\nstaging = false\n");
    let e = estimate(&spec(&text), &Options::default());
    let primary = &e.regions[0];
    assert!(primary.items.iter().all(|i| !i.name.contains("staging")));
    let alb = primary
        .items
        .iter()
        .find(|i| i.name == "ALB hours")
        .unwrap();
    assert_eq!(alb.quantity, 730.0);
    // 40 × (1 + 10 + 2 × 10) = 1,240 − 100 free = 1,140 × $0.002 = 2.28.
    let pipeline = &e.global[1];
    assert_eq!((pipeline.quantity, pipeline.cents()), (1240.0, 228));
    let spot = e
        .savings
        .iter()
        .find(|s| s.option == "spot-staging")
        .unwrap();
    assert_eq!(spot.monthly_saving, 0.0);
}

/// Without an image-count rule, images are pushes a month × days kept / 30.
#[test]
fn images_from_an_age_rule() {
    let text = format!(
        "{MINIMAL}[[registry.lifecycle]]\npriority = 1\ndescription = \"Expire after 45 days\"\n\
         tag_status = \"any\"\ncount_type = \"since_image_pushed\"\ncount = 45\n"
    );
    let e = estimate(&spec(&text), &Options::default());
    // 40 × 45 / 30 = 60 images × 0.1 GB = 6 GB × $0.10 = 0.60.
    assert_eq!(e.assumptions.images, Some(60));
    let ecr = e.regions[0]
        .items
        .iter()
        .find(|i| i.name == "ECR storage")
        .unwrap();
    assert_eq!((ecr.quantity, ecr.cents()), (6.0, 60));
}

#[test]
fn json_names_sources_and_assumptions() {
    let e = estimate(&spec(MINIMAL), &Options::default());
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["prices"]["gathered"], "2026-11-25");
    assert_eq!(json["assumptions"]["nat_gb"], 20.0);
    assert_eq!(json["total"], 258.82);
    assert_eq!(json["regions"][0]["items"][0]["price"], "fargate-x86-vcpu");
    assert_eq!(json["seed"]["low"], 100.0);
    let ids: Vec<&str> = json["prices"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    for region in json["regions"].as_array().unwrap() {
        for item in region["items"].as_array().unwrap() {
            assert!(ids.contains(&item["price"].as_str().unwrap()));
        }
    }
}

#[test]
fn bad_options_are_refused() {
    assert!(haven_cost::parse_nat("per-az").is_ok());
    assert!(haven_cost::parse_nat("two").is_err());
    let bad = Assumptions {
        nat_gb: -1.0,
        ..Assumptions::default()
    };
    assert!(bad.validate().is_err());
    let bad = Assumptions {
        spot_discount_percent: 100.0,
        ..Assumptions::default()
    };
    assert!(bad.validate().is_err());
    assert!(Assumptions::default().validate().is_ok());
}
