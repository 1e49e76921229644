//! The second half of `haven aws deploy`: applies a [`Plan`] stack by stack, in the manifest's
//! order, and reads every stack's outputs.
//!
//! Before each stack its parameters are filled again from the outputs of the stacks deployed
//! just before it. When they differ from the plan's (a producer's output changed, or did not
//! exist at plan time) the change set is made again with them. `Method::ChangeSet` executes the
//! change set; `Method::Direct` deletes it and calls CreateStack or UpdateStack with the same
//! template and parameters. Creation rolls back on failure (`OnFailure: ROLLBACK`), an update
//! rolls back by CloudFormation's default, and the first failure stops the run: later stacks are
//! left as they were and their change sets deleted.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::OnFailure;
use serde::Serialize;

use crate::bundle::StackSpec;
use crate::cfn;
use crate::plan::{self, OutputCache, Resolved, StackAction, StackPlan, Start};
use crate::{Aws, Bundle, Endpoint, Error, Event, Method, Options, Plan, Progress};

/// What a deployment did, with every deployed stack's outputs.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub stacks: Vec<StackResult>,
    /// The ALB URLs and the global endpoint.
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Serialize)]
pub struct StackResult {
    pub stack: String,
    pub region: String,
    pub result: Outcome,
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "no changes",
        }
    }
}

/// Applies the plan. On failure, the change sets of the stacks not reached are deleted.
pub async fn execute(
    aws: &Aws,
    bundle: &Bundle,
    plan: Plan,
    options: &Options,
    progress: Progress<'_>,
) -> Result<DeployReport, Error> {
    let mut cache = OutputCache::new();
    let mut results = Vec::new();
    for (i, entry) in plan.stacks.iter().enumerate() {
        let stack = bundle.stack(&entry.stack).ok_or_else(|| {
            Error::Bundle(format!(
                "the plan names `{}`, the bundle does not",
                entry.stack
            ))
        })?;
        match apply(aws, bundle, stack, entry, options, &mut cache, progress).await {
            Ok(result) => {
                cache.insert(stack.name.clone(), Some(result.outputs.clone()));
                results.push(result);
            }
            Err(e) => {
                // Notes report any failure of this clean-up; the deploy error is what matters.
                plan::discard_from(aws, &plan.stacks[i + 1..], options, progress).await;
                return Err(e);
            }
        }
    }
    let outputs = results
        .iter()
        .map(|r| (r.stack.clone(), r.outputs.clone()))
        .collect();
    Ok(DeployReport {
        endpoints: bundle.endpoints(&outputs),
        stacks: results,
    })
}

async fn apply(
    aws: &Aws,
    bundle: &Bundle,
    stack: &StackSpec,
    entry: &StackPlan,
    options: &Options,
    cache: &mut OutputCache,
    progress: Progress<'_>,
) -> Result<StackResult, Error> {
    let cf = aws.cloudformation(&stack.region);
    let state = cfn::describe(&cf, &stack.region, &stack.name).await?;
    let start = plan::start(stack, state.as_ref())?;
    let params = match plan::resolve(aws, bundle, stack, state.as_ref(), options, cache).await? {
        Ok(p) => p,
        Err(why) => {
            discard_entry(&cf, entry).await?;
            return Err(why.into_error(&stack.name));
        }
    };
    // The stack's id when it exists, for reading its outputs back.
    let known_id = state.as_ref().map(|s| s.id.clone());
    let unchanged_params = entry.parameters.as_ref() == Some(&params);
    if entry.action == StackAction::NoChanges && unchanged_params {
        return finish(&cf, stack, known_id, Outcome::Unchanged, progress).await;
    }

    if matches!(start, Start::Recreate) {
        progress(Event::Note {
            stack: Some(stack.name.clone()),
            message: "its creation failed before: deleting it to create it again".into(),
            warning: false,
        });
        cfn::delete_stack(&cf, &stack.region, &stack.name, options, progress).await?;
    }
    let create = !matches!(start, Start::Update);
    let outcome = if create {
        Outcome::Created
    } else {
        Outcome::Updated
    };

    // The change set shown still holds when it was made with the same parameters.
    let mut change_set = entry.change_set.clone().filter(|_| unchanged_params);
    if change_set.is_none() {
        discard_entry(&cf, entry).await?;
        if options.method == Method::ChangeSet {
            if entry.change_set.is_some() {
                progress(Event::Note {
                    stack: Some(stack.name.clone()),
                    message: "its inputs changed since the plan: making the change set again"
                        .into(),
                    warning: false,
                });
            }
            match plan::make_change_set(aws, &cf, bundle, stack, create, &params, options, progress)
                .await?
            {
                Some((id, _)) => change_set = Some(id),
                None => return finish(&cf, stack, None, Outcome::Unchanged, progress).await,
            }
        }
    }

    let stack_id = match options.method {
        Method::ChangeSet => {
            let Some(id) = change_set else {
                return Err(Error::Bundle(format!(
                    "no change set for `{}` (this is a bug)",
                    stack.name
                )));
            };
            execute_change_set(
                &cf,
                stack,
                state.as_ref().map(|s| s.id.as_str()),
                &id,
                progress,
            )
            .await?
        }
        Method::Direct => {
            discard_entry(&cf, entry).await?;
            if create {
                // A stack left in review by a change set cannot be created over: remove it.
                plan::remove_review_stack(&cf, &stack.region, &stack.name, options).await?;
                create_stack(aws, &cf, bundle, stack, &params, progress).await?
            } else {
                match update_stack(aws, &cf, bundle, stack, &params, progress).await? {
                    Some(id) => id,
                    None => {
                        return finish(&cf, stack, known_id, Outcome::Unchanged, progress).await;
                    }
                }
            }
        }
    };
    let (id, marker) = stack_id;
    cfn::wait_stack(
        &cf,
        &stack.region,
        &stack.name,
        &id,
        marker,
        options,
        progress,
    )
    .await?;
    let result = finish(&cf, stack, Some(id), outcome, progress).await?;
    let missing: Vec<String> = stack
        .outputs
        .iter()
        .filter(|o| !result.outputs.contains_key(*o))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingOutputs {
            stack: stack.name.clone(),
            region: stack.region.clone(),
            missing,
            hint: if options.method == Method::ChangeSet {
                ": later stacks read them. Some emulators (moto) drop the outputs of stacks \
                 deployed through change sets; deploy with --method direct there"
                    .into()
            } else {
                ": later stacks read them".into()
            },
        });
    }
    Ok(result)
}

