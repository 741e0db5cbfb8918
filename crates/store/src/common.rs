// The `Store` implementation shared by both backends, written once and compiled twice:
// `sqlite.rs` and `postgres.rs` each `include!` this file after defining
//   `Db` (the sqlx database), `DbRow`, the store struct `Backend` with `clock`,
//   `fn read(&self)` / `fn write(&self)` (pools), `async fn begin_write(&self)`,
//   `LEASE_SQL` and `FOR_UPDATE` (where the two databases lock differently),
//   and `fn migrator()`.
// Every other statement is plain SQL both accept (`$N` parameters work in SQLite too),
// which keeps one set of semantics instead of two implementations drifting apart.

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

const DELIVERY_COLUMNS: &str = "d.id, d.evaluation_id, d.destination, d.state, d.outcome, \
     d.attempts, d.next_attempt_at_us, d.lease_owner, d.lease_expires_at_us, d.last_report, \
     d.updated_at_us";

const TOKEN_COLUMNS: &str =
    "id, name, role, token_hash, created_at_us, revoked_at_us, last_used_at_us";

/// A delivery is due: pending and its time has come, or leased by a worker whose lease ran out.
const DUE: &str = "((state = 'pending' AND next_attempt_at_us <= $1) \
     OR (state = 'leased' AND lease_expires_at_us <= $1))";

impl Backend {
    fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }
}

/// JSON documents are stored as their text (both backends), exactly as accepted.
fn parse_json(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

fn delivery_from_row(row: &DbRow) -> Result<Delivery> {
    Ok(Delivery {
        id: DeliveryId(row.try_get("id")?),
        evaluation_id: row.try_get("evaluation_id")?,
        destination: row.try_get("destination")?,
        state: parse_state(&row.try_get::<String, _>("state")?)?,
        outcome: parse_outcome(&row.try_get::<String, _>("outcome")?)?,
        attempts: to_u32(row.try_get("attempts")?),
        next_attempt_at: from_us(row.try_get("next_attempt_at_us")?)?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row
            .try_get::<Option<i64>, _>("lease_expires_at_us")?
            .map(from_us)
            .transpose()?,
        last_report: row
            .try_get::<Option<String>, _>("last_report")?
            .map(|j| parse_json(&j))
            .transpose()?,
        updated_at: from_us(row.try_get("updated_at_us")?)?,
    })
}

fn evaluation_from_row(row: &DbRow) -> Result<StoredEvaluation> {
    Ok(StoredEvaluation {
        id: row.try_get("id")?,
        content_hash: row.try_get("content_hash")?,
        email: row.try_get("email")?,
        evaluated_at: from_us(row.try_get("evaluated_at_us")?)?,
        received_at: from_us(row.try_get("received_at_us")?)?,
        payload: parse_json(&row.try_get::<String, _>("payload")?)?,
    })
}

fn log_from_row(row: &DbRow) -> Result<LogEntry> {
    Ok(LogEntry {
        id: row.try_get("id")?,
        delivery_id: DeliveryId(row.try_get("delivery_id")?),
        evaluation_id: row.try_get("evaluation_id")?,
        destination: row.try_get("destination")?,
        attempt: to_u32(row.try_get("attempt")?),
        outcome: parse_outcome(&row.try_get::<String, _>("outcome")?)?,
        worker: row.try_get("worker")?,
        report: parse_json(&row.try_get::<String, _>("report")?)?,
        at: from_us(row.try_get("at_us")?)?,
    })
}

fn token_from_row(row: &DbRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: parse_role(&row.try_get::<String, _>("role")?)?,
        created_at: from_us(row.try_get("created_at_us")?)?,
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at_us")?
            .map(from_us)
            .transpose()?,
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at_us")?
            .map(from_us)
            .transpose()?,
    })
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

