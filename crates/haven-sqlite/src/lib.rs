//! Opening haven's SQLite stores (a region's `state.db` and `metrics.db`, `pipeline.db`): one
//! way to open them, and one schema version per file in `PRAGMA user_version`.
//!
//! A store's schema is an ordered list of migrations: the first creates the tables (version 1),
//! each next one brings version `k` to `k + 1`. Opening a file:
//! - newer than the migrations this haven knows: a [`Error::TooNew`] naming the file and both
//!   versions, and the file untouched;
//! - older: the missing migrations run in one transaction, so a crash leaves the old version;
//! - version 0 (a new file, or a store written before versions existed): the first migration
//!   runs, which is why it must be idempotent (`CREATE ... IF NOT EXISTS`): it adopts a store
//!   from before versioning as version 1 with its data.
//!
//! `rusqlite_migration` does the same, but its releases pin other rusqlite versions than the
//! workspace's and need a newer Rust than the workspace's `rust-version`; this is 100 lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open `{}`: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "`{}` was written by a newer haven (schema version {found}; this haven knows versions up \
         to {known}): use that haven, or move the file away to start afresh",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error(
        "`{}` has schema version {found}, older than this haven's {known}, and is open read-only: \
         open it once for writing (start the twin) to migrate it",
        path.display()
    )]
    NotMigrated {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("cannot migrate `{}` from schema version {from} to {to}: {source}", path.display())]
    Migrate {
        path: PathBuf,
        from: u32,
        to: u32,
        #[source]
        source: rusqlite::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A store's ordered migrations: `MIGRATIONS[k]` brings version `k` to `k + 1`.
pub type Migrations = [&'static str];

/// The version a store has once every migration ran.
pub fn current_version(migrations: &Migrations) -> u32 {
    u32::try_from(migrations.len()).unwrap_or(u32::MAX)
}

/// Opens (creating if need be) a store for reading and writing, in WAL mode, and brings its
/// schema to the current version.
pub fn open(path: &Path, migrations: &Migrations) -> Result<Connection> {
    let opened = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(opened)?;
    // WAL: readers (status, `haven metrics get`) never block the writer; NORMAL sync is durable
    // across a process crash, the failure the twin drills.
    conn.pragma_update(None, "journal_mode", "WAL")
        .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
        .and_then(|()| conn.busy_timeout(BUSY_TIMEOUT))
        .map_err(opened)?;
    migrate(&mut conn, path, migrations)?;
    Ok(conn)
}

/// Opens an existing store for reading only, as a command beside a running process does. Its
/// version must be the current one (a store from before versions counts as version 1).
pub fn open_read_only(path: &Path, migrations: &Migrations) -> Result<Connection> {
    let opened = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(opened)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(opened)?;
    let known = current_version(migrations);
    let mut found = version(&conn).map_err(opened)?;
    if found == 0 && has_tables(&conn).map_err(opened)? {
        found = 1;
    }
    if found > known {
        return Err(Error::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    if found < known {
        return Err(Error::NotMigrated {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    Ok(conn)
}

/// Brings `conn`'s schema to the current version in one transaction (`path` names the file in
/// errors). A store at the current version costs one read of the version.
pub fn migrate(conn: &mut Connection, path: &Path, migrations: &Migrations) -> Result<()> {
    let known = current_version(migrations);
    let found = version(conn).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    check_not_newer(path, found, known)?;
    if found == known {
        return Ok(());
    }
    let failed = |from: u32, source| Error::Migrate {
        path: path.to_path_buf(),
        from,
        to: known,
        source,
    };
    // IMMEDIATE: two processes opening an old store at once migrate it once, one after the other.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| failed(found, e))?;
    // Read again under the lock: the other process may have migrated meanwhile.
    let found = version(&tx).map_err(|e| failed(found, e))?;
    check_not_newer(path, found, known)?;
    for (k, sql) in migrations.iter().enumerate().skip(found as usize) {
        let to = u32::try_from(k + 1).unwrap_or(u32::MAX);
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", to))
            .map_err(|e| failed(found, e))?;
    }
    tx.commit().map_err(|e| failed(found, e))
}

fn check_not_newer(path: &Path, found: u32, known: u32) -> Result<()> {
    if found > known {
        return Err(Error::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    Ok(())
}

/// The file's `user_version`.
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// The schema version of the file at `path`, without migrating it.
pub fn file_version(path: &Path) -> Result<u32> {
    let opened = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(opened)?;
    version(&conn).map_err(opened)
}

/// Stamps the file at `path` with schema version `to`, changing nothing else: how tests make a
/// store look as an older or newer haven left it.
pub fn set_file_version(path: &Path, to: u32) -> Result<()> {
    let opened = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    Connection::open(path)
        .and_then(|conn| conn.pragma_update(None, "user_version", to))
        .map_err(opened)
}

fn has_tables(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table')",
        [],
        |r| r.get(0),
    )
}
