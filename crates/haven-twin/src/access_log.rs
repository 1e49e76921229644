//! An ALB twin's access log wired to the CloudWatch Logs twin's writer: the proxy's sink hands
//! its packed entries over in batches and formats them as ALB lines; the writer stamps them and
//! puts them in their hourly streams. Neither crate knows the other.

use haven_proxy::{AccessLog, Batch};

/// A listener's access-log sink as the log writer reads it.
pub struct AlbLogSource {
    sink: AccessLog,
    /// Reused from one drain to the next: its buffers swap with the sink's shards.
    batch: Batch,
}

impl AlbLogSource {
    pub fn new(sink: AccessLog) -> Self {
        Self {
            sink,
            batch: Batch::default(),
        }
    }
}

impl haven_logs::AccessLogSource for AlbLogSource {
    fn drain(&mut self, lines: &mut haven_logs::Lines<'_>) {
        self.sink.drain(&mut self.batch);
        for entry in self.batch.sorted() {
            let ms = haven_time::unix_millis(entry.time);
            lines.push(ms, |buf| haven_proxy::write_alb_line(buf, &entry));
        }
        self.batch.clear();
    }

    fn dropped(&self) -> u64 {
        self.sink.dropped()
    }
}
