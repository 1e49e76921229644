//! `haven aws destroy`: deletes the stacks in the reverse of the deploy order, waiting for each.
//!
//! CloudFormation refuses to delete a bucket that holds objects. ECR repositories need nothing:
//! haven's templates set `EmptyOnDelete`, so CloudFormation deletes their images with them.
//! With `force`, before a stack is deleted, each bucket it created is emptied (every object
//! version and delete marker), and the SSM SecureString parameters `haven aws secret set`
//! created are deleted at the end.

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
    for s in bundle.select(regions)?.into_iter().rev() {
        let cf = aws.cloudformation(&s.region);
        let Some(state) = cfn::describe(&cf, &s.region, &s.name).await? else {
            report.absent.push(s.name.clone());
            continue;
        };
        progress(Event::Stack {
            stack: s.name.clone(),
            region: s.region.clone(),
            what: "deleting".into(),
        });
        let mut emptied = Vec::new();
        if force {
            for bucket in buckets(&cf, &s.region, &s.name, &state.id).await? {
                progress(Event::Note {
                    stack: Some(s.name.clone()),
                    message: format!("emptying the bucket {bucket}"),
                    warning: false,
                });
                s3::empty_bucket(aws, &s.region, &bucket).await?;
                emptied.push(bucket);
            }
        }
        cfn::delete_stack(&cf, &s.region, &s.name, options, progress)
            .await
            .map_err(|e| match e {
                Error::StackFailed {
                    stack,
                    region,
                    status,
                    resource,
                    reason,
                } if !force && reason.contains("not empty") => Error::StackFailed {
                    stack,
                    region,
                    status,
                    resource,
                    reason: format!("{reason} (--force empties haven's buckets first)"),
                },
                e => e,
            })?;
        report.deleted.push(DeletedStack {
            stack: s.name.clone(),
            region: s.region.clone(),
            emptied,
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

/// The physical names of the stack's S3 buckets.
async fn buckets(
    cf: &aws_sdk_cloudformation::Client,
    region: &str,
    stack: &str,
    stack_id: &str,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cf
            .list_stack_resources()
            .stack_name(stack_id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| cfn::call_error(Some(stack), region, "ListStackResources", e))?;
        out.extend(
            page.stack_resource_summaries()
                .iter()
                .filter(|r| r.resource_type() == Some("AWS::S3::Bucket"))
                .filter(|r| {
                    r.resource_status()
                        .is_none_or(|s| !s.as_str().starts_with("DELETE"))
                })
                .filter_map(|r| r.physical_resource_id().map(str::to_owned)),
        );
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(out),
        }
    }
}
