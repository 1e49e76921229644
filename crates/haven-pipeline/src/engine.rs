//! The pipeline process: watches the source, starts a run per push, moves runs between stages
//! with CodePipeline's execution modes, and resumes what a killed process left in progress.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haven_control::control::{self, Endpoint};
use haven_control::paths::Paths;
use haven_process::ProcessIdentity;
use haven_source::Repo;
use haven_spec::Spec;
use haven_spec::model::ExecutionMode;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::api::{Run, RunStatus, StageStatus};
use crate::store::Store;
use crate::{Error, stages};

pub struct PipelineArgs {
    pub spec: PathBuf,
}

/// What every part of the pipeline process shares.
pub(crate) struct Ctx {
    pub spec: Spec,
    pub paths: Paths,
    pub token: String,
    pub store: Store,
    pub notifier: Option<haven_notify::Notifier>,
    pub primary: Repo,
    /// Secondary regions' names and repositories.
    pub secondaries: Vec<(String, Repo)>,
    /// Woken when a stage ends or a person decides, so the scheduler need not wait a tick.
    pub wake: Notify,
    pub shutdown: watch::Receiver<bool>,
    workers: Mutex<HashMap<u64, JoinHandle<()>>>,
}

/// The meta key holding the last commit of the branch a run was made for (or seeded).
const LAST_SEEN: &str = "last_seen_commit";
const TICK: Duration = Duration::from_millis(200);

/// Runs the pipeline process until SIGTERM or its parent's death.
pub async fn run(args: PipelineArgs) -> Result<(), Error> {
    let loaded = haven_spec::load(&args.spec).map_err(|e| Error::Other(e.to_string()))?;
    let spec = loaded.spec;
    let paths = Paths::new(spec.path(&spec.local.state_dir));
    let token = haven_control::paths::token(&paths)?;
    let store = Store::open(&paths.pipeline_db())?;

    let repo = crate::repo_name(&spec).to_owned();
    let primary = Repo::at(paths.source_repo(&spec.primary().name, &repo));
    let secondaries: Vec<(String, Repo)> = spec
        .secondaries()
        .map(|r| (r.name.clone(), Repo::at(paths.source_repo(&r.name, &repo))))
        .collect();
    let (branch, protected) = (
        spec.source.branch.clone(),
        spec.source.protected_branches.clone(),
    );
    let seed_dir = spec.path(&spec.build.directory);
    let seeded = {
        let primary = primary.clone();
        let secondaries: Vec<Repo> = secondaries.iter().map(|(_, r)| r.clone()).collect();
        tokio::task::spawn_blocking(move || -> Result<String, Error> {
            primary.ensure(&branch, &protected)?;
            for r in &secondaries {
                r.ensure(&branch, &protected)?;
            }
            Ok(primary.seed(&seed_dir, &branch, "Initial import by haven")?)
        })
        .await
        .map_err(|e| Error::Other(format!("source setup panicked: {e}")))??
    };
    // The imported tree is what `haven up` already runs: it needs no run of its own.
    if store.meta(LAST_SEEN)?.is_none() {
        store.set_meta(LAST_SEEN, &seeded)?;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let notifier = open_notifier(&spec, &paths, stop_rx.clone()).await;
    let ctx = Arc::new(Ctx {
        spec,
        paths,
        token,
        store,
        notifier,
        primary,
        secondaries,
        wake: Notify::new(),
        shutdown: stop_rx.clone(),
        workers: Mutex::new(HashMap::new()),
    });

    let bind = ctx.spec.local.bind;
    let listener = tokio::net::TcpListener::bind((bind, 0))
        .await
        .map_err(|source| haven_control::Error::Bind {
            addr: std::net::SocketAddr::new(bind, 0),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Other(format!("control listener: {e}")))?;
    let handler = {
        let ctx = ctx.clone();
        move |call| {
            let ctx = ctx.clone();
            async move { crate::server::handle(&ctx, call).await }
        }
    };
    tokio::spawn(control::serve(
        listener,
        Some(ctx.token.clone().into()),
        handler,
        stop_rx.clone(),
    ));
    let me = ProcessIdentity::of(std::process::id())
        .map_err(|e| Error::Other(format!("own identity: {e}")))?;
    Endpoint {
        addr,
        pid: me.pid,
        start_time: me.start_time,
    }
    .write(&ctx.paths.pipeline_endpoint())?;
    tracing::info!("pipeline for {} on {addr}", ctx.spec.source.branch);

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Other(format!("cannot handle SIGTERM: {e}")))?;
    let mut watched = SourceWatch::default();
    loop {
        if let Err(e) = watch_source(&ctx, &mut watched).await {
            tracing::warn!("source: {e}");
        }
        if let Err(e) = schedule(&ctx) {
            tracing::warn!("scheduling: {e}");
        }
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            () = ctx.wake.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
    }
    // Stage workers stop with the process; their stages stay InProgress in the database and
    // are resumed by the next pipeline process.
    stop_tx.send_replace(true);
    for (_, w) in crate::lock(&ctx.workers).drain() {
        w.abort();
    }
    if let Err(e) = std::fs::remove_file(ctx.paths.pipeline_endpoint()) {
        tracing::debug!("pipeline endpoint already gone: {e}");
    }
    Ok(())
}

async fn open_notifier(
    spec: &Spec,
    paths: &Paths,
    shutdown: watch::Receiver<bool>,
) -> Option<haven_notify::Notifier> {
    let config = haven_notify::config_from_spec(spec, &paths.secrets());
    let outbox = paths.pipeline_dir().join("outbox");
    match haven_notify::Notifier::open(&outbox, config, shutdown).await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(
                "pipeline notifications are off: cannot open {}: {e}",
                outbox.display()
            );
            None
        }
    }
}

