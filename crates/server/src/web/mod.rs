//! The web app: server-rendered pages for people who administer the service (sign in,
//! Overview, Sync log, Settings > CRM Integration with its Connect and Destinations tabs),
//! built on the same functions and rules as the API: the role check is the one in
//! [`crate::auth`] applied to the page table [`PAGES`], sessions are the API's, and forms
//! carry the session's CSRF token in a hidden `csrf_token` field under the same-origin
//! rule. Templates are compiled in (askama); the stylesheet and script are served from the
//! binary. Every page is one round trip and readable without JavaScript.

mod assets;
mod connect;
mod destinations;
mod log;
mod overview;
mod sign_in;
pub mod view;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use store::TokenRole;

use crate::AppState;
use crate::auth::{Access, Caller, allows, authenticate};
use crate::error::ApiError;
use crate::session;

/// Where a person signs in.
pub const SIGN_IN: &str = "/sign-in";
/// The largest form body a page accepts (the Destinations form is a few kilobytes).
const FORM_LIMIT: usize = 64 * 1024;

/// Every page route with the access it needs: the one place this is decided for pages,
/// checked by [`allows`] as the API's [`crate::auth::ROUTES`] are.
pub const PAGES: &[(Method, &str, Access)] = &[
    (Method::GET, "/", Access::Role(TokenRole::Viewer)),
    (Method::GET, "/sign-in", Access::Public),
    (Method::POST, "/sign-in", Access::Public),
    (Method::POST, "/sign-out", Access::SignedIn),
    (Method::GET, "/log", Access::Role(TokenRole::Viewer)),
    (
        Method::POST,
        "/log/retry-failed",
        Access::Role(TokenRole::Admin),
    ),
    (Method::GET, "/log/{id}", Access::Role(TokenRole::Viewer)),
    (
        Method::POST,
        "/log/deliveries/{id}/retry",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::GET,
        "/settings/crm-integration",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::POST,
        "/settings/crm-integration/connect",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::POST,
        "/settings/crm-integration/{name}/test",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::GET,
        "/settings/crm-integration/{name}/disconnect",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::POST,
        "/settings/crm-integration/{name}/disconnect",
        Access::Role(TokenRole::Admin),
    ),
    (
        Method::GET,
        "/settings/crm-integration/destinations",
        Access::Role(TokenRole::Viewer),
    ),
    (
        Method::POST,
        "/settings/crm-integration/destinations",
        Access::Role(TokenRole::Admin),
    ),
    (Method::GET, "/assets/app.css", Access::Public),
    (Method::GET, "/assets/app.js", Access::Public),
];

fn access_for(method: &Method, path: &str) -> Option<Access> {
    PAGES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, a)| *a)
}

/// The page routes, each behind [`require`].
pub fn router(state: AppState) -> Router<AppState> {
    use axum::routing::post;
    Router::new()
        .route("/", get(overview::page))
        .route("/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/log", get(log::list))
        .route("/log/retry-failed", post(log::retry_failed))
        .route("/log/{id}", get(log::detail))
        .route("/log/deliveries/{id}/retry", post(log::retry))
        .route("/settings/crm-integration", get(connect::page))
        .route("/settings/crm-integration/connect", post(connect::begin))
        .route("/settings/crm-integration/{name}/test", post(connect::test))
        .route(
            "/settings/crm-integration/{name}/disconnect",
            get(connect::confirm_disconnect).post(connect::disconnect),
        )
        .route(
            "/settings/crm-integration/destinations",
            get(destinations::page).post(destinations::submit),
        )
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .route_layer(middleware::from_fn_with_state(state, require))
}

/// Middleware: the page's entry in [`PAGES`]; a person not signed in goes to the sign-in
/// page (with `next` back here), an ended session says so there; a role too low sees why;
/// a form that changes something must come from this origin with the session's CSRF token.
pub async fn require(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return message(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
    };
    let Some(access) = access_for(req.method(), &path) else {
        return message(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
    };
    if access == Access::Public {
        return next.run(req).await;
    }
    let back = next_param(req.method(), req.uri());
    let caller = match authenticate(&state, req.headers()).await {
        Ok(c) if c.session().is_some() => c,
        Err(ApiError::SessionExpired) => {
            let mut resp = Redirect::to(&format!("{SIGN_IN}?expired=1{back}")).into_response();
            resp.headers_mut().insert(
                header::SET_COOKIE,
                session::clear_cookie(state.secure_cookies),
            );
            return resp;
        }
        Ok(_) | Err(ApiError::Unauthorized) => {
            return Redirect::to(&format!("{SIGN_IN}?{}", back.trim_start_matches('&')))
                .into_response();
        }
        Err(e) => return error_page(&e),
    };
    if !allows(access, caller.role()) {
        return message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!(
                "Your role ({}) may not do this. Ask an Owner or Admin of this workspace.",
                caller.role().as_str()
            ),
        );
    }
    let req = if session::is_safe(req.method()) {
        req
    } else {
        match check_form_csrf(&state, &caller, req).await {
            Ok(r) => r,
            Err(resp) => return resp,
        }
    };
    let mut req = req;
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// `&next=<this page>` for a GET (a form post goes back to the Overview after sign-in).
fn next_param(method: &Method, uri: &Uri) -> String {
    if *method != Method::GET {
        return String::new();
    }
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!(
        "&next={}",
        url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
    )
}

/// The same-origin and CSRF rule of [`session::check_csrf`], with the token read from the
/// form's `csrf_token` field; the body is put back for the handler.
async fn check_form_csrf(
    state: &AppState,
    caller: &Caller,
    req: Request,
) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Form too large",
            "The form sent more than this page accepts.",
        )
    })?;
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == session::CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let expected = caller
        .session()
        .map(|s| s.csrf_token.as_str())
        .unwrap_or("");
    session::check_csrf(origin, token.as_deref(), expected, &state.public_origin).map_err(
        |_| {
            message(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form came from another site or an older page. Go back, reload the page and try again.",
            )
        },
    )?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// A page with a title and one message (not found, not allowed, errors).
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let t = view::MessagePage {
        title: title.to_string(),
        text: text.to_string(),
    };
    (status, render(&t)).into_response()
}

/// An API error as a page: its status and its message in words.
pub fn error_page(e: &ApiError) -> Response {
    if let ApiError::Internal(cause) = e {
        tracing::error!(error = format!("{cause:#}"), "page failed");
    }
    message(e.status(), "Something went wrong", &e.to_string())
}

/// Renders a template to an HTML response (a render error is a 500 with the cause logged).
pub fn render(t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a page");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render this page").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_one_entry_and_changes_need_more_than_public() {
        for (i, (m, p, a)) in PAGES.iter().enumerate() {
            assert!(
                PAGES[i + 1..]
                    .iter()
                    .all(|(m2, p2, _)| !(m == m2 && p == p2)),
                "{m} {p} listed twice"
            );
            if *m == Method::POST && *p != "/sign-in" {
                assert_ne!(*a, Access::Public, "{p}");
            }
        }
    }
}
