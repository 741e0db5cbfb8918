// The `Store` implementation shared by both backends, written once and compiled twice:
// `sqlite.rs` and `postgres.rs` each `include!` this file after defining
//   `Db` (the sqlx database), `DbRow`, the store struct `Backend` with `clock`,
//   `fn read(&self)` / `fn write(&self)` (pools), `async fn begin_write(&self)`,
//   `LEASE_SQL` and `FOR_UPDATE` (where the two databases lock differently),
//   and `fn migrator()`.
// Every other statement is plain SQL both accept (`$N` parameters work in SQLite too),
// which keeps one set of semantics instead of two implementations drifting apart.
//
// This file holds the imports and helpers of every part and the `Store` trait impl, whose
// methods hand over to the inherent `Backend` method of the same name (an inherent method
// takes precedence over the trait's) in the file of its job, included at the end:
//   `common/queue.rs` (ingest, lease, complete, release, stats),
//   `common/log.rs` (views, sync log, retry, replay, purge),
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
    IngestResult, LeasedDelivery, LogEntry, NewEvaluation, Page, QueueStats, Result, RetryOutcome,
    RetryPolicy, Store, StoreError, StoredEvaluation, TimeBasis, TokenRole, backoff_delay,
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
        Ok(())
    }

    async fn ingest(&self, items: Vec<NewEvaluation>) -> Result<Vec<IngestResult>> {
        Backend::ingest(self, items).await
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
        Backend::lease_batch(self, destination, max, lease_for, worker).await
    }

    async fn complete(
        &self,
        results: Vec<DeliveryResult>,
        policy: &RetryPolicy,
    ) -> Result<Vec<CompleteStatus>> {
        Backend::complete(self, results, policy).await
    }

    async fn release(&self, ids: &[DeliveryId], worker: &str) -> Result<u64> {
        Backend::release(self, ids, worker).await
    }

    async fn extend_lease(
        &self,
        ids: &[DeliveryId],
        worker: &str,
        lease_for: Duration,
    ) -> Result<u64> {
        Backend::extend_lease(self, ids, worker, lease_for).await
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        Backend::list_deliveries(self, filter, cursor, limit).await
    }

    async fn evaluation_log(&self, evaluation_id: &str) -> Result<Vec<LogEntry>> {
        Backend::evaluation_log(self, evaluation_id).await
    }

    async fn retry_delivery(&self, id: DeliveryId) -> Result<RetryOutcome> {
        Backend::retry_delivery(self, id).await
    }

    async fn retry_failed(&self, destination: Option<&str>) -> Result<u64> {
        Backend::retry_failed(self, destination).await
    }

    async fn replay(
        &self,
        destination: &str,
        basis: TimeBasis,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<u64> {
        Backend::replay(self, destination, basis, from, to).await
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

    async fn purge_log_older_than(&self, t: OffsetDateTime) -> Result<u64> {
        Backend::purge_log_older_than(self, t).await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<Value>> {
        Backend::get_setting(self, key).await
    }

    async fn put_setting(&self, key: &str, value: &Value) -> Result<()> {
        Backend::put_setting(self, key, value).await
    }
}

include!("common/queue.rs");
include!("common/log.rs");
include!("common/tokens.rs");
include!("common/settings.rs");
