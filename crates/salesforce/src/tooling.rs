//! Custom fields through the Tooling API: list the org's custom fields (visible to the
//! integration user or not), read one field's metadata, and create fields 25 per
//! `tooling/composite` request (one API call each), with typed errors for a name that is
//! taken, a user who may not customize the org, and a definition Salesforce refuses.
//!
//! Tooling API Developer Guide, CustomField:
//! <https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customfield.htm>;
//! Composite: <https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_resources_composite_composite.htm>
//! ("up to 25 subrequests … up to five of these subrequests can be query operations";
//! the request counts as one call).

use serde_json::{Value, json};

use crate::client::{CallKind, Client, Request};
use crate::composite::{self, QueryPage, SubRequest, SubResponse};
use crate::error::Error;
use crate::soql::quote_soql_literal;
use crate::types::Record;

/// Subrequests in one `tooling/composite` request.
pub const TOOLING_COMPOSITE_MAX_SUBREQUESTS: usize = 25;

/// A custom field to create: `object.name` (the name ends in `__c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFieldSpec {
    pub object: String,
    pub name: String,
    pub label: String,
    pub description: Option<String>,
    pub kind: CustomFieldKind,
}

/// The field's type and the metadata that type takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomFieldKind {
    /// `length` 1–255.
    Text {
        length: u32,
        external_id: bool,
        unique: bool,
    },
    /// `length` 256–131,072; `visible_lines` 2–50.
    LongTextArea {
        length: u32,
        visible_lines: u32,
    },
    /// Values in order; `restricted` refuses any other value.
    Picklist {
        values: Vec<String>,
        restricted: bool,
    },
    DateTime,
    Date,
}

impl CustomFieldKind {
    /// The Metadata API type name (`Text`, `LongTextArea`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            CustomFieldKind::Text { .. } => "Text",
            CustomFieldKind::LongTextArea { .. } => "LongTextArea",
            CustomFieldKind::Picklist { .. } => "Picklist",
            CustomFieldKind::DateTime => "DateTime",
            CustomFieldKind::Date => "Date",
        }
    }
}

impl std::fmt::Display for CustomFieldKind {
    /// As Setup shows it: `Text(10)`, `Long Text Area(131072)`, `Picklist (hot, warm, cold)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CustomFieldKind::Text {
                length,
                external_id,
                unique,
            } => {
                write!(f, "Text({length})")?;
                if *external_id {
                    write!(f, " External ID")?;
                }
                if *unique {
                    write!(f, " Unique")?;
                }
                Ok(())
            }
            CustomFieldKind::LongTextArea { length, .. } => write!(f, "Long Text Area({length})"),
            CustomFieldKind::Picklist { values, restricted } => write!(
                f,
                "{}Picklist ({})",
                if *restricted { "Restricted " } else { "" },
                values.join(", ")
            ),
            CustomFieldKind::DateTime => write!(f, "Date/Time"),
            CustomFieldKind::Date => write!(f, "Date"),
        }
    }
}

impl CustomFieldSpec {
    /// `Lead.TrailSpark_Score__c`.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.object, self.name)
    }

    /// The create body: `{"FullName", "Metadata"}` (`fullName` is not repeated inside).
    pub fn body(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("label".into(), json!(self.label));
        m.insert("type".into(), json!(self.kind.type_name()));
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        match &self.kind {
            CustomFieldKind::Text {
                length,
                external_id,
                unique,
            } => {
                m.insert("length".into(), json!(length));
                m.insert("externalId".into(), json!(external_id));
                m.insert("unique".into(), json!(unique));
            }
            CustomFieldKind::LongTextArea {
                length,
                visible_lines,
            } => {
                m.insert("length".into(), json!(length));
                m.insert("visibleLines".into(), json!(visible_lines));
            }
            CustomFieldKind::Picklist { values, restricted } => {
                let values: Vec<Value> = values
                    .iter()
                    .map(|v| json!({"fullName": v, "label": v, "default": false}))
                    .collect();
                m.insert(
                    "valueSet".into(),
                    json!({"restricted": restricted,
                           "valueSetDefinition": {"sorted": false, "value": values}}),
                );
            }
            CustomFieldKind::DateTime | CustomFieldKind::Date => {}
        }
        json!({"FullName": self.full_name(), "Metadata": m})
    }
}

