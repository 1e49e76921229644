//! The estimate: what `haven synth` would deploy for a spec, counted and priced per region,
//! with the seed's figures beside it and the saving each option brings.
//!
//! `items` counts and prices the line items of each service, `savings` reprices with one option
//! changed, `seed` sets the result beside the seed's own estimate, `notes` says what the figures
//! leave out; the price table is [`crate::prices`], the money and quantity texts `money`.

mod items;
mod money;
mod notes;
mod savings;
mod seed;

use haven_spec::Spec;
use haven_spec::model::{Architecture, Environment, NatMode, Region, Role};
use serde::Serialize;

use crate::assumptions::Assumptions;
use crate::prices::{self, HOURS_PER_MONTH, Price};
use money::{cents_to_dollars, to_cents};
pub use money::{dollars, num, unit_dollars};
pub use savings::Saving;
pub use seed::{SeedCategory, SeedComparison, SeedRegion, Verdict};

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
    let (images, images_note) = items::images(spec, &assumptions);
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
    let (regions, global) = items::price(spec, choices, &assumptions);
    let global_total = items::sum(&global);
    let total = cents_to_dollars(
        regions.iter().map(|r| to_cents(r.total)).sum::<i64>() + to_cents(global_total),
    );
    let savings = savings::savings(spec, choices, &assumptions);
    let seed = seed::seed(
        &regions,
        &global,
        global_total,
        spec.environments.staging.is_some(),
    );
    let mut notes = vec![images_note];
    notes.extend(notes::notes(spec, choices, &assumptions, &regions));
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
