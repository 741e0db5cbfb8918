//! sObject metadata from `GET /sobjects/{name}/describe`: the subset the project needs
//! (field names, types, lengths, writability, picklists). Unknown keys are ignored because
//! real orgs keep adding them (`docs/salesforce.md#describe`).

use serde::{Deserialize, Deserializer};

/// A describe result (`DescribeSObjectResult`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SObjectDescribe {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub custom: bool,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub queryable: bool,
    #[serde(default)]
    pub key_prefix: Option<String>,
    #[serde(default)]
    pub fields: Vec<FieldDescribe>,
}

impl SObjectDescribe {
    /// The field with this API name (case-insensitive, as Salesforce treats names).
    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// One field of a describe result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescribe {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Characters for string-like types, 0 for others.
    #[serde(default)]
    pub length: u32,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub nillable: bool,
    #[serde(default)]
    pub defaulted_on_create: bool,
    /// Formula field (never writable).
    #[serde(default)]
    pub calculated: bool,
    /// Rich text area (`textarea` with HTML).
    #[serde(default)]
    pub html_formatted: bool,
    #[serde(default)]
    pub restricted_picklist: bool,
    /// Active picklist values only (inactive ones are rejected on write anyway).
    #[serde(default, deserialize_with = "active_picklist_values")]
    pub picklist_values: Vec<String>,
    #[serde(default)]
    pub custom: bool,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub filterable: bool,
    /// `plaintextarea` / `richtextarea` / ... when present.
    #[serde(default)]
    pub extra_type_info: Option<String>,
    /// Target objects of a reference field.
    #[serde(default)]
    pub reference_to: Vec<String>,
    /// `Account` for `AccountId`: the name used in relationship queries.
    #[serde(default)]
    pub relationship_name: Option<String>,
}

impl FieldDescribe {
    /// "Required on create" is not a flag in describe: `createable && !nillable &&
    /// !defaultedOnCreate` (`docs/salesforce.md#describe`).
    pub fn required_on_create(&self) -> bool {
        self.createable && !self.nillable && !self.defaulted_on_create
    }
}

#[derive(Deserialize)]
struct PicklistEntry {
    value: String,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

fn active_picklist_values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let entries: Option<Vec<PicklistEntry>> = Option::deserialize(d)?;
    Ok(entries
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.active)
        .map(|e| e.value)
        .collect())
}

/// A field's `type`. Long and rich text areas are both [`FieldType::TextArea`]
/// (distinguish by `length` and `html_formatted`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldType {
    Id,
    String,
    TextArea,
    Picklist,
    MultiPicklist,
    Combobox,
    Boolean,
    Int,
    Long,
    Double,
    Currency,
    Percent,
    Date,
    DateTime,
    Time,
    Email,
    Phone,
    Url,
    Reference,
    Base64,
    Address,
    Location,
    EncryptedString,
    AnyType,
    ComplexValue,
    /// A type this client does not know, as spelled by Salesforce.
    Other(std::string::String),
}

impl FieldType {
    /// Parses Salesforce's spelling (`datetime`, `textarea`, ...).
    pub fn parse(s: &str) -> FieldType {
        match s {
            "id" => FieldType::Id,
            "string" => FieldType::String,
            "textarea" => FieldType::TextArea,
            "picklist" => FieldType::Picklist,
            "multipicklist" => FieldType::MultiPicklist,
            "combobox" => FieldType::Combobox,
            "boolean" => FieldType::Boolean,
            "int" => FieldType::Int,
            "long" => FieldType::Long,
            "double" => FieldType::Double,
            "currency" => FieldType::Currency,
            "percent" => FieldType::Percent,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "time" => FieldType::Time,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "url" => FieldType::Url,
            "reference" => FieldType::Reference,
            "base64" => FieldType::Base64,
            "address" => FieldType::Address,
            "location" => FieldType::Location,
            "encryptedstring" => FieldType::EncryptedString,
            "anyType" => FieldType::AnyType,
            "complexvalue" => FieldType::ComplexValue,
            other => FieldType::Other(other.to_owned()),
        }
    }

