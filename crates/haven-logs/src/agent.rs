//! A region's log agent (the awslogs driver's part): ships each task's stdout and stderr into
//! the task's stream, every line stamped when it is shipped, and applies retention to the
//! region's groups.
//!
//! Tasks write to plain files, as before (`<task>.stdout.log`, `<task>.stderr.log`), so a task
//! that logs a lot never waits for the region, and its failure output stays readable with
//! `haven_process::tail_lines`. The agent, one thread, reads what was appended since its
//! last look and appends it to the stream. A checkpoint per task (`<task>.ship.json`) records
//! the offsets read and the stream's length after the last append, and is written after that
//! append: an agent that dies between the two finds the stream longer than recorded when it
//! starts again, cuts it back and ships the same lines again, so lines are neither lost nor
//! doubled across a region restart.

use haven_fs::WithPath;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::group::{Group, discover};
use crate::names::{self, EcsService};
use crate::{time, write};

/// How often tasks' output is shipped: the delay before a line shows in its stream.
pub const SHIP_INTERVAL: Duration = Duration::from_millis(200);
/// How often retention runs (and once when the agent starts).
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);
/// CloudWatch's largest event is 256 KiB; a longer line becomes several events.
const MAX_EVENT: usize = 256 * 1024;
/// Most bytes of one file read in one pass, so a flood is shipped in bounded steps.
const MAX_PASS: u64 = 8 * 1024 * 1024;

/// What the agent works on.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The spec's project, which names the groups (`/haven/<project>/ecs/<service>`).
    pub project: String,
    /// Where tasks write their output: `<task>.stdout.log`, `<task>.stderr.log`.
    pub task_dir: PathBuf,
    /// The region's logs directory: its stamped groups, one directory each.
    pub logs_root: PathBuf,
    /// Groups with their retention; groups found under `logs_root` that are not listed get
    /// `default_retention_days`.
    pub groups: Vec<Group>,
    pub default_retention_days: Option<u32>,
    pub ship_interval: Duration,
    pub retention_interval: Duration,
}

impl AgentConfig {
    pub fn new(project: impl Into<String>, task_dir: PathBuf, logs_root: PathBuf) -> Self {
        Self {
            project: project.into(),
            task_dir,
            logs_root,
            groups: Vec::new(),
            default_retention_days: None,
            ship_interval: SHIP_INTERVAL,
            retention_interval: RETENTION_INTERVAL,
        }
    }
}

/// A task's progress, `<task>.ship.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    service: EcsService,
    stdout: u64,
    stderr: u64,
    /// The stream's length after the agent's last append.
    stream_len: u64,
    /// The task has exited and everything it wrote is shipped.
    done: bool,
}

#[derive(Debug)]
enum Msg {
    Started { task: String, service: EcsService },
    Stopped(String),
    Stop,
}

/// The running agent; [`Agent::stop`] ships what is left and ends it.
pub struct Agent {
    handle: TaskLogs,
    thread: Option<JoinHandle<()>>,
}

/// What the ECS service twin tells the agent; cheap to clone.
#[derive(Clone, Debug)]
pub struct TaskLogs {
    tx: Sender<Msg>,
    project: String,
    task_dir: PathBuf,
    logs_root: PathBuf,
}

