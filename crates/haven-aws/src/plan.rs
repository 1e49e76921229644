//! `haven aws diff`, and the first half of `deploy`: one change set per stack (create or update),
//! described resource by resource. [`discard`] deletes what a plan made.
//!
//! Parameters come from the manifest: an earlier stack's output (read with DescribeStacks, in
//! the producer's region), a deploy-time value from [`Options::parameters`] (for every stack, or
//! for one: [`stack_parameter`]), for an existing service stack's `ImageTag` the image its
//! production service runs (`first_build`), the template's default, or the stack's previous
//! value. A new stack whose inputs do not exist yet (its producer is new too) cannot have a
//! change set: its plan lists the template's resources as additions, and `deploy` makes the
//! change set once the producer is deployed.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag};
use serde::Serialize;

use crate::bundle::{ParameterSource, StackSpec};
use crate::cfn::{self, ChangeSetOutcome, StackState};
use crate::{Aws, Bundle, Error, Event, Method, Options, Progress, first_build};

/// Every selected stack's plan, in deploy order.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub method: Method,
    pub stacks: Vec<StackPlan>,
}

impl Plan {
    /// True when no stack would change.
    pub fn is_empty(&self) -> bool {
        self.stacks
            .iter()
            .all(|s| s.action == StackAction::NoChanges)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackAction {
    Create,
    Update,
    NoChanges,
}

impl StackAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::NoChanges => "no changes",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct StackPlan {
    pub stack: String,
    pub region: String,
    pub kind: String,
    /// The stack's status before the plan; `None` when it does not exist.
    pub status: Option<String>,
    pub action: StackAction,
    pub changes: Vec<ResourceChange>,
    /// Set when the changes come from the template rather than a change set, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    pub(crate) change_set: Option<String>,
    #[serde(skip)]
    pub(crate) parameters: Option<Vec<Resolved>>,
}

/// One resource a change set adds, modifies or removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import` or `Dynamic`, as CloudFormation says.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// For `Modify`: `True` (replaced), `False` (in place) or `Conditional`; emulators may not
    /// say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// A parameter's value for one CloudFormation call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    Value(String, String),
    Previous(String),
}

impl Resolved {
    pub(crate) fn to_parameter(&self) -> Parameter {
        match self {
            Self::Value(k, v) => Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build(),
            Self::Previous(k) => Parameter::builder()
                .parameter_key(k)
                .use_previous_value(true)
                .build(),
        }
    }
}

/// Why a stack's parameters cannot be filled yet.
pub(crate) enum Unresolved {
    /// An earlier stack (or its output) does not exist yet.
    Input {
        from: String,
        output: String,
        problem: String,
    },
    /// A deploy-time value was not given.
    DeployTime {
        parameter: String,
        description: String,
    },
}

impl Unresolved {
    pub(crate) fn into_error(self, stack: &str) -> Error {
        match self {
            Self::Input {
                from,
                output,
                problem,
            } => Error::MissingInput {
                stack: stack.to_owned(),
                from,
                output,
                problem,
            },
            Self::DeployTime {
                parameter,
                description,
            } => Error::MissingParameter {
                stack: stack.to_owned(),
                parameter,
                description,
            },
        }
    }
}

/// Outputs of stacks read so far (`None`: the stack does not exist), by stack name.
pub(crate) type OutputCache = HashMap<String, Option<BTreeMap<String, String>>>;

/// Reads a stack's outputs once per run.
pub(crate) async fn outputs_of<'c>(
    aws: &Aws,
    bundle: &Bundle,
    cache: &'c mut OutputCache,
    stack: &str,
) -> Result<&'c Option<BTreeMap<String, String>>, Error> {
    if !cache.contains_key(stack) {
        let region = bundle
            .stack(stack)
            .map_or(bundle.primary_region.as_str(), |s| s.region.as_str());
        let state = cfn::describe(&aws.cloudformation(region), region, stack).await?;
        // A stack still in review (a change set never executed) has no outputs yet.
        let outputs = state
            .filter(|s| s.status != "REVIEW_IN_PROGRESS" && s.status != "ROLLBACK_COMPLETE")
            .map(|s| s.outputs);
        cache.insert(stack.to_owned(), outputs);
    }
    Ok(&cache[stack])
}

