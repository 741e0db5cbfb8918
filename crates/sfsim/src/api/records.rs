//! Single-record CRUD under `/sobjects/{object}[/{id}]` (docs/salesforce.md#single-records), and
//! the checks every record write shares with Collections: injected record locks and the
//! row-lock emulation (UNABLE_TO_LOCK_ROW), and the write context a request asks for.

use serde_json::{Map, Value, json};

use super::{
    Ctx, Req, Resp, body_object, err, not_found, record_errors_rest, unknown_object, write_err,
};
use crate::control::CallKind;
use crate::ids;
use crate::org::{RecordError, WriteCtx};

/// Fault injection and row-lock emulation for one record write; an error means the
/// record fails with UNABLE_TO_LOCK_ROW.
pub(super) fn lock_check(
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
        if faults
            .locked_until
            .get(&id18)
            .is_some_and(|until| time::OffsetDateTime::now_utc() < *until)
        {
            return Some(lock_err(&id18));
        }
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

pub(super) fn write_ctx(req: &Req) -> WriteCtx {
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

pub(super) fn create_one(ctx: &mut Ctx<'_>, req: &Req, obj: &str) -> Resp {
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

pub(super) fn get_one(ctx: &Ctx<'_>, req: &Req, obj: &str, id: &str) -> Resp {
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

pub(super) fn update_one(ctx: &mut Ctx<'_>, req: &Req, obj: &str, id: &str) -> Resp {
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

pub(super) fn delete_one(ctx: &mut Ctx<'_>, obj: &str, id: &str) -> Resp {
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
