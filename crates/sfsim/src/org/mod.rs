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
//!
//! This module holds the state (records by object with their email index, the undo log
//! of a transaction) and the errors a write answers; `write` is create, update and
//! delete, `coerce` the field-level checks of input values, `rules` the validation and
//! duplicate rules, `keys` unique fields and upsert by External ID, and `read` queries and
//! the records' wire shape.

mod coerce;
mod keys;
mod read;
mod rules;
mod write;

pub use read::attributes;
pub use rules::{DUPLICATE_MESSAGE, DuplicateAction, DuplicateRule, RuleCondition, ValidationRule};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::ids;
use crate::schema::ObjectDef;

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

    /// Whether the transaction changed any record.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
}
