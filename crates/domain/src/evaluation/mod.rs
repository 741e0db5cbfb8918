//! The evaluation an AI scorer produced, parsed and validated at the edge (docs/api.md#evaluation).
//!
//! After [`Evaluation::parse_json`] (or [`Evaluation::parse_csv_record`]) succeeds, every
//! field holds a valid value; nothing downstream re-checks strings. `values` holds the field
//! types, `json` and `csv` the two input forms, `id` the content hash and derived ids.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::email::Email;

mod csv;
mod id;
mod json;
mod values;

pub use csv::{CSV_COLUMNS, csv_header_missing, csv_record_json};
pub use id::{derived_id, report_id};
pub use json::{
    EVALUATION_KEYS, EVALUATION_MAX_BYTES, NESTED_OBJECT_MAX_BYTES, ParseOptions,
    REASONING_MAX_CHARS, json_kind, json_len, too_large,
};
pub use values::{
    EVALUATION_ID_MAX_CHARS, EvaluatedAt, EvaluationId, Propensity, Score,
    format_salesforce_datetime, parse_salesforce_datetime,
};

/// Person data used when a record must be created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Account data used when a record must be created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountHint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// One evaluation, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub id: EvaluationId,
    pub email: Email,
    pub score: Score,
    pub reasoning: String,
    pub evaluated_at: EvaluatedAt,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propensity: Option<Propensity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountHint>,
}

/// One problem with one input field; `field` is the key (`person.first_name` for nested ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Joins field errors into one line (`email: is required; score: ...`).
pub fn describe_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Evaluation {
    /// The JSON form of docs/api.md#evaluation (round-trips through [`Evaluation::parse_json`]).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The example evaluation of docs/api.md#evaluation, for the tests of every input form.
#[cfg(test)]
fn sample() -> Value {
    serde_json::json!({
        "id": "ev-2026-000123",
        "email": "Ada.Lovelace@Example.com",
        "score": "HOT",
        "reasoning": "VP Engineering",
        "evaluated_at": "2026-11-28T10:15:00+01:00",
        "propensity": "high",
        "person": {"first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Engines", "title": "VP"},
        "account": {"name": "Analytical Engines", "domain": "example.com"}
    })
}