/// The template's parameters that have a default.
fn defaults(body: &str) -> Vec<String> {
    template_section(body, "Parameters")
        .into_iter()
        .filter(|(_, v)| v.get("Default").is_some())
        .map(|(k, _)| k)
        .collect()
}

/// A top-level section of a template (`Parameters`, `Resources`); empty when the body is not
/// JSON or has none.
fn template_section(body: &str, name: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut t)) => match t.remove(name) {
            Some(serde_json::Value::Object(section)) => section,
            _ => serde_json::Map::new(),
        },
        _ => serde_json::Map::new(),
    }
}

/// The key of [`Options::parameters`] that sets `parameter` for one stack only
/// (`hello-us-west-2-service/ImageTag`); it wins over the plain name, which sets it for every
/// stack that declares it. Parameter names are alphanumeric, so the two never collide.
pub fn stack_parameter(stack: &str, parameter: &str) -> String {
    format!("{stack}/{parameter}")
}

/// Fills the stack's parameters now. `current` is the stack as it is (its previous values
/// stand in for inputs that are missing).
pub(crate) async fn resolve(
    aws: &Aws,
    bundle: &Bundle,
    stack: &StackSpec,
    current: Option<&StackState>,
    options: &Options,
    cache: &mut OutputCache,
) -> Result<Result<Vec<Resolved>, Unresolved>, Error> {
    let defaults = defaults(&stack.body);
    // A stack that will be created (again) has no previous values to keep.
    let updatable = current.is_some_and(|c| matches!(start(stack, Some(c)), Ok(Start::Update)));
    let previous =
        |name: &str| updatable && current.is_some_and(|c| c.parameters.contains_key(name));
    let mut out = Vec::new();
    let mut missing_input = None;
    for p in &stack.parameters {
        match &p.source {
            ParameterSource::Output {
                stack: from,
                output,
            } => {
                let value = match outputs_of(aws, bundle, cache, from).await? {
                    Some(outputs) => match outputs.get(output) {
                        Some(v) => Ok(v.clone()),
                        None => Err("has no such output (was it deployed with this template?)"),
                    },
                    None => Err("is not deployed"),
                };
                match value {
                    Ok(v) => out.push(Resolved::Value(p.name.clone(), v)),
                    Err(_) if previous(&p.name) => out.push(Resolved::Previous(p.name.clone())),
                    Err(problem) => {
                        // Keep looking: a missing deploy-time value matters more (it cannot
                        // appear later in the run).
                        missing_input.get_or_insert(Unresolved::Input {
                            from: from.clone(),
                            output: output.clone(),
                            problem: problem.into(),
                        });
                    }
                }
            }
            ParameterSource::DeployTime { description } => {
                let given = options
                    .parameters
                    .get(&stack_parameter(&stack.name, &p.name))
                    .or_else(|| options.parameters.get(&p.name));
                if let Some(v) = given {
                    out.push(Resolved::Value(p.name.clone(), v.clone()));
                } else if let Some(tag) = match p.name == first_build::IMAGE_TAG && updatable {
                    // An existing service keeps the image it runs, which the pipeline may have
                    // changed since the stack was last deployed.
                    true => first_build::live_image_tag(aws, stack).await?,
                    false => None,
                } {
                    out.push(Resolved::Value(p.name.clone(), tag));
                } else if previous(&p.name) {
                    out.push(Resolved::Previous(p.name.clone()));
                } else if !defaults.contains(&p.name) {
                    return Ok(Err(Unresolved::DeployTime {
                        parameter: p.name.clone(),
                        description: description.clone(),
                    }));
                }
            }
        }
    }
    if let Some(why) = missing_input {
        return Ok(Err(why));
    }
    Ok(Ok(out))
}

