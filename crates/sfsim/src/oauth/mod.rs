//! OAuth 2.0 endpoints of the emulated org (`/services/oauth2/...`, `/id/...`) and the
//! sessions they hand out.
//!
//! Behaviour follows `docs/salesforce.md#oauth`: form-encoded token requests, the
//! authorization-code (with PKCE), refresh-token, client-credentials, JWT-bearer and
//! username-password grants, token responses without `expires_in` and with `issued_at` as a
//! string of milliseconds, HTTP 400 `{"error","error_description"}` failures, revocation,
//! and OpenID-style user info. The data API asks [`Auth::check_access_token`] on every call;
//! a failure there must become `401 [{"errorCode":"INVALID_SESSION_ID",...}]`, which
//! [`SessionError`]'s `IntoResponse` produces.
//!
//! Tokens are random, kept only in memory, and never logged or printed by `Debug`.

mod authorize;
mod identity;
mod jwt;
mod token;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use rand::Rng as _;
use rand::distr::Alphanumeric;

/// How long an authorization code may wait before it is exchanged. Salesforce does not
/// document it; 15 minutes is the value commonly cited
/// (docs/salesforce.md#authorization-code-grant).
pub const DEFAULT_CODE_TTL: Duration = Duration::from_secs(15 * 60);

/// Default session lifetime: the org's default session timeout of 2 hours
/// (docs/salesforce.md#token-response).
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// Allowed clock skew on a JWT assertion's `exp` (docs/salesforce.md#jwt-bearer-grant: about three
/// minutes).
pub const JWT_EXP_SKEW: Duration = Duration::from_secs(3 * 60);

/// The login hosts a JWT's `aud` may name besides the org's own URL
/// (docs/salesforce.md#jwt-bearer-grant).
pub const JWT_AUDIENCES: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];

/// Query switch on `/services/oauth2/authorize` that approves at once, for tests and
/// scripts that have no browser.
pub const AUTO_APPROVE_PARAM: &str = "sfsim_auto_approve";

/// The emulated connected app, its integration user and the session policy.
#[derive(Clone)]
pub struct AuthConfig {
    /// Lifetime of access tokens (absolute, counted from issue).
    pub access_token_ttl: Duration,
    /// Lifetime of authorization codes.
    pub code_ttl: Duration,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret.
    pub client_secret: String,
    /// OAuth scopes selected on the connected app; a request without `scope` gets them all.
    pub scopes: Vec<String>,
    /// Callback URLs registered on the connected app. Loopback URLs (`localhost`,
    /// `127.0.0.1`, `[::1]`, any port) are accepted as well, so local tools work unchanged.
    pub callback_urls: Vec<String>,
    /// "Enable Client Credentials Flow" with the integration user as Run As user.
    pub client_credentials_enabled: bool,
    /// The certificate (PEM) uploaded to the connected app for the JWT bearer flow;
    /// without one every JWT assertion is refused.
    pub jwt_cert_pem: Option<String>,
    /// The integration user's username (an email-shaped login name).
    pub username: String,
    /// The integration user's password, for the login page and the password grant.
    pub password: String,
    /// The user's email address.
    pub email: String,
    /// First and last name of the user.
    pub first_name: String,
    pub last_name: String,
    /// 18-character organization id (`00D...`).
    pub org_id: String,
    /// 18-character user id (`005...`).
    pub user_id: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            code_ttl: DEFAULT_CODE_TTL,
            // Consumer keys of real connected apps start with "3MVG9".
            client_id: format!("3MVG9sfsim.{}", random_string(70)),
            client_secret: random_string(64),
            scopes: [
                "api",
                "web",
                "id",
                "openid",
                "refresh_token",
                "offline_access",
            ]
            .map(String::from)
            .to_vec(),
            callback_urls: Vec::new(),
            client_credentials_enabled: true,
            jwt_cert_pem: None,
            username: "integration@trailspark.sfsim".to_owned(),
            password: "sfsim-password".to_owned(),
            email: "integration@trailspark.sfsim".to_owned(),
            first_name: "Integration".to_owned(),
            last_name: "User".to_owned(),
            // Valid 18-character ids (15 + case checksum) with the real key prefixes.
            org_id: "00D5g00000TrSpkEAF".to_owned(),
            user_id: "0055g00000IntUsAAJ".to_owned(),
        }
    }
}

