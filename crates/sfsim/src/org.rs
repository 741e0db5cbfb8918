//! The org's data: objects with their metadata, records in memory, validation of writes
//! as Salesforce performs it, declarative validation and duplicate rules, queries.
//!
//! Everything here is synchronous and works on `&mut Org` under one lock held by the
//! caller for the duration of one API call (or one whole Composite request), so a write
//! and its rollback are atomic. Callers never hold that lock across an `.await`.
//!
//! Order of checks on a write follows what Salesforce reports first: record state
//! (deleted, converted lead), unknown fields, field-level security, value types and
//! lengths, required fields, validation rules, duplicate rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::ids;
use crate::schema::{FieldType, Formula, ObjectDef};
use crate::soql::{self, Query};

/// A record's fields by canonical API name (insertion ordered).
pub type Fields = Map<String, Value>;

/// One error of one record, as Salesforce reports it (`errorCode`/`statusCode`,
/// `message`, `fields`, plus `duplicateResult` for duplicate-rule errors).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    pub code: String,
    pub message: String,
    pub fields: Vec<String>,
    pub duplicate_result: Option<Value>,
}

impl RecordError {
    pub fn new(code: &str, message: impl Into<String>, fields: Vec<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            fields,
            duplicate_result: None,
        }
    }
}

/// What a failed write answers: the errors and the HTTP status the single-record REST
/// endpoints use for it (404 for deleted/missing records, 400 otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteError {
    pub status: u16,
    pub errors: Vec<RecordError>,
}

impl WriteError {
    fn one(status: u16, e: RecordError) -> Self {
        Self {
            status,
            errors: vec![e],
        }
    }
    fn bad(code: &str, message: impl Into<String>, fields: Vec<String>) -> Self {
        Self::one(400, RecordError::new(code, message, fields))
    }
}

/// A declarative validation rule (Setup → Validation Rules), in the forms scenarios need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationRule {
    pub name: String,
    pub object: String,
    /// The error message shown to users and returned by the API.
    pub message: String,
    /// The field the error is displayed at (`fields` of the error), if any.
    #[serde(default)]
    pub error_field: Option<String>,
    pub condition: RuleCondition,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// When a validation rule fires (Salesforce fires when the formula is true).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleCondition {
    /// `field` equals `value` (strings case-insensitively).
    Equals { field: String, value: Value },
    /// `field` is blank while `when_field` equals `when_value` (or is not blank when no
    /// value is given).
    RequiredWhen {
        field: String,
        when_field: String,
        #[serde(default)]
        when_value: Option<Value>,
    },
    /// `field` is longer than `max` characters.
    LongerThan { field: String, max: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateAction {
    /// Warn; the save goes through with `Sforce-Duplicate-Rule-Header: allowSave=true`.
    Alert,
    /// Always refuse.
    Block,
}

/// A duplicate rule with an exact, case-insensitive matching rule on one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateRule {
    pub name: String,
    pub object: String,
    #[serde(default = "email_field")]
    pub field: String,
    pub action: DuplicateAction,
    #[serde(default = "yes")]
    pub on_create: bool,
    #[serde(default)]
    pub on_update: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn email_field() -> String {
    "Email".to_owned()
}

/// Salesforce's default duplicate-alert text (§10, recorded response).
pub const DUPLICATE_MESSAGE: &str =
    "You're creating a duplicate record. We recommend you use an existing record instead.";

/// The records of one object and its email index.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub def: ObjectDef,
    /// By 18-char id; ids sort in creation order (see `ids`).
    records: BTreeMap<String, Fields>,
    /// Lowercased Email → ids, so `Email = ` / `Email IN (...)` lookups of thousands of
    /// values do not scan.
    email_index: HashMap<String, BTreeSet<String>>,
    counter: u64,
}

impl ObjectStore {
    pub fn new(def: ObjectDef) -> Self {
        Self {
            def,
            records: BTreeMap::new(),
            email_index: HashMap::new(),
            counter: 0,
        }
    }

