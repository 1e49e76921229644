//! The built-in price table: AWS list prices for us-east-1, each with its unit, source and date,
//! copied from the project's checked table (`reference/aws-prices.md`).
//!
//! us-west-2 lists the same prices as us-east-1 for every item here, so one table serves both
//! regions; a region priced differently would need its own column.

use serde::Serialize;

/// Hours in the month AWS bills by (365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// When the table was gathered.
pub const GATHERED: &str = "2026-11-25";

/// What the table covers, for the output's source line.
pub const SCOPE: &str =
    "AWS list prices for us-east-1, on-demand, USD; us-west-2 is priced the same for these items";

/// One price: what it buys, in which unit, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    /// A stable key, used by line items to name their price.
    pub id: &'static str,
    pub item: &'static str,
    pub usd: f64,
    /// What one `usd` buys: "vCPU-hour", "GB-month", ...
    pub unit: &'static str,
    pub source: &'static str,
    /// When the source was published, or when the table was gathered where it gives no date.
    pub date: &'static str,
}

const fn price(
    id: &'static str,
    item: &'static str,
    usd: f64,
    unit: &'static str,
    source: &'static str,
    date: &'static str,
) -> Price {
    Price {
        id,
        item,
        usd,
        unit,
        source,
        date,
    }
}

pub const FARGATE_X86_VCPU: Price = price(
    "fargate-x86-vcpu",
    "Fargate x86_64 vCPU",
    0.04048,
    "vCPU-hour",
    "factualminds, vantage.sh",
    "2026-06",
);
pub const FARGATE_X86_GB: Price = price(
    "fargate-x86-gb",
    "Fargate x86_64 memory",
    0.004445,
    "GB-hour",
    "factualminds, vantage.sh",
    "2026-06",
);
pub const FARGATE_ARM_VCPU: Price = price(
    "fargate-arm-vcpu",
    "Fargate ARM64 (Graviton) vCPU",
    0.03238,
    "vCPU-hour",
    "fortem.dev",
    "2026-06",
);
pub const FARGATE_ARM_GB: Price = price(
    "fargate-arm-gb",
    "Fargate ARM64 (Graviton) memory",
    0.00356,
    "GB-hour",
    "fortem.dev",
    "2026-06",
);
pub const ALB_HOUR: Price = price(
    "alb-hour",
    "Application Load Balancer",
    0.0225,
    "ALB-hour",
    "cloud-horizons.com",
    "2026-05",
);
pub const ALB_LCU: Price = price(
    "alb-lcu",
    "ALB capacity (LCU: 25 new conn/s, 3,000 active conn/min, 1 GB/h, 1,000 rule evals/s)",
    0.008,
    "LCU-hour",
    "cloud-horizons.com",
    "2026-05",
);
pub const NAT_HOUR: Price = price(
    "nat-hour",
    "NAT gateway",
    0.045,
    "gateway-hour",
    "costpatrol.io, cloudburn.io",
    "2026-02",
);
pub const NAT_GB: Price = price(
    "nat-gb",
    "NAT gateway data processed",
    0.045,
    "GB",
    "costpatrol.io, cloudburn.io",
    "2026-02",
);
pub const PUBLIC_IPV4: Price = price(
    "public-ipv4",
    "Public IPv4 address (charged since 2024-02-01)",
    0.005,
    "IP-hour",
    "AWS announcement",
    "2024-02",
);
pub const ECR_STORAGE: Price = price(
    "ecr-storage",
    "ECR storage",
    0.10,
    "GB-month",
    "cloudburn.io",
    "2026-03",
);
pub const CODEPIPELINE_V2_MINUTE: Price = price(
    "codepipeline-v2-minute",
    "CodePipeline V2 action execution (100 free minutes a month; manual approvals not charged)",
    0.002,
    "action-minute",
    "aws.amazon.com/codepipeline/pricing",
    "2026-11-25",
);
pub const CODEBUILD_SMALL_MINUTE: Price = price(
    "codebuild-small-minute",
    "CodeBuild general1.small (100 free minutes a month)",
    0.005,
    "build-minute",
    "c3x.dev",
    "2026-05",
);
pub const CLOUDWATCH_ALARM: Price = price(
    "cloudwatch-alarm",
    "CloudWatch alarm, standard resolution",
    0.10,
    "alarm-month",
    "c3x.dev",
    "2026-11-25",
);
pub const CLOUDWATCH_DASHBOARD: Price = price(
    "cloudwatch-dashboard",
    "CloudWatch dashboard (3 free per account)",
    3.0,
    "dashboard-month",
    "factualminds",
    "2026-06",
);
pub const CLOUDWATCH_LOGS_GB: Price = price(
    "cloudwatch-logs-gb",
    "CloudWatch Logs ingestion (5 GB free per account)",
    0.50,
    "GB",
    "factualminds",
    "2026-06",
);
pub const ROUTE53_HEALTH_CHECK: Price = price(
    "route53-health-check",
    "Route 53 health check on an AWS endpoint (optional features extra)",
    0.50,
    "check-month",
    "AWS Route 53 pricing via wewantcode.com",
    "2026-11-25",
);
pub const SNS_EMAIL: Price = price(
    "sns-email",
    "SNS e-mail notification (1,000 free a month)",
    0.00002,
    "e-mail",
    "SNS pricing ($2 per 100,000)",
    "2026-11-25",
);

/// Fargate Spot has no list price: it floats at about 50-70 % below on-demand (one observed
/// $0.01291 per vCPU-hour, fortem.dev 2026), so it is priced as a discount, an assumption.
pub const SPOT: &str =
    "Fargate Spot: about 50-70 % off on-demand, variable (fortem.dev, 2026); X86_64 tasks only";

/// Free allowances, per account per month.
pub const FREE_CODEPIPELINE_MINUTES: f64 = 100.0;
pub const FREE_CODEBUILD_MINUTES: f64 = 100.0;
pub const FREE_DASHBOARDS: f64 = 3.0;
pub const FREE_LOG_GB: f64 = 5.0;
pub const FREE_SNS_EMAILS: f64 = 1000.0;

/// Every price above, in the order the output lists them.
pub const TABLE: &[Price] = &[
    FARGATE_X86_VCPU,
    FARGATE_X86_GB,
    FARGATE_ARM_VCPU,
    FARGATE_ARM_GB,
    ALB_HOUR,
    ALB_LCU,
    NAT_HOUR,
    NAT_GB,
    PUBLIC_IPV4,
    ECR_STORAGE,
    CODEPIPELINE_V2_MINUTE,
    CODEBUILD_SMALL_MINUTE,
    CLOUDWATCH_ALARM,
    CLOUDWATCH_DASHBOARD,
    CLOUDWATCH_LOGS_GB,
    ROUTE53_HEALTH_CHECK,
    SNS_EMAIL,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_price_is_dated() {
        let mut ids: Vec<_> = TABLE.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TABLE.len());
        for p in TABLE {
            assert!(p.usd > 0.0, "{}", p.id);
            assert!(!p.source.is_empty() && p.date.len() >= 7, "{}", p.id);
        }
    }
}
