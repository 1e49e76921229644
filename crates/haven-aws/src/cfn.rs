//! CloudFormation calls shared by plan, deploy, status and destroy: describing stacks, reading
//! new stack events, waiting for a stack or a change set to settle, and turning SDK errors into
//! [`Error`]s that name the stack.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::ChangeSetStatus;

use crate::plan::ResourceChange;
use crate::{Error, Event, Options, Progress};

/// A stack as DescribeStacks shows it.
#[derive(Debug, Clone)]
pub(crate) struct StackState {
    pub id: String,
    pub status: String,
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    pub updated: Option<String>,
}

/// An SDK error as an [`Error::Call`]: the service's code and message when it answered, the
/// whole error chain otherwise (connection refused, timeout, ...).
pub(crate) fn call_error<E>(
    stack: Option<&str>,
    region: &str,
    action: &'static str,
    err: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().map(str::to_owned);
    let message = match (err.message(), &err) {
        (Some(m), _) => m.to_owned(),
        // An answer the SDK could not read (an emulator's HTML error page, say): its status
        // says more than the parser's complaint.
        (None, SdkError::ServiceError(e)) => format!(
            "HTTP {} with no error the SDK could read",
            e.raw().status().as_u16()
        ),
        (None, _) => DisplayErrorContext(&err).to_string(),
    };
    Error::Call {
        stack: stack.map(str::to_owned),
        region: region.to_owned(),
        action,
        code,
        message,
    }
}

fn does_not_exist<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("ValidationError") && err.message().is_some_and(|m| m.contains("not exist"))
}

/// The stack, or `None` when it does not exist (or was deleted). `name` may be a stack id.
pub(crate) async fn describe(
    cf: &Client,
    region: &str,
    name: &str,
) -> Result<Option<StackState>, Error> {
    let out = match cf.describe_stacks().stack_name(name).send().await {
        Ok(out) => out,
        Err(e) if does_not_exist(&e) => return Ok(None),
        Err(e) => return Err(call_error(Some(name), region, "DescribeStacks", e)),
    };
    let Some(s) = out.stacks().first() else {
        return Ok(None);
    };
    let status = s
        .stack_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    if status == "DELETE_COMPLETE" {
        return Ok(None);
    }
    Ok(Some(StackState {
        id: s.stack_id().unwrap_or(name).to_owned(),
        status,
        reason: s.stack_status_reason().map(str::to_owned),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
        updated: s
            .last_updated_time()
            .or(s.creation_time())
            .map(|t| t.to_string()),
    }))
}

/// One stack event, oldest first in the lists below.
#[derive(Debug, Clone)]
pub(crate) struct StackEvent {
    pub id: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// The id of the stack's newest event: later events are the ones an operation caused.
pub(crate) async fn newest_event(
    cf: &Client,
    region: &str,
    stack: &str,
) -> Result<Option<String>, Error> {
    match cf.describe_stack_events().stack_name(stack).send().await {
        Ok(out) => Ok(out
            .stack_events()
            .first()
            .and_then(|e| e.event_id())
            .map(str::to_owned)),
        Err(e) if does_not_exist(&e) => Ok(None),
        Err(e) => Err(call_error(Some(stack), region, "DescribeStackEvents", e)),
    }
}

/// Events newer than `after` (all when `None`), oldest first.
async fn events_after(
    cf: &Client,
    region: &str,
    stack: &str,
    after: Option<&str>,
) -> Result<Vec<StackEvent>, Error> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    'pages: loop {
        let page = match cf
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(token.take())
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if does_not_exist(&e) => break,
            Err(e) => return Err(call_error(Some(stack), region, "DescribeStackEvents", e)),
        };
        for e in page.stack_events() {
            let id = e.event_id().unwrap_or_default();
            if Some(id) == after {
                break 'pages;
            }
            out.push(StackEvent {
                id: id.to_owned(),
                logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: e.resource_type().unwrap_or_default().to_owned(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().map(str::to_owned),
            });
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    out.reverse();
    Ok(out)
}

/// True while CloudFormation is still working on the stack.
pub(crate) fn in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS")
}

