// The administration half of the store shared by both backends: users, sessions, sign-in
// throttling, OAuth states, Salesforce connections, destination-settings history and the
// audit log. Like `common.rs`, compiled twice: `sqlite.rs` and `postgres.rs` `include!` it
// after `common.rs`, whose `impl Store for Backend` forwards to the functions here.
// They live in a nested module so their imports cannot clash with the other included
// files'; as a child of the backend module it still sees `Backend`'s private parts.

use crate::{
    AuditEntry, Connection, NewAudit, NewSession, OAuthState, Session, SettingsVersion, User,
};

mod admin {
    use std::time::Duration;

    use serde_json::Value;
    use sqlx::{AssertSqlSafe, Row};
    use time::OffsetDateTime;

    use super::{Backend, DbRow, FOR_UPDATE, parse_json};
    use crate::util::{MAX_PAGE, from_us, parse_role, to_u32, to_us};
    use crate::{
        AuditEntry, Connection, NewAudit, NewSession, OAuthState, Result, SIGN_IN_FAILURE_WINDOW,
        Session, SettingsVersion, StoreError, TokenRole, User,
    };

    const USER_COLUMNS: &str =
        "u.id, u.email, u.role, u.password_hash, u.created_at_us, u.last_sign_in_at_us";

    /// Session columns renamed where they would collide with the joined user's.
    const SESSION_COLUMNS: &str = "s.token_hash, s.csrf_token, \
         s.created_at_us AS session_created_at_us, s.last_seen_at_us, s.idle_timeout_us, \
         s.absolute_expires_at_us";

    const OAUTH_COLUMNS: &str = "state_hash, started_by, integration, client_id, login_url, \
         sandbox, code_verifier_enc, client_secret_enc, expires_at_us";

    const CONNECTION_COLUMNS: &str = "name, login_url, client_id, sandbox, client_secret_enc, \
         refresh_token_enc, instance_url, username, user_id, org_id, connected_by, \
         connected_at_us, disconnected_at_us, updated_at_us";

    const SETTINGS_COLUMNS: &str = "destination, version, value, saved_by, saved_at_us";

    const AUDIT_COLUMNS: &str = "id, at_us, actor, action, target, details";

    /// Session timeouts are capped here, so expiry arithmetic (in Rust and in SQL) cannot
    /// overflow; no session needs to last longer.
    const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

    /// A version number taken by a concurrent save is retried this often (PostgreSQL only;
    /// SQLite's write lock serialises saves).
    const SAVE_ATTEMPTS: usize = 5;

    /// The one form in which emails are stored and compared.
    fn normalize_email(email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// A role a person may have: every role but the API-only `ingest`.
    fn user_role(role: TokenRole) -> Result<TokenRole> {
        match role {
            TokenRole::Ingest => Err(StoreError::Invalid(
                "the ingest role is for API tokens, not users".to_string(),
            )),
            r => Ok(r),
        }
    }

    fn duration_us(d: Duration) -> i64 {
        i64::try_from(d.min(MAX_SESSION_TIMEOUT).as_micros()).unwrap_or(i64::MAX)
    }

    fn opt_time(row: &DbRow, column: &str) -> Result<Option<OffsetDateTime>> {
        row.try_get::<Option<i64>, _>(column)?
            .map(from_us)
            .transpose()
    }

    fn user_from_row(row: &DbRow) -> Result<User> {
        Ok(User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            role: parse_role(&row.try_get::<String, _>("role")?)?,
            password_hash: row.try_get("password_hash")?,
            created_at: from_us(row.try_get("created_at_us")?)?,
            last_sign_in_at: opt_time(row, "last_sign_in_at_us")?,
        })
    }

    /// A session row joined with its user, whether expired or not.
    fn session_from_row(row: &DbRow) -> Result<Session> {
        let last_seen_us: i64 = row.try_get("last_seen_at_us")?;
        let idle_us: i64 = row.try_get("idle_timeout_us")?;
        let absolute_us: i64 = row.try_get("absolute_expires_at_us")?;
        Ok(Session {
            token_hash: row.try_get("token_hash")?,
            user: user_from_row(row)?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: from_us(row.try_get("session_created_at_us")?)?,
            last_seen_at: from_us(last_seen_us)?,
            idle_expires_at: from_us(last_seen_us.saturating_add(idle_us).min(absolute_us))?,
            absolute_expires_at: from_us(absolute_us)?,
        })
    }

