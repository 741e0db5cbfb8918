//! The evaluation an AI scorer produced, parsed and validated at the edge (contract §1).
//!
//! After [`Evaluation::parse_json`] (or [`Evaluation::parse_csv_record`]) succeeds, every
//! field holds a valid value; nothing downstream re-checks strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::email::Email;

/// Contract §1: reasoning holds at most 131,072 characters (Salesforce's largest Long Text Area).
pub const REASONING_MAX_CHARS: usize = 131_072;
/// Contract §1: an id is 1–128 printable characters.
pub const EVALUATION_ID_MAX_CHARS: usize = 128;
/// The keys an evaluation object may carry (strict mode rejects others).
pub const EVALUATION_KEYS: &[&str] = &[
    "id",
    "email",
    "score",
    "reasoning",
    "evaluated_at",
    "propensity",
    "person",
    "account",
];
const PERSON_KEYS: &[&str] = &["first_name", "last_name", "company", "title"];
const ACCOUNT_KEYS: &[&str] = &["name", "domain"];
/// Contract §1: the CSV header (all but the required columns may be missing or empty).
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

/// The AI's verdict on a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Score {
    Hot,
    Warm,
    Cold,
}

impl Score {
    pub const ALL: [Score; 3] = [Score::Hot, Score::Warm, Score::Cold];
    /// The accepted values as error messages list them.
    pub const EXPECTED: &str = "\"hot\", \"warm\" or \"cold\"";

    /// The value written to Salesforce and shown everywhere (the seed's lower-case values).
    pub fn as_str(self) -> &'static str {
        match self {
            Score::Hot => "hot",
            Score::Warm => "warm",
            Score::Cold => "cold",
        }
    }

    /// Any case in, surrounding whitespace ignored.
    pub fn parse(s: &str) -> Option<Score> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hot" => Some(Score::Hot),
            "warm" => Some(Score::Warm),
            "cold" => Some(Score::Cold),
            _ => None,
        }
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Score {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Score {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Score::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("expected {}, got {s:?}", Score::EXPECTED))
        })
    }
}

/// The account's propensity to buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Propensity {
    High,
    Medium,
    Low,
}

impl Propensity {
    pub const ALL: [Propensity; 3] = [Propensity::High, Propensity::Medium, Propensity::Low];
    /// The accepted values as error messages list them.
    pub const EXPECTED: &str = "\"high\", \"medium\" or \"low\"";

    /// The input spelling (`high`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Propensity::High => "high",
            Propensity::Medium => "medium",
            Propensity::Low => "low",
        }
    }

    /// The value written to Salesforce (the seed's values).
    pub fn salesforce_value(self) -> &'static str {
        match self {
            Propensity::High => "high_propensity",
            Propensity::Medium => "medium_propensity",
            Propensity::Low => "low_propensity",
        }
    }

    /// Accepts `high` and, leniently, `high_propensity`, any case.
    pub fn parse(s: &str) -> Option<Propensity> {
        let lower = s.trim().to_ascii_lowercase();
        let base = lower.strip_suffix("_propensity").unwrap_or(&lower);
        match base {
            "high" => Some(Propensity::High),
            "medium" => Some(Propensity::Medium),
            "low" => Some(Propensity::Low),
            _ => None,
        }
    }
}

impl Serialize for Propensity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Propensity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Propensity::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("expected {}, got {s:?}", Propensity::EXPECTED))
        })
    }
}

/// When the evaluation was made; RFC 3339 with an explicit offset (a time without one is
/// ambiguous, and newest-wins compares instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EvaluatedAt(OffsetDateTime);

impl EvaluatedAt {
    pub fn parse(s: &str) -> Result<EvaluatedAt, String> {
        let t = s.trim();
        match OffsetDateTime::parse(t, &Rfc3339) {
            Ok(dt) => Ok(EvaluatedAt(dt)),
            Err(_) if looks_like_datetime_without_offset(t) => Err(format!(
                "{t:?} has no time zone offset; add Z or ±hh:mm, e.g. 2026-11-28T09:15:00Z"
            )),
            Err(_) => Err(format!(
                "{t:?} is not an RFC 3339 date-time with offset, e.g. 2026-11-28T09:15:00Z"
            )),
        }
    }

