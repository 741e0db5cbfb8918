//! The REST data API under `/services/data/...` (docs/salesforce.md): versions,
//! resources, limits, describe, single-record CRUD, SOQL query with cursors, sObject
//! Collections and Composite.
//!
//! One HTTP handler (`http`) does the shell work — request-size limits, version,
//! session check, injected faults, daily limit, latency, call log, `Sforce-Limit-Info` —
//! and hands the request to `dispatch`, which is synchronous and runs under the org lock.
//! Composite calls `dispatch` once per subrequest under the same lock, so a Composite
//! request with `allOrNone` is atomic and is counted as one API call. Latency is slept
//! after the lock is released, so concurrent calls overlap as they do against Salesforce.
//!
//! This module holds what every endpoint shares: the limits, one (sub)request and its
//! response, the REST error bodies, and the routing of a path to its endpoint:
//! `describe` (versions, resources, limits, describe), `records` (single-record
//! CRUD), `query` (SOQL and cursors), `collections` (sObject Collections) and
//! `composite`.

mod collections;
mod composite;
mod describe;
mod http;
mod query;
mod records;

pub(crate) use composite::substitute;
pub(crate) use http::{handle, split_data_url};
pub use query::Cursors;

use collections::{
    collections_delete, collections_retrieve, collections_upsert, collections_write,
};
use composite::composite;
use describe::{describe, describe_global, limits, resources, sobject_info};
use query::{query, query_more};
use records::{create_one, delete_one, get_one, update_one};

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::control::{CallKind, CallRecord, OrgState, Shared};
use crate::org::{RecordError, Undo, WriteError};

/// Version used where a URL needs one outside a request (control plane, duplicate ids).
pub const LATEST_VERSION: &str = "62.0";
/// Oldest version still served; older ones are retired (410) (docs/salesforce.md#api-versions).
pub const MIN_VERSION: u32 = 31;
/// Newest version this org knows (Summer '26).
pub const MAX_VERSION: u32 = 67;
/// `Sforce-Query-Options: batchSize` default, minimum and maximum (docs/salesforce.md#pagination).
pub const DEFAULT_BATCH_SIZE: usize = 2000;
pub const MIN_BATCH_SIZE: usize = 200;
pub const MAX_BATCH_SIZE: usize = 2000;
/// Records per sObject Collections create/update/delete request
/// (docs/salesforce.md#sobject-collections).
pub const COLLECTION_MAX_RECORDS: usize = 200;
/// Ids per Collections retrieve (docs/salesforce.md#sobject-collections).
pub const RETRIEVE_MAX_IDS: usize = 2000;
/// Subrequests per Composite request, and how many of them may be queries or
/// Collections (docs/salesforce.md#composite).
pub const COMPOSITE_MAX_SUBREQUESTS: usize = 25;
pub const COMPOSITE_MAX_QUERY_OR_COLLECTIONS: usize = 5;
/// URI (414) and URI + headers (431) size limits (docs/salesforce.md#limits).
pub const MAX_URI_BYTES: usize = 16_384;

/// Exact text Salesforce puts in subrequests of a rolled-back Composite
/// (docs/salesforce.md#composite).
pub const PROCESSING_HALTED_MESSAGE: &str =
    "The transaction was rolled back since another operation in the same transaction failed.";
/// Exact text of collection siblings rolled back by `allOrNone`
/// (docs/salesforce.md#sobject-collections).
pub const ROLLED_BACK_MESSAGE: &str = "Record rolled back because not all records were valid and the request was using AllOrNone header";

// ------------------------------------------------------------------------------------
// Request / response of one (sub)request

pub(crate) struct Req {
    pub method: Method,
    /// Path after `/services/data/vNN.N`, e.g. `/sobjects/Lead/describe`.
    pub path: String,
    pub params: Vec<(String, String)>,
    pub version: String,
    pub batch_size: Option<usize>,
    pub allow_duplicate_save: bool,
    pub if_modified_since: Option<String>,
    pub body: Option<Value>,
}

impl Req {
    fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) struct Resp {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
    pub kind: CallKind,
    pub records: usize,
    pub soql: Option<String>,
}

impl Resp {
    fn json(status: u16, kind: CallKind, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
            kind,
            records: 0,
            soql: None,
        }
    }
    fn empty(status: u16, kind: CallKind) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
            kind,
            records: 0,
            soql: None,
        }
    }
    fn records(mut self, n: usize) -> Self {
        self.records = n;
        self
    }
}

/// The REST error body: `[{"message","errorCode"}]` (docs/salesforce.md#error-shapes).
fn err(status: u16, kind: CallKind, code: &str, message: impl Into<String>) -> Resp {
    Resp::json(
        status,
        kind,
        json!([{"message": message.into(), "errorCode": code}]),
    )
}

fn record_errors_rest(errors: &[RecordError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| {
                let mut m = Map::new();
                if let Some(d) = &e.duplicate_result {
                    m.insert("duplicateResult".into(), d.clone());
                }
                m.insert("errorCode".into(), json!(e.code));
                m.insert("message".into(), json!(e.message));
                m.insert("fields".into(), json!(e.fields));
                Value::Object(m)
            })
            .collect(),
    )
}