/// A custom field of the org as Tooling lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFieldInfo {
    /// `00N…`
    pub id: String,
    /// `TableEnumOrId`: the object's name for standard objects.
    pub object: String,
    /// Without namespace and `__c`.
    pub developer_name: String,
    pub namespace: Option<String>,
}

impl CustomFieldInfo {
    /// The API name: `ns__Name__c` or `Name__c`.
    pub fn api_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}__{}__c", self.developer_name),
            None => format!("{}__c", self.developer_name),
        }
    }
}

/// One field's `Metadata` (the part that says what it can hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomFieldMetadata {
    /// Metadata API type: `Text`, `LongTextArea`, `Picklist`, `DateTime`, …
    pub field_type: String,
    pub label: String,
    pub length: Option<u32>,
    pub required: bool,
    pub picklist_values: Vec<String>,
    pub restricted: bool,
    /// A formula (calculated) field: never writable.
    pub formula: bool,
    /// An External ID field (the key of an upsert).
    pub external_id: bool,
}

impl CustomFieldMetadata {
    fn from_json(m: &Value) -> CustomFieldMetadata {
        let int = |k: &str| -> Option<u32> {
            match &m[k] {
                Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
        };
        let truthy = |v: &Value| v == &json!(true) || v == &json!("true");
        CustomFieldMetadata {
            field_type: m["type"].as_str().unwrap_or("").to_owned(),
            label: m["label"].as_str().unwrap_or("").to_owned(),
            length: int("length"),
            required: truthy(&m["required"]),
            picklist_values: m
                .pointer("/valueSet/valueSetDefinition/value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v["fullName"].as_str().map(str::to_owned))
                .collect(),
            restricted: m.pointer("/valueSet/restricted").is_some_and(truthy),
            formula: m["formula"].as_str().is_some_and(|f| !f.trim().is_empty()),
            external_id: truthy(&m["externalId"]),
        }
    }
}

/// Why one field was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolingError {
    /// `DUPLICATE_DEVELOPER_NAME`: the object already has a field of that name.
    #[error("{object} already has a field named {name}: {message}")]
    DuplicateName {
        object: String,
        name: String,
        message: String,
    },
    /// The integration user lacks the "Customize Application" permission creating
    /// metadata needs (Salesforce answers `INSUFFICIENT_ACCESS…`).
    #[error(
        "the integration user may not create fields: give it the \"Customize Application\" permission (Salesforce said {code}: {message})"
    )]
    CannotCustomize { code: String, message: String },
    /// Salesforce refused the field's definition (type, length, name, …).
    #[error("Salesforce refused the field definition: {code}: {message}")]
    BadMetadata { code: String, message: String },
    /// Anything else (transport, limits, server errors).
    #[error(transparent)]
    Api(Error),
}

impl ToolingError {
    /// Classifies a failed create of `spec`.
    pub fn from_error(spec: &CustomFieldSpec, e: Error) -> ToolingError {
        let (code, message) = match &e {
            Error::Api { errors, .. } => match errors.first() {
                Some(a) => (a.error_code.clone(), a.message.clone()),
                None => return ToolingError::Api(e),
            },
            _ => return ToolingError::Api(e),
        };
        match code.as_str() {
            "DUPLICATE_DEVELOPER_NAME" => ToolingError::DuplicateName {
                object: spec.object.clone(),
                name: spec.name.clone(),
                message,
            },
            "INSUFFICIENT_ACCESS"
            | "INSUFFICIENT_ACCESS_OR_READONLY"
            | "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY" => {
                ToolingError::CannotCustomize { code, message }
            }
            "FIELD_INTEGRITY_EXCEPTION"
            | "JSON_PARSER_ERROR"
            | "REQUIRED_FIELD_MISSING"
            | "INVALID_FIELD"
            | "STRING_TOO_LONG"
            | "INVALID_TYPE" => ToolingError::BadMetadata { code, message },
            _ => ToolingError::Api(e),
        }
    }
}