/// A final status that means the last operation failed (and, on AWS, was rolled back).
pub(crate) fn failed(status: &str) -> bool {
    status.contains("FAILED") || status.contains("ROLLBACK")
}

/// Waits until the stack settles, reporting each new event. Returns the final state, or `None`
/// when the stack is gone (deleted). A failed final status is an [`Error::StackFailed`] naming
/// the first resource that failed.
pub(crate) async fn wait_stack(
    cf: &Client,
    region: &str,
    stack: &str,
    stack_id: &str,
    mut marker: Option<String>,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Option<StackState>, Error> {
    let start = Instant::now();
    let mut poll = options.first_poll;
    let mut seen = Vec::new();
    loop {
        // Events first: the status read after them is at least as new.
        let events = events_after(cf, region, stack_id, marker.as_deref()).await?;
        if let Some(last) = events.last() {
            marker = Some(last.id.clone());
        }
        for e in &events {
            progress(Event::Resource {
                stack: stack.to_owned(),
                logical_id: e.logical_id.clone(),
                resource_type: e.resource_type.clone(),
                status: e.status.clone(),
                reason: e.reason.clone(),
            });
        }
        seen.extend(events);
        let state = describe(cf, region, stack_id).await?;
        let status = state
            .as_ref()
            .map_or("DELETE_COMPLETE".to_owned(), |s| s.status.clone());
        if !in_progress(&status) {
            progress(Event::Done {
                stack: stack.to_owned(),
                status: status.clone(),
            });
            if failed(&status) {
                let first = first_failure(&seen);
                return Err(Error::StackFailed {
                    stack: stack.to_owned(),
                    region: region.to_owned(),
                    status,
                    resource: first.map(|e| format!("{} ({})", e.logical_id, e.resource_type)),
                    reason: first
                        .and_then(|e| e.reason.clone())
                        .or_else(|| state.and_then(|s| s.reason))
                        .unwrap_or_else(|| "no reason given".into()),
                });
            }
            return Ok(state);
        }
        if start.elapsed() >= options.stack_timeout {
            return Err(Error::Timeout {
                stack: stack.to_owned(),
                region: region.to_owned(),
                status,
                waited: start.elapsed(),
            });
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(options.max_poll);
    }
}

/// The first resource (not the stack itself) that failed with a reason, in time order: the
/// cause; the failures after it are usually consequences ("Resource creation cancelled").
fn first_failure(events: &[StackEvent]) -> Option<&StackEvent> {
    events.iter().find(|e| {
        e.status.ends_with("_FAILED")
            && e.resource_type != "AWS::CloudFormation::Stack"
            && e.reason.is_some()
    })
}

/// What a change set holds once CloudFormation has computed it.
pub(crate) enum ChangeSetOutcome {
    Changes(Vec<ResourceChange>),
    /// CloudFormation found nothing to change (the change set is FAILED for that reason).
    NoChanges,
}

/// Waits for the change set to be computed and reads all its changes.
pub(crate) async fn wait_change_set(
    cf: &Client,
    region: &str,
    stack: &str,
    change_set_id: &str,
    options: &Options,
) -> Result<ChangeSetOutcome, Error> {
    let start = Instant::now();
    let mut poll = options.first_poll;
    loop {
        let mut changes = Vec::new();
        let mut token: Option<String> = None;
        let status = loop {
            let page = cf
                .describe_change_set()
                .change_set_name(change_set_id)
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| call_error(Some(stack), region, "DescribeChangeSet", e))?;
            let status = page.status().cloned();
            match status {
                Some(ChangeSetStatus::CreateComplete) => {}
                Some(ChangeSetStatus::Failed) => {
                    let reason = page.status_reason().unwrap_or("no reason given").to_owned();
                    if means_no_changes(&reason) {
                        return Ok(ChangeSetOutcome::NoChanges);
                    }
                    return Err(Error::Call {
                        stack: Some(stack.to_owned()),
                        region: region.to_owned(),
                        action: "CreateChangeSet",
                        code: Some("FAILED".into()),
                        message: reason,
                    });
                }
                other => break other,
            }
            changes.extend(page.changes().iter().filter_map(|c| {
                let r = c.resource_change()?;
                Some(ResourceChange {
                    action: r
                        .action()
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    physical_id: r.physical_resource_id().map(str::to_owned),
                    replacement: r.replacement().map(|x| x.as_str().to_owned()),
                })
            }));
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(ChangeSetOutcome::Changes(changes)),
            }
        };
        if start.elapsed() >= options.stack_timeout {
            return Err(Error::Timeout {
                stack: stack.to_owned(),
                region: region.to_owned(),
                status: format!("change set {}", status.as_ref().map_or("?", |s| s.as_str())),
                waited: start.elapsed(),
            });
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(options.max_poll);
    }
}

/// CloudFormation's ways of saying a change set or an update would change nothing.
pub(crate) fn means_no_changes(message: &str) -> bool {
    message.contains("didn't contain changes") || message.contains("No updates are to be performed")
}

/// Deletes a change set; a stack or change set already gone is fine.
pub(crate) async fn delete_change_set(
    cf: &Client,
    region: &str,
    stack: &str,
    change_set_id: &str,
) -> Result<(), Error> {
    match cf
        .delete_change_set()
        .change_set_name(change_set_id)
        .stack_name(stack)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if does_not_exist(&e) || e.code() == Some("ChangeSetNotFound") => Ok(()),
        Err(e) => Err(call_error(Some(stack), region, "DeleteChangeSet", e)),
    }
}