    fn oauth_from_row(row: &DbRow) -> Result<OAuthState> {
        Ok(OAuthState {
            state_hash: row.try_get("state_hash")?,
            started_by: row.try_get("started_by")?,
            integration: row.try_get("integration")?,
            client_id: row.try_get("client_id")?,
            login_url: row.try_get("login_url")?,
            sandbox: row.try_get("sandbox")?,
            code_verifier_enc: row.try_get("code_verifier_enc")?,
            client_secret_enc: row.try_get("client_secret_enc")?,
            expires_at: from_us(row.try_get("expires_at_us")?)?,
        })
    }

    fn connection_from_row(row: &DbRow) -> Result<Connection> {
        Ok(Connection {
            name: row.try_get("name")?,
            login_url: row.try_get("login_url")?,
            client_id: row.try_get("client_id")?,
            sandbox: row.try_get("sandbox")?,
            client_secret_enc: row.try_get("client_secret_enc")?,
            refresh_token_enc: row.try_get("refresh_token_enc")?,
            instance_url: row.try_get("instance_url")?,
            username: row.try_get("username")?,
            user_id: row.try_get("user_id")?,
            org_id: row.try_get("org_id")?,
            connected_by: row.try_get("connected_by")?,
            connected_at: opt_time(row, "connected_at_us")?,
            disconnected_at: opt_time(row, "disconnected_at_us")?,
            updated_at: from_us(row.try_get("updated_at_us")?)?,
        })
    }

    fn settings_from_row(row: &DbRow) -> Result<SettingsVersion> {
        Ok(SettingsVersion {
            version: row.try_get("version")?,
            destination: row.try_get("destination")?,
            value: parse_json(&row.try_get::<String, _>("value")?)?,
            saved_by: row.try_get("saved_by")?,
            saved_at: from_us(row.try_get("saved_at_us")?)?,
        })
    }

    fn audit_from_row(row: &DbRow) -> Result<AuditEntry> {
        Ok(AuditEntry {
            id: row.try_get("id")?,
            at: from_us(row.try_get("at_us")?)?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            details: parse_json(&row.try_get::<String, _>("details")?)?,
        })
    }

    // ---- Users ----

