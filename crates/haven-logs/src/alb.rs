//! The ALB twin's access log on disk: entries from the proxy's bounded channel, written in the
//! ALB's access-log format to an hourly stream of the load balancer's group, in batches and
//! off the request path (the proxy drops and counts entries when the channel is full).

use std::time::Duration;

use haven_proxy::{AccessLog, AccessLogEntry, format_alb_line};
use tokio::sync::{mpsc, watch};

use crate::group::Group;
use crate::{names, time, write};

/// Entries the channel holds: about a third of a second at 50,000 requests a second, so a
/// writer that falls behind for a moment loses nothing.
pub const ACCESS_LOG_CAPACITY: usize = 16 * 1024;
/// Most entries formatted and written with one write.
const BATCH: usize = 1024;
/// How often dropped entries are reported.
const DROP_REPORT: Duration = Duration::from_secs(10);

/// Writes the entries `rx` receives to `group` (an hourly stream each, [`names::alb_stream`])
/// until `stop` turns true, then writes what is still queued and returns. `sink` is the
/// sending side, whose count of dropped entries is reported as a warning.
pub async fn write_access_log(
    group: Group,
    mut rx: mpsc::Receiver<AccessLogEntry>,
    sink: AccessLog,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut report = tokio::time::interval(DROP_REPORT);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut reported, mut failing) = (0u64, false);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                write_batch(&group, &mut batch, &mut failing);
            }
            _ = stop.wait_for(|s| *s) => {
                while let Ok(e) = rx.try_recv() {
                    batch.push(e);
                    if batch.len() >= BATCH {
                        write_batch(&group, &mut batch, &mut failing);
                    }
                }
                write_batch(&group, &mut batch, &mut failing);
                break;
            }
            _ = report.tick() => {
                let dropped = sink.dropped();
                if dropped > reported {
                    tracing::warn!(
                        group = %group.name,
                        "{} access-log entries dropped: the writer fell behind",
                        dropped - reported
                    );
                    reported = dropped;
                }
            }
        }
    }
}

/// Writes and empties `batch`, in time order, one write per hourly stream.
fn write_batch(group: &Group, batch: &mut Vec<AccessLogEntry>, failing: &mut bool) {
    if batch.is_empty() {
        return;
    }
    // Workers finish requests out of order by a little; a stream reads best in time order.
    batch.sort_by_key(|e| e.time);
    let mut buf = Vec::with_capacity(batch.len() * 400);
    let mut hour: Option<String> = None;
    for e in batch.drain(..) {
        let ms = time::to_ms(e.time);
        let stream = names::alb_stream(ms);
        if hour.as_deref().is_some_and(|h| h != stream) {
            flush(group, hour.as_deref(), &mut buf, failing);
        }
        hour = Some(stream);
        write::push_event(&mut buf, ms, format_alb_line(&e).as_bytes());
    }
    flush(group, hour.as_deref(), &mut buf, failing);
}

fn flush(group: &Group, stream: Option<&str>, buf: &mut Vec<u8>, failing: &mut bool) {
    let Some(stream) = stream else { return };
    match write::append(&group.stream_path(stream), buf) {
        Ok(()) => *failing = false,
        Err(e) => {
            // Once per outage, not once per batch.
            if !*failing {
                tracing::warn!("the access log cannot be written: {e}");
            }
            *failing = true;
        }
    }
    buf.clear();
}
