//! Field metadata the planner and the preflight check need, distilled from Salesforce's
//! describe (docs/salesforce.md#describe), and the one field-type compatibility table.

use std::collections::HashMap;

use domain::Slot;

pub use crate::setup::PERSON_KEY_FIELD;

/// The three objects a destination writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SObject {
    Lead,
    Contact,
    Account,
}

impl SObject {
    pub const ALL: [SObject; 3] = [SObject::Lead, SObject::Contact, SObject::Account];

    pub fn as_str(self) -> &'static str {
        match self {
            SObject::Lead => "Lead",
            SObject::Contact => "Contact",
            SObject::Account => "Account",
        }
    }

    pub fn parse(s: &str) -> Option<SObject> {
        SObject::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(s))
    }
}

/// Salesforce's describe `type`, reduced to what matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    String,
    TextArea,
    Picklist,
    MultiPicklist,
    Combobox,
    DateTime,
    Date,
    Email,
    Phone,
    Url,
    Reference,
    Boolean,
    Number,
    Id,
    Other(String),
}

impl FieldKind {
    /// From describe's `type` string (`string`, `textarea`, `picklist`, `datetime`, ...).
    pub fn from_describe(t: &str) -> FieldKind {
        match t.to_ascii_lowercase().as_str() {
            "string" | "encryptedstring" => FieldKind::String,
            "textarea" => FieldKind::TextArea,
            "picklist" => FieldKind::Picklist,
            "multipicklist" => FieldKind::MultiPicklist,
            "combobox" => FieldKind::Combobox,
            "datetime" => FieldKind::DateTime,
            "date" => FieldKind::Date,
            "email" => FieldKind::Email,
            "phone" => FieldKind::Phone,
            "url" => FieldKind::Url,
            "reference" => FieldKind::Reference,
            "boolean" => FieldKind::Boolean,
            "int" | "double" | "currency" | "percent" | "long" => FieldKind::Number,
            "id" => FieldKind::Id,
            other => FieldKind::Other(other.to_string()),
        }
    }

    /// The describe spelling.
    pub fn as_str(&self) -> &str {
        match self {
            FieldKind::String => "string",
            FieldKind::TextArea => "textarea",
            FieldKind::Picklist => "picklist",
            FieldKind::MultiPicklist => "multipicklist",
            FieldKind::Combobox => "combobox",
            FieldKind::DateTime => "datetime",
            FieldKind::Date => "date",
            FieldKind::Email => "email",
            FieldKind::Phone => "phone",
            FieldKind::Url => "url",
            FieldKind::Reference => "reference",
            FieldKind::Boolean => "boolean",
            FieldKind::Number => "double",
            FieldKind::Id => "id",
            FieldKind::Other(s) => s,
        }
    }

    /// The type's name in Salesforce Setup, for admins (`Number`, `Date/Time`, ...).
    pub fn setup_name(&self) -> &str {
        match self {
            FieldKind::String => "Text",
            FieldKind::TextArea => "Text Area",
            FieldKind::Picklist => "Picklist",
            FieldKind::MultiPicklist => "Picklist (Multi-Select)",
            FieldKind::Combobox => "Combo Box",
            FieldKind::DateTime => "Date/Time",
            FieldKind::Date => "Date",
            FieldKind::Email => "Email",
            FieldKind::Phone => "Phone",
            FieldKind::Url => "URL",
            FieldKind::Reference => "Lookup Relationship",
            FieldKind::Boolean => "Checkbox",
            FieldKind::Number => "Number",
            FieldKind::Id => "ID",
            FieldKind::Other(s) => s,
        }
    }

    fn is_picklist(&self) -> bool {
        matches!(self, FieldKind::Picklist | FieldKind::Combobox)
    }
}

