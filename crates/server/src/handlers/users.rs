//! `/api/v1/users` (Owner only): the people who sign in to the web app. The last Owner can
//! be neither removed nor demoted (the store enforces it in one transaction).

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{TokenRole, User};

use super::{audit, json_body, rfc3339};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::passwords;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// A web role (`ingest` is a token scope, not a person's role).
pub fn parse_user_role(s: &str) -> Result<TokenRole, ApiError> {
    match TokenRole::parse(s.trim()) {
        Some(TokenRole::Ingest) | None => Err(ApiError::bad_request(
            "invalid_role",
            format!("role must be \"owner\", \"admin\", \"editor\" or \"viewer\", got {s:?}"),
        )),
        Some(r) => Ok(r),
    }
}

pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "role": u.role.as_str(),
        "created_at": rfc3339(u.created_at),
        "last_sign_in_at": u.last_sign_in_at.map(rfc3339),
    })
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, description = "Every user", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(
        json!({"items": users.iter().map(user_json).collect::<Vec<_>>()}),
    ))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "Created", body = Object), (status = 409, description = "The email is taken", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: NewUser = json_body(body)?;
    let email = domain::Email::parse(&input.email)
        .map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?;
    let role = parse_user_role(&input.role)?;
    passwords::check_new(&input.password).map_err(|m| ApiError::bad_request("weak_password", m))?;
    let hash = passwords::hash(&input.password).map_err(ApiError::Internal)?;
    let user = state
        .store
        .create_user(email.as_str(), &hash, role)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => ApiError::conflict(
                "user_exists",
                format!("a user with the email {} already exists", email.as_str()),
            ),
            other => other.into(),
        })?;
    audit(
        &state,
        caller.actor(),
        "user.create",
        Some(&user.email),
        json!({"role": role.as_str()}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(user_json(&user))).into_response())
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserChange,
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "Changed", body = Object), (status = 409, description = "The last owner cannot be demoted", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let input: UserChange = json_body(body)?;
    let existing = state
        .store
        .get_user(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user with id {id}")))?;
    if input.role.is_none() && input.password.is_none() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "send \"role\" and/or \"password\"",
        ));
    }
    let mut user = existing.clone();
    if let Some(r) = &input.role {
        let role = parse_user_role(r)?;
        user = state
            .store
            .set_user_role(&id, role)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no user with id {id}")))?;
        audit(
            &state,
            caller.actor(),
            "user.set_role",
            Some(&user.email),
            json!({"from": existing.role.as_str(), "to": role.as_str()}),
        )
        .await;
    }
    if let Some(p) = &input.password {
        passwords::check_new(p).map_err(|m| ApiError::bad_request("weak_password", m))?;
        let hash = passwords::hash(p).map_err(ApiError::Internal)?;
        state.store.set_user_password(&id, &hash).await?;
        audit(
            &state,
            caller.actor(),
            "user.set_password",
            Some(&user.email),
            json!({}),
        )
        .await;
    }
    Ok(Json(user_json(&user)))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 204, description = "Removed"), (status = 409, description = "The last owner cannot be removed", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = state
        .store
        .get_user(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user with id {id}")))?;
    state.store.remove_user(&id).await?;
    audit(
        &state,
        caller.actor(),
        "user.remove",
        Some(&user.email),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