impl fmt::Debug for AuthConfig {
    /// Omits the secret, the password and the certificate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("access_token_ttl", &self.access_token_ttl)
            .field("code_ttl", &self.code_ttl)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field(
                "client_credentials_enabled",
                &self.client_credentials_enabled,
            )
            .field("jwt_cert", &self.jwt_cert_pem.is_some())
            .field("username", &self.username)
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// The PEM given for the JWT bearer flow holds no usable RSA certificate or public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the JWT certificate is not an RSA certificate or public key in PEM")]
pub struct JwtCertError;

/// Who is calling, as established by a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub org_id: String,
    pub user_id: String,
    pub username: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// Why an access token was refused. Every variant answers the data API's
/// `401 INVALID_SESSION_ID` (docs/salesforce.md#codes; golden:
/// crates/sfsim/tests/fixtures/goldens/expired_session.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no access token was sent")]
    Missing,
    #[error("the access token is unknown or revoked")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        let body = serde_json::json!([{
            "message": "Session expired or invalid",
            "errorCode": "INVALID_SESSION_ID",
        }]);
        (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
    }
}

/// An issued access token.
struct AccessEntry {
    issued: Instant,
    /// Wall-clock issue time in seconds, for introspection's `iat`/`exp`.
    issued_at_secs: u64,
    /// Set by [`Auth::expire_access_tokens`] (fault injection).
    forced_expired: bool,
    /// The refresh token it came from or with, so revoking that one revokes this.
    refresh: Option<String>,
    scopes: Vec<String>,
}

struct RefreshEntry {
    scopes: Vec<String>,
    /// The chain of tokens rotated from one grant (each refresh's token is the next).
    family: u64,
}

struct CodeEntry {
    issued: Instant,
    redirect_uri: String,
    code_challenge: Option<String>,
    scopes: Vec<String>,
    used: bool,
}

struct State {
    access_token_ttl: Duration,
    /// The connected app's JWT certificate (starts as `AuthConfig::jwt_cert_pem`).
    jwt_cert_pem: Option<String>,
    instance_url: String,
    access: HashMap<String, AccessEntry>,
    refresh: HashMap<String, RefreshEntry>,
    codes: HashMap<String, CodeEntry>,
    /// "Refresh Token Rotation" on the connected app (docs/salesforce.md#refresh-token-grant).
    rotate_refresh_tokens: bool,
    /// Refresh tokens replaced by rotation, by their family: using one again revokes the
    /// family's current token and its access tokens, as Salesforce does.
    retired: HashMap<String, u64>,
    next_family: u64,
}

