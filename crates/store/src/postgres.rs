//! The PostgreSQL backend, for several worker processes sharing one database.
//!
//! Leasing selects due deliveries `FOR UPDATE SKIP LOCKED`: concurrent workers each lock
//! different rows instead of waiting on (or double-taking) the same ones. To isolate
//! tenants or tests, name a schema in the URL: `?options[search_path]=my_schema`.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{SqlSafeStr, Transaction};

use crate::Clock;

type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;

const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes the due deliveries (skipping rows another worker is leasing right now) and
/// leases them. Parameters: $1 now, $2 destination, $3 max, $4 worker, $5 lease expiry.
const LEASE_SQL: &str = "WITH due AS (SELECT id FROM deliveries WHERE destination = $2 AND \
     ((state = 'pending' AND next_attempt_at_us <= $1) \
     OR (state = 'leased' AND lease_expires_at_us <= $1)) \
     ORDER BY next_attempt_at_us, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     UPDATE deliveries d SET state = 'leased', lease_owner = $4, lease_expires_at_us = $5 \
     FROM due WHERE d.id = due.id \
     RETURNING d.id, d.evaluation_id, d.destination, d.attempts";

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
    ])
}

pub(crate) struct Backend {
    pool: PgPool,
    clock: Clock,
}

impl Backend {
    pub(crate) async fn connect(url: &str, clock: Clock) -> crate::Result<Backend> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Backend { pool, clock })
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
}

include!("common.rs");
include!("admin.rs");
