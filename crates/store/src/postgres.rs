//! The PostgreSQL backend, for several worker processes sharing one database.
//!
//! Leasing selects due deliveries `FOR UPDATE SKIP LOCKED`: concurrent workers each lock
//! different rows instead of waiting on (or double-taking) the same ones. To isolate
//! tenants or tests, name a schema in the URL: `?options[search_path]=my_schema`.
//!
//! TLS follows the URL's `sslmode` as libpq does (docs/configuration.md#postgresql-over-tls),
//! through rustls: `require` and the `verify-*` modes fail rather than fall back to plain
//! text, and the default (`prefer`) warns when it ended up unencrypted to another host.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{SqlSafeStr, Transaction};

use crate::Clock;

type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;

const MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a connection before the store answers "unavailable": short,
/// so a database outage is a quick 503 rather than a hung request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Takes the due deliveries (skipping rows another worker is leasing right now) and
/// leases them. Parameters: $1 now, $2 destination, $3 max, $4 worker, $5 lease expiry.
const LEASE_SQL: &str = "WITH due AS (SELECT id FROM deliveries WHERE destination = $2 AND \
     ((state = 'pending' AND next_attempt_at_us <= $1) \
     OR (state = 'leased' AND lease_expires_at_us <= $1)) \
     ORDER BY next_attempt_at_us, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     UPDATE deliveries d SET state = 'leased', lease_owner = $4, lease_expires_at_us = $5, \
     lease_token = d.lease_token + 1 FROM due WHERE d.id = due.id \
     RETURNING d.id, d.evaluation_id, d.destination, d.attempts, d.lease_token";

/// Completing locks the delivery row so a concurrent takeover waits for us (or we for it).
const FOR_UPDATE: &str = "FOR UPDATE";

/// The schema in use: its tables with their indexes and TOAST (several services may
/// share one database, each in its own schema, so the database's size would mislead).
const DATABASE_SIZE_SQL: &str = "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() AND c.relkind = 'r'";

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "initial".into(),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0001_initial.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "admin".into(),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0002_admin.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "log indexes".into(),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0003_log_indexes.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            "fencing_retention".into(),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0004_fencing_retention.sql").into_sql_str(),
            false,
        ),
    ])
}

/// The database's clock in the store's unit (microseconds since the epoch).
/// `clock_timestamp()`, not `now()`: the time of the statement, not of the transaction's start.
const DB_NOW_SQL: &str = "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT";

pub(crate) struct Backend {
    pool: PgPool,
    clock: Clock,
    /// Lease times come from the database's clock, shared by every worker host (so no host's
    /// skew can end a lease early or late); false only when a test drives the store's clock.
    db_clock: bool,
    health: crate::health::WriteHealth,
}

impl Backend {
    /// `clock`: `None` for the database's clock; a test's clock otherwise.
    pub(crate) async fn connect(url: &str, clock: Option<Clock>) -> crate::Result<Backend> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        if matches!(options.get_ssl_mode(), PgSslMode::Prefer | PgSslMode::Allow)
            && !is_loopback(options.get_host())
        {
            let encrypted: Option<bool> =
                sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    .fetch_optional(&pool)
                    .await
                    .unwrap_or(None);
            if encrypted == Some(false) {
                tracing::warn!(
                    host = options.get_host(),
                    "the connection to PostgreSQL is not encrypted (the server offers no TLS): \
                     add sslmode=require or verify-full to the database URL to refuse plain text"
                );
            }
        }
        Ok(Backend {
            pool,
            db_clock: clock.is_none(),
            health: Default::default(),
            clock: clock.unwrap_or_else(crate::system_clock),
        })
    }

    fn read(&self) -> &PgPool {
        &self.pool
    }

    fn write(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> crate::Result<Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }

    /// The clock leases are timed by: the database's, so workers on hosts whose clocks
    /// disagree still agree on when a lease ends.
    async fn lease_now(&self, conn: &mut sqlx::PgConnection) -> crate::Result<OffsetDateTime> {
        if !self.db_clock {
            return Ok(self.now());
        }
        let us: i64 = sqlx::query_scalar(DB_NOW_SQL).fetch_one(conn).await?;
        crate::util::from_us(us)
    }
}

/// A host on this machine, where plain text crosses no network.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.starts_with('/')
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

include!("common.rs");
include!("admin.rs");
