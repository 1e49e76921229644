//! The pipeline's durable state: runs and their stages in one SQLite file (WAL), written before
//! anything is done so that a restarted pipeline process resumes each run where it was.

use std::path::Path;
use std::sync::Mutex;

use haven_fs::WithPath;
use rusqlite::{Connection, OptionalExtension, params};

use crate::api::{Run, RunStatus, Stage, StageStatus};
use haven_time::now_millis as now_ms;

use crate::Error;

pub struct Store {
    conn: Mutex<Connection>,
}

/// The file's schema versions ([`haven_sqlite`]): version 1 is the schema from before versions
/// existed, idempotent so that it adopts such a file.
const MIGRATIONS: &haven_sqlite::Migrations = &[SCHEMA_V1];

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    commit_id TEXT NOT NULL,
    branch TEXT NOT NULL,
    status TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    message TEXT NOT NULL DEFAULT '',
    image TEXT,
    build_id TEXT
);
CREATE TABLE IF NOT EXISTS stages (
    run INTEGER NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_ms INTEGER,
    ended_ms INTEGER,
    message TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, idx)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

impl Store {
    pub fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_path(dir)?;
        }
        let conn = haven_sqlite::open(path, MIGRATIONS)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), Error> {
        self.conn().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// A new run of `commit`, every stage pending, in one transaction.
    pub fn create_run(&self, commit: &str, branch: &str, stages: &[&str]) -> Result<u64, Error> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO runs (commit_id, branch, status, started_ms) VALUES (?1, ?2, ?3, ?4)",
            params![commit, branch, RunStatus::InProgress, sql(now_ms())],
        )?;
        let id = tx.last_insert_rowid();
        for (i, name) in stages.iter().enumerate() {
            tx.execute(
                "INSERT INTO stages (run, idx, name, status) VALUES (?1, ?2, ?3, ?4)",
                params![id, sql(i), name, StageStatus::Pending],
            )?;
        }
        tx.commit()?;
        Ok(num(id))
    }

    pub fn run(&self, id: u64) -> Result<Option<Run>, Error> {
        let conn = self.conn();
        let run = conn
            .query_row(
                "SELECT id, commit_id, branch, status, started_ms, ended_ms, message, image,
                        build_id FROM runs WHERE id = ?1",
                [sql(id)],
                row_to_run,
            )
            .optional()?;
        match run {
            Some(mut run) => {
                run.stages = stages(&conn, id)?;
                Ok(Some(run))
            }
            None => Ok(None),
        }
    }

    /// Runs newest first; `active` keeps only runs in progress (oldest first then).
    pub fn runs(&self, limit: usize, active: bool) -> Result<Vec<Run>, Error> {
        let conn = self.conn();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut runs = if active {
            let mut stmt = conn.prepare_cached(
                "SELECT id, commit_id, branch, status, started_ms, ended_ms, message, image,
                        build_id FROM runs WHERE status = ?2 ORDER BY id ASC LIMIT ?1",
            )?;
            stmt.query_map(params![limit, RunStatus::InProgress], row_to_run)?
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let mut stmt = conn.prepare_cached(
                "SELECT id, commit_id, branch, status, started_ms, ended_ms, message, image,
                        build_id FROM runs ORDER BY id DESC LIMIT ?1",
            )?;
            stmt.query_map(params![limit], row_to_run)?
                .collect::<Result<Vec<_>, _>>()?
        };
        for run in &mut runs {
            run.stages = stages(&conn, run.id)?;
        }
        Ok(runs)
    }

    pub fn set_run(&self, id: u64, status: RunStatus, message: &str) -> Result<(), Error> {
        let ended = (status != RunStatus::InProgress).then(now_ms);
        self.conn().execute(
            "UPDATE runs SET status = ?2, message = ?3, ended_ms = ?4 WHERE id = ?1",
            params![sql(id), status, message, ended.map(sql)],
        )?;
        Ok(())
    }

    pub fn set_image(&self, id: u64, image: &str, build_id: &str) -> Result<(), Error> {
        self.conn().execute(
            "UPDATE runs SET image = ?2, build_id = ?3 WHERE id = ?1",
            params![sql(id), image, build_id],
        )?;
        Ok(())
    }

    /// Moves a stage to `status`, stamping its start or end.
    pub fn set_stage(
        &self,
        run: u64,
        idx: usize,
        status: StageStatus,
        message: &str,
    ) -> Result<(), Error> {
        let now = now_ms();
        let conn = self.conn();
        match status {
            StageStatus::InProgress => conn.execute(
                "UPDATE stages SET status = ?3, message = ?4, started_ms = ?5, ended_ms = NULL,
                        attempts = attempts + 1
                 WHERE run = ?1 AND idx = ?2",
                params![sql(run), sql(idx), status, message, sql(now)],
            )?,
            StageStatus::Pending => conn.execute(
                "UPDATE stages SET status = ?3, message = ?4, ended_ms = NULL, detail = '{}'
                 WHERE run = ?1 AND idx = ?2",
                params![sql(run), sql(idx), status, message],
            )?,
            _ => conn.execute(
                "UPDATE stages SET status = ?3, message = ?4, ended_ms = ?5
                 WHERE run = ?1 AND idx = ?2",
                params![sql(run), sql(idx), status, message, sql(now)],
            )?,
        };
        Ok(())
    }

    /// A stage's progress notes (release ids, approval decision): JSON, read back on resume.
    pub fn detail(&self, run: u64, idx: usize) -> Result<serde_json::Value, Error> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT detail FROM stages WHERE run = ?1 AND idx = ?2",
                params![sql(run), sql(idx)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({})))
    }

    /// Sets one key of a stage's detail.
    pub fn set_detail(
        &self,
        run: u64,
        idx: usize,
        key: &str,
        value: serde_json::Value,
    ) -> Result<(), Error> {
        let mut detail = self.detail(run, idx)?;
        if let Some(map) = detail.as_object_mut() {
            map.insert(key.to_owned(), value);
        }
        self.conn().execute(
            "UPDATE stages SET detail = ?3 WHERE run = ?1 AND idx = ?2",
            params![sql(run), sql(idx), detail.to_string()],
        )?;
        Ok(())
    }
}

