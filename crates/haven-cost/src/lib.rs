//! `haven cost`: a month of a spec's two-region AWS architecture, priced line by line from a
//! built-in, dated and sourced price table, beside the seed's own estimate, with the saving each
//! cost option (ARM64 tasks, Fargate Spot for staging, single or per-AZ NAT) brings.
//!
//! It counts what `haven synth` deploys: per region, Fargate at the minimum task counts (staging
//! in the primary only), an ALB per environment, NAT gateways, public IPv4 addresses, ECR,
//! CloudWatch; account-wide, the Route 53 health checks, the pipeline and SNS. Usage the spec
//! cannot know (traffic, builds, log volume) comes from [`Assumptions`].

mod assumptions;
mod estimate;
pub mod prices;

pub use assumptions::Assumptions;
pub use estimate::{
    Applied, Category, Estimate, LineItem, Options, PriceTable, RegionCost, Saving, SeedCategory,
    SeedComparison, SeedRegion, Verdict, dollars, estimate, num, unit_dollars,
};
use haven_spec::model::NatMode;

/// Why options cannot be priced.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("`{0}` is not a NAT mode: use `single` or `per-az`")]
    NatMode(String),
    #[error("{name} must be a number at least 0, not {value}")]
    Assumption { name: &'static str, value: f64 },
    #[error("the Spot discount is a percentage below 100, not {0}")]
    SpotDiscount(f64),
}

/// `single` or `per-az`, as `regions[].nat` spells them.
pub fn parse_nat(text: &str) -> Result<NatMode, CostError> {
    match text {
        "single" => Ok(NatMode::Single),
        "per-az" => Ok(NatMode::PerAz),
        other => Err(CostError::NatMode(other.to_owned())),
    }
}
