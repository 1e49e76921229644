//! `haven aws`: deploy the synthesized stacks to AWS through change sets (`diff`, `deploy`),
//! show them (`status`), delete them (`destroy`), and store secret values (`secret set`).
//!
//! Thin: loads the spec, synthesizes in memory (or reads `--out DIR`), calls `haven_aws`, and
//! prints. Data goes to stdout (`--json`), progress to stderr: a spinner on a terminal, plain
//! lines otherwise.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use haven_aws::{Aws, Bundle, ClientOptions, Event, Method, Options, Plan, StackAction};

use crate::cli::DeployMethod;
use crate::printer::{Printer, Style};

/// The flags of the `haven aws` commands (each command sets those it takes).
#[derive(Debug, Clone, Default)]
pub struct AwsOpts {
    /// `--region R` (repeatable): only these regions' stacks; none means every region.
    pub regions: Vec<String>,
    /// `--endpoint-url URL`: an emulator instead of AWS (`AWS_ENDPOINT_URL` works too).
    pub endpoint_url: Option<String>,
    /// `--yes`: no confirmation prompt.
    pub yes: bool,
    /// `--force` (destroy): empty haven's buckets first and delete the secrets.
    pub force: bool,
    /// `--method change-set|direct`.
    pub method: DeployMethod,
    /// `--out DIR`: deploy the templates `haven synth` wrote there, instead of synthesizing.
    pub out: Option<PathBuf>,
    /// `--parameter NAME=VALUE` (repeatable): deploy-time parameters (`ImageTag`, ...).
    pub parameters: Vec<String>,
    /// `--image-tag TAG` (deploy): the image every service runs.
    pub image_tag: Option<String>,
    /// `--timeout DURATION`: how long to wait for one stack (default: an hour).
    pub timeout: Option<Duration>,
}

impl AwsOpts {
    fn options(&self) -> anyhow::Result<Options> {
        let mut parameters = BTreeMap::new();
        for p in &self.parameters {
            let Some((k, v)) = p.split_once('=') else {
                bail!("--parameter `{p}`: expected NAME=VALUE");
            };
            if k.is_empty() {
                bail!("--parameter `{p}`: the name is empty");
            }
            parameters.insert(k.to_owned(), v.to_owned());
        }
        if let Some(tag) = &self.image_tag {
            let key = haven_aws::first_build::IMAGE_TAG;
            if parameters.get(key).is_some_and(|v| v != tag) {
                bail!("--image-tag {tag} and --parameter {key}=... disagree: give one");
            }
            parameters.insert(key.to_owned(), tag.clone());
        }
        let d = Options::default();
        Ok(Options {
            method: match self.method {
                DeployMethod::ChangeSet => Method::ChangeSet,
                DeployMethod::Direct => Method::Direct,
            },
            parameters,
            stack_timeout: self.timeout.unwrap_or(d.stack_timeout),
            ..d
        })
    }
}

/// The spec, its bundle, and a runtime with clients.
struct Session {
    spec: haven_spec::Spec,
    /// The spec's directory: the project, whose git HEAD a first deployment builds.
    project_dir: PathBuf,
    bundle: Bundle,
    aws: Aws,
    runtime: tokio::runtime::Runtime,
}

fn session(printer: &Printer, spec: &Path, opts: &AwsOpts) -> anyhow::Result<Session> {
    let loaded = super::spec::load_valid(printer, spec)?;
    let bundle = match &opts.out {
        Some(dir) => Bundle::from_dir(&loaded.spec, dir)
            .with_context(|| format!("cannot read the templates in `{}`", dir.display()))?,
        None => {
            let synthesis =
                haven_cfn::synth(&loaded.spec).context("cannot synthesize the templates")?;
            Bundle::from_synthesis(&loaded.spec, &synthesis)?
        }
    };
    bundle.select(&opts.regions)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let home = opts
        .regions
        .first()
        .unwrap_or(&bundle.primary_region)
        .clone();
    let client_options = ClientOptions {
        endpoint_url: opts.endpoint_url.clone(),
        ..ClientOptions::default()
    };
    let aws = runtime.block_on(Aws::load(&client_options, &home));
    if let Some(url) = aws.endpoint_url() {
        printer.status("Endpoint", url);
    }
    Ok(Session {
        spec: loaded.spec,
        project_dir: spec
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        bundle,
        aws,
        runtime,
    })
}