/// The template's resources, as a create change set would list them.
fn template_additions(body: &str) -> Vec<ResourceChange> {
    template_section(body, "Resources")
        .into_iter()
        .map(|(id, v)| ResourceChange {
            action: "Add".into(),
            logical_id: id,
            resource_type: v
                .get("Type")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_owned(),
            physical_id: None,
            replacement: None,
        })
        .collect()
}

/// What to do with a stack in this status before changing it.
pub(crate) enum Start {
    /// It does not exist (or only holds unexecuted change sets): create it.
    Create,
    /// Its creation failed and was rolled back: delete it, then create it.
    Recreate,
    Update,
}

pub(crate) fn start(stack: &StackSpec, state: Option<&StackState>) -> Result<Start, Error> {
    let Some(state) = state else {
        return Ok(Start::Create);
    };
    let busy = |hint: &str| Error::Busy {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        status: state.status.clone(),
        hint: hint.to_owned(),
    };
    match state.status.as_str() {
        "REVIEW_IN_PROGRESS" => Ok(Start::Create),
        "ROLLBACK_COMPLETE" => Ok(Start::Recreate),
        "ROLLBACK_FAILED" | "DELETE_FAILED" => Err(busy(
            "it cannot be updated; delete it (`haven aws destroy`, or the console) and deploy again",
        )),
        "UPDATE_ROLLBACK_FAILED" => Err(busy(
            "continue the rollback first (`aws cloudformation continue-update-rollback`)",
        )),
        s if cfn::in_progress(s) => Err(busy(
            "another operation is running on it; wait for it to finish",
        )),
        _ => Ok(Start::Update),
    }
}

/// The name of a new change set: unique per run and stack.
pub(crate) fn change_set_name() -> String {
    let millis = haven_time::now_millis();
    format!("haven-{millis}")
}

/// How a template reaches CloudFormation.
pub(crate) enum Template<'a> {
    Body(&'a str),
    /// Over the inline limit: uploaded to the region's artifact bucket.
    Url(String),
}

impl Template<'_> {
    /// `(TemplateBody, TemplateURL)`, one of them set.
    pub(crate) fn parts(self) -> (Option<String>, Option<String>) {
        match self {
            Self::Body(b) => (Some(b.to_owned()), None),
            Self::Url(u) => (None, Some(u)),
        }
    }
}

/// The body inline when it fits; otherwise uploaded to the region's artifact bucket (made by
/// the region's delivery stack) under `haven/templates/`, named by the body's hash.
pub(crate) async fn template<'a>(
    aws: &Aws,
    bundle: &Bundle,
    stack: &'a StackSpec,
    progress: Progress<'_>,
) -> Result<Template<'a>, Error> {
    if stack.body.len() <= bundle.template_body_limit {
        return Ok(Template::Body(&stack.body));
    }
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(stack.body.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let account = crate::s3::account_id(aws, &stack.region).await?;
    let bucket = format!("{}-{}-artifacts-{account}", bundle.project, stack.region);
    let key = format!("haven/templates/{}-{hash}.json", stack.name);
    progress(Event::Note {
        stack: Some(stack.name.clone()),
        message: format!(
            "the template is {} bytes, over the {}-byte inline limit: uploading it to s3://{bucket}/{key}",
            stack.body.len(),
            bundle.template_body_limit
        ),
        warning: false,
    });
    match crate::s3::put_template(aws, &stack.region, &bucket, &key, &stack.body).await {
        Ok(url) => Ok(Template::Url(url)),
        Err(Error::Call {
            code: Some(code), ..
        }) if code == "NoSuchBucket" => Err(Error::TooLarge {
            stack: stack.name.clone(),
            bytes: stack.body.len(),
            limit: bundle.template_body_limit,
            problem: format!(
                "it goes through the region's artifact bucket {bucket}, which does not exist \
                 yet; the region's delivery stack creates it"
            ),
        }),
        Err(e) => Err(e),
    }
}

pub(crate) fn capabilities(stack: &StackSpec) -> Vec<Capability> {
    stack
        .capabilities
        .iter()
        .map(|c| Capability::from(c.as_str()))
        .collect()
}

