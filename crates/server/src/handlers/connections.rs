//! Connecting Salesforce orgs from the web app's Settings > CRM Integration > Connect
//! tab: begin OAuth 2.0 authorization code + PKCE, complete it at the callback,
//! Test Connection, Disconnect, the list, and the field options of an object for one
//! destination slot.
//!
//! The OAuth `state` is random, single-use, expires after ten minutes and is bound to the
//! caller who began it; the PKCE verifier and any client secret are sealed before they are
//! stored. Nothing is stored when consent is denied or the state is bad.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use delivery::meta::{SObject, slot_options};
use domain::Slot;
use salesforce::oauth::{Pkce, authorize_url, exchange_code, revoke};
use salesforce::{Client, HttpOptions, LoginUrl, RefreshTokens, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{Connection, OAuthState, hash_token};
use time::OffsetDateTime;

use super::{audit, json_body};
use crate::AppState;
use crate::auth::{Caller, session_of};
use crate::error::ApiError;
use crate::integrations::{Integration, client_secret_purpose, refresh_token_purpose};
use crate::secrets::seal_secret;
use crate::session;

/// Where Salesforce sends the browser back (`public_url` + this).
pub const CALLBACK_PATH: &str = "/api/oauth/callback/salesforce";
/// Where the browser lands after connecting (the settings page's Connect tab).
pub const CONNECTED_PAGE: &str = "/settings/crm-integration";
/// The scopes asked for: the REST API, and a refresh token that works offline.
pub const SCOPES: &[&str] = &["api", "refresh_token", "offline_access"];
/// How long a begun connection may take to come back.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);
const STATE_PURPOSE: &str = "oauth_state:code_verifier";
const STATE_SECRET_PURPOSE: &str = "oauth_state:client_secret";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeginConnect {
    pub name: String,
    pub client_id: String,
    #[serde(default)]
    pub sandbox: bool,
    #[serde(default)]
    pub login_url: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// Integration names: what the settings' `integration` key and the URLs carry.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_name",
            "the integration name must be 1–64 letters, digits, '-' or '_'",
        ))
    }
}

/// The login host: a My Domain URL when given, else the sandbox or production login.
pub fn login_url_for(sandbox: bool, login_url: Option<&str>) -> Result<LoginUrl, ApiError> {
    match login_url.map(str::trim).filter(|s| !s.is_empty()) {
        Some(u) => LoginUrl::parse_for_connect(u)
            .map_err(|e| ApiError::bad_request("invalid_login_url", e.to_string())),
        None if sandbox => Ok(LoginUrl::sandbox()),
        None => Ok(LoginUrl::production()),
    }
}