/// The field-type compatibility table: which describe types can hold each slot.
/// Score and propensity are short codes (text or a picklist holding them); the evaluation date
/// needs a DateTime (full timestamp) or a Date (the UTC day); reasoning needs text, ideally a
/// Long Text Area. The settings page offers only fields this accepts.
pub fn compatible(slot: Slot, kind: &FieldKind) -> bool {
    match slot {
        Slot::Score | Slot::Propensity => {
            matches!(
                kind,
                FieldKind::String | FieldKind::TextArea | FieldKind::Picklist | FieldKind::Combobox
            )
        }
        Slot::EvaluationDate => matches!(kind, FieldKind::DateTime | FieldKind::Date),
        Slot::Reasoning => matches!(kind, FieldKind::TextArea | FieldKind::String),
    }
}

/// Human list of the compatible types of a slot, for messages.
pub fn compatible_types(slot: Slot) -> &'static str {
    match slot {
        Slot::Score | Slot::Propensity => "Text, Text Area or Picklist",
        Slot::EvaluationDate => "Date/Time or Date",
        Slot::Reasoning => "Long Text Area (or Text)",
    }
}

/// Minimum text length for a slot's values (`cold`, `medium_propensity`).
pub fn min_length(slot: Slot) -> u32 {
    match slot {
        Slot::Score => domain::Score::ALL
            .iter()
            .map(|s| s.as_str().len() as u32)
            .max()
            .unwrap_or(0),
        Slot::Propensity => domain::Propensity::ALL
            .iter()
            .map(|p| p.salesforce_value().len() as u32)
            .max()
            .unwrap_or(0),
        Slot::EvaluationDate | Slot::Reasoning => 0,
    }
}

/// Values a picklist must contain to take a slot.
pub fn required_values(slot: Slot) -> Vec<&'static str> {
    match slot {
        Slot::Score => domain::Score::ALL.iter().map(|s| s.as_str()).collect(),
        Slot::Propensity => domain::Propensity::ALL
            .iter()
            .map(|p| p.salesforce_value())
            .collect(),
        Slot::EvaluationDate | Slot::Reasoning => Vec::new(),
    }
}

/// One field of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    /// The API name as Salesforce spells it.
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    /// Characters for text types, 0 otherwise.
    pub length: u32,
    pub createable: bool,
    pub updateable: bool,
    pub picklist_values: Vec<String>,
    pub restricted_picklist: bool,
    /// Salesforce refuses a create without it (`createable && !nillable && !defaultedOnCreate`).
    pub required_on_create: bool,
    /// An External ID field: the key of an upsert (docs/salesforce.md#upsert-by-external-id).
    pub external_id: bool,
}

impl FieldMeta {
    /// Can the integration user write this field (for updates, and for creates when asked)?
    pub fn writable(&self, creating: bool) -> bool {
        self.updateable && (!creating || self.createable)
    }

    /// The slot's minimum length when this text field is shorter (a picklist holding values
    /// is judged by [`FieldMeta::picklist_lacks`] instead).
    pub fn too_short(&self, slot: Slot) -> Option<u32> {
        let min = min_length(slot);
        (min > 0 && self.length > 0 && self.length < min && self.picklist_values.is_empty())
            .then_some(min)
    }

    /// Why this field cannot take `slot`, in an admin's words; `None` when it can.
    /// The first reason found, in the order the settings page would fix them.
    pub fn unfit_for(&self, slot: Slot) -> Option<String> {
        if !compatible(slot, &self.kind) {
            return Some(format!(
                "{} fields cannot hold the {} (needs {})",
                self.kind.setup_name(),
                slot.as_str().replace('_', " "),
                compatible_types(slot)
            ));
        }
        if !self.updateable {
            return Some(
                "read-only for the integration user (field-level security or a formula field)"
                    .into(),
            );
        }
        let lacks = self.picklist_lacks(slot);
        if !lacks.is_empty() {
            return Some(format!("picklist lacks: {}", lacks.join(", ")));
        }
        self.too_short(slot)
            .map(|min| format!("too short: {} characters, needs {min}", self.length))
    }

