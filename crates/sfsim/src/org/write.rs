//! Record writes as Salesforce performs them: create (defaults, required fields, ids,
//! system fields), update (converted leads are read-only), soft delete, then validation
//! and duplicate rules, formula fields and the save into the undo log. Also which
//! Account rows a write locks, for the row-lock emulation.

use serde_json::{Value, json};

use super::{Fields, Org, RecordError, Undo, WriteCtx, WriteError, is_blank, now};
use crate::ids;
use crate::schema::Formula;
use crate::soql;

impl Org {
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
            // docs/salesforce.md#standard-fields: converted leads are read-only for the API.
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

    /// Validation rules, duplicate rules, unique fields, formulas, then the save.
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
            self.check_validation_rules(&obj, &fields)?;
            self.check_duplicates(slot, id, &fields, creating, ctx)?;
        }
        self.check_unique(slot, id, &fields)?;
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
}