/// `POST /api/v1/integrations/salesforce`: begins OAuth; answers `{"authorize_url"}` for the
/// browser to open.
#[utoipa::path(post, path = "/api/v1/integrations/salesforce", tag = "integrations", request_body = BeginConnect,
    responses((status = 200, description = "The URL to open in the browser (OAuth authorization code + PKCE)", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn begin(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let input: BeginConnect = json_body(body)?;
    let url = begin_connect(&state, &caller, input).await?;
    Ok(Json(
        json!({"authorize_url": url, "redirect_uri": redirect_uri(&state)}),
    ))
}

/// Begins connecting an org (the API's Connect and the Connect form): checks the input,
/// stores the single-use state with the sealed PKCE verifier, and returns the org's
/// authorize URL for the browser to open.
pub async fn begin_connect(
    state: &AppState,
    caller: &Caller,
    input: BeginConnect,
) -> Result<String, ApiError> {
    let name = input.name.trim().to_string();
    check_name(&name)?;
    if state.integrations.is_config(&name) {
        return Err(ApiError::conflict(
            "managed_by_config",
            format!(
                "the integration {name} is defined in the configuration file and cannot be changed here"
            ),
        ));
    }
    let client_id = input.client_id.trim().to_string();
    if client_id.is_empty() {
        return Err(ApiError::bad_request(
            "missing_client_id",
            "client_id (the connected app's Consumer Key) is required",
        ));
    }
    let login = login_url_for(input.sandbox, input.login_url.as_deref())?;
    let pkce = Pkce::generate();
    let state_token = session::random_token();
    let secret = input
        .client_secret
        .filter(|s| !s.trim().is_empty())
        .map(|s| state.secrets.seal(STATE_SECRET_PURPOSE, s.trim()));
    state
        .store
        .create_oauth_state(OAuthState {
            state_hash: hash_token(&state_token),
            started_by: caller.id(),
            integration: name.clone(),
            client_id: client_id.clone(),
            login_url: login.as_str().to_string(),
            sandbox: input.sandbox,
            code_verifier_enc: seal_secret(&state.secrets, STATE_PURPOSE, &pkce.verifier),
            client_secret_enc: secret,
            expires_at: OffsetDateTime::now_utc() + STATE_TTL,
        })
        .await?;
    let url = authorize_url(
        &login,
        &client_id,
        &redirect_uri(state),
        &state_token,
        &pkce.challenge,
        SCOPES,
    );
    audit(
        state,
        caller.actor(),
        "connection.begin",
        Some(&name),
        json!({"login_url": login.as_str(), "sandbox": input.sandbox, "client_id": client_id}),
    )
    .await;
    Ok(url)
}

pub fn redirect_uri(state: &AppState) -> String {
    format!("{}{CALLBACK_PATH}", state.public_url.trim_end_matches('/'))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// `GET /api/oauth/callback/salesforce`: Salesforce sends the browser here with `code` and
/// `state` (or `error`). Exchanges the code, reads who the connection acts as, stores the
/// refresh token sealed, and answers where the browser goes next.
#[utoipa::path(get, path = "/api/oauth/callback/salesforce", tag = "integrations",
    params(("code" = Option<String>, Query, description = "The authorization code"),
           ("state" = Option<String>, Query, description = "The state Connect began with"),
           ("error" = Option<String>, Query, description = "Salesforce's refusal, e.g. access_denied")),
    responses((status = 200, description = "Connected", body = Object),
              (status = 400, description = "Denied, or an unknown, expired or reused state: nothing stored", body = Object)))]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    let html = wants_html(&headers);
    match complete(&state, &headers, q).await {
        // A browser sees the refusal on the Connect tab, in words, rather than as JSON.
        Err(e) if html => {
            let back = format!(
                "{}{CONNECTED_PAGE}?connect_error={}",
                state.public_url.trim_end_matches('/'),
                url::form_urlencoded::byte_serialize(e.to_string().as_bytes()).collect::<String>()
            );
            Ok(axum::response::Redirect::to(&back).into_response())
        }
        other => other,
    }
}

