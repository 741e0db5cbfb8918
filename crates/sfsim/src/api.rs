//! The REST data API under `/services/data/...` (salesforce-api.md §2–§8): versions,
//! resources, limits, describe, single-record CRUD, SOQL query with cursors, sObject
//! Collections and Composite.
//!
//! One HTTP handler does the shell work — request-size limits, version, session check,
//! injected faults, daily limit, latency, call log, `Sforce-Limit-Info` — and hands the
//! request to `dispatch`, which is synchronous and runs under the org lock. Composite
//! calls `dispatch` once per subrequest under the same lock, so a Composite request with
//! `allOrNone` is atomic and is counted as one API call. Latency is slept after the lock
//! is released, so concurrent calls overlap as they do against Salesforce.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::control::{CallKind, CallRecord, Control, OrgState, Shared};
use crate::ids;
use crate::org::{RecordError, Undo, WriteCtx, WriteError};
use crate::soql;

/// Version used where a URL needs one outside a request (control plane, duplicate ids).
pub const LATEST_VERSION: &str = "62.0";
/// Oldest version still served; older ones are retired (410) (§2).
pub const MIN_VERSION: u32 = 31;
/// Newest version this org knows (Summer '26).
pub const MAX_VERSION: u32 = 67;
/// `Sforce-Query-Options: batchSize` default, minimum and maximum (§4.1).
pub const DEFAULT_BATCH_SIZE: usize = 2000;
pub const MIN_BATCH_SIZE: usize = 200;
pub const MAX_BATCH_SIZE: usize = 2000;
/// Records per sObject Collections create/update/delete request (§5.2).
pub const COLLECTION_MAX_RECORDS: usize = 200;
/// Ids per Collections retrieve (§5.2).
pub const RETRIEVE_MAX_IDS: usize = 2000;
/// Subrequests per Composite request, and how many of them may be queries or
/// Collections (§5.3).
pub const COMPOSITE_MAX_SUBREQUESTS: usize = 25;
pub const COMPOSITE_MAX_QUERY_OR_COLLECTIONS: usize = 5;
/// URI (414) and URI + headers (431) size limits (§4.3).
pub const MAX_URI_BYTES: usize = 16_384;
/// Query cursors kept for `nextRecordsUrl`; older ones expire (INVALID_QUERY_LOCATOR).
const MAX_CURSORS: usize = 200;
/// Largest request body read.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Exact text Salesforce puts in subrequests of a rolled-back Composite (§5.3).
pub const PROCESSING_HALTED_MESSAGE: &str =
    "The transaction was rolled back since another operation in the same transaction failed.";
/// Exact text of collection siblings rolled back by `allOrNone` (§5.2).
pub const ROLLED_BACK_MESSAGE: &str = "Record rolled back because not all records were valid and the request was using AllOrNone header";

/// Release label of an API version: 31.0 = Summer '14, then three releases a year
/// (Winter, Spring, Summer; Winter carries the next year's number).
fn version_label(v: u32) -> String {
    let k = v.saturating_sub(31);
    let season = ["Summer", "Winter", "Spring"][(k % 3) as usize];
    let year = 14 + k.div_ceil(3);
    format!("{season} '{year:02}")
}

// ------------------------------------------------------------------------------------
// Query cursors

struct Cursor {
    rows: Arc<Vec<Value>>,
    batch: usize,
}

/// Open query cursors (the `01g…` locators of `nextRecordsUrl`).
#[derive(Default)]
pub struct Cursors {
    map: HashMap<String, Cursor>,
    order: VecDeque<String>,
    counter: u64,
}

impl Cursors {
    fn open(&mut self, rows: Arc<Vec<Value>>, batch: usize) -> String {
        self.counter += 1;
        let id = ids::mint("01g", self.counter);
        self.map.insert(id.clone(), Cursor { rows, batch });
        self.order.push_back(id.clone());
        while self.order.len() > MAX_CURSORS {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        id
    }
}

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

/// The REST error body: `[{"message","errorCode"}]` (§7.1).
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

/// Per-record errors inside Collections results use `statusCode` (§5.2).
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
        ["composite"] if m == Method::POST && !ctx.in_composite => composite(ctx, req),
        _ => not_found(kind),
    }
}

fn resources(req: &Req) -> Resp {
    let v = &req.version;
    let mut m = Map::new();
    for k in [
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "jobs",
        "query",
        "queryAll",
        "sobjects",
        "composite",
        "limits",
        "search",
        "recent",
        "process",
        "analytics",
        "actions",
        "tabs",
        "appMenu",
        "quickActions",
        "ui-api",
        "theme",
        "connect",
        "chatter",
        "parameterizedSearch",
    ] {
        m.insert(k.into(), json!(format!("/services/data/v{v}/{k}")));
    }
    Resp::json(200, CallKind::Resources, Value::Object(m))
}

fn limits(ctx: &Ctx<'_>) -> Resp {
    let max = ctx.shared.api_max.load(Ordering::SeqCst);
    let used = ctx.shared.api_used.load(Ordering::SeqCst);
    // Keys and values of the documented example (§8); only DailyApiRequests moves.
    Resp::json(
        200,
        CallKind::Limits,
        json!({
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
            "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "HourlyTimeBasedWorkflow": {"Max": 50, "Remaining": 50},
            "SingleEmail": {"Max": 15, "Remaining": 15},
        }),
    )
}