/// Deletes the plan's change set for this stack, if it made one.
async fn discard_entry(cf: &Client, entry: &StackPlan) -> Result<(), Error> {
    if let Some(id) = &entry.change_set {
        cfn::delete_change_set(cf, &entry.region, &entry.stack, id).await?;
    }
    Ok(())
}

/// The stack's id and newest event before the operation started.
type Started = (String, Option<String>);

async fn execute_change_set(
    cf: &Client,
    stack: &StackSpec,
    existing: Option<&str>,
    change_set: &str,
    progress: Progress<'_>,
) -> Result<Started, Error> {
    let marker = match existing {
        Some(id) => cfn::newest_event(cf, &stack.region, id).await?,
        None => None,
    };
    progress(Event::Stack {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        what: "executing its change set".into(),
    });
    cf.execute_change_set()
        .change_set_name(change_set)
        .stack_name(&stack.name)
        .disable_rollback(false)
        .send()
        .await
        .map_err(|e| cfn::call_error(Some(&stack.name), &stack.region, "ExecuteChangeSet", e))?;
    let id = match cfn::describe(cf, &stack.region, &stack.name).await? {
        Some(s) => s.id,
        None => stack.name.clone(),
    };
    Ok((id, marker))
}

/// What CreateStack and UpdateStack are both given (their builders share no trait): the name,
/// the template, the parameters, capabilities and tags.
macro_rules! stack_inputs {
    ($builder:expr, $stack:expr, $params:expr, $body:expr, $url:expr) => {
        $builder
            .stack_name(&$stack.name)
            .set_template_body($body)
            .set_template_url($url)
            .set_parameters(Some($params.iter().map(Resolved::to_parameter).collect()))
            .set_capabilities(Some(plan::capabilities($stack)))
            .set_tags(Some(plan::tags($stack)))
    };
}

async fn create_stack(
    aws: &Aws,
    cf: &Client,
    bundle: &Bundle,
    stack: &StackSpec,
    params: &[Resolved],
    progress: Progress<'_>,
) -> Result<Started, Error> {
    progress(Event::Stack {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        what: "creating".into(),
    });
    let (body, url) = plan::template(aws, bundle, stack, progress).await?.parts();
    let out = stack_inputs!(cf.create_stack(), stack, params, body, url)
        .on_failure(OnFailure::Rollback)
        .send()
        .await
        .map_err(|e| cfn::call_error(Some(&stack.name), &stack.region, "CreateStack", e))?;
    Ok((out.stack_id().unwrap_or(&stack.name).to_owned(), None))
}

/// `None` when CloudFormation says there is nothing to update.
async fn update_stack(
    aws: &Aws,
    cf: &Client,
    bundle: &Bundle,
    stack: &StackSpec,
    params: &[Resolved],
    progress: Progress<'_>,
) -> Result<Option<Started>, Error> {
    let marker = cfn::newest_event(cf, &stack.region, &stack.name).await?;
    progress(Event::Stack {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        what: "updating".into(),
    });
    let (body, url) = plan::template(aws, bundle, stack, progress).await?.parts();
    match stack_inputs!(cf.update_stack(), stack, params, body, url)
        .send()
        .await
    {
        Ok(out) => Ok(Some((
            out.stack_id().unwrap_or(&stack.name).to_owned(),
            marker,
        ))),
        Err(e)
            if e.message()
                .is_some_and(|m| m.contains("No updates are to be performed")) =>
        {
            Ok(None)
        }
        Err(e) => Err(cfn::call_error(
            Some(&stack.name),
            &stack.region,
            "UpdateStack",
            e,
        )),
    }
}

/// Reads the stack's outputs and reports the outcome.
async fn finish(
    cf: &Client,
    stack: &StackSpec,
    id: Option<String>,
    outcome: Outcome,
    progress: Progress<'_>,
) -> Result<StackResult, Error> {
    let id = id.unwrap_or_else(|| stack.name.clone());
    let outputs = cfn::describe(cf, &stack.region, &id)
        .await?
        .map(|s| s.outputs)
        .unwrap_or_default();
    if outcome == Outcome::Unchanged {
        progress(Event::Note {
            stack: Some(stack.name.clone()),
            message: "no changes".into(),
            warning: false,
        });
    }
    Ok(StackResult {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        result: outcome,
        outputs,
    })
}
