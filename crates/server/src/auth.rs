//! Who may call what. A caller is either a machine holding an API token
//! (`Authorization: Bearer`, looked up by its SHA-256) or a person signed in to the web
//! app (the session cookie, see [`crate::session`]); both carry one of the same roles. The
//! one table [`ROUTES`] gives each route the access it needs (docs/api.md lists it).
//!
//! Roles: Owner > Admin > Editor > Viewer, each including the ones below. The `ingest`
//! scope is a machine token that may only post evaluations. A cookie-authenticated request
//! that changes state must also come from this service's own origin and carry the
//! session's CSRF token; bearer requests need neither (a browser never adds them by itself).

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use store::{ApiToken, Session, TokenRole, hash_token};

use crate::AppState;
use crate::error::ApiError;
use crate::session;

/// What a route requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (health, metrics, the API description, sign-in, the OAuth
    /// redirect, which checks its own `state`).
    Public,
    /// Any authenticated caller, whatever the role.
    SignedIn,
    /// An `ingest`-scoped token, or Editor and above.
    Ingest,
    /// At least this role.
    Role(TokenRole),
}

impl Access {
    fn describe(self) -> &'static str {
        match self {
            Access::Public => "nothing",
            Access::SignedIn => "any sign-in",
            Access::Ingest => "an ingest token or the editor role",
            Access::Role(TokenRole::Owner) => "the owner role",
            Access::Role(TokenRole::Admin) => "the admin role or higher",
            Access::Role(TokenRole::Editor) => "the editor role or higher",
            Access::Role(TokenRole::Viewer) => "the viewer role or higher",
            Access::Role(TokenRole::Ingest) => "an ingest token",
        }
    }
}

/// Rank of the web roles; `ingest` is outside the hierarchy.
fn rank(role: TokenRole) -> Option<u8> {
    match role {
        TokenRole::Owner => Some(4),
        TokenRole::Admin => Some(3),
        TokenRole::Editor => Some(2),
        TokenRole::Viewer => Some(1),
        TokenRole::Ingest => None,
    }
}

/// May a caller with `role` use a route that requires `access`?
pub fn allows(access: Access, role: TokenRole) -> bool {
    match access {
        Access::Public | Access::SignedIn => true,
        Access::Ingest => role == TokenRole::Ingest || rank(role) >= rank(TokenRole::Editor),
        Access::Role(TokenRole::Ingest) => role == TokenRole::Ingest,
        Access::Role(needed) => match (rank(role), rank(needed)) {
            (Some(have), Some(need)) => have >= need,
            _ => false,
        },
    }
}

/// Does `role` include `needed` (Owner includes Admin, …)?
pub fn includes(role: TokenRole, needed: TokenRole) -> bool {
    allows(Access::Role(needed), role)
}

/// Every route of the API with the access it needs: the one place this is decided.
pub const ROUTES: &[(Method, &str, Access)] = &[
    (Method::POST, "/api/v1/evaluations", Access::Ingest),
    (
        Method::GET,
        "/api/v1/evaluations/{id}",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::GET,
        "/api/v1/deliveries",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::POST,
        "/api/v1/deliveries/retry",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::POST,
        "/api/v1/deliveries/{id}/retry",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::POST,
        "/api/v1/destinations/salesforce/replay",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::GET,
        "/api/v1/destinations/salesforce",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::PUT,
        "/api/v1/destinations/salesforce",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::GET,
        "/api/v1/destinations/salesforce/history",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::GET,
        "/api/v1/integrations",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::POST,
        "/api/v1/integrations/salesforce",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::GET,
        "/api/oauth/callback/salesforce",
        Access::Public,
    ),
    (
        Method::POST,
        "/api/v1/integrations/{name}/test",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::DELETE,
        "/api/v1/integrations/{name}",
        Access::Role(TokenRole::Admin),
    ),
    // Viewer+ may see the plan (`?dry_run=true`); the handler asks Admin+ to apply it.
    (
        Method::POST,
        "/api/v1/integrations/{name}/setup",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::GET,
        "/api/v1/integrations/{name}/objects/{object}/fields",
        Access::Role(TokenRole::Viewer),
    ),
    (Method::POST, "/api/v1/session", Access::Public),
    (Method::GET, "/api/v1/session", Access::SignedIn),
    (Method::DELETE, "/api/v1/session", Access::SignedIn),
    (Method::GET, "/api/v1/users", Access::Role(TokenRole::Owner)),
    (
        Method::POST,
        "/api/v1/users",
        Access::Role(TokenRole::Owner),
    ),
    (
        Method::PATCH,
        "/api/v1/users/{id}",
        Access::Role(TokenRole::Owner),
    ),
    (
        Method::DELETE,
        "/api/v1/users/{id}",
        Access::Role(TokenRole::Owner),
    ),
    (Method::GET, "/api/v1/audit", Access::Role(TokenRole::Admin)),
    (Method::GET, "/healthz", Access::Public),
    (Method::GET, "/readyz", Access::Public),
    (Method::GET, "/metrics", Access::Public),
    (Method::GET, "/api/openapi.json", Access::Public),
];

