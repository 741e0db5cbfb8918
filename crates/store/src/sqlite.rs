//! The SQLite backend (the default): one file, created on first start, in WAL mode.
//!
//! Writes go through a pool of one connection and start with `BEGIN IMMEDIATE`, so a
//! transaction holds SQLite's single write lock from its first statement: a lease's
//! select-then-update can never interleave with another writer (no two workers get the
//! same delivery), and writers queue in the pool instead of spinning on `SQLITE_BUSY`.
//! Reads use their own small pool; WAL lets them run beside the writer.
//! `synchronous = NORMAL` in WAL mode keeps every commit across a process crash (only an OS
//! crash or power loss can drop the last commits), at a fraction of FULL's fsyncs.

use std::str::FromStr;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{SqlSafeStr, Transaction};

use crate::Clock;

type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers beside the single writer.
const READ_CONNECTIONS: u32 = 4;

/// Takes the due deliveries and leases them in one statement; run inside `BEGIN IMMEDIATE`.
/// Parameters: $1 now, $2 destination, $3 max, $4 worker, $5 lease expiry.
const LEASE_SQL: &str = "UPDATE deliveries SET state = 'leased', lease_owner = $4, \
     lease_expires_at_us = $5 \
     WHERE id IN (SELECT id FROM deliveries WHERE destination = $2 AND \
     ((state = 'pending' AND next_attempt_at_us <= $1) \
     OR (state = 'leased' AND lease_expires_at_us <= $1)) \
     ORDER BY next_attempt_at_us, id LIMIT $3) \
     RETURNING id, evaluation_id, destination, attempts";

/// The immediate transaction already holds the write lock.
const FOR_UPDATE: &str = "";

/// The database file's size: its pages (free ones included, as on disk; the WAL apart).
const DATABASE_SIZE_SQL: &str =
    "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s";

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "initial".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0001_initial.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "admin".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0002_admin.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "log indexes".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0003_log_indexes.sql").into_sql_str(),
            false,
        ),
    ])
}

pub(crate) struct Backend {
    write: SqlitePool,
    read: SqlitePool,
    clock: Clock,
}

impl Backend {
    pub(crate) async fn connect(url: &str, clock: Clock) -> crate::Result<Backend> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if in_memory {
            // One connection only: every connection to `:memory:` would be its own database.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            return Ok(Backend {
                write: pool.clone(),
                read: pool,
                clock,
            });
        }
        // First start: SQLite creates the file but not its folder.
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_lazy_with(options.create_if_missing(false));
        Ok(Backend { write, read, clock })
    }

    fn read(&self) -> &SqlitePool {
        &self.read
    }

    fn write(&self) -> &SqlitePool {
        &self.write
    }

    async fn begin_write(&self) -> crate::Result<Transaction<'static, Db>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }
}

include!("common.rs");
include!("admin.rs");