    fn index(&mut self, id: &str, fields: &Fields, add: bool) {
        if let Some(Value::String(e)) = fields.get("Email") {
            let key = e.to_lowercase();
            if add {
                self.email_index
                    .entry(key)
                    .or_default()
                    .insert(id.to_owned());
            } else if let Some(set) = self.email_index.get_mut(&key) {
                set.remove(id);
                if set.is_empty() {
                    self.email_index.remove(&key);
                }
            }
        }
    }

    /// Replaces (or removes) a record, keeping the index right.
    fn put(&mut self, id: &str, fields: Option<Fields>) {
        if let Some(old) = self.records.remove(id) {
            self.index(id, &old, false);
        }
        if let Some(f) = fields {
            self.index(id, &f, true);
            self.records.insert(id.to_owned(), f);
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Previous states of records touched by a transaction, for rollback.
#[derive(Debug, Default)]
pub struct Undo {
    entries: Vec<(usize, String, Option<Fields>)>,
}

impl Undo {
    /// A point to roll back to.
    pub fn mark(&self) -> usize {
        self.entries.len()
    }
}

/// How a write is performed.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteCtx {
    /// `Sforce-Duplicate-Rule-Header: allowSave=true` was sent.
    pub allow_duplicate_save: bool,
    /// Control-plane writes: no field-level security, system fields may be set.
    pub system: bool,
}

/// The whole org.
#[derive(Debug, Clone)]
pub struct Org {
    pub objects: Vec<ObjectStore>,
    pub validation_rules: Vec<ValidationRule>,
    pub duplicate_rules: Vec<DuplicateRule>,
    /// The integration user (owner and last modifier of records it writes).
    pub user_id: String,
    /// Changes whenever metadata changes; drives describe's `If-Modified-Since`.
    pub metadata_modified: OffsetDateTime,
    /// Custom fields made through the Tooling API, permission sets, field permissions.
    pub setup: crate::setup::Setup,
}

/// Now, truncated to milliseconds as Salesforce stores it.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond((t.nanosecond() / 1_000_000) * 1_000_000)
        .unwrap_or(t)
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

fn values_equal(a: Option<&Value>, b: &Value) -> bool {
    match (a.unwrap_or(&Value::Null), b) {
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        (x, y) => soql::compare_values(x, y) == Some(std::cmp::Ordering::Equal) || x == y,
    }
}

/// Loose email syntax check (Salesforce's is stricter but similar in spirit).
fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
}

impl Org {
    pub fn new(defs: Vec<ObjectDef>, user_id: &str) -> Self {
        Self {
            objects: defs.into_iter().map(ObjectStore::new).collect(),
            validation_rules: Vec::new(),
            duplicate_rules: Vec::new(),
            user_id: user_id.to_owned(),
            metadata_modified: {
                let t = now();
                t.replace_nanosecond(0).unwrap_or(t)
            },
            setup: crate::setup::Setup::default(),
        }
    }

    fn slot(&self, name: &str) -> Option<usize> {
        self.objects
            .iter()
            .position(|o| o.def.name.eq_ignore_ascii_case(name))
    }

    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.slot(name).map(|i| &self.objects[i].def)
    }

    pub fn object_mut(&mut self, name: &str) -> Option<&mut ObjectStore> {
        self.slot(name).map(|i| &mut self.objects[i])
    }

    pub fn store(&self, name: &str) -> Option<&ObjectStore> {
        self.slot(name).map(|i| &self.objects[i])
    }

    fn slot_of_id(&self, id18: &str) -> Option<usize> {
        let prefix = id18.get(..3)?;
        self.objects.iter().position(|o| o.def.key_prefix == prefix)
    }

    /// A record by id (15 or 18 chars), deleted ones included.
    pub fn get(&self, id: &str) -> Option<(&ObjectDef, &Fields)> {
        let id18 = ids::to_18(id)?;
        let s = &self.objects[self.slot_of_id(&id18)?];
        s.records.get(&id18).map(|f| (&s.def, f))
    }

