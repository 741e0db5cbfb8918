//! Scenarios: JSON or TOML documents that shape an org for a test or a demo — fields to
//! add, change or remove (type, length, picklist, field-level security), validation
//! rules, duplicate rules, records, and the daily API limit.
//!
//! ```toml
//! base = "default"              # or "empty", or "bare"; omitted = keep the org as it is
//! daily_api_limit = 500
//!
//! [user]                        # the integration user's permissions
//! customize_application = false # may not create fields (default true)
//!
//! [[fields]]
//! object = "Lead"
//! name = "TrailSpark_Score__c"
//! type = "picklist"
//! picklist = ["hot", "warm", "cold"]
//! restricted = true
//!
//! [[fields]]
//! object = "Lead"
//! name = "TrailSpark_Person_Key__c"
//! type = "string"
//! length = 80
//! external_id = true            # the key of upserts; unique = true refuses duplicates;
//! unique = true                 # case_sensitive = true compares values case-sensitively
//!
//! [[remove_fields]]
//! object = "Contact"
//! name = "TrailSpark_Reasoning__c"
//!
//! [[validation_rules]]
//! name = "No_Cold_Leads"
//! object = "Lead"
//! message = "Cold leads are not allowed"
//! error_field = "TrailSpark_Score__c"
//! condition = { kind = "equals", field = "TrailSpark_Score__c", value = "cold" }
//!
//! [[duplicate_rules]]
//! name = "Lead_Email_Block"
//! object = "Lead"
//! action = "block"             # or "alert"
//!
//! [[records]]
//! type = "Account"
//! ref = "acme"                  # later records may say "@acme" for its id
//! Name = "Acme"
//!
//! [[records]]
//! type = "Contact"
//! LastName = "Doe"
//! Email = "jane@acme.com"
//! AccountId = "@acme"
//! ```
//! Records are inserted as the system (no field-level security or rules), in order.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::org::{DuplicateRule, Org, Undo, ValidationRule, WriteCtx};
use crate::schema::{FieldDef, FieldType, PicklistValue};
use crate::seed;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// The default org (seed data and rules).
    Default,
    /// Lead, Contact and Account metadata only: no records, no rules.
    Empty,
    /// The default org without any TrailSpark field ([`crate::setup::bare_org`]).
    Bare,
}

/// Built-in scenarios loadable by name where a file is expected (`sfsim --scenario bare`).
pub const BUILT_IN: &[(&str, &str)] = &[("bare", "base = \"bare\"\n")];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub base: Option<Base>,
    #[serde(default)]
    pub daily_api_limit: Option<u64>,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    #[serde(default)]
    pub remove_fields: Vec<FieldName>,
    #[serde(default)]
    pub validation_rules: Vec<ValidationRule>,
    /// Replaces the org's duplicate rules when present (an empty list removes them).
    #[serde(default)]
    pub duplicate_rules: Option<Vec<DuplicateRule>>,
    #[serde(default)]
    pub records: Vec<ScenarioRecord>,
    #[serde(default)]
    pub user: Option<crate::setup::UserSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldName {
    pub object: String,
    pub name: String,
}

/// A field to add (or to replace when the name exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub object: String,
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub ftype: FieldType,
    /// Characters for text types (defaults: 255; 32768 for textarea).
    #[serde(default)]
    pub length: Option<u32>,
    #[serde(default)]
    pub picklist: Vec<String>,
    #[serde(default)]
    pub restricted: bool,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub required: bool,
    /// Field-level security for the integration user.
    #[serde(default = "yes")]
    pub createable: bool,
    #[serde(default = "yes")]
    pub updateable: bool,
    /// Rich text area.
    #[serde(default)]
    pub html: bool,
    #[serde(default)]
    pub reference_to: Vec<String>,
    #[serde(default)]
    pub relationship_name: Option<String>,
    /// An External ID (the key of an upsert; docs/salesforce.md#upsert-by-external-id).
    #[serde(default)]
    pub external_id: bool,
    /// No two records hold the same value.
    #[serde(default)]
    pub unique: bool,
    /// Values of the External ID or unique field compare case-sensitively.
    #[serde(default)]
    pub case_sensitive: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    #[serde(rename = "type")]
    pub object: String,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario is not valid JSON: {0}")]
    Json(String),
    #[error("scenario is not valid TOML: {0}")]
    Toml(String),
    #[error("scenario names unknown object {0}")]
    UnknownObject(String),
    #[error("scenario field {object}.{name}: {problem}")]
    Field {
        object: String,
        name: String,
        problem: String,
    },
    #[error("scenario record {index} ({object}) refused: {code}: {message}")]
    Record {
        index: usize,
        object: String,
        code: String,
        message: String,
    },
    #[error("scenario record {index} refers to unknown ref {reference}")]
    UnknownRef { index: usize, reference: String },
}

