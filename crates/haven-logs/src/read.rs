//! Reading a group's events: every stream at once, merged by time, filtered by start time and
//! a pattern, and followed as streams grow, appear, are rotated or go away.

use haven_fs::WithPath;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Result;
use crate::group::{Group, Layout, StreamFile, plain_first_time};
use crate::time;

/// Which events to read (FilterLogEvents' `startTime` and `filterPattern`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only events at or after this time (milliseconds since the epoch).
    pub since_ms: Option<u64>,
    /// Only events whose message contains this text (case-sensitive).
    pub grep: Option<String>,
}

impl Query {
    fn matches(&self, e: &Event) -> bool {
        self.since_ms.is_none_or(|s| e.timestamp_ms >= s)
            && self.grep.as_deref().is_none_or(|p| e.message.contains(p))
    }
}

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Milliseconds since the epoch.
    pub timestamp_ms: u64,
    pub stream: Arc<str>,
    pub message: String,
}

/// A stamped stream smaller than this is read from its start rather than searched.
const SEEK_MIN: u64 = 64 * 1024;

/// One stream being read: a file, how far it has been read, and its next event.
struct Cursor {
    stream: Arc<str>,
    path: PathBuf,
    reader: BufReader<File>,
    /// The file's inode: a new one at the same path means the stream was replaced.
    ino: u64,
    /// Bytes consumed (complete lines, plus a held partial line's bytes in `pending`).
    offset: u64,
    /// A line whose end has not been written yet (held while following).
    pending: Vec<u8>,
    /// Plain-text streams: the time of the last line that carried one.
    last_time: u64,
}

impl Cursor {
    fn open(layout: Layout, f: &StreamFile, since: Option<u64>) -> Result<Option<Cursor>> {
        let file = match File::open(&f.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(haven_fs::IoError::new(&f.path, e).into()),
        };
        let meta = file.metadata().with_path(&f.path)?;
        let mut c = Cursor {
            stream: Arc::from(f.name.as_str()),
            path: f.path.clone(),
            reader: BufReader::with_capacity(64 * 1024, file),
            ino: meta.ino(),
            offset: 0,
            pending: Vec::new(),
            last_time: 0,
        };
        let modified = meta.modified().map(time::to_ms).unwrap_or(0);
        // Lines without a time of their own take the time of the line before; the first ones
        // a plain-text stream's first time, otherwise the file's last write.
        c.last_time = modified;
        // An event's time is never after its write, so a stream last written before `since`
        // has nothing to show: start at its end (it is still followed).
        if since.is_some_and(|s| modified < s) {
            c.seek(meta.len())?;
        } else if layout.stamped() {
            if let Some(s) = since.filter(|_| meta.len() > SEEK_MIN) {
                let at = seek_since(c.reader.get_mut(), meta.len(), s).with_path(&f.path)?;
                c.seek(at)?;
            }
        } else if let Some(t) = plain_first_time(&f.path)? {
            c.last_time = t;
        }
        Ok(Some(c))
    }

    fn seek(&mut self, to: u64) -> Result<()> {
        self.reader
            .seek(SeekFrom::Start(to))
            .with_path(&self.path)?;
        self.offset = to;
        Ok(())
    }

    /// The next event, or `None` at the end of what has been written. A last line without its
    /// newline is returned when `finish` is set (reading once); otherwise it is held until
    /// its end is written (following).
    fn next_event(&mut self, layout: Layout, finish: bool) -> Result<Option<Event>> {
        let n = self
            .reader
            .read_until(b'\n', &mut self.pending)
            .with_path(&self.path)?;
        self.offset += n as u64;
        if self.pending.is_empty() || (!self.pending.ends_with(b"\n") && !finish) {
            return Ok(None);
        }
        let mut line = std::mem::take(&mut self.pending);
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        let (timestamp_ms, message) = if layout.stamped() {
            match time::parse_rfc3339(&line) {
                Some((t, used)) => {
                    self.last_time = t;
                    let start = (used + 1).min(line.len());
                    (t, String::from_utf8_lossy(&line[start..]).into_owned())
                }
                // Not written by the twin: shown as it is, at the time of the line before.
                None => (self.last_time, String::from_utf8_lossy(&line).into_owned()),
            }
        } else if let Some((t, used)) = time::parse_rfc3339(&line) {
            // A plain-text line stamped like the twin's own (pipeline stage logs): the time is
            // the event's, not part of its message.
            self.last_time = t;
            let start = (used + 1).min(line.len());
            (t, String::from_utf8_lossy(&line[start..]).into_owned())
        } else {
            // CodeBuild's `[Container]` lines keep their text: it is the log as CodeBuild
            // writes it.
            if let Some(t) = time::parse_container(&line) {
                self.last_time = t;
            }
            (self.last_time, String::from_utf8_lossy(&line).into_owned())
        };
        Ok(Some(Event {
            timestamp_ms,
            stream: self.stream.clone(),
            message,
        }))
    }
}

