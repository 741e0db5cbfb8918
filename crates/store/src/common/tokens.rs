// API tokens (part of the `Store` implementation `common.rs` includes): only the hash of
// a secret is stored; lookups note the token's use at most once a minute.

const TOKEN_COLUMNS: &str =
    "id, name, role, token_hash, created_at_us, revoked_at_us, last_used_at_us";

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

impl Backend {
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
            // Best effort: a database that cannot write (a full disk) still authenticates.
            let touched = self
                .health
                .track(self.touch_token(&token.id, to_us(now)).await);
            match touched {
                Ok(()) => token.last_used_at = Some(from_us(to_us(now))?),
                Err(e) => tracing::warn!(error = %e, "cannot note a token's use"),
            }
        }
        Ok(Some(token))
    }

    async fn touch_token(&self, id: &str, now_us: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE api_tokens SET last_used_at_us = $1 WHERE id = $2")
            .bind(now_us)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
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
}
