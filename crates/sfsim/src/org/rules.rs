//! The org's declarative rules: validation rules (in the forms scenarios need) and
//! duplicate rules with an exact, case-insensitive match on one field, as scenarios
//! declare them and as a write answers when one fires (`FIELD_CUSTOM_VALIDATION_EXCEPTION`,
//! `DUPLICATES_DETECTED` with its `duplicateResult`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Fields, Org, RecordError, WriteCtx, WriteError, is_blank};
use crate::soql;

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

/// Salesforce's default duplicate-alert text (docs/salesforce.md#duplicate-rules, recorded
/// response).
pub const DUPLICATE_MESSAGE: &str =
    "You're creating a duplicate record. We recommend you use an existing record instead.";

fn values_equal(a: Option<&Value>, b: &Value) -> bool {
    match (a.unwrap_or(&Value::Null), b) {
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        (x, y) => soql::compare_values(x, y) == Some(std::cmp::Ordering::Equal) || x == y,
    }
}

impl Org {
    /// The first active validation rule of `obj` that fires on the record's `fields`
    /// (Salesforce fires a rule when its formula is true), as the write's error.
    pub(super) fn check_validation_rules(
        &self,
        obj: &str,
        fields: &Fields,
    ) -> Result<(), WriteError> {
        for rule in self
            .validation_rules
            .iter()
            .filter(|r| r.active && r.object.eq_ignore_ascii_case(obj))
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
        Ok(())
    }

    pub(super) fn check_duplicates(
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
            // Shape of the recorded response (docs/salesforce.md#duplicate-rules).
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
}