/// Does the request come from a browser page (an `Accept` naming `text/html`)?
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    q: CallbackQuery,
) -> Result<Response, ApiError> {
    let state = state.clone();
    let bad_state = || {
        ApiError::bad_request(
            "invalid_state",
            "this connection attempt is unknown, expired (after 10 minutes) or was already used: start Connect again",
        )
    };
    let token = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(bad_state)?;
    // Single use: taken (deleted) before anything else, whatever happens next.
    let begun = state
        .store
        .take_oauth_state(&hash_token(token))
        .await?
        .filter(|s| s.expires_at > OffsetDateTime::now_utc())
        .ok_or_else(bad_state)?;
    // Bound to whoever began it: the same signed-in person (a state begun with an API
    // token is bound by the token's secrecy alone, as no browser carries the token).
    let actor = if begun.started_by.starts_with("token:") {
        begun.started_by.clone()
    } else {
        match session_of(&state, headers).await? {
            Some(s) if s.user.id == begun.started_by => s.user.email.clone(),
            _ => {
                return Err(ApiError::Forbidden {
                    role: "none",
                    needed: "the session of the person who began this connection",
                    action: "complete a Salesforce connection".into(),
                });
            }
        }
    };
    if let Some(err) = q.error.as_deref() {
        let message = if err == "access_denied" {
            "the connection was not approved in Salesforce (access denied); nothing was saved"
                .to_string()
        } else {
            format!(
                "Salesforce refused the connection: {err}{}; nothing was saved",
                q.error_description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        };
        audit(
            &state,
            actor,
            "connection.refused",
            Some(&begun.integration),
            json!({"error": err}),
        )
        .await;
        return Err(ApiError::bad_request("consent_denied", message));
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_code", "the callback carries no code"))?;
    let verifier = state
        .secrets
        .open(STATE_PURPOSE, &begun.code_verifier_enc)
        .map_err(ApiError::Internal)?;
    let client_secret: Option<SecretString> = state
        .secrets
        .open_opt(STATE_SECRET_PURPOSE, begun.client_secret_enc.as_deref())
        .map_err(ApiError::Internal)?;
    let login = LoginUrl::parse(&begun.login_url).map_err(|e| ApiError::Internal(e.into()))?;
    let grant = exchange_code(
        &HttpOptions::default(),
        &login,
        &begun.client_id,
        client_secret.as_ref(),
        code,
        &redirect_uri(&state),
        &verifier,
    )
    .await
    .map_err(|e| salesforce_refusal("cannot complete the connection", &e))?;
    let refresh_token = grant.refresh_token.clone().ok_or_else(|| {
        ApiError::bad_request(
            "no_refresh_token",
            "Salesforce issued no refresh token: add the scopes \"refresh_token, offline_access\" to the connected app and connect again",
        )
    })?;
    let name = begun.integration.clone();
    let connection = Connection {
        name: name.clone(),
        login_url: begun.login_url.clone(),
        client_id: begun.client_id.clone(),
        sandbox: begun.sandbox,
        client_secret_enc: client_secret
            .as_ref()
            .map(|s| seal_secret(&state.secrets, &client_secret_purpose(&name), s)),
        refresh_token_enc: Some(seal_secret(
            &state.secrets,
            &refresh_token_purpose(&name),
            &refresh_token,
        )),
        instance_url: Some(grant.instance_url.clone()),
        username: None,
        user_id: None,
        org_id: None,
        connected_by: Some(actor.clone()),
        connected_at: Some(OffsetDateTime::now_utc()),
        disconnected_at: None,
        updated_at: OffsetDateTime::now_utc(),
    };
    // Who the connection acts as, through the refresh token just granted.
    // A token the org rotates meanwhile is caught, and the row written with it.
    let caught = Arc::new(crate::rotation::Caught::default());
    let client = crate::integrations::connect_stored(
        &connection,
        &state.secrets,
        Some(RefreshTokens(caught.clone())),
    )
    .await
    .map_err(|e| ApiError::bad_request("cannot_sign_in", format!("{e:#}")))?;
    let who = client.identity().await.map_err(|e| {
        salesforce_refusal("connected, but cannot read who the connection acts as", &e)
    })?;
    let refresh_token_enc = match caught.latest() {
        Some(rotated) => Some(seal_secret(
            &state.secrets,
            &refresh_token_purpose(&name),
            &rotated,
        )),
        None => connection.refresh_token_enc.clone(),
    };
    let saved = state
        .store
        .upsert_connection(Connection {
            username: Some(who.username.clone()),
            user_id: Some(who.user_id.clone()),
            org_id: Some(who.organization_id.clone()),
            refresh_token_enc,
            ..connection
        })
        .await?;
    caught.hand_over(crate::rotation::for_connection(
        state.store.clone(),
        state.secrets.clone(),
        &name,
    ));
    state.integrations.sync_stored(state.store.as_ref()).await?;
    if let Some(i) = state.integrations.get(&name) {
        i.set_client(client);
    }
    state.notify.notify_waiters();
    audit(
        &state,
        actor,
        "connection.connect",
        Some(&name),
        json!({"username": who.username, "org_id": who.organization_id,
               "instance_url": saved.instance_url, "login_url": saved.login_url}),
    )
    .await;
    let next = format!(
        "{}{CONNECTED_PAGE}?connected={name}",
        state.public_url.trim_end_matches('/')
    );
    // A browser lands back on the Connect tab; API clients get the JSON answer.
    if wants_html(headers) {
        return Ok(axum::response::Redirect::to(&next).into_response());
    }
    Ok((
        StatusCode::OK,
        Json(json!({
            "connected": name,
            "username": who.username,
            "org_id": who.organization_id,
            "instance_url": saved.instance_url,
            "next": next,
        })),
    )
        .into_response())
}

/// A refusal from Salesforce while connecting: the code, message and our hint.
fn salesforce_refusal(what: &str, e: &salesforce::Error) -> ApiError {
    let r = delivery::write::report_error(e);
    ApiError::BadRequest {
        code: "salesforce_refused",
        message: format!("{what}: {}: {}", r.code, r.message),
        details: vec![json!({"code": r.code, "message": r.message, "hint": r.hint})],
    }
}

/// `GET /api/v1/integrations`: every integration, config and connected, with its status.
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    responses((status = 200, description = "Every integration with its status", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.integrations.sync_stored(state.store.as_ref()).await?;
    let items: Vec<Value> = state
        .integrations
        .all()
        .iter()
        .map(|i| i.to_json())
        .collect();
    Ok(Json(json!({"items": items})))
}

/// The integration named in the path, or 404 naming the ones that exist.
pub async fn find(state: &AppState, name: &str) -> Result<std::sync::Arc<Integration>, ApiError> {
    state.integrations.sync_stored(state.store.as_ref()).await?;
    state.integrations.get(name).ok_or_else(|| {
        let known: Vec<String> = state
            .integrations
            .all()
            .iter()
            .map(|i| i.name.clone())
            .collect();
        ApiError::NotFound(format!(
            "no integration named {name} (known: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// A signed-in client for an integration, or a 409 saying why there is none.
pub async fn client_of(state: &AppState, i: &Integration) -> Result<Client, ApiError> {
    if i.is_disconnected() {
        return Err(ApiError::conflict(
            "disconnected",
            format!(
                "the integration {} is disconnected: connect it again first",
                i.name
            ),
        ));
    }
    i.connect(&state.connector, &state.secrets, &state.store)
        .await
        .map_err(|e| ApiError::conflict("cannot_connect", format!("{e:#}")))
}

/// `POST /api/v1/integrations/{name}/test` (Test Connection): who and which org, the API
/// version, the daily API requests used and allowed; or the error with its hint.
#[utoipa::path(post, path = "/api/v1/integrations/{name}/test", tag = "integrations",
    params(("name" = String, Path, description = "The integration")),
    responses((status = 200, description = "Test Connection: who, which org, API usage; or the error with its hint", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn test(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    test_connection(&state, &caller, &name).await.map(Json)
}

/// Test Connection (the API's and the Connect tab's): who and which org, the API version,
/// the daily API requests used and allowed; or the error with its hint.
pub async fn test_connection(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<Value, ApiError> {
    let i = find(state, name).await?;
    let result = match client_of(state, &i).await {
        Err(e) => json!({"ok": false, "error": {"code": e.code(), "message": e.to_string(),
                         "hint": "connect the org again under Settings > CRM Integration > Connect"}}),
        Ok(client) => match client.identity().await {
            Err(e) => {
                let r = delivery::write::report_error(&e);
                json!({"ok": false, "error": {"code": r.code, "message": r.message, "hint": r.hint}})
            }
            Ok(who) => {
                let limits = client.limits().await.ok();
                let daily = limits.as_ref().and_then(|l| l.daily_api_requests());
                json!({
                    "ok": true,
                    "username": who.username,
                    "user_id": who.user_id,
                    "org_id": who.organization_id,
                    "instance_url": client.instance_url(),
                    "api_version": client.api_version().to_string(),
                    "daily_api_requests": daily.map(|d| json!({"used": d.max - d.remaining, "max": d.max})),
                })
            }
        },
    };
    audit(
        state,
        caller.actor(),
        "connection.test",
        Some(name),
        json!({"ok": result["ok"]}),
    )
    .await;
    Ok(result)
}

/// `DELETE /api/v1/integrations/{name}` (Disconnect): revokes the refresh token at
/// Salesforce and deletes the stored secrets. Deliveries for the org stay queued, waiting.
#[utoipa::path(delete, path = "/api/v1/integrations/{name}", tag = "integrations",
    params(("name" = String, Path, description = "The integration")),
    responses((status = 200, description = "Disconnected (token revoked at Salesforce, secrets deleted)", body = Object),
              (status = 409, description = "Defined in the config file", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn disconnect(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let revoked = disconnect_integration(&state, &caller, &name).await?;
    Ok(Json(
        json!({"disconnected": name, "revoked_at_salesforce": revoked}),
    ))
}

/// Disconnect (the API's and the Connect tab's): revokes the refresh token at Salesforce
/// and deletes the stored secrets; answers whether Salesforce confirmed the revocation.
pub async fn disconnect_integration(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<bool, ApiError> {
    let name = name.to_string();
    let i = find(state, &name).await?;
    let crate::integrations::Source::Stored(c) = &i.source else {
        return Err(ApiError::conflict(
            "managed_by_config",
            format!("the integration {name} is defined in the configuration file; remove it there"),
        ));
    };
    let mut revoked = false;
    if let Some(sealed) = c.refresh_token_enc.as_deref() {
        let token = state
            .secrets
            .open(&refresh_token_purpose(&name), sealed)
            .map_err(ApiError::Internal)?;
        let login = LoginUrl::parse(&c.login_url).map_err(|e| ApiError::Internal(e.into()))?;
        match revoke(&HttpOptions::default(), &login, &token).await {
            Ok(()) => revoked = true,
            // The secrets are deleted anyway: a disconnect must not depend on Salesforce
            // answering. The admin can revoke the app's session in Salesforce Setup too.
            Err(e) => {
                tracing::warn!(integration = %name, error = %e, "cannot revoke the refresh token at Salesforce; deleting it here anyway")
            }
        }
    }
    state.store.disconnect_connection(&name).await?;
    state.integrations.sync_stored(state.store.as_ref()).await?;
    audit(
        state,
        caller.actor(),
        "connection.disconnect",
        Some(&name),
        json!({"revoked_at_salesforce": revoked}),
    )
    .await;
    Ok(revoked)
}

#[derive(Deserialize)]
pub struct FieldsQuery {
    #[serde(default)]
    pub slot: Option<String>,
    #[serde(default)]
    pub refresh: Option<bool>,
}

/// `GET /api/v1/integrations/{name}/objects/{object}/fields?slot=&refresh=`: the fields that
/// can hold the slot (`Label (API_Name)`), and the others with the reason they are not offered.
#[utoipa::path(get, path = "/api/v1/integrations/{name}/objects/{object}/fields", tag = "integrations",
    params(("name" = String, Path, description = "The integration"),
           ("object" = String, Path, description = "Lead, Contact or Account"),
           ("slot" = String, Query, description = "score, evaluation_date, reasoning or propensity"),
           ("refresh" = Option<bool>, Query, description = "Read the fields from Salesforce again")),
    responses((status = 200, description = "The fields that can hold the slot, and the others with the reason", body = Object)), security(("bearer" = []), ("session" = [])))]
pub async fn fields(
    State(state): State<AppState>,
    Path((name, object)): Path<(String, String)>,
    Query(q): Query<FieldsQuery>,
) -> Result<Json<Value>, ApiError> {
    let object = SObject::parse(&object).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_object",
            format!("object must be Lead, Contact or Account, got {object:?}"),
        )
    })?;
    let slot_text = q.slot.as_deref().unwrap_or_default();
    let slot = Slot::parse(slot_text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_slot",
            format!(
                "slot must be score, evaluation_date, reasoning or propensity, got {slot_text:?}"
            ),
        )
    })?;
    let options = field_options(&state, &name, object, slot, q.refresh.unwrap_or(false)).await?;
    Ok(Json(json!({
        "integration": name,
        "object": object.as_str(),
        "slot": slot.as_str(),
        "fields": options.fields,
        "not_offered": options.not_offered,
    })))
}

/// The field options of one slot on one object (the API's list and the Destinations
/// dropdowns): from the client's describe cache, or read again when `refresh`.
pub async fn field_options(
    state: &AppState,
    name: &str,
    object: SObject,
    slot: Slot,
    refresh: bool,
) -> Result<delivery::meta::SlotOptions, ApiError> {
    let i = find(state, name).await?;
    let client = client_of(state, &i).await?;
    let describe = if refresh {
        client.describe_refresh(object.as_str()).await
    } else {
        client.describe(object.as_str()).await
    }
    .map_err(|e| salesforce_refusal(&format!("cannot read the {} fields", object.as_str()), &e))?;
    Ok(slot_options(&delivery::object_meta(&describe), slot))
}
