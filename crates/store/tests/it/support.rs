//! Test harness: a fresh store per test on a temp SQLite file, or in its own schema on the
//! PostgreSQL server named by `TRAILSPARK_TEST_POSTGRES_URL`, with a clock the test moves by
//! hand. The PostgreSQL variants are `#[ignore]`d, so a run without a server reports them as
//! skipped; run on purpose (`--run-ignored all`, as `scripts/test.sh` does) without the
//! variable, they fail.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sqlx::Connection;
use store::{Clock, LeasedDelivery, NewEvaluation, Store};
use time::OffsetDateTime;
use time::macros::datetime;

pub const POSTGRES_URL_VAR: &str = "TRAILSPARK_TEST_POSTGRES_URL";

/// How long the tests' leases last.
pub const LEASE: Duration = Duration::from_secs(30);

/// The time every test starts at.
pub const T0: OffsetDateTime = datetime!(2026-11-28 10:00:00 UTC);

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub url: String,
    now: Arc<Mutex<OffsetDateTime>>,
    _dir: Option<TempDir>,
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = TempDir::new();
        let url = format!("sqlite://{}", dir.0.join("store.db").display());
        Harness::open(url, Some(dir)).await
    }

    /// A fresh schema on the test PostgreSQL server; panics when none is configured, so a
    /// PostgreSQL test can never pass without having run.
    pub async fn postgres() -> Harness {
        Harness::open(postgres_schema_url().await, None).await
    }

    async fn open(url: String, dir: Option<TempDir>) -> Harness {
        let now = Arc::new(Mutex::new(T0));
        let store = store::open_with_clock(&url, clock(&now))
            .await
            .expect("open store");
        Harness {
            store,
            url,
            now,
            _dir: dir,
        }
    }

    /// Opens the same database again, as a restarted process would.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        store::open_with_clock(&self.url, clock(&self.now))
            .await
            .expect("reopen store")
    }

    pub fn now(&self) -> OffsetDateTime {
        *self.now.lock().expect("clock")
    }

    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().expect("clock");
        *now += d;
    }

    /// Whether leasing fails.
    pub async fn lease_err(&self) -> bool {
        self.store
            .lease_batch("salesforce", 10, LEASE, "w")
            .await
            .is_err()
    }

    /// Leases up to `max` due `salesforce` deliveries for `worker`, for [`LEASE`].
    pub async fn lease(&self, max: usize, worker: &str) -> Vec<LeasedDelivery> {
        self.store
            .lease_batch("salesforce", max, LEASE, worker)
            .await
            .expect("lease_batch")
    }
}

/// A fresh schema on the test PostgreSQL server, as a database URL; panics when no server
/// is configured.
pub async fn postgres_schema_url() -> String {
    let base = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set: this test needs PostgreSQL \
                 (eval \"$(scripts/start-postgres.sh)\" starts one and sets it)"
        )
    });
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

fn clock(now: &Arc<Mutex<OffsetDateTime>>) -> Clock {
    let now = now.clone();
    Arc::new(move || *now.lock().expect("clock"))
}

/// A temp directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("store-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An evaluation row for destination `salesforce`; `n` varies email, hash and time.
pub fn eval(id: &str, n: u32) -> NewEvaluation {
    eval_at(
        id,
        n,
        T0 - Duration::from_secs(3600) + Duration::from_secs(u64::from(n)),
    )
}

pub fn eval_at(id: &str, n: u32, evaluated_at: OffsetDateTime) -> NewEvaluation {
    NewEvaluation {
        id: id.to_string(),
        content_hash: format!("hash-{n}"),
        email: format!("person{n}@example.com"),
        evaluated_at,
        payload: json!({"id": id, "email": format!("Person{n}@Example.com"), "score": "hot",
                        "reasoning": "r", "evaluated_at": "2026-11-28T09:00:00Z"}),
        destinations: vec!["salesforce".to_string()],
    }
}

/// Stores `count` evaluations `ev-0..` in batches of 500.
pub async fn seed(store: &dyn Store, count: u32) {
    let all: Vec<NewEvaluation> = (0..count).map(|n| eval(&format!("ev-{n}"), n)).collect();
    for chunk in all.chunks(500) {
        store.ingest(chunk.to_vec()).await.expect("ingest");
    }
}

/// Runs each named test `async fn name(h: Harness)` on SQLite and on PostgreSQL; the
/// PostgreSQL variant is ignored unless asked for, since it needs a server.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::support::Harness::sqlite().await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: TRAILSPARK_TEST_POSTGRES_URL (scripts/test.sh starts one)"]
                async fn postgres() {
                    super::$name(crate::support::Harness::postgres().await).await
                }
            }
        )*
    };
}
pub(crate) use both_backends;
