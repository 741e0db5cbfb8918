//! The control plane: everything a test, the CLI or a demo script needs to shape and
//! observe the emulated org without going through (or being counted as) the API —
//! scenarios, direct record access, fault injection, the call log and counters.
//!
//! The same operations are served over HTTP under `/__sfsim/...` (no authentication):
//!
//! | Method & path | Effect |
//! |---|---|
//! | `POST /__sfsim/scenario` | apply a scenario (JSON or TOML body) → `{"refs":{..}}` |
//! | `GET /__sfsim/records/{object}` | all records of an object (deleted included) |
//! | `GET /__sfsim/records/{object}/{id}` | one record |
//! | `POST /__sfsim/records/{object}` | insert a record as the system → `{"id":..}` |
//! | `GET /__sfsim/query?q=SOQL` | run SOQL (deleted included), not counted |
//! | `GET /__sfsim/faults`, `PUT /__sfsim/faults` | read / replace the [`Faults`] |
//! | `DELETE /__sfsim/faults` | clear all faults |
//! | `POST /__sfsim/expire-tokens` | every access token answers 401 from now on |
//! | `PUT /__sfsim/refresh-token-rotation` | `{"enabled":bool}`: the connected app's Refresh Token Rotation |
//! | `PUT /__sfsim/limits` | `{"daily_max":N, "used":N}` (both optional) |
//! | `GET /__sfsim/calls`, `DELETE /__sfsim/calls` | the call log / clear it |
//! | `GET /__sfsim/counters` | `{"by_kind":{..},"api_calls_counted":N,"daily_max":N}` |

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::Cursors;
use crate::oauth::Auth;
use crate::org::{Org, RecordError, Undo, WriteCtx};
use crate::scenario::{self, Loaded, Scenario, ScenarioError};
use crate::soql::{self, SoqlError};

/// Developer Edition's daily allocation, the value of the documented `/limits` example
/// (docs/salesforce.md#limits).
pub const DEFAULT_DAILY_API_LIMIT: u64 = 15_000;

/// What kind of API call a request was (the call log's and counters' key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Versions,
    Resources,
    Limits,
    DescribeGlobal,
    Describe,
    Query,
    QueryMore,
    Retrieve,
    Create,
    Update,
    Delete,
    CollectionsCreate,
    CollectionsUpdate,
    CollectionsUpsert,
    CollectionsRetrieve,
    CollectionsDelete,
    Composite,
    Other,
}

impl CallKind {
    /// The coarse family used by [`Control::counters`]: `query`, `collections`,
    /// `composite`, `describe`, `sobject`, `limits`, `versions`, `other`.
    pub fn family(self) -> &'static str {
        match self {
            CallKind::Query | CallKind::QueryMore => "query",
            CallKind::CollectionsCreate
            | CallKind::CollectionsUpdate
            | CallKind::CollectionsUpsert
            | CallKind::CollectionsRetrieve
            | CallKind::CollectionsDelete => "collections",
            CallKind::Composite => "composite",
            CallKind::Describe | CallKind::DescribeGlobal => "describe",
            CallKind::Retrieve | CallKind::Create | CallKind::Update | CallKind::Delete => {
                "sobject"
            }
            CallKind::Limits => "limits",
            CallKind::Versions | CallKind::Resources => "versions",
            CallKind::Other => "other",
        }
    }
}

/// One entry of the call log. Composite subrequests are logged too, with
/// `in_composite = true` (they are not counted as API calls).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub status: u16,
    /// Records sent (writes) or returned (queries, retrieves).
    pub records: usize,
    pub kind: CallKind,
    /// The SOQL of query calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soql: Option<String>,
    pub in_composite: bool,
    /// Whether Salesforce would count it against the daily limit.
    pub counted: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
}

