// The `Store` implementation shared by both backends, written once and compiled twice:
// `sqlite.rs` and `postgres.rs` each `include!` this file after defining
//   `Db` (the sqlx database), `DbRow`, the store struct `Backend` with `clock`,
//   `fn read(&self)` / `fn write(&self)` (pools), `async fn begin_write(&self)`,
//   `health` (a `WriteHealth`),
//   `LEASE_SQL` and `FOR_UPDATE` (where the two databases lock differently),
//   `async fn lease_now(&self, conn)` (the clock leases are timed by),
//   `DATABASE_SIZE_SQL` (bytes the database takes),
//   and `fn migrator()`.
// Every other statement is plain SQL both accept (`$N` parameters work in SQLite too),
// which keeps one set of semantics instead of two implementations drifting apart.
//
// This file holds the imports and helpers of every part and the `Store` trait impl, whose
// methods hand over to the inherent `Backend` method of the same name (an inherent method
// takes precedence over the trait's) in the file of its job, included at the end:
//   `common/queue.rs` (ingest, lease, complete, release, stats),
//   `common/log.rs` (views, sync log, counts, retry, replay, purge),
//   `common/retention.rs` (retention purges, database size),
//   `common/tokens.rs` (API tokens), `common/settings.rs` (settings documents).
// Included files share this module, so their imports are all here.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{AssertSqlSafe, QueryBuilder, Row};
use time::OffsetDateTime;

use crate::util::{
    IN_CHUNK, INSERT_CHUNK, MAX_PAGE, TOKEN_TOUCH_INTERVAL, decode_cursor, encode_cursor, from_us,
    parse_outcome, parse_role, parse_state, to_u32, to_us,
};
use crate::{
    ApiToken, CompleteStatus, CreatedToken, Delivery, DeliveryFilter, DeliveryId, DeliveryOutcome,
    DeliveryResult, DeliveryState, DeliveryView, Disposition, EvaluationWithDeliveries,
    HourlyCount, IngestResult, LeaseToken, LeasedDelivery, LogEntry, NewEvaluation, Page,
    QueueStats, Result, RetryOutcome, RetryPolicy, Store, StoreError, StoredEvaluation, TimeBasis,
    TokenRole,
    generate_token, hash_token,
};

impl Backend {
    fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }
}

/// JSON documents are stored as their text (both backends), exactly as accepted.
fn parse_json(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

/// Appends `(ids...)` as bound parameters.
fn push_in_list<'a, T>(qb: &mut QueryBuilder<Db>, ids: impl IntoIterator<Item = T>)
where
    T: sqlx::Encode<'a, Db> + sqlx::Type<Db>,
{
    qb.push("(");
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(id);
    }
    sep.push_unseparated(")");
}

#[async_trait]
impl Store for Backend {
    async fn migrate(&self) -> Result<()> {
        migrator().run(self.write()).await?;
        Ok(())
    }

    async fn ready(&self) -> Result<()> {
        let expected = migrator().iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(self.read())
                .await?;
        if applied.unwrap_or(0) < expected {
            return Err(StoreError::NotMigrated { applied, expected });
        }
        // Writes were failing: ready again only once one goes through. Probing here (not on
        // every check) lets a store nobody writes to (an API-only process taken out of
        // rotation) find out by itself.
        if self.health.failing() {
            let probe = self.probe_write().await;
            self.health.track(probe)?;
        }
        Ok(())
    }

    async fn ingest(&self, items: Vec<NewEvaluation>) -> Result<Vec<IngestResult>> {
        self.health.track(Backend::ingest(self, items).await)
    }

    async fn get_evaluation(&self, id: &str) -> Result<Option<EvaluationWithDeliveries>> {
        Backend::get_evaluation(self, id).await
    }

    async fn lease_batch(
        &self,
        destination: &str,
        max: usize,
        lease_for: Duration,
        worker: &str,
    ) -> Result<Vec<LeasedDelivery>> {
        self.health.track(Backend::lease_batch(self, destination, max, lease_for, worker).await)
    }

    async fn complete(
        &self,
        results: Vec<DeliveryResult>,
        policy: &RetryPolicy,
    ) -> Result<Vec<CompleteStatus>> {
        self.health.track(Backend::complete(self, results, policy).await)
    }

    async fn release(&self, ids: &[DeliveryId], worker: &str) -> Result<u64> {
        self.health.track(Backend::release(self, ids, worker).await)
    }

    async fn extend_lease(
        &self,
        ids: &[DeliveryId],
        worker: &str,
        lease_for: Duration,
    ) -> Result<u64> {
        self.health.track(Backend::extend_lease(self, ids, worker, lease_for).await)
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        Backend::list_deliveries(self, filter, cursor, limit).await
    }