    pub fn from_datetime(dt: OffsetDateTime) -> EvaluatedAt {
        EvaluatedAt(dt)
    }

    pub fn datetime(&self) -> OffsetDateTime {
        self.0
    }

    /// Salesforce DateTime body value: UTC with milliseconds, e.g. `2026-11-28T09:15:00.000Z`.
    pub fn salesforce_datetime(&self) -> String {
        format_salesforce_datetime(self.0)
    }

    /// Salesforce Date body value: the UTC date, e.g. `2026-11-28`.
    pub fn salesforce_date(&self) -> String {
        let u = self.0.to_offset(UtcOffset::UTC);
        format!("{:04}-{:02}-{:02}", u.year(), u.month() as u8, u.day())
    }

    /// RFC 3339 as given (original offset kept).
    pub fn to_rfc3339(&self) -> String {
        self.0
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.salesforce_datetime())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, the form Salesforce documents for DateTime bodies.
pub fn format_salesforce_datetime(dt: OffsetDateTime) -> String {
    let u = dt.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        u.year(),
        u.month() as u8,
        u.day(),
        u.hour(),
        u.minute(),
        u.second(),
        u.millisecond()
    )
}

/// Parses a DateTime as Salesforce returns it (`2026-11-28T09:15:00.000+0000`) or any RFC 3339.
pub fn parse_salesforce_datetime(s: &str) -> Option<OffsetDateTime> {
    if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(dt);
    }
    // Salesforce writes the offset without a colon (`+0000`); insert one for RFC 3339.
    let n = s.len();
    if n > 5 && s.is_char_boundary(n - 5) {
        let (head, tail) = s.split_at(n - 5);
        let b = tail.as_bytes();
        if (b[0] == b'+' || b[0] == b'-') && b[1..].iter().all(u8::is_ascii_digit) {
            let fixed = format!("{head}{}:{}", &tail[..3], &tail[3..]);
            return OffsetDateTime::parse(&fixed, &Rfc3339).ok();
        }
    }
    None
}

fn looks_like_datetime_without_offset(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 16
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        && !t[11..].contains(['Z', 'z', '+', '-'])
}

impl fmt::Display for EvaluatedAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for EvaluatedAt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for EvaluatedAt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EvaluatedAt::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The idempotency key: given by the caller, or derived from the content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EvaluationId(String);

impl EvaluationId {
    pub fn parse(s: &str) -> Result<EvaluationId, String> {
        let n = s.chars().count();
        if n == 0 {
            return Err("is empty".into());
        }
        if n > EVALUATION_ID_MAX_CHARS {
            return Err(format!(
                "is {n} characters long; at most {EVALUATION_ID_MAX_CHARS} are allowed"
            ));
        }
        if s.chars().any(char::is_control) {
            return Err("contains a control character".into());
        }
        Ok(EvaluationId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EvaluationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EvaluationId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EvaluationId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EvaluationId::parse(&s).map_err(serde::de::Error::custom)
    }
}

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

/// How strictly to read an evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Reject keys that contract §1 does not define (otherwise they are ignored).
    pub strict: bool,
}

impl<'de> Deserialize<'de> for Evaluation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Evaluation::parse_json(&v).map_err(|errs| serde::de::Error::custom(describe_errors(&errs)))
    }
}

impl Evaluation {
    /// Lenient parse (unknown keys ignored); returns every field error, not just the first.
    pub fn parse_json(v: &Value) -> Result<Evaluation, Vec<FieldError>> {
        Evaluation::parse_json_with(v, ParseOptions::default())
    }