impl Agent {
    /// Resumes the shipping of every task a previous run left unfinished, then starts the
    /// agent's thread (which applies retention first).
    pub fn start(config: AgentConfig) -> Result<Agent> {
        std::fs::create_dir_all(&config.task_dir).with_path(&config.task_dir)?;
        let mut state = State {
            sources: HashMap::new(),
            failing: false,
            config,
        };
        state.resume()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = TaskLogs {
            tx,
            project: state.config.project.clone(),
            task_dir: state.config.task_dir.clone(),
            logs_root: state.config.logs_root.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("haven-log-agent".into())
            .spawn(move || state.run(&rx))
            .with_path(Path::new("haven-log-agent thread"))?;
        Ok(Agent {
            handle,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> TaskLogs {
        self.handle.clone()
    }

    /// Ships everything tasks wrote (their last partial lines too, for tasks that exited) and
    /// ends the thread. Blocks until it has.
    pub fn stop(mut self) {
        self.handle.tx.send(Msg::Stop).ok();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the log agent's thread panicked");
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Without `stop`: the thread still ships once more and ends; nobody waits for it.
        self.handle.tx.send(Msg::Stop).ok();
    }
}

impl TaskLogs {
    /// Records a task of `service` before it starts (CreateLogStream): its checkpoint and an
    /// empty stream, so that a crash right after the task starts still ships what it wrote.
    pub fn task_started(&self, task: &str, service: &EcsService) -> Result<()> {
        save_checkpoint(
            &checkpoint_path(&self.task_dir, task),
            &Checkpoint::new(service.clone()),
        )?;
        write::create_stream(&task_stream_path(
            &self.logs_root,
            &self.project,
            service,
            task,
        ))?;
        self.tx
            .send(Msg::Started {
                task: task.to_owned(),
                service: service.clone(),
            })
            .ok();
        Ok(())
    }

    /// The task has exited: once its output is shipped, its stream is complete.
    pub fn task_stopped(&self, task: &str) {
        // After the agent stopped, the region is going away: the next run finishes the task.
        self.tx.send(Msg::Stopped(task.to_owned())).ok();
    }
}

/// A task's stdout (`which` = `stdout`) or stderr file.
pub fn raw_path(task_dir: &Path, task: &str, which: &str) -> PathBuf {
    task_dir.join(format!("{task}.{which}.log"))
}

fn checkpoint_path(task_dir: &Path, task: &str) -> PathBuf {
    task_dir.join(format!("{task}.ship.json"))
}

fn task_stream_path(logs_root: &Path, project: &str, service: &EcsService, task: &str) -> PathBuf {
    Group::stamped(&service.group(project), logs_root).stream_path(&service.stream(task))
}

impl Checkpoint {
    fn new(service: EcsService) -> Self {
        Self {
            service,
            stdout: 0,
            stderr: 0,
            stream_len: 0,
            done: false,
        }
    }
}

fn save_checkpoint(path: &Path, cp: &Checkpoint) -> Result<()> {
    let text = serde_json::to_vec(cp).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(haven_fs::write_atomic(path, &text)?)
}

fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    let text = std::fs::read(path).with_path(path)?;
    serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

struct Source {
    task: String,
    cp: Checkpoint,
    live: bool,
}

struct State {
    config: AgentConfig,
    sources: HashMap<String, Source>,
    /// A shipping error was reported and has not cleared yet.
    failing: bool,
}

impl State {
    /// Takes up every unfinished checkpoint; streams longer than recorded are cut back.
    fn resume(&mut self) -> Result<()> {
        let dir = &self.config.task_dir;
        let entries = std::fs::read_dir(dir).with_path(dir)?;
        for entry in entries {
            let entry = entry.with_path(dir)?;
            let name = entry.file_name();
            let Some(task) = name.to_str().and_then(|n| n.strip_suffix(".ship.json")) else {
                continue;
            };
            let mut cp = match load_checkpoint(&entry.path()) {
                Ok(cp) => cp,
                Err(e) => {
                    tracing::warn!("skipping a task's logs: {e}");
                    continue;
                }
            };
            if cp.done {
                continue;
            }
            let stream = task_stream_path(
                &self.config.logs_root,
                &self.config.project,
                &cp.service,
                task,
            );
            let len = std::fs::metadata(&stream).map_or(0, |m| m.len());
            if len > cp.stream_len {
                // Appended, then the agent died before recording it: those lines ship again.
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&stream)
                    .with_path(&stream)?;
                f.set_len(cp.stream_len).with_path(&stream)?;
            } else {
                cp.stream_len = len;
            }
            self.sources.insert(
                task.to_owned(),
                Source {
                    task: task.to_owned(),
                    cp,
                    // The region restarted, so the task it ran is gone.
                    live: false,
                },
            );
        }
        Ok(())
    }

    fn run(mut self, rx: &Receiver<Msg>) {
        let mut next_ship = Instant::now() + self.config.ship_interval;
        let mut next_retention = Instant::now();
        loop {
            let wait = next_ship.saturating_duration_since(Instant::now());
            let first = match rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Msg::Stop),
            };
            // Every message sent so far is taken before shipping or retention, so that a task
            // started before its stream got old is known to be running when retention looks.
            let mut stop = false;
            for msg in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                match msg {
                    Msg::Started { task, service } => {
                        self.sources.insert(
                            task.clone(),
                            Source {
                                task,
                                cp: Checkpoint::new(service),
                                live: true,
                            },
                        );
                    }
                    Msg::Stopped(task) => {
                        if let Some(s) = self.sources.get_mut(&task) {
                            s.live = false;
                        }
                    }
                    Msg::Stop => stop = true,
                }
            }
            if stop {
                self.ship_all();
                return;
            }
            let now = Instant::now();
            if now >= next_ship {
                self.ship_all();
                next_ship = now + self.config.ship_interval;
            }
            if now >= next_retention {
                self.retention(haven_time::now());
                next_retention = now + self.config.retention_interval;
            }
        }
    }

    fn ship_all(&mut self) {
        // One ingestion time for the pass: lines of different tasks shipped together tie,
        // rather than being ordered by which task the pass happened to read first.
        let stamp = time::rfc3339(time::now_ms());
        let mut finished = Vec::new();
        let mut error = None;
        for s in self.sources.values_mut() {
            match ship(&self.config, s, stamp.as_bytes()) {
                Ok(()) if s.cp.done => finished.push(s.task.clone()),
                Ok(()) => {}
                Err(e) => error = Some(e),
            }
        }
        for t in finished {
            self.sources.remove(&t);
        }
        match error {
            // Once per outage (a full disk), not every pass.
            Some(e) if !self.failing => {
                tracing::warn!("tasks' logs cannot be shipped: {e}");
                self.failing = true;
            }
            Some(_) => {}
            None => self.failing = false,
        }
    }