/// How far the source watch has got, by the primary's push log's length: pushes seen (runs
/// started for them) and pushes replicated are apart, since a partition between the regions
/// holds replication back while runs still start.
#[derive(Debug, Default)]
struct SourceWatch {
    seen: Option<u64>,
    replicated: Option<u64>,
    /// Replication is held back by a partition (said once, when it starts).
    held: bool,
}

/// Replicates new pushes to the secondaries (once the regions are connected, if a drill
/// partitioned them) and starts a run when the branch moved.
async fn watch_source(ctx: &Arc<Ctx>, watch: &mut SourceWatch) -> Result<(), Error> {
    let len = ctx.primary.push_log_len();
    let wanted = ctx.spec.source.replicate && watch.replicated != Some(len);
    let held = wanted && crate::image::partitioned(&ctx.paths);
    if held != watch.held {
        if held {
            tracing::info!("the regions are partitioned: pushes replicate once it heals");
        }
        watch.held = held;
    }
    let replicate = wanted && !held;
    let read_head = watch.seen != Some(len);
    if !replicate && !read_head {
        return Ok(());
    }
    let c = ctx.clone();
    let head = tokio::task::spawn_blocking(move || -> Result<Option<String>, Error> {
        if replicate {
            for (region, repo) in &c.secondaries {
                let changed = c.primary.replicate_to(repo)?;
                if !changed.is_empty() {
                    tracing::info!("replicated {} to {region}", changed.join(", "));
                }
            }
        }
        if read_head {
            Ok(c.primary.head(&c.spec.source.branch)?)
        } else {
            Ok(None)
        }
    })
    .await
    .map_err(|e| Error::Other(format!("source watch panicked: {e}")))??;
    if replicate {
        watch.replicated = Some(len);
    }
    if !read_head {
        return Ok(());
    }
    watch.seen = Some(len);
    let Some(head) = head else { return Ok(()) };
    if ctx.store.meta(LAST_SEEN)?.as_deref() == Some(head.as_str()) {
        return Ok(());
    }
    let id = ctx
        .store
        .create_run(&head, &ctx.spec.source.branch, &ctx.spec.pipeline.stages)?;
    ctx.store.set_meta(LAST_SEEN, &head)?;
    tracing::info!("run {id}: {} moved to {head}", ctx.spec.source.branch);
    Ok(())
}

