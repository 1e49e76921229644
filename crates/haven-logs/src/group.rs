//! Log groups and their streams on disk: which files are a group's streams, what each holds,
//! and retention.

use haven_fs::WithPath;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::names;
use crate::time;

/// How a group's streams are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// The twin's own streams: `<dir>/<encoded stream>.log`, each line `<RFC 3339 ms> <message>`,
    /// the time being when the event was ingested (as CloudWatch stamps events).
    Stamped,
    /// CodeBuild's plain-text logs, one file a build: `<dir>/<build-id>.log`. A line takes its
    /// time from CodeBuild's `[Container]` prefix (kept in the message) or a leading RFC 3339
    /// time (taken out of it); lines without one take the time of the line before them (the
    /// first ones the file's first time, else its last write).
    CodeBuild,
    /// Pipeline runs, a directory a run and a plain-text file a stage:
    /// `<dir>/<run-id>/<stage>.log`, stream `<run-id>/<stage>`; times as in `CodeBuild` (the
    /// pipeline twin starts each line with its RFC 3339 time).
    PipelineRuns,
}

impl Layout {
    /// Whether each line starts with the twin's own timestamp.
    pub(crate) fn stamped(self) -> bool {
        self == Layout::Stamped
    }
}

/// A log group: its name and where its streams are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub dir: PathBuf,
    pub layout: Layout,
    /// The retention in days the twin applies to it (`None`: never expires).
    pub retention_days: Option<u32>,
}

/// One stream's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFile {
    pub name: String,
    pub path: PathBuf,
}

/// What a stream holds, as DescribeLogStreams tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamInfo {
    pub name: String,
    /// Milliseconds since the epoch; `None` for a stream with no events.
    pub first_event_ms: Option<u64>,
    pub last_event_ms: Option<u64>,
    pub stored_bytes: u64,
}

/// What a group holds, as DescribeLogGroups tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupInfo {
    pub name: String,
    pub streams: usize,
    pub stored_bytes: u64,
    pub retention_days: Option<u32>,
    pub last_event_ms: Option<u64>,
}

/// The pipeline's stages in the order they run.
const STAGES: [&str; 5] = ["Source", "Build", "Staging", "Approval", "Production"];

/// How much of a plain-text stream's start is searched for its first time.
const FIRST_TIME_SCAN: u64 = 64 * 1024;
/// How much of a stamped stream's end is read to find its last line.
const TAIL_SCAN: u64 = 64 * 1024;

impl Group {
    /// A group of the twin's own (stamped) streams, kept under `root` (a region's logs
    /// directory) in a directory named after the group.
    pub fn stamped(name: &str, root: &Path) -> Self {
        Self {
            name: name.to_owned(),
            dir: root.join(names::encode(name)),
            layout: Layout::Stamped,
            retention_days: None,
        }
    }

    pub fn with_retention(mut self, days: Option<u32>) -> Self {
        self.retention_days = days;
        self
    }

    /// Where a stream's file is (whether or not it exists yet).
    pub fn stream_path(&self, stream: &str) -> PathBuf {
        match self.layout {
            Layout::Stamped => self.dir.join(format!("{}.log", names::encode(stream))),
            Layout::CodeBuild => self.dir.join(format!("{stream}.log")),
            Layout::PipelineRuns => self.dir.join(format!("{stream}.log")),
        }
    }

