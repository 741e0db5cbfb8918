//! The setup objects `PermissionSet`, `FieldPermissions` and `PermissionSetAssignment`:
//! their records and rules (create, update, validation); the HTTP side (single records,
//! SOQL, sObject Collections) is [`super::perms_http`]. Every successful write re-derives what the integration user
//! sees ([`super::refresh_visibility`]).
//!
//! Rules (object reference, FieldPermissions:
//! <https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_fieldpermissions.htm>;
//! PermissionSetAssignment:
//! <https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_permissionsetassignment.htm>):
//! - `FieldPermissions.Field` is a restricted picklist of permissionable fields
//!   (`Object.Field`): an unknown field, one of another object, or a field that is not
//!   permissionable (required, system) is refused with `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`;
//! - `PermissionsEdit` requires `PermissionsRead`; formula fields take Read only;
//! - one FieldPermissions row per permission set and field (`DUPLICATE_VALUE`);
//! - one assignment per user and permission set: `DUPLICATE_VALUE` "Duplicate
//!   PermissionSetAssignment.  Assignee: <15>; Permission Set: <15>" with fields
//!   `["AssigneeId","PermissionSetId"]` (a recorded Salesforce answer);
//! - a Collections request mixing setup and other objects fails the others with
//!   `MIXED_DML_OPERATION`.
//!
//! The texts of the Edit-needs-Read, formula and duplicate-row errors, and of a duplicate
//! permission set `Name`, are stand-ins with Salesforce's codes.

use serde_json::{Map, Value, json};

use super::{ASSIGNMENT_PREFIX, FIELD_PERMISSIONS_PREFIX, PERMISSION_SET_PREFIX, Setup};
use crate::ids;
use crate::org::{Fields, Org, RecordError};
use crate::schema::{FieldDef, FieldType as T, ObjectDef};

pub const PERMISSION_SET: &str = "PermissionSet";
pub const FIELD_PERMISSIONS: &str = "FieldPermissions";
pub const ASSIGNMENT: &str = "PermissionSetAssignment";

pub fn is_setup_object(name: &str) -> bool {
    [PERMISSION_SET, FIELD_PERMISSIONS, ASSIGNMENT]
        .iter()
        .any(|o| o.eq_ignore_ascii_case(name))
}

pub(super) fn audit() -> Vec<FieldDef> {
    vec![
        FieldDef::new("CreatedDate", "Created Date", T::Datetime, 0).system(true),
        FieldDef::new("CreatedById", "Created By ID", T::Reference, 18)
            .reference(&["User"], "CreatedBy")
            .system(true),
        FieldDef::new("LastModifiedDate", "Last Modified Date", T::Datetime, 0).system(true),
        FieldDef::new("LastModifiedById", "Last Modified By ID", T::Reference, 18)
            .reference(&["User"], "LastModifiedBy")
            .system(true),
        FieldDef::new("SystemModstamp", "System Modstamp", T::Datetime, 0).system(true),
    ]
}

pub(super) fn object(
    name: &str,
    plural: &str,
    prefix: &str,
    mut fields: Vec<FieldDef>,
) -> ObjectDef {
    fields.extend(audit());
    ObjectDef {
        name: name.into(),
        label: name.into(),
        label_plural: plural.into(),
        key_prefix: prefix.into(),
        fields,
    }
}

