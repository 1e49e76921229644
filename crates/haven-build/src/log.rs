//! The build log: one plain-text file, written as the build runs, in CodeBuild's format.
//!
//! Every command's stdout and stderr go to one FIFO in the build's private state directory
//! (a named pipe, because commands are started through `haven_process::spawn`, which opens
//! outputs by path). A reader thread owns the log file: it splits the FIFO's bytes into
//! lines, masks secrets and appends them. haven's own `[Container] …` lines travel through the
//! *same* FIFO as framed records, so they land in the log exactly after the output of the
//! command that preceded them (a pipe is FIFO), without waiting for the pipe to drain — which
//! it may never do while a command's background process (a daemon started with `&`, as
//! CodeBuild builds do) still holds it open.
//!
//! The reader is a plain thread, not a task: it blocks on reads and must keep draining even if
//! the caller's runtime is single-threaded and busy. It holds the FIFO open for reading and
//! writing, so opening it for writing never blocks and it never sees end-of-file; it stops at
//! the end record that [`Log::close`] (or dropping the [`Log`]) writes.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use haven_time::{Precision, Utc};
use tokio::sync::oneshot;

use crate::mask::{Lines, Masker};

/// Record kinds (the byte after the marker).
const KIND_LINE: u8 = b'L';
const KIND_END: u8 = b'E';
/// Record header after the marker: kind byte + payload length as 8 hex digits.
const HEADER: usize = 1 + 8;

/// The writing side: haven's lines, and the FIFO path handed to commands.
pub(crate) struct Log {
    fifo: PathBuf,
    pipe: File,
    /// `\0haven-<random>:` — starts every record; random so command output cannot forge one.
    marker: Vec<u8>,
    /// Present until the end record has been written.
    done: Option<oneshot::Receiver<io::Result<()>>>,
}