/// A line start at or before the first line at or after `since` in a stamped stream (whose
/// lines are in time order): binary search over byte offsets.
fn seek_since(file: &mut File, len: u64, since: u64) -> std::io::Result<u64> {
    // `lo` is always a line start whose line is older than `since` (or 0).
    let (mut lo, mut hi) = (0u64, len);
    while hi - lo > SEEK_MIN {
        let mid = lo + (hi - lo) / 2;
        match line_after(file, mid)? {
            Some((start, Some(t))) if start < hi && t < since => lo = start,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// The first line starting after `pos`: its start and its time.
fn line_after(file: &mut File, pos: u64) -> std::io::Result<Option<(u64, Option<u64>)>> {
    file.seek(SeekFrom::Start(pos))?;
    let mut r = BufReader::with_capacity(8 * 1024, &mut *file).take(SEEK_MIN);
    let mut skipped = Vec::new();
    let n = r.read_until(b'\n', &mut skipped)?;
    if n == 0 || !skipped.ends_with(b"\n") {
        return Ok(None);
    }
    let mut head = Vec::new();
    r.read_until(b'\n', &mut head)?;
    Ok(Some((
        pos + n as u64,
        time::parse_rfc3339(&head).map(|(t, _)| t),
    )))
}

/// A group's events in time order across its streams. As an iterator it ends when every
/// stream has been read to its current end; when following, [`Events::refresh`] then picks
/// up what was written since (new lines, new streams, replaced streams) and iteration goes on.
pub struct Events {
    group: Group,
    query: Query,
    follow: bool,
    cursors: Vec<Option<Cursor>>,
    /// Each stream's next event, smallest time first (ties: the stream listed first).
    heads: BinaryHeap<Reverse<(u64, usize)>>,
    next: Vec<Option<Event>>,
    /// Cursors that may have more to read.
    to_fill: Vec<usize>,
}

impl Events {
    /// Reads what the group holds now, once.
    pub fn read(group: &Group, query: Query) -> Result<Self> {
        Self::new(group, query, false)
    }

    /// Reads what the group holds, then (after [`Events::refresh`]) what is added to it.
    pub fn follow(group: &Group, query: Query) -> Result<Self> {
        Self::new(group, query, true)
    }

    fn new(group: &Group, query: Query, follow: bool) -> Result<Self> {
        let mut ev = Self {
            group: group.clone(),
            query,
            follow,
            cursors: Vec::new(),
            heads: BinaryHeap::new(),
            next: Vec::new(),
            to_fill: Vec::new(),
        };
        for f in group.stream_files()? {
            let c = Cursor::open(group.layout, &f, ev.query.since_ms)?;
            ev.push(c);
        }
        Ok(ev)
    }

    fn push(&mut self, c: Option<Cursor>) {
        if c.is_some() {
            self.to_fill.push(self.cursors.len());
        }
        self.cursors.push(c);
        self.next.push(None);
    }

    /// Looks again at the group's streams: new streams are read from their start, streams
    /// that were replaced or truncated (rotated) from their new start, deleted ones dropped;
    /// every stream is read on from where it was.
    pub fn refresh(&mut self) -> Result<()> {
        let files = self.group.stream_files()?;
        for i in 0..self.cursors.len() {
            let Some(c) = &self.cursors[i] else { continue };
            let rotated = match std::fs::metadata(&c.path) {
                Ok(m) => m.ino() != c.ino || m.len() < c.offset,
                Err(_) => {
                    // Gone (retention, or deleted): its events already read stay read.
                    self.cursors[i] = None;
                    continue;
                }
            };
            if rotated {
                let f = StreamFile {
                    name: c.stream.to_string(),
                    path: c.path.clone(),
                };
                self.cursors[i] = Cursor::open(self.group.layout, &f, None)?;
            }
            if self.next[i].is_none() && self.cursors[i].is_some() && !self.to_fill.contains(&i) {
                self.to_fill.push(i);
            }
        }
        for f in files {
            let known = self.cursors.iter().flatten().any(|c| c.path == f.path);
            if !known {
                let c = Cursor::open(self.group.layout, &f, None)?;
                self.push(c);
            }
        }
        Ok(())
    }

    fn fill(&mut self) -> Result<()> {
        while let Some(i) = self.to_fill.pop() {
            let Some(c) = self.cursors[i].as_mut() else {
                continue;
            };
            while let Some(e) = c.next_event(self.group.layout, !self.follow)? {
                if self.query.matches(&e) {
                    self.heads.push(Reverse((e.timestamp_ms, i)));
                    self.next[i] = Some(e);
                    break;
                }
            }
        }
        Ok(())
    }
}

impl Iterator for Events {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.fill() {
            return Some(Err(e));
        }
        let Reverse((_, i)) = self.heads.pop()?;
        self.to_fill.push(i);
        self.next[i].take().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn seek_since_lands_on_a_line_start_shortly_before_the_first_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut f = File::create(&path).unwrap();
        let base = 1_700_000_000_000u64;
        for i in 0..20_000u64 {
            writeln!(f, "{} event {i}", time::rfc3339(base + i * 1000)).unwrap();
        }
        drop(f);
        let text = std::fs::read(&path).unwrap();
        let mut f = File::open(&path).unwrap();
        for target in [0u64, 1, 5_000, 12_345, 19_999] {
            let since = base + target * 1000;
            let at = seek_since(&mut f, text.len() as u64, since).unwrap() as usize;
            assert!(
                at == 0 || text[at - 1] == b'\n',
                "{target}: not a line start"
            );
            let (t, _) = time::parse_rfc3339(&text[at..]).unwrap();
            assert!(t <= since, "{target}: started past it");
            // Within one 64 KiB block (about 1,400 lines of ~46 bytes) of it.
            assert!(
                since - t <= 1_500_000,
                "{target}: started {} s early",
                (since - t) / 1000
            );
        }
    }
}