/// What one finished attempt turns a delivery into.
fn next_step(
    disposition: Disposition,
    attempts_after: u32,
    policy: &RetryPolicy,
    now: OffsetDateTime,
    jitter: f64,
) -> (DeliveryState, DeliveryOutcome, OffsetDateTime) {
    use domain::Outcome;
    match disposition {
        Disposition::Final(Outcome::Failed) => (
            DeliveryState::Failed,
            DeliveryOutcome::Final(Outcome::Failed),
            now,
        ),
        Disposition::Final(o) => (DeliveryState::Done, DeliveryOutcome::Final(o), now),
        Disposition::Transient if attempts_after >= policy.max_attempts => (
            DeliveryState::Failed,
            DeliveryOutcome::Final(Outcome::Failed),
            now,
        ),
        Disposition::Transient => (
            DeliveryState::Pending,
            DeliveryOutcome::Retrying,
            now + backoff_delay(policy, attempts_after, jitter),
        ),
    }
}

/// A delivery's lease as `complete` found it.
struct Held {
    attempts: u32,
    owner: Option<String>,
    evaluation_id: String,
    destination: String,
}

/// One applied attempt result.
struct Step<'a> {
    result: &'a DeliveryResult,
    held: Held,
    /// This attempt's number (1 for the first).
    attempt: u32,
    state: DeliveryState,
    outcome: DeliveryOutcome,
    next: OffsetDateTime,
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
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = to_us(self.now());
        // The first occurrence of each id is inserted; later ones in the same batch are
        // judged against whatever ends up stored under that id.
        let mut seen = HashSet::new();
        let mut firsts: Vec<&NewEvaluation> = items
            .iter()
            .filter(|i| seen.insert(i.id.as_str()))
            .collect();
        // Rows are locked in id order, so two concurrent batches sharing ids cannot
        // deadlock on PostgreSQL's unique index.
        firsts.sort_by(|a, b| a.id.cmp(&b.id));

        let mut tx = self.begin_write().await?;
        let mut inserted: HashSet<String> = HashSet::new();
        for chunk in firsts.chunks(INSERT_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO evaluations \
                 (id, content_hash, email, evaluated_at_us, received_at_us, payload) ",
            );
            qb.push_values(chunk, |mut b, item| {
                b.push_bind(item.id.as_str())
                    .push_bind(item.content_hash.as_str())
                    .push_bind(item.email.as_str())
                    .push_bind(to_us(item.evaluated_at))
                    .push_bind(now)
                    .push_bind(item.payload.to_string());
            });
            qb.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
            for row in qb.build().fetch_all(&mut *tx).await? {
                inserted.insert(row.try_get::<String, _>(0)?);
            }
        }

        // Stored hash per id: ours for new rows, the existing one otherwise.
        let mut stored: HashMap<String, String> = HashMap::new();
        let existing: Vec<&str> = firsts
            .iter()
            .filter(|i| !inserted.contains(&i.id))
            .map(|i| i.id.as_str())
            .collect();
        for chunk in existing.chunks(IN_CHUNK) {
            let mut qb =
                QueryBuilder::<Db>::new("SELECT id, content_hash FROM evaluations WHERE id IN ");
            push_in_list(&mut qb, chunk.iter().copied());
            for row in qb.build().fetch_all(&mut *tx).await? {
                stored.insert(row.try_get("id")?, row.try_get("content_hash")?);
            }
        }

        let mut deliveries: Vec<(&str, &str)> = Vec::new();
        for item in &firsts {
            if inserted.contains(&item.id) {
                stored.insert(item.id.clone(), item.content_hash.clone());
                let mut dests = HashSet::new();
                for d in &item.destinations {
                    if dests.insert(d.as_str()) {
                        deliveries.push((item.id.as_str(), d.as_str()));
                    }
                }
            }
        }
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO deliveries (evaluation_id, destination, state, outcome, attempts, \
                 next_attempt_at_us, updated_at_us) ",
            );
            qb.push_values(chunk, |mut b, (id, dest)| {
                b.push_bind(*id)
                    .push_bind(*dest)
                    .push("'pending'")
                    .push("'pending'")
                    .push("0")
                    .push_bind(now)
                    .push_bind(now);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;

        let mut first_seen = HashSet::new();
        let results = items
            .iter()
            .map(|item| {
                let first = first_seen.insert(item.id.as_str());
                if first && inserted.contains(&item.id) {
                    IngestResult::Stored
                } else if stored.get(&item.id) == Some(&item.content_hash) {
                    IngestResult::Duplicate
                } else {
                    IngestResult::Conflict
                }
            })
            .collect();
        Ok(results)
    }

    async fn get_evaluation(&self, id: &str) -> Result<Option<EvaluationWithDeliveries>> {
        let Some(row) = sqlx::query(
            "SELECT id, content_hash, email, evaluated_at_us, received_at_us, payload \
             FROM evaluations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.read())
        .await?
        else {
            return Ok(None);
        };
        let evaluation = evaluation_from_row(&row)?;
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.evaluation_id = $1 \
             ORDER BY d.destination"
        );
        let deliveries = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(self.read())
            .await?
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(EvaluationWithDeliveries {
            evaluation,
            deliveries,
        }))
    }

    async fn lease_batch(
        &self,
        destination: &str,
        max: usize,
        lease_for: Duration,
        worker: &str,
    ) -> Result<Vec<LeasedDelivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let expires = now + lease_for;
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(LEASE_SQL)
            .bind(to_us(now))
            .bind(destination)
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .bind(worker)
            .bind(to_us(expires))
            .fetch_all(&mut *tx)
            .await?;
        let mut leased = Vec::with_capacity(rows.len());
        for row in &rows {
            leased.push(LeasedDelivery {
                id: DeliveryId(row.try_get("id")?),
                evaluation_id: row.try_get("evaluation_id")?,
                destination: row.try_get("destination")?,
                attempts: to_u32(row.try_get("attempts")?),
                lease_expires_at: from_us(to_us(expires))?,
                payload: Value::Null,
            });
        }
        let mut payloads: HashMap<String, Value> = HashMap::new();
        let ids: Vec<&str> = leased.iter().map(|l| l.evaluation_id.as_str()).collect();
        for chunk in ids.chunks(IN_CHUNK) {
            let mut qb =
                QueryBuilder::<Db>::new("SELECT id, payload FROM evaluations WHERE id IN ");
            push_in_list(&mut qb, chunk.iter().copied());
            for row in qb.build().fetch_all(&mut *tx).await? {
                payloads.insert(
                    row.try_get("id")?,
                    parse_json(&row.try_get::<String, _>("payload")?)?,
                );
            }
        }
        tx.commit().await?;
        for l in &mut leased {
            l.payload = payloads.remove(&l.evaluation_id).ok_or_else(|| {
                StoreError::Corrupt(format!("delivery {} has no evaluation", l.id))
            })?;
        }
        leased.sort_by_key(|l| l.id);
        Ok(leased)
    }

    async fn complete(
        &self,
        results: Vec<DeliveryResult>,
        policy: &RetryPolicy,
    ) -> Result<Vec<CompleteStatus>> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;

        // The current leases of the named deliveries, locked in id order (PostgreSQL: no
        // deadlock between concurrent completions; SQLite: the write lock is already held).
        let mut ids: Vec<i64> = results.iter().map(|r| r.id.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut held: HashMap<i64, Held> = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT id, attempts, lease_owner, evaluation_id, destination FROM deliveries \
                 WHERE state = 'leased' AND id IN ",
            );
            push_in_list(&mut qb, chunk.iter().copied());
            qb.push(" ORDER BY id ").push(FOR_UPDATE);
            for row in qb.build().fetch_all(&mut *tx).await? {
                held.insert(
                    row.try_get("id")?,
                    Held {
                        attempts: to_u32(row.try_get("attempts")?),
                        owner: row.try_get("lease_owner")?,
                        evaluation_id: row.try_get("evaluation_id")?,
                        destination: row.try_get("destination")?,
                    },
                );
            }
        }

        let mut statuses = vec![CompleteStatus::NotOwner; results.len()];
        let mut steps = Vec::new();
        for (i, r) in results.iter().enumerate() {
            // Removing the lease as it is used makes a repeated id in one call NotOwner.
            let owned = held
                .get(&r.id.0)
                .is_some_and(|h| h.owner.as_deref() == Some(r.worker.as_str()));
            let Some(h) = owned.then(|| held.remove(&r.id.0)).flatten() else {
                continue;
            };
            let attempt = h.attempts.saturating_add(1);
            let jitter: f64 = rand::random();
            let (state, outcome, next) = next_step(r.disposition, attempt, policy, now, jitter);
            statuses[i] = CompleteStatus::Applied(state);
            steps.push(Step {
                result: r,
                held: h,
                attempt,
                state,
                outcome,
                next,
            });
        }

        let now_us = to_us(now);
        for chunk in steps.chunks(INSERT_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(
                "WITH v (id, state, outcome, attempts, next_attempt_at_us, last_report) AS (",
            );
            qb.push_values(chunk, |mut b, s| {
                b.push_bind(s.result.id.0)
                    .push_bind(s.state.as_str())
                    .push_bind(s.outcome.as_str())
                    .push_bind(i64::from(s.attempt))
                    .push_bind(to_us(s.next))
                    .push_bind(s.result.report.to_string());
            });
            qb.push(
                ") UPDATE deliveries SET state = v.state, outcome = v.outcome, \
                 attempts = v.attempts, next_attempt_at_us = v.next_attempt_at_us, \
                 lease_owner = NULL, lease_expires_at_us = NULL, last_report = v.last_report, \
                 updated_at_us = ",
            )
            .push_bind(now_us)
            .push(" FROM v WHERE deliveries.id = v.id");
            qb.build().execute(&mut *tx).await?;

            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO sync_log (delivery_id, evaluation_id, destination, attempt, \
                 outcome, worker, report, at_us) ",
            );
            qb.push_values(chunk, |mut b, s| {
                b.push_bind(s.result.id.0)
                    .push_bind(s.held.evaluation_id.as_str())
                    .push_bind(s.held.destination.as_str())
                    .push_bind(i64::from(s.attempt))
                    .push_bind(s.outcome.as_str())
                    .push_bind(s.result.worker.as_str())
                    .push_bind(s.result.report.to_string())
                    .push_bind(now_us);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(statuses)
    }

    async fn release(&self, ids: &[DeliveryId], worker: &str) -> Result<u64> {
        let mut n = 0;
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(IN_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(
                "UPDATE deliveries SET state = 'pending', lease_owner = NULL, \
                 lease_expires_at_us = NULL WHERE state = 'leased' AND lease_owner = ",
            );
            qb.push_bind(worker).push(" AND id IN ");
            push_in_list(&mut qb, chunk.iter().map(|i| i.0));
            n += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn extend_lease(
        &self,
        ids: &[DeliveryId],
        worker: &str,
        lease_for: Duration,
    ) -> Result<u64> {
        let expires = to_us(self.now() + lease_for);
        let mut n = 0;
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(IN_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new("UPDATE deliveries SET lease_expires_at_us = ");
            qb.push_bind(expires)
                .push(" WHERE state = 'leased' AND lease_owner = ")
                .push_bind(worker)
                .push(" AND id IN ");
            push_in_list(&mut qb, chunk.iter().map(|i| i.0));
            n += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        let limit = limit.clamp(1, MAX_PAGE);
        let after = cursor.map(decode_cursor).transpose()?;
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {DELIVERY_COLUMNS}, e.email AS email, e.evaluated_at_us AS evaluated_at_us \
             FROM deliveries d JOIN evaluations e ON e.id = d.evaluation_id WHERE 1 = 1"
        ));
        if let Some(o) = filter.outcome {
            qb.push(" AND d.outcome = ").push_bind(o.as_str());
        }
        if let Some(since) = filter.since {
            qb.push(" AND d.updated_at_us >= ").push_bind(to_us(since));
        }
        if let Some(email) = &filter.email {
            qb.push(" AND e.email = ")
                .push_bind(email.trim().to_lowercase());
        }
        if let Some(dest) = &filter.destination {
            qb.push(" AND d.destination = ").push_bind(dest.as_str());
        }
        if let Some((updated, id)) = after {
            qb.push(" AND (d.updated_at_us < ")
                .push_bind(updated)
                .push(" OR (d.updated_at_us = ")
                .push_bind(updated)
                .push(" AND d.id < ")
                .push_bind(id)
                .push("))");
        }
        qb.push(" ORDER BY d.updated_at_us DESC, d.id DESC LIMIT ")
            .push_bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
        let rows = qb.build().fetch_all(self.read()).await?;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        for row in rows.iter().take(limit) {
            items.push(DeliveryView {
                delivery: delivery_from_row(row)?,
                email: row.try_get("email")?,
                evaluated_at: from_us(row.try_get("evaluated_at_us")?)?,
            });
        }
        let next_cursor = if rows.len() > limit {
            items
                .last()
                .map(|v| encode_cursor(to_us(v.delivery.updated_at), v.delivery.id.0))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn evaluation_log(&self, evaluation_id: &str) -> Result<Vec<LogEntry>> {
        sqlx::query(
            "SELECT id, delivery_id, evaluation_id, destination, attempt, outcome, worker, \
             report, at_us FROM sync_log WHERE evaluation_id = $1 ORDER BY id",
        )
        .bind(evaluation_id)
        .fetch_all(self.read())
        .await?
        .iter()
        .map(log_from_row)
        .collect()
    }

    async fn retry_delivery(&self, id: DeliveryId) -> Result<RetryOutcome> {
        let now = to_us(self.now());
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE deliveries SET state = 'pending', outcome = 'pending', attempts = 0, \
             next_attempt_at_us = $1, updated_at_us = $1 \
             WHERE id = $2 AND state IN ('done', 'failed')",
        )
        .bind(now)
        .bind(id.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let outcome = if updated > 0 {
            RetryOutcome::Requeued
        } else {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM deliveries WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                RetryOutcome::AlreadyQueued
            } else {
                RetryOutcome::NotFound
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn retry_failed(&self, destination: Option<&str>) -> Result<u64> {
        let now = to_us(self.now());
        let mut qb = QueryBuilder::<Db>::new(
            "UPDATE deliveries SET state = 'pending', outcome = 'pending', attempts = 0, \
             next_attempt_at_us = ",
        );
        qb.push_bind(now)
            .push(", updated_at_us = ")
            .push_bind(now)
            .push(" WHERE state = 'failed'");
        if let Some(dest) = destination {
            qb.push(" AND destination = ").push_bind(dest);
        }
        let mut tx = self.begin_write().await?;
        let n = qb.build().execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn replay(
        &self,
        destination: &str,
        basis: TimeBasis,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<u64> {
        let column = match basis {
            TimeBasis::Evaluated => "evaluated_at_us",
            TimeBasis::Received => "received_at_us",
        };
        let now = to_us(self.now());
        let requeue = format!(
            "UPDATE deliveries SET state = 'pending', outcome = 'pending', attempts = 0, \
             next_attempt_at_us = $1, updated_at_us = $1 \
             WHERE destination = $2 AND state IN ('done', 'failed') AND evaluation_id IN \
             (SELECT id FROM evaluations WHERE {column} >= $3 AND {column} < $4)"
        );
        let create = format!(
            "INSERT INTO deliveries (evaluation_id, destination, state, outcome, attempts, \
             next_attempt_at_us, updated_at_us) \
             SELECT id, $2, 'pending', 'pending', 0, $1, $1 FROM evaluations \
             WHERE {column} >= $3 AND {column} < $4 \
             ON CONFLICT (evaluation_id, destination) DO NOTHING"
        );
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        for sql in [requeue, create] {
            n += sqlx::query(AssertSqlSafe(sql))
                .bind(now)
                .bind(destination)
                .bind(to_us(from))
                .bind(to_us(to))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn queue_stats(&self, destination: Option<&str>) -> Result<QueueStats> {
        let now = self.now();
        let mut counts =
            QueryBuilder::<Db>::new("SELECT state, outcome, COUNT(*) AS n FROM deliveries");
        if let Some(d) = destination {
            counts.push(" WHERE destination = ").push_bind(d);
        }
        counts.push(" GROUP BY state, outcome");
        let dest_filter = if destination.is_some() {
            " AND destination = $2"
        } else {
            ""
        };
        let due = format!(
            "SELECT COUNT(*) AS n, MIN(next_attempt_at_us) AS oldest FROM deliveries \
             WHERE {DUE}{dest_filter}"
        );
        let mut stats = QueueStats::default();
        for s in DeliveryState::ALL {
            stats.by_state.insert(s, 0);
        }
        for row in counts.build().fetch_all(self.read()).await? {
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            let state = parse_state(&row.try_get::<String, _>("state")?)?;
            let outcome = parse_outcome(&row.try_get::<String, _>("outcome")?)?;
            *stats.by_state.entry(state).or_default() += n;
            *stats.by_outcome.entry(outcome).or_default() += n;
        }
        let mut q = sqlx::query(AssertSqlSafe(due)).bind(to_us(now));
        if let Some(d) = destination {
            q = q.bind(d);
        }
        let row = q.fetch_one(self.read()).await?;
        stats.due = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
        if let Some(oldest) = row.try_get::<Option<i64>, _>("oldest")? {
            let age = now - from_us(oldest)?;
            stats.oldest_due_age = Some(Duration::try_from(age).unwrap_or(Duration::ZERO));
        }
        Ok(stats)
    }

    async fn create_token(&self, name: &str, role: TokenRole) -> Result<CreatedToken> {
        let now = self.now();
        let secret = generate_token();
        let token = ApiToken {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_string(),
            role,
            created_at: from_us(to_us(now))?,
            revoked_at: None,
            last_used_at: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at_us) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token.id.as_str())
        .bind(name)
        .bind(role.as_str())
        .bind(hash_token(&secret))
        .bind(to_us(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CreatedToken { token, secret })
    }

    async fn find_token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at_us IS NULL"
        );
        let Some(row) = sqlx::query(AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(self.read())
            .await?
        else {
            return Ok(None);
        };
        let mut token = token_from_row(&row)?;
        let now = self.now();
        let stale = token
            .last_used_at
            .is_none_or(|t| now - t >= TOKEN_TOUCH_INTERVAL);
        if stale {
            let mut tx = self.begin_write().await?;
            sqlx::query("UPDATE api_tokens SET last_used_at_us = $1 WHERE id = $2")
                .bind(to_us(now))
                .bind(token.id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            token.last_used_at = Some(from_us(to_us(now))?);
        }
        Ok(Some(token))
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE api_tokens SET revoked_at_us = $1 WHERE id = $2 AND revoked_at_us IS NULL",
        )
        .bind(to_us(self.now()))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at_us DESC, id DESC");
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.read())
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn purge_log_older_than(&self, t: OffsetDateTime) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM sync_log WHERE at_us < $1")
            .bind(to_us(t))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn get_setting(&self, key: &str) -> Result<Option<Value>> {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.read())
            .await?;
        v.map(|j| parse_json(&j)).transpose()
    }

    async fn put_setting(&self, key: &str, value: &Value) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at_us) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             updated_at_us = excluded.updated_at_us",
        )
        .bind(key)
        .bind(value.to_string())
        .bind(to_us(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
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
