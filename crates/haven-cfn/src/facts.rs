//! Facts about AWS that the templates depend on and that no API gives a template.

use crate::iam::Principal;
use crate::model::Expr;

/// Elastic Load Balancing's log-delivery accounts for the regions that opened before August
/// 2022 (from the ELB access-log documentation). Newer regions deliver as the service principal
/// `logdelivery.elasticloadbalancing.amazonaws.com` instead.
const ELB_LOG_ACCOUNTS: &[(&str, &str)] = &[
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-northeast-1", "582318560864"),
    ("ap-northeast-2", "600734575887"),
    ("ap-northeast-3", "383597477331"),
    ("ap-south-1", "718504428378"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-southeast-3", "589379963580"),
    ("ca-central-1", "985666609251"),
    ("eu-central-1", "054676820928"),
    ("eu-north-1", "897822967062"),
    ("eu-south-1", "635631232127"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-west-3", "009996457667"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
];

/// Who writes ALB access logs into a bucket in `region`.
pub fn elb_log_principal(region: &str) -> Principal {
    match ELB_LOG_ACCOUNTS.iter().find(|(r, _)| *r == region) {
        Some((_, account)) => Principal::Aws(vec![Expr::Sub(format!(
            "arn:${{AWS::Partition}}:iam::{account}:root"
        ))]),
        None => Principal::Service(vec![
            "logdelivery.elasticloadbalancing.amazonaws.com".to_owned(),
        ]),
    }
}

/// The TLS policy of HTTPS listeners: TLS 1.3 and 1.2 only, forward secrecy.
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// The header that sends a request to the new (green) tasks during a blue/green deployment.
pub const TEST_HEADER: &str = "X-Haven-Test";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_regions_use_accounts_newer_ones_the_service_principal() {
        assert!(matches!(elb_log_principal("us-east-1"), Principal::Aws(_)));
        assert!(matches!(
            elb_log_principal("eu-central-2"),
            Principal::Service(_)
        ));
    }
}