    pub fn picklist_lacks(&self, slot: Slot) -> Vec<&'static str> {
        if !self.kind.is_picklist() {
            return Vec::new();
        }
        required_values(slot)
            .into_iter()
            .filter(|v| !self.picklist_values.iter().any(|p| p == v))
            .collect()
    }
}

/// The fields of one object, looked up case-insensitively (API names are case-insensitive).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectMeta {
    fields: HashMap<String, FieldMeta>,
    order: Vec<String>,
}

impl ObjectMeta {
    pub fn new(fields: Vec<FieldMeta>) -> ObjectMeta {
        let mut m = ObjectMeta::default();
        for f in fields {
            let key = f.name.to_ascii_lowercase();
            m.order.push(key.clone());
            m.fields.insert(key, f);
        }
        m
    }

    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields.get(&name.to_ascii_lowercase())
    }

    /// Fields in describe order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldMeta> {
        self.order.iter().filter_map(|k| self.fields.get(k))
    }
}

/// Lead, Contact and Account metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub lead: ObjectMeta,
    pub contact: ObjectMeta,
    pub account: ObjectMeta,
}

impl Metadata {
    pub fn object(&self, o: SObject) -> &ObjectMeta {
        match o {
            SObject::Lead => &self.lead,
            SObject::Contact => &self.contact,
            SObject::Account => &self.account,
        }
    }

    /// The person-key field of a Lead or Contact ([`PERSON_KEY_FIELD`]) when the object has
    /// it as an External ID text field the integration user can create and edit: then that
    /// object's creates are upserts by the key (docs/product.md#the-person-key).
    pub fn person_key(&self, o: SObject) -> Option<&FieldMeta> {
        if o == SObject::Account {
            return None;
        }
        self.object(o).field(PERSON_KEY_FIELD).filter(|f| {
            f.external_id && f.kind == FieldKind::String && f.createable && f.updateable
        })
    }
}

/// One entry of a slot's field dropdown (the settings page; the HTTP API's
/// `GET .../objects/{object}/fields?slot=`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldOption {
    pub name: String,
    pub label: String,
    /// `Label (API_Name)`, as the dropdown shows it.
    pub display: String,
    #[serde(rename = "type")]
    pub field_type: String,
    pub length: u32,
    /// Whether the integration user may edit it (field-level security, not a formula).
    pub writable: bool,
    /// Whether it can be set when creating a record (matters with `create_records` on).
    pub createable: bool,
}

/// A field of the object that a slot's dropdown leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotOffered {
    pub name: String,
    pub label: String,
    /// In an admin's words: "read-only for the integration user (...)", "picklist lacks:
    /// warm", ...
    pub reason: String,
}

/// A slot's dropdown: the fields it can map, and every other field with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SlotOptions {
    pub fields: Vec<FieldOption>,
    pub not_offered: Vec<NotOffered>,
}

