//! `POST /services/oauth2/token` (every grant) and `/services/oauth2/revoke`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{
    Auth, CodeEntry, Grant, jwt, new_code, now_millis, response_signature, wants_refresh_token,
};

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
pub(super) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A token-endpoint failure: HTTP 400 `{"error","error_description"}`
/// (docs/salesforce.md#token-errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OAuthError {
    pub error: &'static str,
    pub description: &'static str,
}

impl OAuthError {
    pub(super) const fn new(error: &'static str, description: &'static str) -> Self {
        Self { error, description }
    }
}

// The wordings below are the ones recorded from Salesforce in docs/salesforce.md#token-errors.
pub(super) const UNSUPPORTED_GRANT: OAuthError =
    OAuthError::new("unsupported_grant_type", "grant type not supported");
pub(super) const INVALID_CLIENT_ID: OAuthError =
    OAuthError::new("invalid_client_id", "client identifier invalid");
pub(super) const INVALID_CLIENT: OAuthError =
    OAuthError::new("invalid_client", "invalid client credentials");
pub(super) const EXPIRED_TOKEN: OAuthError =
    OAuthError::new("invalid_grant", "expired access/refresh token");
pub(super) const EXPIRED_CODE: OAuthError =
    OAuthError::new("invalid_grant", "expired authorization code");
pub(super) const INVALID_CODE: OAuthError =
    OAuthError::new("invalid_grant", "invalid authorization code");
pub(super) const REDIRECT_MISMATCH: OAuthError =
    OAuthError::new("invalid_grant", "redirect_uri must match configuration");
pub(super) const VERIFIER_MISSING: OAuthError =
    OAuthError::new("invalid_grant", "invalid code verifier");
pub(super) const VERIFIER_MISMATCH: OAuthError =
    OAuthError::new("invalid_request", "invalid code verifier");
pub(super) const AUTH_FAILURE: OAuthError =
    OAuthError::new("invalid_grant", "authentication failure");
pub(super) const NO_CC_USER: OAuthError =
    OAuthError::new("invalid_grant", "no client credentials user enabled");

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}

type Params = HashMap<String, String>;

fn parse_form(body: &[u8]) -> Params {
    let mut out = Params::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE))
}

/// The form parameters of a request whose body is a form; any other body carries none
/// (introspect and revoke then answer as if the parameters were missing).
fn form_params(headers: &HeaderMap, body: &[u8]) -> Params {
    if is_form(headers) {
        parse_form(body)
    } else {
        Params::new()
    }
}

