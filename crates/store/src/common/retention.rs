// Bounded storage (part of the `Store` implementation `common.rs` includes): retention
// purges and the database's size. Each purge call deletes at most `limit` rows in one short
// transaction, so a writer (ingest, a worker) never waits behind a long delete; the caller
// calls again until a call deletes fewer than `limit`.

impl Backend {
    async fn purge_log_older_than(&self, t: OffsetDateTime, limit: usize) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "DELETE FROM sync_log WHERE id IN \
             (SELECT id FROM sync_log WHERE at_us < $1 ORDER BY at_us LIMIT $2)",
        )
        .bind(to_us(t))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn purge_evaluations_older_than(&self, t: OffsetDateTime, limit: usize) -> Result<u64> {
        // Deliveries and their log go with the evaluation (ON DELETE CASCADE). One that is
        // pending or leased, or changed since `t` (a replay, a retry), keeps it.
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "DELETE FROM evaluations WHERE id IN \
             (SELECT e.id FROM evaluations e WHERE e.received_at_us < $1 AND NOT EXISTS \
             (SELECT 1 FROM deliveries d WHERE d.evaluation_id = e.id AND \
             (d.state IN ('pending', 'leased') OR d.updated_at_us >= $1)) \
             ORDER BY e.received_at_us, e.id LIMIT $2)",
        )
        .bind(to_us(t))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn database_size(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(DATABASE_SIZE_SQL)
            .fetch_one(self.read())
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