fn row_to_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: num(r.get(0)?),
        commit: r.get(1)?,
        branch: r.get(2)?,
        status: r.get(3)?,
        started_at_ms: num(r.get(4)?),
        ended_at_ms: r.get::<_, Option<i64>>(5)?.map(num),
        message: r.get(6)?,
        image: r.get(7)?,
        build_id: r.get(8)?,
        stages: Vec::new(),
    })
}

fn stages(conn: &Connection, run: u64) -> Result<Vec<Stage>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, status, started_ms, ended_ms, message, attempts, detail
         FROM stages WHERE run = ?1 ORDER BY idx",
    )?;
    let rows = stmt
        .query_map([sql(run)], |r| {
            let detail: String = r.get(6)?;
            Ok(Stage {
                name: r.get(0)?,
                status: r.get(1)?,
                started_at_ms: r.get::<_, Option<i64>>(2)?.map(num),
                ended_at_ms: r.get::<_, Option<i64>>(3)?.map(num),
                message: r.get(4)?,
                attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or_default(),
                detail: serde_json::from_str(&detail).unwrap_or_default(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// SQLite integers are signed; ids, indexes and millisecond times fit easily.
fn sql(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

fn num(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use haven_state::spelling::{Spelled, from_sqlite_text, through_json, through_sqlite};

    use super::*;

    /// A status this haven never writes (a newer one's) is an error when read, not a stopped
    /// run or stage.
    #[test]
    fn unknown_stored_statuses_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("pipeline.db");
        let store = Store::open(&db).unwrap();
        let id = store.create_run("abc", "main", &["Source"]).unwrap();
        for sql in [
            "UPDATE runs SET status = 'Paused'",
            "UPDATE stages SET status = 'Paused'",
        ] {
            let raw = Connection::open(&db).unwrap();
            raw.execute_batch(sql).unwrap();
            let err = store.run(id).unwrap_err().to_string();
            assert!(err.contains("Paused"), "{sql}: {err}");
            raw.execute_batch(
                "UPDATE runs SET status = 'InProgress'; UPDATE stages SET status = 'Pending'",
            )
            .unwrap();
        }
        assert_eq!(
            store.run(id).unwrap().unwrap().status,
            RunStatus::InProgress
        );
    }

    proptest::proptest! {
        #[test]
        fn statuses_round_trip_through_json_and_sqlite(
            run in proptest::sample::select(<RunStatus as Spelled>::ALL),
            stage in proptest::sample::select(<StageStatus as Spelled>::ALL),
        ) {
            proptest::prop_assert_eq!(through_json(&run).unwrap(), run);
            proptest::prop_assert_eq!(through_sqlite(&run).unwrap(), run);
            proptest::prop_assert_eq!(through_json(&stage).unwrap(), stage);
            proptest::prop_assert_eq!(through_sqlite(&stage).unwrap(), stage);
        }

        #[test]
        fn unknown_statuses_are_errors(text in "\\PC*") {
            proptest::prop_assume!(RunStatus::from_spelling(&text).is_err());
            proptest::prop_assume!(StageStatus::from_spelling(&text).is_err());
            proptest::prop_assert!(from_sqlite_text::<RunStatus>(&text).is_err());
            proptest::prop_assert!(from_sqlite_text::<StageStatus>(&text).is_err());
            let json = serde_json::Value::String(text.clone());
            proptest::prop_assert!(serde_json::from_value::<RunStatus>(json.clone()).is_err());
            proptest::prop_assert!(serde_json::from_value::<StageStatus>(json).is_err());
        }
    }

    /// Sets the run's stages, in order: (stage index, status, message).
    fn steps(store: &Store, run: u64, steps: &[(usize, StageStatus, &str)]) {
        for (idx, status, message) in steps {
            store.set_stage(run, *idx, *status, message).unwrap();
        }
    }

    #[test]
    fn runs_survive_reopening_with_their_stages_and_details() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("pipeline.db");
        let id = {
            let store = Store::open(&db).unwrap();
            let id = store
                .create_run("abc", "main", &["Source", "Build", "Approval"])
                .unwrap();
            steps(
                &store,
                id,
                &[
                    (0, StageStatus::InProgress, "started"),
                    (0, StageStatus::Succeeded, "commit abc"),
                    (2, StageStatus::InProgress, "started"),
                ],
            );
            store
                .set_detail(id, 2, "notified", serde_json::json!(true))
                .unwrap();
            store.set_image(id, "sha256:00", "b1").unwrap();
            store.set_meta("last_seen_commit", "abc").unwrap();
            id
        };
        let store = Store::open(&db).unwrap();
        let run = store.run(id).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::InProgress);
        assert_eq!(run.image.as_deref(), Some("sha256:00"));
        let names: Vec<_> = run
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.status))
            .collect();
        assert_eq!(
            names,
            [
                ("Source", StageStatus::Succeeded),
                ("Build", StageStatus::Pending),
                ("Approval", StageStatus::InProgress)
            ]
        );
        assert_eq!(run.stages[0].attempts, 1);
        assert!(run.stages[0].ended_at_ms.is_some());
        assert_eq!(run.stages[2].detail["notified"], true);
        assert!(run.awaiting_approval());
        assert_eq!(
            store.meta("last_seen_commit").unwrap().as_deref(),
            Some("abc")
        );
        assert_eq!(store.runs(10, true).unwrap().len(), 1);

        // A retried stage starts over: pending, details cleared, attempts kept counting.
        steps(&store, id, &[(2, StageStatus::Failed, "rejected")]);
        store
            .set_run(id, RunStatus::Failed, "Approval failed: rejected")
            .unwrap();
        assert!(store.runs(10, true).unwrap().is_empty());
        steps(
            &store,
            id,
            &[
                (2, StageStatus::Pending, "retried"),
                (2, StageStatus::InProgress, "started"),
            ],
        );
        let run = store.run(id).unwrap().unwrap();
        assert_eq!(run.stages[2].attempts, 2);
        assert_eq!(run.stages[2].detail, serde_json::json!({}));
        assert!(run.ended_at_ms.is_some());
        assert!(store.run(id + 1).unwrap().is_none());
    }
}