/// The three objects' metadata (the subset of their fields this org keeps).
pub fn defs() -> Vec<ObjectDef> {
    let id = |label: &str| FieldDef::new("Id", label, T::Id, 18).system(true);
    let create_only = |f: FieldDef| {
        let mut f = f;
        f.updateable = false;
        f
    };
    vec![
        object(
            PERMISSION_SET,
            "Permission Sets",
            PERMISSION_SET_PREFIX,
            vec![
                id("Permission Set ID"),
                FieldDef::new("Name", "Name", T::String, 80).required(),
                FieldDef::new("Label", "Label", T::String, 80).required(),
                FieldDef::new("Description", "Description", T::Textarea, 255),
                FieldDef::new("IsOwnedByProfile", "Is Owned by Profile", T::Boolean, 0)
                    .system(true),
                FieldDef::new("IsCustom", "Custom", T::Boolean, 0).system(true),
                FieldDef::new("NamespacePrefix", "Namespace Prefix", T::String, 15).read_only(),
            ],
        ),
        object(
            FIELD_PERMISSIONS,
            "Field Permissions",
            FIELD_PERMISSIONS_PREFIX,
            vec![
                id("Field Permissions ID"),
                create_only(
                    FieldDef::new("ParentId", "Parent ID", T::Reference, 18)
                        .reference(&[PERMISSION_SET], "Parent")
                        .required(),
                ),
                create_only(
                    FieldDef::new("SobjectType", "Sobject Type Name", T::Picklist, 40).required(),
                ),
                create_only(FieldDef::new("Field", "Field Name", T::Picklist, 255).required()),
                FieldDef::new("PermissionsRead", "Read Access", T::Boolean, 0)
                    .with_default(json!(false)),
                FieldDef::new("PermissionsEdit", "Edit Access", T::Boolean, 0)
                    .with_default(json!(false)),
            ],
        ),
        object(
            ASSIGNMENT,
            "Permission Set Assignments",
            ASSIGNMENT_PREFIX,
            vec![
                id("Permission Set Assignment ID"),
                create_only(
                    FieldDef::new("AssigneeId", "Assignee ID", T::Reference, 18)
                        .reference(&["User"], "Assignee")
                        .required(),
                ),
                create_only(
                    FieldDef::new("PermissionSetId", "Permission Set ID", T::Reference, 18)
                        .reference(&[PERMISSION_SET], "PermissionSet")
                        .required(),
                ),
            ],
        ),
    ]
}

pub(super) fn def_of<'a>(defs: &'a [ObjectDef], name: &str) -> Option<&'a ObjectDef> {
    defs.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

pub(super) fn table<'a>(setup: &'a Setup, object: &str) -> &'a Vec<Fields> {
    match object {
        PERMISSION_SET => &setup.permission_sets,
        FIELD_PERMISSIONS => &setup.field_permissions,
        _ => &setup.assignments,
    }
}

pub(super) fn table_mut<'a>(setup: &'a mut Setup, object: &str) -> &'a mut Vec<Fields> {
    match object {
        PERMISSION_SET => &mut setup.permission_sets,
        FIELD_PERMISSIONS => &mut setup.field_permissions,
        _ => &mut setup.assignments,
    }
}

pub(super) fn text<'a>(rec: &'a Fields, key: &str) -> &'a str {
    rec.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn bad(code: &str, message: impl Into<String>, fields: &[&str]) -> RecordError {
    RecordError::new(
        code,
        message,
        fields.iter().map(|s| (*s).to_owned()).collect(),
    )
}

/// The first 15 characters of an id (how Salesforce names records in some messages).
pub(super) fn id15(id: &str) -> &str {
    id.get(..15).unwrap_or(id)
}

// ------------------------------------------------------------------------------------
// Writes (pure over the org)

