//! Object and field metadata of the emulated org, and its rendering as Salesforce's
//! `DescribeSObjectResult` (docs/salesforce.md#describe).
//!
//! Field-level security is folded into the metadata: `createable`/`updateable` are what
//! the integration user sees, which is also what Salesforce's describe reports for the
//! running user.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A field's data type, as spelled in describe's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Id,
    String,
    Textarea,
    Picklist,
    Boolean,
    Date,
    Datetime,
    Email,
    Url,
    Phone,
    Reference,
    Double,
    Int,
    Currency,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::String => "string",
            FieldType::Textarea => "textarea",
            FieldType::Picklist => "picklist",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Email => "email",
            FieldType::Url => "url",
            FieldType::Phone => "phone",
            FieldType::Reference => "reference",
            FieldType::Double => "double",
            FieldType::Int => "int",
            FieldType::Currency => "currency",
        }
    }

    /// describe's `soapType` (restforce describe fixture).
    fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Date => "xsd:date",
            FieldType::Datetime => "xsd:dateTime",
            FieldType::Double | FieldType::Currency => "xsd:double",
            FieldType::Int => "xsd:int",
            _ => "xsd:string",
        }
    }

    /// Types whose describe `length` counts characters (others report 0).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Textarea
                | FieldType::Picklist
                | FieldType::Email
                | FieldType::Url
                | FieldType::Phone
                | FieldType::Id
                | FieldType::Reference
        )
    }
}

/// How a formula (calculated) field derives its value; evaluated on every save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Formula {
    /// The part of an email field after `@` (lowercased), or null.
    EmailDomain { field: String },
    /// True when the field is not blank.
    IsSet { field: String },
    /// First and last name joined by a space (standard `Name` of Lead and Contact).
    FullName,
}

impl Formula {
    /// The formula as an admin would have typed it (describe's `calculatedFormula`).
    pub fn source(&self) -> String {
        match self {
            Formula::EmailDomain { field } => {
                format!("LOWER(MID({field}, FIND(\"@\", {field}) + 1, 255))")
            }
            Formula::IsSet { field } => format!("NOT(ISBLANK({field}))"),
            Formula::FullName => "FirstName & \" \" & LastName".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PicklistValue {
    pub value: String,
    pub label: String,
    #[serde(default)]
    pub default: bool,
}

/// One field of an object.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    pub ftype: FieldType,
    pub length: u32,
    pub createable: bool,
    pub updateable: bool,
    pub nillable: bool,
    pub defaulted_on_create: bool,
    /// Value filled in on create when the field is absent.
    pub default_value: Option<Value>,
    pub formula: Option<Formula>,
    pub html_formatted: bool,
    pub picklist: Vec<PicklistValue>,
    pub restricted_picklist: bool,
    pub reference_to: Vec<String>,
    pub relationship_name: Option<String>,
    pub custom: bool,
    /// An External ID: indexed, and usable as the key of an upsert
    /// (docs/salesforce.md#upsert-by-external-id).
    pub external_id: bool,
    /// No two live records of the object hold the same (non-blank) value.
    pub unique: bool,
    /// How values of an External ID or unique text field are compared: case-insensitively
    /// (`ABC` = `abc`) unless the field is marked case-sensitive.
    pub case_sensitive: bool,
    pub name_field: bool,
    /// Set by the system (Id, audit fields): never in a write body.
    pub system: bool,
}

impl FieldDef {
    /// A writable, nillable standard field of the given type and length.
    pub fn new(name: &str, label: &str, ftype: FieldType, length: u32) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            ftype,
            length: if ftype.is_text() { length } else { 0 },
            createable: true,
            updateable: true,
            nillable: true,
            defaulted_on_create: false,
            default_value: None,
            formula: None,
            html_formatted: false,
            picklist: Vec::new(),
            restricted_picklist: false,
            reference_to: Vec::new(),
            relationship_name: None,
            custom: name.ends_with("__c"),
            external_id: false,
            unique: false,
            case_sensitive: false,
            name_field: false,
            system: false,
        }
    }

    pub fn required(mut self) -> Self {
        self.nillable = false;
        self
    }

