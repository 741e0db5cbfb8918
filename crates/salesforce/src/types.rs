//! Plain data exchanged with callers: records, collection writes and their results,
//! identity.

use serde::Deserialize;

/// A record as Salesforce returns it: field name → JSON value, `attributes` included.
/// (`serde_json` has `preserve_order` on, so the SELECT order is kept.)
pub type Record = serde_json::Map<String, serde_json::Value>;

/// Create (POST), update (PATCH) or upsert by an External ID field (PATCH
/// `/composite/sobjects/{object}/{field}`, `docs/salesforce.md#upsert-by-external-id`)
/// through sObject Collections.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WriteAction {
    Create,
    Update,
    /// Every record is of `object` and carries `external_id` (the field's API name) with
    /// its value: a record holding that value is updated, otherwise one is created. Safe to
    /// send again after an ambiguous failure: a record the first send created is matched.
    Upsert {
        object: String,
        external_id: String,
    },
}

impl WriteAction {
    pub(crate) fn method(&self) -> &'static str {
        match self {
            WriteAction::Create => "POST",
            WriteAction::Update | WriteAction::Upsert { .. } => "PATCH",
        }
    }

    /// Whether sending it may create records (duplicate rules apply to it).
    pub fn may_create(&self) -> bool {
        !matches!(self, WriteAction::Update)
    }

    /// Whether sending it twice could create a record twice: a plain create, whose answer
    /// once lost can only be settled by looking the records up again.
    pub fn resend_may_duplicate(&self) -> bool {
        matches!(self, WriteAction::Create)
    }
}

/// One sObject Collections request: at most [`crate::COLLECTION_MAX_RECORDS`] records, each
/// with `"attributes":{"type":"Lead"}`, and `"Id"` (or `"id"`) for updates.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionWrite {
    pub action: WriteAction,
    pub records: Vec<Record>,
}

/// Options of [`crate::Client::write_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Send `Sforce-Duplicate-Rule-Header: allowSave=true` (saves despite *alert* duplicate
    /// rules; *block* rules still fail).
    pub allow_duplicate_save: bool,
}

/// One record's result in a collections response (same position as the record sent).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SaveResult {
    /// Absent for failed creates.
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<RecordError>,
    /// Present for upserts only: true when the record was created, false when the external
    /// id matched an existing record, which was updated.
    #[serde(default)]
    pub created: Option<bool>,
}

/// A per-record error. Collections use `statusCode` where the REST error array uses
/// `errorCode`; both spellings are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub status_code: String,
    pub message: String,
    pub fields: Vec<String>,
    /// Ids of matching records when Salesforce includes `duplicateResult` (single-record
    /// REST); Collections usually omit it.
    pub duplicate_ids: Vec<String>,
}

impl<'de> Deserialize<'de> for RecordError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "statusCode", alias = "errorCode", default)]
            status_code: String,
            #[serde(default)]
            message: String,
            #[serde(default)]
            fields: Option<Vec<String>>,
            #[serde(rename = "duplicateResult", default)]
            duplicate_result: Option<serde_json::Value>,
        }
        let raw = Raw::deserialize(d)?;
        let duplicate_ids = raw
            .duplicate_result
            .as_ref()
            .and_then(|d| d.get("matchResults"))
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("matchRecords").and_then(|r| r.as_array()))
            .flatten()
            .filter_map(|r| r.pointer("/record/Id").and_then(|i| i.as_str()))
            .map(str::to_owned)
            .collect();
        Ok(RecordError {
            status_code: raw.status_code,
            message: raw.message,
            fields: raw.fields.unwrap_or_default(),
            duplicate_ids,
        })
    }
}

/// Who the client is connected as (OpenID Connect userinfo / identity URL).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Identity {
    pub user_id: String,
    pub organization_id: String,
    /// `preferred_username` in userinfo, `username` on the identity URL.
    #[serde(alias = "preferred_username")]
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    /// `name` in userinfo, `display_name` on the identity URL.
    #[serde(default, alias = "name")]
    pub display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_results_parse_collections_shape() {
        let v = serde_json::json!([
            {"id":"001RM000003oLnnYAE","success":true,"errors":[]},
            {"success":false,"errors":[{"statusCode":"DUPLICATES_DETECTED","message":"Use one of these records?","fields":[]}]}
        ]);
        let r: Vec<SaveResult> = serde_json::from_value(v).unwrap();
        assert_eq!(r[0].id.as_deref(), Some("001RM000003oLnnYAE"));
        assert!(r[1].id.is_none() && !r[1].success);
        assert_eq!(r[1].errors[0].status_code, "DUPLICATES_DETECTED");
    }

    #[test]
    fn record_error_reads_duplicate_ids_and_error_code_spelling() {
        let v = serde_json::json!({"duplicateResult":{"allowSave":true,"matchResults":[{"matchRecords":[
            {"record":{"attributes":{"type":"Contact"},"Id":"0038M0000016Wv8QAE"}}]}]},
            "errorCode":"DUPLICATES_DETECTED","message":"dup"});
        let e: RecordError = serde_json::from_value(v).unwrap();
        assert_eq!(e.status_code, "DUPLICATES_DETECTED");
        assert_eq!(e.duplicate_ids, vec!["0038M0000016Wv8QAE"]);
    }

    #[test]
    fn identity_parses_userinfo_and_identity_url_shapes() {
        let ui: Identity = serde_json::from_value(serde_json::json!({
            "sub":"https://login.salesforce.com/id/00D/005","user_id":"005x","organization_id":"00Dx",
            "preferred_username":"int@acme.com","name":"Integration","email":"i@acme.com"})).unwrap();
        assert_eq!(ui.username, "int@acme.com");
        assert_eq!(ui.display_name.as_deref(), Some("Integration"));
        let id: Identity = serde_json::from_value(serde_json::json!({
            "user_id":"005x","organization_id":"00Dx","username":"int@acme.com","display_name":"I"})).unwrap();
        assert_eq!(id.username, "int@acme.com");
    }
}
