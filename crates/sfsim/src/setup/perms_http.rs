//! The HTTP side of the permission-set objects: `/sobjects/{object}` for `PermissionSet`,
//! `FieldPermissions` and `PermissionSetAssignment`, SOQL `FROM` them, and sObject
//! Collections writes carrying them. The records and their rules are in [`super::perms`].

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::perms::*;
use super::rows::{self, Api};
use super::{error, json_parser_error, json_resp, not_found, record_errors};
use crate::api::{COLLECTION_MAX_RECORDS, Ctx, ROLLED_BACK_MESSAGE, Req, Resp};
use crate::control::CallKind;
use crate::ids;
use crate::org::RecordError;

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

/// `/sobjects/{object}[/describe | /{id}]` for the setup objects.
pub(crate) fn sobject(ctx: &mut Ctx<'_>, req: &Req, obj: &str, rest: &[&str]) -> Resp {
    let defs = defs();
    let Some(def) = def_of(&defs, obj) else {
        return not_found(CallKind::Other);
    };
    let name = def.name.clone();
    let org = &mut ctx.st.org;
    match (req.method.as_str(), rest) {
        ("POST", []) => {
            let kind = CallKind::Create;
            let input = match body_object(req, kind) {
                Ok(m) => m,
                Err(r) => return r,
            };
            match create(org, &name, input) {
                Ok(id) => {
                    let mut r =
                        json_resp(201, kind, json!({"id": id, "success": true, "errors": []}));
                    r.records = 1;
                    r.headers.push((
                        "Location",
                        format!("/services/data/v{}/sobjects/{name}/{id}", req.version),
                    ));
                    r
                }
                Err(e) => record_errors(400, kind, &[e]),
            }
        }
        ("GET", []) => json_resp(
            200,
            CallKind::Describe,
            json!({"objectDescribe": def.describe_global_entry(&req.version), "recentItems": []}),
        ),
        ("GET", ["describe"]) => json_resp(
            200,
            CallKind::Describe,
            def.describe(&req.version, Vec::new()),
        ),
        ("GET", [id]) => {
            let kind = CallKind::Retrieve;
            let id18 = ids::to_18(id).unwrap_or_default();
            match table(&org.setup, &name)
                .iter()
                .find(|r| text(r, "Id") == id18)
            {
                Some(rec) => {
                    let mut r = json_resp(
                        200,
                        kind,
                        rows::render_record(def, rec, Api::Data, &req.version),
                    );
                    r.records = 1;
                    r
                }
                None => not_found(kind),
            }
        }
        ("PATCH", [id]) => {
            let kind = CallKind::Update;
            let input = match body_object(req, kind) {
                Ok(m) => m,
                Err(r) => return r,
            };
            match update(org, &name, id, input) {
                Ok(_) => {
                    let mut r = super::json_resp(204, kind, Value::Null);
                    r.body = None;
                    r.records = 1;
                    r
                }
                Err((status, e)) => record_errors(status, kind, &[e]),
            }
        }
        // Deleting setup records is not emulated.
        _ => not_found(CallKind::Other),
    }
}

/// SOQL `FROM` a setup object, or `None` for the data API to answer.
pub(crate) fn query(ctx: &mut Ctx<'_>, req: &Req) -> Option<Resp> {
    let q_param = req
        .params
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.as_str())?;
    // Cheap test first: delivery's lookups are 100,000-character statements, parsed by the
    // data API; parse here only when a setup object may be named.
    let lower = q_param.to_ascii_lowercase();
    if !(lower.contains("permissionset") || lower.contains("fieldpermissions")) {
        return None;
    }
    let from = crate::soql::parse(q_param).ok()?.from;
    if !is_setup_object(&from) {
        return None;
    }
    let text_q = q_param.to_owned();
    let kind = CallKind::Query;
    let defs = defs();
    let mut resp = match rows::parse(&text_q, &defs) {
        Err(e) => error(400, kind, e.code.as_str(), e.message),
        Ok((q, def)) => {
            let setup = &ctx.st.org.setup;
            let ps_def = def_of(&defs, PERMISSION_SET);
            let parent = |id: &str| {
                let rec = setup.permission_sets.iter().find(|r| text(r, "Id") == id)?;
                Some((ps_def?, rec))
            };
            let (total, found) = rows::run(
                &q,
                def,
                table(setup, &def.name),
                &parent,
                Api::Data,
                &req.version,
            );
            let n = found.len();
            let mut r = json_resp(
                200,
                kind,
                json!({"totalSize": total, "done": true, "records": found}),
            );
            r.records = n;
            r
        }
    };
    resp.soql = Some(text_q);
    Some(resp)
}

