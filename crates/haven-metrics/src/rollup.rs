//! Retention and downsampling as CloudWatch documents them: data points of less than a minute
//! are kept 3 hours, of a minute 15 days, of five minutes 63 days, of an hour 455 days; older
//! data is "aggregated together for long-term storage".
//!
//! [`MetricStore::compact`] rolls every complete bucket up one level (seconds into minutes,
//! minutes into five minutes, into hours) as soon as the bucket is over, not when its finer data
//! expires, so each level always holds everything its retention covers; then it deletes what
//! each level's retention no longer covers, never data not yet rolled up. A watermark per level
//! makes each run touch only the buckets completed since the last, so calling it every minute
//! costs a minute of data. SampleCount, Sum, Minimum and Maximum roll up exactly; digests merge,
//! so percentiles keep the bound of [`crate::stats`].

use std::time::{Duration, SystemTime};

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use crate::stats::Agg;
use crate::store::{LEVELS, MetricStore, upsert};
use crate::time;

/// CloudWatch keeps alarm history for two weeks.
const ALARM_HISTORY: i64 = 14 * 86_400;

/// How long each resolution is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Per-second datapoints.
    pub raw: Duration,
    pub minute: Duration,
    pub five_min: Duration,
    pub hour: Duration,
}

impl Default for Retention {
    /// AWS's: 3 hours, 15 days, 63 days, 455 days.
    fn default() -> Self {
        Self {
            raw: Duration::from_secs(3 * 3600),
            minute: Duration::from_secs(15 * 86_400),
            five_min: Duration::from_secs(63 * 86_400),
            hour: Duration::from_secs(455 * 86_400),
        }
    }
}

impl Retention {
    /// Each resolution must be kept at least one of its buckets, and coarser ones at least as
    /// long as finer ones (else a query would find a hole between them).
    pub fn validate(&self) -> Result<()> {
        let all = [self.raw, self.minute, self.five_min, self.hour];
        for (l, d) in all.iter().enumerate() {
            if i64::try_from(d.as_secs()).unwrap_or(i64::MAX) < LEVELS[l] {
                return Err(invalid(
                    "retention",
                    format!(
                        "{}-second data must be kept at least {} s",
                        LEVELS[l], LEVELS[l]
                    ),
                ));
            }
        }
        if all.windows(2).any(|w| w[0] > w[1]) {
            return Err(invalid(
                "retention",
                "coarser resolutions must be kept at least as long as finer ones",
            ));
        }
        Ok(())
    }

    /// The retention of `LEVELS[level]`, in seconds.
    pub(crate) fn of_level(&self, level: usize) -> i64 {
        let d = match level {
            0 => self.raw,
            1 => self.minute,
            2 => self.five_min,
            _ => self.hour,
        };
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Compaction {
    /// Datapoints written (or merged into) at the coarser levels.
    pub rolled_up: u64,
    /// Datapoints deleted for age.
    pub deleted: u64,
    /// Series deleted because no data of theirs is left.
    pub series_deleted: u64,
    pub alarm_history_deleted: u64,
}

impl MetricStore {
    /// Rolls up every bucket completed before `now` and deletes what retention no longer covers,
    /// in one transaction.
    pub fn compact(&mut self, now: SystemTime) -> Result<Compaction> {
        let now = time::secs(now);
        let mut report = Compaction::default();
        let tx = self.conn.unchecked_transaction()?;
        let series: Vec<i64> = {
            let mut stmt = tx.prepare_cached("SELECT id FROM series ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get(0))?;
            ids.collect::<rusqlite::Result<_>>()?
        };
        let mut done = self.done_until;
        for level in 1..LEVELS.len() {
            let step = LEVELS[level];
            // Only buckets that are over, and only from finer data that is complete.
            let mut until = time::floor(now, step);
            if level > 1 {
                if done[level - 1] == i64::MIN {
                    continue; // nothing finer rolled up yet
                }
                until = until.min(time::floor(done[level - 1], step));
            }
            let from = done[level];
            if until <= from {
                continue;
            }
            for id in &series {
                let mut rows = Vec::new();
                self.read_level(*id, level - 1, from..until, &mut rows)?;
                let mut bucket: Option<(i64, Agg)> = None;
                for (ts, agg) in rows {
                    let b = time::floor(ts, step);
                    match &mut bucket {
                        Some((start, acc)) if *start == b => acc.merge(&agg),
                        _ => {
                            if let Some((start, acc)) = bucket.replace((b, agg)) {
                                upsert(&tx, *id, step, start, &acc)?;
                                report.rolled_up += 1;
                            }
                        }
                    }
                }
                if let Some((start, acc)) = bucket {
                    upsert(&tx, *id, step, start, &acc)?;
                    report.rolled_up += 1;
                }
            }
            done[level] = until;
            tx.prepare_cached(
                "INSERT INTO rollups (res, done_until) VALUES (?1, ?2)
                 ON CONFLICT(res) DO UPDATE SET done_until = excluded.done_until",
            )?
            .execute(params![step, until])?;
        }

        for (level, step) in LEVELS.iter().enumerate() {
            // A bucket goes once it has wholly aged out, and never before it is rolled up.
            let mut horizon = now - self.retention.of_level(level) - step + 1;
            if level + 1 < LEVELS.len() {
                horizon = horizon.min(done[level + 1]);
            }
            let mut delete =
                tx.prepare_cached("DELETE FROM points WHERE series = ?1 AND res = ?2 AND ts < ?3")?;
            for id in &series {
                report.deleted += delete.execute(params![id, step, horizon])? as u64;
            }
        }
        let hour_horizon = now - self.retention.of_level(LEVELS.len() - 1);
        report.series_deleted = tx.execute(
            "DELETE FROM series WHERE last_ts < ?1
             AND NOT EXISTS (SELECT 1 FROM points WHERE points.series = series.id)",
            params![hour_horizon],
        )? as u64;
        report.alarm_history_deleted = tx.execute(
            "DELETE FROM alarm_history WHERE at_ms < ?1",
            params![(now - ALARM_HISTORY).saturating_mul(1000)],
        )? as u64;
        tx.commit()?;
        self.done_until = done;
        if report.series_deleted > 0 {
            self.forget_series();
        }
        Ok(report)
    }
}