    pub fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }

    /// Set by the platform: read-only, and not nillable when `always` is true.
    pub fn system(mut self, always: bool) -> Self {
        self.createable = false;
        self.updateable = false;
        self.system = true;
        self.nillable = !always;
        self.defaulted_on_create = always;
        self
    }

    pub fn reference(mut self, to: &[&str], relationship: &str) -> Self {
        self.reference_to = to.iter().map(|s| (*s).to_owned()).collect();
        self.relationship_name = Some(relationship.to_owned());
        self
    }

    pub fn picklist(mut self, values: &[&str], default: Option<&str>, restricted: bool) -> Self {
        self.picklist = values
            .iter()
            .map(|v| PicklistValue {
                value: (*v).to_owned(),
                label: (*v).to_owned(),
                default: Some(*v) == default,
            })
            .collect();
        if let Some(d) = default {
            self.defaulted_on_create = true;
            self.default_value = Some(Value::String(d.to_owned()));
        }
        self.restricted_picklist = restricted;
        self
    }

    pub fn formula(mut self, formula: Formula) -> Self {
        self.formula = Some(formula);
        self.createable = false;
        self.updateable = false;
        self
    }

    /// Not nillable, but filled in when absent (e.g. `OwnerId` defaults to the user).
    pub fn required_defaulted(mut self) -> Self {
        self.nillable = false;
        self.defaulted_on_create = true;
        self
    }

    pub fn with_default(mut self, v: Value) -> Self {
        self.default_value = Some(v);
        self.defaulted_on_create = true;
        self
    }

    pub fn named(mut self) -> Self {
        self.name_field = true;
        self
    }

    pub fn rich_text(mut self) -> Self {
        self.html_formatted = true;
        self
    }

    /// "Required on create" as clients derive it (docs/salesforce.md#describe).
    pub fn required_on_create(&self) -> bool {
        self.createable && !self.nillable && !self.defaulted_on_create
    }

    fn extra_type_info(&self) -> Value {
        match self.ftype {
            FieldType::Textarea if self.html_formatted => json!("richtextarea"),
            FieldType::Textarea => json!("plaintextarea"),
            FieldType::Url => json!("url"),
            FieldType::Reference if self.name == "OwnerId" => json!("externallookup"),
            _ => Value::Null,
        }
    }

    /// The field object of describe's `fields` array (keys per plugin-schema's
    /// sobject-describe.json, docs/salesforce.md#describe).
    pub fn describe(&self) -> Value {
        let is_id = self.ftype == FieldType::Id;
        let long_text = self.ftype == FieldType::Textarea && self.length > 255;
        let picklist_values: Vec<Value> = self
            .picklist
            .iter()
            .map(|p| {
                json!({"active": true, "defaultValue": p.default, "label": p.label,
                       "validFor": null, "value": p.value})
            })
            .collect();
        let digits = if self.ftype == FieldType::Int { 9 } else { 0 };
        let (precision, scale) = match self.ftype {
            FieldType::Double | FieldType::Currency => (18, 2),
            _ => (0, 0),
        };
        json!({
            "aggregatable": !long_text,
            "aiPredictionField": false,
            "autoNumber": false,
            "byteLength": self.length * 3,
            // Standard compound names (Lead/Contact `Name`) are derived but not formulas.
            "calculated": self.formula.is_some() && self.custom,
            "calculatedFormula": self.formula.as_ref().filter(|_| self.custom).map(Formula::source),
            "cascadeDelete": false,
            "caseSensitive": self.case_sensitive,
            "compoundFieldName": null,
            "controllerName": null,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": if self.ftype == FieldType::Boolean { self.default_value.clone().unwrap_or(json!(false)) } else { Value::Null },
            "defaultValueFormula": null,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": false,
            "deprecatedAndHidden": false,
            "digits": digits,
            "displayLocationInDecimal": false,
            "encrypted": false,
            "externalId": self.external_id,
            "extraTypeInfo": self.extra_type_info(),
            "filterable": !long_text,
            "filteredLookupInfo": null,
            "formulaTreatNullNumberAsZero": false,
            "groupable": !long_text && !matches!(self.ftype, FieldType::Datetime | FieldType::Double | FieldType::Currency),
            "highScaleNumber": false,
            "htmlFormatted": self.html_formatted,
            "idLookup": is_id || self.ftype == FieldType::Email || self.external_id,
            "inlineHelpText": null,
            "label": self.label,
            "length": self.length,
            "mask": null,
            "maskType": null,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": false,
            "nillable": self.nillable,
            "permissionable": !self.system && self.nillable,
            "picklistValues": picklist_values,
            "polymorphicForeignKey": self.reference_to.len() > 1,
            "precision": precision,
            "queryByDistance": false,
            "referenceTargetField": null,
            "referenceTo": self.reference_to,
            "relationshipName": self.relationship_name,
            "relationshipOrder": null,
            "restrictedDelete": false,
            "restrictedPicklist": self.restricted_picklist,
            "scale": scale,
            "searchPrefilterable": false,
            "soapType": self.ftype.soap_type(),
            "sortable": !long_text,
            "type": self.ftype.as_str(),
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": false,
        })
    }
}