/// Deletes the stack and waits until it is gone.
pub(crate) async fn delete_stack(
    cf: &Client,
    region: &str,
    stack: &str,
    options: &Options,
    progress: Progress<'_>,
) -> Result<(), Error> {
    let Some(state) = describe(cf, region, stack).await? else {
        return Ok(());
    };
    let marker = newest_event(cf, region, &state.id).await?;
    cf.delete_stack()
        .stack_name(&state.id)
        .send()
        .await
        .map_err(|e| call_error(Some(stack), region, "DeleteStack", e))?;
    wait_stack(cf, region, stack, &state.id, marker, options, progress).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        id: &str,
        logical: &str,
        kind: &str,
        status: &str,
        reason: Option<&str>,
    ) -> StackEvent {
        StackEvent {
            id: id.into(),
            logical_id: logical.into(),
            resource_type: kind.into(),
            status: status.into(),
            reason: reason.map(Into::into),
        }
    }

    #[test]
    fn the_first_failed_resource_is_the_cause() {
        let events = [
            event(
                "1",
                "app",
                "AWS::CloudFormation::Stack",
                "UPDATE_IN_PROGRESS",
                None,
            ),
            event(
                "2",
                "Service",
                "AWS::ECS::Service",
                "UPDATE_IN_PROGRESS",
                None,
            ),
            event(
                "3",
                "Rule",
                "AWS::ElasticLoadBalancingV2::ListenerRule",
                "UPDATE_FAILED",
                Some("Priority 1 is in use"),
            ),
            event(
                "4",
                "Service",
                "AWS::ECS::Service",
                "UPDATE_FAILED",
                Some("Resource update cancelled"),
            ),
            event(
                "5",
                "app",
                "AWS::CloudFormation::Stack",
                "UPDATE_ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed to update: [Rule]"),
            ),
        ];
        let first = first_failure(&events).map(|e| e.logical_id.as_str());
        assert_eq!(first, Some("Rule"));
        assert!(first_failure(&events[..2]).is_none());
    }

    #[test]
    fn statuses() {
        for s in [
            "CREATE_IN_PROGRESS",
            "REVIEW_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        ] {
            assert!(in_progress(s), "{s}");
        }
        for s in [
            "ROLLBACK_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "CREATE_FAILED",
            "DELETE_FAILED",
        ] {
            assert!(failed(s) && !in_progress(s), "{s}");
        }
        for s in ["CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE"] {
            assert!(!failed(s) && !in_progress(s), "{s}");
        }
        assert!(means_no_changes(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(means_no_changes("No updates are to be performed."));
    }
}
