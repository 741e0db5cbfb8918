//! Org setup as an admin tool meets it: custom fields created through the Tooling API,
//! permission sets, field permissions and their assignment, and how they decide what the
//! integration user sees.
//!
//! - [`tooling`]: `/tooling/sobjects/CustomField` (create, retrieve), `/tooling/query`
//!   over `CustomField`, and `/tooling/composite`;
//! - [`perms`]: the setup objects `PermissionSet`, `FieldPermissions` and
//!   `PermissionSetAssignment` through the data API (sObject create/retrieve, SOQL,
//!   sObject Collections);
//! - [`metadata`]: the `Metadata` of a `CustomField` create, validated per type (pure);
//! - [`rows`]: SOQL over the in-memory rows of those objects (sfsim's SOQL parser).
//!
//! The rule that ties them together (Salesforce's field-level security): a field created
//! through the Tooling API exists at once for Tooling queries, but is absent from the
//! data API's describe, SOQL and DML for the integration user until a permission set
//! assigned to that user grants it Read (and Edit to write it), unless the field is
//! required ("universally required fields" are always readable and writable). FieldPermissions
//! reference:
//! <https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_fieldpermissions.htm>.
//! The org's objects hold what the integration user sees (see [`crate::schema`]), so
//! [`refresh_visibility`] rewrites them after every setup write; the data API needs no
//! change to honour the rule.
//!
//! Creating metadata needs the "Customize Application" user permission (Metadata API
//! Developer Guide, "Modify Metadata Through Metadata API Functions Permission":
//! <https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_modify_metadata_perm.htm>).
//! A scenario can take it away (`[user] customize_application = false`); Tooling creates
//! then answer 400 `INSUFFICIENT_ACCESS` with a message naming the permission. Salesforce's
//! exact answer is not documented: `INSUFFICIENT_ACCESS` is the code its Metadata API
//! uses for permission refusals, `INSUFFICIENT_ACCESS_OR_READONLY` is about access to a
//! record (sharing), not a missing user permission, and Tooling sObject creates report
//! save failures with 400 and the error array like data DML does.
//!
//! Writes to these objects are not part of a data Composite's `allOrNone` rollback
//! (Salesforce refuses to mix setup and non-setup DML in one transaction anyway); a
//! Tooling Composite with `allOrNone` rolls back its own creates.

pub mod metadata;
pub mod perms;
mod perms_http;
pub mod rows;
pub mod tooling;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{Ctx, Req, Resp};
use crate::control::CallKind;
use crate::org::{Fields, Org, RecordError, Undo, WriteCtx};
use crate::schema::FieldDef;

/// Key prefixes of the setup objects' ids.
pub const CUSTOM_FIELD_PREFIX: &str = "00N";
pub const PERMISSION_SET_PREFIX: &str = "0PS";
pub const FIELD_PERMISSIONS_PREFIX: &str = "01k";
pub const ASSIGNMENT_PREFIX: &str = "0Pa";

/// What the integration user may do besides reading and writing records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPerms {
    /// "Customize Application": needed to create custom fields.
    pub customize_application: bool,
}

impl Default for UserPerms {
    fn default() -> Self {
        Self {
            customize_application: true,
        }
    }
}

/// The `[user]` table of a scenario: the integration user's permissions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    #[serde(default)]
    pub customize_application: Option<bool>,
}

impl UserSpec {
    pub fn apply(&self, perms: &mut UserPerms) {
        if let Some(c) = self.customize_application {
            perms.customize_application = c;
        }
    }
}

/// A custom field created through the Tooling API.
#[derive(Debug, Clone)]
pub struct CreatedField {
    pub id: String,
    /// The object's API name.
    pub object: String,
    /// The whole field as an admin sees it (name ends in `__c`).
    pub def: FieldDef,
    /// `Metadata` as `GET tooling/sobjects/CustomField/{id}` shows it.
    pub metadata: Value,
    pub created: String,
}

impl CreatedField {
    /// Required fields are readable and writable without field permissions.
    pub fn required(&self) -> bool {
        !self.def.nillable
    }
}

/// The org's setup state (part of [`Org`], so scenarios with a `base` reset it).
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub user: UserPerms,
    pub(crate) created: Vec<CreatedField>,
    /// Tooling ids of custom fields that came with the org (seed or scenario):
    /// (object, field name, id).
    pub(crate) adopted: Vec<(String, String, String)>,
    pub(crate) permission_sets: Vec<Fields>,
    pub(crate) field_permissions: Vec<Fields>,
    pub(crate) assignments: Vec<Fields>,
    counter: u64,
}

impl Setup {
    /// The next id with this key prefix (one counter for all setup objects: ids never repeat).
    pub(crate) fn mint(&mut self, prefix: &str) -> String {
        self.counter += 1;
        crate::ids::mint(prefix, self.counter)
    }
}