/// The emulated org's authorization server: connected app, user, codes and tokens.
pub struct Auth {
    cfg: AuthConfig,
    state: Mutex<State>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// What a successful grant produced, before it is rendered as the token response.
struct Grant {
    access_token: String,
    refresh_token: Option<String>,
    scopes: Vec<String>,
}

impl Auth {
    pub fn new(cfg: AuthConfig) -> Arc<Auth> {
        let state = State {
            access_token_ttl: cfg.access_token_ttl,
            jwt_cert_pem: cfg.jwt_cert_pem.clone(),
            instance_url: String::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            rotate_refresh_tokens: false,
            retired: HashMap::new(),
            next_family: 0,
        };
        Arc::new(Auth {
            cfg,
            state: Mutex::new(state),
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    /// The org's base URL, used for `instance_url` and identity URLs.
    pub fn set_instance_url(&self, url: &str) {
        self.lock().instance_url = url.trim_end_matches('/').to_owned();
    }

    pub fn instance_url(&self) -> String {
        self.lock().instance_url.clone()
    }

    /// Validates a token sent by a data call. Accepts the bare token or the whole
    /// `Authorization` header value (`Bearer <t>`, or the older `OAuth <t>` some libraries
    /// still send, docs/salesforce.md#conventions).
    pub fn check_access_token(&self, bearer: &str) -> Result<Session, SessionError> {
        let token = strip_auth_scheme(bearer).trim();
        if token.is_empty() {
            return Err(SessionError::Missing);
        }
        let state = self.lock();
        let entry = state.access.get(token).ok_or(SessionError::Invalid)?;
        if entry.forced_expired || entry.issued.elapsed() >= state.access_token_ttl {
            return Err(SessionError::Expired);
        }
        Ok(self.session(&entry.scopes))
    }

    /// Issues an access token and a refresh token for the integration user, as if the
    /// web-server flow had just completed (used at start so tools can connect at once).
    pub fn issue_tokens(&self) -> (String, String) {
        let scopes = self.cfg.scopes.clone();
        let mut state = self.lock();
        let refresh = new_refresh_token();
        let family = new_family(&mut state);
        state.refresh.insert(
            refresh.clone(),
            RefreshEntry {
                scopes: scopes.clone(),
                family,
            },
        );
        let access = self.insert_access(&mut state, Some(refresh.clone()), scopes);
        (access, refresh)
    }

    /// The refresh tokens that still work (revoked ones are gone): lets a test see that a
    /// client revoked its token, and search for a token where it must not be.
    pub fn refresh_tokens(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().refresh.keys().cloned().collect();
        v.sort();
        v
    }

    /// Turns the connected app's "Refresh Token Rotation" on or off: with it, every refresh
    /// answers with a new refresh token and the one used stops working; using a replaced one
    /// again revokes its successor and their access tokens.
    pub fn set_refresh_token_rotation(&self, on: bool) {
        self.lock().rotate_refresh_tokens = on;
    }

    /// Fault injection: every access token issued so far stops working (401), as after a
    /// session timeout; refresh tokens keep working.
    pub fn expire_access_tokens(&self) {
        for entry in self.lock().access.values_mut() {
            entry.forced_expired = true;
        }
    }

    /// Uploads (or with `None` removes) the connected app's certificate for the JWT bearer
    /// flow. The PEM must hold an RSA certificate or public key, as Salesforce requires.
    pub fn set_jwt_cert_pem(&self, pem: Option<&str>) -> Result<(), JwtCertError> {
        if let Some(p) = pem {
            jsonwebtoken::DecodingKey::from_rsa_pem(p.as_bytes()).map_err(|_| JwtCertError)?;
        }
        self.lock().jwt_cert_pem = pem.map(str::to_owned);
        Ok(())
    }

    /// Changes the session lifetime; applies to tokens already issued too, like changing
    /// the org's session timeout.
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.lock().access_token_ttl = ttl;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for an emulator, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn session(&self, scopes: &[String]) -> Session {
        Session {
            org_id: self.cfg.org_id.clone(),
            user_id: self.cfg.user_id.clone(),
            username: self.cfg.username.clone(),
            client_id: self.cfg.client_id.clone(),
            scopes: scopes.to_vec(),
        }
    }

    fn insert_access(
        &self,
        state: &mut State,
        refresh: Option<String>,
        scopes: Vec<String>,
    ) -> String {
        // Drop tokens that can no longer be used so a long run does not grow without bound.
        let ttl = state.access_token_ttl;
        state
            .access
            .retain(|_, e| !e.forced_expired && e.issued.elapsed() < ttl);
        let token = new_access_token(&self.cfg.org_id);
        state.access.insert(
            token.clone(),
            AccessEntry {
                issued: Instant::now(),
                issued_at_secs: now_secs(),
                forced_expired: false,
                refresh,
                scopes,
            },
        );
        token
    }

    /// Issues the tokens of a completed grant; a refresh token only when asked for.
    fn grant(&self, scopes: Vec<String>, with_refresh: bool) -> Grant {
        let mut state = self.lock();
        let refresh_token = with_refresh.then(new_refresh_token);
        if let Some(rt) = &refresh_token {
            let family = new_family(&mut state);
            state.refresh.insert(
                rt.clone(),
                RefreshEntry {
                    scopes: scopes.clone(),
                    family,
                },
            );
        }
        let access_token = self.insert_access(&mut state, refresh_token.clone(), scopes.clone());
        Grant {
            access_token,
            refresh_token,
            scopes,
        }
    }

    /// The identity URL of the user: `<host>/id/<orgId>/<userId>`
    /// (docs/salesforce.md#token-response).
    fn identity_url(&self, instance_url: &str) -> String {
        format!("{instance_url}/id/{}/{}", self.cfg.org_id, self.cfg.user_id)
    }
}

/// The OAuth routes: `/services/oauth2/{authorize,token,revoke,introspect,userinfo}` and
/// `/id/{org}/{user}`.
pub fn router(auth: Arc<Auth>) -> Router {
    Router::new()
        .route(
            "/services/oauth2/authorize",
            get(authorize::page).post(authorize::submit),
        )
        .route("/services/oauth2/token", post(token::token))
        .route("/services/oauth2/introspect", post(token::introspect))
        .route(
            "/services/oauth2/revoke",
            post(token::revoke_post).get(token::revoke_get),
        )
        .route(
            "/services/oauth2/userinfo",
            get(identity::userinfo).post(identity::userinfo),
        )
        .route("/id/{org_id}/{user_id}", get(identity::identity))
        .with_state(auth)
}

fn strip_auth_scheme(value: &str) -> &str {
    let value = value.trim();
    for scheme in ["Bearer ", "OAuth "] {
        if value.len() >= scheme.len() && value[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return &value[scheme.len()..];
        }
    }
    value
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `<15-char org id>!<opaque>`, the shape of real session ids (docs/salesforce.md#token-response).
fn new_access_token(org_id: &str) -> String {
    let org15 = org_id.get(..15).unwrap_or(org_id);
    format!("{org15}!AQ{}", random_string(94))
}

/// Real refresh tokens start with `5Aep861`; the rest is opaque.
fn new_family(state: &mut State) -> u64 {
    state.next_family += 1;
    state.next_family
}

fn new_refresh_token() -> String {
    format!("5Aep861{}", random_string(80))
}

fn new_code() -> String {
    format!("aPrx{}", random_string(60))
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `signature` of the token response: base64 HMAC-SHA256 of `id + issued_at` keyed with
/// the consumer secret (docs/salesforce.md#token-response), so clients can check the response was
/// not tampered with.
fn response_signature(client_secret: &str, id: &str, issued_at: &str) -> String {
    let message = format!("{id}{issued_at}");
    // jsonwebtoken renders signatures base64url without padding; Salesforce uses standard
    // base64, so re-encode.
    jsonwebtoken::EncodingKey::from_secret(client_secret.as_bytes())
        .and_then(|key| {
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
        })
        .ok()
        .and_then(|s| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .ok()
        })
        .map(|raw| base64::engine::general_purpose::STANDARD.encode(raw))
        .unwrap_or_default()
}

/// `true` when `uri` is registered on the app, or is a loopback `http(s)` URL.
fn callback_allowed(cfg: &AuthConfig, uri: &str) -> bool {
    if cfg.callback_urls.iter().any(|u| u == uri) {
        return true;
    }
    match url::Url::parse(uri) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https")
                && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
        }
        Err(_) => false,
    }
}

/// Splits a space-separated scope parameter; `None` when a scope is not on the app.
fn requested_scopes(cfg: &AuthConfig, scope: Option<&str>) -> Option<Vec<String>> {
    let Some(scope) = scope.map(str::trim).filter(|s| !s.is_empty()) else {
        return Some(cfg.scopes.clone());
    };
    let mut out: Vec<String> = Vec::new();
    for s in scope.split([' ', '+']).filter(|s| !s.is_empty()) {
        // "full" means every scope, as on Salesforce.
        if s == "full" {
            return Some(cfg.scopes.clone());
        }
        if !cfg.scopes.iter().any(|a| a == s) {
            return None;
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Some(out)
}

fn wants_refresh_token(scopes: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| s == "refresh_token" || s == "offline_access")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_carry_the_15_char_org_id() {
        let t = new_access_token("00D5g00000TrSpkEAF");
        assert!(t.starts_with("00D5g00000TrSpk!"), "{t}");
        assert_ne!(t, new_access_token("00D5g00000TrSpkEAF"));
    }

    #[test]
    fn auth_scheme_is_stripped_case_insensitively() {
        assert_eq!(strip_auth_scheme("Bearer abc"), "abc");
        assert_eq!(strip_auth_scheme("bearer abc"), "abc");
        assert_eq!(strip_auth_scheme("OAuth abc"), "abc");
        assert_eq!(strip_auth_scheme("abc"), "abc");
    }

    #[test]
    fn signature_is_hmac_sha256_in_standard_base64() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = response_signature("Jefe", "what do ya want ", "for nothing?");
        assert_eq!(sig, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }

    #[test]
    fn scopes_must_be_on_the_app() {
        let cfg = AuthConfig::default();
        assert_eq!(
            requested_scopes(&cfg, Some("api refresh_token")),
            Some(vec!["api".into(), "refresh_token".into()])
        );
        assert_eq!(requested_scopes(&cfg, Some("api chatter_api")), None);
        assert_eq!(requested_scopes(&cfg, None), Some(cfg.scopes.clone()));
    }

    #[test]
    fn loopback_callbacks_are_accepted_others_must_be_registered() {
        let mut cfg = AuthConfig::default();
        assert!(callback_allowed(&cfg, "http://localhost:8123/cb"));
        assert!(callback_allowed(&cfg, "http://127.0.0.1:1/x"));
        assert!(!callback_allowed(&cfg, "https://evil.example/cb"));
        cfg.callback_urls.push("https://app.example/cb".into());
        assert!(callback_allowed(&cfg, "https://app.example/cb"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cfg = AuthConfig::default();
        let secret = cfg.client_secret.clone();
        let auth = Auth::new(cfg);
        let (access, refresh) = auth.issue_tokens();
        let dbg = format!("{auth:?}");
        assert!(!dbg.contains(&secret) && !dbg.contains(&access) && !dbg.contains(&refresh));
        assert!(!dbg.contains("sfsim-password"));
    }
}