/// Per-record errors inside Collections results use `statusCode`
/// (docs/salesforce.md#sobject-collections).
fn record_errors_collection(errors: &[RecordError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("statusCode".into(), json!(e.code));
                m.insert("message".into(), json!(e.message));
                m.insert("fields".into(), json!(e.fields));
                if let Some(d) = &e.duplicate_result {
                    m.insert("duplicateResult".into(), d.clone());
                }
                Value::Object(m)
            })
            .collect(),
    )
}

fn write_err(kind: CallKind, e: &WriteError) -> Resp {
    Resp::json(e.status, kind, record_errors_rest(&e.errors))
}

fn not_found(kind: CallKind) -> Resp {
    err(
        404,
        kind,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

fn method_not_allowed(kind: CallKind, method: &Method, allowed: &str) -> Resp {
    err(
        405,
        kind,
        "METHOD_NOT_ALLOWED",
        format!("HTTP Method '{method}' not allowed. Allowed are {allowed}"),
    )
}

fn json_parser_error(kind: CallKind, msg: &str) -> Resp {
    err(400, kind, "JSON_PARSER_ERROR", msg.to_owned())
}

/// Salesforce answers unknown sObjects with the generic NOT_FOUND text
/// (docs/salesforce.md#single-records, django recorded response).
fn unknown_object(kind: CallKind) -> Resp {
    not_found(kind)
}

fn body_object(req: &Req, kind: CallKind) -> Result<&Map<String, Value>, Resp> {
    match &req.body {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(json_parser_error(
            kind,
            "Expected a JSON object as the request body",
        )),
        None => Err(json_parser_error(kind, "The request body is empty")),
    }
}

fn bool_param(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Classifies a request for the call log before it is processed.
pub(crate) fn classify(method: &Method, path: &str) -> CallKind {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segs.as_slice()) {
        (_, []) => CallKind::Resources,
        (_, ["limits"]) => CallKind::Limits,
        (_, ["sobjects"]) => CallKind::DescribeGlobal,
        (_, ["sobjects", _, "describe"]) | ("GET", ["sobjects", _]) => CallKind::Describe,
        ("POST", ["sobjects", _]) => CallKind::Create,
        ("GET", ["sobjects", _, _]) => CallKind::Retrieve,
        ("PATCH", ["sobjects", _, _]) => CallKind::Update,
        ("DELETE", ["sobjects", _, _]) => CallKind::Delete,
        (_, ["query" | "queryAll"]) => CallKind::Query,
        (_, ["query" | "queryAll", _]) => CallKind::QueryMore,
        ("POST", ["composite", "sobjects"]) => CallKind::CollectionsCreate,
        ("PATCH", ["composite", "sobjects"]) => CallKind::CollectionsUpdate,
        ("DELETE", ["composite", "sobjects"]) => CallKind::CollectionsDelete,
        ("PATCH", ["composite", "sobjects", _, _]) => CallKind::CollectionsUpsert,
        (_, ["composite", "sobjects", _]) => CallKind::CollectionsRetrieve,
        (_, ["composite"]) => CallKind::Composite,
        _ => CallKind::Other,
    }
}

/// One call's context: the org under lock, the shared state, and the transaction.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    pub st: &'a mut OrgState,
    pub undo: &'a mut Undo,
    pub request_id: u64,
    pub in_composite: bool,
    pub logged: Vec<CallRecord>,
}

// ------------------------------------------------------------------------------------
// Dispatch

pub(crate) fn dispatch(ctx: &mut Ctx<'_>, req: &Req) -> Resp {
    if let Some(r) = crate::setup::route(ctx, req) {
        return r;
    }
    let kind = classify(&req.method, &req.path);
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let m = &req.method;
    match segs.as_slice() {
        [] if m == Method::GET => resources(req),
        ["limits"] if m == Method::GET => limits(ctx),
        ["sobjects"] if m == Method::GET => describe_global(ctx, req),
        ["sobjects", obj] => match m.as_str() {
            "GET" => sobject_info(ctx, req, obj),
            "POST" => create_one(ctx, req, obj),
            _ => method_not_allowed(kind, m, "GET,HEAD,POST"),
        },
        ["sobjects", obj, "describe"] if m == Method::GET => describe(ctx, req, obj),
        ["sobjects", obj, id] => match m.as_str() {
            "GET" => get_one(ctx, req, obj, id),
            "PATCH" => update_one(ctx, req, obj, id),
            "DELETE" => delete_one(ctx, obj, id),
            _ => method_not_allowed(kind, m, "GET,HEAD,PATCH,DELETE"),
        },
        ["query" | "queryAll"] if m == Method::GET => query(ctx, req, segs[0] == "queryAll"),
        ["query" | "queryAll", locator] if m == Method::GET => query_more(ctx, req, locator),
        ["composite", "sobjects"] => match m.as_str() {
            "POST" => collections_write(ctx, req, true),
            "PATCH" => collections_write(ctx, req, false),
            "DELETE" => collections_delete(ctx, req),
            _ => method_not_allowed(kind, m, "POST,PATCH,DELETE"),
        },
        ["composite", "sobjects", obj] if m == Method::GET || m == Method::POST => {
            collections_retrieve(ctx, req, obj)
        }
        ["composite", "sobjects", obj, field] => match m.as_str() {
            "PATCH" => collections_upsert(ctx, req, obj, field),
            _ => method_not_allowed(kind, m, "PATCH"),
        },
        ["composite"] if m == Method::POST && !ctx.in_composite => composite(ctx, req),
        _ => not_found(kind),
    }
}
