//! `haven aws destroy`: deletes the stacks in the reverse of the deploy order, waiting for each.
//!
//! CloudFormation refuses to delete a bucket that holds objects. ECR repositories need nothing:
//! haven's templates set `EmptyOnDelete`, so CloudFormation deletes their images with them.
//! With `force`, before a stack is deleted, each bucket it created is emptied (every object
//! version and delete marker), and the SSM SecureString parameters `haven aws secret set`
//! created are deleted at the end.
//!
//! A deletion that fails because something still uses one of the stack's resources is tried
//! again after a wait, a bounded number of times ([`Backoff`]): the stack deleted just before
//! may be gone from CloudFormation while AWS still releases what it used (a Fargate task's
//! network interface stays in its subnets and security group for a while after its service is
//! deleted), and CloudFormation's own answer to a `DELETE_FAILED` stack is to delete it again.

use std::time::Duration;

use serde::Serialize;

use crate::{Aws, Bundle, Error, Event, Options, Progress, cfn, s3, secrets};

#[derive(Debug, Serialize)]
pub struct DestroyReport {
    /// Deleted stacks, in the order they were deleted.
    pub deleted: Vec<DeletedStack>,
    /// Stacks that did not exist.
    pub absent: Vec<String>,
    /// SSM parameters deleted (with `force`) or left in place (without).
    pub secrets_deleted: Vec<String>,
    pub secrets_left: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DeletedStack {
    pub stack: String,
    pub region: String,
    /// Buckets emptied first (with `force`).
    pub emptied: Vec<String>,
    /// How many times the deletion was started again after a refusal that waiting cures.
    pub retries: u32,
}

/// Why a stack's deletion failed, read once from AWS's error code or the failed resource's
/// reason (free text, so this is the one place that reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Something still uses one of the stack's resources: a VPC with subnets or network
    /// interfaces, a security group an interface still names, a target group a listener still
    /// forwards to, a role still attached. It goes away once its user does.
    InUse,
    /// A bucket holds objects (again: ALB access logs arrive minutes after the request).
    BucketNotEmpty,
    /// Anything else: waiting would not change it.
    Other,
}

/// How AWS words "in use": EC2's `DependencyViolation` (VPC, subnet, security group, internet
/// gateway with mapped addresses), ELB's `ResourceInUse`, IAM's `DeleteConflict`, ECS's
/// clusters with services or tasks still active.
const IN_USE: &[&str] = &[
    "DependencyViolation",
    "has dependencies and cannot be deleted",
    "has a dependent object",
    "ResourceInUse",
    "is currently in use",
    "DeleteConflict",
    "has some mapped public address",
    "cannot be deleted while",
    "ClusterContainsServicesException",
    "ClusterContainsTasksException",
];

/// How S3 words a bucket that still holds objects (the code, and CloudFormation's reason).
const NOT_EMPTY: &[&str] = &["BucketNotEmpty", "you tried to delete is not empty"];

impl Refusal {
    /// The refusal behind a failed deletion: the code of a refused call, or the reason of the
    /// first resource that failed.
    pub fn of(err: &Error) -> Self {
        let texts: [&str; 2] = match err {
            Error::Call { code, message, .. } => [code.as_deref().unwrap_or_default(), message],
            Error::StackFailed { reason, .. } => [reason, ""],
            _ => return Self::Other,
        };
        let says = |phrases: &[&str]| texts.iter().any(|t| phrases.iter().any(|p| t.contains(p)));
        if says(NOT_EMPTY) {
            Self::BucketNotEmpty
        } else if says(IN_USE) {
            Self::InUse
        } else {
            Self::Other
        }
    }
}

/// The waits before each new attempt at a refused deletion: `first`, doubling, at most `max`
/// each, `retries` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub retries: u32,
}

impl Backoff {
    /// Scaled from the run's longest poll interval: with the default 5 s, waits of 10 s, 20 s,
    /// 40 s and then 60 s, eight in all (6 minutes and 10 seconds), which covers the minutes a
    /// Fargate task's network interface takes to be released; the tests' fast polls make fast
    /// retries.
    pub fn for_options(options: &Options) -> Self {
        Self {
            first: options.max_poll * 2,
            max: options.max_poll * 12,
            retries: 8,
        }
    }

    /// The wait before retry `n` (0 for the first).
    pub fn wait(&self, n: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(n))
            .min(self.max)
    }
}

