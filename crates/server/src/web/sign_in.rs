//! `/sign-in` and `/sign-out`: the API's session functions behind an HTML form. A sign-in
//! form changes no data of anyone signed in, but it must still come from this origin
//! (so another site cannot sign a browser in to an account of its choosing).

use askama::Template;
use axum::Extension;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::handlers::session::{end_session, open_session};
use crate::session;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    email: String,
    next: String,
    error: Option<String>,
    expired: bool,
    signed_out: bool,
}

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// Only a path on this site is followed after sign-in (never another host).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

pub async fn page(Query(q): Query<SignInQuery>) -> Response {
    render(&SignInPage {
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        error: None,
        expired: q.expired.is_some(),
        signed_out: q.signed_out.is_some(),
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let next = safe_next(f.next.as_deref());
    let again = |status: StatusCode, error: String| {
        (
            status,
            render(&SignInPage {
                email: f.email.clone(),
                next: next.clone(),
                error: Some(error),
                expired: false,
                signed_out: false,
            }),
        )
            .into_response()
    };
    if !origin.is_some_and(|o| session::same_origin(o, &state.public_origin)) {
        return again(
            StatusCode::FORBIDDEN,
            "This sign-in form came from another site: open this service's own sign-in page."
                .into(),
        );
    }
    match open_session(&state, &f.email, &f.password).await {
        Ok((cookie, _)) => {
            let mut resp = Redirect::to(&next).into_response();
            resp.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(&cookie, state.secure_cookies),
            );
            resp
        }
        Err(e @ ApiError::BadCredentials) => again(
            e.status(),
            "Wrong email or password. Check both and try again.".into(),
        ),
        Err(e @ (ApiError::BadRequest { .. } | ApiError::TooManyRequests { .. })) => {
            again(e.status(), e.to_string())
        }
        Err(e) => super::error_page(&e),
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = end_session(&state, &caller, &headers).await {
        return super::error_page(&e);
    }
    let mut resp = Redirect::to("/sign-in?signed_out=1").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(state.secure_cookies),
    );
    resp
}
