//! Per-evaluation outcomes, serialized exactly as the report line of docs/api.md#report-line.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::FailureKind;
use crate::hints;

/// What happened to one evaluation at one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Updated,
    Created,
    Unchanged,
    Superseded,
    Skipped,
    Failed,
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Updated,
        Outcome::Created,
        Outcome::Unchanged,
        Outcome::Superseded,
        Outcome::Skipped,
        Outcome::Failed,
        Outcome::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Updated => "updated",
            Outcome::Created => "created",
            Outcome::Unchanged => "unchanged",
            Outcome::Superseded => "superseded",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Why an evaluation was skipped, superseded or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    DestinationDisabled,
    NoMatch,
    ScoreNotSelectedForCreation,
    ObjectNotMapped,
    NewerEvaluationInBatch,
    NewerEvaluationInSalesforce,
    DuplicateMatch,
    InvalidInput,
}

/// Whether a write updates an existing record or creates one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteAction {
    Update,
    Create,
}

/// One record written (or, in a dry run, that would be written) for an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteReport {
    /// `Lead`, `Contact` or `Account`.
    pub object: String,
    /// The record id; for a create, the new id (absent in a dry run or when the create failed).
    pub id: Option<String>,
    pub action: WriteAction,
    /// Field API name → value sent, in mapping order.
    pub fields: Map<String, Value>,
    /// True when Salesforce refused this record (the report's `error` says why), so the log
    /// names the object, record and fields of a failure. Serialized only when true, so a
    /// successful write reads exactly as docs/api.md#report-line shows it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
}

/// A failure: Salesforce's error code as spelled (or ours), its message, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportError {
    pub code: String,
    pub message: String,
    pub hint: String,
    /// What kind of trouble this is (decided once, where Salesforce's answer was read);
    /// the service and `trailspark sync` act on it.
    #[serde(default)]
    pub kind: FailureKind,
    /// True when a later retry may succeed (`kind` is not `record`). Serialized only when
    /// true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub transient: bool,
    /// For `throttled`: how long the org asked to wait (`Retry-After`), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Record ids Salesforce names (duplicates), when any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

impl ReportError {
    /// An error with the hint and transience of the one hint table.
    /// One record's refusal (a save result): `record_transient` when the hint table marks
    /// the code transient (a row lock), `record` otherwise.
    pub fn from_code(code: &str, message: &str) -> ReportError {
        let kind = if hints::is_transient(code, message) {
            FailureKind::RecordTransient
        } else {
            FailureKind::Record
        };
        ReportError {
            code: code.to_string(),
            message: message.to_string(),
            hint: hints::hint(code, message),
            kind,
            transient: kind.is_transient(),
            retry_after_ms: None,
            ids: Vec::new(),
        }
    }

    /// The same error, of another kind (the transient flag follows).
    pub fn with_kind(mut self, kind: FailureKind) -> ReportError {
        self.kind = kind;
        self.transient = kind.is_transient();
        self
    }
}

/// Something worth knowing about a delivery that did not stop it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Warning {
    /// Several records of one object matched the email (ids of all of them).
    DuplicateMatch { ids: Vec<String> },
    /// The reasoning was cut to the field's length (in characters), ending with `…`.
    ReasoningTruncated { length: u32 },
    /// Only a converted Lead matched; its Contact was written instead.
    ConvertedLeadFollowed { lead: String, contact: String },
    /// `create_as = "contact"` found no Account whose Website matches the email's domain,
    /// so a Lead was created.
    NoAccountForDomain { domain: String },
    /// The evaluation has a propensity but no mapped field could take it.
    PropensityNotWritten { why: String },
}

/// One line of the report: what happened to one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The evaluation id (for a rejected input, what it gave, possibly empty).
    pub id: String,
    /// The normalized email (for a rejected input, what it gave, possibly empty).
    pub email: String,
    pub outcome: Outcome,
    pub writes: Vec<WriteReport>,
    pub reason: Option<Reason>,
    pub error: Option<ReportError>,
    pub warnings: Vec<Warning>,
    /// Input line number (1-based), for rejected lines of a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Present (true) only in dry runs: nothing was written.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Report {
    pub fn new(id: &str, email: &str, outcome: Outcome) -> Report {
        Report {
            id: id.to_string(),
            email: email.to_string(),
            outcome,
            writes: Vec::new(),
            reason: None,
            error: None,
            warnings: Vec::new(),
            line: None,
            dry_run: false,
        }
    }

    pub fn with_reason(mut self, reason: Reason) -> Report {
        self.reason = Some(reason);
        self
    }

    /// A rejected input: `message` says which field and why.
    pub fn rejected(id: &str, email: &str, message: &str) -> Report {
        let mut r = Report::new(id, email, Outcome::Rejected).with_reason(Reason::InvalidInput);
        r.error = Some(ReportError::from_code(hints::INVALID_INPUT, message));
        r
    }

    /// A failure.
    pub fn failed(id: &str, email: &str, error: ReportError) -> Report {
        let mut r = Report::new(id, email, Outcome::Failed);
        r.error = Some(error);
        r
    }

    /// The JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_as_the_contract_line() {
        let mut fields = Map::new();
        fields.insert("TrailSpark_Score__c".into(), json!("hot"));
        let mut r = Report::new("ev-1", "ada.lovelace@example.com", Outcome::Updated);
        r.writes.push(WriteReport {
            object: "Contact".into(),
            id: Some("003000000000001AAA".into()),
            action: WriteAction::Update,
            fields,
            failed: false,
        });
        r.warnings.push(Warning::DuplicateMatch {
            ids: vec!["00Q1".into(), "00Q2".into()],
        });
        r.warnings
            .push(Warning::ReasoningTruncated { length: 131072 });
        assert_eq!(
            r.to_json_line(),
            r#"{"id":"ev-1","email":"ada.lovelace@example.com","outcome":"updated","writes":[{"object":"Contact","id":"003000000000001AAA","action":"update","fields":{"TrailSpark_Score__c":"hot"}}],"reason":null,"error":null,"warnings":[{"code":"duplicate_match","ids":["00Q1","00Q2"]},{"code":"reasoning_truncated","length":131072}]}"#
        );
        let back: Report = serde_json::from_str(&r.to_json_line()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_failed_write_is_marked_and_round_trips() {
        let w = WriteReport {
            object: "Lead".into(),
            id: Some("00Q000000000001AAA".into()),
            action: WriteAction::Update,
            fields: Map::new(),
            failed: true,
        };
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["failed"], json!(true));
        assert_eq!(serde_json::from_value::<WriteReport>(v).unwrap(), w);
        // Lines stored before the flag existed still read.
        let old: WriteReport =
            serde_json::from_str(r#"{"object":"Lead","id":null,"action":"create","fields":{}}"#)
                .unwrap();
        assert!(!old.failed);
    }

    #[test]
    fn dry_run_and_transient_only_when_true() {
        let mut r = Report::failed(
            "e",
            "a@b.co",
            ReportError::from_code("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access"),
        );
        r.dry_run = true;
        let v: Value = serde_json::from_str(&r.to_json_line()).unwrap();
        assert_eq!(v["dry_run"], json!(true));
        assert_eq!(v["error"]["transient"], json!(true));
        assert_eq!(v["outcome"], json!("failed"));
        let r2 = Report::rejected("", "", "email: is required");
        let v2: Value = serde_json::from_str(&r2.to_json_line()).unwrap();
        assert!(v2.get("dry_run").is_none());
        assert!(v2["error"].get("transient").is_none());
        assert_eq!(v2["reason"], json!("invalid_input"));
    }
}
