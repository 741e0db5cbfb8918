// The queue (part of the `Store` implementation `common.rs` includes): evaluations come
// in (`ingest`, one delivery per destination), workers lease due deliveries, report each
// attempt (`complete`: next state, backoff, one sync-log entry) or hand leases back, and
// `queue_stats` reports the depth.
//
// Fencing: each lease takes the delivery's next `lease_token`; `complete` applies a result
// only under the current token, so a worker that stalled past its lease and was taken over
// cannot move the delivery. Lease times (due, expiry) come from `lease_now`, the database's
// clock on PostgreSQL.

/// A delivery is due: pending and its time has come, or leased by a worker whose lease ran out.
const DUE: &str = "((state = 'pending' AND next_attempt_at_us <= $1) \
     OR (state = 'leased' AND lease_expires_at_us <= $1))";

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
            now + policy.backoff.delay(attempts_after, jitter),
        ),
    }
}

/// A delivery as `complete` found it.
struct Held {
    attempts: u32,
    /// The current lease (owner, token), when the delivery is leased.
    lease: Option<(String, LeaseToken)>,
    evaluation_id: String,
    destination: String,
}

/// A result whose lease is no longer current but that wrote at the destination: logged,
/// marked stale, without touching the delivery.
struct StaleWrite<'a> {
    result: &'a DeliveryResult,
    /// Numbered after the attempts the delivery has recorded so far.
    attempt: u32,
    evaluation_id: String,
    destination: String,
}

/// One applied attempt result.
struct Step<'a> {
    result: &'a DeliveryResult,
    evaluation_id: String,
    destination: String,
    /// This attempt's number (1 for the first).
    attempt: u32,
    state: DeliveryState,
    outcome: DeliveryOutcome,
    next: OffsetDateTime,
}