fn describe_global(ctx: &Ctx<'_>, req: &Req) -> Resp {
    let sobjects: Vec<Value> = ctx
        .st
        .org
        .objects
        .iter()
        .map(|o| o.def.describe_global_entry(&req.version))
        .collect();
    Resp::json(
        200,
        CallKind::DescribeGlobal,
        json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}),
    )
}

/// Salesforce answers unknown sObjects with the generic NOT_FOUND text (§5.1, django
/// recorded response).
fn unknown_object(kind: CallKind) -> Resp {
    not_found(kind)
}

fn sobject_info(ctx: &Ctx<'_>, req: &Req, obj: &str) -> Resp {
    match ctx.st.org.object(obj) {
        Some(def) => Resp::json(
            200,
            CallKind::Describe,
            json!({"objectDescribe": def.describe_global_entry(&req.version), "recentItems": []}),
        ),
        None => unknown_object(CallKind::Describe),
    }
}

const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day padding:none] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);
const HTTP_DATE_OUT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

fn describe(ctx: &Ctx<'_>, req: &Req, obj: &str) -> Resp {
    let org = &ctx.st.org;
    let Some(def) = org.object(obj) else {
        return unknown_object(CallKind::Describe);
    };
    let modified = org.metadata_modified;
    let last_modified = modified.format(HTTP_DATE_OUT).unwrap_or_default();
    if let Some(since) = &req.if_modified_since {
        let parsed =
            time::PrimitiveDateTime::parse(since.trim(), HTTP_DATE).map(|p| p.assume_utc());
        if let Ok(since) = parsed {
            if since >= modified {
                // §3.1: unchanged metadata → 304 with an empty body.
                let mut r = Resp::empty(304, CallKind::Describe);
                r.headers.push(("Last-Modified", last_modified));
                return r;
            }
        }
    }
    let mut r = Resp::json(
        200,
        CallKind::Describe,
        def.describe(&req.version, org.child_relationships(&def.name)),
    );
    r.headers.push(("Last-Modified", last_modified));
    r
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

/// Fault injection and row-lock emulation for one record write; an error means the
/// record fails with UNABLE_TO_LOCK_ROW.
fn lock_check(
    ctx: &mut Ctx<'_>,
    object: &str,
    id: Option<&str>,
    input: &Map<String, Value>,
) -> Option<RecordError> {
    let lock_err = |id: &str| {
        RecordError::new(
            "UNABLE_TO_LOCK_ROW",
            format!("unable to obtain exclusive access to this record or 1 records: {id}"),
            vec![],
        )
    };
    let mut faults = ctx.shared.faults();
    if let Some(id18) = id.and_then(ids::to_18) {
        if let Some(times) = faults.locked_records.get_mut(&id18) {
            match times {
                None => return Some(lock_err(&id18)),
                Some(0) => {}
                Some(n) => {
                    *n -= 1;
                    if *n == 0 {
                        faults.locked_records.remove(&id18);
                    }
                    return Some(lock_err(&id18));
                }
            }
        }
    }
    if !faults.row_lock_contention {
        return None;
    }
    drop(faults);
    let parents = ctx.st.org.parent_accounts(object, id, input);
    let mut locks = ctx.shared.row_locks();
    for p in &parents {
        if locks.get(p).is_some_and(|holder| *holder != ctx.request_id) {
            return Some(lock_err(p));
        }
    }
    for p in parents {
        locks.insert(p, ctx.request_id);
    }
    None
}

fn write_ctx(req: &Req) -> WriteCtx {
    WriteCtx {
        allow_duplicate_save: req.allow_duplicate_save,
        system: false,
    }
}

/// What a single-record create (`id` None) or update checks before writing, in
/// Salesforce's order: the object exists, the body is a JSON object, the id is one of the
/// object's, the record is not locked. Gives the object's API name and the field values.
fn write_input<'r>(
    ctx: &mut Ctx<'_>,
    req: &'r Req,
    obj: &str,
    id: Option<&str>,
    kind: CallKind,
) -> Result<(String, &'r Map<String, Value>), Resp> {
    let Some(def) = ctx.st.org.object(obj) else {
        return Err(unknown_object(kind));
    };
    let name = def.name.clone();
    let id_is_the_objects =
        id.is_none_or(|id| ids::to_18(id).is_some_and(|i| i.starts_with(&def.key_prefix)));
    let input = body_object(req, kind)?;
    if !id_is_the_objects {
        return Err(not_found(kind));
    }
    if let Some(e) = lock_check(ctx, &name, id, input) {
        return Err(Resp::json(400, kind, record_errors_rest(&[e])).records(1));
    }
    Ok((name, input))
}

fn create_one(ctx: &mut Ctx<'_>, req: &Req, obj: &str) -> Resp {
    let kind = CallKind::Create;
    let (name, input) = match write_input(ctx, req, obj, None, kind) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match ctx.st.org.create(&name, input, write_ctx(req), ctx.undo) {
        Ok(id) => {
            let mut r =
                Resp::json(201, kind, json!({"id": id, "success": true, "errors": []})).records(1);
            r.headers.push((
                "Location",
                format!("/services/data/v{}/sobjects/{name}/{id}", req.version),
            ));
            r
        }
        Err(e) => write_err(kind, &e).records(1),
    }
}

