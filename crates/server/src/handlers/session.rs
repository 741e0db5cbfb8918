//! `POST/GET/DELETE /api/v1/session`: signing in to the web app with an email and a
//! password, who is signed in (with the session's CSRF token), and signing out.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{NewSession, Session, hash_token};

use super::{audit, json_body, rfc3339};
use crate::AppState;
use crate::auth::{Caller, Principal};
use crate::error::ApiError;
use crate::passwords;
use crate::session::{self, ABSOLUTE_TIMEOUT, IDLE_TIMEOUT};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// `POST /api/v1/session`: checks the password (Argon2id), slowing down repeated failures
/// for one email (429 with `Retry-After`), and sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignIn,
    responses((status = 200, description = "Signed in: the session cookie is set; the body has the CSRF token", body = Object),
              (status = 401, description = "Wrong email or password", body = Object),
              (status = 429, description = "Too many failed sign-ins for this email (see Retry-After)", body = Object)))]
pub async fn sign_in(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: SignIn = json_body(body)?;
    let (cookie, s) = open_session(&state, &input.email, &input.password).await?;
    let mut resp = (StatusCode::OK, Json(session_json(&s))).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(&cookie, state.secure_cookies),
    );
    Ok(resp)
}

/// `GET /api/v1/session`: who is calling; for a signed-in person, the CSRF token the page
/// sends back on every change.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, description = "Who is calling, with the CSRF token for a signed-in person", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn who_am_i(Extension(caller): Extension<Caller>) -> Json<Value> {
    match &*caller.0 {
        Principal::User(s) => Json(session_json(s)),
        Principal::Token(t) => Json(json!({
            "kind": "token",
            "token": {"id": t.id, "name": t.name, "role": t.role.as_str()},
            "csrf_token": null,
        })),
    }
}

/// `DELETE /api/v1/session`: ends the session (the cookie is cleared too).
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "Signed out; the cookie is cleared")), security(("bearer" = []), ("session" = [])))]
pub async fn sign_out(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    end_session(&state, &caller, &headers).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(state.secure_cookies),
    );
    Ok(resp)
}

/// Checks an email and password (Argon2id), slowing down repeated failures for one email,
/// and opens a session: the cookie value to set and the session. The API's sign-in and the
/// sign-in page both come here.
pub async fn open_session(
    state: &AppState,
    email_in: &str,
    password: &str,
) -> Result<(String, Session), ApiError> {
    let email = email_in.trim().to_lowercase();
    if email.is_empty() || password.is_empty() {
        return Err(ApiError::bad_request(
            "missing_credentials",
            "both email and password are required",
        ));
    }
    let (failures, last) = state.store.sign_in_failures(&email).await?;
    if let Some(wait) = session::sign_in_wait(failures, last, time::OffsetDateTime::now_utc()) {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "too many failed sign-ins for this email: try again in {} s",
                wait.as_secs().max(1)
            ),
            retry_after: wait,
        });
    }
    let user = state.store.find_user_by_email(&email).await?;
    let ok = match &user {
        Some(u) => passwords::verify(password, &u.password_hash),
        None => {
            passwords::verify_nothing(password);
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        let n = state.store.record_sign_in_failure(&email).await?;
        audit(
            state,
            email.clone(),
            "session.sign_in_failed",
            None,
            json!({"failures": n}),
        )
        .await;
        return Err(ApiError::BadCredentials);
    };
    state.store.clear_sign_in_failures(&email).await?;
    let cookie = session::random_token();
    let s = state
        .store
        .create_session(NewSession {
            token_hash: hash_token(&cookie),
            user_id: user.id.clone(),
            csrf_token: session::random_token(),
            idle_timeout: IDLE_TIMEOUT,
            absolute_timeout: ABSOLUTE_TIMEOUT,
        })
        .await?;
    state.store.note_sign_in(&user.id).await?;
    audit(
        state,
        user.email.clone(),
        "session.sign_in",
        None,
        json!({}),
    )
    .await;
    Ok((cookie, s))
}

/// Ends the session named by the request's cookie (API sign-out and the page's Sign out).
pub async fn end_session(
    state: &AppState,
    caller: &Caller,
    headers: &axum::http::HeaderMap,
) -> Result<(), ApiError> {
    if let Some(value) = session::cookie_value(headers)
        && caller.session().is_some()
    {
        state.store.delete_session(&hash_token(&value)).await?;
        audit(state, caller.actor(), "session.sign_out", None, json!({})).await;
    }
    Ok(())
}

fn session_json(s: &Session) -> Value {
    json!({
        "kind": "user",
        "user": {"id": s.user.id, "email": s.user.email, "role": s.user.role.as_str()},
        "csrf_token": s.csrf_token,
        "idle_expires_at": rfc3339(s.idle_expires_at),
        "expires_at": rfc3339(s.absolute_expires_at),
    })
}
