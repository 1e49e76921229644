//! Alarms in the store: definitions, states and history in `metrics.db`, each evaluation's range
//! read from the metric's datapoints and its outcome ([`super::eval`]) recorded before it is
//! returned.

use std::time::SystemTime;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use super::eval::{self, Slot};
use super::{AlarmSpec, AlarmStatus, HistoryItem, HistoryKind, StateValue, Transition};
use crate::error::{Error, Result};
use crate::stats::Agg;
use crate::store::{MetricStore, canonical_dims};
use crate::time;

/// CloudWatch's initial state reason.
const INITIAL_REASON: &str = "Unchecked: Initial alarm creation";

/// A stored state or history kind reads back as its enum; unknown text is an error, never a
/// default (a file from another haven or a damaged one must not pass for `INSUFFICIENT_DATA`).
fn spelled<T>(v: ValueRef<'_>, parse: fn(&str) -> Option<T>, what: &str) -> FromSqlResult<T> {
    let text = v.as_str()?;
    parse(text).ok_or_else(|| FromSqlError::Other(format!("unknown {what} `{text}`").into()))
}

impl FromSql for StateValue {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        spelled(v, StateValue::parse, "alarm state")
    }
}

impl FromSql for HistoryKind {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        spelled(v, HistoryKind::parse, "alarm history kind")
    }
}

/// The row of an alarm as stored.
struct Row {
    spec: AlarmSpec,
    state: StateValue,
    reason: String,
    reason_data: Option<String>,
    state_at_ms: i64,
    evaluated_at: Option<i64>,
}

