//! The figures an estimate needs that a spec does not hold (traffic, build habits, image sizes),
//! with defaults for a small service; each can be overridden, and the output shows them all.

use serde::Serialize;

use crate::CostError;

/// Usage the spec cannot know. Per region unless a field says otherwise; per month throughout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumptions {
    /// GB through a region's NAT gateways: ECR API calls, CloudWatch Logs, SSM and the service's
    /// own outbound calls. Image layers come from S3 through the free gateway endpoint.
    pub nat_gb: f64,
    /// GB of logs ingested by CloudWatch Logs in a region: tasks, builds, VPC flow logs.
    pub log_gb: f64,
    /// Average LCUs of a production ALB. 1 LCU is 25 new connections/s or 1 GB/h, more than a
    /// small service uses, so this errs high.
    pub alb_lcu: f64,
    /// Average LCUs of the staging ALB: health checks and the odd test, a tenth of production.
    pub staging_alb_lcu: f64,
    /// Pipeline runs, one per push to the followed branch (about two a working day).
    pub builds_per_month: u32,
    /// CodeBuild minutes per run: the Build and Release projects and the repository mirror.
    pub build_minutes: f64,
    /// Minutes of one ECS deploy action: rollout, health checks and bake time.
    pub deploy_minutes: f64,
    /// GB of ECR storage per image (layers shared between images are stored once).
    pub image_gb: f64,
    /// Images kept per repository. `None`: from the lifecycle rules (see [`Assumptions::images`]).
    pub images: Option<u32>,
    /// Fargate Spot's discount on on-demand, in percent: the low end of the 50-70 % seen, so the
    /// saving is not overstated.
    pub spot_discount_percent: f64,
    /// SNS e-mails for the whole account: alarms, approvals, pipeline failures.
    pub sns_emails: u32,
}

impl Default for Assumptions {
    fn default() -> Self {
        Self {
            nat_gb: 20.0,
            log_gb: 5.0,
            alb_lcu: 1.0,
            staging_alb_lcu: 0.1,
            builds_per_month: 40,
            build_minutes: 10.0,
            deploy_minutes: 10.0,
            image_gb: 0.1,
            images: None,
            spot_discount_percent: 50.0,
            sns_emails: 100,
        }
    }
}

impl Assumptions {
    /// Checks every figure is usable: finite, not negative, a discount below 100 %.
    pub fn validate(&self) -> Result<(), CostError> {
        for (name, value) in [
            ("nat_gb", self.nat_gb),
            ("log_gb", self.log_gb),
            ("alb_lcu", self.alb_lcu),
            ("staging_alb_lcu", self.staging_alb_lcu),
            ("build_minutes", self.build_minutes),
            ("deploy_minutes", self.deploy_minutes),
            ("image_gb", self.image_gb),
            ("spot_discount_percent", self.spot_discount_percent),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(CostError::Assumption { name, value });
            }
        }
        if self.spot_discount_percent >= 100.0 {
            return Err(CostError::SpotDiscount(self.spot_discount_percent));
        }
        Ok(())
    }
}
