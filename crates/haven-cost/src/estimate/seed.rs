//! The seed's estimate (`architecture.md`, "Cost Estimates") beside this one: per region, per
//! category, and in words.

use serde::Serialize;

use super::money::{cents_to_dollars, dollars};
use super::{Category, LineItem, RegionCost};

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

/// The seed's per-region range and items, from its "Cost Estimates" section.
const SEED_LOW: f64 = 100.0;
const SEED_HIGH: f64 = 150.0;
const SEED_ITEMS: [(&str, Category, f64, f64); 4] = [
    ("Fargate", Category::Fargate, 30.0, 50.0),
    ("ALB", Category::LoadBalancer, 20.0, 30.0),
    ("NAT gateway", Category::Nat, 30.0, 45.0),
    ("ECR", Category::Ecr, 5.0, 10.0),
];

pub(super) fn seed(
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