impl Scenario {
    /// Parses JSON (when the text starts with `{`) or TOML.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| ScenarioError::Json(e.to_string()))
        } else {
            toml::from_str(text).map_err(|e| ScenarioError::Toml(e.to_string()))
        }
    }

    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        if let Some((_, text)) = BUILT_IN
            .iter()
            .find(|(n, _)| !path.exists() && path == Path::new(n))
        {
            return Scenario::parse(text);
        }
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text)
    }
}

/// What loading produced: ids of the records that had a `ref`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Loaded {
    pub refs: BTreeMap<String, String>,
}

impl FieldSpec {
    fn to_def(&self) -> FieldDef {
        let length = self.length.unwrap_or(match self.ftype {
            FieldType::Textarea => 32_768,
            FieldType::Email => 80,
            FieldType::Id | FieldType::Reference => 18,
            _ => 255,
        });
        let mut d = FieldDef::new(
            &self.name,
            self.label.as_deref().unwrap_or(&self.name),
            self.ftype,
            length,
        );
        d.picklist = self
            .picklist
            .iter()
            .map(|v| PicklistValue {
                value: v.clone(),
                label: v.clone(),
                default: self.default.as_ref().and_then(Value::as_str) == Some(v),
            })
            .collect();
        d.restricted_picklist = self.restricted;
        if let Some(v) = &self.default {
            d.default_value = Some(v.clone());
            d.defaulted_on_create = true;
        }
        d.nillable = !self.required;
        d.createable = self.createable;
        d.updateable = self.updateable;
        d.html_formatted = self.html;
        d.reference_to = self.reference_to.clone();
        d.relationship_name = self.relationship_name.clone();
        d.external_id = self.external_id;
        d.unique = self.unique;
        d.case_sensitive = self.case_sensitive;
        d
    }
}