impl Log {
    /// Creates (truncates) the log file, creates the FIFO `fifo` and starts the reader thread.
    pub fn start(path: &Path, fifo: &Path, masker: Masker) -> io::Result<Log> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        mkfifo(fifo)?;
        // Read+write: never blocks on open, and keeps a reader present for every writer.
        let read = OpenOptions::new().read(true).write(true).open(fifo)?;
        let write = OpenOptions::new().write(true).open(fifo)?;
        // From the OS or not at all: a guessable marker would let output forge records.
        let random = haven_fs::random::token_hex(8).map_err(io::Error::other)?;
        let marker = format!("\0haven-{random}:").into_bytes();
        let (done_tx, done_rx) = oneshot::channel();
        let reader_marker = marker.clone();
        std::thread::Builder::new()
            .name("haven-build-log".into())
            .spawn(move || {
                let result = read_loop(read, file, &masker, &reader_marker);
                // The receiver is gone only if the build itself was dropped: nobody to tell.
                done_tx.send(result).ok();
            })?;
        Ok(Log {
            fifo: fifo.to_owned(),
            pipe: write,
            marker,
            done: Some(done_rx),
        })
    }

    /// Where commands send stdout and stderr (both, as CodeBuild merges them).
    pub fn fifo(&self) -> &Path {
        &self.fifo
    }

    /// Writes `[Container] <time> <message>`.
    pub fn container(&mut self, message: &str) -> io::Result<()> {
        let line = format!(
            "[Container] {} {message}",
            container_time(haven_time::now())
        );
        self.record(KIND_LINE, line.as_bytes())
    }

    /// An empty line: CodeBuild separates a command's output from what follows.
    pub fn blank(&mut self) -> io::Result<()> {
        self.record(KIND_LINE, b"")
    }

    fn record(&mut self, kind: u8, payload: &[u8]) -> io::Result<()> {
        let mut rec = Vec::with_capacity(self.marker.len() + HEADER + payload.len());
        rec.extend_from_slice(&self.marker);
        rec.push(kind);
        rec.extend_from_slice(format!("{:08x}", payload.len()).as_bytes());
        rec.extend_from_slice(payload);
        // Blocks only while the FIFO is full; the reader thread drains it independently.
        self.pipe.write_all(&rec)
    }

    /// Ends the log: everything written to the FIFO so far is in the file when this returns.
    /// Output that processes still running would write later is dropped (the build is over).
    pub async fn close(mut self) -> io::Result<()> {
        self.record(KIND_END, b"")?;
        match self.done.take() {
            Some(done) => done
                .await
                .map_err(|_| io::Error::other("the build log's writer thread stopped"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if self.done.is_some() {
            // Dropped without close (the build was cancelled): the end record lets the reader
            // thread finish instead of waiting on the FIFO forever. Nobody is left to report
            // a failure to.
            self.record(KIND_END, b"").ok();
        }
    }
}

/// Creates a FIFO readable and writable by this user only.
fn mkfifo(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in FIFO path"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; mkfifo only reads it.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Copies the FIFO to the log until the end record. After a write error it keeps draining (and
/// discarding), so that commands never block on a full FIFO; the error is returned at the end.
fn read_loop(mut pipe: File, mut log: File, masker: &Masker, marker: &[u8]) -> io::Result<()> {
    let mut chunk = vec![0u8; 16 * 1024];
    let mut buf: Vec<u8> = Vec::new();
    let mut lines = Lines::default();
    let mut failed: Option<io::Error> = None;
    loop {
        let n = match pipe.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            // Unreachable while this thread holds a write end; treat it as the end anyway.
            break;
        }
        let mut out = Vec::new();
        buf.extend_from_slice(&chunk[..n]);
        let ended = match drain_records(&mut buf, &mut lines, masker, marker, &mut out) {
            Ok(ended) => ended,
            Err(e) => {
                // Unframed garbage in the stream: keep it as output rather than lose the log.
                failed.get_or_insert(e);
                lines.push(masker, &buf, &mut out);
                buf.clear();
                false
            }
        };
        if failed.is_none() {
            if let Err(e) = log.write_all(&out) {
                failed = Some(e);
            }
        }
        if ended {
            break;
        }
    }
    match failed {
        Some(e) => Err(e),
        None => log.flush(),
    }
}

/// Moves everything complete in `buf` to `out`. Returns true at the end record.
fn drain_records(
    buf: &mut Vec<u8>,
    lines: &mut Lines,
    masker: &Masker,
    marker: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    loop {
        let Some(at) = find(buf, marker) else {
            // Hold back a possible start of a marker until the next read.
            let keep = partial_suffix(buf, marker);
            let upto = buf.len() - keep;
            lines.push(masker, &buf[..upto], out);
            buf.drain(..upto);
            return Ok(false);
        };
        lines.push(masker, &buf[..at], out);
        buf.drain(..at);
        let head = marker.len();
        if buf.len() < head + HEADER {
            return Ok(false);
        }
        let kind = buf[head];
        let len = std::str::from_utf8(&buf[head + 1..head + HEADER])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or_else(|| io::Error::other("corrupt log record header"))?;
        let end = head + HEADER + len;
        if buf.len() < end {
            return Ok(false);
        }
        lines.finish_line(masker, out);
        match kind {
            KIND_LINE => {
                masker.mask_into(&buf[head + HEADER..end], out);
                out.push(b'\n');
            }
            KIND_END => return Ok(true),
            _ => return Err(io::Error::other("unknown log record kind")),
        }
        buf.drain(..end);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The length of the longest proper prefix of `marker` that `buf` ends with.
fn partial_suffix(buf: &[u8], marker: &[u8]) -> usize {
    (1..marker.len())
        .rev()
        .find(|&k| buf.ends_with(&marker[..k]))
        .unwrap_or(0)
}

/// UTC calendar date and time of day; times before the epoch count as the epoch.
fn civil(t: SystemTime) -> Utc {
    Utc::from_system_time(t.max(UNIX_EPOCH))
}

/// `2026/11/25 17:00:00.123456`, as CodeBuild's `[Container]` lines (UTC).
pub(crate) fn container_time(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.nanos / 1000
    )
}

/// `2026-11-25T17:00:00.123Z` (RFC 3339, UTC, milliseconds).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    civil(t).rfc3339(Precision::Millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_626_000_123_456);
        assert_eq!(container_time(t), "2026/11/25 17:00:00.123456");
        assert_eq!(rfc3339(t), "2026-11-25T17:00:00.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339(leap)[..10], "2000-02-29");
    }

    #[test]
    fn records_interleave_with_output() {
        let marker = b"\0haven-x:".to_vec();
        let masker = Masker::new(["pw"]);
        let mut lines = Lines::default();
        let mut out = Vec::new();
        let mut buf = b"partial pw".to_vec();
        buf.extend_from_slice(&marker);
        buf.extend_from_slice(b"L00000005hello");
        buf.extend_from_slice(b"more\n");
        buf.extend_from_slice(&marker[..3]);
        assert!(!drain_records(&mut buf, &mut lines, &masker, &marker, &mut out).unwrap());
        assert_eq!(buf, marker[..3]);
        buf.extend_from_slice(&marker[3..]);
        buf.extend_from_slice(b"L0000");
        assert!(!drain_records(&mut buf, &mut lines, &masker, &marker, &mut out).unwrap());
        buf.extend_from_slice(b"0000");
        buf.extend_from_slice(&marker);
        buf.extend_from_slice(b"E00000000");
        assert!(drain_records(&mut buf, &mut lines, &masker, &marker, &mut out).unwrap());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "partial ***\nhello\nmore\n\n"
        );
    }
}