/// Handles the requests this module serves — anything under `/tooling/`, and the setup
/// objects through the data API — or `None` to let the data API handle it.
pub(crate) fn route(ctx: &mut Ctx<'_>, req: &Req) -> Option<Resp> {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["tooling", rest @ ..] => Some(tooling::dispatch(ctx, req, rest)),
        ["sobjects", obj, rest @ ..] if perms::is_setup_object(obj) => {
            Some(perms_http::sobject(ctx, req, obj, rest))
        }
        ["query" | "queryAll"] => perms_http::query(ctx, req),
        ["composite", "sobjects"] if perms_http::carries_setup_records(req) => {
            Some(perms_http::collections_write(ctx, req))
        }
        _ => None,
    }
}

// ------------------------------------------------------------------------------------
// Responses in Salesforce's shapes

pub(crate) fn json_resp(status: u16, kind: CallKind, body: Value) -> Resp {
    Resp {
        status,
        body: Some(body),
        headers: Vec::new(),
        kind,
        records: 0,
        soql: None,
    }
}

/// The REST error array with one error.
pub(crate) fn error(status: u16, kind: CallKind, code: &str, message: impl Into<String>) -> Resp {
    json_resp(
        status,
        kind,
        json!([{"message": message.into(), "errorCode": code, "fields": []}]),
    )
}

/// The REST error array of record errors (`errorCode`).
pub(crate) fn record_errors(status: u16, kind: CallKind, errors: &[RecordError]) -> Resp {
    let body: Vec<Value> = errors
        .iter()
        .map(|e| json!({"message": e.message, "errorCode": e.code, "fields": e.fields}))
        .collect();
    json_resp(status, kind, Value::Array(body))
}