/// The fields of an object that can take `slot` — compatible type, editable by the
/// integration user, a picklist holding the slot's values, long enough — and the others
/// with the reason. Both lists: custom fields (`__c`) first, then by label.
pub fn slot_options(om: &ObjectMeta, slot: Slot) -> SlotOptions {
    let mut out = SlotOptions::default();
    let mut fields: Vec<&FieldMeta> = om.fields().collect();
    fields.sort_by_cached_key(|f| {
        (
            !f.name.to_ascii_lowercase().ends_with("__c"),
            f.label.to_lowercase(),
            f.name.to_ascii_lowercase(),
        )
    });
    for f in fields {
        match f.unfit_for(slot) {
            None => out.fields.push(FieldOption {
                name: f.name.clone(),
                label: f.label.clone(),
                display: format!("{} ({})", f.label, f.name),
                field_type: f.kind.as_str().to_string(),
                length: f.length,
                writable: f.updateable,
                createable: f.createable,
            }),
            Some(reason) => out.not_offered.push(NotOffered {
                name: f.name.clone(),
                label: f.label.clone(),
                reason,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_table() {
        assert!(compatible(Slot::Score, &FieldKind::Picklist));
        assert!(compatible(Slot::Score, &FieldKind::String));
        assert!(!compatible(Slot::Score, &FieldKind::Number));
        assert!(compatible(Slot::EvaluationDate, &FieldKind::Date));
        assert!(!compatible(Slot::EvaluationDate, &FieldKind::String));
        assert!(compatible(Slot::Reasoning, &FieldKind::TextArea));
        assert!(!compatible(Slot::Reasoning, &FieldKind::Picklist));
        assert!(compatible(Slot::Propensity, &FieldKind::Combobox));
    }

    #[test]
    fn slot_options_offer_only_fields_that_can_take_the_slot() {
        let f = |name: &str, label: &str, kind: FieldKind| FieldMeta {
            label: label.into(),
            ..crate::testing::field(name, kind, 255)
        };
        let om = ObjectMeta::new(vec![
            FieldMeta {
                picklist_values: vec!["hot".into(), "warm".into(), "cold".into(), "Hot".into()],
                ..f("Rating", "Rating", FieldKind::Picklist)
            },
            f("Score_Num__c", "Score Number", FieldKind::Number),
            FieldMeta {
                updateable: false,
                createable: false,
                ..f("Score_Formula__c", "Score Formula", FieldKind::String)
            },
            FieldMeta {
                picklist_values: vec!["hot".into(), "cold".into()],
                ..f("Score_Pick__c", "Score Pick", FieldKind::Picklist)
            },
            FieldMeta {
                length: 3,
                ..f("Score_Short__c", "Score Short", FieldKind::String)
            },
            FieldMeta {
                createable: false,
                ..f("TrailSpark_Score__c", "TrailSpark Score", FieldKind::String)
            },
            f("Description", "Description", FieldKind::TextArea),
            f("Another__c", "another text", FieldKind::String),
        ]);
        let o = slot_options(&om, Slot::Score);
        let offered: Vec<_> = o.fields.iter().map(|f| f.display.as_str()).collect();
        assert_eq!(
            offered,
            [
                "another text (Another__c)",
                "TrailSpark Score (TrailSpark_Score__c)",
                "Description (Description)",
                "Rating (Rating)",
            ],
            "custom first, then by label"
        );
        assert!(!o.fields[1].createable && o.fields[1].writable);
        assert_eq!(o.fields[2].field_type, "textarea");
        let not: Vec<_> = o
            .not_offered
            .iter()
            .map(|n| (n.name.as_str(), n.reason.as_str()))
            .collect();
        assert_eq!(
            not,
            [
                (
                    "Score_Formula__c",
                    "read-only for the integration user (field-level security or a formula field)"
                ),
                (
                    "Score_Num__c",
                    "Number fields cannot hold the score (needs Text, Text Area or Picklist)"
                ),
                ("Score_Pick__c", "picklist lacks: warm"),
                ("Score_Short__c", "too short: 3 characters, needs 4"),
            ]
        );
        let dates = slot_options(&om, Slot::EvaluationDate);
        assert!(dates.fields.is_empty());
        assert_eq!(dates.not_offered.len(), 8, "every field is accounted for");
        assert_eq!(
            dates.not_offered.last().unwrap().reason,
            "Picklist fields cannot hold the evaluation date (needs Date/Time or Date)"
        );
    }

    #[test]
    fn picklist_values_required() {
        let f = FieldMeta {
            name: "S__c".into(),
            label: "S".into(),
            kind: FieldKind::Picklist,
            length: 255,
            createable: true,
            updateable: true,
            picklist_values: vec!["hot".into(), "cold".into()],
            restricted_picklist: true,
            required_on_create: false,
            external_id: false,
        };
        assert_eq!(f.picklist_lacks(Slot::Score), ["warm"]);
        assert_eq!(f.picklist_lacks(Slot::Propensity).len(), 3);
    }
}
