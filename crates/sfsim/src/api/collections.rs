//! sObject Collections under `/composite/sobjects` (docs/salesforce.md#sobject-collections): create
//! and update of up to 200 records of mixed types, upsert of up to 200 records of one type
//! by an External ID field (docs/salesforce.md#upsert-by-external-id), delete by ids,
//! retrieve by ids. Each record succeeds or fails on its own unless `allOrNone` rolls every
//! record back.

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::records::{lock_check, write_ctx};
use super::{
    COLLECTION_MAX_RECORDS, Ctx, RETRIEVE_MAX_IDS, ROLLED_BACK_MESSAGE, Req, Resp, body_object,
    bool_param, err, record_errors_collection, unknown_object,
};
use crate::control::CallKind;
use crate::ids;
use crate::org::RecordError;

/// `POST` (create) and `PATCH` (update) `/composite/sobjects`
/// (docs/salesforce.md#sobject-collections).
pub(super) fn collections_write(ctx: &mut Ctx<'_>, req: &Req, creating: bool) -> Resp {
    let kind = if creating {
        CallKind::CollectionsCreate
    } else {
        CallKind::CollectionsUpdate
    };
    let (records, all_or_none) = match collection_body(req, kind) {
        Ok(b) => b,
        Err(r) => return r,
    };
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
            // Failed creates carry no id (docs/salesforce.md#sobject-collections); failed updates
            // name the record.
            Err((Some(id), errors)) if !all_or_none || !creating => {
                json!({"id": id, "success": false, "errors": record_errors_collection(&errors)})
            }
            Err((_, errors)) => json!({"success": false, "errors": record_errors_collection(&errors)}),
        })
        .collect();
    Resp::json(200, kind, Value::Array(out)).records(n)
}

/// `PATCH /composite/sobjects/{object}/{field}`: upsert by the External ID `field`
/// (docs/salesforce.md#upsert-by-external-id). Answers per record `{id, success, errors,
/// created}`.
pub(super) fn collections_upsert(ctx: &mut Ctx<'_>, req: &Req, obj: &str, field: &str) -> Resp {
    let kind = CallKind::CollectionsUpsert;
    let Some(def) = ctx.st.org.object(obj) else {
        return unknown_object(kind);
    };
    let object = def.name.clone();
    let Some(fdef) = def.field(field) else {
        return err(
            404,
            kind,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {field}"),
        );
    };
    if !fdef.external_id && !fdef.name.eq_ignore_ascii_case("Id") {
        return err(
            400,
            kind,
            "INVALID_FIELD",
            format!(
                "Field name provided, {} is not an External ID or indexed field for {object}",
                fdef.name
            ),
        );
    }
    let field = fdef.name.clone();
    let (records, all_or_none) = match collection_body(req, kind) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let wctx = write_ctx(req);
    let mark = ctx.undo.mark();
    // A key given twice in one request fails every record that gives it.
    let key_of = |rec: &Value| -> Option<String> {
        let v = rec
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&field))?
            .1
            .as_str()?;
        let case_sensitive = ctx.st.org.object(&object)?.field(&field)?.case_sensitive;
        Some(if case_sensitive {
            v.to_owned()
        } else {
            v.to_lowercase()
        })
    };
    let keys: Vec<Option<String>> = records.iter().map(key_of).collect();
    let mut results: Vec<Result<(String, bool), Vec<RecordError>>> =
        Vec::with_capacity(records.len());
    for (n, rec) in records.iter().enumerate() {
        let Value::Object(input) = rec else {
            results.push(Err(vec![RecordError::new(
                "JSON_PARSER_ERROR",
                "Each record must be a JSON object",
                vec![],
            )]));
            continue;
        };
        let rtype = input
            .get("attributes")
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str);
        let outcome = match rtype {
            None => Err(vec![RecordError::new(
                "INVALID_TYPE",
                "Must send a concrete entity type.",
                vec![],
            )]),
            Some(t) if !t.eq_ignore_ascii_case(&object) => Err(vec![RecordError::new(
                "INVALID_TYPE",
                format!("Records of type {t} cannot be upserted in a request for {object}"),
                vec![],
            )]),
            _ if input.keys().any(|k| k.eq_ignore_ascii_case("Id")) => Err(vec![RecordError::new(
                "INVALID_FIELD",
                "Only external ids are supported: do not send Id in an upsert",
                vec!["Id".into()],
            )]),
            _ if keys[n].is_some() && keys.iter().filter(|k| **k == keys[n]).count() > 1 => {
                Err(vec![RecordError::new(
                    "DUPLICATE_VALUE",
                    format!(
                        "Duplicate external id specified: {}",
                        keys[n].as_deref().unwrap_or_default()
                    ),
                    vec![field.clone()],
                )])
            }
            _ => match lock_check(ctx, &object, None, input) {
                Some(e) => Err(vec![e]),
                None => ctx
                    .st
                    .org
                    .upsert(&object, &field, input, wctx, ctx.undo)
                    .map_err(|e| e.errors),
            },
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
            Ok((id, created)) => json!({"id": id, "success": true, "errors": [], "created": created}),
            Err(errors) => json!({"success": false, "errors": record_errors_collection(&errors)}),
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
pub(super) fn collections_delete(ctx: &mut Ctx<'_>, req: &Req) -> Resp {
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
pub(super) fn collections_retrieve(ctx: &Ctx<'_>, req: &Req, obj: &str) -> Resp {
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

/// A collection request's `records` (at most 200) and `allOrNone`, or Salesforce's answer
/// to a body without them or with too many.
fn collection_body(req: &Req, kind: CallKind) -> Result<(&[Value], bool), Resp> {
    let body = body_object(req, kind)?;
    let all_or_none = bool_param(body.get("allOrNone"));
    let Some(Value::Array(records)) = body.get("records") else {
        return Err(err(
            400,
            kind,
            "INVALID_FIELD",
            "No records to process: the request must contain a records array",
        ));
    };
    if records.len() > COLLECTION_MAX_RECORDS {
        return Err(err(
            400,
            kind,
            "EXCEEDED_ID_LIMIT",
            format!("record limit reached. cannot submit more than {COLLECTION_MAX_RECORDS} records into this call"),
        )
        .records(records.len()));
    }
    Ok((records, all_or_none))
}
