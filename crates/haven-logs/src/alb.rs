//! The ALB twin's access log on disk: entries from the load balancer's bounded sink, written
//! as ALB access-log lines to an hourly stream of its group, in batches and off the request
//! path (the sink drops and counts entries when it is full). The sink is the load balancer's
//! ([`AccessLogSource`]): this crate knows no proxy, the twin wires the two.

use haven_fs::WithPath;
use std::io::Write as _;
use std::time::Duration;

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

/// Where the writer takes access-log entries from: a load balancer's sink, which holds them
/// unformatted until a drain.
pub trait AccessLogSource: Send + 'static {
    /// Hands every entry held to `lines` ([`Lines::push`]), in the order their responses
    /// completed, and forgets them.
    fn drain(&mut self, lines: &mut Lines<'_>);

    /// Entries dropped so far because the sink was full.
    fn dropped(&self) -> u64;
}

/// The writer's side of one drain.
pub struct Lines<'a> {
    writer: &'a mut Writer,
    /// The hour (ms / 3,600,000) of the lines in the buffer.
    hour: Option<u64>,
}

impl Lines<'_> {
    /// One event: its time in milliseconds since the epoch, and its ALB line, which `line`
    /// appends without a newline (escaped, so that it cannot break the stream's lines).
    /// Lines go to their hour's stream, one write per stream and drain.
    pub fn push(&mut self, ms: u64, line: impl FnOnce(&mut Vec<u8>)) {
        let hour = ms / 3_600_000;
        if self.hour.is_some_and(|h| h != hour) {
            self.writer.flush(self.hour);
        }
        self.hour = Some(hour);
        self.writer.push_stamp(ms);
        self.writer.buf.push(b' ');
        line(&mut self.writer.buf);
        self.writer.buf.push(b'\n');
    }
}

/// Writes the entries `sink` collects to `group` (an hourly stream each,
/// [`names::alb_stream`]) until `stop` turns true, then writes what is still held and returns.
/// Entries the sink dropped are reported as a warning.
pub async fn write_access_log(
    group: Group,
    mut sink: impl AccessLogSource,
    mut stop: watch::Receiver<bool>,
) {
    let mut writer = Writer::new(group);
    let mut drain = tokio::time::interval(DRAIN_EVERY);
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut report = tokio::time::interval(DROP_REPORT);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = 0u64;
    loop {
        tokio::select! {
            _ = drain.tick() => writer.drain(&mut sink),
            _ = stop.wait_for(|s| *s) => {
                writer.drain(&mut sink);
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

/// The writer's state between drains: its reused buffer and the open file of the current
/// hour's stream.
struct Writer {
    group: Group,
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
            buf: Vec::with_capacity(1 << 20),
            file: None,
            second: None,
            failing: false,
        }
    }

    /// Writes everything the sink holds, in the order it hands entries over (a stream reads
    /// best, and `--since` seeks, in time order), one write per hourly stream.
    fn drain(&mut self, sink: &mut impl AccessLogSource) {
        let mut lines = Lines {
            writer: self,
            hour: None,
        };
        sink.drain(&mut lines);
        let hour = lines.hour;
        self.flush(hour);
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
