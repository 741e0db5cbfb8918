//! The Tooling API part an admin tool uses to create fields (Tooling API Developer Guide:
//! <https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/>):
//!
//! - `POST /tooling/sobjects/CustomField` → 201 `{"id":"00N…","success":true,"errors":[]}`;
//!   a name the object already has → 400 `DUPLICATE_DEVELOPER_NAME` "There is already a
//!   field named <Name> on <Object>." (the name without `__c`, as Salesforce writes it);
//! - `GET /tooling/sobjects/CustomField/{id}` → the field with `FullName` and `Metadata`;
//! - `GET /tooling/query?q=SELECT … FROM CustomField …` → every custom field of the org,
//!   whatever the integration user's field access; selecting `Metadata` or `FullName`
//!   over more than one row is refused with `MALFORMED_QUERY` as Salesforce refuses it;
//! - `POST /tooling/composite` → up to 25 subrequests, at most 5 of them queries,
//!   top-level 200 with a status per subrequest and error arrays as bodies
//!   (<https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_resources_composite_composite.htm>).
//!
//! Anything else under `/tooling/` answers 404 `NOT_FOUND` (not emulated), including
//! `PATCH` of a CustomField.

use std::collections::HashMap;

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::metadata::{self, developer_name};
use super::rows::{self, Api};
use super::{
    CUSTOM_FIELD_PREFIX, CreatedField, error, json_parser_error, json_resp, not_found,
    record_errors,
};
use crate::api::{
    COMPOSITE_MAX_QUERY_OR_COLLECTIONS, COMPOSITE_MAX_SUBREQUESTS, Ctx, MAX_VERSION, MIN_VERSION,
    PROCESSING_HALTED_MESSAGE, Req, Resp, split_data_url, substitute,
};
use crate::control::{CallKind, CallRecord};
use crate::ids;
use crate::org::{Fields, Org, RecordError};
use crate::schema::{FieldDef, FieldType as T, ObjectDef};

pub const CUSTOM_FIELD: &str = "CustomField";

/// When the fields that came with the org were created (the default org's data starts then).
const SEED_CREATED: &str = "2024-01-01T00:00:00.000+0000";

/// The queryable part of Tooling's `CustomField` (the keys of Salesforce's documented
/// GET example).
pub fn custom_field_def() -> ObjectDef {
    let text = |n: &str, l: u32| FieldDef::new(n, n, T::String, l).read_only();
    ObjectDef {
        name: CUSTOM_FIELD.into(),
        label: "Custom Field".into(),
        label_plural: "Custom Fields".into(),
        key_prefix: CUSTOM_FIELD_PREFIX.into(),
        fields: vec![
            FieldDef::new("Id", "Custom Field Definition ID", T::Id, 18).system(true),
            text("TableEnumOrId", 40),
            text("DeveloperName", 40),
            FieldDef::new("Description", "Description", T::Textarea, 1000).read_only(),
            FieldDef::new("Length", "Length", T::Int, 0).read_only(),
            FieldDef::new("InlineHelpText", "Inline Help Text", T::Textarea, 510).read_only(),
            text("NamespacePrefix", 15),
            text("ManageableState", 40),
            text("EntityDefinitionId", 40),
            FieldDef::new("CreatedDate", "Created Date", T::Datetime, 0).system(true),
            FieldDef::new("CreatedById", "Created By ID", T::Reference, 18).system(true),
            FieldDef::new("LastModifiedDate", "Last Modified Date", T::Datetime, 0).system(true),
            FieldDef::new("LastModifiedById", "Last Modified By ID", T::Reference, 18).system(true),
            FieldDef::new("Metadata", "Metadata", T::Textarea, 0).read_only(),
            text("FullName", 255),
        ],
    }
}

/// One `CustomField` row.
fn row(
    id: &str,
    object: &str,
    def: &FieldDef,
    metadata: Value,
    created: &str,
    user: &str,
) -> Fields {
    let sized = matches!(
        metadata["type"].as_str(),
        Some("Text" | "LongTextArea" | "Html")
    );
    let mut r = Fields::new();
    r.insert("Id".into(), json!(id));
    r.insert("TableEnumOrId".into(), json!(object));
    r.insert("DeveloperName".into(), json!(developer_name(&def.name)));
    r.insert("Description".into(), metadata["description"].clone());
    r.insert(
        "Length".into(),
        if sized {
            json!(def.length)
        } else {
            Value::Null
        },
    );
    r.insert("InlineHelpText".into(), metadata["inlineHelpText"].clone());
    r.insert("NamespacePrefix".into(), Value::Null);
    r.insert("ManageableState".into(), json!("unmanaged"));
    r.insert("EntityDefinitionId".into(), json!(object));
    r.insert("CreatedDate".into(), json!(created));
    r.insert("CreatedById".into(), json!(user));
    r.insert("LastModifiedDate".into(), json!(created));
    r.insert("LastModifiedById".into(), json!(user));
    r.insert("Metadata".into(), metadata);
    r.insert("FullName".into(), json!(format!("{object}.{}", def.name)));
    r
}