/// Field values by canonical name, type-checked against `def`; refuses unknown fields and
/// fields that cannot be set on create (or update).
pub(super) fn coerce(
    def: &ObjectDef,
    input: &Map<String, Value>,
    creating: bool,
) -> Result<Fields, RecordError> {
    let mut out = Fields::new();
    let mut forbidden = Vec::new();
    for (k, v) in input {
        if k == "attributes" || (!creating && k.eq_ignore_ascii_case("id")) {
            continue;
        }
        let Some(f) = def.field(k) else {
            return Err(bad(
                "INVALID_FIELD",
                format!("No such column '{k}' on sobject of type {}", def.name),
                &[],
            ));
        };
        if !(if creating { f.createable } else { f.updateable }) {
            forbidden.push(f.name.clone());
            continue;
        }
        let wrong = || {
            bad(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                format!("{}: value not of required type: {v}", f.label),
                &[f.name.as_str()],
            )
        };
        let value = match (f.ftype, v) {
            (_, Value::Null) => Value::Null,
            (T::Boolean, Value::Bool(b)) => json!(b),
            (T::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => json!(true),
            (T::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => json!(false),
            (T::Boolean, _) => return Err(wrong()),
            (T::Reference | T::Id, Value::String(s)) => match ids::to_18(s) {
                Some(id) => json!(id),
                None => {
                    return Err(bad(
                        "MALFORMED_ID",
                        format!("{}: id value of incorrect type: {s}", f.label),
                        &[f.name.as_str()],
                    ));
                }
            },
            (_, Value::String(s)) => {
                if s.chars().count() > f.length as usize {
                    return Err(bad(
                        "STRING_TOO_LONG",
                        format!(
                            "{}: data value too large: {s} (max length={})",
                            f.label, f.length
                        ),
                        &[f.name.as_str()],
                    ));
                }
                json!(s)
            }
            _ => return Err(wrong()),
        };
        out.insert(f.name.clone(), value);
    }
    if !forbidden.is_empty() {
        return Err(RecordError::new(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                forbidden.join(", ")
            ),
            forbidden,
        ));
    }
    Ok(out)
}

/// A permissionable field of the org named `Object.Field`: (object, field, is formula).
pub(super) fn permissionable(
    org: &Org,
    sobject: &str,
    field: &str,
) -> Option<(String, String, bool)> {
    let (obj, name) = field.split_once('.')?;
    if !obj.eq_ignore_ascii_case(sobject) {
        return None;
    }
    if let Some(c) = org
        .setup
        .created
        .iter()
        .find(|c| c.object.eq_ignore_ascii_case(obj) && c.def.name.eq_ignore_ascii_case(name))
    {
        return (!c.required()).then(|| (c.object.clone(), c.def.name.clone(), false));
    }
    let def = org.object(obj)?;
    let f = def.field(name)?;
    (!f.system && f.nillable && f.name != "Id")
        .then(|| (def.name.clone(), f.name.clone(), f.formula.is_some()))
}

/// Checks a whole record of `object` (after defaults/merge) and canonicalises names.
pub(super) fn validate(
    org: &Org,
    object: &str,
    id: Option<&str>,
    rec: &mut Fields,
) -> Result<(), RecordError> {
    let others = table(&org.setup, object)
        .iter()
        .filter(|r| id.is_none_or(|i| text(r, "Id") != i));
    let blank = |rec: &Fields, k: &str| text(rec, k).trim().is_empty();
    let required: &[&str] = match object {
        PERMISSION_SET => &["Label", "Name"],
        FIELD_PERMISSIONS => &["ParentId", "SobjectType", "Field"],
        _ => &["AssigneeId", "PermissionSetId"],
    };
    let missing: Vec<&str> = required.iter().copied().filter(|k| blank(rec, k)).collect();
    if !missing.is_empty() {
        return Err(bad(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
            &missing,
        ));
    }
    let permission_set_exists = |psid: &str| {
        org.setup
            .permission_sets
            .iter()
            .any(|p| text(p, "Id") == psid)
    };
    match object {
        PERMISSION_SET => {
            let name = text(rec, "Name").to_owned();
            if !super::metadata::valid_developer_name(&name) {
                return Err(bad(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "The API Name can only contain underscores and alphanumeric characters. It must be unique, begin with a letter, not include spaces, not end with an underscore, and not contain two consecutive underscores.",
                    &["Name"],
                ));
            }
            let mut others = others;
            if others.any(|p| text(p, "Name").eq_ignore_ascii_case(&name)) {
                return Err(bad(
                    "DUPLICATE_DEVELOPER_NAME",
                    format!("The API Name {name} is already in use by another permission set."),
                    &["Name"],
                ));
            }
        }
        FIELD_PERMISSIONS => {
            let parent = text(rec, "ParentId").to_owned();
            if !permission_set_exists(&parent) {
                return Err(bad(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    &["ParentId"],
                ));
            }
            let sobject = text(rec, "SobjectType").to_owned();
            let Some(sobject_def) = org.object(&sobject) else {
                return Err(bad(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    format!(
                        "Sobject Type Name: bad value for restricted picklist field: {sobject}"
                    ),
                    &["SobjectType"],
                ));
            };
            let sobject = sobject_def.name.clone();
            let field = text(rec, "Field").to_owned();
            let Some((o, f, formula)) = permissionable(org, &sobject, &field) else {
                return Err(bad(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    format!("Field Name: bad value for restricted picklist field: {field}"),
                    &["Field"],
                ));
            };
            let on = |k: &str| rec.get(k) == Some(&Value::Bool(true));
            if on("PermissionsEdit") && !on("PermissionsRead") {
                return Err(bad(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Permission Edit depends on permission(s): Read",
                    &["PermissionsEdit"],
                ));
            }
            if on("PermissionsEdit") && formula {
                return Err(bad(
                    "FIELD_INTEGRITY_EXCEPTION",
                    format!(
                        "Permission Edit cannot be granted on the formula field {o}.{f}: only Read"
                    ),
                    &["PermissionsEdit"],
                ));
            }
            let full = format!("{o}.{f}");
            let mut others = others;
            if let Some(dup) = others.find(|r| {
                text(r, "ParentId") == parent && text(r, "Field").eq_ignore_ascii_case(&full)
            }) {
                return Err(bad(
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: Field duplicates value on record with id: {}",
                        text(dup, "Id")
                    ),
                    &["Field"],
                ));
            }
            rec.insert("SobjectType".into(), json!(sobject));
            rec.insert("Field".into(), json!(full));
        }
        _ => {
            let assignee = text(rec, "AssigneeId").to_owned();
            if assignee != org.user_id {
                return Err(bad(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    &["AssigneeId"],
                ));
            }
            let ps = text(rec, "PermissionSetId").to_owned();
            if !permission_set_exists(&ps) {
                return Err(bad(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    &["PermissionSetId"],
                ));
            }
            let mut others = others;
            if others.any(|a| text(a, "AssigneeId") == assignee && text(a, "PermissionSetId") == ps)
            {
                return Err(bad(
                    "DUPLICATE_VALUE",
                    format!(
                        "Duplicate PermissionSetAssignment.  Assignee: {}; Permission Set: {}",
                        id15(&assignee),
                        id15(&ps)
                    ),
                    &["AssigneeId", "PermissionSetId"],
                ));
            }
        }
    }
    Ok(())
}

