//! The body of a Tooling `CustomField` create, validated as Salesforce validates it, and
//! the field it defines. Pure.
//!
//! Body: `{"FullName": "<Object>.<Name>__c", "Metadata": {...}}` with the CustomField
//! metadata keys in lowerCamelCase (Tooling API Developer Guide, CustomField:
//! <https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customfield.htm>;
//! keys and types per the Metadata API's CustomField:
//! <https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/customfield.htm>).
//! Numbers may be sent as strings (`"length": "255"`), as real clients do.
//!
//! Per type: `Text` needs `length` 1–255; `LongTextArea` needs `length` 256–131,072 and
//! `visibleLines` 2–50 (`Html` 10–50); `TextArea` takes neither; `Picklist` needs
//! `valueSet.valueSetDefinition.value`; `DateTime`, `Date`, `Checkbox`, `Email`, `Url` and
//! `Phone` take no size; `externalId`/`unique` are for `Text` and `Email`; `required` is
//! refused on `Checkbox`.
//!
//! Messages: "Data type LongTextArea must be at least 256 in length.", "Must specify
//! 'visibleLines' for a CustomField of type LongTextArea" and "Can not specify 'required'
//! for a CustomField of type Checkbox" are Salesforce's words as recorded by clients that
//! meet them; the other messages follow those patterns and are stand-ins. Codes:
//! `FIELD_INTEGRITY_EXCEPTION` for metadata Salesforce refuses, `JSON_PARSER_ERROR` for an
//! unknown `type` (the enum cannot be deserialised), `REQUIRED_FIELD_MISSING` for a body
//! without `FullName` or `Metadata`.

use serde_json::{Map, Value, json};

use crate::org::RecordError;
use crate::schema::{FieldDef, FieldType, PicklistValue};

/// Longest developer name of a custom field (without `__c`).
pub const MAX_DEVELOPER_NAME: usize = 40;

/// What a valid create defines.
#[derive(Debug, Clone)]
pub struct NewField {
    /// The object's API name as the org spells it.
    pub object: String,
    /// `Name__c` as given.
    pub name: String,
    pub def: FieldDef,
    /// `Metadata` as the org keeps it (every key the type uses, normalised).
    pub metadata: Value,
}

impl NewField {
    /// `Name` of `Name__c`.
    pub fn developer_name(&self) -> &str {
        developer_name(&self.name)
    }
}

pub fn developer_name(api_name: &str) -> &str {
    api_name.strip_suffix("__c").unwrap_or(api_name)
}

/// The Metadata API field types this org creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    TextArea,
    LongTextArea,
    Html,
    Picklist,
    DateTime,
    Date,
    Checkbox,
    Email,
    Url,
    Phone,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "Text" => Kind::Text,
            "TextArea" => Kind::TextArea,
            "LongTextArea" => Kind::LongTextArea,
            "Html" => Kind::Html,
            "Picklist" => Kind::Picklist,
            "DateTime" => Kind::DateTime,
            "Date" => Kind::Date,
            "Checkbox" => Kind::Checkbox,
            "Email" => Kind::Email,
            "Url" => Kind::Url,
            "Phone" => Kind::Phone,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "Text",
            Kind::TextArea => "TextArea",
            Kind::LongTextArea => "LongTextArea",
            Kind::Html => "Html",
            Kind::Picklist => "Picklist",
            Kind::DateTime => "DateTime",
            Kind::Date => "Date",
            Kind::Checkbox => "Checkbox",
            Kind::Email => "Email",
            Kind::Url => "Url",
            Kind::Phone => "Phone",
        }
    }
}

/// Valid Metadata API field types this org does not emulate (refused with a stand-in
/// message rather than as unknown).
const OTHER_KNOWN_TYPES: &[&str] = &[
    "AutoNumber",
    "Lookup",
    "MasterDetail",
    "Currency",
    "Number",
    "Percent",
    "MultiselectPicklist",
    "EncryptedText",
    "Location",
    "Time",
    "Summary",
    "ExternalLookup",
    "IndirectLookup",
    "Hierarchy",
    "File",
];

fn integrity(message: impl Into<String>) -> RecordError {
    RecordError::new("FIELD_INTEGRITY_EXCEPTION", message, vec![])
}

fn missing(field: &str) -> RecordError {
    RecordError::new(
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{field}]"),
        vec![field.to_owned()],
    )
}

/// A non-null metadata value.
fn given<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// An integer sent as a number or a numeric string.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean sent as a boolean or `"true"`/`"false"`.
fn flag(m: &Map<String, Value>, key: &str) -> Result<bool, RecordError> {
    match given(m, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(RecordError::new(
            "JSON_PARSER_ERROR",
            format!("Cannot deserialize instance of boolean from {other} value for '{key}'"),
            vec![],
        )),
    }
}