/// The stacks that exist, in the order `destroy` would delete them: (name, region, status).
pub async fn survey(
    aws: &Aws,
    bundle: &Bundle,
    regions: &[String],
) -> Result<Vec<(String, String, String)>, Error> {
    let mut out = Vec::new();
    for s in bundle.select(regions)?.into_iter().rev() {
        let cf = aws.cloudformation(&s.region);
        if let Some(state) = cfn::describe(&cf, &s.region, &s.name).await? {
            out.push((s.name.clone(), s.region.clone(), state.status));
        }
    }
    Ok(out)
}

/// Deletes every selected stack (all regions when `regions` is empty), last deployed first.
pub async fn destroy(
    aws: &Aws,
    bundle: &Bundle,
    regions: &[String],
    force: bool,
    options: &Options,
    progress: Progress<'_>,
) -> Result<DestroyReport, Error> {
    let mut report = DestroyReport {
        deleted: Vec::new(),
        absent: Vec::new(),
        secrets_deleted: Vec::new(),
        secrets_left: Vec::new(),
    };
    let backoff = Backoff::for_options(options);
    for s in bundle.select(regions)?.into_iter().rev() {
        let cf = aws.cloudformation(&s.region);
        if cfn::describe(&cf, &s.region, &s.name).await?.is_none() {
            report.absent.push(s.name.clone());
            continue;
        }
        progress(Event::Stack {
            stack: s.name.clone(),
            region: s.region.clone(),
            what: "deleting".into(),
        });
        let mut emptied: Vec<String> = Vec::new();
        let retries = with_retries(&s.name, force, &backoff, progress, async || {
            // Each attempt looks again: the stack may have gone meanwhile, and a bucket may
            // have received objects since it was emptied.
            let Some(state) = cfn::describe(&cf, &s.region, &s.name).await? else {
                return Ok(());
            };
            if force {
                for bucket in buckets(aws, &s.region, &state.id).await? {
                    progress(Event::Note {
                        stack: Some(s.name.clone()),
                        message: format!("emptying the bucket {bucket}"),
                        warning: false,
                    });
                    s3::empty_bucket(aws, &s.region, &bucket).await?;
                    if !emptied.contains(&bucket) {
                        emptied.push(bucket);
                    }
                }
            }
            cfn::delete_stack(&cf, &s.region, &s.name, options, progress).await
        })
        .await?;
        report.deleted.push(DeletedStack {
            stack: s.name.clone(),
            region: s.region.clone(),
            emptied,
            retries,
        });
    }
    for secret in &bundle.secrets {
        for region in secret
            .regions
            .iter()
            .filter(|r| regions.is_empty() || regions.contains(r))
        {
            let label = format!("{} ({region})", secret.parameter);
            if !secrets::exists(aws, region, &secret.parameter).await? {
                continue;
            }
            if force {
                secrets::delete(aws, region, &secret.parameter).await?;
                report.secrets_deleted.push(label);
            } else {
                report.secrets_left.push(label);
            }
        }
    }
    Ok(report)
}

/// Runs `attempt` (one deletion of `stack`) until it succeeds, fails with a refusal that waiting
/// does not cure, or the retries are spent; reports each wait. Returns the number of retries.
async fn with_retries(
    stack: &str,
    force: bool,
    backoff: &Backoff,
    progress: Progress<'_>,
    mut attempt: impl AsyncFnMut() -> Result<(), Error>,
) -> Result<u32, Error> {
    let mut retries = 0;
    let mut waited = Duration::ZERO;
    loop {
        let err = match attempt().await {
            Ok(()) => return Ok(retries),
            Err(e) => e,
        };
        let refusal = Refusal::of(&err);
        let why = match refusal {
            Refusal::InUse => "something still uses one of its resources",
            // Emptying again cures it; without --force nothing empties the bucket.
            Refusal::BucketNotEmpty if force => "a bucket received objects after it was emptied",
            Refusal::BucketNotEmpty | Refusal::Other => {
                return Err(explain(err, refusal, force, retries, waited));
            }
        };
        if retries >= backoff.retries {
            return Err(explain(err, refusal, force, retries, waited));
        }
        let wait = backoff.wait(retries);
        retries += 1;
        progress(Event::Note {
            stack: Some(stack.to_owned()),
            message: format!(
                "not deleted yet, {why} ({}); deleting it again in {} (retry {retries} of {})",
                cause(&err),
                seconds(wait),
                backoff.retries
            ),
            warning: false,
        });
        tokio::time::sleep(wait).await;
        waited += wait;
    }
}