    pub fn records(&self, object: &str) -> Vec<Fields> {
        self.store(object)
            .map(|s| s.records.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Reverts the writes recorded after `mark` (see [`Undo::mark`]), newest first.
    pub fn rollback_to(&mut self, undo: &mut Undo, mark: usize) {
        let tail: Vec<_> = undo.entries.drain(mark.min(undo.entries.len())..).collect();
        for (slot, id, prev) in tail.into_iter().rev() {
            self.objects[slot].put(&id, prev);
        }
    }

    fn save(&mut self, slot: usize, id: &str, fields: Option<Fields>, undo: &mut Undo) {
        let prev = self.objects[slot].records.get(id).cloned();
        undo.entries.push((slot, id.to_owned(), prev));
        self.objects[slot].put(id, fields);
    }

    /// The Account ids a write to this record locks, for the row-lock emulation:
    /// Salesforce locks the parent Account when a Contact is inserted or updated, and
    /// the Account itself when it is updated.
    pub fn parent_accounts(&self, object: &str, id: Option<&str>, input: &Fields) -> Vec<String> {
        let mut out = Vec::new();
        if object.eq_ignore_ascii_case("Account") {
            out.extend(id.and_then(ids::to_18));
            return out;
        }
        if !object.eq_ignore_ascii_case("Contact") {
            return out;
        }
        if let Some(Value::String(a)) = input
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("AccountId"))
            .map(|(_, v)| v)
        {
            out.extend(ids::to_18(a));
        }
        if let Some((_, Some(Value::String(a)))) = id
            .and_then(|i| self.get(i))
            .map(|(_, f)| (f, f.get("AccountId")))
        {
            out.push(a.clone());
        }
        out.sort();
        out.dedup();
        out
    }

    // --------------------------------------------------------------------------------
    // Writes

    pub fn create(
        &mut self,
        object: &str,
        input: &Fields,
        ctx: WriteCtx,
        undo: &mut Undo,
    ) -> Result<String, WriteError> {
        let slot = self.slot(object).ok_or_else(|| {
            WriteError::one(
                404,
                RecordError::new("NOT_FOUND", "The requested resource does not exist", vec![]),
            )
        })?;
        let mut fields = self.coerce_input(slot, input, true, ctx)?;
        let def = &self.objects[slot].def;
        // Defaults for absent fields.
        for f in &def.fields {
            if !fields.contains_key(&f.name) {
                if let Some(d) = &f.default_value {
                    fields.insert(f.name.clone(), d.clone());
                }
            }
        }
        let missing: Vec<String> = def
            .fields
            .iter()
            .filter(|f| f.required_on_create() && is_blank(fields.get(&f.name)))
            .map(|f| f.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(WriteError::bad(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
                missing,
            ));
        }
        let id = match fields
            .get("Id")
            .and_then(Value::as_str)
            .and_then(ids::to_18)
        {
            Some(id) if ctx.system => id,
            _ => {
                let store = &mut self.objects[slot];
                loop {
                    store.counter += 1;
                    let id = ids::mint(&store.def.key_prefix, store.counter);
                    if !store.records.contains_key(&id) {
                        break id;
                    }
                }
            }
        };
        let t = soql::format_datetime(now());
        let system_defaults = [
            ("Id", json!(id)),
            ("IsDeleted", json!(false)),
            ("CreatedDate", json!(t)),
            ("CreatedById", json!(self.user_id)),
            ("LastModifiedDate", json!(t)),
            ("LastModifiedById", json!(self.user_id)),
            ("SystemModstamp", json!(t)),
            ("OwnerId", json!(self.user_id)),
            ("IsConverted", json!(false)),
        ];
        for (k, v) in system_defaults {
            if self.objects[slot].def.field(k).is_some() && (!fields.contains_key(k) || (k == "Id"))
            {
                fields.insert(k.to_owned(), v);
            }
        }
        self.finish(slot, &id, fields, true, ctx, undo)?;
        Ok(id)
    }

    pub fn update(
        &mut self,
        object: Option<&str>,
        id: &str,
        input: &Fields,
        ctx: WriteCtx,
        undo: &mut Undo,
    ) -> Result<String, WriteError> {
        let (slot, id18, existing) = self.existing(object, id)?;
        if existing.get("IsConverted") == Some(&Value::Bool(true)) && !ctx.system {
            // §9.1: converted leads are read-only for the API.
            return Err(WriteError::bad(
                "CANNOT_UPDATE_CONVERTED_LEAD",
                "cannot reference converted lead",
                vec![],
            ));
        }
        let changes = self.coerce_input(slot, input, false, ctx)?;
        let mut fields = existing;
        let def = &self.objects[slot].def;
        let cleared: Vec<String> = def
            .fields
            .iter()
            .filter(|f| {
                !f.nillable
                    && f.createable
                    && changes.contains_key(&f.name)
                    && is_blank(changes.get(&f.name))
            })
            .map(|f| f.name.clone())
            .collect();
        if !cleared.is_empty() {
            return Err(WriteError::bad(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", cleared.join(", ")),
                cleared,
            ));
        }
        for (k, v) in changes {
            fields.insert(k, v);
        }
        let t = soql::format_datetime(now());
        for k in ["LastModifiedDate", "SystemModstamp"] {
            if !(ctx.system && input.contains_key(k)) {
                fields.insert(k.to_owned(), json!(t));
            }
        }
        fields.insert("LastModifiedById".into(), json!(self.user_id));
        self.finish(slot, &id18, fields, false, ctx, undo)?;
        Ok(id18)
    }

    pub fn delete(
        &mut self,
        object: Option<&str>,
        id: &str,
        undo: &mut Undo,
    ) -> Result<String, WriteError> {
        let (slot, id18, mut fields) = self.existing(object, id)?;
        fields.insert("IsDeleted".into(), json!(true));
        let t = soql::format_datetime(now());
        fields.insert("SystemModstamp".into(), json!(t));
        self.save(slot, &id18, Some(fields), undo);
        Ok(id18)
    }

    /// The live record an update/delete addresses, or the error Salesforce gives.
    fn existing(
        &self,
        object: Option<&str>,
        id: &str,
    ) -> Result<(usize, String, Fields), WriteError> {
        let malformed = || {
            WriteError::bad(
                "MALFORMED_ID",
                format!("Record ID: id value of incorrect type: {id}"),
                vec!["Id".into()],
            )
        };
        let id18 = ids::to_18(id).ok_or_else(malformed)?;
        let slot = self.slot_of_id(&id18).ok_or_else(malformed)?;
        if let Some(o) = object {
            if !self.objects[slot].def.name.eq_ignore_ascii_case(o) {
                return Err(malformed());
            }
        }
        let Some(fields) = self.objects[slot].records.get(&id18) else {
            return Err(WriteError::one(
                404,
                RecordError::new("NOT_FOUND", "The requested resource does not exist", vec![]),
            ));
        };
        if fields.get("IsDeleted") == Some(&Value::Bool(true)) {
            return Err(WriteError::one(
                404,
                RecordError::new("ENTITY_IS_DELETED", "entity is deleted", vec![]),
            ));
        }
        Ok((slot, id18, fields.clone()))
    }

    /// Validation rules, duplicate rules, formulas, then the save.
    fn finish(
        &mut self,
        slot: usize,
        id: &str,
        mut fields: Fields,
        creating: bool,
        ctx: WriteCtx,
        undo: &mut Undo,
    ) -> Result<(), WriteError> {
        let obj = self.objects[slot].def.name.clone();
        if !ctx.system {
            for rule in self
                .validation_rules
                .iter()
                .filter(|r| r.active && r.object.eq_ignore_ascii_case(&obj))
            {
                let get = |name: &str| {
                    fields
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                };
                let fires = match &rule.condition {
                    RuleCondition::Equals { field, value } => values_equal(get(field), value),
                    RuleCondition::RequiredWhen {
                        field,
                        when_field,
                        when_value,
                    } => {
                        let when = match when_value {
                            Some(v) => values_equal(get(when_field), v),
                            None => !is_blank(get(when_field)),
                        };
                        when && is_blank(get(field))
                    }
                    RuleCondition::LongerThan { field, max } => get(field)
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.chars().count() > *max),
                };
                if fires {
                    return Err(WriteError::bad(
                        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                        rule.message.clone(),
                        rule.error_field.iter().cloned().collect(),
                    ));
                }
            }
            self.check_duplicates(slot, id, &fields, creating, ctx)?;
        }
        let def = &self.objects[slot].def;
        let formulas: Vec<(String, Formula)> = def
            .fields
            .iter()
            .filter_map(|f| f.formula.clone().map(|x| (f.name.clone(), x)))
            .collect();
        for (name, formula) in formulas {
            let v = match &formula {
                Formula::EmailDomain { field } => fields
                    .get(field)
                    .and_then(Value::as_str)
                    .and_then(|e| e.split_once('@'))
                    .map_or(Value::Null, |(_, d)| json!(d.to_lowercase())),
                Formula::IsSet { field } => json!(!is_blank(fields.get(field))),
                Formula::FullName => {
                    let parts: Vec<&str> = ["FirstName", "LastName"]
                        .iter()
                        .filter_map(|k| fields.get(*k).and_then(Value::as_str))
                        .collect();
                    if parts.is_empty() {
                        Value::Null
                    } else {
                        json!(parts.join(" "))
                    }
                }
            };
            fields.insert(name, v);
        }
        self.save(slot, id, Some(fields), undo);
        Ok(())
    }

