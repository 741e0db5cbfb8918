//! The identity service: `GET /services/oauth2/userinfo` (OpenID Connect style) and the
//! identity URL `GET /id/{orgId}/{userId}` named by every token response's `id`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Auth, Session};

/// The identity service answers a bad or expired token with 403 and this plain-text body,
/// not with the REST API's INVALID_SESSION_ID array.
const BAD_TOKEN_BODY: &str = "Bad_OAuth_Token";

fn bad_token() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        BAD_TOKEN_BODY,
    )
        .into_response()
}

fn session_from(auth: &Auth, headers: &HeaderMap) -> Option<Session> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    auth.check_access_token(value).ok()
}

impl Auth {
    /// Resource URLs of the org. `{version}` is left as a literal placeholder, exactly as
    /// the identity service returns it.
    fn identity_urls(&self, base: &str) -> Value {
        let org15 = self.cfg.org_id.get(..15).unwrap_or(&self.cfg.org_id);
        let rest = format!("{base}/services/data/v{{version}}/");
        json!({
            "enterprise": format!("{base}/services/Soap/c/{{version}}/{org15}"),
            "metadata": format!("{base}/services/Soap/m/{{version}}/{org15}"),
            "partner": format!("{base}/services/Soap/u/{{version}}/{org15}"),
            "rest": rest,
            "sobjects": format!("{rest}sobjects/"),
            "search": format!("{rest}search/"),
            "query": format!("{rest}query/"),
            "recent": format!("{rest}recent/"),
            "tooling_rest": format!("{rest}tooling/"),
            "profile": format!("{base}/{}", self.cfg.user_id),
            "custom_domain": base,
        })
    }

    /// Appends the fields userinfo and the identity URL answer alike (same names, same
    /// values) after each endpoint's own fields.
    fn with_user_facts(&self, base: &str, mut body: Value) -> Value {
        let facts = json!({
            "urls": self.identity_urls(base),
            "active": true,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "is_app_installed": true,
        });
        if let (Some(obj), Value::Object(facts)) = (body.as_object_mut(), facts) {
            obj.extend(facts);
        }
        body
    }

    fn display_name(&self) -> String {
        format!("{} {}", self.cfg.first_name, self.cfg.last_name)
    }
}

/// `GET|POST /services/oauth2/userinfo` with `Authorization: Bearer <token>`.
pub(super) async fn userinfo(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if session_from(&auth, &headers).is_none() {
        return bad_token();
    }
    let base = auth.instance_url();
    let cfg = &auth.cfg;
    axum::Json(auth.with_user_facts(
        &base,
        json!({
            "sub": auth.identity_url(&base),
            "user_id": cfg.user_id,
            "organization_id": cfg.org_id,
            "preferred_username": cfg.username,
            "nickname": cfg.username.split('@').next().unwrap_or_default(),
            "name": auth.display_name(),
            "email": cfg.email,
            "email_verified": true,
            "given_name": cfg.first_name,
            "family_name": cfg.last_name,
            "zoneinfo": "GMT",
            "profile": format!("{base}/{}", cfg.user_id),
            "is_salesforce_integration_user": false,
        }),
    ))
    .into_response()
}

/// `GET /id/{orgId}/{userId}`: the identity of the token's user; other ids are not found.
pub(super) async fn identity(
    State(auth): State<Arc<Auth>>,
    Path((org_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if session_from(&auth, &headers).is_none() {
        return bad_token();
    }
    let cfg = &auth.cfg;
    // The identity service accepts both the 15- and the 18-character forms of the ids.
    let same = |given: &str, ours: &str| given == ours || ours.get(..15) == Some(given);
    if !same(&org_id, &cfg.org_id) || !same(&user_id, &cfg.user_id) {
        return (StatusCode::NOT_FOUND, "Bad_Id").into_response();
    }
    let base = auth.instance_url();
    axum::Json(auth.with_user_facts(
        &base,
        json!({
            "id": auth.identity_url(&base),
            "asserted_user": true,
            "user_id": cfg.user_id,
            "organization_id": cfg.org_id,
            "username": cfg.username,
            "nick_name": cfg.username.split('@').next().unwrap_or_default(),
            "display_name": auth.display_name(),
            "email": cfg.email,
            "email_verified": true,
            "first_name": cfg.first_name,
            "last_name": cfg.last_name,
            "timezone": "GMT",
        }),
    ))
    .into_response()
}