impl MetricStore {
    /// PutMetricAlarm: creates the alarm in INSUFFICIENT_DATA, or updates its definition and
    /// keeps its state (it is evaluated again at the next evaluation). A definition equal to the
    /// stored one changes nothing.
    pub fn put_metric_alarm(&mut self, spec: &AlarmSpec, now: SystemTime) -> Result<()> {
        spec.validate()?;
        let json = serde_json::to_string(spec).map_err(|source| Error::CorruptAlarm {
            name: spec.name.clone(),
            source,
        })?;
        let now_ms = time::millis(now);
        let tx = self.conn.unchecked_transaction()?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT spec FROM alarms WHERE name = ?1",
                params![spec.name],
                |r| r.get(0),
            )
            .optional()?;
        match existing {
            Some(old) if old == json => return Ok(()),
            Some(_) => {
                tx.execute(
                    "UPDATE alarms SET spec = ?2, evaluated_at = NULL WHERE name = ?1",
                    params![spec.name, json],
                )?;
                config_history(&tx, spec, "Update", now_ms)?;
            }
            None => {
                tx.execute(
                    "INSERT INTO alarms (name, spec, state, reason, state_at_ms)
                     VALUES (?1, ?2, 'INSUFFICIENT_DATA', ?3, ?4)",
                    params![spec.name, json, INITIAL_REASON, now_ms],
                )?;
                config_history(&tx, spec, "Create", now_ms)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes the stored alarms exactly `specs`: puts each, deletes the others (a region at start
    /// applies the spec's alarms with this).
    pub fn sync_alarms(&mut self, specs: &[AlarmSpec], now: SystemTime) -> Result<()> {
        for spec in specs {
            spec.validate()?;
        }
        for spec in specs {
            self.put_metric_alarm(spec, now)?;
        }
        let stale: Vec<String> = self
            .describe_alarms()?
            .into_iter()
            .map(|a| a.spec.name)
            .filter(|name| !specs.iter().any(|s| &s.name == name))
            .collect();
        let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
        self.delete_alarms(&stale, now)
    }

    /// DeleteAlarms. Their history stays until it ages out.
    pub fn delete_alarms(&mut self, names: &[&str], now: SystemTime) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for name in names {
            let deleted = tx.execute("DELETE FROM alarms WHERE name = ?1", params![name])?;
            if deleted > 0 {
                tx.execute(
                    "INSERT INTO alarm_history (alarm, at_ms, kind, summary, data)
                     VALUES (?1, ?2, 'ConfigurationUpdate', ?3, ?4)",
                    params![
                        name,
                        time::millis(now),
                        format!("Alarm \"{name}\" deleted"),
                        json!({"version": "1.0", "type": "Delete"}).to_string()
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// DescribeAlarms: every alarm, by name.
    pub fn describe_alarms(&self) -> Result<Vec<AlarmStatus>> {
        self.rows(None)?.into_iter().map(status).collect()
    }

    pub fn alarm(&self, name: &str) -> Result<Option<AlarmStatus>> {
        self.rows(Some(name))?
            .into_iter()
            .next()
            .map(status)
            .transpose()
    }

    /// Evaluates every alarm due at `now` (at most once per evaluation instant), records state
    /// changes and returns them, by alarm name.
    ///
    /// A caller that comes late (a busy machine, a region restarted) has the instants it missed
    /// evaluated first, in order, back to the start of the newest range: a breach that lasted one
    /// period is not skipped because nobody looked while it lasted.
    pub fn evaluate_alarms(&mut self, now: SystemTime) -> Result<Vec<Transition>> {
        let now_s = time::secs(now);
        let now_ms = time::millis(now);
        let rows = self.rows(None)?;
        let tx = self.conn.unchecked_transaction()?;
        let mut out = Vec::new();
        for mut row in rows {
            let due = eval::due_instants(&row.spec, row.evaluated_at, now_s);
            let Some(&last) = due.last() else {
                continue;
            };
            tx.execute(
                "UPDATE alarms SET evaluated_at = ?2 WHERE name = ?1",
                params![row.spec.name, last],
            )?;
            for at in due {
                let range = self.range(&row.spec, at, now_s)?;
                let Some(outcome) = eval::transition(&row.spec, &range, row.state) else {
                    continue;
                };
                let data = eval::reason_data(&row.spec, &range, &outcome.evaluated, now_ms);
                out.push(record_transition(
                    &tx,
                    &row,
                    outcome.state,
                    &outcome.reason,
                    data,
                    now_ms,
                )?);
                row.state = outcome.state;
                row.reason = outcome.reason;
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// SetAlarmState: sets the state until the next evaluation says otherwise. `None` when the
    /// alarm is already in that state.
    pub fn set_alarm_state(
        &mut self,
        name: &str,
        state: StateValue,
        reason: &str,
        now: SystemTime,
    ) -> Result<Option<Transition>> {
        let row = self
            .rows(Some(name))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnknownAlarm(name.to_owned()))?;
        if row.state == state {
            return Ok(None);
        }
        let tx = self.conn.unchecked_transaction()?;
        let t = record_transition(&tx, &row, state, reason, Value::Null, time::millis(now))?;
        tx.commit()?;
        Ok(Some(t))
    }

    /// DescribeAlarmHistory for one alarm: its newest `limit` items, newest first.
    pub fn alarm_history(&self, name: &str, limit: u32) -> Result<Vec<HistoryItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT alarm, at_ms, kind, summary, from_state, to_state, reason, data
             FROM alarm_history WHERE alarm = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![name, limit], |r| {
            Ok(HistoryItem {
                alarm: r.get(0)?,
                at: time::from_millis(r.get(1)?),
                kind: r.get(2)?,
                summary: r.get(3)?,
                from: r.get(4)?,
                to: r.get(5)?,
                reason: r.get(6)?,
                data: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or(Value::Null),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// State changes not yet marked published, oldest first (after a crash: those to publish
    /// again).
    pub fn pending_transitions(&self) -> Result<Vec<Transition>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.id, h.alarm, h.at_ms, h.from_state, h.to_state, h.reason, h.reason_data,
                    a.spec
             FROM alarm_history h JOIN alarms a ON a.name = h.alarm
             WHERE h.published = 0 ORDER BY h.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, StateValue>(3)?,
                r.get::<_, StateValue>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, alarm, at_ms, from, to, reason, reason_data, spec) = row?;
            let spec: AlarmSpec =
                serde_json::from_str(&spec).map_err(|source| Error::CorruptAlarm {
                    name: alarm.clone(),
                    source,
                })?;
            out.push(Transition {
                id,
                alarm,
                description: spec.description.clone(),
                condition: spec.condition(),
                dims: spec.dims.clone(),
                from,
                to,
                reason: reason.unwrap_or_default(),
                reason_data: reason_data
                    .and_then(|d| serde_json::from_str(&d).ok())
                    .unwrap_or(Value::Null),
                at: time::from_millis(at_ms),
                actions_topic: spec.actions_topic.clone(),
            });
        }
        Ok(out)
    }

    /// Records that a transition reached its topic.
    pub fn mark_published(&mut self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE alarm_history SET published = 1 WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    fn rows(&self, name: Option<&str>) -> Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, spec, state, reason, reason_data, state_at_ms, evaluated_at
             FROM alarms WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map(params![name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, StateValue>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, spec, state, reason, reason_data, state_at_ms, evaluated_at) = row?;
            let spec = serde_json::from_str(&spec)
                .map_err(|source| Error::CorruptAlarm { name, source })?;
            out.push(Row {
                spec,
                state,
                reason,
                reason_data,
                state_at_ms,
                evaluated_at,
            });
        }
        Ok(out)
    }

    /// The evaluation range ending at `t`: N + 2 periods, oldest first, each with the alarm's
    /// statistic over the alarm's metric (every unit unless the alarm names one).
    fn range(&self, spec: &AlarmSpec, t: i64, now: i64) -> Result<Vec<Slot>> {
        let period = spec.period_secs();
        let start = eval::range_start(spec, t);
        let count = usize::try_from((t - start) / period).unwrap_or(0);
        let dims = canonical_dims(&spec.dims)?;
        let level = self.level_for(period, start, now - start);
        let mut aggs: Vec<Option<Agg>> = vec![None; count];
        for (id, _) in self.series_ids(&spec.namespace, &spec.metric, &dims, spec.unit)? {
            let mut rows = Vec::new();
            self.read_points(id, level, start, t, &mut rows)?;
            for (ts, agg) in rows {
                let Some(slot) = aggs.get_mut(usize::try_from((ts - start) / period).unwrap_or(0))
                else {
                    continue;
                };
                match slot {
                    Some(a) => a.merge(&agg),
                    None => *slot = Some(agg),
                }
            }
        }
        Ok(Slot::range(spec, start, aggs))
    }
}

fn status(row: Row) -> Result<AlarmStatus> {
    Ok(AlarmStatus {
        state: row.state,
        reason: row.reason,
        reason_data: row
            .reason_data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
        updated_at: time::from_millis(row.state_at_ms),
        spec: row.spec,
    })
}

fn config_history(
    conn: &rusqlite::Connection,
    spec: &AlarmSpec,
    kind: &str,
    now_ms: i64,
) -> Result<()> {
    let verb = if kind == "Create" {
        "created"
    } else {
        "updated"
    };
    conn.execute(
        "INSERT INTO alarm_history (alarm, at_ms, kind, summary, data)
         VALUES (?1, ?2, 'ConfigurationUpdate', ?3, ?4)",
        params![
            spec.name,
            now_ms,
            format!("Alarm \"{}\" {verb}", spec.name),
            json!({"version": "1.0", "type": kind, "alarm": spec}).to_string()
        ],
    )?;
    Ok(())
}

fn record_transition(
    conn: &rusqlite::Connection,
    row: &Row,
    to: StateValue,
    reason: &str,
    reason_data: Value,
    now_ms: i64,
) -> Result<Transition> {
    let data_text = (!reason_data.is_null()).then(|| reason_data.to_string());
    conn.execute(
        "UPDATE alarms SET state = ?2, reason = ?3, reason_data = ?4, state_at_ms = ?5
         WHERE name = ?1",
        params![row.spec.name, to.as_str(), reason, data_text, now_ms],
    )?;
    let history = json!({
        "version": "1.0",
        "oldState": {"stateValue": row.state.as_str(), "stateReason": row.reason},
        "newState": {
            "stateValue": to.as_str(),
            "stateReason": reason,
            "stateReasonData": reason_data,
        },
    });
    conn.execute(
        "INSERT INTO alarm_history
             (alarm, at_ms, kind, summary, from_state, to_state, reason, reason_data, data,
              published)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            row.spec.name,
            now_ms,
            HistoryKind::StateUpdate.as_str(),
            format!(
                "Alarm updated from {} to {}",
                row.state.as_str(),
                to.as_str()
            ),
            row.state.as_str(),
            to.as_str(),
            reason,
            data_text,
            history.to_string(),
            // Nothing to publish without a topic.
            row.spec.actions_topic.is_none(),
        ],
    )?;
    Ok(Transition {
        id: conn.last_insert_rowid(),
        alarm: row.spec.name.clone(),
        description: row.spec.description.clone(),
        condition: row.spec.condition(),
        dims: row.spec.dims.clone(),
        from: row.state,
        to,
        reason: reason.to_owned(),
        reason_data,
        at: time::from_millis(now_ms),
        actions_topic: row.spec.actions_topic.clone(),
    })
}