/// Salesforce's rule for developer names (its Setup page wording).
pub fn valid_developer_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

pub const DEVELOPER_NAME_RULE: &str = "The Field Name can only contain underscores and alphanumeric characters. It must be unique, begin with a letter, not include spaces, not end with an underscore, and not contain two consecutive underscores.";

/// Validates a create body. `object` gives an object's API name as the org spells it.
pub fn parse_create(
    body: &Map<String, Value>,
    object: impl Fn(&str) -> Option<String>,
) -> Result<NewField, RecordError> {
    let full = match body.get("FullName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
        _ => return Err(missing("FullName")),
    };
    let Some(Value::Object(m)) = body.get("Metadata") else {
        return Err(missing("Metadata"));
    };
    let Some((obj, name)) = full.split_once('.') else {
        return Err(integrity(format!(
            "FullName {full} must name the object and the field: <Object>.<Field>__c"
        )));
    };
    let object =
        object(obj).ok_or_else(|| integrity(format!("Cannot find the object {obj} of {full}")))?;
    let Some(dev) = name.strip_suffix("__c") else {
        return Err(integrity(
            "fullName must end with: __c or __kav or __x or __b or __e or __p or __mdt or __dll or __dlm",
        ));
    };
    if !valid_developer_name(dev) {
        return Err(integrity(DEVELOPER_NAME_RULE));
    }
    if dev.chars().count() > MAX_DEVELOPER_NAME {
        return Err(integrity(format!(
            "The Field Name {dev} is longer than {MAX_DEVELOPER_NAME} characters"
        )));
    }
    let type_name = match given(m, "type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(RecordError::new(
                "JSON_PARSER_ERROR",
                format!(
                    "Cannot deserialize instance of fieldtype from {other} value or request may be missing a required field"
                ),
                vec![],
            ));
        }
        None => return Err(integrity("Must specify 'type' for a CustomField")),
    };
    let Some(kind) = Kind::parse(type_name) else {
        if OTHER_KNOWN_TYPES.contains(&type_name) {
            return Err(integrity(format!(
                "CustomFields of type {type_name} are not emulated by this org"
            )));
        }
        return Err(RecordError::new(
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of fieldtype from VALUE_STRING value {type_name} or request may be missing a required field"
            ),
            vec![],
        ));
    };
    let label = match given(m, "label") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            return Err(integrity(
                "Must specify a non-empty label for the CustomField",
            ));
        }
    };
    let t = kind.as_str();
    let cannot = |key: &str| {
        integrity(format!(
            "Can not specify '{key}' for a CustomField of type {t}"
        ))
    };
    let must = |key: &str| {
        integrity(format!(
            "Must specify '{key}' for a CustomField of type {t}"
        ))
    };
    let number = |key: &str| -> Result<Option<i64>, RecordError> {
        match given(m, key) {
            None => Ok(None),
            Some(v) => int(v)
                .map(Some)
                .ok_or_else(|| integrity(format!("'{key}' must be a whole number, got {v}"))),
        }
    };
    let length = number("length")?;
    let visible_lines = number("visibleLines")?;
    let required = flag(m, "required")?;
    let external_id = flag(m, "externalId")?;
    let unique = flag(m, "unique")?;
    let case_sensitive = flag(m, "caseSensitive")?;
    let value_set = given(m, "valueSet");
    let sized = matches!(kind, Kind::Text | Kind::LongTextArea | Kind::Html);
    if length.is_some() && !sized {
        return Err(cannot("length"));
    }
    let lined = matches!(kind, Kind::LongTextArea | Kind::Html);
    if visible_lines.is_some() && !lined {
        return Err(cannot("visibleLines"));
    }
    if value_set.is_some() && kind != Kind::Picklist {
        return Err(cannot("valueSet"));
    }
    if (external_id || unique) && !matches!(kind, Kind::Text | Kind::Email) {
        return Err(cannot(if unique { "unique" } else { "externalId" }));
    }
    if case_sensitive && !(unique && kind == Kind::Text) {
        return Err(cannot("caseSensitive"));
    }
    if required && kind == Kind::Checkbox {
        return Err(cannot("required"));
    }
    let chars = match kind {
        Kind::Text => {
            let n = length.ok_or_else(|| must("length"))?;
            if !(1..=255).contains(&n) {
                return Err(integrity(format!(
                    "Length must be between 1 and 255 for a CustomField of type Text, got {n}"
                )));
            }
            n as u32
        }
        Kind::LongTextArea | Kind::Html => {
            let n = length.ok_or_else(|| must("length"))?;
            if n < 256 {
                return Err(integrity(format!(
                    "Data type {t} must be at least 256 in length."
                )));
            }
            if n > 131_072 {
                return Err(integrity(format!(
                    "Length must be at most 131,072 for a CustomField of type {t}, got {n}"
                )));
            }
            let lines = visible_lines.ok_or_else(|| must("visibleLines"))?;
            let min = if kind == Kind::Html { 10 } else { 2 };
            if !(min..=50).contains(&lines) {
                return Err(integrity(format!(
                    "visibleLines must be between {min} and 50 for a CustomField of type {t}, got {lines}"
                )));
            }
            n as u32
        }
        Kind::TextArea | Kind::Picklist | Kind::Url => 255,
        Kind::Email => 80,
        Kind::Phone => 40,
        Kind::DateTime | Kind::Date | Kind::Checkbox => 0,
    };
    let (values, restricted) = match kind {
        Kind::Picklist => picklist(value_set).ok_or_else(|| must("valueSet"))?,
        _ => (Vec::new(), false),
    };
    let ftype = match kind {
        Kind::Text => FieldType::String,
        Kind::TextArea | Kind::LongTextArea | Kind::Html => FieldType::Textarea,
        Kind::Picklist => FieldType::Picklist,
        Kind::DateTime => FieldType::Datetime,
        Kind::Date => FieldType::Date,
        Kind::Checkbox => FieldType::Boolean,
        Kind::Email => FieldType::Email,
        Kind::Url => FieldType::Url,
        Kind::Phone => FieldType::Phone,
    };
    let mut def = FieldDef::new(name, &label, ftype, chars);
    def.html_formatted = kind == Kind::Html;
    def.picklist = values;
    def.restricted_picklist = restricted;
    def.external_id = external_id;
    def.unique = unique;
    def.case_sensitive = case_sensitive;
    def.nillable = !required;
    if kind == Kind::Checkbox {
        def = def.with_default(json!(false));
        def.nillable = false;
    }
    let mut metadata = m.clone();
    metadata.remove("fullName");
    let normalised = [
        ("label", json!(label)),
        ("type", json!(t)),
        ("length", length.map_or(Value::Null, |n| json!(n))),
        (
            "visibleLines",
            visible_lines.map_or(Value::Null, |n| json!(n)),
        ),
        ("required", json!(required)),
        ("externalId", json!(external_id)),
        (
            "caseSensitive",
            if kind == Kind::Text && unique {
                json!(case_sensitive)
            } else {
                Value::Null
            },
        ),
        (
            "unique",
            if sized || kind == Kind::Email {
                json!(unique)
            } else {
                Value::Null
            },
        ),
        ("valueSet", value_set.cloned().unwrap_or(Value::Null)),
    ];
    for (k, v) in normalised {
        metadata.insert(k.to_owned(), v);
    }
    for k in ["description", "inlineHelpText", "defaultValue"] {
        metadata.entry(k.to_owned()).or_insert(Value::Null);
    }
    Ok(NewField {
        object,
        name: name.to_owned(),
        def,
        metadata: Value::Object(metadata),
    })
}