pub(crate) fn tags(stack: &StackSpec) -> Vec<Tag> {
    stack
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Creates a change set and waits for it: `None` when it holds no changes (it is deleted
/// then), else its id and changes.
#[allow(clippy::too_many_arguments)] // the context of one call, all needed
pub(crate) async fn make_change_set(
    aws: &Aws,
    cf: &Client,
    bundle: &Bundle,
    stack: &StackSpec,
    create: bool,
    parameters: &[Resolved],
    options: &Options,
    progress: Progress<'_>,
) -> Result<Option<(String, Vec<ResourceChange>)>, Error> {
    progress(Event::Stack {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        what: "creating a change set".into(),
    });
    let (body, url) = template(aws, bundle, stack, progress).await?.parts();
    let out = cf
        .create_change_set()
        .stack_name(&stack.name)
        .change_set_name(change_set_name())
        .change_set_type(if create {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        })
        .set_template_body(body)
        .set_template_url(url)
        .set_parameters(Some(
            parameters.iter().map(Resolved::to_parameter).collect(),
        ))
        .set_capabilities(Some(capabilities(stack)))
        .set_tags(Some(tags(stack)))
        .description("haven")
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        // Some endpoints (moto) refuse an empty change set outright instead of failing it.
        Err(e) if e.message().is_some_and(cfn::means_no_changes) => return Ok(None),
        Err(e) => {
            return Err(cfn::call_error(
                Some(&stack.name),
                &stack.region,
                "CreateChangeSet",
                e,
            ));
        }
    };
    let id = out.id().unwrap_or_default().to_owned();
    match cfn::wait_change_set(cf, &stack.region, &stack.name, &id, options).await {
        Ok(ChangeSetOutcome::Changes(changes)) => Ok(Some((id, changes))),
        Ok(ChangeSetOutcome::NoChanges) => {
            cfn::delete_change_set(cf, &stack.region, &stack.name, &id).await?;
            Ok(None)
        }
        Err(e) => {
            // The failed change set is useless; the error above matters more than this one.
            if let Err(cleanup) = cfn::delete_change_set(cf, &stack.region, &stack.name, &id).await
            {
                progress(Event::Note {
                    stack: Some(stack.name.clone()),
                    message: format!("could not delete the failed change set: {cleanup}"),
                    warning: true,
                });
            }
            Err(e)
        }
    }
}

/// Plans every stack of `regions` (all when empty). With `strict` (deploy), a missing deploy-time
/// value is an error; without (diff), the stack is listed from its template. On an error, the
/// change sets made so far are deleted.
pub async fn plan(
    aws: &Aws,
    bundle: &Bundle,
    regions: &[String],
    options: &Options,
    strict: bool,
    progress: Progress<'_>,
) -> Result<Plan, Error> {
    let mut plan = Plan {
        method: options.method,
        stacks: Vec::new(),
    };
    match plan_into(aws, bundle, regions, options, strict, progress, &mut plan).await {
        Ok(()) => Ok(plan),
        Err(e) => {
            discard_quietly(aws, &plan, options, progress).await;
            Err(e)
        }
    }
}

async fn plan_into(
    aws: &Aws,
    bundle: &Bundle,
    regions: &[String],
    options: &Options,
    strict: bool,
    progress: Progress<'_>,
    plan: &mut Plan,
) -> Result<(), Error> {
    let mut cache = OutputCache::new();
    for stack in bundle.select(regions)? {
        let cf = aws.cloudformation(&stack.region);
        let state = cfn::describe(&cf, &stack.region, &stack.name).await?;
        let start = start(stack, state.as_ref())?;
        let mut entry = StackPlan {
            stack: stack.name.clone(),
            region: stack.region.clone(),
            kind: stack.kind.clone(),
            status: state.as_ref().map(|s| s.status.clone()),
            action: match start {
                Start::Update => StackAction::Update,
                Start::Create | Start::Recreate => StackAction::Create,
            },
            changes: Vec::new(),
            note: None,
            change_set: None,
            parameters: None,
        };
        let resolved = resolve(aws, bundle, stack, state.as_ref(), options, &mut cache).await?;
        match (resolved, start) {
            (
                Err(Unresolved::DeployTime {
                    parameter,
                    description,
                }),
                _,
            ) if strict => {
                return Err(Error::MissingParameter {
                    stack: stack.name.clone(),
                    parameter,
                    description,
                });
            }
            (Err(why), _) => {
                entry.changes = template_additions(&stack.body);
                entry.note = Some(match why {
                    Unresolved::Input { from, .. } => format!(
                        "from the template: `{from}` is not deployed yet, so the change set is \
                         made when it is"
                    ),
                    Unresolved::DeployTime { parameter, .. }
                        if parameter == first_build::IMAGE_TAG =>
                    {
                        format!(
                            "from the template: no value for `{parameter}` yet: `deploy` builds \
                             the first image from HEAD, or takes --image-tag TAG"
                        )
                    }
                    Unresolved::DeployTime { parameter, .. } => format!(
                        "from the template: no value for `{parameter}` (--parameter \
                         {parameter}=VALUE)"
                    ),
                });
            }
            (Ok(_), Start::Recreate) => {
                entry.changes = template_additions(&stack.body);
                entry.note = Some(
                    "from the template: its creation failed before, so deploy deletes it and \
                     creates it again"
                        .into(),
                );
            }
            (Ok(params), start) => {
                let create = matches!(start, Start::Create);
                match make_change_set(aws, &cf, bundle, stack, create, &params, options, progress)
                    .await?
                {
                    Some((id, changes)) => {
                        entry.change_set = Some(id);
                        entry.changes = changes;
                    }
                    None => entry.action = StackAction::NoChanges,
                }
                entry.parameters = Some(params);
            }
        }
        plan.stacks.push(entry);
    }
    Ok(())
}

/// Deletes the plan's change sets, and the empty stacks that creating them left in
/// REVIEW_IN_PROGRESS (CloudFormation keeps those after their change sets are gone).
pub async fn discard(aws: &Aws, plan: &Plan, progress: Progress<'_>) -> Result<(), Error> {
    discard_from(aws, &plan.stacks, &Options::default(), progress)
        .await
        .map_or(Ok(()), Err)
}

pub(crate) async fn discard_from(
    aws: &Aws,
    stacks: &[StackPlan],
    options: &Options,
    progress: Progress<'_>,
) -> Option<Error> {
    let mut first_error = None;
    for s in stacks {
        let Some(id) = &s.change_set else { continue };
        let cf = aws.cloudformation(&s.region);
        let result = async {
            cfn::delete_change_set(&cf, &s.region, &s.stack, id).await?;
            if s.action == StackAction::Create
                && matches!(s.status.as_deref(), None | Some("REVIEW_IN_PROGRESS"))
            {
                remove_review_stack(&cf, &s.region, &s.stack, options).await?;
            }
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = result {
            progress(Event::Note {
                stack: Some(s.stack.clone()),
                message: format!("could not clean up the change set: {e}"),
                warning: true,
            });
            first_error.get_or_insert(e);
        }
    }
    first_error
}

/// Deletes a stack that only holds change sets (REVIEW_IN_PROGRESS: it has no resources), and
/// waits until it is gone.
pub(crate) async fn remove_review_stack(
    cf: &Client,
    region: &str,
    stack: &str,
    options: &Options,
) -> Result<(), Error> {
    let state = cfn::describe(cf, region, stack).await?;
    if state.is_some_and(|s| s.status == "REVIEW_IN_PROGRESS") {
        cfn::delete_stack(cf, region, stack, options, &|_| {}).await?;
    }
    Ok(())
}

/// [`discard`] on an error path: failures are reported as warnings (by [`discard_from`]); the
/// original error is what the caller returns.
pub(crate) async fn discard_quietly(
    aws: &Aws,
    plan: &Plan,
    options: &Options,
    progress: Progress<'_>,
) {
    discard_from(aws, &plan.stacks, options, progress).await;
}