fn record_type(rec: &Value) -> Option<&str> {
    rec.get("attributes")?.get("type")?.as_str()
}

/// Whether a Collections body holds a record of a setup object.
pub(crate) fn carries_setup_records(req: &Req) -> bool {
    req.body
        .as_ref()
        .and_then(|b| b.get("records"))
        .and_then(Value::as_array)
        .is_some_and(|rs| rs.iter().filter_map(record_type).any(is_setup_object))
}

/// `POST` / `PATCH /composite/sobjects` with setup records (docs/salesforce.md#sobject-collections shapes: results by
/// position, `statusCode` in per-record errors).
pub(crate) fn collections_write(ctx: &mut Ctx<'_>, req: &Req) -> Resp {
    let creating = req.method == Method::POST;
    let kind = if creating {
        CallKind::CollectionsCreate
    } else if req.method == Method::PATCH {
        CallKind::CollectionsUpdate
    } else {
        return not_found(CallKind::Other);
    };
    let body = match body_object(req, kind) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(Value::Array(records)) = body.get("records") else {
        return error(
            400,
            kind,
            "INVALID_FIELD",
            "No records to process: the request must contain a records array",
        );
    };
    if records.len() > COLLECTION_MAX_RECORDS {
        return error(
            400,
            kind,
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {COLLECTION_MAX_RECORDS} records into this call"
            ),
        );
    }
    let all_or_none = matches!(body.get("allOrNone"), Some(Value::Bool(true)));
    let org = &mut ctx.st.org;
    let before = super::snapshot(org);
    let first_setup = records
        .iter()
        .filter_map(record_type)
        .find(|t| is_setup_object(t))
        .unwrap_or("")
        .to_owned();
    let mut results: Vec<Result<String, (Option<String>, RecordError)>> = Vec::new();
    for rec in records {
        let given_id = rec
            .as_object()
            .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned);
        let outcome = match (rec.as_object(), record_type(rec)) {
            (None, _) => Err((
                None,
                bad(
                    "JSON_PARSER_ERROR",
                    "Each record must be a JSON object",
                    &[],
                ),
            )),
            (_, None) => Err((
                given_id,
                bad("INVALID_TYPE", "Must send a concrete entity type.", &[]),
            )),
            (Some(_), Some(t)) if !is_setup_object(t) => Err((
                given_id,
                bad(
                    "MIXED_DML_OPERATION",
                    format!(
                        "DML operation on setup object is not permitted after you have updated a non-setup object (or vice versa): {t}, original object: {first_setup}"
                    ),
                    &[],
                ),
            )),
            (Some(input), Some(t)) => {
                let name = def_of(&defs(), t)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                if creating {
                    create(org, &name, input).map_err(|e| (None, e))
                } else {
                    match &given_id {
                        None => Err((
                            None,
                            bad(
                                "MISSING_ARGUMENT",
                                "Id not specified in an update call",
                                &[],
                            ),
                        )),
                        Some(id) => {
                            update(org, &name, id, input).map_err(|(_, e)| (Some(id.clone()), e))
                        }
                    }
                }
            }
        };
        results.push(outcome);
    }
    let failed = results.iter().any(Result::is_err);
    if all_or_none && failed {
        super::restore(org, before);
    }
    let n = results.len();
    let out: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(_) if all_or_none && failed => json!({"success": false, "errors": [
                {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": ROLLED_BACK_MESSAGE, "fields": []}]}),
            Ok(id) => json!({"id": id, "success": true, "errors": []}),
            Err((id, e)) => {
                let errors = json!([{"statusCode": e.code, "message": e.message, "fields": e.fields}]);
                match id {
                    Some(id) if !creating => json!({"id": id, "success": false, "errors": errors}),
                    _ => json!({"success": false, "errors": errors}),
                }
            }
        })
        .collect();
    let mut r = json_resp(200, kind, Value::Array(out));
    r.records = n;
    r
}