/// Client id and secret from HTTP Basic (as simple-salesforce sends them) or the body.
fn client_credentials(headers: &HeaderMap, params: &Params) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| s.split_once(':').map(|(i, p)| (i.to_owned(), p.to_owned())));
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            params.get("client_id").cloned(),
            params
                .get("client_secret")
                .cloned()
                .filter(|s| !s.is_empty()),
        ),
    }
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// Constant-time comparison for secrets, so response timing does not leak them.
pub(super) fn secret_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `base64url(sha256(verifier))` without padding, the S256 PKCE transform (RFC 7636).
pub(super) fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `POST /services/oauth2/token`.
pub(super) async fn token(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Salesforce reads token parameters only from a form body; a JSON body leaves it
    // without a grant_type, hence "grant type not supported".
    if !is_form(&headers) {
        return UNSUPPORTED_GRANT.into_response();
    }
    let params = parse_form(&body);
    let (client_id, client_secret) = client_credentials(&headers, &params);
    let client = Client {
        id: client_id.as_deref(),
        secret: client_secret.as_deref(),
    };
    let result = match param(&params, "grant_type") {
        Some("authorization_code") => auth
            .authorization_code_grant(&client, &params)
            .map(|g| (g, true)),
        Some("refresh_token") => auth
            .refresh_token_grant(&client, &params)
            .map(|g| (g, true)),
        Some("client_credentials") => auth.client_credentials_grant(&client).map(|g| (g, true)),
        Some("password") => auth.password_grant(&client, &params).map(|g| (g, true)),
        // The documented JWT response has neither issued_at nor signature
        // (docs/salesforce.md#jwt-bearer-grant).
        Some(JWT_BEARER_GRANT) => auth.jwt_grant(&params).map(|g| (g, false)),
        _ => Err(UNSUPPORTED_GRANT),
    };
    match result {
        Ok((grant, signed)) => auth.token_response(&grant, signed).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The client as authenticated by the request (either part may be absent).
pub(super) struct Client<'a> {
    id: Option<&'a str>,
    secret: Option<&'a str>,
}

impl Auth {
    fn check_client_id(&self, client: &Client<'_>) -> Result<(), OAuthError> {
        match client.id {
            Some(id) if id == self.cfg.client_id => Ok(()),
            _ => Err(INVALID_CLIENT_ID),
        }
    }

    /// `Ok(true)` when a correct secret was sent, `Ok(false)` when none was.
    fn check_client_secret(&self, client: &Client<'_>) -> Result<bool, OAuthError> {
        match client.secret {
            None => Ok(false),
            Some(s) if secret_eq(s, &self.cfg.client_secret) => Ok(true),
            Some(_) => Err(INVALID_CLIENT),
        }
    }

    /// Records a code issued by the authorize page.
    pub(super) fn new_authorization_code(
        &self,
        redirect_uri: &str,
        code_challenge: Option<&str>,
        scopes: Vec<String>,
    ) -> String {
        let code = new_code();
        let mut state = self.lock();
        let ttl = self.cfg.code_ttl;
        state
            .codes
            .retain(|_, c| !c.used && c.issued.elapsed() < ttl);
        state.codes.insert(
            code.clone(),
            CodeEntry {
                issued: Instant::now(),
                redirect_uri: redirect_uri.to_owned(),
                code_challenge: code_challenge.map(str::to_owned),
                scopes,
                used: false,
            },
        );
        code
    }

    fn authorization_code_grant(
        &self,
        client: &Client<'_>,
        params: &Params,
    ) -> Result<Grant, OAuthError> {
        self.check_client_id(client)?;
        let has_secret = self.check_client_secret(client)?;
        let code = param(params, "code").ok_or(INVALID_CODE)?;
        let scopes = {
            let mut state = self.lock();
            let entry = state.codes.get_mut(code).ok_or(INVALID_CODE)?;
            // Single use, short lived (docs/salesforce.md#authorization-code-grant).
            if entry.used || entry.issued.elapsed() >= self.cfg.code_ttl {
                return Err(EXPIRED_CODE);
            }
            if param(params, "redirect_uri") != Some(entry.redirect_uri.as_str()) {
                return Err(REDIRECT_MISMATCH);
            }
            match (&entry.code_challenge, param(params, "code_verifier")) {
                (Some(_), None) => return Err(VERIFIER_MISSING),
                (Some(challenge), Some(verifier)) if pkce_challenge(verifier) != *challenge => {
                    return Err(VERIFIER_MISMATCH);
                }
                // A confidential client must prove itself with the secret unless PKCE
                // already binds the code to it ("Require Secret for Web Server Flow").
                (None, _) if !has_secret => return Err(INVALID_CLIENT),
                _ => {}
            }
            entry.used = true;
            entry.scopes.clone()
        };
        let with_refresh = wants_refresh_token(&scopes);
        Ok(self.grant(scopes, with_refresh))
    }

    fn refresh_token_grant(
        &self,
        client: &Client<'_>,
        params: &Params,
    ) -> Result<Grant, OAuthError> {
        self.check_client_id(client)?;
        self.check_client_secret(client)?;
        let rt = param(params, "refresh_token").ok_or(EXPIRED_TOKEN)?;
        let mut state = self.lock();
        let Some(entry) = state.refresh.get(rt) else {
            // A token replaced by rotation, used again: the whole family is revoked.
            if let Some(family) = state.retired.remove(rt) {
                let revoked: Vec<String> = state
                    .refresh
                    .iter()
                    .filter(|(_, e)| e.family == family)
                    .map(|(t, _)| t.clone())
                    .collect();
                for t in &revoked {
                    state.refresh.remove(t);
                }
                state
                    .access
                    .retain(|_, e| !e.refresh.as_ref().is_some_and(|r| revoked.contains(r)));
            }
            return Err(EXPIRED_TOKEN);
        };
        let (scopes, family) = (entry.scopes.clone(), entry.family);
        if !state.rotate_refresh_tokens {
            // No rotation: the response carries no new refresh token
            // (docs/salesforce.md#refresh-token-grant).
            let access_token = self.insert_access(&mut state, Some(rt.to_owned()), scopes.clone());
            return Ok(Grant {
                access_token,
                refresh_token: None,
                scopes,
            });
        }
        // Rotation: a new token in the same family; the one used stops working.
        state.refresh.remove(rt);
        state.retired.insert(rt.to_owned(), family);
        let next = super::new_refresh_token();
        state.refresh.insert(
            next.clone(),
            super::RefreshEntry {
                scopes: scopes.clone(),
                family,
            },
        );
        let access_token = self.insert_access(&mut state, Some(next.clone()), scopes.clone());
        Ok(Grant {
            access_token,
            refresh_token: Some(next),
            scopes,
        })
    }

    fn client_credentials_grant(&self, client: &Client<'_>) -> Result<Grant, OAuthError> {
        self.check_client_id(client)?;
        if !self.check_client_secret(client)? {
            return Err(INVALID_CLIENT);
        }
        if !self.cfg.client_credentials_enabled {
            return Err(NO_CC_USER);
        }
        Ok(self.grant(self.scopes_without_refresh(), false))
    }

    fn password_grant(&self, client: &Client<'_>, params: &Params) -> Result<Grant, OAuthError> {
        self.check_client_id(client)?;
        if !self.check_client_secret(client)? {
            return Err(INVALID_CLIENT);
        }
        let username = param(params, "username").unwrap_or_default();
        let password = param(params, "password").unwrap_or_default();
        // The password may carry the user's security token appended; the emulated org has
        // no IP restrictions, so the bare password is enough too.
        if !username.eq_ignore_ascii_case(&self.cfg.username)
            || !password.starts_with(&self.cfg.password)
        {
            return Err(AUTH_FAILURE);
        }
        Ok(self.grant(self.scopes_without_refresh(), false))
    }

    fn jwt_grant(&self, params: &Params) -> Result<Grant, OAuthError> {
        let assertion = param(params, "assertion").ok_or(jwt::INVALID_ASSERTION)?;
        let (instance_url, cert) = {
            let state = self.lock();
            (state.instance_url.clone(), state.jwt_cert_pem.clone())
        };
        jwt::verify(&self.cfg, cert.as_deref(), &instance_url, assertion)?;
        Ok(self.grant(self.scopes_without_refresh(), false))
    }

    /// Flows without a user at the keyboard never yield a refresh token
    /// (docs/salesforce.md#token-response).
    fn scopes_without_refresh(&self) -> Vec<String> {
        self.cfg
            .scopes
            .iter()
            .filter(|s| *s != "refresh_token" && *s != "offline_access")
            .cloned()
            .collect()
    }

    /// Renders the shape of docs/salesforce.md#token-response, in Salesforce's key order.
    fn token_response(&self, grant: &Grant, signed: bool) -> axum::Json<Value> {
        let instance_url = self.instance_url();
        let id = self.identity_url(&instance_url);
        let issued_at = now_millis().to_string();
        let mut body = Map::new();
        body.insert("access_token".into(), grant.access_token.clone().into());
        if let Some(rt) = &grant.refresh_token {
            body.insert("refresh_token".into(), rt.clone().into());
        }
        if signed {
            body.insert(
                "signature".into(),
                response_signature(&self.cfg.client_secret, &id, &issued_at).into(),
            );
        }
        body.insert("scope".into(), grant.scopes.join(" ").into());
        body.insert("instance_url".into(), instance_url.into());
        body.insert("id".into(), id.into());
        body.insert("token_type".into(), "Bearer".into());
        if signed {
            body.insert("issued_at".into(), issued_at.into());
        }
        axum::Json(Value::Object(body))
    }

    /// Revokes an access token, or a refresh token with every access token it produced.
    fn revoke(&self, token: Option<&str>) -> Result<(), OAuthError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(UNSUPPORTED_TOKEN_TYPE)?;
        let mut state = self.lock();
        if state.access.remove(token).is_some() {
            return Ok(());
        }
        if state.refresh.remove(token).is_some() {
            state
                .access
                .retain(|_, e| e.refresh.as_deref() != Some(token));
            return Ok(());
        }
        Err(INVALID_TOKEN)
    }
}