/// One object (sObject type) of the org.
#[derive(Debug, Clone)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    pub label_plural: String,
    pub key_prefix: String,
    pub fields: Vec<FieldDef>,
}

fn self_prefix(name: &str) -> &'static str {
    match name {
        "Lead" => "00Q",
        "Contact" => "003",
        "Account" => "001",
        _ => "a00",
    }
}

/// The describe `urls` of an object.
fn object_urls(version: &str, name: &str) -> Value {
    let base = format!("/services/data/v{version}/sobjects/{name}");
    json!({
        "compactLayouts": format!("{base}/describe/compactLayouts"),
        "rowTemplate": format!("{base}/{{ID}}"),
        "approvalLayouts": format!("{base}/describe/approvalLayouts"),
        "uiDetailTemplate": format!("https://localhost/{{ID}}"),
        "uiEditTemplate": format!("https://localhost/{{ID}}/e"),
        "defaultValues": format!("{base}/defaultValues?recordTypeId&fields"),
        "listviews": format!("{base}/listviews"),
        "describe": format!("{base}/describe"),
        "uiNewRecord": format!("https://localhost/{}/e", self_prefix(name)),
        "quickActions": format!("{base}/quickActions"),
        "layouts": format!("{base}/describe/layouts"),
        "sobject": base,
    })
}

impl ObjectDef {
    /// The field with this name, case-insensitively (API names are case-insensitive).
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The reference field whose relationship name is `rel`.
    pub fn relationship(&self, rel: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| {
            f.relationship_name
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(rel))
        })
    }

    pub fn is_custom(&self) -> bool {
        self.name.ends_with("__c")
    }

    /// The entry of the global describe's `sobjects` list.
    pub fn describe_global_entry(&self, version: &str) -> Value {
        let mut v = self.flags();
        if let Value::Object(m) = &mut v {
            m.insert("urls".into(), object_urls(version, &self.name));
        }
        v
    }

    fn flags(&self) -> Value {
        json!({
            "activateable": false,
            "associateEntityType": null,
            "associateParentEntity": null,
            "createable": true,
            "custom": self.is_custom(),
            "customSetting": false,
            "deepCloneable": false,
            "deletable": true,
            "deprecatedAndHidden": false,
            "feedEnabled": true,
            "hasSubtypes": false,
            "isInterface": false,
            "isSubtype": false,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": true,
            "mergeable": matches!(self.name.as_str(), "Lead" | "Contact" | "Account"),
            "mruEnabled": true,
            "name": self.name,
            "queryable": true,
            "replicateable": true,
            "retrieveable": true,
            "searchable": true,
            "triggerable": true,
            "undeletable": true,
            "updateable": true,
        })
    }

    /// The full `DescribeSObjectResult` (keys: docs/salesforce.md#describe).
    pub fn describe(&self, version: &str, children: Vec<Value>) -> Value {
        let mut v = self.flags();
        if let Value::Object(m) = &mut v {
            let extra = json!({
                "actionOverrides": [],
                "childRelationships": children,
                "compactLayoutable": true,
                "defaultImplementation": null,
                "extendedBy": null,
                "extendsInterfaces": null,
                "fields": self.fields.iter().map(FieldDef::describe).collect::<Vec<_>>(),
                "idEnabled": true,
                "implementedBy": null,
                "implementsInterfaces": null,
                "listviewable": null,
                "lookupLayoutable": null,
                "namedLayoutInfos": [],
                "networkScopeFieldName": null,
                "recordTypeInfos": [{
                    "active": true,
                    "available": true,
                    "defaultRecordTypeMapping": true,
                    "developerName": "Master",
                    "master": true,
                    "name": "Master",
                    // The Master record type's fixed id (docs/salesforce.md#describe).
                    "recordTypeId": "012000000000000AAA",
                    "urls": {"layout": format!("/services/data/v{version}/sobjects/{}/describe/layouts/012000000000000AAA", self.name)},
                }],
                "searchLayoutable": true,
                "sobjectDescribeOption": "FULL",
                "supportedScopes": [
                    {"label": "All", "name": "everything"},
                    {"label": "My", "name": "mine"},
                ],
                "urls": object_urls(version, &self.name),
            });
            if let Value::Object(e) = extra {
                m.extend(e);
            }
        }
        v
    }
}
