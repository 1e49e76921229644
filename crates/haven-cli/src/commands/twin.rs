//! `haven up`, `down`, `status` and `chaos`: run and drive the local twin.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::runtime;
use haven_control::api::{self, ReloadResult, Status};
use haven_control::client::Client;
use haven_control::paths::Paths;
use haven_control::wire::Wire;
use haven_spec::model::Role;
use haven_twin::supervisor::{self, Reporter, UpOptions};
use http::Method;

use crate::cli::ChaosCommand;
use crate::printer::{Printer, Style};

/// The state directory of the spec at `spec`, without starting anything.
fn paths_for(printer: &Printer, spec: &Path) -> anyhow::Result<Paths> {
    Ok(paths_of(&super::spec::load_valid(printer, spec)?))
}

fn paths_of(loaded: &haven_spec::Loaded) -> Paths {
    Paths::new(loaded.spec.path(&loaded.spec.local.state_dir))
}

/// Like [`paths_for`], but a spec that does not validate still names its state directory
/// (with a warning): a running twin can be seen and stopped while its file is being edited.
fn paths_despite_errors(printer: &Printer, spec: &Path) -> anyhow::Result<Paths> {
    let loaded = haven_spec::load(spec);
    if let Err(haven_spec::LoadError::Invalid(_)) = &loaded {
        if let Some(dir) = haven_spec::state_dir_despite_errors(spec) {
            printer.warn(&format!(
                "`{}` does not validate (`haven validate` says why); using its state directory `{}`",
                spec.display(),
                dir.display()
            ));
            return Ok(Paths::new(dir));
        }
    }
    Ok(paths_of(&super::spec::checked(printer, spec, loaded)?))
}

struct TermReporter(Printer);

impl Reporter for TermReporter {
    fn step(&self, verb: &str, message: &str) {
        self.0.status(verb, message);
    }

    fn ready(&self, status: &Status) {
        if self.0.json {
            if let Err(e) = self.0.out_json(status) {
                self.0.error(&format!("{e:#}"));
            }
            return;
        }
        self.0.status(
            "Ready",
            &format!(
                "{} is serving; Ctrl-C or `haven down` stops it",
                status.project
            ),
        );
        self.0.out(&endpoints_table(status));
    }

    fn warn(&self, message: &str) {
        self.0.warn(message);
    }
}

fn endpoints_table(status: &Status) -> String {
    let mut rows = vec![
        ["ENDPOINT".to_owned(), "URL".to_owned(), "DETAIL".to_owned()],
        [
            "edge".to_owned(),
            status.edge.url.clone(),
            format!("{} routing", status.edge.mode.name()),
        ],
    ];
    for r in &status.regions {
        for s in &r.services {
            rows.push([
                format!("{} {}", r.name, s.environment),
                s.alb_url.clone(),
                format!(
                    "{} ALB, {}/{} tasks healthy",
                    r.role.name(),
                    s.healthy,
                    s.desired
                ),
            ]);
        }
    }
    if let Some(url) = &status.dashboard_url {
        rows.push([
            "dashboard".to_owned(),
            url.clone(),
            "regions, tasks, live metrics, alarms, pipeline runs".to_owned(),
        ]);
    }
    rows.push([
        "control".to_owned(),
        status.control_url.clone(),
        "needs the token in the state directory".to_owned(),
    ]);
    rows.push([
        "state".to_owned(),
        status.state_dir.clone(),
        format!("supervisor pid {}", status.supervisor_pid),
    ]);
    crate::printer::table(&rows)
}

pub fn up(printer: &Printer, spec: &Path) -> anyhow::Result<ExitCode> {
    let loaded = super::spec::load_valid(printer, spec)?;
    let paths = Paths::new(loaded.spec.path(&loaded.spec.local.state_dir));
    let runtime = runtime()?;
    // How tasks run, decided once: a spec that asks for containers on a machine that cannot
    // run them is refused before anything starts.
    let machine = haven_runtime::Machine::probe(&paths.buildah());
    let decided = haven_runtime::decide(loaded.spec.local.runtime, &machine)?;
    printer.status("Runtime", &format!("{}: {}", decided.mode, decided.reason));
    haven_runtime::record(&paths, &decided)?;
    let network = loaded.spec.local.network;
    let mode = haven_twin::region::network_mode(network);
    if mode == haven_control::api::NetworkMode::Vpc
        && let Some(why) = haven_vpc::unavailable()
    {
        bail!(
            "local.network = \"vpc\" needs root, `ip` (iproute2) and `nft` (nftables) to build each region's VPC as network namespaces, but {why}; set local.network = \"loopback\" to run without"
        );
    }
    printer.status(
        "Network",
        &format!("{mode}: {}", haven_twin::region::network_reason(network)),
    );
    // Made once here, before the regions start: each reads the same registry password and
    // names its cgroups under the same instance.
    haven_control::paths::registry_token(&paths)?;
    haven_control::paths::instance_id(&paths)?;
    // A build (made when there is none) and its image in every region's registry.
    runtime.block_on(haven_pipeline::prepare::prepare(
        &loaded.spec,
        &paths,
        decided.mode,
        printer,
    ))?;
    let exe = std::env::current_exe()
        .context("cannot find the haven binary to start the twin's processes")?;
    let opts = UpOptions {
        spec: spec.to_path_buf(),
        exe,
        ready_timeout: Duration::from_secs(120),
    };
    let reporter: Arc<dyn Reporter> = Arc::new(TermReporter(*printer));
    runtime.block_on(supervisor::run(opts, reporter))?;
    Ok(ExitCode::SUCCESS)
}