/// Injected trouble.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// The next N data calls answer `503 SERVER_UNAVAILABLE`.
    pub fail_next: u32,
    /// Until its end, every data call answers 503 `SERVER_UNAVAILABLE` or 429 (with
    /// `Retry-After` when set): an outage or a throttling window.
    pub window: Option<FaultWindow>,
    /// This share (0.0–1.0) of data calls answers 503, at random.
    pub fail_share: f64,
    /// Injected 503s come as an HTML page (as Salesforce's edge sends during
    /// maintenance) instead of the JSON error array.
    pub fail_html: bool,
    /// The next N data calls answer `403 REQUEST_LIMIT_EXCEEDED`
    /// "ConcurrentPerOrgLongTxn Limit exceeded." (too many long-running requests).
    pub concurrent_limit_next: u32,
    /// Writes to these records fail with `UNABLE_TO_LOCK_ROW`; the value is how many more
    /// times (`null` = until cleared).
    pub locked_records: BTreeMap<String, Option<u32>>,
    /// Writes to these records fail with `UNABLE_TO_LOCK_ROW` until the time given (another
    /// process holding their row locks for a while).
    #[serde(with = "until_map")]
    pub locked_until: BTreeMap<String, time::OffsetDateTime>,
    /// Added to every data call on top of `Options.latency`, in milliseconds.
    pub extra_latency_ms: u64,
    /// Emulates parent-Account row locks: a request writing Contacts of an Account fails
    /// those records with `UNABLE_TO_LOCK_ROW` while another in-flight request holds a
    /// write on a Contact of the same Account.
    pub row_lock_contention: bool,
    /// The next N calls that write records are carried out, then answered 500
    /// `UNKNOWN_EXCEPTION` as if the answer were lost on the way: a client cannot tell
    /// whether its records exist. See [`Faults::late_commit_after_ms`].
    pub late_commit_next: u32,
    /// With `late_commit_next`: 0 commits the writes before the error answer; otherwise the
    /// writes are held back and committed this many milliseconds after it (a commit that
    /// lands after the client gave up, so a look-up right after the error misses it).
    pub late_commit_after_ms: u64,
}

/// A timed window of refusals (see [`Faults::window`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// 503 or 429.
    pub status: u16,
    #[serde(with = "time::serde::rfc3339")]
    pub until: time::OffsetDateTime,
    /// Seconds sent in `Retry-After` (429 only).
    pub retry_after_secs: Option<u64>,
}

/// `locked_until` as `{"id": "RFC 3339 time"}`.
mod until_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<String, OffsetDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<&String, String> = m
            .iter()
            .map(|(k, v)| (k, v.format(&Rfc3339).unwrap_or_default()))
            .collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, OffsetDateTime>, D::Error> {
        BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| {
                OffsetDateTime::parse(&v, &Rfc3339)
                    .map(|t| (k, t))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// The org and its query cursors, behind one lock.
pub(crate) struct OrgState {
    pub org: Org,
    pub cursors: Cursors,
}

pub(crate) struct Shared {
    pub state: Mutex<OrgState>,
    pub auth: Arc<Auth>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<Vec<CallRecord>>,
    pub api_used: AtomicU64,
    pub api_max: AtomicU64,
    pub base_latency: Duration,
    /// Account id → request currently holding its lock (row-lock emulation).
    pub row_locks: Mutex<HashMap<String, u64>>,
    pub next_request: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not make the emulator unusable; the data stays consistent
    // because every write is applied as a whole under the lock.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, OrgState> {
        lock(&self.state)
    }
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }
    pub fn log_call(&self, rec: CallRecord) {
        lock(&self.log).push(rec);
    }
    pub fn row_locks(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        lock(&self.row_locks)
    }
}