    async fn outcome_counts(
        &self,
        destination: Option<&str>,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<HourlyCount>> {
        Backend::outcome_counts(self, destination, from, to).await
    }

    async fn evaluation_log(&self, evaluation_id: &str) -> Result<Vec<LogEntry>> {
        Backend::evaluation_log(self, evaluation_id).await
    }

    async fn retry_delivery(&self, id: DeliveryId) -> Result<RetryOutcome> {
        self.health.track(Backend::retry_delivery(self, id).await)
    }

    async fn retry_failed(&self, destination: Option<&str>) -> Result<u64> {
        self.health.track(Backend::retry_failed(self, destination).await)
    }

    async fn replay(
        &self,
        destination: &str,
        basis: TimeBasis,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<u64> {
        self.health.track(Backend::replay(self, destination, basis, from, to).await)
    }

    async fn queue_stats(&self, destination: Option<&str>) -> Result<QueueStats> {
        Backend::queue_stats(self, destination).await
    }

    async fn create_token(&self, name: &str, role: TokenRole) -> Result<CreatedToken> {
        Backend::create_token(self, name, role).await
    }

    async fn find_token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>> {
        Backend::find_token_by_hash(self, hash).await
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        Backend::revoke_token(self, id).await
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        Backend::list_tokens(self).await
    }

    async fn purge_log_older_than(&self, t: OffsetDateTime, limit: usize) -> Result<u64> {
        Backend::purge_log_older_than(self, t, limit).await
    }

    async fn purge_evaluations_older_than(&self, t: OffsetDateTime, limit: usize) -> Result<u64> {
        Backend::purge_evaluations_older_than(self, t, limit).await
    }

    async fn database_size(&self) -> Result<u64> {
        Backend::database_size(self).await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<Value>> {
        Backend::get_setting(self, key).await
    }

    async fn put_setting(&self, key: &str, value: &Value) -> Result<()> {
        Backend::put_setting(self, key, value).await
    }

    async fn create_user(&self, email: &str, password_hash: &str, role: TokenRole) -> Result<User> {
        admin::create_user(self, email, password_hash, role).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        admin::find_user_by_email(self, email).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        admin::get_user(self, id).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        admin::list_users(self).await
    }

    async fn count_users(&self) -> Result<u64> {
        admin::count_users(self).await
    }

    async fn set_user_role(&self, id: &str, role: TokenRole) -> Result<Option<User>> {
        admin::set_user_role(self, id, role).await
    }

    async fn set_user_password(&self, id: &str, password_hash: &str) -> Result<bool> {
        admin::set_user_password(self, id, password_hash).await
    }

    async fn remove_user(&self, id: &str) -> Result<bool> {
        admin::remove_user(self, id).await
    }

    async fn note_sign_in(&self, user_id: &str) -> Result<()> {
        admin::note_sign_in(self, user_id).await
    }

    async fn create_session(&self, s: NewSession) -> Result<Session> {
        admin::create_session(self, s).await
    }

    async fn find_session(&self, token_hash: &str) -> Result<Option<Session>> {
        admin::find_session(self, token_hash).await
    }

    async fn touch_session(&self, token_hash: &str) -> Result<()> {
        admin::touch_session(self, token_hash).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        admin::delete_session(self, token_hash).await
    }

    async fn purge_expired_sessions(&self) -> Result<u64> {
        admin::purge_expired_sessions(self).await
    }

    async fn sign_in_failures(&self, email: &str) -> Result<(u32, Option<OffsetDateTime>)> {
        admin::sign_in_failures(self, email).await
    }

    async fn record_sign_in_failure(&self, email: &str) -> Result<u32> {
        admin::record_sign_in_failure(self, email).await
    }

    async fn clear_sign_in_failures(&self, email: &str) -> Result<()> {
        admin::clear_sign_in_failures(self, email).await
    }

    async fn create_oauth_state(&self, s: OAuthState) -> Result<()> {
        admin::create_oauth_state(self, s).await
    }

    async fn take_oauth_state(&self, state_hash: &str) -> Result<Option<OAuthState>> {
        admin::take_oauth_state(self, state_hash).await
    }

    async fn upsert_connection(&self, c: Connection) -> Result<Connection> {
        admin::upsert_connection(self, c).await
    }

    async fn get_connection(&self, name: &str) -> Result<Option<Connection>> {
        admin::get_connection(self, name).await
    }

    async fn list_connections(&self) -> Result<Vec<Connection>> {
        admin::list_connections(self).await
    }

    async fn disconnect_connection(&self, name: &str) -> Result<bool> {
        admin::disconnect_connection(self, name).await
    }

    async fn set_connection_refresh_token(
        &self,
        name: &str,
        refresh_token_enc: &str,
    ) -> Result<bool> {
        admin::set_connection_refresh_token(self, name, refresh_token_enc).await
    }

    async fn connections_changed_since(&self, t: OffsetDateTime) -> Result<bool> {
        admin::connections_changed_since(self, t).await
    }

    async fn save_destination_settings(
        &self,
        destination: &str,
        value: &Value,
        saved_by: Option<&str>,
    ) -> Result<SettingsVersion> {
        admin::save_destination_settings(self, destination, value, saved_by).await
    }

    async fn current_destination_settings(
        &self,
        destination: &str,
    ) -> Result<Option<SettingsVersion>> {
        admin::current_destination_settings(self, destination).await
    }

    async fn destination_settings_history(
        &self,
        destination: &str,
    ) -> Result<Vec<SettingsVersion>> {
        admin::destination_settings_history(self, destination).await
    }

    async fn append_audit(&self, e: NewAudit) -> Result<AuditEntry> {
        admin::append_audit(self, e).await
    }

    async fn list_audit(&self, limit: u32, before_id: Option<i64>) -> Result<Vec<AuditEntry>> {
        admin::list_audit(self, limit, before_id).await
    }
}

impl Backend {
    /// A one-row write (the `store.write_probe` setting) to tell whether writes go through.
    async fn probe_write(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at_us) VALUES ('store.write_probe', '{}', $1) \
             ON CONFLICT (key) DO UPDATE SET updated_at_us = excluded.updated_at_us",
        )
        .bind(to_us(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

include!("common/queue.rs");
include!("common/log.rs");
include!("common/retention.rs");
include!("common/tokens.rs");
include!("common/settings.rs");
