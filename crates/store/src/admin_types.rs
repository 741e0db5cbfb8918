//! The values of the administration side of the store: people and their sessions, sign-in
//! throttling, OAuth handshakes, Salesforce connections, destination-settings history and
//! the audit log. Plain data, no SQL.
//!
//! Secrets arrive already protected (password hashes, SHA-256 of cookies, `_enc` fields
//! encrypted by the server as base64 text) and are kept as given; `Debug` never prints them.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::TokenRole;

/// Failed sign-ins of one email are counted together while each follows the previous one
/// within this time; a later failure starts a new window.
pub const SIGN_IN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Shown in place of a secret by `Debug`.
const REDACTED: &str = "***";

/// `Some("***")` or `None`: tells whether a secret is there without showing it.
fn redact(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| REDACTED)
}

/// A person who signs in to the page.
#[derive(Clone, PartialEq, Serialize)]
pub struct User {
    /// UUID v7, as text.
    pub id: String,
    /// Trimmed and lower-cased.
    pub email: String,
    /// Never [`TokenRole::Ingest`].
    pub role: TokenRole,
    #[serde(skip)]
    pub password_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sign_in_at: Option<OffsetDateTime>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("password_hash", &REDACTED)
            .field("created_at", &self.created_at)
            .field("last_sign_in_at", &self.last_sign_in_at)
            .finish()
    }
}

/// A session to open for a user who just signed in.
#[derive(Clone, PartialEq)]
pub struct NewSession {
    /// Hex SHA-256 of the cookie value (the value itself is never stored).
    pub token_hash: String,
    pub user_id: String,
    pub csrf_token: String,
    /// The session ends this long after its last use...
    pub idle_timeout: Duration,
    /// ...and this long after it opened, used or not.
    pub absolute_timeout: Duration,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("token_hash", &self.token_hash)
            .field("user_id", &self.user_id)
            .field("csrf_token", &REDACTED)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .finish()
    }
}

/// A live session and the user it belongs to.
#[derive(Clone, PartialEq)]
pub struct Session {
    pub token_hash: String,
    pub user: User,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// `last_seen_at` + idle timeout, never past `absolute_expires_at`.
    pub idle_expires_at: OffsetDateTime,
    pub absolute_expires_at: OffsetDateTime,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token_hash", &self.token_hash)
            .field("user", &self.user)
            .field("csrf_token", &REDACTED)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("idle_expires_at", &self.idle_expires_at)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .finish()
    }
}

/// An OAuth authorization request in flight, kept until its callback takes it (once).
#[derive(Clone, PartialEq)]
pub struct OAuthState {
    /// Hash of the `state` parameter sent to the authorization server.
    pub state_hash: String,
    /// A user id, or `token:<id>` when an API token started it.
    pub started_by: String,
    pub integration: String,
    pub client_id: String,
    pub login_url: String,
    pub sandbox: bool,
    pub code_verifier_enc: String,
    pub client_secret_enc: Option<String>,
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthState")
            .field("state_hash", &self.state_hash)
            .field("started_by", &self.started_by)
            .field("integration", &self.integration)
            .field("client_id", &self.client_id)
            .field("login_url", &self.login_url)
            .field("sandbox", &self.sandbox)
            .field("code_verifier_enc", &REDACTED)
            .field("client_secret_enc", &redact(&self.client_secret_enc))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A Salesforce connection, by integration name. Disconnected when it has no refresh token
/// (the row stays, so the page can say so).
#[derive(Clone, PartialEq)]
pub struct Connection {
    pub name: String,
    pub login_url: String,
    pub client_id: String,
    pub sandbox: bool,
    pub client_secret_enc: Option<String>,
    /// None: disconnected.
    pub refresh_token_enc: Option<String>,
    pub instance_url: Option<String>,
    /// The Salesforce user the connection acts as.
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    /// Who connected it (as in the audit log's actor).
    pub connected_by: Option<String>,
    pub connected_at: Option<OffsetDateTime>,
    pub disconnected_at: Option<OffsetDateTime>,
    /// Set by the store on every change.
    pub updated_at: OffsetDateTime,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("login_url", &self.login_url)
            .field("client_id", &self.client_id)
            .field("sandbox", &self.sandbox)
            .field("client_secret_enc", &redact(&self.client_secret_enc))
            .field("refresh_token_enc", &redact(&self.refresh_token_enc))
            .field("instance_url", &self.instance_url)
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .field("org_id", &self.org_id)
            .field("connected_by", &self.connected_by)
            .field("connected_at", &self.connected_at)
            .field("disconnected_at", &self.disconnected_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// One saved version of a destination's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsVersion {
    /// 1, 2, 3 ... per destination.
    pub version: i64,
    pub destination: String,
    pub value: Value,
    pub saved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// An email, `token:<name>`, or `system`.
    pub actor: String,
    /// What happened, e.g. `session.sign_in`, `settings.save`.
    pub action: String,
    pub target: Option<String>,
    pub details: Value,
}

/// An audit entry to append (its time is the store's now).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: Value,
}
