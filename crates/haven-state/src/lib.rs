//! A region's durable state: one SQLite file in WAL mode.
//!
//! Controllers write what they are about to do before they do it (a task row before its process
//! starts, its identity right after), so a region killed at any instant finds, on restart, every
//! process it may have left behind and every decision it made.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub mod spelling;
mod states;

pub use states::{ExitStatus, ReleaseState, StopReason, TaskStatus};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening the file, or its schema version (see [`haven_sqlite`]).
    #[error("state database: {0}")]
    Open(#[from] haven_sqlite::Error),
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A task as recorded: where it runs and which process it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub service: String,
    pub az: String,
    pub port: u16,
    pub image: String,
    pub status: TaskStatus,
    /// The process, once started: pid, its start time (pid reuse) and process group.
    pub pid: Option<u32>,
    pub start_time: Option<u64>,
    pub pgid: Option<u32>,
    pub stopped_reason: Option<StopReason>,
    pub created_at_ms: u64,
    pub stopped_at_ms: Option<u64>,
}

impl TaskRecord {
    /// A task about to start: `PROVISIONING`, no process yet, created now.
    pub fn provisioning(id: &str, service: &str, az: &str, port: u16, image: &str) -> Self {
        Self {
            id: id.to_owned(),
            service: service.to_owned(),
            az: az.to_owned(),
            port,
            image: image.to_owned(),
            status: TaskStatus::Provisioning,
            pid: None,
            start_time: None,
            pgid: None,
            stopped_reason: None,
            created_at_ms: now_ms(),
            stopped_at_ms: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingActivity {
    pub service: String,
    pub at_ms: u64,
    pub from: u32,
    pub to: u32,
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceEvent {
    pub service: String,
    pub at_ms: u64,
    pub message: String,
}

pub struct Store {
    conn: Connection,
}

/// The file's schema versions ([`haven_sqlite`]): version 1 is the schema from before versions
/// existed, idempotent so that it adopts such a file.
const MIGRATIONS: &haven_sqlite::Migrations = &[SCHEMA_V1];

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY,
    desired INTEGER NOT NULL,
    image TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    az TEXT NOT NULL,
    port INTEGER NOT NULL,
    image TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    start_time INTEGER,
    pgid INTEGER,
    stopped_reason TEXT,
    created_at_ms INTEGER NOT NULL,
    stopped_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks(status);
CREATE TABLE IF NOT EXISTS scaling_activities (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    from_desired INTEGER NOT NULL,
    to_desired INTEGER NOT NULL,
    cause TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS impaired_azs (
    az TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS releases (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    service TEXT NOT NULL,
    from_image TEXT NOT NULL,
    to_image TEXT NOT NULL,
    strategy TEXT NOT NULL,
    state TEXT NOT NULL,
    shifted INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS release_steps (
    id INTEGER PRIMARY KEY,
    release TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    step TEXT NOT NULL
);
";

/// A release of a new image to a service, as ECS records a service deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub id: String,
    pub service: String,
    pub from_image: String,
    pub to_image: String,
    pub strategy: String,
    pub state: ReleaseState,
    /// Production traffic had fully moved to the new image: after a crash, the release completes
    /// rather than rolls back.
    pub shifted: bool,
    pub reason: Option<String>,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    pub steps: Vec<ReleaseStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseStep {
    pub at_ms: u64,
    pub step: String,
}

pub fn now_ms() -> u64 {
    haven_time::now_millis()
}

impl Store {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = haven_sqlite::open(path, MIGRATIONS)?;
        Ok(Self { conn })
    }

    /// The service's desired count, recording `initial` the first time the service is seen.
    pub fn desired_or_init(&self, service: &str, initial: u32) -> Result<u32> {
        self.conn.execute(
            "INSERT OR IGNORE INTO services (name, desired) VALUES (?1, ?2)",
            params![service, initial],
        )?;
        Ok(self.conn.query_row(
            "SELECT desired FROM services WHERE name = ?1",
            params![service],
            |r| r.get(0),
        )?)
    }

    pub fn set_desired(&self, service: &str, desired: u32) -> Result<()> {
        self.conn.execute(
            "INSERT INTO services (name, desired) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET desired = excluded.desired",
            params![service, desired],
        )?;
        Ok(())
    }

    /// The service's image, recording `initial` the first time the service is seen.
    pub fn image_or_init(&self, service: &str, initial: &str) -> Result<String> {
        self.conn.execute(
            "UPDATE services SET image = ?2 WHERE name = ?1 AND image = ''",
            params![service, initial],
        )?;
        Ok(self
            .conn
            .query_row(
                "SELECT image FROM services WHERE name = ?1",
                params![service],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_else(|| initial.to_owned()))
    }

    pub fn set_image(&self, service: &str, image: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE services SET image = ?2 WHERE name = ?1",
            params![service, image],
        )?;
        Ok(())
    }

    pub fn insert_task(&self, t: &TaskRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tasks (id, service, az, port, image, status, pid, start_time, pgid,
                                stopped_reason, created_at_ms, stopped_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                t.id,
                t.service,
                t.az,
                t.port,
                t.image,
                t.status,
                t.pid,
                t.start_time.map(|v| v as i64),
                t.pgid,
                t.stopped_reason,
                t.created_at_ms as i64,
                t.stopped_at_ms.map(|v| v as i64),
            ],
        )?;
        Ok(())
    }

    /// Records the process a task runs as, right after it started.
    pub fn set_task_process(&self, id: &str, pid: u32, start_time: u64, pgid: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE tasks SET pid = ?2, start_time = ?3, pgid = ?4 WHERE id = ?1",
            params![id, pid, start_time as i64, pgid],
        )?;
        Ok(())
    }

    pub fn set_task_status(&self, id: &str, status: TaskStatus) -> Result<()> {
        self.conn.execute(
            "UPDATE tasks SET status = ?2 WHERE id = ?1 AND status != ?3",
            params![id, status, TaskStatus::Stopped],
        )?;
        Ok(())
    }

    pub fn stop_task(&self, id: &str, reason: &StopReason) -> Result<()> {
        self.conn.execute(
            "UPDATE tasks SET status = ?4, stopped_reason = ?2, stopped_at_ms = ?3
             WHERE id = ?1 AND status != ?4",
            params![id, reason, now_ms() as i64, TaskStatus::Stopped],
        )?;
        Ok(())
    }

    /// Tasks not yet stopped: after a crash, the processes that may still be around.
    pub fn live_tasks(&self) -> Result<Vec<TaskRecord>> {
        self.tasks_where(
            "status != ?1 ORDER BY created_at_ms, id",
            params![TaskStatus::Stopped],
        )
    }

    /// The most recently stopped tasks of a service, newest first.
    pub fn stopped_tasks(&self, service: &str, limit: u32) -> Result<Vec<TaskRecord>> {
        self.tasks_where(
            "service = ?1 AND status = ?3 ORDER BY stopped_at_ms DESC LIMIT ?2",
            params![service, limit, TaskStatus::Stopped],
        )
    }

    pub fn task(&self, id: &str) -> Result<Option<TaskRecord>> {
        Ok(self.tasks_where("id = ?1", params![id])?.into_iter().next())
    }

    fn tasks_where(&self, clause: &str, p: impl rusqlite::Params) -> Result<Vec<TaskRecord>> {
        let sql = format!(
            "SELECT id, service, az, port, image, status, pid, start_time, pgid, stopped_reason,
                    created_at_ms, stopped_at_ms FROM tasks WHERE {clause}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(p, |r| {
            Ok(TaskRecord {
                id: r.get(0)?,
                service: r.get(1)?,
                az: r.get(2)?,
                port: r.get(3)?,
                image: r.get(4)?,
                status: r.get(5)?,
                pid: r.get(6)?,
                start_time: r.get::<_, Option<i64>>(7)?.map(|v| v as u64),
                pgid: r.get(8)?,
                stopped_reason: r.get(9)?,
                created_at_ms: r.get::<_, i64>(10)? as u64,
                stopped_at_ms: r.get::<_, Option<i64>>(11)?.map(|v| v as u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn record_scaling(&self, a: &ScalingActivity) -> Result<()> {
        self.conn.execute(
            "INSERT INTO scaling_activities (service, at_ms, from_desired, to_desired, cause)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a.service, a.at_ms as i64, a.from, a.to, a.cause],
        )?;
        Ok(())
    }

    /// The latest scaling activities of a service, oldest first.
    pub fn scaling_activities(&self, service: &str, limit: u32) -> Result<Vec<ScalingActivity>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT service, at_ms, from_desired, to_desired, cause FROM (
                SELECT * FROM scaling_activities WHERE service = ?1 ORDER BY id DESC LIMIT ?2
             ) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![service, limit], |r| {
            Ok(ScalingActivity {
                service: r.get(0)?,
                at_ms: r.get::<_, i64>(1)? as u64,
                from: r.get(2)?,
                to: r.get(3)?,
                cause: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn last_scaling_at(&self, service: &str) -> Result<Option<u64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT max(at_ms) FROM scaling_activities WHERE service = ?1",
                params![service],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten()
            .map(|v| v as u64))
    }

    /// An ECS-style service event ("service hello has reached a steady state.").
    pub fn event(&self, service: &str, message: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO events (service, at_ms, message) VALUES (?1, ?2, ?3)",
            params![service, now_ms() as i64, message],
        )?;
        // Keep the table bounded: events are for people reading status, not an audit log.
        self.conn.execute(
            "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - 1000",
            [],
        )?;
        Ok(())
    }

    pub fn events(&self, service: &str, limit: u32) -> Result<Vec<ServiceEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT service, at_ms, message FROM (
                SELECT * FROM events WHERE service = ?1 ORDER BY id DESC LIMIT ?2
             ) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![service, limit], |r| {
            Ok(ServiceEvent {
                service: r.get(0)?,
                at_ms: r.get::<_, i64>(1)? as u64,
                message: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn insert_release(&self, r: &Release) -> Result<()> {
        self.conn.execute(
            "INSERT INTO releases (id, seq, service, from_image, to_image, strategy, state, shifted,
                                   reason, started_at_ms)
             VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM releases), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                r.id,
                r.service,
                r.from_image,
                r.to_image,
                r.strategy,
                r.state,
                r.shifted,
                r.reason,
                r.started_at_ms as i64
            ],
        )?;
        Ok(())
    }

    pub fn release_step(&self, id: &str, step: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO release_steps (release, at_ms, step) VALUES (?1, ?2, ?3)",
            params![id, now_ms() as i64, step],
        )?;
        Ok(())
    }

    pub fn release_shifted(&self, id: &str) -> Result<()> {
        self.conn
            .execute("UPDATE releases SET shifted = 1 WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// Ends a release in progress; one that has ended already keeps its end.
    pub fn end_release(&self, id: &str, state: ReleaseState, reason: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE releases SET state = ?2, reason = ?3, ended_at_ms = ?4
             WHERE id = ?1 AND state = ?5",
            params![id, state, reason, now_ms() as i64, ReleaseState::InProgress],
        )?;
        Ok(())
    }

    /// Releases, newest first; `service` filters.
    pub fn releases(&self, service: Option<&str>, limit: u32) -> Result<Vec<Release>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, service, from_image, to_image, strategy, state, shifted, reason,
                    started_at_ms, ended_at_ms
             FROM releases WHERE ?1 IS NULL OR service = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![service, limit], |r| {
            Ok(Release {
                id: r.get(0)?,
                service: r.get(1)?,
                from_image: r.get(2)?,
                to_image: r.get(3)?,
                strategy: r.get(4)?,
                state: r.get(5)?,
                shifted: r.get(6)?,
                reason: r.get(7)?,
                started_at_ms: r.get::<_, i64>(8)? as u64,
                ended_at_ms: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
                steps: Vec::new(),
            })
        })?;
        let mut out: Vec<Release> = rows.collect::<rusqlite::Result<_>>()?;
        let mut steps = self.conn.prepare_cached(
            "SELECT at_ms, step FROM release_steps WHERE release = ?1 ORDER BY id",
        )?;
        for r in &mut out {
            r.steps = steps
                .query_map(params![r.id], |row| {
                    Ok(ReleaseStep {
                        at_ms: row.get::<_, i64>(0)? as u64,
                        step: row.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(out)
    }

    pub fn release(&self, id: &str) -> Result<Option<Release>> {
        Ok(self
            .releases(None, u32::MAX)?
            .into_iter()
            .find(|r| r.id == id))
    }

    pub fn set_az_impaired(&self, az: &str, impaired: bool) -> Result<()> {
        if impaired {
            self.conn.execute(
                "INSERT OR IGNORE INTO impaired_azs (az) VALUES (?1)",
                params![az],
            )?;
        } else {
            self.conn
                .execute("DELETE FROM impaired_azs WHERE az = ?1", params![az])?;
        }
        Ok(())
    }

    pub fn impaired_azs(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT az FROM impaired_azs ORDER BY az")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> TaskRecord {
        TaskRecord::provisioning(id, "web", "us-east-1a", 40000, "build-1")
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.desired_or_init("web", 2).unwrap(), 2);
            s.set_desired("web", 4).unwrap();
            s.insert_task(&task("t1")).unwrap();
            s.set_task_process("t1", 123, 456, 123).unwrap();
            s.insert_task(&task("t2")).unwrap();
            s.stop_task("t2", &exited(1)).unwrap();
            s.set_az_impaired("us-east-1a", true).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.desired_or_init("web", 2).unwrap(), 4, "desired persists");
        let live = s.live_tasks().unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(
            (live[0].pid, live[0].start_time, live[0].pgid),
            (Some(123), Some(456), Some(123))
        );
        let stopped = s.stopped_tasks("web", 10).unwrap();
        assert_eq!(stopped[0].stopped_reason, Some(exited(1)));
        assert_eq!(stopped[0].status, TaskStatus::Stopped);
        assert_eq!(s.impaired_azs().unwrap(), ["us-east-1a"]);
        // Stopping twice keeps the first reason.
        s.stop_task("t2", &StopReason::ScalingActivity).unwrap();
        assert_eq!(
            s.task("t2").unwrap().unwrap().stopped_reason,
            Some(exited(1))
        );
    }

    fn exited(code: i32) -> StopReason {
        StopReason::EssentialContainerExited(ExitStatus::Code(code))
    }

    /// A status or reason this haven never writes (a newer one's, or a damaged row) is an
    /// error when read, not a stopped task.
    #[test]
    fn unknown_stored_states_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let s = Store::open(&path).unwrap();
        s.insert_task(&task("t1")).unwrap();
        assert_eq!(s.live_tasks().unwrap().len(), 1);
        for (column, value) in [("status", "PENDING"), ("stopped_reason", "tired")] {
            let raw = Connection::open(&path).unwrap();
            raw.execute(
                &format!("UPDATE tasks SET {column} = ?1 WHERE id = 't1'"),
                [value],
            )
            .unwrap();
            let err = s.task("t1").unwrap_err().to_string();
            assert!(err.contains(value), "{column}: {err}");
            raw.execute(
                "UPDATE tasks SET status = 'RUNNING', stopped_reason = NULL WHERE id = 't1'",
                [],
            )
            .unwrap();
        }
    }

    #[test]
    fn releases_record_steps_and_end_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        for id in ["r1", "r2"] {
            s.insert_release(&Release {
                id: id.into(),
                service: "web".into(),
                from_image: "a".into(),
                to_image: "b".into(),
                strategy: "blue-green".into(),
                state: ReleaseState::InProgress,
                shifted: false,
                reason: None,
                started_at_ms: now_ms(),
                ended_at_ms: None,
                steps: Vec::new(),
            })
            .unwrap();
        }
        s.release_step("r1", "green healthy").unwrap();
        s.release_shifted("r1").unwrap();
        s.end_release("r1", ReleaseState::Successful, None).unwrap();
        s.end_release("r1", ReleaseState::RolledBack, Some("late"))
            .unwrap();
        let all = s.releases(None, 10).unwrap();
        assert_eq!(
            all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r2", "r1"]
        );
        let r1 = s.release("r1").unwrap().unwrap();
        assert_eq!(
            (r1.state, r1.shifted, r1.steps.len()),
            (ReleaseState::Successful, true, 1)
        );
        assert_eq!(s.releases(Some("other"), 10).unwrap().len(), 0);
    }

    #[test]
    fn scaling_history_is_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        for (i, to) in [3u32, 4, 5].iter().enumerate() {
            s.record_scaling(&ScalingActivity {
                service: "web".into(),
                at_ms: 1000 + i as u64,
                from: to - 1,
                to: *to,
                cause: "cpu".into(),
            })
            .unwrap();
        }
        let got: Vec<u32> = s
            .scaling_activities("web", 2)
            .unwrap()
            .iter()
            .map(|a| a.to)
            .collect();
        assert_eq!(got, [4, 5]);
        assert_eq!(s.last_scaling_at("web").unwrap(), Some(1002));
        assert_eq!(s.last_scaling_at("other").unwrap(), None);
    }
}