    /// Applies each group's retention; a stream of a task still running is never removed.
    /// Removing a task's stream removes its output files and checkpoint too.
    fn retention(&mut self, now: SystemTime) {
        let mut groups = self.config.groups.clone();
        match discover(&self.config.logs_root) {
            Ok(found) => {
                for g in found {
                    if !groups.iter().any(|k| k.name == g.name) {
                        groups.push(g.with_retention(self.config.default_retention_days));
                    }
                }
            }
            Err(e) => tracing::warn!("retention: {e}"),
        }
        let live: HashSet<(String, String)> = self
            .sources
            .values()
            .filter(|s| s.live)
            .map(|s| {
                (
                    s.cp.service.group(&self.config.project),
                    s.cp.service.stream(&s.task),
                )
            })
            .collect();
        for g in groups {
            let Some(days) = g.retention_days else {
                continue;
            };
            let keep = |stream: &str| live.contains(&(g.name.clone(), stream.to_owned()));
            let removed = match g.apply_retention(now, days, &keep) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("retention of {}: {e}", g.name);
                    continue;
                }
            };
            if removed.is_empty() {
                continue;
            }
            tracing::info!(
                group = %g.name,
                "retention ({days} days) removed {} stream(s)",
                removed.len()
            );
            if names::is_ecs_group(&self.config.project, &g.name) {
                for stream in &removed {
                    self.forget_task(names::task_of_stream(stream));
                }
            }
        }
    }

    fn forget_task(&mut self, task: &str) {
        self.sources.remove(task);
        let dir = &self.config.task_dir;
        for path in [
            raw_path(dir, task, "stdout"),
            raw_path(dir, task, "stderr"),
            checkpoint_path(dir, task),
        ] {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("retention: cannot remove {}: {e}", path.display());
                }
            }
        }
    }
}

/// Ships what a task wrote since the last pass, then records how far it got.
fn ship(config: &AgentConfig, s: &mut Source, stamp: &[u8]) -> Result<()> {
    let mut out = Vec::new();
    let mut offsets = [s.cp.stdout, s.cp.stderr];
    let mut at_end = true;
    for (which, offset) in ["stdout", "stderr"].into_iter().zip(offsets.iter_mut()) {
        let path = raw_path(&config.task_dir, &s.task, which);
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(haven_fs::IoError::new(&path, e).into()),
        };
        if len < *offset {
            // Truncated behind the agent's back: what is there now is new.
            *offset = 0;
        }
        if len == *offset {
            continue;
        }
        let want = (len - *offset).min(MAX_PASS);
        let mut data = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        let mut f = File::open(&path).with_path(&path)?;
        f.seek(SeekFrom::Start(*offset)).with_path(&path)?;
        f.take(want).read_to_end(&mut data).with_path(&path)?;
        let reached_end = *offset + data.len() as u64 >= len;
        at_end &= reached_end;
        // A task that exited will not finish its last line: ship it as it is.
        let used = split_lines(&data, !s.live && reached_end, |line| {
            write::push_stamped(&mut out, stamp, line);
        });
        *offset += used as u64;
        at_end &= *offset >= len;
    }
    let changed = !out.is_empty() || offsets != [s.cp.stdout, s.cp.stderr];
    if !out.is_empty() {
        let stream = task_stream_path(&config.logs_root, &config.project, &s.cp.service, &s.task);
        write::append(&stream, &out)?;
        s.cp.stream_len += out.len() as u64;
    }
    [s.cp.stdout, s.cp.stderr] = offsets;
    let done = !s.live && at_end;
    if changed || done != s.cp.done {
        s.cp.done = done;
        save_checkpoint(&checkpoint_path(&config.task_dir, &s.task), &s.cp)?;
    }
    Ok(())
}

/// Calls `emit` with each complete line of `data` (without its line end), cutting lines
/// longer than an event can be; with `finish`, a last line without its newline too. Returns
/// the bytes used.
fn split_lines(data: &[u8], finish: bool, mut emit: impl FnMut(&[u8])) -> usize {
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        // A newline within an event's size ends the line; none means a long line (cut) or one
        // still being written.
        match rest.iter().take(MAX_EVENT + 1).position(|b| *b == b'\n') {
            Some(nl) => {
                let line = &rest[..nl];
                emit(line.strip_suffix(b"\r").unwrap_or(line));
                pos += nl + 1;
            }
            None if rest.len() > MAX_EVENT => {
                emit(&rest[..MAX_EVENT]);
                pos += MAX_EVENT;
            }
            None if finish => {
                emit(rest);
                pos = data.len();
            }
            None => break,
        }
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_held_and_cut() {
        let mut got = Vec::new();
        let used = split_lines(b"a\r\nb\npartial", false, |l| got.push(l.to_vec()));
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(used, 5);
        got.clear();
        let used = split_lines(b"a\npartial", true, |l| got.push(l.to_vec()));
        assert_eq!(got, vec![b"a".to_vec(), b"partial".to_vec()]);
        assert_eq!(used, 9);
        let long = vec![b'x'; MAX_EVENT + 10];
        got.clear();
        let used = split_lines(&long, false, |l| got.push(l.to_vec()));
        assert_eq!(used, MAX_EVENT);
        assert_eq!(got.len(), 1);
    }
}
