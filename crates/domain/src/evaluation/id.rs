//! An evaluation's identity: the hash of its content, the `sha256:` id derived from it
//! when the sender gives none, and the id a report line names (also for input that did not
//! parse, so a rejected line can be recognised and resent).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Evaluation, EvaluationId, Propensity};

impl Evaluation {
    /// Hex SHA-256 of the canonical content (everything but the id): equal evaluations give
    /// equal hashes whatever the key order, whitespace or email case of the input.
    pub fn content_hash(&self) -> String {
        let canonical = serde_json::json!([
            self.email.normalized(),
            self.score.as_str(),
            self.reasoning,
            self.evaluated_at
                .datetime()
                .unix_timestamp_nanos()
                .to_string(),
            self.propensity.map(Propensity::as_str),
            self.person
                .as_ref()
                .map(|p| [&p.first_name, &p.last_name, &p.company, &p.title]),
            self.account.as_ref().map(|a| [&a.name, &a.domain]),
        ]);
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The id of an evaluation sent without one: `sha256:` and its [`Evaluation::content_hash`].
pub(super) fn content_id(ev: &Evaluation) -> EvaluationId {
    EvaluationId(format!("sha256:{}", ev.content_hash()))
}

/// The id derived from an input's content, as [`Evaluation::parse_json`] derives it when no
/// `id` is given: `sha256:` and the hex SHA-256 of the content without its `id`. For input
/// that does not validate (a rejected line), the content that parses leniently still gets
/// exactly the id a valid send would get; otherwise the hash is of the JSON with its keys
/// sorted, so it does not depend on key order or whitespace either.
pub fn derived_id(v: &Value) -> String {
    let mut content = v.clone();
    if let Some(obj) = content.as_object_mut() {
        obj.shift_remove("id");
    }
    if let Ok(ev) = Evaluation::parse_json(&content) {
        return ev.id.0;
    }
    let digest = Sha256::digest(canonical_json(&content).to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The id a report line about input `v` names: its own `id` when it gives a non-empty
/// string (valid or not, so the sender recognises the line), else [`derived_id`].
pub fn report_id(v: &Value) -> String {
    match v.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => derived_id(v),
    }
}

/// `v` with every object's keys sorted (serde_json keeps insertion order in this workspace).
fn canonical_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical_json(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical_json).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::{EVALUATION_ID_MAX_CHARS, ParseOptions, csv_record_json, sample};
    use serde_json::json;

    #[test]
    fn derived_id_depends_on_content_only() {
        let mut a = sample();
        a.as_object_mut().unwrap().remove("id");
        let mut b = a.clone();
        b["email"] = json!("  ada.lovelace@EXAMPLE.com ");
        b["evaluated_at"] = json!("2026-11-28T09:15:00Z");
        let (ea, eb) = (
            Evaluation::parse_json(&a).unwrap(),
            Evaluation::parse_json(&b).unwrap(),
        );
        assert_eq!(ea.id, eb.id);
        assert!(ea.id.as_str().starts_with("sha256:"));
        assert!(ea.id.as_str().len() <= EVALUATION_ID_MAX_CHARS);
        let mut c = a.clone();
        c["score"] = json!("cold");
        assert_ne!(Evaluation::parse_json(&c).unwrap().id, ea.id);
    }

    #[test]
    fn rejected_content_gets_a_derived_id_independent_of_key_order() {
        let a: Value = serde_json::from_str(
            r#"{"email":"a@b.co","score":"lukewarm","reasoning":"r","evaluated_at":"2026-11-28T09:15:00Z"}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{ "evaluated_at":"2026-11-28T09:15:00Z", "reasoning":"r", "score":"lukewarm", "email":"a@b.co" }"#,
        )
        .unwrap();
        assert!(Evaluation::parse_json(&a).is_err());
        let id = derived_id(&a);
        assert!(id.starts_with("sha256:") && id.len() == 7 + 64, "{id}");
        assert_eq!(derived_id(&b), id);
        assert_eq!(report_id(&a), id, "no id given: the derived one");
        let mut c = a.clone();
        c["score"] = json!("tepid");
        assert_ne!(derived_id(&c), id, "other content, other id");
        let mut given = a.clone();
        given["id"] = json!("ev-7");
        assert_eq!(report_id(&given), "ev-7");
        given["id"] = json!(7);
        assert_eq!(report_id(&given), id, "a non-string id is not an id");
        given["id"] = json!("");
        assert_eq!(report_id(&given), id);
        // A CSV row derives the id its JSON form would.
        let header: Vec<String> = ["email", "score", "reasoning", "evaluated_at"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let row: Vec<String> = ["a@b.co", "lukewarm", "r", "2026-11-28T09:15:00Z"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(report_id(&csv_record_json(&header, &row)), id);
    }

    #[test]
    fn derived_id_of_valid_content_is_the_evaluations_id() {
        let mut v = sample();
        v.as_object_mut().unwrap().remove("id");
        let ev = Evaluation::parse_json(&v).unwrap();
        assert_eq!(derived_id(&v), ev.id.as_str());
        // Rejected only in strict mode (an unknown key): the id a lenient send would get.
        v["extra"] = json!(1);
        assert!(Evaluation::parse_json_with(&v, ParseOptions { strict: true }).is_err());
        assert_eq!(derived_id(&v), ev.id.as_str());
        // An invalid id does not change the content's id.
        v["id"] = json!("a\nb");
        assert_eq!(derived_id(&v), ev.id.as_str());
    }
}