impl Client {
    fn tooling_path(&self) -> String {
        format!("{}/tooling", self.api_version().data_path())
    }

    /// Runs a Tooling SOQL query, following `nextRecordsUrl`.
    pub async fn tooling_query(&self, soql: &str) -> Result<Vec<Record>, Error> {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        let mut next = Some(format!("{}/query?q={q}", self.tooling_path()));
        let mut records = Vec::new();
        while let Some(path) = next.take() {
            let resp = self.send(&Request::get(&path, CallKind::Query)).await?;
            let page = QueryPage::parse(resp.json("tooling query result")?)?;
            next = page.next().map(str::to_owned);
            records.extend(page.records);
        }
        Ok(records)
    }

    /// The custom fields of `objects` named `developer_names` (without `__c`; all when
    /// empty), whatever the integration user's access to them: one Tooling query.
    pub async fn list_custom_fields(
        &self,
        objects: &[&str],
        developer_names: &[&str],
    ) -> Result<Vec<CustomFieldInfo>, Error> {
        let list = |xs: &[&str]| {
            xs.iter()
                .map(|x| quote_soql_literal(x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut soql = format!(
            "SELECT Id, DeveloperName, TableEnumOrId, NamespacePrefix FROM CustomField WHERE TableEnumOrId IN ({})",
            list(objects)
        );
        if !developer_names.is_empty() {
            soql.push_str(&format!(
                " AND DeveloperName IN ({})",
                list(developer_names)
            ));
        }
        let rows = self.tooling_query(&soql).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
                CustomFieldInfo {
                    id: s("Id").unwrap_or_default(),
                    object: s("TableEnumOrId").unwrap_or_default(),
                    developer_name: s("DeveloperName").unwrap_or_default(),
                    namespace: s("NamespacePrefix").filter(|n| !n.is_empty()),
                }
            })
            .collect())
    }

    /// The `Metadata` of fields by Tooling id (`GET tooling/sobjects/CustomField/{id}`,
    /// 25 per `tooling/composite` call), in input order.
    pub async fn custom_field_metadata(
        &self,
        ids: &[String],
    ) -> Result<Vec<Result<CustomFieldMetadata, Error>>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(TOOLING_COMPOSITE_MAX_SUBREQUESTS) {
            let subs: Vec<SubRequest> = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    composite::query_subrequest(
                        format!("{}/sobjects/CustomField/{id}", self.tooling_path()),
                        format!("m{i}"),
                    )
                })
                .collect();
            for sub in self.tooling_composite(&subs, true).await? {
                out.push(if sub.is_success() {
                    Ok(CustomFieldMetadata::from_json(&sub.body["Metadata"]))
                } else {
                    Err(sub.error())
                });
            }
        }
        Ok(out)
    }

    /// Creates fields, 25 per `tooling/composite` request (`allOrNone:false`: one refused
    /// field does not stop the others). Results in input order: the new field's `00N…` id,
    /// or why it was not created. A request that fails as a whole gives each of its fields
    /// that error; an ambiguous failure (timeout, HTTP 500) is not resent, since the fields
    /// may exist: list them again before retrying.
    pub async fn create_custom_fields(
        &self,
        specs: &[CustomFieldSpec],
    ) -> Vec<Result<String, ToolingError>> {
        let mut out = Vec::with_capacity(specs.len());
        for chunk in specs.chunks(TOOLING_COMPOSITE_MAX_SUBREQUESTS) {
            let subs: Vec<SubRequest> = chunk
                .iter()
                .enumerate()
                .map(|(i, spec)| SubRequest {
                    method: "POST",
                    url: format!("{}/sobjects/CustomField", self.tooling_path()),
                    reference_id: format!("f{i}"),
                    body: Some(spec.body()),
                    http_headers: Vec::new(),
                })
                .collect();
            match self.tooling_composite(&subs, false).await {
                Ok(answers) => {
                    for (spec, sub) in chunk.iter().zip(answers) {
                        out.push(created_id(sub).map_err(|e| ToolingError::from_error(spec, e)));
                    }
                }
                Err(e) => {
                    for spec in chunk {
                        out.push(Err(ToolingError::from_error(spec, e.clone())));
                    }
                }
            }
        }
        out
    }

    /// One `tooling/composite` request.
    async fn tooling_composite(
        &self,
        subs: &[SubRequest],
        resend_ambiguous: bool,
    ) -> Result<Vec<SubResponse>, Error> {
        let body = composite::composite_body(subs);
        let path = format!("{}/composite", self.tooling_path());
        let resp = self
            .send(&Request {
                method: reqwest::Method::POST,
                path: &path,
                body: Some(&body),
                headers: Vec::new(),
                kind: CallKind::Composite,
                resend_ambiguous,
            })
            .await?;
        composite::parse_composite_response(subs, &resp.body)
    }
}

