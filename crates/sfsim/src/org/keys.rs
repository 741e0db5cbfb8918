//! Keys of records: unique fields, which refuse a second record with the same value
//! (`DUPLICATE_VALUE`), and upsert by an External ID field, which updates the one record
//! holding the value or creates one (docs/salesforce.md#upsert-by-external-id). Text values
//! compare case-insensitively unless the field is case-sensitive, as Salesforce compares
//! them.

use serde_json::Value;

use super::{Fields, Org, RecordError, Undo, WriteCtx, WriteError, is_blank};
use crate::schema::FieldDef;

/// Whether two values of a key field are the same key.
fn same_key(def: &FieldDef, a: &str, b: &str) -> bool {
    if def.case_sensitive {
        a == b
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

impl Org {
    /// Ids of the live records of the object in `slot` whose `field` holds `value` (by the
    /// field's case rule), oldest first.
    fn holding(&self, slot: usize, field: &FieldDef, value: &str) -> Vec<String> {
        self.objects[slot]
            .records
            .iter()
            .filter(|(_, r)| r.get("IsDeleted") != Some(&Value::Bool(true)))
            .filter(|(_, r)| {
                matches!(r.get(&field.name), Some(Value::String(s)) if same_key(field, s, value))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Unique fields: the save of record `id` with `fields` may not give a unique field a
    /// value another live record holds.
    pub(super) fn check_unique(
        &self,
        slot: usize,
        id: &str,
        fields: &Fields,
    ) -> Result<(), WriteError> {
        let def = &self.objects[slot].def;
        for f in def.fields.iter().filter(|f| f.unique) {
            let Some(Value::String(v)) = fields.get(&f.name) else {
                continue;
            };
            if v.is_empty() {
                continue;
            }
            if let Some(other) = self
                .holding(slot, f, v)
                .into_iter()
                .find(|other| other != id)
            {
                return Err(WriteError::bad(
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {} duplicates value on record with id: {other}",
                        f.name
                    ),
                    vec![f.name.clone()],
                ));
            }
        }
        Ok(())
    }

    /// Upserts one record of `object` by the External ID field `field` (checked by the
    /// caller): the value in `input` matches no live record → created; one → that record
    /// is updated; several → `DUPLICATE_EXTERNAL_ID`. `Ok((id, created))`.
    pub fn upsert(
        &mut self,
        object: &str,
        field: &str,
        input: &Fields,
        ctx: WriteCtx,
        undo: &mut Undo,
    ) -> Result<(String, bool), WriteError> {
        let slot = self.slot(object).ok_or_else(|| {
            WriteError::one(
                404,
                RecordError::new("NOT_FOUND", "The requested resource does not exist", vec![]),
            )
        })?;
        let Some(def) = self.objects[slot].def.field(field).cloned() else {
            return Err(WriteError::bad(
                "INVALID_FIELD",
                format!("No such column '{field}' on sobject of type {object}"),
                vec![field.to_owned()],
            ));
        };
        let value = input
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&def.name))
            .map(|(_, v)| v);
        let value = match value {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(v) if !is_blank(Some(v)) => v.to_string(),
            _ => {
                return Err(WriteError::bad(
                    "MISSING_ARGUMENT",
                    format!("{} not specified", def.name),
                    vec![def.name.clone()],
                ));
            }
        };
        let matches = self.holding(slot, &def, &value);
        match matches.as_slice() {
            [] => self.create(object, input, ctx, undo).map(|id| (id, true)),
            [id] => {
                let id = id.clone();
                self.update(Some(object), &id, input, ctx, undo)
                    .map(|id| (id, false))
            }
            many => Err(WriteError::bad(
                "DUPLICATE_EXTERNAL_ID",
                format!(
                    "{}: more than one record found for external id field: [{}]",
                    def.name,
                    many.join(", ")
                ),
                vec![def.name.clone()],
            )),
        }
    }
}
