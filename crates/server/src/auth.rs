//! Who may call what: bearer tokens looked up by their SHA-256 through the store, and the
//! one table ([`ROUTES`]) giving each route the role it needs (contract §4).
//!
//! Roles: Owner > Admin > Editor > Viewer, each including the ones below. The `ingest`
//! scope is a machine token that may only post evaluations.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use store::{ApiToken, TokenRole, hash_token};

use crate::AppState;
use crate::error::ApiError;

/// What a route requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (health, metrics, the API description).
    Public,
    /// An `ingest`-scoped token, or Editor and above.
    Ingest,
    /// At least this role.
    Role(TokenRole),
}

impl Access {
    fn describe(self) -> &'static str {
        match self {
            Access::Public => "nothing",
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

/// May a token with `role` use a route that requires `access`?
pub fn allows(access: Access, role: TokenRole) -> bool {
    match access {
        Access::Public => true,
        Access::Ingest => role == TokenRole::Ingest || rank(role) >= rank(TokenRole::Editor),
        Access::Role(TokenRole::Ingest) => role == TokenRole::Ingest,
        Access::Role(needed) => match (rank(role), rank(needed)) {
            (Some(have), Some(need)) => have >= need,
            _ => false,
        },
    }
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
        Method::GET,
        "/api/v1/integrations",
        Access::Role(TokenRole::Viewer),
    ),
    (Method::GET, "/healthz", Access::Public),
    (Method::GET, "/readyz", Access::Public),
    (Method::GET, "/metrics", Access::Public),
    (Method::GET, "/api/openapi.json", Access::Public),
];

/// The access a matched route needs (`None`: not in the table, i.e. no such route).
pub fn access_for(method: &Method, path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, a)| *a)
}

/// The caller, once authenticated (a request extension for handlers that want it).
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<ApiToken>);

/// Middleware: checks the bearer token against the route's entry in [`ROUTES`].
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
    let token = match bearer(&req) {
        Some(t) => t,
        None => return ApiError::Unauthorized.into_response(),
    };
    let found = match state.store.find_token_by_hash(&hash_token(token)).await {
        Ok(Some(t)) => t,
        Ok(None) => return ApiError::Unauthorized.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !allows(access, found.role) {
        return ApiError::Forbidden {
            role: found.role.as_str(),
            needed: access.describe(),
            action: format!("{} {}", req.method(), path),
        }
        .into_response();
    }
    req.extensions_mut().insert(Caller(Arc::new(found)));
    next.run(req).await
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
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

#[cfg(test)]
mod openapi_tests {
    use super::*;

    /// The OpenAPI document lists exactly the routes of the role table, with the methods.
    #[test]
    fn openapi_matches_the_route_table() {
        let doc: serde_json::Value =
            serde_json::from_str(crate::api::OPENAPI).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (p, ops) in paths {
            for m in ops.as_object().expect("operations").keys() {
                documented.push(format!("{} {p}", m.to_uppercase()));
            }
        }
        let mut table: Vec<String> = ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
        documented.sort();
        table.sort();
        assert_eq!(documented, table);
    }
}
