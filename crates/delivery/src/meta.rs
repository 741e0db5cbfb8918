//! Field metadata the planner and the preflight check need, distilled from Salesforce's
//! describe (salesforce-api.md §3.3), and the one field-type compatibility table.

use std::collections::HashMap;

use domain::Slot;

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
}

impl FieldMeta {
    /// Can the integration user write this field (for updates, and for creates when asked)?
    pub fn writable(&self, creating: bool) -> bool {
        self.updateable && (!creating || self.createable)
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
}

/// One entry of a slot's field dropdown (`Label (API_Name)` on the settings page; the
/// HTTP API's `GET .../objects/{object}/fields?slot=`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldOption {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: String,
    pub length: u32,
    /// Whether the integration user may edit it (field-level security, not a formula).
    pub writable: bool,
}

/// The fields of an object that can hold `slot` per the compatibility table: writable ones
/// first, then by label.
pub fn field_options(om: &ObjectMeta, slot: Slot) -> Vec<FieldOption> {
    let mut out: Vec<FieldOption> = om
        .fields()
        .filter(|f| compatible(slot, &f.kind))
        .map(|f| FieldOption {
            name: f.name.clone(),
            label: f.label.clone(),
            field_type: f.kind.as_str().to_string(),
            length: f.length,
            writable: f.updateable,
        })
        .collect();
    out.sort_by(|a, b| {
        b.writable
            .cmp(&a.writable)
            .then_with(|| a.label.cmp(&b.label))
    });
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
    fn field_options_offer_compatible_fields_writable_first() {
        let f = |name: &str, kind: FieldKind, updateable: bool| FieldMeta {
            name: name.into(),
            label: name.into(),
            kind,
            length: 255,
            createable: updateable,
            updateable,
            picklist_values: vec![],
            restricted_picklist: false,
            required_on_create: false,
        };
        let om = ObjectMeta::new(vec![
            f("A_Date__c", FieldKind::DateTime, true),
            f("B_Text__c", FieldKind::String, false),
            f("C_Text__c", FieldKind::String, true),
            f("D_Num__c", FieldKind::Number, true),
        ]);
        let names: Vec<_> = field_options(&om, Slot::Score)
            .into_iter()
            .map(|o| (o.name, o.writable))
            .collect();
        assert_eq!(
            names,
            [
                ("C_Text__c".to_string(), true),
                ("B_Text__c".to_string(), false)
            ]
        );
        assert_eq!(
            field_options(&om, Slot::EvaluationDate)[0].field_type,
            "datetime"
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
        };
        assert_eq!(f.picklist_lacks(Slot::Score), ["warm"]);
        assert_eq!(f.picklist_lacks(Slot::Propensity).len(), 3);
    }
}