pub(crate) fn not_found(kind: CallKind) -> Resp {
    error(
        404,
        kind,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

pub(crate) fn json_parser_error(kind: CallKind, msg: &str) -> Resp {
    error(400, kind, "JSON_PARSER_ERROR", msg)
}

// ------------------------------------------------------------------------------------
// Visibility

/// `Object.Field` as FieldPermissions spells it, lowercased for comparisons.
pub(crate) fn full_key(object: &str, field: &str) -> String {
    format!("{object}.{field}").to_ascii_lowercase()
}

/// Gives every custom field that came with the org (not through the Tooling API) a
/// Tooling id, and forgets the ids of fields a scenario removed.
pub(crate) fn adopt(org: &mut Org) {
    let mut present = Vec::new();
    for o in &org.objects {
        for f in o.def.fields.iter().filter(|f| f.custom) {
            let created = org.setup.created.iter().any(|c| {
                c.object.eq_ignore_ascii_case(&o.def.name)
                    && c.def.name.eq_ignore_ascii_case(&f.name)
            });
            if !created {
                present.push((o.def.name.clone(), f.name.clone()));
            }
        }
    }
    let setup = &mut org.setup;
    setup
        .adopted
        .retain(|(o, n, _)| present.iter().any(|(po, pn)| po == o && pn == n));
    for (o, n) in present {
        if !setup.adopted.iter().any(|(ao, an, _)| *ao == o && *an == n) {
            let id = setup.mint(CUSTOM_FIELD_PREFIX);
            setup.adopted.push((o, n, id));
        }
    }
}

/// (read, edit) granted to the integration user through assigned permission sets, by
/// [`full_key`].
fn granted(org: &Org) -> std::collections::HashMap<String, (bool, bool)> {
    let assigned: Vec<&str> = org
        .setup
        .assignments
        .iter()
        .filter(|a| a.get("AssigneeId").and_then(Value::as_str) == Some(org.user_id.as_str()))
        .filter_map(|a| a.get("PermissionSetId").and_then(Value::as_str))
        .collect();
    let mut out = std::collections::HashMap::new();
    for fp in &org.setup.field_permissions {
        let parent = fp.get("ParentId").and_then(Value::as_str).unwrap_or("");
        if !assigned.contains(&parent) {
            continue;
        }
        let Some(field) = fp.get("Field").and_then(Value::as_str) else {
            continue;
        };
        let flag = |k: &str| fp.get(k) == Some(&Value::Bool(true));
        let e = out
            .entry(field.to_ascii_lowercase())
            .or_insert((false, false));
        e.0 |= flag("PermissionsRead");
        e.1 |= flag("PermissionsEdit");
    }
    out
}

/// Rewrites the objects' fields to what the integration user now sees: Tooling-created
/// fields appear once Read is granted (or when required) and are writable with Edit;
/// fields that came with the org gain Edit when a grant gives it. Grants only add access
/// (field permissions are never deleted here). Moves `metadata_modified` when anything
/// changed, so cached describes are not answered 304.
pub(crate) fn refresh_visibility(org: &mut Org) {
    let grants = granted(org);
    let mut changed = false;
    let created = org.setup.created.clone();
    for c in &created {
        let (read, edit) = if c.required() {
            (true, true)
        } else {
            grants
                .get(&full_key(&c.object, &c.def.name))
                .copied()
                .unwrap_or((false, false))
        };
        let Some(store) = org.object_mut(&c.object) else {
            continue;
        };
        let fields = &mut store.def.fields;
        let pos = fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(&c.def.name));
        match (read, pos) {
            (true, None) => {
                let mut d = c.def.clone();
                d.createable = edit && d.formula.is_none();
                d.updateable = d.createable;
                fields.push(d);
                changed = true;
            }
            (true, Some(i)) => {
                let writable = edit && fields[i].formula.is_none();
                if fields[i].createable != writable || fields[i].updateable != writable {
                    fields[i].createable = writable;
                    fields[i].updateable = writable;
                    changed = true;
                }
            }
            (false, Some(i)) => {
                fields.remove(i);
                changed = true;
            }
            (false, None) => {}
        }
    }
    for (key, (_, edit)) in &grants {
        if !edit {
            continue;
        }
        let Some((object, field)) = key.split_once('.') else {
            continue;
        };
        let is_created = created
            .iter()
            .any(|c| full_key(&c.object, &c.def.name) == *key);
        if is_created {
            continue;
        }
        let Some(store) = org.object_mut(object) else {
            continue;
        };
        if let Some(f) = store
            .def
            .fields
            .iter_mut()
            .find(|f| f.name.eq_ignore_ascii_case(field))
        {
            if f.formula.is_none() && !f.system && !(f.createable && f.updateable) {
                f.createable = true;
                f.updateable = true;
                changed = true;
            }
        }
    }
    if changed {
        touch_metadata(org);
    }
}

/// Moves `metadata_modified` to a later whole second (describe's `If-Modified-Since` has
/// one-second precision).
pub(crate) fn touch_metadata(org: &mut Org) {
    let prev = org.metadata_modified;
    let t = crate::org::now().max(prev + time::Duration::seconds(1));
    org.metadata_modified = t.replace_nanosecond(0).unwrap_or(t);
}

/// What allOrNone restores: the setup state and the objects' fields.
pub(crate) struct Snapshot {
    setup: Setup,
    fields: Vec<Vec<FieldDef>>,
    modified: time::OffsetDateTime,
}

pub(crate) fn snapshot(org: &Org) -> Snapshot {
    Snapshot {
        setup: org.setup.clone(),
        fields: org.objects.iter().map(|o| o.def.fields.clone()).collect(),
        modified: org.metadata_modified,
    }
}

pub(crate) fn restore(org: &mut Org, s: Snapshot) {
    org.setup = s.setup;
    for (o, f) in org.objects.iter_mut().zip(s.fields) {
        o.def.fields = f;
    }
    org.metadata_modified = s.modified;
}

// ------------------------------------------------------------------------------------
// The bare org

/// The default org without any TrailSpark field: the data and rules of the default org,
/// with every `TrailSpark_*` field removed from Lead, Contact and Account (and their
/// values cleared, so a field created again starts empty). The scenario `base = "bare"`
/// (or `sfsim --scenario bare`) loads it.
pub fn bare_org() -> Org {
    let mut org = crate::seed::default_org();
    let ours = |name: &str| name.starts_with("TrailSpark_");
    let system = WriteCtx {
        system: true,
        ..WriteCtx::default()
    };
    for object in ["Lead", "Contact", "Account"] {
        let names: Vec<String> = org
            .object(object)
            .map(|d| {
                d.fields
                    .iter()
                    .filter(|f| ours(&f.name))
                    .map(|f| f.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        for rec in org.records(object) {
            let held: Vec<&String> = names
                .iter()
                .filter(|n| rec.get(*n).is_some_and(|v| !v.is_null()))
                .collect();
            if held.is_empty() {
                continue;
            }
            let mut input = Fields::new();
            for n in held {
                input.insert(n.clone(), Value::Null);
            }
            // Keep the record's modification stamps: clearing is not an edit anyone made.
            for k in ["LastModifiedDate", "SystemModstamp"] {
                if let Some(v) = rec.get(k) {
                    input.insert(k.to_owned(), v.clone());
                }
            }
            let id = rec
                .get("Id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            // Built from the default org's own records; a failure is a bug here.
            if let Err(e) = org.update(Some(object), &id, &input, system, &mut Undo::default()) {
                panic!("bare org: clearing {object} {id} refused: {e:?}");
            }
        }
        if let Some(store) = org.object_mut(object) {
            store.def.fields.retain(|f| !ours(&f.name));
        }
    }
    org
}

impl crate::scenario::Scenario {
    /// The scenario that loads [`bare_org`] (`base = "bare"`).
    pub fn bare() -> crate::scenario::Scenario {
        crate::scenario::Scenario {
            base: Some(crate::scenario::Base::Bare),
            ..crate::scenario::Scenario::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_org_has_no_trailspark_field_and_keeps_the_data() {
        let bare = bare_org();
        let default = crate::seed::default_org();
        for o in ["Lead", "Contact", "Account"] {
            let def = bare.object(o).unwrap();
            assert!(
                def.fields
                    .iter()
                    .all(|f| !f.name.starts_with("TrailSpark_")),
                "{o}"
            );
            assert_eq!(bare.records(o).len(), default.records(o).len(), "{o}");
        }
        let held = bare
            .records("Account")
            .iter()
            .filter(|r| {
                r.get("TrailSpark_Propensity__c")
                    .is_some_and(|v| !v.is_null())
            })
            .count();
        assert_eq!(held, 0);
    }
}