/// Creates a record of a setup object; gives its id.
pub fn create(
    org: &mut Org,
    object: &str,
    input: &Map<String, Value>,
) -> Result<String, RecordError> {
    super::adopt(org);
    let defs = defs();
    let def = def_of(&defs, object).ok_or_else(|| {
        bad(
            "INVALID_TYPE",
            format!("sObject type '{object}' is not supported."),
            &[],
        )
    })?;
    if input.keys().any(|k| k.eq_ignore_ascii_case("id")) {
        return Err(bad(
            "INVALID_FIELD",
            "cannot specify Id in an insert call",
            &["Id"],
        ));
    }
    let mut rec = coerce(def, input, true)?;
    for f in &def.fields {
        if let (false, Some(d)) = (rec.contains_key(&f.name), &f.default_value) {
            rec.insert(f.name.clone(), d.clone());
        }
    }
    validate(org, &def.name, None, &mut rec)?;
    let id = org.setup.mint(&def.key_prefix);
    let t = crate::soql::format_datetime(crate::org::now());
    let mut row = Fields::new();
    row.insert("Id".into(), json!(id));
    row.extend(rec);
    if def.name == PERMISSION_SET {
        row.insert("IsOwnedByProfile".into(), json!(false));
        row.insert("IsCustom".into(), json!(true));
    }
    for k in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
        row.insert(k.into(), json!(t));
    }
    for k in ["CreatedById", "LastModifiedById"] {
        row.insert(k.into(), json!(org.user_id));
    }
    table_mut(&mut org.setup, &def.name).push(row);
    super::refresh_visibility(org);
    Ok(id)
}

/// Updates a record of a setup object (FieldPermissions' access flags, a permission
/// set's label, name and description).
pub fn update(
    org: &mut Org,
    object: &str,
    id: &str,
    input: &Map<String, Value>,
) -> Result<String, (u16, RecordError)> {
    let defs = defs();
    let def = def_of(&defs, object).ok_or_else(|| {
        (
            404,
            bad("NOT_FOUND", "The requested resource does not exist", &[]),
        )
    })?;
    let id18 = ids::to_18(id)
        .filter(|i| i.starts_with(&def.key_prefix))
        .ok_or_else(|| {
            (
                400,
                bad(
                    "MALFORMED_ID",
                    format!("Record ID: id value of incorrect type: {id}"),
                    &["Id"],
                ),
            )
        })?;
    let Some(existing) = table(&org.setup, &def.name)
        .iter()
        .find(|r| text(r, "Id") == id18)
        .cloned()
    else {
        return Err((
            404,
            bad("NOT_FOUND", "The requested resource does not exist", &[]),
        ));
    };
    let changes = coerce(def, input, false).map_err(|e| (400, e))?;
    let mut rec = existing;
    rec.extend(changes);
    validate(org, &def.name, Some(&id18), &mut rec).map_err(|e| (400, e))?;
    let t = crate::soql::format_datetime(crate::org::now());
    rec.insert("LastModifiedDate".into(), json!(t));
    rec.insert("SystemModstamp".into(), json!(t));
    if let Some(slot) = table_mut(&mut org.setup, &def.name)
        .iter_mut()
        .find(|r| text(r, "Id") == id18)
    {
        *slot = rec;
    }
    super::refresh_visibility(org);
    Ok(id18)
}