/// Where a run stands: the first stage it has not passed, and whether it is inside it.
fn position(run: &Run) -> Option<(usize, StageStatus)> {
    run.stages
        .iter()
        .enumerate()
        .find(|(_, s)| s.status != StageStatus::Succeeded)
        .map(|(i, s)| (i, s.status))
}

/// One pass of the scheduler: finishes runs whose stages are done, resumes stages that are in
/// progress without a worker, and lets waiting runs into free stages.
pub(crate) fn schedule(ctx: &Arc<Ctx>) -> Result<(), Error> {
    let mode = ctx.spec.pipeline.execution_mode;
    let runs = ctx.store.runs(usize::MAX, true)?;
    {
        let mut workers = crate::lock(&ctx.workers);
        workers.retain(|_, w| !w.is_finished());
    }
    // Stage index -> runs waiting to enter it, oldest first.
    let mut waiting: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut occupied: BTreeMap<usize, u64> = BTreeMap::new();
    for run in &runs {
        match position(run) {
            None => {
                ctx.store.set_run(run.id, RunStatus::Succeeded, "")?;
                tracing::info!("run {} succeeded", run.id);
            }
            Some((i, StageStatus::InProgress)) => {
                occupied.insert(i, run.id);
                let running = crate::lock(&ctx.workers).contains_key(&run.id);
                if !running {
                    tracing::info!("run {}: resuming {}", run.id, run.stages[i].name);
                    spawn_stage(ctx, run.id, i);
                }
            }
            Some((i, StageStatus::Pending)) => waiting.entry(i).or_default().push(run.id),
            Some((i, status)) => {
                // A stage ended without its run being told (a crash in between).
                let message = format!("{} {}", run.stages[i].name, status.as_str().to_lowercase());
                ctx.store.set_run(run.id, RunStatus::Failed, &message)?;
            }
        }
    }
    let plan = plan(mode, &waiting, &occupied);
    for (old, by, stage) in plan.superseded {
        let message = format!(
            "superseded by run {by} before {}",
            ctx.spec
                .pipeline
                .stages
                .get(stage)
                .copied()
                .unwrap_or("a stage")
        );
        ctx.store.set_run(old, RunStatus::Superseded, &message)?;
        tracing::info!("run {old}: {message}");
    }
    for (id, stage) in plan.enter {
        ctx.store
            .set_stage(id, stage, StageStatus::InProgress, "started")?;
        spawn_stage(ctx, id, stage);
    }
    Ok(())
}

/// What the scheduler does with waiting runs: which enter their next stage, and which are
/// superseded (run, by run, before stage).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub enter: Vec<(u64, usize)>,
    pub superseded: Vec<(u64, u64, usize)>,
}

/// CodePipeline's execution modes. A stage holds one run at a time except in parallel mode.
/// Queued: the oldest waiting run enters a free stage. Superseded: the newest run waiting
/// before a stage overtakes every older one waiting there, which ends Superseded.
pub(crate) fn plan(
    mode: ExecutionMode,
    waiting: &BTreeMap<usize, Vec<u64>>,
    occupied: &BTreeMap<usize, u64>,
) -> Plan {
    let mut plan = Plan::default();
    for (&stage, ids) in waiting {
        let free = !occupied.contains_key(&stage);
        match mode {
            ExecutionMode::Parallel => plan.enter.extend(ids.iter().map(|id| (*id, stage))),
            ExecutionMode::Queued => {
                if let (true, Some(first)) = (free, ids.first()) {
                    plan.enter.push((*first, stage));
                }
            }
            ExecutionMode::Superseded => {
                let Some(&newest) = ids.iter().max() else {
                    continue;
                };
                plan.superseded.extend(
                    ids.iter()
                        .filter(|id| **id != newest)
                        .map(|old| (*old, newest, stage)),
                );
                if free {
                    plan.enter.push((newest, stage));
                }
            }
        }
    }
    plan
}