/// What AWS said, without the stack's name (the note already names it).
fn cause(err: &Error) -> String {
    match err {
        Error::StackFailed {
            resource, reason, ..
        } => match resource {
            Some(r) => format!("{r}: {reason}"),
            None => reason.clone(),
        },
        Error::Call { code, message, .. } => match code {
            Some(c) => format!("{c}: {message}"),
            None => message.clone(),
        },
        other => other.to_string(),
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The final error, with what the user can do about it.
fn explain(err: Error, refusal: Refusal, force: bool, retries: u32, waited: Duration) -> Error {
    let hint = match refusal {
        Refusal::BucketNotEmpty if !force => " (--force empties haven's buckets first)".to_owned(),
        _ if retries > 0 => format!(
            " (still refused after {retries} retries over {}; run destroy again once it is \
             released)",
            seconds(waited)
        ),
        _ => return err,
    };
    match err {
        Error::StackFailed {
            stack,
            region,
            status,
            resource,
            reason,
        } => Error::StackFailed {
            stack,
            region,
            status,
            resource,
            reason: format!("{reason}{hint}"),
        },
        Error::Call {
            stack,
            region,
            action,
            code,
            message,
        } => Error::Call {
            stack,
            region,
            action,
            code,
            message: format!("{message}{hint}"),
        },
        other => other,
    }
}

/// The physical names of the stack's S3 buckets that are not deleted yet (a bucket whose
/// deletion failed is listed: it is the one to empty again).
async fn buckets(aws: &Aws, region: &str, stack_id: &str) -> Result<Vec<String>, Error> {
    Ok(crate::live::stack_resources(aws, region, stack_id)
        .await?
        .into_iter()
        .filter(|r| r.resource_type == "AWS::S3::Bucket" && !r.deleted)
        .filter_map(|r| r.physical_id)
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn failed(resource: Option<&str>, reason: &str) -> Error {
        Error::StackFailed {
            stack: "hello-us-west-2-network".into(),
            region: "us-west-2".into(),
            status: "DELETE_FAILED".into(),
            resource: resource.map(Into::into),
            reason: reason.into(),
        }
    }

    fn refused(code: &str, message: &str) -> Error {
        Error::Call {
            stack: Some("hello-us-west-2-network".into()),
            region: "us-west-2".into(),
            action: "DeleteStack",
            code: Some(code.into()),
            message: message.into(),
        }
    }

    /// Reasons as CloudFormation's stack events and the services' error answers give them.
    #[test]
    fn refusals_are_read_from_aws_words() {
        let cases = [
            (
                failed(
                    Some("Vpc (AWS::EC2::VPC)"),
                    "The vpc 'vpc-0c57f723328b34c65' has dependencies and cannot be deleted. \
                     (Service: AmazonEC2; Status Code: 400; Error Code: DependencyViolation; \
                     Request ID: 59823552-e4cd-4a9f-88b2-06795e25531a)",
                ),
                Refusal::InUse,
            ),
            (
                failed(
                    Some("TaskSecurityGroup (AWS::EC2::SecurityGroup)"),
                    "Resource handler returned message: \"resource sg-0a1b2c3d4e5f60718 has a \
                     dependent object (Service: Ec2, Status Code: 400, Request ID: \
                     0f3e1c2a-7f0e-4c55-9a43-5d1c1b0f9e21)\" (RequestToken: \
                     5d0c3c1e-1111-2222-3333-444455556666, HandlerErrorCode: \
                     GeneralServiceException)",
                ),
                Refusal::InUse,
            ),
            (
                failed(
                    Some("PrivateSubnet1 (AWS::EC2::Subnet)"),
                    "The subnet 'subnet-4de64215' has dependencies and cannot be deleted.",
                ),
                Refusal::InUse,
            ),
            (
                failed(
                    Some("GatewayAttachment (AWS::EC2::VPCGatewayAttachment)"),
                    "Network vpc-b1a910d5 has some mapped public address(es). Please unmap \
                     those public address(es) before detaching the gateway.",
                ),
                Refusal::InUse,
            ),
            (
                failed(
                    Some("ProductionBlue (AWS::ElasticLoadBalancingV2::TargetGroup)"),
                    "Target group 'arn:aws:elasticloadbalancing:us-west-2:123456789012:\
                     targetgroup/hello-b/0123456789abcdef' is currently in use by a listener \
                     or a rule (Service: ElasticLoadBalancingV2, Status Code: 400)",
                ),
                Refusal::InUse,
            ),
            (
                failed(
                    Some("Cluster (AWS::ECS::Cluster)"),
                    "The Cluster cannot be deleted while Services are active. (Service: \
                     AmazonECS; Status Code: 400; Error Code: ClusterContainsServicesException)",
                ),
                Refusal::InUse,
            ),
            (
                refused(
                    "DependencyViolation",
                    "The vpc vpc-d345786fe8831b588 has dependencies and cannot be deleted.",
                ),
                Refusal::InUse,
            ),
            (
                failed(
                    Some("LogBucket (AWS::S3::Bucket)"),
                    "The bucket you tried to delete is not empty (Service: Amazon S3; Status \
                     Code: 409; Error Code: BucketNotEmpty)",
                ),
                Refusal::BucketNotEmpty,
            ),
            (
                failed(
                    Some("Key (AWS::KMS::Key)"),
                    "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: \
                     kms:ScheduleKeyDeletion",
                ),
                Refusal::Other,
            ),
            (refused("ValidationError", "Stack is busy"), Refusal::Other),
        ];
        for (err, want) in cases {
            assert_eq!(Refusal::of(&err), want, "{err}");
        }
    }

    #[test]
    fn the_waits_double_up_to_their_cap() {
        let b = Backoff::for_options(&Options::default());
        let waits: Vec<u64> = (0..b.retries).map(|n| b.wait(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 60, 60, 60, 60, 60]);
        assert_eq!(waits.iter().sum::<u64>(), 370);
        assert_eq!(b.wait(u32::MAX), b.max);
    }

    struct Run {
        result: Result<u32, String>,
        attempts: usize,
        notes: Vec<String>,
    }

    /// Runs `with_retries` over attempts that answer `answers` in turn (then succeed).
    fn run(force: bool, retries: u32, answers: Vec<Error>) -> Run {
        let notes = Mutex::new(Vec::new());
        let progress = |e: Event| {
            if let Event::Note { message, .. } = e {
                notes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(message);
            }
        };
        let backoff = Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
            retries,
        };
        let mut answers = answers.into_iter();
        let mut attempts = 0;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let result = runtime.block_on(with_retries(
            "hello-us-west-2-network",
            force,
            &backoff,
            &progress,
            async || {
                attempts += 1;
                answers.next().map_or(Ok(()), Err)
            },
        ));
        Run {
            result: result.map_err(|e| e.to_string()),
            attempts,
            notes: notes.into_inner().unwrap_or_else(|p| p.into_inner()),
        }
    }

    fn vpc_in_use() -> Error {
        failed(
            Some("Vpc (AWS::EC2::VPC)"),
            "The vpc 'vpc-1' has dependencies and cannot be deleted.",
        )
    }

    #[test]
    fn a_stack_in_use_is_deleted_again_after_each_reported_wait() {
        let r = run(false, 8, vec![vpc_in_use(), vpc_in_use()]);
        assert_eq!(r.result, Ok(2));
        assert_eq!(r.attempts, 3);
        assert_eq!(
            r.notes,
            [
                "not deleted yet, something still uses one of its resources (Vpc \
                 (AWS::EC2::VPC): The vpc 'vpc-1' has dependencies and cannot be deleted.); \
                 deleting it again in 0.0 s (retry 1 of 8)",
                "not deleted yet, something still uses one of its resources (Vpc \
                 (AWS::EC2::VPC): The vpc 'vpc-1' has dependencies and cannot be deleted.); \
                 deleting it again in 0.0 s (retry 2 of 8)",
            ]
        );
    }

    #[test]
    fn the_retries_are_bounded_and_the_error_says_so() {
        let r = run(false, 2, vec![vpc_in_use(), vpc_in_use(), vpc_in_use()]);
        assert_eq!(r.attempts, 3);
        assert_eq!(r.notes.len(), 2);
        let err = r.result.unwrap_err();
        assert!(
            err.contains("has dependencies and cannot be deleted. (still refused after 2 retries"),
            "{err}"
        );
    }

    #[test]
    fn only_refusals_that_waiting_cures_are_retried() {
        let not_empty = || {
            failed(
                Some("LogBucket (AWS::S3::Bucket)"),
                "The bucket you tried to delete is not empty",
            )
        };
        // Without --force nothing empties the bucket: no retry, and the hint.
        let r = run(false, 8, vec![not_empty()]);
        assert_eq!(r.attempts, 1);
        assert!(
            r.result
                .unwrap_err()
                .ends_with("is not empty (--force empties haven's buckets first)")
        );
        // With --force the next attempt empties it again.
        let r = run(true, 8, vec![not_empty()]);
        assert_eq!((r.result, r.attempts), (Ok(1), 2));
        assert!(r.notes[0].starts_with("not deleted yet, a bucket received objects"));
        // Anything else stops at once, unchanged.
        let r = run(true, 8, vec![refused("AccessDenied", "not authorized")]);
        assert_eq!(r.attempts, 1);
        assert!(r.notes.is_empty());
        assert!(
            r.result
                .unwrap_err()
                .ends_with("(AccessDenied): not authorized")
        );
    }
}