/// Progress on stderr: one spinner for the stack at work on a terminal, plain lines otherwise.
struct Live<'p> {
    printer: &'p Printer,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    terminal: bool,
}

impl<'p> Live<'p> {
    fn new(printer: &'p Printer) -> Self {
        Self {
            printer,
            bar: Mutex::new(None),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
        // A panic while holding the lock only means a half-updated spinner.
        self.bar.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prints a line that stays, above the spinner if there is one.
    fn line(&self, verb: &str, style: Style, message: &str) {
        let verb = format!("{verb:>12}");
        let text = format!("{} {message}", self.printer.paint_err(style, &verb));
        match self.bar().as_ref() {
            Some(bar) => bar.println(text),
            None => self.printer.err_text(&text),
        }
    }

    fn event(&self, e: Event) {
        match e {
            Event::Stack {
                stack,
                region,
                what,
            } => {
                let message = format!("{stack} ({region}): {what}");
                let mut bar = self.bar();
                if let Some(old) = bar.take() {
                    old.finish_and_clear();
                }
                *bar = self.printer.spinner(&message);
                if bar.is_none() {
                    drop(bar);
                    self.printer.status("Stack", &message);
                }
            }
            Event::Resource {
                stack,
                logical_id,
                resource_type,
                status,
                reason,
            } => {
                let failed = status.ends_with("_FAILED");
                let reason = reason
                    .filter(|_| failed || !self.terminal)
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let message = if logical_id == stack {
                    format!("{stack}  {status}{reason}")
                } else {
                    format!("{stack}  {logical_id} ({resource_type}) {status}{reason}")
                };
                if failed {
                    self.line("Failed", Style::Bad, &message);
                } else if let Some(bar) = self.bar().as_ref() {
                    bar.set_message(message);
                } else if !self.terminal {
                    self.printer.status("Event", &message);
                }
            }
            Event::Done { stack, status } => {
                if let Some(bar) = self.bar().take() {
                    bar.finish_and_clear();
                }
                let bad = haven_aws_failed(&status);
                let style = if bad { Style::Bad } else { Style::Good };
                let verb = if bad { "Failed" } else { "Done" };
                if bad {
                    self.line(verb, style, &format!("{stack}: {status}"));
                } else {
                    self.printer.status(verb, &format!("{stack}: {status}"));
                }
            }
            Event::Note {
                stack,
                message,
                warning,
            } => {
                let text = match stack {
                    Some(s) => format!("{s}: {message}"),
                    None => message,
                };
                if warning {
                    self.line("warning", Style::Warn, &text);
                } else if let Some(bar) = self.bar().as_ref() {
                    bar.println(format!("{:>12} {text}", "Note"));
                } else {
                    self.printer.status("Note", &text);
                }
            }
        }
    }

    fn clear(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}

fn haven_aws_failed(status: &str) -> bool {
    status.contains("FAILED") || status.contains("ROLLBACK")
}

/// Asks on stderr, reads stdin. Refuses when stdin is not a terminal (scripts pass `--yes`).
fn confirm(question: &str, opts: &AwsOpts) -> anyhow::Result<bool> {
    if opts.yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("stdin is not a terminal, so haven cannot ask: pass --yes to go ahead");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr()
        .flush()
        .context("cannot write to stderr")?;
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn change_sign(action: &str) -> &'static str {
    match action {
        "Add" => "+",
        "Remove" => "-",
        "Modify" => "~",
        _ => "?",
    }
}

/// The plan as text on stdout.
fn print_plan(printer: &Printer, plan: &Plan) {
    for s in &plan.stacks {
        let action = match s.action {
            StackAction::NoChanges => printer.paint(Style::Good, "no changes"),
            StackAction::Create => printer.paint(Style::Warn, "create"),
            StackAction::Update => printer.paint(Style::Warn, "update"),
        };
        printer.out(&format!("{} ({}): {action}", s.stack, s.region));
        if let Some(note) = &s.note {
            printer.out(&format!("    ({note})"));
        }
        let width = s
            .changes
            .iter()
            .map(|c| c.logical_id.len())
            .max()
            .unwrap_or(0);
        for c in &s.changes {
            let replacement = match (c.action.as_str(), c.replacement.as_deref()) {
                ("Modify", Some("True")) => " (replaced)".to_owned(),
                ("Modify", Some("Conditional")) => " (may be replaced)".to_owned(),
                ("Modify", Some("False")) => " (in place)".to_owned(),
                ("Modify", _) => " (replacement not reported)".to_owned(),
                _ => String::new(),
            };
            printer.out(&format!(
                "  {} {:<8} {:<width$}  {}{replacement}",
                change_sign(&c.action),
                c.action,
                c.logical_id,
                c.resource_type,
            ));
        }
    }
}

/// `haven aws diff`: a change set per stack, printed, then deleted.
pub fn diff(printer: &Printer, spec: &Path, opts: &AwsOpts) -> anyhow::Result<ExitCode> {
    let s = session(printer, spec, opts)?;
    let options = opts.options()?;
    let live = Live::new(printer);
    let progress = |e: Event| live.event(e);
    let plan = s.runtime.block_on(async {
        let plan =
            haven_aws::plan::plan(&s.aws, &s.bundle, &opts.regions, &options, false, &progress)
                .await?;
        haven_aws::plan::discard(&s.aws, &plan, &progress).await?;
        Ok::<_, haven_aws::Error>(plan)
    });
    live.clear();
    let plan = plan.context("cannot compute the changes")?;
    if printer.json {
        printer.out_json(&plan)?;
    } else {
        print_plan(printer, &plan);
    }
    Ok(ExitCode::SUCCESS)
}

/// `haven aws deploy`: the image new services need, the diff, a confirmation, each stack in
/// order (on a first deployment the image is built in AWS between the stacks that need none and
/// the services), then a wait until every service is ready, and the verification.
pub fn deploy(printer: &Printer, spec: &Path, opts: &AwsOpts) -> anyhow::Result<ExitCode> {
    let s = session(printer, spec, opts)?;
    let mut options = opts.options()?;
    let live = Live::new(printer);
    let progress = |e: Event| live.event(e);
    let first = s.runtime.block_on(haven_aws::first_build::prepare(
        &s.aws,
        &s.bundle,
        &opts.regions,
        &mut options,
        &s.project_dir,
        &progress,
    ));
    live.clear();
    let first = first.context("cannot decide the image of the new services")?;
    if let Some(f) = &first {
        printer.status(
            "Image",
            &format!(
                "{} (commit {}) for {}: built in AWS unless the repository has it",
                f.tag,
                f.commit.id,
                f.stacks.join(", ")
            ),
        );
    }
    let plan = s.runtime.block_on(haven_aws::plan::plan(
        &s.aws,
        &s.bundle,
        &opts.regions,
        &options,
        true,
        &progress,
    ));
    live.clear();
    let plan = plan.context("cannot compute the changes")?;
    if !printer.json {
        print_plan(printer, &plan);
    }
    let go = if plan.is_empty() {
        true
    } else {
        printer.status(
            "Method",
            &format!("{} (--method change-set|direct)", options.method.as_str()),
        );
        match confirm("Deploy these changes?", opts) {
            Ok(answer) => answer,
            Err(e) => {
                discard(printer, &s, &plan);
                return Err(e);
            }
        }
    };
    if !go {
        discard(printer, &s, &plan);
        printer.status("Cancelled", "nothing was deployed");
        return Ok(ExitCode::FAILURE);
    }
    let deployed = s.runtime.block_on(haven_aws::first_build::deploy(
        &s.aws,
        &s.bundle,
        &s.spec,
        plan,
        first.as_ref(),
        &options,
        &progress,
    ));
    live.clear();
    let deployed = deployed.context("the deployment failed")?;
    let ready = s.runtime.block_on(haven_aws::verify::wait_ready(
        &s.aws,
        &s.bundle,
        &s.spec,
        &opts.regions,
        options.stack_timeout,
        &progress,
    ));
    live.clear();
    let ready = ready.context("cannot verify the deployment")?;
    if printer.json {
        let mut out = serde_json::to_value(&deployed)?;
        out["verify"] = serde_json::to_value(&ready)?;
        printer.out_json(&out)?;
    } else {
        let report = &deployed.report;
        for r in &report.stacks {
            printer.out(&format!(
                "{} ({}): {}",
                r.stack,
                r.region,
                r.result.as_str()
            ));
            for (k, v) in &r.outputs {
                printer.out(&format!("    {k} = {v}"));
            }
        }
        if let Some(image) = &deployed.image {
            let how = match &image.origin {
                haven_aws::first_build::ImageOrigin::Existing => "already built".to_owned(),
                haven_aws::first_build::ImageOrigin::Built { build } => format!("built by {build}"),
            };
            printer.out(&format!(
                "image: {}:{} ({how}; commit {}) in {}",
                image.repository,
                image.tag,
                image.commit,
                image.regions.join(", ")
            ));
        }
        for e in &report.endpoints {
            match &e.region {
                Some(region) => printer.out(&format!("{} ({region}): {}", e.name, e.url)),
                None => printer.out(&format!("{}: {}", e.name, e.url)),
            }
        }
    }
    // The one step AWS leaves to a person: a hosted source's connection is created pending.
    if let Some(c) = &s.bundle.source_connection {
        printer.warn(&format!(
            "the pipeline reads {} on {} through the connection `{}` ({}), which AWS creates \
             pending: {} {}",
            c.repository, c.provider, c.name, c.region, c.step, c.console_url
        ));
    }
    let failed: Vec<_> = ready
        .with(haven_aws::verify::FindingStatus::Failed)
        .collect();
    for f in &failed {
        printer.warn(&format!(
            "{} {}{}: {}",
            f.check.as_str(),
            f.subject,
            f.region
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            f.detail
        ));
    }
    if !failed.is_empty() {
        bail!(
            "the deployment is not ready: {} check(s) failed (`haven aws verify` shows them all)",
            failed.len()
        );
    }
    printer.status(
        "Verified",
        &format!("{} checks passed", ready.findings.len()),
    );
    Ok(ExitCode::SUCCESS)
}

/// Deletes a plan's change sets after the user declined (or could not be asked).
fn discard(printer: &Printer, s: &Session, plan: &Plan) {
    if let Err(e) = s
        .runtime
        .block_on(haven_aws::plan::discard(&s.aws, plan, &|_| {}))
    {
        printer.warn(&format!("could not delete the change sets: {e}"));
    }
}

/// `haven aws status`: each stack's state and outputs.
pub fn status(printer: &Printer, spec: &Path, opts: &AwsOpts) -> anyhow::Result<ExitCode> {
    let s = session(printer, spec, opts)?;
    let report = s
        .runtime
        .block_on(haven_aws::status::status(&s.aws, &s.bundle, &opts.regions))
        .context("cannot read the stacks")?;
    if printer.json {
        printer.out_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = report
        .stacks
        .iter()
        .map(|s| s.stack.len())
        .max()
        .unwrap_or(0);
    for st in &report.stacks {
        let style = if st.status == haven_aws::status::NOT_DEPLOYED || haven_aws_failed(&st.status)
        {
            Style::Warn
        } else {
            Style::Good
        };
        printer.out(&format!(
            "{:<width$}  {:<10}  {}{}",
            st.stack,
            st.region,
            printer.paint(style, &st.status),
            st.updated
                .as_deref()
                .map(|u| format!("  ({u})"))
                .unwrap_or_default()
        ));
        for (k, v) in &st.outputs {
            printer.out(&format!("    {k} = {v}"));
        }
    }
    for e in &report.endpoints {
        match &e.region {
            Some(region) => printer.out(&format!("{} ({region}): {}", e.name, e.url)),
            None => printer.out(&format!("{}: {}", e.name, e.url)),
        }
    }
    for sec in &report.secrets {
        printer.out(&format!(
            "secret {} ({}) in {}: {}",
            sec.env,
            sec.parameter,
            sec.region,
            if sec.set { "set" } else { "NOT SET" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `haven aws destroy`: every stack, last deployed first.
pub fn destroy(printer: &Printer, spec: &Path, opts: &AwsOpts) -> anyhow::Result<ExitCode> {
    let s = session(printer, spec, opts)?;
    let options = opts.options()?;
    let existing = s
        .runtime
        .block_on(haven_aws::destroy::survey(&s.aws, &s.bundle, &opts.regions))
        .context("cannot read the stacks")?;
    if existing.is_empty() {
        printer.status("Nothing", "no stack of this spec exists");
        if printer.json {
            printer.out_json(&serde_json::json!({"deleted": [], "absent": []}))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    for (name, region, status) in &existing {
        printer.err_text(&format!("  - {name} ({region}, {status})"));
    }
    let question = format!(
        "Delete these {} stacks{}?",
        existing.len(),
        if opts.force {
            ", their buckets' contents and the secrets"
        } else {
            ""
        }
    );
    if !confirm(&question, opts)? {
        printer.status("Cancelled", "nothing was deleted");
        return Ok(ExitCode::FAILURE);
    }
    let live = Live::new(printer);
    let progress = |e: Event| live.event(e);
    let report = s.runtime.block_on(haven_aws::destroy::destroy(
        &s.aws,
        &s.bundle,
        &opts.regions,
        opts.force,
        &options,
        &progress,
    ));
    live.clear();
    let report = report.context("destroy failed")?;
    if printer.json {
        printer.out_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    for d in &report.deleted {
        printer.out(&format!("{} ({}): deleted", d.stack, d.region));
    }
    for p in &report.secrets_deleted {
        printer.out(&format!("secret {p}: deleted"));
    }
    for p in &report.secrets_left {
        printer.warn(&format!("secret {p} is left in place (--force deletes it)"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `haven aws secret set NAME`: the value from stdin, as an SSM SecureString in each region.
pub fn secret_set(
    printer: &Printer,
    spec: &Path,
    name: &str,
    opts: &AwsOpts,
) -> anyhow::Result<ExitCode> {
    let s = session(printer, spec, opts)?;
    let secret = haven_aws::secrets::find(&s.bundle, name)?;
    let value = printer.read_secret(&secret.parameter)?;
    let stored = s
        .runtime
        .block_on(haven_aws::secrets::set(
            &s.aws,
            &s.bundle,
            name,
            &value,
            &opts.regions,
        ))
        .context("cannot store the secret")?;
    drop(value);
    printer.status(
        "Stored",
        &format!(
            "{} as the SecureString {} in {} (key {})",
            stored.env,
            stored.parameter,
            stored.regions.join(", "),
            stored.kms_key
        ),
    );
    if printer.json {
        printer.out_json(&stored)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The findings as a table on stdout: region, check, subject, status, detail.
fn print_findings(printer: &Printer, report: &haven_aws::verify::VerifyReport) {
    let mut rows = vec![["REGION", "CHECK", "SUBJECT", "STATUS", "DETAIL"].map(str::to_owned)];
    rows.extend(report.findings.iter().map(|f| {
        [
            f.region.clone().unwrap_or_else(|| "global".into()),
            f.check.as_str().to_owned(),
            f.subject.clone(),
            f.status.as_str().to_owned(),
            f.detail.clone(),
        ]
    }));
    printer.out(&crate::printer::table(&rows));
}

/// `haven aws verify`: the live account against the spec; exit 1 when a check failed.
pub fn verify(printer: &Printer, spec: &Path, opts: &AwsOpts) -> anyhow::Result<ExitCode> {
    use haven_aws::verify::FindingStatus;

    let s = session(printer, spec, opts)?;
    let spinner = printer.spinner("checking the live account against the spec");
    let report = s.runtime.block_on(haven_aws::verify::verify(
        &s.aws,
        &s.bundle,
        &s.spec,
        &opts.regions,
    ));
    drop(spinner);
    let report = report.context("cannot verify the deployment")?;
    if printer.json {
        printer.out_json(&serde_json::json!({
            "passed": report.passed(),
            "findings": report.findings,
        }))?;
    } else {
        print_findings(printer, &report);
    }
    let count = |status| report.with(status).count();
    let (failed, warnings) = (count(FindingStatus::Failed), count(FindingStatus::Warning));
    let summary = format!(
        "{} checks: {} ok, {warnings} warnings, {failed} failed",
        report.findings.len(),
        count(FindingStatus::Ok)
    );
    if report.passed() {
        printer.status("Verified", &summary);
        Ok(ExitCode::SUCCESS)
    } else {
        printer.error(&format!(
            "the live account differs from the spec: {summary}"
        ));
        Ok(ExitCode::FAILURE)
    }
}

/// `haven aws failover --to REGION` (`to` set) and `haven aws failback` (`to` empty): the
/// Route 53 health checks inverted or un-inverted, after a capacity check and a confirmation.
pub fn failover(
    printer: &Printer,
    spec: &Path,
    to: Option<&str>,
    opts: &AwsOpts,
) -> anyhow::Result<ExitCode> {
    let command = if to.is_some() { "failover" } else { "failback" };
    if !opts.regions.is_empty() {
        bail!("--region does not apply to {command}: it acts on every region's health check");
    }
    let s = session(printer, spec, opts)?;
    let plan = s
        .runtime
        .block_on(haven_aws::failover::plan(&s.aws, &s.bundle, &s.spec, to))
        .with_context(|| format!("cannot prepare the {command}"))?;
    if let Some(c) = &plan.capacity {
        printer.status(
            "Capacity",
            &format!(
                "{} runs {} healthy production tasks ({} running, {} healthy targets); the \
                 primary ({}) wants {} ({}){}",
                c.region,
                c.healthy_tasks,
                c.running_tasks,
                c.healthy_targets,
                c.primary,
                c.primary_desired,
                match c.primary_desired_from {
                    haven_aws::failover::DesiredSource::Live => "its live desired count",
                    haven_aws::failover::DesiredSource::Spec => "the spec's count",
                },
                c.note
                    .as_deref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default()
            ),
        );
    }
    let print_states = |report: &haven_aws::failover::FailoverReport| -> anyhow::Result<()> {
        if printer.json {
            return printer.out_json(report);
        }
        for c in &report.changed {
            printer.out(&format!(
                "{}: health check {} {}",
                c.region,
                c.id,
                if c.invert { "inverted" } else { "un-inverted" }
            ));
        }
        for h in &report.health_checks {
            printer.out(&format!(
                "health check {} ({}): {}",
                h.id,
                h.region,
                if h.inverted {
                    "inverted (Route 53 treats the region as unhealthy)"
                } else {
                    "normal"
                }
            ));
        }
        Ok(())
    };
    if plan.changes.is_empty() {
        printer.status(
            "Unchanged",
            &match to {
                Some(region) => format!("the traffic already goes to {region}: nothing to change"),
                None => "no health check is inverted: nothing to change".to_owned(),
            },
        );
        print_states(&haven_aws::failover::FailoverReport {
            to: plan.to.clone(),
            changed: Vec::new(),
            health_checks: plan.health_checks.clone(),
            capacity: plan.capacity.clone(),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    plan.check_capacity(opts.force)?;
    if let Some(c) = plan.capacity.as_ref().filter(|c| !c.enough()) {
        printer.warn(&format!(
            "--force: failing over to {} with {} healthy tasks, fewer than the {} the primary wants",
            c.region, c.healthy_tasks, c.primary_desired
        ));
    }
    for c in &plan.changes {
        printer.err_text(&format!(
            "  - {} the health check of {} ({})",
            if c.invert { "invert" } else { "un-invert" },
            c.region,
            c.id
        ));
    }
    let question = match to {
        Some(region) => format!("Send the traffic to {region}?"),
        None => "Send the traffic back to the primary?".to_owned(),
    };
    if !confirm(&question, opts)? {
        printer.status("Cancelled", "no health check was changed");
        return Ok(ExitCode::FAILURE);
    }
    let live = Live::new(printer);
    let progress = |e: Event| live.event(e);
    let report = s
        .runtime
        .block_on(haven_aws::failover::execute(&s.aws, &plan, &progress));
    live.clear();
    let report = report.with_context(|| format!("the {command} failed"))?;
    print_states(&report)?;
    Ok(ExitCode::SUCCESS)
}