pub fn down(printer: &Printer, spec: &Path) -> anyhow::Result<ExitCode> {
    let paths = paths_despite_errors(printer, spec)?;
    let client = match Client::connect(&paths) {
        Ok(c) => c,
        Err(e) => {
            // A twin killed outright leaves its container tasks running (they outlive their
            // runtime process), with their mounts and cgroups: end them now.
            for problem in runtime()?.block_on(supervisor::cleanup_state(&paths)) {
                printer.warn(&problem);
            }
            printer.status("Stopped", &format!("nothing to stop: {e}"));
            return Ok(ExitCode::SUCCESS);
        }
    };
    runtime()?.block_on(async {
        client.call(Method::POST, "/shutdown", None).await?;
        printer.status(
            "Stopping",
            &format!("the twin (supervisor pid {})", client.pid),
        );
        // The supervisor removes its endpoint file once everything it started has exited.
        let deadline = Instant::now() + Duration::from_secs(600);
        while paths.supervisor().exists() && Client::connect(&paths).is_ok() {
            if Instant::now() > deadline {
                bail!(
                    "the twin did not stop within 10 minutes (supervisor pid {})",
                    client.pid
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        printer.status("Stopped", "every process haven started has exited");
        Ok(ExitCode::SUCCESS)
    })
}

pub fn reload(printer: &Printer, spec: &Path) -> anyhow::Result<ExitCode> {
    let paths = paths_for(printer, spec).context("not reloaded; nothing changed")?;
    let client = Client::connect(&paths)?;
    let value = runtime()?
        .block_on(client.call(Method::POST, "/reload", None))
        .context("the running twin did not reload; nothing changed")?;
    if printer.json {
        printer.out_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let result: ReloadResult = serde_json::from_value(value)
        .context("the supervisor's answer is not in the expected shape")?;
    for a in &result.applied {
        printer.out(&format!("applied  {a}"));
    }
    for r in &result.restart_needed {
        printer.out(&format!("restart  {r}"));
    }
    for n in &result.notes {
        printer.warn(n);
    }
    printer.status(
        "Reloaded",
        &format!(
            "{} applied, {} for the next `haven up`",
            result.applied.len(),
            result.restart_needed.len()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn status(printer: &Printer, spec: &Path) -> anyhow::Result<ExitCode> {
    let paths = paths_despite_errors(printer, spec)?;
    let client = Client::connect(&paths)?;
    let value = runtime()?.block_on(client.call(Method::GET, "/status", None))?;
    if printer.json {
        printer.out_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let status: Status = serde_json::from_value(value)
        .context("the supervisor's status is not in the expected shape")?;
    printer.out(&format!(
        "edge {}  {}  serving: {}",
        status.edge.url,
        status.edge.mode.name(),
        if status.edge.serving_regions.is_empty() {
            "none".to_owned()
        } else {
            status.edge.serving_regions.join(", ")
        }
    ));
    printer.out(&format!(
        "dashboard {}",
        status
            .dashboard_url
            .as_deref()
            .unwrap_or("off (monitoring.dashboard = false)")
    ));
    if let Some(rt) = &status.runtime {
        printer.out(&format!("runtime {}: {}", rt.mode, rt.reason));
    }
    if let (Some(mode), Some(reason)) = (&status.network_mode, &status.network_reason) {
        printer.out(&format!("network {mode}: {reason}"));
    }
    for r in &status.regions {
        let health = if r.healthy {
            printer.paint(Style::Good, "healthy")
        } else {
            printer.paint(Style::Bad, "unhealthy")
        };
        printer.out(&format!(
            "\n{} ({}, {}) {health}  {}",
            r.name,
            r.role.name(),
            r.state,
            r.alb_url
        ));
        if !r.blackholed_azs.is_empty() {
            printer.out(&format!(
                "  blackholed AZs: {}",
                r.blackholed_azs.join(", ")
            ));
        }
        if !r.impaired_azs.is_empty() {
            printer.out(&format!("  impaired AZs: {}", r.impaired_azs.join(", ")));
        }
        for s in &r.services {
            printer.out(&format!(
                "  {} {}: {} desired, {} running, {} healthy (min {}, max {}){}",
                s.name,
                s.state,
                s.desired,
                s.running,
                s.healthy,
                s.min,
                s.max,
                s.cpu_percent
                    .map(|c| format!(", CPU {c}%"))
                    .unwrap_or_default()
            ));
            if let Some(f) = &s.failure {
                printer.out(&format!("    {}", printer.paint(Style::Bad, f)));
            }
            let mut rows = vec![[
                "TASK".to_owned(),
                "AZ".to_owned(),
                "PID".to_owned(),
                "ADDRESS".to_owned(),
                "HEALTH".to_owned(),
                "IMAGE".to_owned(),
                "RUNTIME".to_owned(),
            ]];
            for t in &s.tasks {
                // The digest's first 12 hex digits, as `haven image ls` shows it.
                let image = t.digest.as_deref().map_or_else(
                    || t.image.clone(),
                    |d| d.trim_start_matches("sha256:").chars().take(12).collect(),
                );
                let runtime = match (t.runtime, t.limits) {
                    (Some(mode), Some(l)) => {
                        format!("{mode} ({} CPU units, {} MiB)", l.cpu_units, l.memory_mib)
                    }
                    (Some(mode), None) => mode.to_string(),
                    (None, _) => "-".to_owned(),
                };
                rows.push([
                    t.id.chars().take(12).collect(),
                    t.az.clone(),
                    t.pid.map(|p| p.to_string()).unwrap_or_default(),
                    t.address.clone(),
                    t.health.to_string(),
                    image,
                    runtime,
                ]);
            }
            for line in crate::printer::table(&rows).lines() {
                printer.out(&format!("    {line}"));
            }
        }
    }
    if !status.source.is_empty() {
        printer.out("\nsource (CodeCommit twin)");
        let mut rows = vec![[
            "REGION".to_owned(),
            "BRANCH".to_owned(),
            "HEAD".to_owned(),
            "REPLICATION".to_owned(),
        ]];
        for r in &status.source {
            for b in &r.branches {
                rows.push([
                    r.region.clone(),
                    b.branch.clone(),
                    b.commit
                        .as_deref()
                        .map_or("-".to_owned(), |c| c.chars().take(12).collect()),
                    match (b.lag_ms, b.in_sync) {
                        (None, _) => format!("primary: {}", r.url),
                        (Some(ms), true) => format!("in sync (lag {ms} ms)"),
                        (Some(ms), false) => format!("behind for {ms} ms"),
                    },
                ]);
            }
        }
        for line in crate::printer::table(&rows).lines() {
            printer.out(&format!("  {line}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn chaos(printer: &Printer, spec: &Path, cmd: ChaosCommand) -> anyhow::Result<ExitCode> {
    let paths = paths_for(printer, spec)?;
    let client = Client::connect(&paths)?;
    let rt = runtime()?;
    let (path, body) = match cmd {
        ChaosCommand::KillTask { region, az, task } => {
            let region = match region {
                Some(r) => r,
                None => primary(&rt, &client)?,
            };
            (
                format!("/regions/{region}/chaos/kill-task"),
                serde_json::to_value(api::KillTask {
                    task,
                    az,
                    service: None,
                })?,
            )
        }
        ChaosCommand::KillAz { region, az } => (
            format!("/regions/{region}/chaos/kill-az"),
            serde_json::to_value(api::KillAz { az })?,
        ),
        ChaosCommand::KillRegion { region } => (
            "/chaos/kill-region".to_owned(),
            serde_json::to_value(api::RegionTarget {
                region: Some(region),
            })?,
        ),
        ChaosCommand::Net {
            region,
            az,
            delay,
            jitter,
        } => {
            let region = match region {
                Some(r) => r,
                None => primary(&rt, &client)?,
            };
            let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            (
                format!("/regions/{region}/chaos/latency"),
                serde_json::to_value(api::Latency {
                    delay_ms: millis(delay.into()),
                    jitter_ms: jitter.map_or(0, |j| millis(j.into())),
                    az,
                })?,
            )
        }
        ChaosCommand::Blackhole { region, az } => {
            let region = match region {
                Some(r) => r,
                None => primary(&rt, &client)?,
            };
            (
                format!("/regions/{region}/chaos/blackhole"),
                serde_json::to_value(api::Blackhole { az })?,
            )
        }
        ChaosCommand::Partition => ("/chaos/partition".to_owned(), serde_json::json!({})),
        ChaosCommand::Heal { region } => (
            "/chaos/heal".to_owned(),
            serde_json::to_value(api::RegionTarget { region })?,
        ),
    };
    let value = rt.block_on(client.call(Method::POST, &path, Some(body)))?;
    if printer.json {
        printer.out_json(&value)?;
    } else {
        let result: api::ChaosResult = serde_json::from_value(value)?;
        printer.out(&result.message);
        for t in result.killed_tasks {
            printer.out(&format!("  killed task {t}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn primary(rt: &tokio::runtime::Runtime, client: &Client) -> anyhow::Result<String> {
    let status: Status = rt.block_on(client.get("/status"))?;
    status
        .regions
        .iter()
        .find(|r| r.role == Role::Primary)
        .map(|r| r.name.clone())
        .context("the twin has no primary region")
}