    fn check_duplicates(
        &self,
        slot: usize,
        id: &str,
        fields: &Fields,
        creating: bool,
        ctx: WriteCtx,
    ) -> Result<(), WriteError> {
        let store = &self.objects[slot];
        for rule in self.duplicate_rules.iter().filter(|r| {
            r.active
                && r.object.eq_ignore_ascii_case(&store.def.name)
                && if creating { r.on_create } else { r.on_update }
        }) {
            let Some(Value::String(v)) = fields.get(&rule.field) else {
                continue;
            };
            let needle = v.to_lowercase();
            let matches: Vec<&String> = if rule.field.eq_ignore_ascii_case("Email") {
                store
                    .email_index
                    .get(&needle)
                    .map(|s| s.iter().collect())
                    .unwrap_or_default()
            } else {
                store
                    .records
                    .iter()
                    .filter(|(_, r)| matches!(r.get(&rule.field), Some(Value::String(s)) if s.to_lowercase() == needle))
                    .map(|(k, _)| k)
                    .collect()
            };
            let matches: Vec<&String> = matches
                .into_iter()
                .filter(|m| *m != id)
                .filter(|m| {
                    store.records.get(*m).and_then(|r| r.get("IsDeleted"))
                        != Some(&Value::Bool(true))
                })
                .collect();
            if matches.is_empty() {
                continue;
            }
            let allow = rule.action == DuplicateAction::Alert;
            if allow && ctx.allow_duplicate_save {
                continue;
            }
            let message = rule
                .message
                .clone()
                .unwrap_or_else(|| DUPLICATE_MESSAGE.to_owned());
            let obj = &store.def.name;
            let match_records: Vec<Value> = matches
                .iter()
                .map(|m| {
                    json!({"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                           "record": {"attributes": {"type": obj, "url": format!("/services/data/v{}/sobjects/{obj}/{m}", crate::api::LATEST_VERSION)}, "Id": m}})
                })
                .collect();
            // Shape of §10's recorded response.
            let dup = json!({
                "allowSave": allow,
                "duplicateRule": rule.name,
                "duplicateRuleEntityType": obj,
                "errorMessage": message,
                "matchResults": [{
                    "entityType": obj,
                    "errors": [],
                    "matchEngine": "ExactMatchEngine",
                    "matchRecords": match_records,
                    "rule": format!("{}_Match_Rule", rule.name),
                    "size": matches.len(),
                    "success": true,
                }],
            });
            let mut e = RecordError::new("DUPLICATES_DETECTED", message, vec![]);
            e.duplicate_result = Some(dup);
            return Err(WriteError::one(400, e));
        }
        Ok(())
    }

    /// Maps input names to canonical names and values to canonical forms, refusing
    /// unknown fields, fields the user may not write, and ill-typed values.
    fn coerce_input(
        &self,
        slot: usize,
        input: &Fields,
        creating: bool,
        ctx: WriteCtx,
    ) -> Result<Fields, WriteError> {
        let def = &self.objects[slot].def;
        let mut out = Fields::new();
        let mut forbidden = Vec::new();
        for (k, v) in input {
            if k == "attributes" {
                continue;
            }
            // Updates carry the record's id in the body (collections: `id` or `Id`).
            if !creating && k.eq_ignore_ascii_case("id") {
                continue;
            }
            let Some(f) = def.field(k) else {
                return Err(WriteError::bad(
                    "INVALID_FIELD",
                    format!("No such column '{k}' on sobject of type {}", def.name),
                    vec![],
                ));
            };
            if !ctx.system {
                let allowed = if creating { f.createable } else { f.updateable };
                if !allowed {
                    forbidden.push(f.name.clone());
                    continue;
                }
            }
            out.insert(f.name.clone(), v.clone());
        }
        if !forbidden.is_empty() {
            return Err(WriteError::bad(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!(
                    "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                    forbidden.join(", ")
                ),
                forbidden,
            ));
        }
        let mut canon = Fields::new();
        for (name, v) in out {
            let Some(f) = def.field(&name) else { continue };
            let label = &f.label;
            let text = |v: &Value| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            let wrong_type = |v: &Value| {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                WriteError::bad(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    format!("{label}: value not of required type: {shown}"),
                    vec![f.name.clone()],
                )
            };
            let value = if v.is_null() {
                Value::Null
            } else {
                match f.ftype {
                    FieldType::String
                    | FieldType::Textarea
                    | FieldType::Email
                    | FieldType::Url
                    | FieldType::Phone
                    | FieldType::Picklist => {
                        let s = text(&v).ok_or_else(|| wrong_type(&v))?;
                        if s.is_empty() {
                            Value::Null
                        } else {
                            if s.chars().count() > f.length as usize {
                                return Err(WriteError::bad(
                                    "STRING_TOO_LONG",
                                    format!(
                                        "{label}: data value too large: {s} (max length={})",
                                        f.length
                                    ),
                                    vec![f.name.clone()],
                                ));
                            }
                            if f.ftype == FieldType::Email && !valid_email(&s) {
                                return Err(WriteError::bad(
                                    "INVALID_EMAIL_ADDRESS",
                                    format!("{label}: invalid email address: {s}"),
                                    vec![f.name.clone()],
                                ));
                            }
                            if f.ftype == FieldType::Picklist
                                && f.restricted_picklist
                                && !f.picklist.iter().any(|p| p.value == s)
                            {
                                return Err(WriteError::bad(
                                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                    format!(
                                        "{label}: bad value for restricted picklist field: {s}"
                                    ),
                                    vec![f.name.clone()],
                                ));
                            }
                            Value::String(s)
                        }
                    }
                    FieldType::Boolean => match &v {
                        Value::Bool(b) => Value::Bool(*b),
                        Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
                        Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
                        other => return Err(wrong_type(other)),
                    },
                    FieldType::Datetime => {
                        let s = v.as_str().ok_or_else(|| wrong_type(&v))?;
                        let t = soql::parse_datetime(s).ok_or_else(|| wrong_type(&v))?;
                        json!(soql::format_datetime(t))
                    }
                    FieldType::Date => {
                        let s = v.as_str().ok_or_else(|| wrong_type(&v))?;
                        // A datetime is accepted for a date field; its date part is kept.
                        let d = soql::parse_date(s)
                            .or_else(|| soql::parse_datetime(s).map(|t| t.date()))
                            .ok_or_else(|| wrong_type(&v))?;
                        json!(soql::format_date(d))
                    }
                    FieldType::Double | FieldType::Currency | FieldType::Int => match &v {
                        Value::Number(_) => v.clone(),
                        Value::String(s) => s
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map(Value::Number)
                            .ok_or_else(|| wrong_type(&v))?,
                        other => return Err(wrong_type(other)),
                    },
                    FieldType::Id | FieldType::Reference => {
                        let s = v.as_str().ok_or_else(|| wrong_type(&v))?;
                        if s.is_empty() {
                            Value::Null
                        } else {
                            let malformed = || {
                                WriteError::bad(
                                    "MALFORMED_ID",
                                    format!("{label}: id value of incorrect type: {s}"),
                                    vec![f.name.clone()],
                                )
                            };
                            let id18 = ids::to_18(s).ok_or_else(malformed)?;
                            if f.ftype == FieldType::Reference {
                                let target_ok = self.slot_of_id(&id18).is_some_and(|sl| {
                                    f.reference_to
                                        .iter()
                                        .any(|t| t.eq_ignore_ascii_case(&self.objects[sl].def.name))
                                }) || f
                                    .reference_to
                                    .iter()
                                    .any(|t| t == "User" || t == "Group")
                                    && id18.starts_with("005");
                                if !target_ok {
                                    return Err(malformed());
                                }
                                let exists = id18.starts_with("005")
                                    || self.get(&id18).is_some_and(|(_, r)| {
                                        r.get("IsDeleted") != Some(&Value::Bool(true))
                                    });
                                if !exists {
                                    return Err(WriteError::bad(
                                        "INVALID_CROSS_REFERENCE_KEY",
                                        "invalid cross reference id",
                                        vec![f.name.clone()],
                                    ));
                                }
                            }
                            json!(id18)
                        }
                    }
                }
            };
            canon.insert(name, value);
        }
        Ok(canon)
    }

    // --------------------------------------------------------------------------------
    // Reads

    /// A field value of a record, following one parent relationship when the path has
    /// two parts.
    fn value_at(&self, def: &ObjectDef, rec: &Fields, path: &[String]) -> Value {
        match path {
            [name] => rec.get(name).cloned().unwrap_or(Value::Null),
            [rel, name] => {
                let Some(rf) = def.relationship(rel) else {
                    return Value::Null;
                };
                match rec
                    .get(&rf.name)
                    .and_then(Value::as_str)
                    .and_then(|id| self.get(id))
                {
                    Some((_, parent)) => parent.get(name).cloned().unwrap_or(Value::Null),
                    None => Value::Null,
                }
            }
            _ => Value::Null,
        }
    }

    /// Runs a checked query; `all_rows` includes deleted records (`queryAll`).
    /// Returns the matching rows rendered as the REST API shows them.
    pub fn run_query(&self, q: &Query, all_rows: bool, version: &str) -> (usize, Vec<Value>) {
        let Some(store) = self.store(&q.from) else {
            return (0, Vec::new());
        };
        let def = &store.def;
        let candidates: Box<dyn Iterator<Item = &Fields>> = match q
            .filter
            .as_ref()
            .and_then(|f| soql::pinned_strings(f, "Email"))
        {
            Some(emails) if def.field("Email").is_some() => {
                let mut ids: Vec<&String> = emails
                    .iter()
                    .filter_map(|e| store.email_index.get(e))
                    .flatten()
                    .collect();
                ids.sort();
                ids.dedup();
                Box::new(ids.into_iter().filter_map(|i| store.records.get(i)))
            }
            _ => Box::new(store.records.values()),
        };
        let mut rows: Vec<&Fields> = candidates
            .filter(|r| all_rows || r.get("IsDeleted") != Some(&Value::Bool(true)))
            .filter(|r| {
                q.filter
                    .as_ref()
                    .is_none_or(|f| soql::eval(f, &|p: &[String]| self.value_at(def, r, p)))
            })
            .collect();
        if !q.order_by.is_empty() {
            rows.sort_by(|a, b| {
                soql::order_rows(
                    &q.order_by,
                    &|p: &[String]| self.value_at(def, a, p),
                    &|p: &[String]| self.value_at(def, b, p),
                )
            });
        }
        let offset = q.offset.unwrap_or(0);
        let rows: Vec<&Fields> = rows
            .into_iter()
            .skip(offset)
            .take(q.limit.unwrap_or(usize::MAX))
            .collect();
        if q.is_count() {
            return (rows.len(), Vec::new());
        }
        let rendered = rows
            .iter()
            .map(|r| self.render_row(def, r, q, version))
            .collect::<Vec<_>>();
        (rendered.len(), rendered)
    }

    fn render_row(&self, def: &ObjectDef, rec: &Fields, q: &Query, version: &str) -> Value {
        let mut out = Map::new();
        out.insert("attributes".into(), attributes(&def.name, rec, version));
        for f in q.fields() {
            match f.path.as_slice() {
                [name] => {
                    out.insert(name.clone(), rec.get(name).cloned().unwrap_or(Value::Null));
                }
                [rel, name] => {
                    let parent = def
                        .relationship(rel)
                        .and_then(|rf| rec.get(&rf.name))
                        .and_then(Value::as_str)
                        .and_then(|id| self.get(id));
                    match parent {
                        Some((pdef, p)) => {
                            let entry = out.entry(rel.clone()).or_insert_with(|| {
                                let mut m = Map::new();
                                m.insert("attributes".into(), attributes(&pdef.name, p, version));
                                Value::Object(m)
                            });
                            if let Value::Object(m) = entry {
                                m.insert(name.clone(), p.get(name).cloned().unwrap_or(Value::Null));
                            }
                        }
                        None => {
                            out.insert(rel.clone(), Value::Null);
                        }
                    }
                }
                _ => {}
            }
        }
        Value::Object(out)
    }

    /// A record as `GET /sobjects/{obj}/{id}` shows it (all fields, or the listed ones).
    pub fn render_record(
        &self,
        def: &ObjectDef,
        rec: &Fields,
        only: Option<&[String]>,
        version: &str,
    ) -> Value {
        let mut out = Map::new();
        out.insert("attributes".into(), attributes(&def.name, rec, version));
        match only {
            Some(names) => {
                for n in names {
                    if let Some(f) = def.field(n) {
                        out.insert(
                            f.name.clone(),
                            rec.get(&f.name).cloned().unwrap_or(Value::Null),
                        );
                    }
                }
            }
            None => {
                for f in &def.fields {
                    out.insert(
                        f.name.clone(),
                        rec.get(&f.name).cloned().unwrap_or(Value::Null),
                    );
                }
            }
        }
        Value::Object(out)
    }

    /// describe's `childRelationships` of an object.
    pub fn child_relationships(&self, name: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for o in &self.objects {
            for f in &o.def.fields {
                if f.reference_to.iter().any(|t| t.eq_ignore_ascii_case(name)) {
                    let rel = match (o.def.name.as_str(), f.name.as_str()) {
                        ("Contact", "AccountId") => Some("Contacts"),
                        _ => None,
                    };
                    out.push(json!({
                        "cascadeDelete": false, "childSObject": o.def.name, "deprecatedAndHidden": false,
                        "field": f.name, "junctionIdListNames": [], "junctionReferenceTo": [],
                        "relationshipName": rel, "restrictedDelete": false,
                    }));
                }
            }
        }
        out
    }
}

/// A record's `attributes` (`type`, `url`).
pub fn attributes(object: &str, rec: &Fields, version: &str) -> Value {
    let id = rec.get("Id").and_then(Value::as_str).unwrap_or("");
    json!({"type": object, "url": format!("/services/data/v{version}/sobjects/{object}/{id}")})
}