    /// The group's streams, by name. A group whose directory does not exist has none.
    pub fn stream_files(&self) -> Result<Vec<StreamFile>> {
        let mut out = Vec::new();
        match self.layout {
            Layout::Stamped => {
                for (stem, path) in log_files(&self.dir)? {
                    if let Some(name) = names::decode(&stem) {
                        out.push(StreamFile { name, path });
                    }
                }
            }
            Layout::CodeBuild => {
                for (stem, path) in log_files(&self.dir)? {
                    out.push(StreamFile { name: stem, path });
                }
            }
            Layout::PipelineRuns => {
                for run in dirs(&self.dir)? {
                    let run_dir = self.dir.join(&run);
                    for (stage, path) in log_files(&run_dir)? {
                        out.push(StreamFile {
                            name: format!("{run}/{stage}"),
                            path,
                        });
                    }
                }
                // Runs in number order and stages in pipeline order, which is also how events
                // of the same millisecond are ordered.
                out.sort_by_cached_key(|f| {
                    let (run, stage) = f.name.split_once('/').unwrap_or((&f.name, ""));
                    let rank = STAGES
                        .iter()
                        .position(|s| *s == stage)
                        .unwrap_or(STAGES.len());
                    (
                        run.parse::<u64>().ok(),
                        run.to_owned(),
                        rank,
                        stage.to_owned(),
                    )
                });
                return Ok(out);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every stream with its first and last event times and size.
    pub fn streams(&self) -> Result<Vec<StreamInfo>> {
        self.stream_files()?
            .into_iter()
            .map(|f| stream_info(self.layout, &f))
            .collect()
    }

    /// Totals over the group's streams.
    pub fn info(&self) -> Result<GroupInfo> {
        let streams = self.streams()?;
        Ok(GroupInfo {
            name: self.name.clone(),
            streams: streams.len(),
            stored_bytes: streams.iter().map(|s| s.stored_bytes).sum(),
            retention_days: self.retention_days,
            last_event_ms: streams.iter().filter_map(|s| s.last_event_ms).max(),
        })
    }

    /// Deletes every stream whose last event (or, for a stream without events, its file's
    /// last change) is more than `days` days before `now`, except those `keep` names; returns
    /// the deleted streams' names. CloudWatch expires single events; the twin expires whole
    /// streams, so a stream is kept while any of its events is young enough.
    pub fn apply_retention(
        &self,
        now: SystemTime,
        days: u32,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        let cutoff = time::to_ms(now).saturating_sub(u64::from(days) * 86_400_000);
        let mut removed = Vec::new();
        for f in self.stream_files()? {
            let info = match stream_info(self.layout, &f) {
                Ok(i) => i,
                // Deleted meanwhile (a concurrent retention pass): nothing to do.
                Err(Error::Fs(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let last = match info.last_event_ms {
                Some(t) => t,
                None => modified_ms(&f.path)?,
            };
            if last >= cutoff || keep(&f.name) {
                continue;
            }
            match std::fs::remove_file(&f.path) {
                Ok(()) => removed.push(f.name.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(haven_fs::IoError::new(&f.path, e).into()),
            }
            if self.layout == Layout::PipelineRuns {
                if let Some(run_dir) = f.path.parent() {
                    // Fails while other stages of the run remain, which is what is wanted.
                    std::fs::remove_dir(run_dir).ok();
                }
            }
        }
        Ok(removed)
    }
}

/// The stamped groups kept under `root` (a region's logs directory), by name.
pub fn discover(root: &Path) -> Result<Vec<Group>> {
    let mut groups: Vec<Group> = dirs(root)?
        .into_iter()
        .filter_map(|d| names::decode(&d))
        .map(|name| Group::stamped(&name, root))
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(groups)
}

pub(crate) fn stream_info(layout: Layout, f: &StreamFile) -> Result<StreamInfo> {
    let meta = std::fs::metadata(&f.path).with_path(&f.path)?;
    let (first, last) = if meta.len() == 0 {
        (None, None)
    } else if layout.stamped() {
        (first_stamp(&f.path)?, last_stamp(&f.path, meta.len())?)
    } else {
        // A plain-text stream's last event is its file's last write.
        let mtime = time::to_ms(meta.modified().with_path(&f.path)?);
        (
            Some(plain_first_time(&f.path)?.unwrap_or(mtime)),
            Some(mtime),
        )
    };
    Ok(StreamInfo {
        name: f.name.clone(),
        first_event_ms: first,
        last_event_ms: last,
        stored_bytes: meta.len(),
    })
}

fn modified_ms(path: &Path) -> Result<u64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    Ok(time::to_ms(modified.with_path(path)?))
}

fn first_stamp(path: &Path) -> Result<Option<u64>> {
    let f = File::open(path).with_path(path)?;
    let mut line = Vec::new();
    BufReader::new(f)
        .take(TAIL_SCAN)
        .read_until(b'\n', &mut line)
        .with_path(path)?;
    Ok(time::parse_rfc3339(&line).map(|(t, _)| t))
}

/// The time of the last complete line of a stamped stream.
fn last_stamp(path: &Path, len: u64) -> Result<Option<u64>> {
    let mut f = File::open(path).with_path(path)?;
    let start = len.saturating_sub(TAIL_SCAN);
    f.seek(SeekFrom::Start(start)).with_path(path)?;
    let mut buf = Vec::new();
    f.take(len - start).read_to_end(&mut buf).with_path(path)?;
    // The newest lines are last; a line cut by the scan's start or still being written
    // simply does not parse, and the one before it is used.
    Ok(buf
        .split(|b| *b == b'\n')
        .rev()
        .find_map(|l| time::parse_rfc3339(l).map(|(t, _)| t)))
}

/// The first time a plain-text stream's lines carry, within its first 64 KiB.
pub(crate) fn plain_first_time(path: &Path) -> Result<Option<u64>> {
    let f = File::open(path).with_path(path)?;
    let mut reader = BufReader::new(f).take(FIRST_TIME_SCAN);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).with_path(path)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(t) = time::line_time(&line) {
            return Ok(Some(t));
        }
    }
}

/// `(stem, path)` of the `*.log` files in `dir`; none when `dir` does not exist.
fn log_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in read_dir(dir)? {
        let path = entry.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
        else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            out.push((stem.to_owned(), path.clone()));
        }
    }
    Ok(out)
}

/// Names of the directories in `dir`; none when `dir` does not exist.
fn dirs(dir: &Path) -> Result<Vec<String>> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect())
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .collect::<std::io::Result<Vec<_>>>()
            .with_path(dir)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(haven_fs::IoError::new(dir, e).into()),
    }
}
