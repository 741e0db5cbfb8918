//! What the lookup found, as plain data the planner reads: Contacts, Leads and Accounts with
//! the values of the mapped fields. Parsed from SOQL result records (pure; no I/O here).

use std::collections::HashMap;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use domain::parse_salesforce_datetime;

/// Field values of a record, keyed by lower-case API name (Salesforce names are
/// case-insensitive, and we must not depend on the casing an org or emulator returns).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values(HashMap<String, Value>);

impl Values {
    pub fn from_record(r: &Map<String, Value>) -> Values {
        Values(
            r.iter()
                .filter(|(k, _)| k.as_str() != "attributes")
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
        )
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0
            .get(&field.to_ascii_lowercase())
            .filter(|v| !v.is_null())
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    pub fn insert(&mut self, field: &str, v: Value) {
        self.0.insert(field.to_ascii_lowercase(), v);
    }
}

/// A Contact found by email or by id (a converted Lead's ConvertedContactId).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRow {
    pub id: String,
    /// Lower case, trimmed.
    pub email: Option<String>,
    pub account_id: Option<String>,
    pub last_modified: Option<OffsetDateTime>,
    pub values: Values,
    /// The linked Account's fields read through the `Account.` relationship.
    pub account_values: Values,
}

/// A Lead found by email, converted or not.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadRow {
    pub id: String,
    pub email: Option<String>,
    pub is_converted: bool,
    pub converted_contact_id: Option<String>,
    pub last_modified: Option<OffsetDateTime>,
    pub values: Values,
}

/// An Account found by its Website's domain (for `create_as = "contact"`).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRow {
    pub id: String,
    /// The Website's host, lower case, without `www.`.
    pub domain: Option<String>,
    pub last_modified: Option<OffsetDateTime>,
    pub values: Values,
}

/// Everything the lookup found for one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookup {
    pub contacts: Vec<ContactRow>,
    pub leads: Vec<LeadRow>,
    pub accounts: Vec<AccountRow>,
}

fn norm_email(v: Option<&str>) -> Option<String> {
    v.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty())
}

fn nonempty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_string)
}

impl ContactRow {
    pub fn from_record(r: &Map<String, Value>) -> Option<ContactRow> {
        let values = Values::from_record(r);
        let id = values.str("Id")?.to_string();
        let account_values = match values.get("Account") {
            Some(Value::Object(a)) => Values::from_record(a),
            _ => Values::default(),
        };
        Some(ContactRow {
            email: norm_email(values.str("Email")),
            account_id: nonempty(values.str("AccountId")),
            last_modified: values
                .str("LastModifiedDate")
                .and_then(parse_salesforce_datetime),
            id,
            values,
            account_values,
        })
    }
}

impl LeadRow {
    pub fn from_record(r: &Map<String, Value>) -> Option<LeadRow> {
        let values = Values::from_record(r);
        let id = values.str("Id")?.to_string();
        Some(LeadRow {
            email: norm_email(values.str("Email")),
            is_converted: values
                .get("IsConverted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            converted_contact_id: nonempty(values.str("ConvertedContactId")),
            last_modified: values
                .str("LastModifiedDate")
                .and_then(parse_salesforce_datetime),
            id,
            values,
        })
    }
}

impl AccountRow {
    pub fn from_record(r: &Map<String, Value>) -> Option<AccountRow> {
        let values = Values::from_record(r);
        let id = values.str("Id")?.to_string();
        Some(AccountRow {
            domain: values.str("Website").and_then(website_domain),
            last_modified: values
                .str("LastModifiedDate")
                .and_then(parse_salesforce_datetime),
            id,
            values,
        })
    }
}

/// The host of a Website value as people type it (`https://www.Example.com/about`,
/// `example.com`, `www.example.com:443`), lower case and without `www.`.
pub fn website_domain(website: &str) -> Option<String> {
    let s = website.trim().to_lowercase();
    let s = s
        .split_once("://")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(s);
    let host = s.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host = host.split(':').next().unwrap_or("");
    let host = host
        .strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.');
    (!host.is_empty() && host.contains('.')).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn website_domains() {
        assert_eq!(
            website_domain("https://www.Example.com/about").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            website_domain("example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            website_domain("www.example.co.uk:443").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(website_domain("n/a"), None);
    }

    #[test]
    fn contact_rows_read_the_account_relationship() {
        let r = json!({"attributes": {"type": "Contact"}, "Id": "003A", "Email": "Ada@Example.com",
            "AccountId": "001A", "LastModifiedDate": "2026-01-01T00:00:00.000+0000",
            "Account": {"attributes": {"type": "Account"}, "TrailSpark_Propensity__c": "low_propensity"}});
        let c = ContactRow::from_record(r.as_object().unwrap()).unwrap();
        assert_eq!(c.email.as_deref(), Some("ada@example.com"));
        assert_eq!(
            c.account_values.str("trailspark_propensity__c"),
            Some("low_propensity")
        );
        assert!(c.last_modified.is_some());
    }
}