/// `POST /services/oauth2/introspect` (RFC 7662, docs/salesforce.md#revocation-and-introspection):
/// the connected app asks whether a token is active. Needs the app's credentials; unknown, revoked
/// or expired tokens are just `{"active":false}`.
pub(super) async fn introspect(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form_params(&headers, &body);
    let (client_id, client_secret) = client_credentials(&headers, &params);
    let client = Client {
        id: client_id.as_deref(),
        secret: client_secret.as_deref(),
    };
    if let Err(e) = auth.check_client_id(&client) {
        return e.into_response();
    }
    match auth.check_client_secret(&client) {
        Ok(true) => {}
        Ok(false) | Err(_) => return INVALID_CLIENT.into_response(),
    }
    let token = param(&params, "token").unwrap_or_default();
    axum::Json(auth.introspection(token)).into_response()
}

impl Auth {
    fn introspection(&self, token: &str) -> Value {
        let instance_url = self.instance_url();
        let state = self.lock();
        let (token_type, scopes, times) = if let Some(e) = state.access.get(token) {
            if e.forced_expired || e.issued.elapsed() >= state.access_token_ttl {
                return json!({"active": false});
            }
            let exp = e.issued_at_secs + state.access_token_ttl.as_secs();
            (
                "access_token",
                e.scopes.clone(),
                Some((e.issued_at_secs, exp)),
            )
        } else if let Some(e) = state.refresh.get(token) {
            ("refresh_token", e.scopes.clone(), None)
        } else {
            return json!({"active": false});
        };
        let mut body = json!({
            "active": true,
            "scope": scopes.join(" "),
            "client_id": self.cfg.client_id,
            "username": self.cfg.username,
            "sub": self.identity_url(&instance_url),
            "token_type": token_type,
        });
        if let (Some((iat, exp)), Some(obj)) = (times, body.as_object_mut()) {
            obj.insert("exp".into(), exp.into());
            obj.insert("iat".into(), iat.into());
            obj.insert("nbf".into(), iat.into());
        }
        body
    }
}

// Mobile SDK "Revoking OAuth Tokens" (docs/salesforce.md#revocation-and-introspection).
const UNSUPPORTED_TOKEN_TYPE: OAuthError =
    OAuthError::new("unsupported_token_type", "unsupported token type");
const INVALID_TOKEN: OAuthError = OAuthError::new("invalid_token", "invalid token");

/// `POST /services/oauth2/revoke` with a form body `token=...`: 200 with an empty body.
pub(super) async fn revoke_post(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form_params(&headers, &body);
    revoke_response(&auth, params.get("token").map(String::as_str))
}

/// `GET /services/oauth2/revoke?token=...`, which Salesforce also accepts.
pub(super) async fn revoke_get(
    State(auth): State<Arc<Auth>>,
    Query(params): Query<Params>,
) -> Response {
    revoke_response(&auth, params.get("token").map(String::as_str))
}

fn revoke_response(auth: &Auth, token: Option<&str>) -> Response {
    match auth.revoke(token) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("abc", "abcd"));
    }

    #[test]
    fn form_content_type_may_carry_a_charset() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8"
                .parse()
                .unwrap(),
        );
        assert!(is_form(&h));
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(!is_form(&h));
    }
}
