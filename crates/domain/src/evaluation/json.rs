//! Reading an evaluation from JSON (docs/api.md#evaluation): every field checked, every problem
//! returned as a [`FieldError`] rather than just the first, unknown keys ignored or (strict)
//! refused.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::id::content_id;
use super::{AccountHint, Evaluation, EvaluationId, FieldError, Person, describe_errors};
use super::{EvaluatedAt, Propensity, Score};
use crate::email::Email;
use crate::quote::quoted;

/// Reasoning holds at most 131,072 characters (docs/api.md#evaluation), Salesforce's largest
/// Long Text Area.
pub const REASONING_MAX_CHARS: usize = 131_072;
/// One evaluation's JSON is at most 256 KiB (docs/api.md#evaluation): what one item may
/// cost to parse and store is bounded whatever it carries beside the known keys.
pub const EVALUATION_MAX_BYTES: usize = 256 * 1024;
/// `person` and `account` are at most 64 KiB of JSON each (docs/api.md#evaluation).
pub const NESTED_OBJECT_MAX_BYTES: usize = 64 * 1024;
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

/// How strictly to read an evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Reject keys that docs/api.md#evaluation does not define (otherwise they are ignored).
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
        let size = json_len(v);
        if size > EVALUATION_MAX_BYTES {
            return Err(vec![too_large("(evaluation)", size, EVALUATION_MAX_BYTES)]);
        }
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
                    None => content_id(&ev),
                };
                Ok(ev)
            }
            _ => Err(errors),
        }
    }
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

/// The length of `v`'s compact JSON, counted without building the text.
pub fn json_len(v: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

/// The error for a value over its size limit (`max` bytes of JSON).
pub fn too_large(field: &str, size: usize, max: usize) -> FieldError {
    FieldError::new(
        field,
        format!(
            "is {size} bytes of JSON; at most {max} ({} KiB) are allowed",
            max / 1024
        ),
    )
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
            format!("expected {expected}, got {}", quoted(s)),
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
            let size = json_len(o);
            if size > NESTED_OBJECT_MAX_BYTES {
                errors.push(too_large(key, size, NESTED_OBJECT_MAX_BYTES));
                return None;
            }
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
    use crate::evaluation::{parse_salesforce_datetime, sample};
    use serde_json::json;

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
    fn size_limits() {
        let mut v = sample();
        v["person"]["title"] = json!("t".repeat(NESTED_OBJECT_MAX_BYTES));
        let errs = Evaluation::parse_json(&v).unwrap_err();
        assert_eq!(errs[0].field, "person");
        assert!(errs[0].message.contains("64 KiB"), "{}", errs[0].message);
        let mut v = sample();
        v["account"]["name"] = json!("n".repeat(NESTED_OBJECT_MAX_BYTES - 100));
        assert!(Evaluation::parse_json(&v).is_ok(), "just under the limit");
        v["account"]["extra"] = json!("x".repeat(200));
        assert_eq!(Evaluation::parse_json(&v).unwrap_err()[0].field, "account");
        // Unknown keys count towards the whole evaluation's size.
        let mut v = sample();
        v["extra"] = json!("x".repeat(EVALUATION_MAX_BYTES));
        let errs = Evaluation::parse_json(&v).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "(evaluation)");
        assert!(errs[0].message.contains("256 KiB"), "{}", errs[0].message);
    }

    #[test]
    fn errors_quote_a_bounded_part_of_the_input() {
        let mut v = sample();
        let long = "\u{1}".repeat(10_000);
        v["score"] = json!(long);
        v["propensity"] = json!(long);
        v["evaluated_at"] = json!(long);
        let errs = Evaluation::parse_json(&v).unwrap_err();
        assert_eq!(errs.len(), 3);
        for e in errs {
            assert!(
                e.message.len() < 1_000,
                "{}: {} bytes",
                e.field,
                e.message.len()
            );
            assert!(e.message.contains('…'), "{}", e.message);
        }
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