/// Every custom field of the org: created through Tooling (visible or not) and those that
/// came with the org.
fn all_rows(org: &Org) -> Vec<Fields> {
    let mut out: Vec<Fields> = org
        .setup
        .created
        .iter()
        .map(|c| {
            row(
                &c.id,
                &c.object,
                &c.def,
                c.metadata.clone(),
                &c.created,
                &org.user_id,
            )
        })
        .collect();
    for (object, name, id) in &org.setup.adopted {
        if let Some(f) = org.object(object).and_then(|d| d.field(name)) {
            out.push(row(
                id,
                object,
                f,
                metadata::metadata_of(f),
                SEED_CREATED,
                &org.user_id,
            ));
        }
    }
    out.sort_by(|a, b| a["Id"].as_str().cmp(&b["Id"].as_str()));
    out
}

/// Requests under `/tooling/` (`rest` is the path after it).
pub(crate) fn dispatch(ctx: &mut Ctx<'_>, req: &Req, rest: &[&str]) -> Resp {
    super::adopt(&mut ctx.st.org);
    let cf = |s: &str| s.eq_ignore_ascii_case(CUSTOM_FIELD);
    match (req.method.as_str(), rest) {
        ("POST", ["sobjects", o]) if cf(o) => create(&mut ctx.st.org, req),
        ("GET", ["sobjects", o, id]) if cf(o) => get(&ctx.st.org, req, id),
        ("GET", ["query"]) => query(&ctx.st.org, req),
        ("POST", ["composite"]) if !ctx.in_composite => composite(ctx, req),
        _ => not_found(CallKind::Other),
    }
}

fn create(org: &mut Org, req: &Req) -> Resp {
    let kind = CallKind::Create;
    if !org.setup.user.customize_application {
        return error(
            400,
            kind,
            "INSUFFICIENT_ACCESS",
            "insufficient access rights: creating a CustomField needs the \"Customize Application\" user permission",
        );
    }
    let body = match &req.body {
        Some(Value::Object(m)) => m,
        Some(_) => return json_parser_error(kind, "Expected a JSON object as the request body"),
        None => return json_parser_error(kind, "The request body is empty"),
    };
    let object_name = |o: &str| org.object(o).map(|d| d.name.clone());
    let new = match metadata::parse_create(body, object_name) {
        Ok(f) => f,
        Err(e) => return record_errors(400, kind, &[e]),
    };
    let taken = org.object(&new.object).is_some_and(|d| {
        d.fields
            .iter()
            .any(|f| f.custom && f.name.eq_ignore_ascii_case(&new.name))
    }) || org
        .setup
        .created
        .iter()
        .any(|c| c.object == new.object && c.def.name.eq_ignore_ascii_case(&new.name));
    if taken {
        return record_errors(
            400,
            kind,
            &[RecordError::new(
                "DUPLICATE_DEVELOPER_NAME",
                format!(
                    "There is already a field named {} on {}.",
                    new.developer_name(),
                    new.object
                ),
                vec![],
            )],
        );
    }
    let id = org.setup.mint(CUSTOM_FIELD_PREFIX);
    org.setup.created.push(CreatedField {
        id: id.clone(),
        object: new.object,
        def: new.def,
        metadata: new.metadata,
        created: crate::soql::format_datetime(crate::org::now()),
    });
    super::refresh_visibility(org);
    let mut r = json_resp(201, kind, json!({"id": id, "success": true, "errors": []}));
    r.records = 1;
    r.headers.push((
        "Location",
        format!(
            "/services/data/v{}/tooling/sobjects/{CUSTOM_FIELD}/{id}",
            req.version
        ),
    ));
    r
}

fn get(org: &Org, req: &Req, id: &str) -> Resp {
    let kind = CallKind::Retrieve;
    let id18 = ids::to_18(id).unwrap_or_default();
    let def = custom_field_def();
    match all_rows(org)
        .iter()
        .find(|r| r["Id"].as_str() == Some(id18.as_str()))
    {
        Some(rec) => {
            let mut r = json_resp(
                200,
                kind,
                rows::render_record(&def, rec, Api::Tooling, &req.version),
            );
            r.records = 1;
            r
        }
        None => not_found(kind),
    }
}