/// The access a matched route needs (`None`: not in the table, i.e. no such route). HEAD
/// needs what GET needs: it is GET's answer without the body (the router answers HEAD on
/// every GET route).
pub fn access_for(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, a)| *a)
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    Token(ApiToken),
    User(Box<Session>),
}

/// The caller, once authenticated (a request extension for handlers that want it).
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Principal>);

impl Caller {
    pub fn role(&self) -> TokenRole {
        match &*self.0 {
            Principal::Token(t) => t.role,
            Principal::User(s) => s.user.role,
        }
    }

    /// How the audit log names the caller: the user's email, or `token:<name>`.
    pub fn actor(&self) -> String {
        match &*self.0 {
            Principal::Token(t) => format!("token:{}", t.name),
            Principal::User(s) => s.user.email.clone(),
        }
    }

    /// A stable id: the user's id, or `token:<id>` (binds an OAuth `state` to its starter).
    pub fn id(&self) -> String {
        match &*self.0 {
            Principal::Token(t) => format!("token:{}", t.id),
            Principal::User(s) => s.user.id.clone(),
        }
    }

    pub fn session(&self) -> Option<&Session> {
        match &*self.0 {
            Principal::User(s) => Some(s),
            Principal::Token(_) => None,
        }
    }
}

/// Middleware: authenticates the caller (bearer token first, then the session cookie) and
/// checks the route's entry in [`ROUTES`]; for a cookie, also the same-origin/CSRF rule.
pub async fn require(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return ApiError::NotFound("no such route".into()).into_response();
    };
    let access = match access_for(req.method(), &path) {
        Some(a) => a,
        // A route registered without a table entry is refused, never left open.
        None => return ApiError::NotFound("no such route".into()).into_response(),
    };
    if access == Access::Public {
        return next.run(req).await;
    }
    let caller = match authenticate(&state, req.headers()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if !allows(access, caller.role()) {
        return ApiError::Forbidden {
            role: caller.role().as_str(),
            needed: access.describe(),
            action: format!("{} {}", req.method(), path),
        }
        .into_response();
    }
    if let Some(s) = caller.session()
        && !session::is_safe(req.method())
    {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        if let Err(refusal) = session::check_csrf(
            header(header::ORIGIN.as_str()),
            header(session::CSRF_HEADER),
            &s.csrf_token,
            &state.public_origin,
        ) {
            return ApiError::CsrfRefused(refusal.message()).into_response();
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The caller of a request, from its bearer token or its session cookie.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    if let Some(token) = bearer(headers) {
        return match state.store.find_token_by_hash(&hash_token(token)).await? {
            Some(t) => Ok(Caller(Arc::new(Principal::Token(t)))),
            None => Err(ApiError::Unauthorized),
        };
    }
    match session_of(state, headers).await? {
        Some(s) => Ok(Caller(Arc::new(Principal::User(Box::new(s))))),
        None if session::cookie_value(headers).is_some() => Err(ApiError::SessionExpired),
        None => Err(ApiError::Unauthorized),
    }
}

/// The live session named by the request's cookie (touched at most once a minute).
pub async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, ApiError> {
    let Some(value) = session::cookie_value(headers) else {
        return Ok(None);
    };
    let hash = hash_token(&value);
    let Some(s) = state.store.find_session(&hash).await? else {
        return Ok(None);
    };
    let now = time::OffsetDateTime::now_utc();
    if now - s.last_seen_at >= session::TOUCH_EVERY {
        state.store.touch_session(&hash).await?;
    }
    Ok(Some(s))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        let admin = Access::Role(TokenRole::Admin);
        assert!(allows(admin, TokenRole::Owner));
        assert!(allows(admin, TokenRole::Admin));
        assert!(!allows(admin, TokenRole::Editor));
        assert!(!allows(admin, TokenRole::Viewer));
        assert!(!allows(admin, TokenRole::Ingest));
    }

    #[test]
    fn ingest_scope_only_posts_evaluations() {
        assert!(allows(Access::Ingest, TokenRole::Ingest));
        assert!(allows(Access::Ingest, TokenRole::Editor));
        assert!(!allows(Access::Ingest, TokenRole::Viewer));
        assert!(!allows(Access::Role(TokenRole::Viewer), TokenRole::Ingest));
    }

    #[test]
    fn every_route_has_one_entry() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[i + 1..]
                    .iter()
                    .all(|(m2, p2, _)| !(m == m2 && p == p2)),
                "{m} {p} listed twice"
            );
        }
    }
}
