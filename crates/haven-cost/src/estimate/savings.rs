//! What each cost option saves: the same estimate priced with the option and without it.

use haven_spec::Spec;
use haven_spec::model::{Architecture, NatMode};
use serde::Serialize;

use super::items::{price, sum};
use super::money::{cents_to_dollars, to_cents};
use super::{Choices, ordered};
use crate::assumptions::Assumptions;

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

pub(super) fn savings(spec: &Spec, c: Choices, a: &Assumptions) -> Vec<Saving> {
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