    pub(super) async fn create_user(
        b: &Backend,
        email: &str,
        password_hash: &str,
        role: TokenRole,
    ) -> Result<User> {
        let role = user_role(role)?;
        let email = normalize_email(email);
        if email.is_empty() {
            return Err(StoreError::Invalid("a user needs an email".to_string()));
        }
        let now = to_us(b.now());
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = b.begin_write().await?;
        // DO NOTHING instead of catching the unique violation: the taken email is an
        // answer, not a database error.
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, role, password_hash, created_at_us) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(email.as_str())
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "a user with email {email} exists already"
            )));
        }
        tx.commit().await?;
        Ok(User {
            id,
            email,
            role,
            password_hash: password_hash.to_string(),
            created_at: from_us(now)?,
            last_sign_in_at: None,
        })
    }

    pub(super) async fn find_user_by_email(b: &Backend, email: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(normalize_email(email))
            .fetch_optional(b.read())
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    pub(super) async fn get_user(b: &Backend, id: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(b.read())
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    pub(super) async fn list_users(b: &Backend) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.email");
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(b.read())
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    pub(super) async fn count_users(b: &Backend) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(b.read())
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Inside a write transaction: the owners' ids (locked on PostgreSQL, in id order so
    /// concurrent role changes queue instead of deadlocking; SQLite's immediate
    /// transaction holds the write lock already) and the target user's role, read after
    /// the lock so a concurrent change is seen.
    async fn lock_owners_and_read_role(
        tx: &mut sqlx::Transaction<'static, super::Db>,
        id: &str,
    ) -> Result<(Vec<String>, Option<TokenRole>)> {
        let sql = format!("SELECT id FROM users WHERE role = 'owner' ORDER BY id {FOR_UPDATE}");
        let owners: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_all(&mut **tx)
            .await?;
        let sql = format!("SELECT role FROM users WHERE id = $1 {FOR_UPDATE}");
        let role: Option<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        Ok((owners, role.as_deref().map(parse_role).transpose()?))
    }

    /// Whether taking `id` out of the owners would leave none.
    fn is_last_owner(owners: &[String], id: &str) -> bool {
        matches!(owners, [only] if only == id)
    }

    pub(super) async fn set_user_role(
        b: &Backend,
        id: &str,
        role: TokenRole,
    ) -> Result<Option<User>> {
        let role = user_role(role)?;
        // The check and the update share one write transaction: two concurrent demotions
        // of the last two owners cannot both pass.
        let mut tx = b.begin_write().await?;
        let (owners, current) = lock_owners_and_read_role(&mut tx, id).await?;
        if current.is_none() {
            return Ok(None);
        }
        if role != TokenRole::Owner && is_last_owner(&owners, id) {
            return Err(StoreError::LastOwner);
        }
        sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let user = row.as_ref().map(user_from_row).transpose()?;
        tx.commit().await?;
        Ok(user)
    }

    pub(super) async fn set_user_password(
        b: &Backend,
        id: &str,
        password_hash: &str,
    ) -> Result<bool> {
        let mut tx = b.begin_write().await?;
        let n = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Whoever knew the old password may hold a session: end them all.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn remove_user(b: &Backend, id: &str) -> Result<bool> {
        let mut tx = b.begin_write().await?;
        let (owners, current) = lock_owners_and_read_role(&mut tx, id).await?;
        if current.is_none() {
            return Ok(false);
        }
        if is_last_owner(&owners, id) {
            return Err(StoreError::LastOwner);
        }
        // Explicit, though the foreign key cascades too: no session outlives its user.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn note_sign_in(b: &Backend, user_id: &str) -> Result<()> {
        let mut tx = b.begin_write().await?;
        sqlx::query("UPDATE users SET last_sign_in_at_us = $2 WHERE id = $1")
            .bind(user_id)
            .bind(to_us(b.now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- Sessions ----

    async fn session_row(
        token_hash: &str,
        exec: impl sqlx::Executor<'_, Database = super::Db>,
    ) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(exec)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    pub(super) async fn create_session(b: &Backend, s: NewSession) -> Result<Session> {
        let now = to_us(b.now());
        let absolute = now.saturating_add(duration_us(s.absolute_timeout));
        let mut tx = b.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at_us, \
             last_seen_at_us, idle_timeout_us, absolute_expires_at_us) \
             SELECT $1, id, $3, $4, $4, $5, $6 FROM users WHERE id = $2",
        )
        .bind(s.token_hash.as_str())
        .bind(s.user_id.as_str())
        .bind(s.csrf_token.as_str())
        .bind(now)
        .bind(duration_us(s.idle_timeout))
        .bind(absolute)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::NotFound(format!("user {}", s.user_id)));
        }
        let session = session_row(&s.token_hash, &mut *tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a session just created is missing".into()))?;
        tx.commit().await?;
        Ok(session)
    }

    pub(super) async fn find_session(b: &Backend, token_hash: &str) -> Result<Option<Session>> {
        let now = b.now();
        let session = session_row(token_hash, b.read()).await?;
        // idle_expires_at is never past absolute_expires_at, so it decides alone.
        Ok(session.filter(|s| s.idle_expires_at > now))
    }

    pub(super) async fn touch_session(b: &Backend, token_hash: &str) -> Result<()> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        // Only a live session: touching must not revive an expired one.
        sqlx::query(
            "UPDATE sessions SET last_seen_at_us = $2 WHERE token_hash = $1 \
             AND last_seen_at_us + idle_timeout_us > $2 AND absolute_expires_at_us > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn delete_session(b: &Backend, token_hash: &str) -> Result<bool> {
        let mut tx = b.begin_write().await?;
        let n = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn purge_expired_sessions(b: &Backend) -> Result<u64> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        let n = sqlx::query(
            "DELETE FROM sessions WHERE last_seen_at_us + idle_timeout_us <= $1 \
             OR absolute_expires_at_us <= $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    // ---- Sign-in throttling ----

    fn window_us() -> i64 {
        i64::try_from(SIGN_IN_FAILURE_WINDOW.as_micros()).unwrap_or(i64::MAX)
    }

    pub(super) async fn sign_in_failures(
        b: &Backend,
        email: &str,
    ) -> Result<(u32, Option<OffsetDateTime>)> {
        let now = to_us(b.now());
        let row = sqlx::query(
            "SELECT failures, last_failure_at_us FROM sign_in_failures WHERE email = $1",
        )
        .bind(normalize_email(email))
        .fetch_optional(b.read())
        .await?;
        let Some(row) = row else {
            return Ok((0, None));
        };
        let last: i64 = row.try_get("last_failure_at_us")?;
        if last < now - window_us() {
            return Ok((0, None));
        }
        Ok((to_u32(row.try_get("failures")?), Some(from_us(last)?)))
    }

    pub(super) async fn record_sign_in_failure(b: &Backend, email: &str) -> Result<u32> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        // Lapsed windows (this email's included) go first, so the upsert below simply
        // counts on, or starts again at 1; attempts on many emails leave no pile behind.
        sqlx::query("DELETE FROM sign_in_failures WHERE last_failure_at_us < $1")
            .bind(now - window_us())
            .execute(&mut *tx)
            .await?;
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO sign_in_failures (email, failures, last_failure_at_us) \
             VALUES ($1, 1, $2) ON CONFLICT (email) DO UPDATE SET \
             failures = sign_in_failures.failures + 1, last_failure_at_us = $2 \
             RETURNING failures",
        )
        .bind(normalize_email(email))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(to_u32(n))
    }

    pub(super) async fn clear_sign_in_failures(b: &Backend, email: &str) -> Result<()> {
        let mut tx = b.begin_write().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
            .bind(normalize_email(email))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- OAuth states ----

    pub(super) async fn create_oauth_state(b: &Backend, s: OAuthState) -> Result<()> {
        let mut tx = b.begin_write().await?;
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, started_by, integration, client_id, \
             login_url, sandbox, code_verifier_enc, client_secret_enc, expires_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(s.state_hash)
        .bind(s.started_by)
        .bind(s.integration)
        .bind(s.client_id)
        .bind(s.login_url)
        .bind(s.sandbox)
        .bind(s.code_verifier_enc)
        .bind(s.client_secret_enc)
        .bind(to_us(s.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn take_oauth_state(
        b: &Backend,
        state_hash: &str,
    ) -> Result<Option<OAuthState>> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        // Deleting is taking: of two concurrent callbacks with the same state, one gets it.
        let sql =
            format!("DELETE FROM oauth_states WHERE state_hash = $1 RETURNING {OAUTH_COLUMNS}");
        let taken = sqlx::query(AssertSqlSafe(sql))
            .bind(state_hash)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(oauth_from_row)
            .transpose()?;
        // After the take, so an expired state is still returned (the caller can say
        // "expired" rather than "unknown").
        sqlx::query("DELETE FROM oauth_states WHERE expires_at_us <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(taken)
    }

    // ---- Connections ----

    pub(super) async fn upsert_connection(b: &Backend, c: Connection) -> Result<Connection> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        let sql = format!(
            "INSERT INTO connections ({CONNECTION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $13) \
             ON CONFLICT (name) DO UPDATE SET login_url = excluded.login_url, \
             client_id = excluded.client_id, sandbox = excluded.sandbox, \
             client_secret_enc = excluded.client_secret_enc, \
             refresh_token_enc = excluded.refresh_token_enc, \
             instance_url = excluded.instance_url, username = excluded.username, \
             user_id = excluded.user_id, org_id = excluded.org_id, \
             connected_by = excluded.connected_by, connected_at_us = excluded.connected_at_us, \
             disconnected_at_us = NULL, updated_at_us = excluded.updated_at_us \
             RETURNING {CONNECTION_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(c.name)
            .bind(c.login_url)
            .bind(c.client_id)
            .bind(c.sandbox)
            .bind(c.client_secret_enc)
            .bind(c.refresh_token_enc)
            .bind(c.instance_url)
            .bind(c.username)
            .bind(c.user_id)
            .bind(c.org_id)
            .bind(c.connected_by)
            .bind(c.connected_at.map(to_us))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let stored = connection_from_row(&row)?;
        tx.commit().await?;
        Ok(stored)
    }

    pub(super) async fn get_connection(b: &Backend, name: &str) -> Result<Option<Connection>> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE name = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(b.read())
            .await?
            .as_ref()
            .map(connection_from_row)
            .transpose()
    }

    pub(super) async fn list_connections(b: &Backend) -> Result<Vec<Connection>> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY name");
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(b.read())
            .await?
            .iter()
            .map(connection_from_row)
            .collect()
    }

    pub(super) async fn disconnect_connection(b: &Backend, name: &str) -> Result<bool> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        // A repeated disconnect keeps the first disconnection time.
        let n = sqlx::query(
            "UPDATE connections SET refresh_token_enc = NULL, client_secret_enc = NULL, \
             disconnected_at_us = COALESCE(disconnected_at_us, $2), updated_at_us = $2 \
             WHERE name = $1",
        )
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn set_connection_refresh_token(
        b: &Backend,
        name: &str,
        refresh_token_enc: &str,
    ) -> Result<bool> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        let n = sqlx::query(
            "UPDATE connections SET refresh_token_enc = $2, updated_at_us = $3 \
             WHERE name = $1 AND refresh_token_enc IS NOT NULL",
        )
        .bind(name)
        .bind(refresh_token_enc)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn connections_changed_since(b: &Backend, t: OffsetDateTime) -> Result<bool> {
        // A BIGINT column, not `SELECT 1`: PostgreSQL would type the constant INT4.
        let hit: Option<i64> = sqlx::query_scalar(
            "SELECT updated_at_us FROM connections WHERE updated_at_us > $1 LIMIT 1",
        )
        .bind(to_us(t))
        .fetch_optional(b.read())
        .await?;
        Ok(hit.is_some())
    }

    // ---- Destination settings history ----

    pub(super) async fn save_destination_settings(
        b: &Backend,
        destination: &str,
        value: &Value,
        saved_by: Option<&str>,
    ) -> Result<SettingsVersion> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        // Next version computed and inserted in one statement. On PostgreSQL a concurrent
        // save may take the same number first: DO NOTHING waits for it, yields no row, and
        // the next statement (a fresh snapshot) sees it and takes the one after.
        let sql = format!(
            "INSERT INTO destination_settings ({SETTINGS_COLUMNS}) \
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4 \
             FROM destination_settings WHERE destination = $1 \
             ON CONFLICT (destination, version) DO NOTHING RETURNING {SETTINGS_COLUMNS}"
        );
        for _ in 0..SAVE_ATTEMPTS {
            let row = sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(destination)
                .bind(value.to_string())
                .bind(saved_by)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = row {
                let saved = settings_from_row(&row)?;
                tx.commit().await?;
                return Ok(saved);
            }
        }
        Err(StoreError::Conflict(format!(
            "settings of {destination} are being saved concurrently; try again"
        )))
    }

    pub(super) async fn current_destination_settings(
        b: &Backend,
        destination: &str,
    ) -> Result<Option<SettingsVersion>> {
        let sql = format!(
            "SELECT {SETTINGS_COLUMNS} FROM destination_settings WHERE destination = $1 \
             ORDER BY version DESC LIMIT 1"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(destination)
            .fetch_optional(b.read())
            .await?
            .as_ref()
            .map(settings_from_row)
            .transpose()
    }

    pub(super) async fn destination_settings_history(
        b: &Backend,
        destination: &str,
    ) -> Result<Vec<SettingsVersion>> {
        let sql = format!(
            "SELECT {SETTINGS_COLUMNS} FROM destination_settings WHERE destination = $1 \
             ORDER BY version DESC"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(destination)
            .fetch_all(b.read())
            .await?
            .iter()
            .map(settings_from_row)
            .collect()
    }

    // ---- Audit ----

    pub(super) async fn append_audit(b: &Backend, e: NewAudit) -> Result<AuditEntry> {
        let now = to_us(b.now());
        let mut tx = b.begin_write().await?;
        let sql = format!(
            "INSERT INTO audit_log (at_us, actor, action, target, details) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {AUDIT_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(now)
            .bind(e.actor)
            .bind(e.action)
            .bind(e.target)
            .bind(e.details.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let entry = audit_from_row(&row)?;
        tx.commit().await?;
        Ok(entry)
    }

    pub(super) async fn list_audit(
        b: &Backend,
        limit: u32,
        before_id: Option<i64>,
    ) -> Result<Vec<AuditEntry>> {
        let limit = usize::try_from(limit).unwrap_or(MAX_PAGE).min(MAX_PAGE);
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(b.read())
            .await?
            .iter()
            .map(audit_from_row)
            .collect()
    }
}
