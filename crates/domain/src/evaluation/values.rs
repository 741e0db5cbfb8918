//! The value types of an evaluation's fields, each valid by construction: [`Score`],
//! [`Propensity`], [`EvaluatedAt`] (RFC 3339 with an offset) and [`EvaluationId`], plus
//! the DateTime forms Salesforce writes and reads.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::quote::quoted;

/// An id is 1–128 printable characters (docs/api.md#evaluation).
pub const EVALUATION_ID_MAX_CHARS: usize = 128;

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

    /// The value written to Salesforce and shown everywhere (docs/product.md#values-written).
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
            serde::de::Error::custom(format!("expected {}, got {}", Score::EXPECTED, quoted(&s)))
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

    /// The value written to Salesforce (docs/product.md#values-written).
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
            serde::de::Error::custom(format!(
                "expected {}, got {}",
                Propensity::EXPECTED,
                quoted(&s)
            ))
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
                "{} has no time zone offset; add Z or ±hh:mm, e.g. 2026-11-28T09:15:00Z",
                quoted(t)
            )),
            Err(_) => Err(format!(
                "{} is not an RFC 3339 date-time with offset, e.g. 2026-11-28T09:15:00Z",
                quoted(t)
            )),
        }
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
pub struct EvaluationId(
    // Written directly only by the parser (`json.rs`) and where an id is derived from the
    // content (`id.rs`); everyone else goes through `parse`.
    pub(super) String,
);

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
        if let Some(c) = s.chars().find(|c| is_invisible_format(*c)) {
            return Err(format!(
                "contains the invisible character U+{:04X} (bidirectional controls and other format characters are not allowed)",
                u32::from(c)
            ));
        }
        Ok(EvaluationId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode's format characters (general category Cf: bidirectional controls, zero-width
/// characters, the byte-order mark, tags...) and the line and paragraph separators: invisible,
/// so an id holding one would look like another id, or reorder the text around it when shown.
fn is_invisible_format(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_invisible_characters() {
        assert!(EvaluationId::parse("ev-1").is_ok());
        assert!(EvaluationId::parse("évaluation-ü-日本").is_ok());
        for bad in [
            "ev\u{202E}1-ve",
            "ev\u{2066}1",
            "ev\u{200B}1",
            "\u{FEFF}ev-1",
            "ev\u{061C}1",
            "ev\u{E0041}",
        ] {
            let e = EvaluationId::parse(bad).unwrap_err();
            assert!(e.contains("invisible character U+"), "{bad:?}: {e}");
        }
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
}
