//! Durable storage for trailspark: the evaluation queue (one delivery per evaluation per
//! destination, leased by workers), the sync log, API tokens and small settings.
//!
//! Two backends behind one [`Store`] trait: SQLite (default, one process, a file created on
//! first start) and PostgreSQL (several worker processes sharing one database). Both keep
//! the same semantics; the shared behaviour tests in `tests/it` run against each.
//! The store holds no business rules: it stores what it is given and moves deliveries
//! through `pending → leased → done | failed` as the workers report.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

mod admin_types;
mod health;
mod postgres;
mod sqlite;
mod token;
mod types;
mod util;

pub use admin_types::*;
pub use token::{TOKEN_PREFIX, generate_token, hash_token};
pub use types::*;

/// Errors of the store. None carries a secret (database URLs are never echoed).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL (scheme {scheme:?}): expected sqlite://PATH or postgres://..."
    )]
    UnsupportedUrl { scheme: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database schema is not up to date (applied {applied:?}, expected {expected})")]
    NotMigrated { applied: Option<i64>, expected: i64 },
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    /// A unique value is taken already (e.g. a user's email).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the last owner cannot be removed or demoted")]
    LastOwner,
    /// Something the operation refers to does not exist (e.g. the user of a new session).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is refused as such (e.g. a user with the `ingest` role).
    #[error("invalid: {0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store's clock; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Applies the backend's migrations (idempotent; `open` already did it).
    async fn migrate(&self) -> Result<()>;

    /// The database answers and its schema is current (for `/readyz`).
    async fn ready(&self) -> Result<()>;

    /// Stores a batch in one transaction, committed before returning. Idempotent by id:
    /// same id and content hash → `Duplicate`; same id, other content → `Conflict`;
    /// otherwise `Stored` with one pending delivery per destination, due now.
    /// Results are in input order.
    async fn ingest(&self, items: Vec<NewEvaluation>) -> Result<Vec<IngestResult>>;

    async fn get_evaluation(&self, id: &str) -> Result<Option<EvaluationWithDeliveries>>;

    /// Takes up to `max` due deliveries of `destination` (pending with `next_attempt_at`
    /// ≤ now, or leased with an expired lease), oldest first, and leases them to `worker`
    /// for `lease_for`. No delivery is ever leased to two workers at once.
    async fn lease_batch(
        &self,
        destination: &str,
        max: usize,
        lease_for: Duration,
        worker: &str,
    ) -> Result<Vec<LeasedDelivery>>;

    /// Records attempt results (one sync-log entry each) in one transaction. Only the
    /// current lease owner's results apply. Transient failures go back to pending after a
    /// jittered backoff, or to failed once `policy.max_attempts` attempts have ended.
    async fn complete(
        &self,
        results: Vec<DeliveryResult>,
        policy: &RetryPolicy,
    ) -> Result<Vec<CompleteStatus>>;

    /// Gives leases back (graceful shutdown): the deliveries are due again at once.
    /// Returns how many were released (only `worker`'s current leases count).
    async fn release(&self, ids: &[DeliveryId], worker: &str) -> Result<u64>;

    /// Extends `worker`'s leases on `ids` to now + `lease_for`; returns how many it still held.
    async fn extend_lease(
        &self,
        ids: &[DeliveryId],
        worker: &str,
        lease_for: Duration,
    ) -> Result<u64>;

    /// Deliveries, most recently updated first, `limit` per page; `cursor` is the previous
    /// page's `next_cursor`.
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page>;

    /// Deliveries (of one destination, or all) whose last change is in `[from, to)`,
    /// counted per hour from `from` and per current outcome, in one query (the Overview's
    /// chart reads no entries). Only non-zero counts, by hour, then outcome.
    async fn outcome_counts(
        &self,
        destination: Option<&str>,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<HourlyCount>>;

    /// The sync log (every attempt) of one evaluation, oldest first.
    async fn evaluation_log(&self, evaluation_id: &str) -> Result<Vec<LogEntry>>;

    /// Re-queues one finished (done or failed) delivery, due now with a fresh attempt budget.
    async fn retry_delivery(&self, id: DeliveryId) -> Result<RetryOutcome>;

    /// Re-queues every failed delivery (of one destination, or all); returns how many.
    async fn retry_failed(&self, destination: Option<&str>) -> Result<u64>;

    /// Re-queues the deliveries to `destination` of the evaluations whose time (`basis`)
    /// is in `[from, to)`, creating the delivery when the evaluation never had one for that
    /// destination. Deliveries already pending or leased are left alone. Returns how many
    /// were queued.
    async fn replay(
        &self,
        destination: &str,
        basis: TimeBasis,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<u64>;

    /// Depth by state, due count and age, counts by outcome (one destination, or all).
    async fn queue_stats(&self, destination: Option<&str>) -> Result<QueueStats>;

    /// Creates a token (secret generated here, only its hash stored).
    async fn create_token(&self, name: &str, role: TokenRole) -> Result<CreatedToken>;

    /// The active (not revoked) token with this SHA-256 hex hash ([`hash_token`]); notes its
    /// use (`last_used_at`, updated at most once a minute to spare the database).
    async fn find_token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>>;

    /// Revokes a token; false when no active token has this id.
    async fn revoke_token(&self, id: &str) -> Result<bool>;

    /// Every token, revoked ones included, newest first.
    async fn list_tokens(&self) -> Result<Vec<ApiToken>>;

    /// Deletes up to `limit` sync-log entries older than `t` (retention), oldest first, in
    /// one short transaction; returns how many. Call again until fewer than `limit` go.
    async fn purge_log_older_than(&self, t: OffsetDateTime, limit: usize) -> Result<u64>;

    /// Deletes up to `limit` evaluations received before `t` whose every delivery is
    /// finished (done or failed) and unchanged since `t`, with their deliveries and sync log,
    /// oldest first, in one short transaction; returns how many. Pending and leased
    /// deliveries keep their evaluation. Call again until fewer than `limit` go.
    async fn purge_evaluations_older_than(&self, t: OffsetDateTime, limit: usize) -> Result<u64>;

    /// Bytes the database takes: the SQLite file's pages, or the PostgreSQL schema's tables
    /// with their indexes (cheap: no table is scanned).
    async fn database_size(&self) -> Result<u64>;

    /// A small settings document by key (e.g. the destination settings saved through the API).
    async fn get_setting(&self, key: &str) -> Result<Option<Value>>;

    /// Saves (replaces) a settings document.
    async fn put_setting(&self, key: &str, value: &Value) -> Result<()>;

    // Users: people who sign in to the page. Emails are kept trimmed and lower-cased and
    // looked up case-insensitively. There is always at least one owner once there is one.

    /// Creates a user. A taken email → `Conflict`; role `Ingest` → `Invalid`.
    async fn create_user(&self, email: &str, password_hash: &str, role: TokenRole) -> Result<User>;

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>>;

    async fn get_user(&self, id: &str) -> Result<Option<User>>;

    /// Every user, by email.
    async fn list_users(&self) -> Result<Vec<User>>;

    async fn count_users(&self) -> Result<u64>;

    /// Changes a user's role (None: no such user). Demoting the last owner → `LastOwner`;
    /// role `Ingest` → `Invalid`.
    async fn set_user_role(&self, id: &str, role: TokenRole) -> Result<Option<User>>;

    /// Replaces a user's password hash and ends their sessions; false when no such user.
    async fn set_user_password(&self, id: &str, password_hash: &str) -> Result<bool>;

    /// Removes a user and their sessions; false when no such user. The last owner →
    /// `LastOwner`.
    async fn remove_user(&self, id: &str) -> Result<bool>;

    /// Notes a successful sign-in (`last_sign_in_at` = now).
    async fn note_sign_in(&self, user_id: &str) -> Result<()>;

    // Sessions, keyed by the SHA-256 of the cookie value (the value is never stored).

    /// Opens a session now; its user must exist (`NotFound` otherwise).
    async fn create_session(&self, s: NewSession) -> Result<Session>;

    /// The session with its user; None when missing or expired (idle or absolute).
    async fn find_session(&self, token_hash: &str) -> Result<Option<Session>>;

    /// Notes a use now, extending the idle expiry (never past the absolute one). An expired
    /// session stays expired.
    async fn touch_session(&self, token_hash: &str) -> Result<()>;

    async fn delete_session(&self, token_hash: &str) -> Result<bool>;

    /// Deletes expired sessions; returns how many.
    async fn purge_expired_sessions(&self) -> Result<u64>;

    // Sign-in throttling, per lower-cased email, over [`SIGN_IN_FAILURE_WINDOW`].

    /// Failures in the current window and when the last one happened; `(0, None)` when
    /// the window has lapsed.
    async fn sign_in_failures(&self, email: &str) -> Result<(u32, Option<OffsetDateTime>)>;

    /// Counts a failure now and returns the window's count (1 when the previous failure
    /// is older than the window).
    async fn record_sign_in_failure(&self, email: &str) -> Result<u32>;

    async fn clear_sign_in_failures(&self, email: &str) -> Result<()>;

    // OAuth authorization requests in flight (single use).

    async fn create_oauth_state(&self, s: OAuthState) -> Result<()>;

    /// Removes and returns the state (a second take finds nothing); expired or not, the
    /// caller checks. Other expired states are deleted on the way.
    async fn take_oauth_state(&self, state_hash: &str) -> Result<Option<OAuthState>>;

    // Salesforce connections, by integration name.

    /// Inserts or replaces the connection by name, connected (`disconnected_at` cleared),
    /// `updated_at` = now; returns it as stored.
    async fn upsert_connection(&self, c: Connection) -> Result<Connection>;

    async fn get_connection(&self, name: &str) -> Result<Option<Connection>>;

    /// Every connection, by name.
    async fn list_connections(&self) -> Result<Vec<Connection>>;

    /// Forgets the connection's secrets and marks it disconnected; the row stays. False
    /// when no such connection.
    async fn disconnect_connection(&self, name: &str) -> Result<bool>;

    /// Stores a rotated refresh token. False when no such connection or it is
    /// disconnected (a refresh racing a disconnect must not reconnect it).
    async fn set_connection_refresh_token(
        &self,
        name: &str,
        refresh_token_enc: &str,
    ) -> Result<bool>;

    /// Whether any connection changed after `t` (cheap; workers poll it).
    async fn connections_changed_since(&self, t: OffsetDateTime) -> Result<bool>;

    // Destination settings, every saved version kept.

    /// Saves a new version (the destination's previous highest + 1).
    async fn save_destination_settings(
        &self,
        destination: &str,
        value: &Value,
        saved_by: Option<&str>,
    ) -> Result<SettingsVersion>;

    /// The latest version.
    async fn current_destination_settings(
        &self,
        destination: &str,
    ) -> Result<Option<SettingsVersion>>;

    /// Every version, newest first.
    async fn destination_settings_history(&self, destination: &str)
    -> Result<Vec<SettingsVersion>>;

    // Audit log.

    /// Appends an entry, timed now.
    async fn append_audit(&self, e: NewAudit) -> Result<AuditEntry>;

    /// Up to `limit` entries (at most 1000) with ids below `before_id`, newest first: pass
    /// the last id of a page to get the next.
    async fn list_audit(&self, limit: u32, before_id: Option<i64>) -> Result<Vec<AuditEntry>>;
}

/// Opens (creating a SQLite file on first start) and migrates the database named by
/// `database_url`: `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`, or `postgres://...`.
/// Leases are timed by the database's clock on PostgreSQL (every worker host agrees on it)
/// and by the process clock on SQLite (one host).
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>> {
    open_inner(database_url, None).await
}

/// [`open`] with an injected clock (tests): it stands for every clock the store reads,
/// PostgreSQL's included, so a test can move time by hand.
pub async fn open_with_clock(database_url: &str, clock: Clock) -> Result<Arc<dyn Store>> {
    open_inner(database_url, Some(clock)).await
}

async fn open_inner(database_url: &str, clock: Option<Clock>) -> Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if database_url.starts_with("sqlite:") {
        let clock = clock.unwrap_or_else(system_clock);
        Arc::new(sqlite::Backend::connect(database_url, clock).await?)
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Arc::new(postgres::Backend::connect(database_url, clock).await?)
    } else {
        let scheme = database_url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return Err(StoreError::UnsupportedUrl { scheme });
    };
    store.migrate().await?;
    Ok(store)
}
