//! Settings > CRM Integration > Connect: the connected orgs with their status, who they
//! act as and their API usage; the Connect form (OAuth); Test Connection; Disconnect after
//! a confirmation. Each action is the API's function ([`crate::handlers::connections`]).

use askama::Template;
use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::view::{Layout, number, pill, title_case};
use super::{error_page, render};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::handlers::connections::{
    BeginConnect, begin_connect, disconnect_integration, redirect_uri, test_connection,
};

/// One org's row.
struct OrgRow {
    name: String,
    kind: String,
    config: bool,
    status: String,
    pill_class: &'static str,
    detail: Option<String>,
    username: String,
    org_id: String,
    usage: String,
    test: Option<TestResult>,
}

struct TestResult {
    ok: bool,
    text: String,
}

/// What the Connect form holds (kept on a refusal) and the one problem to show.
#[derive(Default)]
struct ConnectForm {
    name: String,
    client_id: String,
    sandbox: bool,
    login_url: String,
    /// `name`, `client_id`, `login_url` or `other`; empty when there is no problem.
    error_key: String,
    error: String,
}

#[derive(Template)]
#[template(path = "connect.html")]
struct ConnectPage {
    l: Layout,
    tab: &'static str,
    orgs: Vec<OrgRow>,
    form: ConnectForm,
    redirect_uri: String,
    connected: Option<String>,
    disconnected: Option<String>,
    connect_error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ConnectQuery {
    #[serde(default)]
    connected: Option<String>,
    #[serde(default)]
    disconnected: Option<String>,
    #[serde(default)]
    connect_error: Option<String>,
}

async fn orgs(state: &AppState) -> Result<Vec<OrgRow>, ApiError> {
    state.integrations.sync_stored(state.store.as_ref()).await?;
    Ok(state
        .integrations
        .all()
        .iter()
        .map(|i| org_row(&i.to_json()))
        .collect())
}

/// A row from the integration's `/api/v1/integrations` entry (one source for both).
fn org_row(v: &Value) -> OrgRow {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let status = s("status");
    // Not used by a worker yet (idle) but holding tokens: shown as connected.
    let shown = match status.as_str() {
        "idle" | "connecting" => "connected".to_string(),
        other => other.to_string(),
    };
    let usage = match (
        v["api_usage"]["used"].as_u64(),
        v["api_usage"]["max"].as_u64(),
    ) {
        (Some(u), Some(m)) if m > 0 => format!(
            "{} of {} ({:.0}%)",
            number(u),
            number(m),
            u as f64 * 100.0 / m as f64
        ),
        _ => "not seen yet".into(),
    };
    OrgRow {
        name: s("name"),
        kind: if v["sandbox"] == true {
            "Sandbox".into()
        } else {
            "Production".into()
        },
        config: v["managed_by"] == "config",
        pill_class: pill(&shown),
        status: title_case(&shown),
        detail: v["detail"].as_str().map(str::to_string),
        username: v["username"].as_str().unwrap_or("—").to_string(),
        org_id: v["org_id"].as_str().unwrap_or("—").to_string(),
        usage,
        test: None,
    }
}

async fn show(
    state: &AppState,
    caller: &Caller,
    form: ConnectForm,
    q: ConnectQuery,
    test: Option<(String, TestResult)>,
    status: StatusCode,
) -> Response {
    let mut rows = match orgs(state).await {
        Ok(r) => r,
        Err(e) => return error_page(&e),
    };
    if let Some((name, result)) = test
        && let Some(r) = rows.iter_mut().find(|r| r.name == name)
    {
        r.test = Some(result);
    }
    let page = ConnectPage {
        l: Layout::new(caller, "settings"),
        tab: "connect",
        orgs: rows,
        form,
        redirect_uri: redirect_uri(state),
        connected: q.connected,
        disconnected: q.disconnected,
        connect_error: q.connect_error,
    };
    (status, render(&page)).into_response()
}

pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ConnectQuery>,
) -> Response {
    show(
        &state,
        &caller,
        ConnectForm::default(),
        q,
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct ConnectFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    sandbox: Option<String>,
    #[serde(default)]
    login_url: String,
}

/// Connect: begins OAuth and sends the browser to the org's authorize page; a refusal is
/// shown next to the field it concerns, the input kept.
pub async fn begin(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(f): Form<ConnectFields>,
) -> Response {
    let input = BeginConnect {
        name: f.name.clone(),
        client_id: f.client_id.clone(),
        sandbox: f.sandbox.is_some(),
        login_url: Some(f.login_url.clone()).filter(|u| !u.trim().is_empty()),
        client_secret: None,
    };
    match begin_connect(&state, &caller, input).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => {
            let key = match e.code() {
                "invalid_name" | "managed_by_config" => "name",
                "missing_client_id" => "client_id",
                "invalid_login_url" => "login_url",
                _ => "other",
            };
            let form = ConnectForm {
                name: f.name,
                client_id: f.client_id,
                sandbox: f.sandbox.is_some(),
                login_url: f.login_url,
                error_key: key.into(),
                error: e.to_string(),
            };
            show(
                &state,
                &caller,
                form,
                ConnectQuery::default(),
                None,
                e.status(),
            )
            .await
        }
    }
}

/// Test Connection: the Connect tab again with the result under the org's row.
pub async fn test(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let result = match test_connection(&state, &caller, &name).await {
        Ok(v) if v["ok"] == true => TestResult {
            ok: true,
            text: format!(
                "acting as {} in org {}, API {}; {} daily API requests used of {}.",
                v["username"].as_str().unwrap_or("?"),
                v["org_id"].as_str().unwrap_or("?"),
                v["api_version"].as_str().unwrap_or("?"),
                number(v["daily_api_requests"]["used"].as_u64().unwrap_or(0)),
                number(v["daily_api_requests"]["max"].as_u64().unwrap_or(0)),
            ),
        },
        Ok(v) => TestResult {
            ok: false,
            text: format!(
                "{} {} Fix: {}",
                v["error"]["code"].as_str().unwrap_or(""),
                v["error"]["message"].as_str().unwrap_or(""),
                v["error"]["hint"].as_str().unwrap_or("")
            ),
        },
        Err(e) => return error_page(&e),
    };
    show(
        &state,
        &caller,
        ConnectForm::default(),
        ConnectQuery::default(),
        Some((name, result)),
        StatusCode::OK,
    )
    .await
}

#[derive(Template)]
#[template(path = "disconnect.html")]
struct DisconnectPage {
    l: Layout,
    name: String,
}

/// Disconnect, first step: what it does, and a confirmation button.
pub async fn confirm_disconnect(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    if let Err(e) = crate::handlers::connections::find(&state, &name).await {
        return error_page(&e);
    }
    render(&DisconnectPage {
        l: Layout::new(&caller, "settings"),
        name,
    })
}

pub async fn disconnect(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    match disconnect_integration(&state, &caller, &name).await {
        Ok(_) => Redirect::to(&format!(
            "/settings/crm-integration?disconnected={}",
            super::view::seg(&name)
        ))
        .into_response(),
        Err(e) => error_page(&e),
    }
}