    /// Salesforce's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            FieldType::Id => "id",
            FieldType::String => "string",
            FieldType::TextArea => "textarea",
            FieldType::Picklist => "picklist",
            FieldType::MultiPicklist => "multipicklist",
            FieldType::Combobox => "combobox",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Time => "time",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Reference => "reference",
            FieldType::Base64 => "base64",
            FieldType::Address => "address",
            FieldType::Location => "location",
            FieldType::EncryptedString => "encryptedstring",
            FieldType::AnyType => "anyType",
            FieldType::ComplexValue => "complexvalue",
            FieldType::Other(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::string::String::deserialize(d)?;
        Ok(FieldType::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field JSON in the modern shape (Account.BillingStreet as quoted in
    /// `docs/salesforce.md#describe`) plus keys this client does not know.
    #[test]
    fn parses_real_describe_json_ignoring_unknown_keys() {
        let json = r#"{
            "name": "Lead", "label": "Lead", "custom": false, "createable": true, "updateable": true,
            "queryable": true, "keyPrefix": "00Q", "activateable": false, "sobjectDescribeOption": "FULL",
            "urls": {"describe": "/services/data/v62.0/sobjects/Lead/describe"},
            "fields": [
                {"aggregatable":true,"dependentPicklist":false,"deprecatedAndHidden":false,"digits":0,
                 "displayLocationInDecimal":false,"encrypted":false,"externalId":false,"extraTypeInfo":"plaintextarea",
                 "filterable":true,"filteredLookupInfo":null,"groupable":true,"highScaleNumber":false,"htmlFormatted":false,
                 "idLookup":false,"inlineHelpText":null,"label":"Billing Street","length":255,"mask":null,"maskType":null,
                 "name":"BillingStreet","nameField":false,"namePointing":false,"nillable":true,"permissionable":true,
                 "picklistValues":[],"precision":0,"queryByDistance":false,"referenceTargetField":null,"referenceTo":[],
                 "relationshipName":null,"relationshipOrder":null,"restrictedDelete":false,"restrictedPicklist":false,
                 "scale":0,"soapType":"xsd:string","sortable":true,"type":"textarea","unique":false,"updateable":true,
                 "writeRequiresMasterRead":false, "aiPredictionField": false},
                {"name":"Status","label":"Status","type":"picklist","length":255,"createable":true,"updateable":true,
                 "nillable":false,"defaultedOnCreate":true,"restrictedPicklist":true,
                 "picklistValues":[
                    {"active":true,"defaultValue":true,"label":"Open","validFor":null,"value":"Open - Not Contacted"},
                    {"active":false,"defaultValue":false,"label":"Old","validFor":null,"value":"Old"}]},
                {"name":"TrailSpark_Evaluation_Date__c","label":"Eval","type":"datetime","custom":true,"nillable":true,
                 "createable":true,"updateable":true},
                {"name":"OwnerId","type":"reference","referenceTo":["Group","User"],"relationshipName":"Owner",
                 "createable":true,"updateable":true,"nillable":false,"defaultedOnCreate":true},
                {"name":"LastName","type":"string","length":80,"createable":true,"nillable":false},
                {"name":"Geo","type":"somethingNew"}
            ]
        }"#;
        let d: SObjectDescribe = serde_json::from_str(json).unwrap();
        assert_eq!(d.key_prefix.as_deref(), Some("00Q"));
        let street = d.field("billingstreet").unwrap();
        assert_eq!(street.field_type, FieldType::TextArea);
        assert_eq!(street.length, 255);
        assert_eq!(street.extra_type_info.as_deref(), Some("plaintextarea"));
        let status = d.field("Status").unwrap();
        assert_eq!(status.picklist_values, vec!["Open - Not Contacted"]);
        assert!(status.restricted_picklist && !status.required_on_create());
        assert!(d.field("LastName").unwrap().required_on_create());
        let date = d.field("TrailSpark_Evaluation_Date__c").unwrap();
        assert_eq!(date.field_type, FieldType::DateTime);
        assert!(date.custom);
        assert_eq!(
            d.field("OwnerId").unwrap().reference_to,
            vec!["Group", "User"]
        );
        assert_eq!(
            d.field("Geo").unwrap().field_type,
            FieldType::Other("somethingNew".into())
        );
        assert_eq!(d.field("Geo").unwrap().field_type.as_str(), "somethingNew");
    }

    #[test]
    fn field_type_round_trips() {
        for s in [
            "id",
            "string",
            "textarea",
            "picklist",
            "multipicklist",
            "boolean",
            "datetime",
            "date",
            "email",
            "reference",
            "anyType",
        ] {
            assert_eq!(FieldType::parse(s).as_str(), s);
        }
    }
}