/// Handle on the control plane of a running org (cheap to clone).
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(org: Org, auth: Arc<Auth>, base_latency: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(OrgState {
                    org,
                    cursors: Cursors::default(),
                }),
                auth,
                faults: Mutex::new(Faults::default()),
                log: Mutex::new(Vec::new()),
                api_used: AtomicU64::new(0),
                api_max: AtomicU64::new(DEFAULT_DAILY_API_LIMIT),
                base_latency,
                row_locks: Mutex::new(HashMap::new()),
                next_request: AtomicU64::new(1),
            }),
        }
    }

    // ---- scenario and records

    pub fn load_scenario(&self, sc: &Scenario) -> Result<Loaded, ScenarioError> {
        let loaded = scenario::apply(&mut self.shared.state().org, sc)?;
        if let Some(max) = sc.daily_api_limit {
            self.set_daily_limit(max);
        }
        Ok(loaded)
    }

    /// Parses (JSON or TOML) and applies a scenario.
    pub fn load_scenario_str(&self, text: &str) -> Result<Loaded, ScenarioError> {
        self.load_scenario(&Scenario::parse(text)?)
    }

    /// The field map and write context of a system write (no field-level security, rules
    /// or API count); anything but a JSON object is refused like a malformed API body.
    fn system_write(fields: Value) -> Result<(Map<String, Value>, WriteCtx), Vec<RecordError>> {
        let Value::Object(map) = fields else {
            return Err(vec![RecordError::new(
                "JSON_PARSER_ERROR",
                "record must be a JSON object",
                vec![],
            )]);
        };
        let ctx = WriteCtx {
            system: true,
            ..WriteCtx::default()
        };
        Ok((map, ctx))
    }

    /// Inserts a record as the system (no field-level security, rules or API count).
    /// `fields` is a JSON object of field values; returns the new id.
    pub fn insert(&self, object: &str, fields: Value) -> Result<String, Vec<RecordError>> {
        let (map, ctx) = Self::system_write(fields)?;
        self.shared
            .state()
            .org
            .create(object, &map, ctx, &mut Undo::default())
            .map_err(|e| e.errors)
    }

    /// Updates a record as the system (converted leads and read-only fields included).
    pub fn update(&self, id: &str, fields: Value) -> Result<(), Vec<RecordError>> {
        let (map, ctx) = Self::system_write(fields)?;
        self.shared
            .state()
            .org
            .update(None, id, &map, ctx, &mut Undo::default())
            .map(|_| ())
            .map_err(|e| e.errors)
    }

    /// One record with all its fields (deleted records too), as the API renders it.
    pub fn record(&self, id: &str) -> Option<Value> {
        let st = self.shared.state();
        st.org.get(id).map(|(def, rec)| {
            st.org
                .render_record(def, rec, None, crate::api::LATEST_VERSION)
        })
    }

    /// All records of an object (deleted included), in creation order.
    pub fn records(&self, object: &str) -> Vec<Value> {
        let st = self.shared.state();
        let Some(def) = st.org.object(object) else {
            return Vec::new();
        };
        st.org
            .records(object)
            .iter()
            .map(|r| {
                st.org
                    .render_record(def, r, None, crate::api::LATEST_VERSION)
            })
            .collect()
    }

    /// Runs SOQL against the org (deleted rows included), without counting an API call.
    pub fn query(&self, soql_text: &str) -> Result<Vec<Value>, SoqlError> {
        let st = self.shared.state();
        let q = soql::parse(soql_text)?;
        let (q, _) = soql::check(q, soql_text, |n| st.org.object(n))?;
        Ok(st.org.run_query(&q, true, crate::api::LATEST_VERSION).1)
    }

    // ---- faults

    pub fn faults(&self) -> Faults {
        self.shared.faults().clone()
    }

    pub fn set_faults(&self, f: Faults) {
        *self.shared.faults() = f;
    }

    pub fn clear_faults(&self) {
        self.set_faults(Faults::default());
    }

    /// The next `n` data calls answer 503 SERVER_UNAVAILABLE.
    pub fn fail_next_calls(&self, n: u32) {
        self.shared.faults().fail_next = n;
    }

    /// Every data call answers `status` (503 or 429, with `Retry-After: retry_after_secs`)
    /// for `for_` from now.
    pub fn fail_for(&self, status: u16, for_: Duration, retry_after_secs: Option<u64>) {
        self.shared.faults().window = Some(FaultWindow {
            status,
            until: time::OffsetDateTime::now_utc() + for_,
            retry_after_secs,
        });
    }

    /// A share (0.0–1.0) of data calls answers 503, at random.
    pub fn fail_share_of_calls(&self, share: f64) {
        self.shared.faults().fail_share = share.clamp(0.0, 1.0);
    }

    /// The next `n` data calls answer 403 `ConcurrentPerOrgLongTxn Limit exceeded.`
    pub fn fail_next_with_concurrent_limit(&self, n: u32) {
        self.shared.faults().concurrent_limit_next = n;
    }

    /// Injected 503s answer with an HTML page instead of JSON.
    pub fn set_html_errors(&self, on: bool) {
        self.shared.faults().fail_html = on;
    }

    /// Writes to these records fail with UNABLE_TO_LOCK_ROW `times` times (None: always).
    pub fn lock_records(&self, ids: &[&str], times: Option<u32>) {
        let mut f = self.shared.faults();
        for id in ids {
            let id = crate::ids::to_18(id).unwrap_or_else(|| (*id).to_owned());
            f.locked_records.insert(id, times);
        }
    }

    /// Writes to these records fail with UNABLE_TO_LOCK_ROW for `for_` from now, however
    /// often they are tried (the rest of their request succeeds, as in Salesforce).
    pub fn lock_records_for(&self, ids: &[&str], for_: Duration) {
        let until = time::OffsetDateTime::now_utc() + for_;
        let mut f = self.shared.faults();
        for id in ids {
            let id = crate::ids::to_18(id).unwrap_or_else(|| (*id).to_owned());
            f.locked_until.insert(id, until);
        }
    }

    pub fn set_extra_latency(&self, d: Duration) {
        self.shared.faults().extra_latency_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    }

    pub fn set_row_lock_contention(&self, on: bool) {
        self.shared.faults().row_lock_contention = on;
    }

    /// The next `n` calls that write records are carried out and answered 500
    /// `UNKNOWN_EXCEPTION`; the writes commit `after` the answer (zero: before it).
    pub fn commit_late(&self, n: u32, after: Duration) {
        let mut f = self.shared.faults();
        f.late_commit_next = n;
        f.late_commit_after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
    }

    /// Every access token issued so far answers 401 INVALID_SESSION_ID.
    pub fn expire_tokens(&self) {
        self.shared.auth.expire_access_tokens();
    }

    /// The connected app's "Refresh Token Rotation": every refresh answers with a new
    /// refresh token and the one used stops working.
    pub fn set_refresh_token_rotation(&self, on: bool) {
        self.shared.auth.set_refresh_token_rotation(on);
    }

    // ---- limits

    pub fn set_daily_limit(&self, max: u64) {
        self.shared.api_max.store(max, Ordering::SeqCst);
    }

    pub fn daily_limit(&self) -> u64 {
        self.shared.api_max.load(Ordering::SeqCst)
    }

    /// Pretends `used` calls were already made in the current 24 hours.
    pub fn set_api_used(&self, used: u64) {
        self.shared.api_used.store(used, Ordering::SeqCst);
    }

    // ---- observation

    pub fn calls(&self) -> Vec<CallRecord> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_calls(&self) {
        lock(&self.shared.log).clear();
    }

    /// Calls by kind (composite subrequests included).
    pub fn counters(&self) -> BTreeMap<CallKind, u64> {
        let mut out = BTreeMap::new();
        for c in lock(&self.shared.log).iter() {
            *out.entry(c.kind).or_insert(0) += 1;
        }
        out
    }

    /// Calls by family (`query`, `collections`, `composite`, `describe`, ...).
    pub fn counters_by_family(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for c in lock(&self.shared.log).iter() {
            *out.entry(c.kind.family()).or_insert(0) += 1;
        }
        out
    }

    /// API calls as Salesforce counts them (a Composite request is one call; the
    /// versions list is free). Includes `set_api_used`.
    pub fn api_calls_counted(&self) -> u64 {
        self.shared.api_used.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------------------------
// HTTP

fn bad(status: StatusCode, msg: impl ToString) -> Response {
    (status, axum::Json(json!({"error": msg.to_string()}))).into_response()
}

async fn post_scenario(State(c): State<Control>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    match c.load_scenario_str(&text) {
        Ok(l) => axum::Json(json!(l)).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_records(State(c): State<Control>, Path(object): Path<String>) -> Response {
    if c.shared.state().org.object(&object).is_none() {
        return bad(StatusCode::NOT_FOUND, format!("unknown object {object}"));
    }
    axum::Json(c.records(&object)).into_response()
}

async fn get_record(State(c): State<Control>, Path((_o, id)): Path<(String, String)>) -> Response {
    match c.record(&id) {
        Some(r) => axum::Json(r).into_response(),
        None => bad(StatusCode::NOT_FOUND, format!("no record {id}")),
    }
}

async fn post_record(
    State(c): State<Control>,
    Path(object): Path<String>,
    body: Bytes,
) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    match c.insert(&object, v) {
        Ok(id) => (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response(),
        Err(errs) => {
            let body: Vec<Value> = errs
                .iter()
                .map(|e| json!({"errorCode": e.code, "message": e.message, "fields": e.fields}))
                .collect();
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct Q {
    q: String,
}

async fn get_query(State(c): State<Control>, Query(q): Query<Q>) -> Response {
    match c.query(&q.q) {
        Ok(rows) => axum::Json(rows).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_faults(State(c): State<Control>) -> Response {
    axum::Json(c.faults()).into_response()
}

async fn put_faults(State(c): State<Control>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            c.set_faults(f);
            axum::Json(c.faults()).into_response()
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn delete_faults(State(c): State<Control>) -> Response {
    c.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn expire_tokens(State(c): State<Control>) -> Response {
    c.expire_tokens();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct RotationBody {
    enabled: bool,
}

async fn put_rotation(State(c): State<Control>, body: Bytes) -> Response {
    match serde_json::from_slice::<RotationBody>(&body) {
        Ok(b) => {
            c.set_refresh_token_rotation(b.enabled);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("expected {{\"enabled\": bool}}: {e}"),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct LimitsBody {
    daily_max: Option<u64>,
    used: Option<u64>,
}

async fn put_limits(State(c): State<Control>, body: Bytes) -> Response {
    match serde_json::from_slice::<LimitsBody>(&body) {
        Ok(l) => {
            if let Some(m) = l.daily_max {
                c.set_daily_limit(m);
            }
            if let Some(u) = l.used {
                c.set_api_used(u);
            }
            axum::Json(json!({"daily_max": c.daily_limit(), "used": c.api_calls_counted()}))
                .into_response()
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_calls(State(c): State<Control>) -> Response {
    axum::Json(c.calls()).into_response()
}

async fn delete_calls(State(c): State<Control>) -> Response {
    c.clear_calls();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_counters(State(c): State<Control>) -> Response {
    axum::Json(json!({
        "by_kind": c.counters(),
        "by_family": c.counters_by_family(),
        "api_calls_counted": c.api_calls_counted(),
        "daily_max": c.daily_limit(),
    }))
    .into_response()
}

/// The `/__sfsim/...` routes.
pub fn router(control: Control) -> Router {
    Router::new()
        .route("/__sfsim/scenario", post(post_scenario))
        .route(
            "/__sfsim/records/{object}",
            get(get_records).post(post_record),
        )
        .route("/__sfsim/records/{object}/{id}", get(get_record))
        .route("/__sfsim/query", get(get_query))
        .route(
            "/__sfsim/faults",
            get(get_faults).put(put_faults).delete(delete_faults),
        )
        .route("/__sfsim/expire-tokens", post(expire_tokens))
        .route(
            "/__sfsim/refresh-token-rotation",
            axum::routing::put(put_rotation),
        )
        .route("/__sfsim/limits", axum::routing::put(put_limits))
        .route("/__sfsim/calls", get(get_calls).delete(delete_calls))
        .route("/__sfsim/counters", get(get_counters))
        // A record's page, as `{instance_url}/{id}` opens it in Salesforce's UI.
        .route("/{id}", get(record_page))
        .with_state(control)
}

/// A minimal record page: the object and every field with its value.
async fn record_page(State(c): State<Control>, Path(id): Path<String>) -> Response {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let Some(rec) = c.record(&id) else {
        return (StatusCode::NOT_FOUND, "no record with this id").into_response();
    };
    let object = rec["attributes"]["type"]
        .as_str()
        .unwrap_or("Record")
        .to_string();
    let rows: String = rec
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "attributes")
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v))
                })
                .collect()
        })
        .unwrap_or_default();
    axum::response::Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{object} {id}</title></head>\
         <body><main><h1>{object} {id}</h1><table>{rows}</table></main></body></html>",
        object = esc(&object),
        id = esc(&id)
    ))
    .into_response()
}

pub(crate) fn now_time() -> time::OffsetDateTime {
    time::OffsetDateTime::from(SystemTime::now())
}
