//! `haven pipeline` and `haven source`: the CodePipeline and CodeCommit twins. Reads go to the
//! pipeline's database when the twin is down; decisions go through the control API, which
//! needs the state directory's token.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use haven_control::client::Client;
use haven_control::paths::Paths;
use haven_pipeline::api::{Run, RunStatus, StageStatus};
use http::Method;
use serde_json::{Value, json};

use crate::cli::PipelineCommand;
use crate::printer::{Printer, Style};

struct Ctx {
    paths: Paths,
    spec: haven_spec::Spec,
}

impl Ctx {
    fn new(printer: &Printer, spec: &Path) -> anyhow::Result<Self> {
        let loaded = super::spec::load_valid(printer, spec)?;
        let paths = Paths::new(loaded.spec.path(&loaded.spec.local.state_dir));
        Ok(Self {
            paths,
            spec: loaded.spec,
        })
    }

    /// A call to the running pipeline through the supervisor.
    fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let client = Client::connect(&self.paths)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(rt.block_on(client.call(method, &format!("/pipeline{path}"), body))?)
    }

    /// Runs from the database (readable whether or not the twin runs).
    fn runs(&self) -> anyhow::Result<Vec<Run>> {
        Ok(self
            .store()?
            .map_or_else(|| Ok(Vec::new()), |s| s.runs(100, false))?)
    }

    fn run(&self, id: u64) -> anyhow::Result<Run> {
        self.store()?
            .and_then(|s| s.run(id).transpose())
            .transpose()?
            .with_context(|| format!("no pipeline run {id} (`haven pipeline ls` lists them)"))
    }

    fn store(&self) -> anyhow::Result<Option<haven_pipeline::Store>> {
        let db = self.paths.pipeline_db();
        if !db.exists() {
            return Ok(None);
        }
        Ok(Some(haven_pipeline::Store::open(&db).with_context(
            || format!("cannot open the pipeline's database `{}`", db.display()),
        )?))
    }
}