fn query(org: &Org, req: &Req) -> Resp {
    let kind = CallKind::Query;
    let Some(text) = req
        .params
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.clone())
    else {
        return error(
            400,
            kind,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let defs = [custom_field_def()];
    let mut resp = match rows::parse(&text, &defs) {
        Err(e) => error(400, kind, e.code.as_str(), e.message),
        Ok((q, def)) => {
            let no_parent = |_: &str| None;
            let (total, found) = rows::run(
                &q,
                def,
                &all_rows(org),
                &no_parent,
                Api::Tooling,
                &req.version,
            );
            let whole = q
                .fields()
                .any(|f| matches!(f.path.as_slice(), [n] if n == "Metadata" || n == "FullName"));
            if whole && total > 1 {
                // Salesforce's words (Summer '15 onwards).
                error(
                    400,
                    kind,
                    "MALFORMED_QUERY",
                    format!(
                        "When retrieving results with Metadata or FullName fields, the query qualifications must specify no more than one row for retrieval. Result size: {total}"
                    ),
                )
            } else {
                let n = found.len();
                let mut r = json_resp(
                    200,
                    kind,
                    json!({"size": total, "totalSize": total, "done": true, "queryLocator": null,
                           "entityTypeName": CUSTOM_FIELD, "records": found}),
                );
                r.records = n;
                r
            }
        }
    };
    resp.soql = Some(text);
    resp
}

fn processing_halted() -> Value {
    json!([{"errorCode": "PROCESSING_HALTED", "message": PROCESSING_HALTED_MESSAGE}])
}

/// `POST /tooling/composite`.
fn composite(ctx: &mut Ctx<'_>, req: &Req) -> Resp {
    let kind = CallKind::Composite;
    let body = match &req.body {
        Some(Value::Object(m)) => m,
        Some(_) => return json_parser_error(kind, "Expected a JSON object as the request body"),
        None => return json_parser_error(kind, "The request body is empty"),
    };
    let Some(Value::Array(subs)) = body.get("compositeRequest") else {
        return error(400, kind, "INVALID_INPUT", "compositeRequest is required");
    };
    // Same limits and (stand-in) wording as the data API's Composite.
    let limit_exceeded = |message: String| {
        json_resp(
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
    let queries = subs
        .iter()
        .filter(|s| {
            let url = s.get("url").and_then(Value::as_str).unwrap_or("");
            split_data_url(url)
                .is_some_and(|(_, _, p, _)| p.trim_end_matches('/') == "/tooling/query")
        })
        .count();
    if queries > COMPOSITE_MAX_QUERY_OR_COLLECTIONS {
        return limit_exceeded(format!(
            "The request can’t contain more than {COMPOSITE_MAX_QUERY_OR_COLLECTIONS} query operations."
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for s in subs {
        let r = s.get("referenceId").and_then(Value::as_str).unwrap_or("");
        if r.is_empty() || !seen.insert(r.to_owned()) {
            return error(
                400,
                kind,
                "INVALID_INPUT",
                format!("Duplicate or missing referenceId: '{r}'"),
            );
        }
    }
    let all_or_none = matches!(body.get("allOrNone"), Some(Value::Bool(true)));
    let mut before = Some(super::snapshot(&ctx.st.org));
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
        let resp = subrequest(ctx, s, &results);
        let failed = resp.status >= 400;
        if let Some(b) = &resp.body {
            results.insert(ref_id.clone(), b.clone());
        }
        out.push((ref_id, resp.status, resp.body, resp.headers));
        if failed && all_or_none {
            if let Some(b) = before.take() {
                super::restore(&mut ctx.st.org, b);
            }
            halted = true;
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
    let mut r = json_resp(200, kind, json!({"compositeResponse": items}));
    r.records = n;
    r
}

/// One subrequest of a Tooling Composite: references resolved, then served like a
/// top-level Tooling request, and logged as part of the Composite.
fn subrequest(ctx: &mut Ctx<'_>, s: &Value, results: &HashMap<String, Value>) -> Resp {
    let method = s
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let raw_url = s.get("url").and_then(Value::as_str).unwrap_or("");
    let resolved = substitute(raw_url, results, false).and_then(|u| {
        let b = match s.get("body") {
            Some(b) => {
                let text = substitute(&b.to_string(), results, true)?;
                Some(serde_json::from_str::<Value>(&text).map_err(|_| text)?)
            }
            None => None,
        };
        Ok((u, b))
    });
    let (url, body) = match resolved {
        Ok(x) => x,
        Err(expr) => {
            let head = expr.split(['.', '[']).next().unwrap_or("").to_owned();
            return error(
                400,
                CallKind::Other,
                "PROCESSING_HALTED",
                format!(
                    "Invalid reference specified. No value for {expr} found in {head}. Provided referenceId ('{head}') must be defined before it is referenced."
                ),
            );
        }
    };
    let (Ok(m), Some((major, version, path, params))) =
        (Method::from_bytes(method.as_bytes()), split_data_url(&url))
    else {
        return not_found(CallKind::Other);
    };
    let segs: Vec<String> = path
        .split('/')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect();
    if !(MIN_VERSION..=MAX_VERSION).contains(&major)
        || segs.first().map(String::as_str) != Some("tooling")
    {
        return not_found(CallKind::Other);
    }
    let sub = Req {
        method: m,
        path,
        params,
        version,
        batch_size: None,
        allow_duplicate_save: false,
        if_modified_since: None,
        body,
    };
    let rest: Vec<&str> = segs[1..].iter().map(String::as_str).collect();
    let was = ctx.in_composite;
    ctx.in_composite = true;
    let r = dispatch(ctx, &sub, &rest);
    ctx.in_composite = was;
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
