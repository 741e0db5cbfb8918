//! A syntactically valid email address, parsed once at the boundary.
//!
//! Salesforce compares `Email` values case-insensitively in SOQL (`=`/`IN` on strings are
//! case-insensitive, docs/salesforce.md#string-matching-and-escaping), so matching uses
//! [`Email::normalized`] (trimmed, lower case) while [`Email::as_str`] keeps what the caller sent
//! (trimmed) for writing new records.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Salesforce's `Email` fields (Lead, Contact, User) hold at most 80 characters and refuse a
/// longer address (`STRING_TOO_LONG`), though RFC 5321 allows 254: an address Salesforce
/// cannot store is refused at ingest rather than failing at delivery
/// (docs/product.md#email-addresses).
pub const EMAIL_MAX_CHARS: usize = 80;
/// RFC 5321 caps the local part at 64 octets.
const LOCAL_MAX_CHARS: usize = 64;

/// A trimmed, syntactically valid address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email {
    original: String,
    normalized: String,
}

/// Why a string is not an email address; the text is shown to users as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EmailError(pub String);

impl Email {
    /// Parses `raw` after trimming surrounding whitespace.
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(EmailError("is empty".into()));
        }
        if s.chars().count() > EMAIL_MAX_CHARS {
            return Err(EmailError(format!(
                "is longer than {EMAIL_MAX_CHARS} characters"
            )));
        }
        let at = s
            .rfind('@')
            .ok_or_else(|| EmailError(format!("{s:?} has no @")))?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        check_local(local).map_err(|why| EmailError(format!("{s:?}: {why}")))?;
        check_domain(domain).map_err(|why| EmailError(format!("{s:?}: {why}")))?;
        Ok(Email {
            original: s.to_string(),
            normalized: s.to_lowercase(),
        })
    }

    /// The address as given, trimmed.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// Lower case form used for matching (Salesforce's own comparison is case-insensitive).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The domain part, lower case (used to find an Account by Website).
    pub fn domain(&self) -> &str {
        match self.normalized.rfind('@') {
            Some(at) => &self.normalized[at + 1..],
            None => "",
        }
    }
}

/// RFC 5322 `atext` plus `.` for dot-atoms, or a quoted string (where `\` escapes).
fn check_local(local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err("nothing before the @".into());
    }
    if local.chars().count() > LOCAL_MAX_CHARS {
        return Err(format!(
            "the part before the @ is longer than {LOCAL_MAX_CHARS} characters"
        ));
    }
    if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        let inner = &local[1..local.len() - 1];
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c.is_control() {
                return Err("control character in the quoted part".into());
            }
            if c == '\\' {
                if chars.next().is_none() {
                    return Err("dangling backslash in the quoted part".into());
                }
            } else if c == '"' {
                return Err("unescaped quote in the quoted part".into());
            }
        }
        return Ok(());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("misplaced dot before the @".into());
    }
    for c in local.chars() {
        let ok = c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~.".contains(c)
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace());
        if !ok {
            return Err(format!("character {c:?} is not allowed before the @"));
        }
    }
    Ok(())
}

/// A host name with at least two labels of letters, digits and hyphens.
fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("nothing after the @".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain has no dot".into());
    }
    for label in labels {
        if label.is_empty() {
            return Err("empty label in the domain".into());
        }
        if label.chars().count() > 63 {
            return Err("a domain label is longer than 63 characters".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a domain label starts or ends with a hyphen".into());
        }
        for c in label.chars() {
            let ok =
                c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric());
            if !ok {
                return Err(format!("character {c:?} is not allowed in the domain"));
            }
        }
    }
    Ok(())
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.original)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.original)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Email::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_normalizes() {
        let e = Email::parse("  Ada.Lovelace@Example.com \n").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace@Example.com");
        assert_eq!(e.normalized(), "ada.lovelace@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn accepts_quotes_and_plus() {
        assert!(Email::parse("o'brien+tag@example.co.uk").is_ok());
        assert!(Email::parse(r#""we\"ird\\"@example.com"#).is_ok());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "   ",
            "no-at.example.com",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@exa mple.com",
            "a..b@example.com",
            ".a@example.com",
            "a@-x.com",
            "a@x..com",
            "a\\b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn rejects_too_long() {
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long).is_err());
        // Salesforce's Email fields hold 80 characters: 80 passes, 81 does not.
        let domain = format!("{}.example.com", "d".repeat(50));
        let at_80 = format!("{}@{domain}", "a".repeat(80 - 1 - domain.len()));
        assert_eq!(at_80.chars().count(), 80);
        assert!(Email::parse(&at_80).is_ok());
        let e = Email::parse(&format!("a{at_80}")).unwrap_err();
        assert!(e.0.contains("80 characters"), "{e}");
    }
}