    pub fn parse_json_with(v: &Value, opts: ParseOptions) -> Result<Evaluation, Vec<FieldError>> {
        let Some(obj) = v.as_object() else {
            return Err(vec![FieldError::new(
                "(evaluation)",
                format!("expected a JSON object, got {}", json_kind(v)),
            )]);
        };
        let mut errors = Vec::new();
        if opts.strict {
            unknown_keys(obj, EVALUATION_KEYS, "", &mut errors);
        }

        let id = match optional_string(obj, "id", &mut errors) {
            Some(s) => match EvaluationId::parse(s) {
                Ok(id) => Some(id),
                Err(m) => {
                    errors.push(FieldError::new("id", m));
                    None
                }
            },
            None => None,
        };
        let email = required_string(obj, "email", &mut errors).and_then(|s| {
            Email::parse(s)
                .map_err(|e| errors.push(FieldError::new("email", e.0)))
                .ok()
        });
        let score = required_string(obj, "score", &mut errors)
            .and_then(|s| one_of("score", s, Score::parse, Score::EXPECTED, &mut errors));
        let reasoning = required_string(obj, "reasoning", &mut errors).and_then(|s| {
            let n = s.chars().count();
            if n > REASONING_MAX_CHARS {
                errors.push(FieldError::new(
                    "reasoning",
                    format!("is {n} characters long; at most {REASONING_MAX_CHARS} are allowed"),
                ));
                None
            } else {
                Some(s.to_string())
            }
        });
        let evaluated_at = required_string(obj, "evaluated_at", &mut errors).and_then(|s| {
            EvaluatedAt::parse(s)
                .map_err(|m| errors.push(FieldError::new("evaluated_at", m)))
                .ok()
        });
        let propensity = optional_string(obj, "propensity", &mut errors).and_then(|s| {
            one_of(
                "propensity",
                s,
                Propensity::parse,
                Propensity::EXPECTED,
                &mut errors,
            )
        });
        let person =
            optional_object(obj, "person", PERSON_KEYS, opts, &mut errors).map(|o| Person {
                first_name: nested_string(o, "person", "first_name", &mut errors),
                last_name: nested_string(o, "person", "last_name", &mut errors),
                company: nested_string(o, "person", "company", &mut errors),
                title: nested_string(o, "person", "title", &mut errors),
            });
        let account =
            optional_object(obj, "account", ACCOUNT_KEYS, opts, &mut errors).map(|o| AccountHint {
                name: nested_string(o, "account", "name", &mut errors),
                domain: nested_string(o, "account", "domain", &mut errors),
            });

        match (email, score, reasoning, evaluated_at) {
            (Some(email), Some(score), Some(reasoning), Some(evaluated_at))
                if errors.is_empty() =>
            {
                let mut ev = Evaluation {
                    id: EvaluationId(String::new()),
                    email,
                    score,
                    reasoning,
                    evaluated_at,
                    propensity,
                    person,
                    account,
                };
                ev.id = match id {
                    Some(id) => id,
                    None => EvaluationId(format!("sha256:{}", ev.content_hash())),
                };
                Ok(ev)
            }
            _ => Err(errors),
        }
    }

    /// Parses one CSV row given the file's header (contract §1's columns), as
    /// [`csv_record_json`] reads it.
    pub fn parse_csv_record(
        header: &[String],
        row: &[String],
    ) -> Result<Evaluation, Vec<FieldError>> {
        Evaluation::parse_json(&csv_record_json(header, row))
    }

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

    /// The contract §1 JSON form (round-trips through [`Evaluation::parse_json`]).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One CSV row as the evaluation object it stands for (contract §1's columns; others are
/// ignored). Empty cells of optional columns count as absent; an empty reasoning cell is
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

/// Checks a CSV header: every required column must be present. Returns the missing ones.
pub fn csv_header_missing(header: &[String]) -> Vec<&'static str> {
    CSV_REQUIRED
        .iter()
        .copied()
        .filter(|req| !header.iter().any(|h| h.trim() == *req))
        .collect()
}

/// How error messages name the JSON type of a value they did not expect ("a number").
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn unknown_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
    errors: &mut Vec<FieldError>,
) {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("{prefix}{key}"),
                format!("unknown key (allowed: {})", allowed.join(", ")),
            ));
        }
    }
}

/// `parse(s)` for a field with a fixed set of values; when it fails, an error on `key`
/// naming the accepted values (`expected`).
fn one_of<T>(
    key: &str,
    s: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let parsed = parse(s);
    if parsed.is_none() {
        errors.push(FieldError::new(
            key,
            format!("expected {expected}, got {s:?}"),
        ));
    }
    parsed
}

fn required_string<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    if matches!(obj.get(key), None | Some(Value::Null)) {
        errors.push(FieldError::new(key, "is required"));
    }
    optional_string(obj, key, errors)
}

fn optional_string<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            errors.push(FieldError::new(
                key,
                format!("expected a string, got {}", json_kind(other)),
            ));
            None
        }
    }
}

