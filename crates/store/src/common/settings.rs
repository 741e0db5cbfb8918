// Small settings documents by key (part of the `Store` implementation `common.rs`
// includes), e.g. the destination settings saved through the API.

impl Backend {
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
}
