//! The ALB twin's access log on disk: entries from the proxy's bounded sink, written in the
//! ALB's access-log format to an hourly stream of the load balancer's group, in batches and
//! off the request path (the proxy drops and counts entries when the sink is full).

use haven_fs::WithPath;
use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use haven_proxy::{AccessLog, Batch};
use tokio::sync::watch;

use crate::group::Group;
use crate::{names, time, write};

/// Entries the sink holds per serving thread: over half a second at 25,000 requests a second
/// per thread, twenty drains' worth, so a writer that falls behind for a moment loses nothing.
pub const ACCESS_LOG_CAPACITY: usize = 16 * 1024;
/// How often the writer takes what the sink holds. The writer polls rather than being woken:
/// waking a reader for every entry costs the proxy, at tens of thousands of requests a
/// second, more than the logging itself. Often enough that each batch formats in well under
/// a millisecond, a short turn on a CPU the proxy's workers share.
const DRAIN_EVERY: Duration = Duration::from_millis(25);
/// How often dropped entries are reported.
const DROP_REPORT: Duration = Duration::from_secs(10);

/// Writes the entries `sink` collects to `group` (an hourly stream each,
/// [`names::alb_stream`]) until `stop` turns true, then writes what is still held and returns.
/// Entries the sink dropped are reported as a warning.
pub async fn write_access_log(group: Group, sink: AccessLog, mut stop: watch::Receiver<bool>) {
    let mut writer = Writer::new(group);
    let mut drain = tokio::time::interval(DRAIN_EVERY);
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut report = tokio::time::interval(DROP_REPORT);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = 0u64;
    loop {
        tokio::select! {
            _ = drain.tick() => writer.drain(&sink),
            _ = stop.wait_for(|s| *s) => {
                writer.drain(&sink);
                break;
            }
            _ = report.tick() => {
                let dropped = sink.dropped();
                if dropped > reported {
                    tracing::warn!(
                        group = %writer.group.name,
                        "{} access-log entries dropped: the writer fell behind",
                        dropped - reported
                    );
                    reported = dropped;
                }
            }
        }
    }
}

/// The writer's state between drains: reused buffers and the open file of the current hour's
/// stream.
struct Writer {
    group: Group,
    batch: Batch,
    buf: Vec<u8>,
    /// The hour (ms / 3,600,000) and file entries are being written to.
    file: Option<(u64, std::fs::File)>,
    /// The second (ms / 1000) and its `YYYY-MM-DDTHH:MM:SS` text, reused for the stamps of
    /// every event in that second.
    second: Option<(u64, String)>,
    failing: bool,
}

impl Writer {
    fn new(group: Group) -> Self {
        Self {
            group,
            batch: Batch::default(),
            buf: Vec::with_capacity(1 << 20),
            file: None,
            second: None,
            failing: false,
        }
    }

    /// Writes everything the sink holds.
    fn drain(&mut self, sink: &AccessLog) {
        sink.drain(&mut self.batch);
        self.write_batch();
    }

    /// Formats the batch's entries as ALB lines, in time order (a stream reads best, and
    /// `--since` seeks, in time order), one write per hourly stream; empties the batch.
    fn write_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.batch);
        let mut hour = None;
        for entry in batch.sorted() {
            let ms = entry
                .time
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            if hour.is_some_and(|h| h != ms / 3_600_000) {
                self.flush(hour);
            }
            hour = Some(ms / 3_600_000);
            self.push_stamp(ms);
            // The line escapes control characters: it cannot break the stream's lines.
            self.buf.push(b' ');
            haven_proxy::write_alb_line(&mut self.buf, &entry);
            self.buf.push(b'\n');
        }
        self.flush(hour);
        batch.clear();
        self.batch = batch;
    }

    /// The event's `<RFC 3339 ms>` stamp, the date and time of its second formatted once.
    fn push_stamp(&mut self, ms: u64) {
        let sec = ms / 1000;
        if self.second.as_ref().is_none_or(|(s, _)| *s != sec) {
            let full = time::rfc3339(ms);
            self.second = Some((sec, full[..19].to_owned()));
        }
        if let Some((_, text)) = &self.second {
            self.buf.extend_from_slice(text.as_bytes());
        }
        let milli = ms % 1000;
        self.buf.extend_from_slice(&[
            b'.',
            b'0' + (milli / 100) as u8,
            b'0' + (milli / 10 % 10) as u8,
            b'0' + (milli % 10) as u8,
            b'Z',
        ]);
    }

    fn flush(&mut self, hour: Option<u64>) {
        let Some(hour) = hour else { return };
        if self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        let dir = self.group.dir.clone();
        let result = self
            .file_for(hour)
            .and_then(|f| Ok(f.write_all(&buf).with_path(&dir)?));
        self.buf = buf;
        match result {
            Ok(()) => self.failing = false,
            Err(e) => {
                // Once per outage, not once per batch; reopen on the next write.
                if !self.failing {
                    tracing::warn!("the access log cannot be written: {e}");
                }
                self.failing = true;
                self.file = None;
            }
        }
        self.buf.clear();
    }

    /// The open file of `hour`'s stream, opened (and the previous hour's closed) on change.
    /// A stream removed by retention is created again by the next hour's open.
    fn file_for(&mut self, hour: u64) -> crate::error::Result<&mut std::fs::File> {
        if self.file.as_ref().is_none_or(|(h, _)| *h != hour) {
            let path = self.group.stream_path(&names::alb_stream(hour * 3_600_000));
            self.file = Some((hour, write::open_append(&path)?));
        }
        match &mut self.file {
            Some((_, f)) => Ok(f),
            None => Err(haven_fs::IoError::new(
                &self.group.dir,
                std::io::Error::other("no open stream"),
            )
            .into()),
        }
    }
}