pub fn run(printer: &Printer, spec: &Path, command: PipelineCommand) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(printer, spec)?;
    match command {
        PipelineCommand::Ls => ls(printer, &ctx),
        PipelineCommand::Show { run } => show(printer, &ctx, run),
        PipelineCommand::Logs { run, stage, follow } => logs(printer, &ctx, run, stage, follow),
        PipelineCommand::Approve { run, comment } => decide(printer, &ctx, run, "approve", comment),
        PipelineCommand::Reject { run, comment } => decide(printer, &ctx, run, "reject", comment),
        PipelineCommand::Retry { run, stage } => {
            let v = ctx.call(
                Method::POST,
                &format!("/runs/{run}/retry"),
                Some(json!({ "stage": stage })),
            )?;
            printer.status("Retrying", v["message"].as_str().unwrap_or_default());
            if printer.json {
                printer.out_json(&v)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn paint_run(printer: &Printer, status: RunStatus) -> String {
    let style = match status {
        RunStatus::Succeeded => Style::Good,
        RunStatus::Failed | RunStatus::Stopped => Style::Bad,
        RunStatus::InProgress => Style::Warn,
        RunStatus::Superseded => return status.to_string(),
    };
    printer.paint(style, status.as_str())
}

fn paint_stage(printer: &Printer, status: StageStatus) -> String {
    let style = match status {
        StageStatus::Succeeded => Style::Good,
        StageStatus::Failed | StageStatus::Stopped => Style::Bad,
        StageStatus::InProgress => Style::Warn,
        StageStatus::Pending => return status.to_string(),
    };
    printer.paint(style, status.as_str())
}

fn ls(printer: &Printer, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let runs = ctx.runs()?;
    if printer.json {
        printer.out_json(&runs)?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        printer.status(
            "Empty",
            "no pipeline runs yet; push to the branch `haven source url` names to start one",
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut header = vec![
        "RUN".to_owned(),
        "COMMIT".to_owned(),
        "STATUS".to_owned(),
        "STARTED".to_owned(),
    ];
    header.extend(ctx.spec.pipeline.stages.iter().map(|s| s.to_uppercase()));
    let mut rows = vec![header];
    for r in &runs {
        let mut row = vec![
            r.id.to_string(),
            short(&r.commit).to_owned(),
            r.status.to_string(),
            utc(r.started_at_ms),
        ];
        row.extend(r.stages.iter().map(|s| s.status.to_string()));
        rows.push(row);
    }
    printer.out(&crate::printer::table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// A run's time as RFC 3339 to the second, as the other commands print times.
fn utc(ms: u64) -> String {
    haven_time::Utc::from_unix_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .rfc3339(haven_time::Precision::Secs)
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn show(printer: &Printer, ctx: &Ctx, id: u64) -> anyhow::Result<ExitCode> {
    let run = ctx.run(id)?;
    if printer.json {
        printer.out_json(&run)?;
        return Ok(ExitCode::SUCCESS);
    }
    printer.out(&format!(
        "run {}  {}  commit {} on {}  started {}",
        run.id,
        paint_run(printer, run.status),
        run.commit,
        run.branch,
        utc(run.started_at_ms)
    ));
    if let Some(image) = &run.image {
        printer.out(&format!("image {image}"));
    }
    if !run.message.is_empty() {
        printer.out(&run.message);
    }
    for s in &run.stages {
        let took = match (s.started_at_ms, s.ended_at_ms) {
            (Some(a), Some(b)) => format!("{:.1}s", b.saturating_sub(a) as f64 / 1000.0),
            (Some(_), None) => "running".to_owned(),
            _ => String::new(),
        };
        printer.out(&format!(
            "  {:<11} {:<11} {:>8}  {}",
            s.name,
            paint_stage(printer, s.status),
            took,
            s.message
        ));
    }
    if run.awaiting_approval() {
        printer.out(&format!(
            "waiting for approval: `haven pipeline approve {id}` or `haven pipeline reject {id}`"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn decide(
    printer: &Printer,
    ctx: &Ctx,
    run: u64,
    verb: &str,
    comment: Option<String>,
) -> anyhow::Result<ExitCode> {
    let v = ctx.call(
        Method::POST,
        &format!("/runs/{run}/{verb}"),
        Some(json!({ "comment": comment })),
    )?;
    let done = if verb == "approve" {
        "Approved"
    } else {
        "Rejected"
    };
    printer.status(done, v["message"].as_str().unwrap_or_default());
    if printer.json {
        printer.out_json(&v)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The files that make up a stage's log, in order: the stage's own, then (for Build) the
/// build's.
fn stage_files(ctx: &Ctx, run: &Run, stage: &str) -> Vec<PathBuf> {
    let mut files = vec![ctx.paths.stage_log(run.id, stage)];
    if stage == "Build" {
        if let Some(build) = run
            .stage("Build")
            .and_then(|s| s.detail.get("build"))
            .and_then(Value::as_str)
        {
            files.push(ctx.paths.builds().join(format!("{build}.log")));
        }
    }
    files
}

fn logs(
    printer: &Printer,
    ctx: &Ctx,
    id: u64,
    stage: Option<String>,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    let run = ctx.run(id)?;
    let names: Vec<String> = match &stage {
        Some(s) => {
            let Some(found) = run.stage(s) else {
                let all: Vec<&str> = run.stages.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "run {id} has no stage `{s}`; its stages are {}",
                    all.join(", ")
                );
            };
            vec![found.name.clone()]
        }
        None => run.stages.iter().map(|s| s.name.clone()).collect(),
    };
    // Bytes printed so far per file, so that following prints only what is new.
    let mut offsets: std::collections::BTreeMap<PathBuf, u64> = Default::default();
    loop {
        let run = ctx.run(id)?;
        for name in &names {
            for file in stage_files(ctx, &run, name) {
                let offset = offsets.entry(file.clone()).or_insert(0);
                // Only what was appended since the last read: following rereads nothing.
                let text = match read_from(&file, *offset) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read `{}`", file.display()));
                    }
                };
                // Only whole lines: a line being written is printed once it ends.
                let end = text.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
                if end > 0 {
                    let chunk = String::from_utf8_lossy(&text[..end]);
                    for line in chunk.lines() {
                        printer.out(&format!("[{name}] {line}"));
                    }
                    *offset += u64::try_from(end).unwrap_or(u64::MAX);
                }
            }
        }
        let ended = run.status != RunStatus::InProgress
            || names.iter().all(|n| {
                run.stage(n).is_some_and(|s| {
                    !matches!(s.status, StageStatus::InProgress | StageStatus::Pending)
                })
            });
        if !follow || ended {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The bytes of `path` from `offset` on.
fn read_from(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `haven source url`.
pub fn source_url(printer: &Printer, spec: &Path) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(printer, spec)?;
    // Absolute, so that the URL works for a clone made anywhere.
    let url = std::path::absolute(haven_pipeline::source_url(&ctx.spec, &ctx.paths))
        .context("cannot resolve the state directory")?;
    if !url.join("HEAD").is_file() {
        bail!(
            "the repository `{}` does not exist yet; `haven up` creates it from this directory",
            url.display()
        );
    }
    if printer.json {
        printer.out_json(&json!({
            "url": url,
            "branch": ctx.spec.source.branch,
            "protected_branches": ctx.spec.source.protected_branches,
        }))?;
    } else {
        printer.out(&url.display().to_string());
    }
    Ok(ExitCode::SUCCESS)
}