/// The values and `restricted` of a picklist's `valueSet`, or `None` when it defines none.
fn picklist(value_set: Option<&Value>) -> Option<(Vec<PicklistValue>, bool)> {
    let vs = value_set?;
    let restricted = matches!(vs.get("restricted"), Some(Value::Bool(true)))
        || matches!(vs.get("restricted"), Some(Value::String(s)) if s.eq_ignore_ascii_case("true"));
    let values: Vec<PicklistValue> = vs
        .pointer("/valueSetDefinition/value")?
        .as_array()?
        .iter()
        .filter_map(|v| {
            let value = v.get("fullName")?.as_str()?.to_owned();
            let label = v
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or(&value)
                .to_owned();
            let default = matches!(v.get("default"), Some(Value::Bool(true)));
            Some(PicklistValue {
                value,
                label,
                default,
            })
        })
        .collect();
    (!values.is_empty()).then_some((values, restricted))
}

/// The `Metadata` of a field that came with the org, as Tooling shows it.
pub fn metadata_of(def: &FieldDef) -> Value {
    let (t, length, lines) = match def.ftype {
        FieldType::String => ("Text", json!(def.length), Value::Null),
        FieldType::Textarea if def.html_formatted => ("Html", json!(def.length), json!(25)),
        FieldType::Textarea if def.length > 255 => ("LongTextArea", json!(def.length), json!(3)),
        FieldType::Textarea => ("TextArea", Value::Null, Value::Null),
        FieldType::Picklist => ("Picklist", Value::Null, Value::Null),
        FieldType::Boolean => ("Checkbox", Value::Null, Value::Null),
        FieldType::Date => ("Date", Value::Null, Value::Null),
        FieldType::Datetime => ("DateTime", Value::Null, Value::Null),
        FieldType::Email => ("Email", Value::Null, Value::Null),
        FieldType::Url => ("Url", Value::Null, Value::Null),
        FieldType::Phone => ("Phone", Value::Null, Value::Null),
        FieldType::Double | FieldType::Int => ("Number", Value::Null, Value::Null),
        FieldType::Currency => ("Currency", Value::Null, Value::Null),
        FieldType::Reference => ("Lookup", Value::Null, Value::Null),
        FieldType::Id => ("Text", Value::Null, Value::Null),
    };
    let value_set = if def.picklist.is_empty() {
        Value::Null
    } else {
        let values: Vec<Value> = def
            .picklist
            .iter()
            .map(|p| json!({"fullName": p.value, "label": p.label, "default": p.default}))
            .collect();
        json!({"restricted": def.restricted_picklist, "valueSetDefinition": {"sorted": false, "value": values}})
    };
    json!({
        "label": def.label,
        "type": t,
        "length": length,
        "visibleLines": lines,
        "required": !def.nillable,
        "externalId": def.external_id,
        "unique": def.unique,
        "caseSensitive": def.case_sensitive,
        "valueSet": value_set,
        "formula": def.formula.as_ref().map(crate::schema::Formula::source),
        "description": null,
        "inlineHelpText": null,
        "defaultValue": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<NewField, RecordError> {
        let Value::Object(m) = body else {
            panic!("object")
        };
        parse_create(&m, |o| {
            ["Lead", "Contact", "Account"]
                .into_iter()
                .find(|x| x.eq_ignore_ascii_case(o))
                .map(str::to_owned)
        })
    }

    fn create(full: &str, metadata: Value) -> Result<NewField, RecordError> {
        parse(json!({"FullName": full, "Metadata": metadata}))
    }

    fn message(r: Result<NewField, RecordError>) -> String {
        let e = r.unwrap_err();
        format!("{}: {}", e.code, e.message)
    }

    #[test]
    fn text_field() {
        let f = create(
            "lead.Score__c",
            json!({"type": "Text", "label": "Score", "length": "10", "externalId": true, "unique": "true"}),
        )
        .unwrap();
        assert_eq!(f.object, "Lead");
        assert_eq!(f.developer_name(), "Score");
        assert_eq!((f.def.ftype, f.def.length), (FieldType::String, 10));
        assert!(f.def.external_id && f.def.unique && f.def.nillable);
        assert!(
            !f.def.case_sensitive,
            "External ID text is case-insensitive by default"
        );
        assert_eq!(f.metadata["length"], json!(10));
        let cs = create(
            "Lead.K__c",
            json!({"type": "Text", "label": "K", "length": 80, "externalId": true, "unique": true, "caseSensitive": true}),
        )
        .unwrap();
        assert!(cs.def.case_sensitive);
        assert_eq!(cs.metadata["caseSensitive"], json!(true));
        assert!(
            message(create(
                "Lead.K__c",
                json!({"type": "Text", "label": "K", "length": 80, "caseSensitive": true})
            ))
            .contains("Can not specify 'caseSensitive'"),
            "only a Unique text field is case-sensitive or not"
        );
        assert!(
            message(create("Lead.S__c", json!({"type": "Text", "label": "S"})))
                .contains("Must specify 'length'")
        );
        assert!(
            message(create(
                "Lead.S__c",
                json!({"type": "Text", "label": "S", "length": 256})
            ))
            .contains("between 1 and 255")
        );
        assert!(
            message(create(
                "Lead.S__c",
                json!({"type": "Text", "label": "S", "length": 0})
            ))
            .contains("between 1 and 255")
        );
    }

    #[test]
    fn long_text_area() {
        let ok = json!({"type": "LongTextArea", "label": "R", "length": 131072, "visibleLines": 6});
        let f = create("Contact.R__c", ok).unwrap();
        assert_eq!((f.def.ftype, f.def.length), (FieldType::Textarea, 131_072));
        assert_eq!(
            message(create(
                "Lead.R__c",
                json!({"type": "LongTextArea", "label": "R", "length": 255, "visibleLines": 6})
            )),
            "FIELD_INTEGRITY_EXCEPTION: Data type LongTextArea must be at least 256 in length."
        );
        assert!(
            message(create(
                "Lead.R__c",
                json!({"type": "LongTextArea", "label": "R", "length": 131073, "visibleLines": 6})
            ))
            .contains("131,072")
        );
        assert_eq!(
            message(create(
                "Lead.R__c",
                json!({"type": "LongTextArea", "label": "R", "length": 300})
            )),
            "FIELD_INTEGRITY_EXCEPTION: Must specify 'visibleLines' for a CustomField of type LongTextArea"
        );
        assert!(
            message(create(
                "Lead.R__c",
                json!({"type": "LongTextArea", "label": "R", "length": 300, "visibleLines": 1})
            ))
            .contains("between 2 and 50")
        );
        assert!(message(create("Lead.R__c", json!({"type": "LongTextArea", "label": "R", "length": 300, "visibleLines": 6, "unique": true}))).contains("Can not specify 'unique'"));
    }

    #[test]
    fn picklist_needs_values() {
        let f = create(
            "Lead.S__c",
            json!({"type": "Picklist", "label": "S", "valueSet": {"restricted": true,
                "valueSetDefinition": {"sorted": false, "value": [
                    {"fullName": "hot", "label": "hot", "default": false},
                    {"fullName": "warm", "label": "warm", "default": false}]}}}),
        )
        .unwrap();
        assert!(f.def.restricted_picklist);
        assert_eq!(f.def.picklist.len(), 2);
        assert!(
            message(create(
                "Lead.S__c",
                json!({"type": "Picklist", "label": "S"})
            ))
            .contains("Must specify 'valueSet'")
        );
        assert!(
            message(create(
                "Lead.S__c",
                json!({"type": "Picklist", "label": "S", "length": 10, "valueSet": {}})
            ))
            .contains("Can not specify 'length'")
        );
    }

    #[test]
    fn dates_take_no_extras_and_checkbox_no_required() {
        assert!(create("Lead.D__c", json!({"type": "DateTime", "label": "D"})).is_ok());
        assert!(
            create(
                "Lead.D__c",
                json!({"type": "Date", "label": "D", "required": true})
            )
            .is_ok()
        );
        assert_eq!(
            message(create(
                "Lead.D__c",
                json!({"type": "DateTime", "label": "D", "length": 10})
            )),
            "FIELD_INTEGRITY_EXCEPTION: Can not specify 'length' for a CustomField of type DateTime"
        );
        assert!(
            message(create(
                "Lead.D__c",
                json!({"type": "Date", "label": "D", "visibleLines": 3})
            ))
            .contains("'visibleLines'")
        );
        assert_eq!(
            message(create(
                "Lead.C__c",
                json!({"type": "Checkbox", "label": "C", "required": true})
            )),
            "FIELD_INTEGRITY_EXCEPTION: Can not specify 'required' for a CustomField of type Checkbox"
        );
    }

    #[test]
    fn names_and_types() {
        assert!(
            message(create(
                "Lead.Score",
                json!({"type": "Text", "label": "S", "length": 5})
            ))
            .contains("must end with: __c")
        );
        assert!(
            message(create(
                "Lead.2Score__c",
                json!({"type": "Text", "label": "S", "length": 5})
            ))
            .contains("begin with a letter")
        );
        assert!(
            message(create(
                "Lead.A__B__c",
                json!({"type": "Text", "label": "S", "length": 5})
            ))
            .contains("two consecutive underscores")
        );
        assert!(
            message(create(
                "Nope.A__c",
                json!({"type": "Text", "label": "S", "length": 5})
            ))
            .contains("Cannot find the object Nope")
        );
        assert!(
            message(create("Lead.A__c", json!({"type": "Foo", "label": "S"})))
                .starts_with("JSON_PARSER_ERROR")
        );
        assert!(
            message(create("Lead.A__c", json!({"type": "Text", "length": 5}))).contains("label")
        );
        assert!(message(parse(json!({"Metadata": {}}))).starts_with("REQUIRED_FIELD_MISSING"));
        assert!(message(parse(json!({"FullName": "Lead.A__c"}))).contains("[Metadata]"));
        let long = format!("Lead.{}__c", "A".repeat(41));
        assert!(
            message(create(
                &long,
                json!({"type": "Text", "label": "S", "length": 5})
            ))
            .contains("40 characters")
        );
    }

    #[test]
    fn metadata_of_existing_fields() {
        let d = FieldDef::new("R__c", "R", FieldType::Textarea, 131_072);
        assert_eq!(metadata_of(&d)["type"], "LongTextArea");
        let d = FieldDef::new("S__c", "S", FieldType::String, 20);
        assert_eq!(metadata_of(&d)["length"], 20);
    }
}