/// The id of a successful create subresponse, or its error.
pub(crate) fn created_id(sub: SubResponse) -> Result<String, Error> {
    if !sub.is_success() {
        return Err(sub.error());
    }
    sub.body["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Decode(format!("create result without an id: {}", sub.body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn spec(kind: CustomFieldKind) -> CustomFieldSpec {
        CustomFieldSpec {
            object: "Lead".into(),
            name: "TrailSpark_Score__c".into(),
            label: "TrailSpark Score".into(),
            description: None,
            kind,
        }
    }

    #[test]
    fn bodies_per_type() {
        assert_eq!(
            spec(CustomFieldKind::Text {
                length: 10,
                external_id: false,
                unique: false
            })
            .body(),
            json!({"FullName": "Lead.TrailSpark_Score__c", "Metadata": {
                "label": "TrailSpark Score", "type": "Text", "length": 10,
                "externalId": false, "unique": false}})
        );
        assert_eq!(
            spec(CustomFieldKind::LongTextArea {
                length: 131_072,
                visible_lines: 6
            })
            .body()["Metadata"],
            json!({"label": "TrailSpark Score", "type": "LongTextArea", "length": 131072, "visibleLines": 6})
        );
        let p = spec(CustomFieldKind::Picklist {
            values: vec!["hot".into(), "warm".into()],
            restricted: true,
        })
        .body();
        assert_eq!(p["Metadata"]["valueSet"]["restricted"], true);
        assert_eq!(
            p["Metadata"]["valueSet"]["valueSetDefinition"]["value"][1],
            json!({"fullName": "warm", "label": "warm", "default": false})
        );
        assert_eq!(
            spec(CustomFieldKind::DateTime).body()["Metadata"],
            json!({"label": "TrailSpark Score", "type": "DateTime"})
        );
    }

    #[test]
    fn errors_are_typed_by_code() {
        let api = |code: &str| Error::Api {
            status: 400,
            errors: vec![ApiError {
                error_code: code.into(),
                message: "m".into(),
                fields: vec![],
            }],
        };
        let s = spec(CustomFieldKind::DateTime);
        assert!(matches!(
            ToolingError::from_error(&s, api("DUPLICATE_DEVELOPER_NAME")),
            ToolingError::DuplicateName { .. }
        ));
        let e = ToolingError::from_error(&s, api("INSUFFICIENT_ACCESS"));
        assert!(e.to_string().contains("\"Customize Application\""), "{e}");
        assert!(matches!(
            ToolingError::from_error(&s, api("FIELD_INTEGRITY_EXCEPTION")),
            ToolingError::BadMetadata { .. }
        ));
        assert!(matches!(
            ToolingError::from_error(&s, api("SERVER_UNAVAILABLE")),
            ToolingError::Api(_)
        ));
    }

    #[test]
    fn metadata_parses_numbers_as_strings_and_picklists() {
        let m = CustomFieldMetadata::from_json(
            &json!({"type": "Picklist", "label": "S", "length": "10",
            "valueSet": {"restricted": true, "valueSetDefinition": {"value": [{"fullName": "hot"}]}}}),
        );
        assert_eq!(m.length, Some(10));
        assert_eq!(m.picklist_values, ["hot"]);
        assert!(m.restricted && !m.required);
        assert_eq!(
            CustomFieldKind::Picklist {
                values: vec!["hot".into()],
                restricted: true
            }
            .to_string(),
            "Restricted Picklist (hot)"
        );
    }
}