impl Backend {
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
        // Due from now by the clock leases are compared with (the database's on PostgreSQL).
        let due_now = to_us(self.lease_now(&mut tx).await?);
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
                    .push_bind(due_now)
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
        let mut tx = self.begin_write().await?;
        let now = self.lease_now(&mut tx).await?;
        let expires = now + lease_for;
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
                token: LeaseToken(row.try_get("lease_token")?),
                evaluation_id: row.try_get("evaluation_id")?,
                destination: row.try_get("destination")?,
                attempts: to_u32(row.try_get("attempts")?),
                lease_expires_at: from_us(to_us(expires))?,
                payload: Value::Null,
                received_at: OffsetDateTime::UNIX_EPOCH,
            });
        }
        let mut payloads: HashMap<String, (Value, OffsetDateTime)> = HashMap::new();
        let ids: Vec<&str> = leased.iter().map(|l| l.evaluation_id.as_str()).collect();
        for chunk in ids.chunks(IN_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT id, payload, received_at_us FROM evaluations WHERE id IN ",
            );
            push_in_list(&mut qb, chunk.iter().copied());
            for row in qb.build().fetch_all(&mut *tx).await? {
                payloads.insert(
                    row.try_get("id")?,
                    (
                        parse_json(&row.try_get::<String, _>("payload")?)?,
                        from_us(row.try_get("received_at_us")?)?,
                    ),
                );
            }
        }
        tx.commit().await?;
        for l in &mut leased {
            (l.payload, l.received_at) =
                payloads.remove(&l.evaluation_id).ok_or_else(|| {
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
        let mut tx = self.begin_write().await?;
        let now = self.lease_now(&mut tx).await?;

        // The named deliveries with their current leases, locked in id order (PostgreSQL: no
        // deadlock between concurrent completions; SQLite: the write lock is already held).
        let mut ids: Vec<i64> = results.iter().map(|r| r.id.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut held: HashMap<i64, Held> = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT id, state, attempts, lease_owner, lease_token, evaluation_id, \
                 destination FROM deliveries WHERE id IN ",
            );
            push_in_list(&mut qb, chunk.iter().copied());
            qb.push(" ORDER BY id ").push(FOR_UPDATE);
            for row in qb.build().fetch_all(&mut *tx).await? {
                let leased = row.try_get::<String, _>("state")? == DeliveryState::Leased.as_str();
                let owner: Option<String> = row.try_get("lease_owner")?;
                let token = LeaseToken(row.try_get("lease_token")?);
                held.insert(
                    row.try_get("id")?,
                    Held {
                        attempts: to_u32(row.try_get("attempts")?),
                        lease: owner.filter(|_| leased).map(|o| (o, token)),
                        evaluation_id: row.try_get("evaluation_id")?,
                        destination: row.try_get("destination")?,
                    },
                );
            }
        }

        let mut statuses = vec![CompleteStatus::Stale; results.len()];
        let mut steps = Vec::new();
        let mut stale_writes = Vec::new();
        // One jitter for the whole batch: records that failed together (a row lock) are
        // retried together, in one lease, rather than one by one in tiny batches.
        let jitter = domain::backoff::jitter();
        for (i, r) in results.iter().enumerate() {
            let Some(h) = held.get_mut(&r.id.0) else {
                continue; // no such delivery
            };
            let current = h
                .lease
                .as_ref()
                .is_some_and(|(owner, token)| *owner == r.worker && *token == r.token);
            if !current {
                if r.wrote {
                    stale_writes.push(StaleWrite {
                        result: r,
                        attempt: h.attempts.saturating_add(1),
                        evaluation_id: h.evaluation_id.clone(),
                        destination: h.destination.clone(),
                    });
                }
                continue;
            }
            // The lease is used up: a repeated id in one call is stale.
            h.lease = None;
            let attempt = h.attempts.saturating_add(1);
            let (state, outcome, next) = next_step(r.disposition, attempt, policy, now, jitter);
            statuses[i] = CompleteStatus::Applied(state);
            steps.push(Step {
                result: r,
                evaluation_id: h.evaluation_id.clone(),
                destination: h.destination.clone(),
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
                    .push_bind(s.evaluation_id.as_str())
                    .push_bind(s.destination.as_str())
                    .push_bind(i64::from(s.attempt))
                    .push_bind(s.outcome.as_str())
                    .push_bind(s.result.worker.as_str())
                    .push_bind(s.result.report.to_string())
                    .push_bind(now_us);
            });
            qb.build().execute(&mut *tx).await?;
        }
        for chunk in stale_writes.chunks(INSERT_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO sync_log (delivery_id, evaluation_id, destination, attempt, \
                 outcome, worker, report, at_us, stale) ",
            );
            qb.push_values(chunk, |mut b, s| {
                let outcome = match s.result.disposition {
                    Disposition::Final(o) => DeliveryOutcome::Final(o),
                    Disposition::Transient => DeliveryOutcome::Retrying,
                };
                b.push_bind(s.result.id.0)
                    .push_bind(s.evaluation_id.as_str())
                    .push_bind(s.destination.as_str())
                    .push_bind(i64::from(s.attempt))
                    .push_bind(outcome.as_str())
                    .push_bind(s.result.worker.as_str())
                    .push_bind(s.result.report.to_string())
                    .push_bind(now_us)
                    .push_bind(true);
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
        let mut n = 0;
        let mut tx = self.begin_write().await?;
        let now = self.lease_now(&mut tx).await?;
        let expires = to_us(now + lease_for);
        for chunk in ids.chunks(IN_CHUNK) {
            // A lease that ran out is not revived: another worker may be about to take it.
            let mut qb = QueryBuilder::<Db>::new("UPDATE deliveries SET lease_expires_at_us = ");
            qb.push_bind(expires)
                .push(" WHERE state = 'leased' AND lease_owner = ")
                .push_bind(worker)
                .push(" AND lease_expires_at_us > ")
                .push_bind(to_us(now))
                .push(" AND id IN ");
            push_in_list(&mut qb, chunk.iter().map(|i| i.0));
            n += qb.build().execute(&mut *tx).await?.rows_affected();
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
}
