//! Reading an evaluation from a CSV row (the columns of docs/api.md#evaluation): the row becomes
//! the JSON object it stands for, then goes through the JSON parser, so both inputs follow one set
//! of rules and derive the same ids.

use serde_json::{Map, Value};

use super::{Evaluation, FieldError};

/// The CSV header of docs/api.md#evaluation (all but the required columns may be missing or
/// empty).
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "email",
    "score",
    "reasoning",
    "evaluated_at",
    "propensity",
    "first_name",
    "last_name",
    "company",
    "title",
];
const CSV_REQUIRED: &[&str] = &["email", "score", "reasoning", "evaluated_at"];

impl Evaluation {
    /// Parses one CSV row given the file's header (the columns of docs/api.md#evaluation), as
    /// [`csv_record_json`] reads it.
    pub fn parse_csv_record(
        header: &[String],
        row: &[String],
    ) -> Result<Evaluation, Vec<FieldError>> {
        Evaluation::parse_json(&csv_record_json(header, row))
    }
}

/// One CSV row as the evaluation object it stands for (the columns of docs/api.md#evaluation;
/// others are ignored). Empty cells of optional columns count as absent; an empty reasoning cell is
/// the empty reasoning.
pub fn csv_record_json(header: &[String], row: &[String]) -> Value {
    let mut obj = Map::new();
    let mut person = Map::new();
    for (name, value) in header.iter().zip(row.iter()) {
        let name = name.trim();
        let keep = !value.is_empty() || name == "reasoning";
        if !keep {
            continue;
        }
        match name {
            "first_name" | "last_name" | "company" | "title" => {
                person.insert(name.to_string(), Value::String(value.clone()));
            }
            "id" | "email" | "score" | "reasoning" | "evaluated_at" | "propensity" => {
                obj.insert(name.to_string(), Value::String(value.clone()));
            }
            _ => {}
        }
    }
    if !person.is_empty() {
        obj.insert("person".into(), Value::Object(person));
    }
    Value::Object(obj)
}

/// Checks a CSV header: every required column must be present. Returns the missing ones.
pub fn csv_header_missing(header: &[String]) -> Vec<&'static str> {
    CSV_REQUIRED
        .iter()
        .copied()
        .filter(|req| !header.iter().any(|h| h.trim() == *req))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::Score;

    #[test]
    fn csv_rows() {
        let header: Vec<String> = CSV_COLUMNS.iter().map(|s| s.to_string()).collect();
        let row: Vec<String> = [
            "",
            "a@b.co",
            "Warm",
            "",
            "2026-01-02T03:04:05Z",
            "",
            "",
            "Doe",
            "",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ev = Evaluation::parse_csv_record(&header, &row).unwrap();
        assert_eq!(ev.score, Score::Warm);
        assert_eq!(ev.reasoning, "");
        assert_eq!(ev.person.unwrap().last_name.as_deref(), Some("Doe"));
        assert!(ev.propensity.is_none());
        assert_eq!(
            csv_header_missing(&["email".to_string()]),
            ["score", "reasoning", "evaluated_at"]
        );
    }
}
