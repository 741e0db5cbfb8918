//! Input values of a write checked and brought to canonical form: field names resolved
//! case-insensitively, field-level security (createable/updateable), types, lengths,
//! email syntax, restricted picklists, and references to existing records of the right
//! object.

use serde_json::{Value, json};

use super::{Fields, Org, WriteCtx, WriteError};
use crate::ids;
use crate::schema::FieldType;
use crate::soql;

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
    /// Maps input names to canonical names and values to canonical forms, refusing
    /// unknown fields, fields the user may not write, and ill-typed values.
    pub(super) fn coerce_input(
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
}
