//! The embedded store: `SQLite` through rusqlite, in WAL mode, migrated on open.
//!
//! One writer (the agent) batches its writes in transactions; readers (the API, later) use
//! their own connections, which WAL lets run beside the writer. The database lives in the
//! agent's state directory (`/var/lib/sensor/sensor.db` by default), created mode 0700.
//!
//! # Layout
//! - [`schema`]: the migrations.
//! - [`breaches`]: model breaches and the saved baselines.
//! - [`actions`]: response actions, the owners of kernel rules.
//! - [`connections`]: writing and querying connection records.
//! - [`exports`]: exporters' cursors and the rows after them.
//! - [`edr`]: EDR alerts and their joins.
//! - [`edr_hosts`]: what the EDRs know of hosts (OS, vulnerabilities).
//! - [`fusion`]: EDR alert rarity and the peer groups behind it.
//! - [`incidents`]: what investigations concluded.
//! - [`devices`]: devices and their addresses over time.
//! - [`timeline`]: a device's summary and event log.
//! - [`rows`]: whole rows of the later layers' tables, as JSON.
//! - [`retention`]: pruning by age and by size.

pub mod actions;
pub mod breaches;
pub mod connections;
pub mod devices;
pub mod edr;
pub mod edr_hosts;
pub mod exports;
pub mod fusion;
pub mod incidents;
pub mod retention;
pub mod rows;
pub mod schema;
pub mod timeline;

use std::{
    fs::DirBuilder,
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
};

use rusqlite::Connection;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("failed to open the database at {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The state directory could not be created.
    #[error("failed to create the state directory {path}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A migration failed.
    #[error("failed to migrate the database schema")]
    Migrate(#[source] rusqlite_migration::Error),
    /// A blocking task died.
    #[error("a store task failed: {0}")]
    Task(String),
    /// A statement failed.
    #[error("failed to {what}")]
    Sql {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
}

/// A time as the store keeps it: UTC ns since the epoch (saturating past 2262).
pub(crate) fn ns(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// A `map_err` for statements: `.map_err(sql("insert connections"))`.
pub(crate) fn sql(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sql { what, source }
}

/// The agent's database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, in WAL mode, and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| StoreError::Dir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::setup(conn)
    }

    /// A database in memory, for tests and offline analysis.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Self::setup(conn)
    }

    fn setup(mut conn: Connection) -> Result<Self, StoreError> {
        // WAL: readers never block the writer; NORMAL sync is durable across a process
        // crash (a power loss may lose the last transactions, never corrupt).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql("enable foreign keys"))?;
        // A 64 MiB page cache keeps the indexes' hot pages in memory across batches, and a
        // larger checkpoint interval lets WAL absorb bursts of records.
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(sql("set the cache size"))?;
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)
            .map_err(sql("set the checkpoint interval"))?;
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql("keep temporary tables in memory"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql("set the busy timeout"))?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(StoreError::Migrate)?;
        Ok(Self { conn })
    }

    /// A write transaction that takes the write lock at once. A deferred one that reads
    /// first cannot wait for another writer: `SQLite` answers BUSY at once when it tries to
    /// upgrade (the agent's record writer and each EDR connector write side by side).
    pub(crate) fn write(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("begin a write transaction"))
    }

    /// The underlying connection, for the modules of this store.
    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }
}
