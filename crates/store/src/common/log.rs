// What happened and doing it again (part of the `Store` implementation `common.rs`
// includes): an evaluation with its deliveries, the delivery list, the sync log of one
// evaluation, outcome counts per hour, re-queueing (`retry_*`, `replay`) and the log's
// retention purge.

const DELIVERY_COLUMNS: &str = "d.id, d.evaluation_id, d.destination, d.state, d.outcome, \
     d.attempts, d.next_attempt_at_us, d.lease_owner, d.lease_expires_at_us, d.last_report, \
     d.updated_at_us";

/// Microseconds in an hour: the buckets of `outcome_counts`.
const US_PER_HOUR: i64 = 3_600_000_000;

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
        stale: row.try_get("stale")?,
    })
}

impl Backend {
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
            // The same as `(updated_at, id) < (updated, id)`, spelled with a plain upper
            // bound first so that both databases seek the index instead of filtering it.
            qb.push(" AND d.updated_at_us <= ")
                .push_bind(updated)
                .push(" AND (d.updated_at_us < ")
                .push_bind(updated)
                .push(" OR d.id < ")
                .push_bind(id)
                .push(")");
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

    async fn outcome_counts(
        &self,
        destination: Option<&str>,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<HourlyCount>> {
        let from_us = to_us(from);
        let mut qb = QueryBuilder::<Db>::new("SELECT (updated_at_us - ");
        qb.push_bind(from_us)
            .push(") / ")
            .push(US_PER_HOUR)
            .push(" AS hour, outcome, COUNT(*) AS n FROM deliveries WHERE updated_at_us >= ")
            .push_bind(from_us)
            .push(" AND updated_at_us < ")
            .push_bind(to_us(to));
        if let Some(d) = destination {
            qb.push(" AND destination = ").push_bind(d);
        }
        qb.push(" GROUP BY 1, 2");
        let mut counts = Vec::new();
        for row in qb.build().fetch_all(self.read()).await? {
            counts.push(HourlyCount {
                hour: u32::try_from(row.try_get::<i64, _>("hour")?).unwrap_or(0),
                outcome: parse_outcome(&row.try_get::<String, _>("outcome")?)?,
                count: u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
            });
        }
        counts.sort_by_key(|c| (c.hour, c.outcome));
        Ok(counts)
    }

    async fn evaluation_log(&self, evaluation_id: &str) -> Result<Vec<LogEntry>> {
        sqlx::query(
            "SELECT id, delivery_id, evaluation_id, destination, attempt, outcome, worker, \
             report, at_us, stale FROM sync_log WHERE evaluation_id = $1 ORDER BY id",
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
}