fn spawn_stage(ctx: &Arc<Ctx>, run: u64, idx: usize) {
    let c = ctx.clone();
    let handle = tokio::spawn(async move {
        stages::run_stage(&c, run, idx).await;
        c.wake.notify_one();
    });
    crate::lock(&ctx.workers).insert(run, handle);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        mode: ExecutionMode,
        waiting: &[(usize, &[u64])],
        occupied: &[(usize, u64)],
        expect: Plan,
    ) {
        let waiting: BTreeMap<usize, Vec<u64>> =
            waiting.iter().map(|(s, ids)| (*s, ids.to_vec())).collect();
        let occupied: BTreeMap<usize, u64> = occupied.iter().copied().collect();
        assert_eq!(
            plan(mode, &waiting, &occupied),
            expect,
            "{mode:?} {waiting:?} {occupied:?}"
        );
    }

    fn p(enter: &[(u64, usize)], superseded: &[(u64, u64, usize)]) -> Plan {
        Plan {
            enter: enter.to_vec(),
            superseded: superseded.to_vec(),
        }
    }

    fn run_at(stages: &[(&str, StageStatus)]) -> Run {
        Run {
            id: 1,
            commit: "abc".into(),
            branch: "main".into(),
            status: RunStatus::InProgress,
            started_at_ms: 0,
            ended_at_ms: None,
            message: String::new(),
            image: None,
            build_id: None,
            stages: stages
                .iter()
                .map(|(name, status)| crate::api::Stage {
                    name: (*name).into(),
                    status: *status,
                    started_at_ms: None,
                    ended_at_ms: None,
                    message: String::new(),
                    attempts: 0,
                    detail: serde_json::json!({}),
                })
                .collect(),
        }
    }

    /// Where a run stands decides what the scheduler does with it: the first stage it has not
    /// passed, in the state it is in; none once every stage succeeded.
    #[test]
    fn a_run_stands_at_its_first_stage_not_passed() {
        use StageStatus::*;
        for (stages, expect) in [
            (vec![("Source", Succeeded), ("Build", Succeeded)], None),
            (
                vec![("Source", Pending), ("Build", Pending)],
                Some((0, Pending)),
            ),
            (
                vec![
                    ("Source", Succeeded),
                    ("Build", InProgress),
                    ("Staging", Pending),
                ],
                Some((1, InProgress)),
            ),
            (
                vec![
                    ("Source", Succeeded),
                    ("Build", Failed),
                    ("Staging", Pending),
                ],
                Some((1, Failed)),
            ),
        ] {
            assert_eq!(position(&run_at(&stages)), expect, "{stages:?}");
        }
    }

    #[test]
    fn a_run_awaits_approval_only_inside_its_approval_stage() {
        use StageStatus::*;
        let waiting = run_at(&[("Build", Succeeded), ("Approval", InProgress)]);
        assert!(waiting.awaiting_approval());
        let before = run_at(&[("Build", InProgress), ("Approval", Pending)]);
        assert!(!before.awaiting_approval());
        let mut failed = waiting.clone();
        failed.status = RunStatus::Failed;
        assert!(!failed.awaiting_approval());
    }

    #[test]
    fn execution_modes() {
        use ExecutionMode::*;
        // One run, free stage: it enters in every mode.
        for mode in [Superseded, Queued, Parallel] {
            check(mode, &[(0, &[1])], &[], p(&[(1, 0)], &[]));
        }
        // Superseded: the newest waiting overtakes; with the stage busy it waits alone.
        check(
            Superseded,
            &[(1, &[2, 3, 4])],
            &[],
            p(&[(4, 1)], &[(2, 4, 1), (3, 4, 1)]),
        );
        check(Superseded, &[(1, &[2, 3])], &[(1, 1)], p(&[], &[(2, 3, 1)]));
        // Runs waiting before different stages never supersede each other.
        check(
            Superseded,
            &[(1, &[2]), (3, &[1])],
            &[(3, 0)],
            p(&[(2, 1)], &[]),
        );
        // Queued: oldest first, one at a time, nobody superseded.
        check(Queued, &[(1, &[2, 3])], &[], p(&[(2, 1)], &[]));
        check(Queued, &[(1, &[2, 3])], &[(1, 1)], p(&[], &[]));
        // Parallel: everyone enters, busy or not.
        check(
            Parallel,
            &[(1, &[2, 3])],
            &[(1, 1)],
            p(&[(2, 1), (3, 1)], &[]),
        );
    }
}
