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
/// How long a request waits for a connection before the store answers "unavailable".
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Takes the due deliveries and leases them in one statement; run inside `BEGIN IMMEDIATE`.
/// Parameters: $1 now, $2 destination, $3 max, $4 worker, $5 lease expiry.
const LEASE_SQL: &str = "UPDATE deliveries SET state = 'leased', lease_owner = $4, \
     lease_expires_at_us = $5, lease_token = lease_token + 1 \
     WHERE id IN (SELECT id FROM deliveries WHERE destination = $2 AND \
     ((state = 'pending' AND next_attempt_at_us <= $1) \
     OR (state = 'leased' AND lease_expires_at_us <= $1)) \
     ORDER BY next_attempt_at_us, id LIMIT $3) \
     RETURNING id, evaluation_id, destination, attempts, lease_token";

/// The database file's size (its pages; the WAL is checkpointed back into them).
const DATABASE_SIZE_SQL: &str =
    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()";

/// The immediate transaction already holds the write lock.
const FOR_UPDATE: &str = "";

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
        Migration::new(
            4,
            "fencing_retention".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0004_fencing_retention.sql").into_sql_str(),
            false,
        ),
    ])
}

pub(crate) struct Backend {
    write: SqlitePool,
    read: SqlitePool,
    clock: Clock,
    health: crate::health::WriteHealth,
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
                health: Default::default(),
            });
        }
        // First start: SQLite creates the file but not its folder.
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        create_private(options.get_filename()).map_err(sqlx::Error::Io)?;
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .before_acquire(|conn, _| Box::pin(async move { usable(conn).await }))
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.create_if_missing(false));
        Ok(Backend {
            write,
            read,
            clock,
            health: Default::default(),
        })
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

    /// The clock leases are timed by. SQLite serves one host, so the process clock (the
    /// store's, replaceable in tests) is every worker's clock.
    async fn lease_now(&self, _conn: &mut sqlx::SqliteConnection) -> crate::Result<OffsetDateTime> {
        Ok(self.now())
    }
}

/// Creates the database file, readable by its owner only, unless it exists (an empty file is
/// a new database to SQLite). SQLite gives the `-wal` and `-shm` files the database file's
/// permissions, so they are private too. An existing file keeps the permissions it has.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether the idle write connection may serve the next write. After an I/O error (a full
/// disk) SQLite rolls the transaction back by itself, the driver's own rollback then fails,
/// and the connection stays marked "in a transaction": every later `BEGIN IMMEDIATE` would
/// be refused until a restart. Such a connection is closed instead, and the pool opens a
/// fresh one, so writes resume on their own once the cause is gone.
async fn usable(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    // The ping runs after any rollback still queued on the connection.
    if conn.ping().await.is_err() || conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a failed transaction");
        return Ok(false);
    }
    Ok(true)
}

include!("common.rs");
include!("admin.rs");