/// Applies a scenario to an org (replacing it first when `base` is given).
pub fn apply(org: &mut Org, sc: &Scenario) -> Result<Loaded, ScenarioError> {
    let mut next = match sc.base {
        Some(Base::Default) => seed::default_org(),
        Some(Base::Empty) => seed::empty_org(),
        Some(Base::Bare) => crate::setup::bare_org(),
        None => org.clone(),
    };
    for f in &sc.fields {
        if f.ftype == FieldType::Id {
            return Err(ScenarioError::Field {
                object: f.object.clone(),
                name: f.name.clone(),
                problem: "type id cannot be added".into(),
            });
        }
        let store = next
            .object_mut(&f.object)
            .ok_or_else(|| ScenarioError::UnknownObject(f.object.clone()))?;
        let def = f.to_def();
        match store
            .def
            .fields
            .iter_mut()
            .find(|x| x.name.eq_ignore_ascii_case(&f.name))
        {
            Some(existing) => *existing = def,
            None => store.def.fields.push(def),
        }
    }
    for f in &sc.remove_fields {
        let store = next
            .object_mut(&f.object)
            .ok_or_else(|| ScenarioError::UnknownObject(f.object.clone()))?;
        store
            .def
            .fields
            .retain(|x| !x.name.eq_ignore_ascii_case(&f.name));
    }
    next.validation_rules
        .extend(sc.validation_rules.iter().cloned());
    if let Some(rules) = &sc.duplicate_rules {
        next.duplicate_rules = rules.clone();
    }
    if let Some(u) = &sc.user {
        u.apply(&mut next.setup.user);
    }
    let mut loaded = Loaded::default();
    let ctx = WriteCtx {
        system: true,
        ..WriteCtx::default()
    };
    for (index, r) in sc.records.iter().enumerate() {
        let mut fields = Map::new();
        for (k, v) in &r.fields {
            let v = match v.as_str().and_then(|s| s.strip_prefix('@')) {
                Some(reference) => {
                    Value::String(loaded.refs.get(reference).cloned().ok_or_else(|| {
                        ScenarioError::UnknownRef {
                            index,
                            reference: reference.to_owned(),
                        }
                    })?)
                }
                None => v.clone(),
            };
            fields.insert(k.clone(), v);
        }
        let mut undo = Undo::default();
        let id = next
            .create(&r.object, &fields, ctx, &mut undo)
            .map_err(|e| {
                let first = e.errors.into_iter().next();
                ScenarioError::Record {
                    index,
                    object: r.object.clone(),
                    code: first.as_ref().map_or_else(String::new, |x| x.code.clone()),
                    message: first.map_or_else(String::new, |x| x.message),
                }
            })?;
        if let Some(name) = &r.reference {
            loaded.refs.insert(name.clone(), id);
        }
    }
    if !sc.fields.is_empty() || !sc.remove_fields.is_empty() || sc.base.is_some() {
        // Describe's If-Modified-Since has one-second precision: move the stamp to a
        // later whole second so a cached describe from before the change is never 304.
        let prev = org.metadata_modified;
        let t = crate::org::now().max(prev + time::Duration::seconds(1));
        next.metadata_modified = t.replace_nanosecond(0).unwrap_or(t);
    }
    *org = next;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
base = "default"
daily_api_limit = 500

[[fields]]
object = "Lead"
name = "TrailSpark_Score__c"
type = "picklist"
picklist = ["hot", "warm", "cold"]
restricted = true

[[remove_fields]]
object = "Contact"
name = "TrailSpark_Reasoning__c"

[[validation_rules]]
name = "No_Cold_Leads"
object = "Lead"
message = "Cold leads are not allowed"
error_field = "TrailSpark_Score__c"
condition = { kind = "equals", field = "TrailSpark_Score__c", value = "cold" }

[[duplicate_rules]]
name = "Lead_Email_Block"
object = "Lead"
action = "block"

[[records]]
type = "Account"
ref = "acme"
Name = "Acme"

[[records]]
type = "Contact"
LastName = "Doe"
Email = "jane@acme.com"
AccountId = "@acme"
"#;

    #[test]
    fn documented_example_applies() {
        let sc = Scenario::parse(EXAMPLE).unwrap();
        assert_eq!(sc.daily_api_limit, Some(500));
        let mut org = crate::seed::empty_org();
        let loaded = apply(&mut org, &sc).unwrap();
        let acme = &loaded.refs["acme"];
        assert!(acme.starts_with("001"));
        let contacts: Vec<_> = org
            .records("Contact")
            .into_iter()
            .filter(|c| c.get("Email") == Some(&Value::String("jane@acme.com".into())))
            .collect();
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0]["AccountId"], Value::String(acme.clone()));
        let lead = org.object("Lead").unwrap();
        assert!(
            lead.field("TrailSpark_Score__c")
                .unwrap()
                .restricted_picklist
        );
        assert!(
            org.object("Contact")
                .unwrap()
                .field("TrailSpark_Reasoning__c")
                .is_none()
        );
        assert_eq!(org.duplicate_rules.len(), 1);
        assert_eq!(org.validation_rules.len(), 1);
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(
            Scenario::parse("bogus_key = 1"),
            Err(ScenarioError::Toml(_))
        ));
        assert!(matches!(
            Scenario::parse("{\"records\": 3}"),
            Err(ScenarioError::Json(_))
        ));
        let mut org = crate::seed::empty_org();
        let sc = Scenario::parse(
            r#"{"records":[{"type":"Contact","AccountId":"@nope","LastName":"x"}]}"#,
        )
        .unwrap();
        assert!(matches!(
            apply(&mut org, &sc),
            Err(ScenarioError::UnknownRef { .. })
        ));
        let sc = Scenario::parse(r#"{"records":[{"type":"Lead","LastName":"x"}]}"#).unwrap();
        let e = apply(&mut org, &sc).unwrap_err();
        assert!(e.to_string().contains("REQUIRED_FIELD_MISSING"), "{e}");
        let sc = Scenario::parse(r#"{"fields":[{"object":"Nope","name":"A__c","type":"string"}]}"#)
            .unwrap();
        assert!(matches!(
            apply(&mut org, &sc),
            Err(ScenarioError::UnknownObject(_))
        ));
        // A failed scenario leaves the org untouched.
        assert!(org.records("Lead").is_empty());
    }
}