fn optional_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    allowed: &[&str],
    opts: ParseOptions,
    errors: &mut Vec<FieldError>,
) -> Option<&'a Map<String, Value>> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => {
            if opts.strict {
                unknown_keys(o, allowed, &format!("{key}."), errors);
            }
            Some(o)
        }
        Some(other) => {
            errors.push(FieldError::new(
                key,
                format!("expected an object, got {}", json_kind(other)),
            ));
            None
        }
    }
}

/// A nested optional string; blank values count as absent.
fn nested_string(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(other) => {
            errors.push(FieldError::new(
                format!("{parent}.{key}"),
                format!("expected a string, got {}", json_kind(other)),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
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

    #[test]
    fn parses_the_contract_example() {
        let ev = Evaluation::parse_json(&sample()).unwrap();
        assert_eq!(ev.id.as_str(), "ev-2026-000123");
        assert_eq!(ev.email.normalized(), "ada.lovelace@example.com");
        assert_eq!(ev.score, Score::Hot);
        assert_eq!(ev.propensity, Some(Propensity::High));
        assert_eq!(
            ev.evaluated_at.salesforce_datetime(),
            "2026-11-28T09:15:00.000Z"
        );
        assert_eq!(ev.evaluated_at.salesforce_date(), "2026-11-28");
        assert_eq!(
            ev.person.as_ref().unwrap().last_name.as_deref(),
            Some("Lovelace")
        );
    }

    #[test]
    fn json_round_trips() {
        let ev = Evaluation::parse_json(&sample()).unwrap();
        let again = Evaluation::parse_json(&ev.to_json()).unwrap();
        assert_eq!(ev, again);
    }

    #[test]
    fn returns_every_field_error() {
        let errs = Evaluation::parse_json(&json!({
            "email": "nope", "score": "lukewarm", "evaluated_at": "2026-11-28T09:15:00", "propensity": 3
        }))
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["email", "score", "reasoning", "evaluated_at", "propensity"]
        );
        assert!(
            errs[3].message.contains("no time zone offset"),
            "{}",
            errs[3].message
        );
        assert!(errs[1].message.contains("lukewarm"));
    }

    #[test]
    fn strict_mode_rejects_unknown_keys() {
        let mut v = sample();
        v["colour"] = json!("blue");
        v["person"]["age"] = json!(3);
        assert!(Evaluation::parse_json(&v).is_ok());
        let errs = Evaluation::parse_json_with(&v, ParseOptions { strict: true }).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["colour", "person.age"]);
    }

    #[test]
    fn reasoning_limit() {
        let mut v = sample();
        v["reasoning"] = json!("x".repeat(REASONING_MAX_CHARS));
        assert!(Evaluation::parse_json(&v).is_ok());
        v["reasoning"] = json!("x".repeat(REASONING_MAX_CHARS + 1));
        let errs = Evaluation::parse_json(&v).unwrap_err();
        assert_eq!(errs[0].field, "reasoning");
    }

    #[test]
    fn id_rules() {
        let mut v = sample();
        v["id"] = json!("x".repeat(129));
        assert_eq!(Evaluation::parse_json(&v).unwrap_err()[0].field, "id");
        v["id"] = json!("a\nb");
        assert_eq!(Evaluation::parse_json(&v).unwrap_err()[0].field, "id");
        v["id"] = json!("");
        assert_eq!(Evaluation::parse_json(&v).unwrap_err()[0].field, "id");
    }

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

    #[test]
    fn salesforce_datetimes_parse() {
        let a = parse_salesforce_datetime("2026-11-28T09:15:00.000+0000").unwrap();
        let b = parse_salesforce_datetime("2026-11-28T09:15:00Z").unwrap();
        assert_eq!(a, b);
        assert!(parse_salesforce_datetime("yesterday").is_none());
        // Any text a misconfigured field may hold, never a panic.
        assert!(parse_salesforce_datetime("héllo wörld…").is_none());
        assert!(parse_salesforce_datetime("x€€").is_none());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,40}", email in "[a-zA-Z0-9.@'\"\\\\ €-]{0,30}") {
            let _ = parse_salesforce_datetime(&text);
            let _ = EvaluatedAt::parse(&text);
            let _ = Email::parse(&email);
            let _ = Evaluation::parse_json(&json!({"email": email, "score": text, "reasoning": "", "evaluated_at": text}));
        }
    }
}