fn get_one(ctx: &Ctx<'_>, req: &Req, obj: &str, id: &str) -> Resp {
    let kind = CallKind::Retrieve;
    let org = &ctx.st.org;
    let Some(def) = org.object(obj) else {
        return unknown_object(kind);
    };
    let fields: Option<Vec<String>> = req.param("fields").map(|f| {
        f.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    if let Some(names) = &fields {
        if let Some(bad) = names.iter().find(|n| def.field(n).is_none()) {
            return err(
                400,
                kind,
                "INVALID_FIELD",
                format!("No such column '{bad}' on sobject of type {}", def.name),
            );
        }
    }
    match org.get(id) {
        Some((d, rec)) if d.name == def.name => {
            if rec.get("IsDeleted") == Some(&Value::Bool(true)) {
                return err(404, kind, "ENTITY_IS_DELETED", "entity is deleted");
            }
            Resp::json(
                200,
                kind,
                org.render_record(def, rec, fields.as_deref(), &req.version),
            )
            .records(1)
        }
        _ => not_found(kind),
    }
}

fn update_one(ctx: &mut Ctx<'_>, req: &Req, obj: &str, id: &str) -> Resp {
    let kind = CallKind::Update;
    let (name, input) = match write_input(ctx, req, obj, Some(id), kind) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match ctx
        .st
        .org
        .update(Some(&name), id, input, write_ctx(req), ctx.undo)
    {
        Ok(_) => Resp::empty(204, kind).records(1),
        Err(e) => write_err(kind, &e).records(1),
    }
}

fn delete_one(ctx: &mut Ctx<'_>, obj: &str, id: &str) -> Resp {
    let kind = CallKind::Delete;
    let Some(def) = ctx.st.org.object(obj) else {
        return unknown_object(kind);
    };
    let name = def.name.clone();
    if ids::to_18(id).is_none_or(|i| !i.starts_with(&def.key_prefix)) {
        return not_found(kind);
    }
    if let Some(e) = lock_check(ctx, &name, Some(id), &Map::new()) {
        return Resp::json(400, kind, record_errors_rest(&[e])).records(1);
    }
    match ctx.st.org.delete(Some(&name), id, ctx.undo) {
        Ok(_) => Resp::empty(204, kind).records(1),
        Err(e) => write_err(kind, &e).records(1),
    }
}

fn batch_size(req: &Req) -> usize {
    req.batch_size
        .unwrap_or(DEFAULT_BATCH_SIZE)
        .clamp(MIN_BATCH_SIZE, MAX_BATCH_SIZE)
}

/// One page to serve out of a query's rows.
struct Page {
    kind: CallKind,
    total: usize,
    rows: Arc<Vec<Value>>,
    offset: usize,
    batch: usize,
    /// The cursor the rows came from (query more), or none for a fresh query.
    locator: Option<String>,
}

fn query_page(ctx: &mut Ctx<'_>, req: &Req, page_req: Page) -> Resp {
    let Page {
        kind,
        total,
        rows,
        offset,
        batch,
        locator,
    } = page_req;
    let end = (offset + batch).min(rows.len());
    let page: Vec<Value> = rows
        .get(offset..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let n = page.len();
    let mut body = Map::new();
    body.insert("totalSize".into(), json!(total));
    let done = end >= rows.len();
    body.insert("done".into(), json!(done));
    if !done {
        let loc = match locator {
            Some(l) => l,
            None => ctx.st.cursors.open(rows, batch),
        };
        body.insert(
            "nextRecordsUrl".into(),
            json!(format!("/services/data/v{}/query/{loc}-{end}", req.version)),
        );
    }
    body.insert("records".into(), Value::Array(page));
    Resp::json(200, kind, Value::Object(body)).records(n)
}

fn query(ctx: &mut Ctx<'_>, req: &Req, all_rows: bool) -> Resp {
    let kind = CallKind::Query;
    let Some(text) = req.param("q").map(str::to_owned) else {
        return err(
            400,
            kind,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let parsed = soql::parse(&text)
        .and_then(|q| soql::check(q, &text, |n| ctx.st.org.object(n)).map(|(q, _)| q));
    let q = match parsed {
        Ok(q) => q,
        Err(e) => {
            let mut r = err(400, kind, e.code.as_str(), e.message);
            r.soql = Some(text);
            return r;
        }
    };
    let (total, rows) = ctx.st.org.run_query(&q, all_rows, &req.version);
    let mut r = if q.is_count() {
        Resp::json(
            200,
            kind,
            json!({"totalSize": total, "done": true, "records": []}),
        )
    } else {
        let batch = batch_size(req);
        let page = Page {
            kind,
            total,
            rows: Arc::new(rows),
            offset: 0,
            batch,
            locator: None,
        };
        query_page(ctx, req, page)
    };
    r.soql = Some(text);
    r
}

fn query_more(ctx: &mut Ctx<'_>, req: &Req, locator: &str) -> Resp {
    let kind = CallKind::QueryMore;
    let invalid = || err(400, kind, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((loc, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let Some(cursor) = ctx.st.cursors.map.get(loc) else {
        return invalid();
    };
    let (rows, batch) = (Arc::clone(&cursor.rows), cursor.batch);
    if offset > rows.len() {
        return invalid();
    }
    let total = rows.len();
    query_page(
        ctx,
        req,
        Page {
            kind,
            total,
            rows,
            offset,
            batch,
            locator: Some(loc.to_owned()),
        },
    )
}

fn bool_param(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// `POST` (create) and `PATCH` (update) `/composite/sobjects` (§5.2).
fn collections_write(ctx: &mut Ctx<'_>, req: &Req, creating: bool) -> Resp {
    let kind = if creating {
        CallKind::CollectionsCreate
    } else {
        CallKind::CollectionsUpdate
    };
    let body = match body_object(req, kind) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(Value::Array(records)) = body.get("records") else {
        return err(
            400,
            kind,
            "INVALID_FIELD",
            "No records to process: the request must contain a records array",
        );
    };
    if records.len() > COLLECTION_MAX_RECORDS {
        return err(
            400,
            kind,
            "EXCEEDED_ID_LIMIT",
            format!("record limit reached. cannot submit more than {COLLECTION_MAX_RECORDS} records into this call"),
        )
        .records(records.len());
    }
    let all_or_none = bool_param(body.get("allOrNone"));
    let wctx = write_ctx(req);
    let mark = ctx.undo.mark();
    let mut results: Vec<Result<String, (Option<String>, Vec<RecordError>)>> =
        Vec::with_capacity(records.len());
    for rec in records {
        let Value::Object(input) = rec else {
            results.push(Err((
                None,
                vec![RecordError::new(
                    "JSON_PARSER_ERROR",
                    "Each record must be a JSON object",
                    vec![],
                )],
            )));
            continue;
        };
        let object = input
            .get("attributes")
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let given_id = input
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("id"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned);
        let Some(object) = object else {
            results.push(Err((
                given_id,
                vec![RecordError::new(
                    "INVALID_TYPE",
                    "Must send a concrete entity type.",
                    vec![],
                )],
            )));
            continue;
        };
        let outcome = if creating {
            if given_id.is_some() {
                Err((
                    None,
                    vec![RecordError::new(
                        "INVALID_FIELD",
                        "cannot specify Id in an insert call",
                        vec!["Id".into()],
                    )],
                ))
            } else if ctx.st.org.object(&object).is_none() {
                Err((
                    None,
                    vec![RecordError::new(
                        "INVALID_TYPE",
                        format!("sObject type '{object}' is not supported."),
                        vec![],
                    )],
                ))
            } else if let Some(e) = lock_check(ctx, &object, None, input) {
                Err((None, vec![e]))
            } else {
                ctx.st
                    .org
                    .create(&object, input, wctx, ctx.undo)
                    .map_err(|e| (None, e.errors))
            }
        } else {
            match &given_id {
                None => Err((
                    None,
                    vec![RecordError::new(
                        "MISSING_ARGUMENT",
                        "Id not specified in an update call",
                        vec![],
                    )],
                )),
                Some(id) => match lock_check(ctx, &object, Some(id), input) {
                    Some(e) => Err((Some(id.clone()), vec![e])),
                    None => ctx
                        .st
                        .org
                        .update(Some(&object), id, input, wctx, ctx.undo)
                        .map_err(|e| (ids::to_18(id).or(Some(id.clone())), e.errors)),
                },
            }
        };
        results.push(outcome);
    }
    let failed = results.iter().any(Result::is_err);
    if all_or_none && failed {
        ctx.st.org.rollback_to(ctx.undo, mark);
    }
    let n = results.len();
    let out: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(_) if all_or_none && failed => json!({
                "success": false,
                "errors": record_errors_collection(&[RecordError::new("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK_MESSAGE, vec![])]),
            }),
            Ok(id) => json!({"id": id, "success": true, "errors": []}),
            // Failed creates carry no id (§5.2); failed updates name the record.
            Err((Some(id), errors)) if !all_or_none || !creating => {
                json!({"id": id, "success": false, "errors": record_errors_collection(&errors)})
            }
            Err((_, errors)) => json!({"success": false, "errors": record_errors_collection(&errors)}),
        })
        .collect();
    Resp::json(200, kind, Value::Array(out)).records(n)
}

fn split_ids(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_owned())
        .filter(|x| !x.is_empty())
        .collect()
}

/// `DELETE /composite/sobjects?ids=..&allOrNone=..`.
fn collections_delete(ctx: &mut Ctx<'_>, req: &Req) -> Resp {
    let kind = CallKind::CollectionsDelete;
    let ids_list = req.param("ids").map(split_ids).unwrap_or_default();
    if ids_list.is_empty() {
        return err(400, kind, "MISSING_ARGUMENT", "ids parameter is required");
    }
    if ids_list.len() > COLLECTION_MAX_RECORDS {
        return err(
            400,
            kind,
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {COLLECTION_MAX_RECORDS} records into this call"
            ),
        );
    }
    let all_or_none = req
        .param("allOrNone")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mark = ctx.undo.mark();
    let mut results = Vec::new();
    for id in &ids_list {
        let r = match lock_check(ctx, "", Some(id), &Map::new()) {
            Some(e) => Err(vec![e]),
            None => ctx.st.org.delete(None, id, ctx.undo).map_err(|e| e.errors),
        };
        results.push((id.clone(), r));
    }
    let failed = results.iter().any(|(_, r)| r.is_err());
    if all_or_none && failed {
        ctx.st.org.rollback_to(ctx.undo, mark);
    }
    let n = results.len();
    let out: Vec<Value> = results
        .into_iter()
        .map(|(id, r)| match r {
            Ok(id18) if all_or_none && failed => json!({"id": id18, "success": false, "errors": record_errors_collection(&[RecordError::new("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK_MESSAGE, vec![])])}),
            Ok(id18) => json!({"id": id18, "success": true, "errors": []}),
            Err(errors) => json!({"id": id, "success": false, "errors": record_errors_collection(&errors)}),
        })
        .collect();
    Resp::json(200, kind, Value::Array(out)).records(n)
}

/// `GET /composite/sobjects/{obj}?ids=..&fields=..` (or POST with a JSON body).
fn collections_retrieve(ctx: &Ctx<'_>, req: &Req, obj: &str) -> Resp {
    let kind = CallKind::CollectionsRetrieve;
    let org = &ctx.st.org;
    let Some(def) = org.object(obj) else {
        return unknown_object(kind);
    };
    let (ids_list, fields): (Vec<String>, Vec<String>) = if req.method == Method::POST {
        let body = match body_object(req, kind) {
            Ok(m) => m,
            Err(r) => return r,
        };
        let arr = |k: &str| -> Vec<String> {
            body.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        (arr("ids"), arr("fields"))
    } else {
        (
            req.param("ids").map(split_ids).unwrap_or_default(),
            req.param("fields").map(split_ids).unwrap_or_default(),
        )
    };
    if ids_list.is_empty() || fields.is_empty() {
        return err(
            400,
            kind,
            "MISSING_ARGUMENT",
            "Both ids and fields parameters are required",
        );
    }
    if ids_list.len() > RETRIEVE_MAX_IDS {
        return err(
            400,
            kind,
            "EXCEEDED_ID_LIMIT",
            format!("Cannot retrieve more than {RETRIEVE_MAX_IDS} records"),
        );
    }
    if let Some(bad) = fields.iter().find(|n| def.field(n).is_none()) {
        return err(
            400,
            kind,
            "INVALID_FIELD",
            format!("No such column '{bad}' on sobject of type {}", def.name),
        );
    }
    let out: Vec<Value> = ids_list
        .iter()
        .map(|id| match org.get(id) {
            Some((d, rec))
                if d.name == def.name && rec.get("IsDeleted") != Some(&Value::Bool(true)) =>
            {
                org.render_record(def, rec, Some(&fields), &req.version)
            }
            _ => Value::Null,
        })
        .collect();
    let n = out.iter().filter(|v| !v.is_null()).count();
    Resp::json(200, kind, Value::Array(out)).records(n)
}

// ------------------------------------------------------------------------------------
// Composite

fn processing_halted() -> Value {
    json!([{"errorCode": "PROCESSING_HALTED", "message": PROCESSING_HALTED_MESSAGE}])
}

/// Resolves `refId.path` (`id`, `records[0].Id`, `a.b[2].c`) in earlier results.
fn resolve_reference(expr: &str, results: &HashMap<String, Value>) -> Option<String> {
    let (head, rest) = match expr.find(['.', '[']) {
        Some(i) => expr.split_at(i),
        None => (expr, ""),
    };
    let mut cur = results.get(head)?;
    let mut rest = rest;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let idx: usize = r[..end].parse().ok()?;
            cur = cur.get(idx)?;
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Replaces every `@{...}` in `text`; `Err(expr)` names the first that does not resolve.
pub(crate) fn substitute(
    text: &str,
    results: &HashMap<String, Value>,
    json_escape: bool,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let expr = &after[..end];
        let v = resolve_reference(expr, results).ok_or_else(|| expr.to_owned())?;
        if json_escape {
            let quoted = serde_json::to_string(&v).unwrap_or_default();
            out.push_str(&quoted[1..quoted.len() - 1]);
        } else {
            out.push_str(&v);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits `/services/data/vNN.N/rest?query` into version, path and decoded params.
pub(crate) fn split_data_url(url: &str) -> Option<(u32, String, String, Vec<(String, String)>)> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let rest = path.strip_prefix("/services/data/v")?;
    let (ver, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let major = parse_version(ver)?;
    let params = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Some((major, ver.to_owned(), format!("/{tail}"), params))
}

fn parse_version(ver: &str) -> Option<u32> {
    let (major, minor) = ver.split_once('.')?;
    if minor != "0" {
        return None;
    }
    major.parse().ok()
}

/// Query, queryAll, query-more and sObject Collections subrequests (at most 5 per Composite).
fn is_heavy(path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    matches!(segs.first(), Some(&"query" | &"queryAll"))
        || segs.starts_with(&["composite", "sobjects"])
}

fn composite(ctx: &mut Ctx<'_>, req: &Req) -> Resp {
    let kind = CallKind::Composite;
    let body = match body_object(req, kind) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(Value::Array(subs)) = body.get("compositeRequest") else {
        return err(400, kind, "INVALID_INPUT", "compositeRequest is required");
    };
    // Limits of §5.3. Over 25 operations Salesforce answers with a composite-shaped body
    // holding one LIMIT_EXCEEDED entry (recorded in guardian/support-service-lambdas
    // PR #766: "The request can’t contain more than 25 operations."); the status code and
    // the wording for the query/collections cap are not recorded anywhere we could read.
    let limit_exceeded = |message: String| {
        Resp::json(
            400,
            kind,
            json!({"compositeResponse": [{
                "body": [{"errorCode": "LIMIT_EXCEEDED", "message": message}],
                "httpHeaders": {}, "httpStatusCode": 400, "referenceId": null,
            }]}),
        )
    };
    if subs.len() > COMPOSITE_MAX_SUBREQUESTS {
        return limit_exceeded(format!(
            "The request can’t contain more than {COMPOSITE_MAX_SUBREQUESTS} operations."
        ));
    }
    let heavy = subs
        .iter()
        .filter(|s| {
            let url = s.get("url").and_then(Value::as_str).unwrap_or("");
            split_data_url(url).is_some_and(|(_, _, p, _)| is_heavy(&p))
        })
        .count();
    if heavy > COMPOSITE_MAX_QUERY_OR_COLLECTIONS {
        return limit_exceeded(format!(
            "The request can’t contain more than {COMPOSITE_MAX_QUERY_OR_COLLECTIONS} query or sObject Collections operations."
        ));
    }
    let all_or_none = bool_param(body.get("allOrNone"));
    let mut seen = std::collections::HashSet::new();
    for s in subs {
        let r = s.get("referenceId").and_then(Value::as_str).unwrap_or("");
        if r.is_empty() || !seen.insert(r.to_owned()) {
            return err(
                400,
                kind,
                "INVALID_INPUT",
                format!("Duplicate or missing referenceId: '{r}'"),
            );
        }
    }
    let mark = ctx.undo.mark();
    let mut results: HashMap<String, Value> = HashMap::new();
    let mut out: Vec<(String, u16, Option<Value>, Vec<(&'static str, String)>)> = Vec::new();
    let mut halted = false;
    for s in subs {
        let ref_id = s
            .get("referenceId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if halted {
            out.push((ref_id, 400, Some(processing_halted()), Vec::new()));
            continue;
        }
        let method = s
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let raw_url = s.get("url").and_then(Value::as_str).unwrap_or("");
        let sub_body = s.get("body").cloned();
        let resolved = substitute(raw_url, &results, false).and_then(|u| {
            let b = match &sub_body {
                Some(b) => {
                    let text = substitute(&b.to_string(), &results, true)?;
                    Some(serde_json::from_str::<Value>(&text).map_err(|_| text)?)
                }
                None => None,
            };
            Ok((u, b))
        });
        let resp = match resolved {
            Err(expr) => {
                let head = expr.split(['.', '[']).next().unwrap_or("").to_owned();
                err(
                    400,
                    CallKind::Other,
                    "PROCESSING_HALTED",
                    format!(
                        "Invalid reference specified. No value for {expr} found in {head}. Provided referenceId ('{head}') must be defined before it is referenced."
                    ),
                )
            }
            Ok((url, b)) => match (Method::from_bytes(method.as_bytes()), split_data_url(&url)) {
                (Ok(m), Some((major, ver, path, params)))
                    if (MIN_VERSION..=MAX_VERSION).contains(&major) =>
                {
                    let headers = s.get("httpHeaders");
                    let hdr = |name: &str| {
                        headers
                            .and_then(Value::as_object)
                            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                            .and_then(|(_, v)| v.as_str())
                            .map(str::to_owned)
                    };
                    let sub = Req {
                        method: m,
                        path,
                        params,
                        version: ver,
                        batch_size: hdr("Sforce-Query-Options")
                            .and_then(|v| parse_batch_size(&v))
                            .or(req.batch_size),
                        allow_duplicate_save: hdr("Sforce-Duplicate-Rule-Header")
                            .map(|v| parse_allow_save(&v))
                            .unwrap_or(req.allow_duplicate_save),
                        if_modified_since: hdr("If-Modified-Since"),
                        body: b,
                    };
                    let r = dispatch(ctx, &sub);
                    ctx.logged.push(CallRecord {
                        method: sub.method.to_string(),
                        path: url.split('?').next().unwrap_or("").to_owned(),
                        status: r.status,
                        records: r.records,
                        kind: r.kind,
                        soql: r.soql.clone(),
                        in_composite: true,
                        counted: false,
                        at: crate::control::now_time(),
                    });
                    r
                }
                _ => not_found(CallKind::Other),
            },
        };
        let failed = resp.status >= 400;
        if let Some(b) = &resp.body {
            results.insert(ref_id.clone(), b.clone());
        }
        out.push((ref_id, resp.status, resp.body, resp.headers));
        if failed && all_or_none {
            ctx.st.org.rollback_to(ctx.undo, mark);
            halted = true;
            // Everything before the failure is rolled back too.
            let last = out.len() - 1;
            for (i, entry) in out.iter_mut().enumerate() {
                if i != last {
                    entry.1 = 400;
                    entry.2 = Some(processing_halted());
                    entry.3 = Vec::new();
                }
            }
        }
    }
    let n = out.len();
    let items: Vec<Value> = out
        .into_iter()
        .map(|(ref_id, status, body, headers)| {
            let h: Map<String, Value> = headers.into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect();
            json!({"body": body.unwrap_or(Value::Null), "httpHeaders": h, "httpStatusCode": status, "referenceId": ref_id})
        })
        .collect();
    Resp::json(200, kind, json!({"compositeResponse": items})).records(n)
}

// ------------------------------------------------------------------------------------
// HTTP shell

fn parse_batch_size(v: &str) -> Option<usize> {
    v.split([';', ',']).find_map(|part| {
        let (k, val) = part.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("batchSize")
            .then(|| val.trim().parse().ok())?
    })
}

fn parse_allow_save(v: &str) -> bool {
    v.split([';', ',']).any(|part| {
        part.split_once('=').is_some_and(|(k, val)| {
            k.trim().eq_ignore_ascii_case("allowSave") && val.trim().eq_ignore_ascii_case("true")
        })
    })
}

/// A transport-level refusal in the REST error shape `[{"message","errorCode"}]` (§7.1),
/// answered before a request reaches the data handlers.
fn error_response(
    status: u16,
    code: &str,
    message: impl Into<String>,
    extra: &[(&str, String)],
) -> Response {
    json_response(
        status,
        Some(&json!([{"message": message.into(), "errorCode": code}])),
        extra,
    )
}

fn json_response(status: u16, body: Option<&Value>, extra: &[(&str, String)]) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match body {
        Some(b) => {
            let mut r = Response::new(Body::from(b.to_string()));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json;charset=UTF-8"),
            );
            r
        }
        None => Response::new(Body::empty()),
    };
    *resp.status_mut() = code;
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            if let Ok(name) = axum::http::HeaderName::from_bytes(k.as_bytes()) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The versions list (`GET /services/data/`): unauthenticated, not counted (§2).
fn versions() -> Value {
    Value::Array(
        (MIN_VERSION..=MAX_VERSION)
            .map(|v| json!({"label": version_label(v), "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")}))
            .collect(),
    )
}

/// The handler of everything under `/services/data`.
pub(crate) async fn handle(State(control): State<Control>, req: Request) -> Response {
    let shared = Arc::clone(&control.shared);
    let request_id = shared.next_request.fetch_add(1, Ordering::SeqCst);
    let free = matches!(req.uri().path(), "/services/data" | "/services/data/");
    let resp = respond(&shared, req, request_id).await;
    // Latency is served outside the org lock so concurrent calls overlap, and on every
    // answer (errors and faults too, as a real network would); row locks taken by this
    // request are held until it answers.
    if !free {
        let extra = Duration::from_millis(shared.faults().extra_latency_ms);
        let delay = shared.base_latency + extra;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    shared.row_locks().retain(|_, holder| *holder != request_id);
    resp
}

async fn respond(shared: &Arc<Shared>, req: Request, request_id: u64) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let uri_len = parts
        .uri
        .path_and_query()
        .map_or(path.len(), |p| p.as_str().len());
    let log = |status: u16, kind: CallKind, records: usize, soql: Option<String>, counted: bool| {
        shared.log_call(CallRecord {
            method: method.to_string(),
            path: path.clone(),
            status,
            records,
            kind,
            soql,
            in_composite: false,
            counted,
            at: crate::control::now_time(),
        });
    };
    // §4.3: URI over 16,384 bytes → 414; URI plus headers over it → 431.
    if uri_len > MAX_URI_BYTES {
        log(414, CallKind::Other, 0, None, false);
        return error_response(414, "URI_TOO_LONG", "URI Too Long", &[]);
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if uri_len + header_bytes > MAX_URI_BYTES {
        log(431, CallKind::Other, 0, None, false);
        return error_response(
            431,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            "Request Header Fields Too Large",
            &[],
        );
    }
    if path == "/services/data" || path == "/services/data/" {
        log(200, CallKind::Versions, 0, None, false);
        return json_response(200, Some(&versions()), &[]);
    }
    let Some((major, version, rest, params)) = split_data_url(
        parts
            .uri
            .path_and_query()
            .map_or(path.as_str(), |p| p.as_str()),
    ) else {
        log(404, CallKind::Other, 0, None, false);
        return error_response(
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
            &[],
        );
    };
    if major < MIN_VERSION {
        // Retired versions answer 410 Gone (§2); body wording unconfirmed.
        log(410, CallKind::Other, 0, None, false);
        return error_response(
            410,
            "API_VERSION_RETIRED",
            format!("API version {version} has been retired"),
            &[],
        );
    }
    if major > MAX_VERSION {
        log(404, CallKind::Other, 0, None, false);
        return error_response(
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
            &[],
        );
    }
    let kind = classify(&method, &rest);
    let auth_header = header(&parts.headers, "authorization").unwrap_or("");
    if let Err(e) = shared.auth.check_access_token(auth_header) {
        log(401, kind, 0, None, false);
        return e.into_response();
    }
    let limit_info =
        |used: u64| format!("api-usage={used}/{}", shared.api_max.load(Ordering::SeqCst));
    // Injected faults: 503s (JSON or HTML) and concurrent-request limits.
    enum Injected {
        Unavailable { html: bool },
        Concurrent,
    }
    let injected = {
        let mut f = shared.faults();
        if f.concurrent_limit_next > 0 {
            f.concurrent_limit_next -= 1;
            Some(Injected::Concurrent)
        } else if f.fail_next > 0 {
            f.fail_next -= 1;
            Some(Injected::Unavailable { html: f.fail_html })
        } else if f.fail_share > 0.0 && rand::random::<f64>() < f.fail_share {
            Some(Injected::Unavailable { html: f.fail_html })
        } else {
            None
        }
    };
    if let Some(fault) = injected {
        let used = shared.api_used.load(Ordering::SeqCst);
        let limit = [("Sforce-Limit-Info", limit_info(used))];
        return match fault {
            Injected::Concurrent => {
                log(403, kind, 0, None, false);
                error_response(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.",
                    &limit,
                )
            }
            Injected::Unavailable { html: false } => {
                log(503, kind, 0, None, false);
                error_response(503, "SERVER_UNAVAILABLE", "server too busy", &limit)
            }
            Injected::Unavailable { html: true } => {
                log(503, kind, 0, None, false);
                let mut r = Response::new(Body::from(
                    "<html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request.</p></body></html>",
                ));
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                r.headers_mut().insert(
                    "content-type",
                    HeaderValue::from_static("text/html;charset=UTF-8"),
                );
                r
            }
        };
    }
    // Daily limit (§8): a call over the allocation is refused and not counted.
    let max = shared.api_max.load(Ordering::SeqCst);
    let counted = shared
        .api_used
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
            (u < max).then_some(u + 1)
        });
    let used = match counted {
        Ok(prev) => prev + 1,
        Err(u) => {
            log(403, kind, 0, None, false);
            return error_response(
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
                &[("Sforce-Limit-Info", limit_info(u))],
            );
        }
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            log(413, kind, 0, None, true);
            return error_response(413, "REQUEST_TOO_LARGE", "Request body too large", &[]);
        }
    };
    let body_value = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                log(400, kind, 0, None, true);
                return error_response(
                    400,
                    "JSON_PARSER_ERROR",
                    format!("Unexpected character in JSON body: {e}"),
                    &[("Sforce-Limit-Info", limit_info(used))],
                );
            }
        }
    };
    let data_req = Req {
        method: method.clone(),
        path: rest,
        params,
        version,
        batch_size: header(&parts.headers, "sforce-query-options").and_then(parse_batch_size),
        allow_duplicate_save: header(&parts.headers, "sforce-duplicate-rule-header")
            .is_some_and(parse_allow_save),
        if_modified_since: header(&parts.headers, "if-modified-since").map(str::to_owned),
        body: body_value,
    };
    let (resp, sublog) = {
        let mut st = shared.state();
        let mut undo = Undo::default();
        let mut ctx = Ctx {
            shared,
            st: &mut st,
            undo: &mut undo,
            request_id,
            in_composite: false,
            logged: Vec::new(),
        };
        let r = dispatch(&mut ctx, &data_req);
        (r, ctx.logged)
    };
    log(
        resp.status,
        resp.kind,
        resp.records,
        resp.soql.clone(),
        true,
    );
    for s in sublog {
        shared.log_call(s);
    }
    let mut headers: Vec<(&str, String)> = vec![("Sforce-Limit-Info", limit_info(used))];
    headers.extend(resp.headers.iter().map(|(k, v)| (*k, v.clone())));
    json_response(resp.status, resp.body.as_ref(), &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_labels() {
        assert_eq!(version_label(31), "Summer '14");
        assert_eq!(version_label(32), "Winter '15");
        assert_eq!(version_label(60), "Spring '24");
        assert_eq!(version_label(62), "Winter '25");
        assert_eq!(version_label(67), "Summer '26");
    }

    #[test]
    fn references_resolve() {
        let mut r = HashMap::new();
        r.insert(
            "q".to_owned(),
            json!({"records": [{"Id": "00Q1"}], "totalSize": 1}),
        );
        r.insert("c".to_owned(), json!({"id": "001X"}));
        assert_eq!(
            resolve_reference("q.records[0].Id", &r).as_deref(),
            Some("00Q1")
        );
        assert_eq!(resolve_reference("c.id", &r).as_deref(), Some("001X"));
        assert_eq!(resolve_reference("q.totalSize", &r).as_deref(), Some("1"));
        assert_eq!(resolve_reference("q.records[1].Id", &r), None);
        assert_eq!(
            substitute("/x/@{c.id}/y", &r, false).as_deref(),
            Ok("/x/001X/y")
        );
        assert_eq!(
            substitute("/x/@{nope.id}", &r, false),
            Err("nope.id".to_owned())
        );
    }

    #[test]
    fn header_parsing() {
        assert_eq!(parse_batch_size("batchSize=500"), Some(500));
        assert!(parse_allow_save(
            "allowSave=true; includeRecordDetails=true"
        ));
        assert!(!parse_allow_save("allowSave=false"));
    }
}
