//! Lookup: batched SOQL for every email of a batch on Contact and Lead (never one query per
//! evaluation), then — only when needed — the Contacts of converted Leads by id and the
//! Accounts whose Website matches the domain of people we may create as Contacts.
//! Statements are filled up to Salesforce's 100,000-character SOQL limit and run through
//! `Client::query_many`, which packs 5 per Composite request (one API call).

use std::collections::{BTreeSet, HashSet};

use domain::{CreateAs, DestinationSettings, Evaluation};
use salesforce::{Client, SOQL_MAX_CHARS, chunk_in_clause, quote_soql_literal};

use crate::meta::{Metadata, SObject};
use crate::rows::{AccountRow, ContactRow, LeadRow, Lookup};

/// The fixed columns every Contact lookup selects (planner inputs besides mapped fields).
const CONTACT_BASE: &[&str] = &["Id", "Email", "AccountId", "LastModifiedDate"];
/// Converted Leads are selected too, so they can be followed to their Contact.
const LEAD_BASE: &[&str] = &[
    "Id",
    "Email",
    "IsConverted",
    "ConvertedContactId",
    "ConvertedAccountId",
    "LastModifiedDate",
];
const ACCOUNT_BASE: &[&str] = &["Id", "Website", "LastModifiedDate"];

/// Errors while building statements (a value too long for any statement).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Salesforce(#[from] salesforce::Error),
    #[error("cannot build the lookup query: {0}")]
    Chunk(#[from] salesforce::ChunkError),
}

fn push_unique(cols: &mut Vec<String>, c: &str) {
    if !cols.iter().any(|x| x.eq_ignore_ascii_case(c)) {
        cols.push(c.to_string());
    }
}

/// The Contact SELECT list: base columns, the person key when the org has it, mapped
/// fields that exist, and the linked
/// Account's propensity field through the `Account` relationship.
pub fn contact_columns(s: &DestinationSettings, meta: &Metadata) -> Vec<String> {
    let mut cols = Vec::new();
    for c in CONTACT_BASE {
        push_unique(&mut cols, c);
    }
    // The person key, so an update can set it where it is still empty.
    if let Some(k) = meta.person_key(SObject::Contact) {
        push_unique(&mut cols, &k.name);
    }
    for (_, f) in s.contact.slots() {
        if let Some(fm) = meta.contact.field(f) {
            push_unique(&mut cols, &fm.name);
        }
    }
    if let Some(fm) = s
        .propensity
        .account_field
        .as_deref()
        .and_then(|f| meta.account.field(f))
    {
        push_unique(&mut cols, &format!("Account.{}", fm.name));
    }
    cols
}

/// The Lead SELECT list: base columns, the person key when the org has it, mapped fields
/// and the Lead propensity field.
pub fn lead_columns(s: &DestinationSettings, meta: &Metadata) -> Vec<String> {
    let mut cols = Vec::new();
    for c in LEAD_BASE {
        push_unique(&mut cols, c);
    }
    if let Some(k) = meta.person_key(SObject::Lead) {
        push_unique(&mut cols, &k.name);
    }
    let prop = s.propensity.lead_field.as_deref();
    for f in s.lead.slots().into_iter().map(|(_, f)| f).chain(prop) {
        if let Some(fm) = meta.lead.field(f) {
            push_unique(&mut cols, &fm.name);
        }
    }
    cols
}

fn account_columns(s: &DestinationSettings, meta: &Metadata) -> Vec<String> {
    let mut cols = Vec::new();
    for c in ACCOUNT_BASE {
        push_unique(&mut cols, c);
    }
    if let Some(fm) = s
        .propensity
        .account_field
        .as_deref()
        .and_then(|f| meta.account.field(f))
    {
        push_unique(&mut cols, &fm.name);
    }
    cols
}

/// The unique normalized emails of a batch, in first-seen order.
pub fn batch_emails(batch: &[Evaluation]) -> Vec<String> {
    let mut seen = HashSet::new();
    batch
        .iter()
        .map(|e| e.email.normalized())
        .filter(|e| seen.insert(*e))
        .map(str::to_string)
        .collect()
}

/// First round: Contacts and Leads by email (literals escaped by `chunk_in_clause`).
pub fn email_statements(
    emails: &[String],
    s: &DestinationSettings,
    meta: &Metadata,
) -> Result<(Vec<String>, Vec<String>), LookupError> {
    let contact = chunk_in_clause(
        &format!(
            "SELECT {} FROM Contact WHERE Email IN (",
            contact_columns(s, meta).join(", ")
        ),
        emails,
        ")",
        SOQL_MAX_CHARS,
    )?;
    let lead = chunk_in_clause(
        &format!(
            "SELECT {} FROM Lead WHERE Email IN (",
            lead_columns(s, meta).join(", ")
        ),
        emails,
        ")",
        SOQL_MAX_CHARS,
    )?;
    Ok((contact, lead))
}

/// Second round: Contacts of converted Leads by id.
pub fn contact_id_statements(
    ids: &[String],
    s: &DestinationSettings,
    meta: &Metadata,
) -> Result<Vec<String>, LookupError> {
    Ok(chunk_in_clause(
        &format!(
            "SELECT {} FROM Contact WHERE Id IN (",
            contact_columns(s, meta).join(", ")
        ),
        ids,
        ")",
        SOQL_MAX_CHARS,
    )?)
}

/// Second round: Accounts whose Website contains one of the domains (`LIKE '%domain%'`,
/// refined to an exact host match by the planner). Domains are validated email domains
/// (letters, digits, hyphens, dots), so they hold no LIKE wildcards; they are quoted anyway.
pub fn account_domain_statements(
    domains: &[String],
    s: &DestinationSettings,
    meta: &Metadata,
) -> Vec<String> {
    let prefix = format!(
        "SELECT {} FROM Account WHERE ",
        account_columns(s, meta).join(", ")
    );
    let mut out = Vec::new();
    let mut current = String::new();
    for d in domains {
        let clause = format!("Website LIKE {}", quote_soql_literal(&format!("%{d}%")));
        if !current.is_empty() && prefix.len() + current.len() + 4 + clause.len() > SOQL_MAX_CHARS {
            out.push(format!("{prefix}{current}"));
            current.clear();
        }
        if !current.is_empty() {
            current.push_str(" OR ");
        }
        current.push_str(&clause);
    }
    if !current.is_empty() {
        out.push(format!("{prefix}{current}"));
    }
    out
}

/// Runs the lookup for a batch.
pub async fn lookup(
    client: &Client,
    batch: &[Evaluation],
    s: &DestinationSettings,
    meta: &Metadata,
) -> Result<Lookup, LookupError> {
    let emails = batch_emails(batch);
    let (contact_stmts, lead_stmts) = email_statements(&emails, s, meta)?;
    let n_contact = contact_stmts.len();
    let all: Vec<String> = contact_stmts.into_iter().chain(lead_stmts).collect();
    let results = client.query_many(&all).await?;
    let mut out = Lookup::default();
    for (i, records) in results.into_iter().enumerate() {
        if i < n_contact {
            out.contacts
                .extend(records.iter().filter_map(ContactRow::from_record));
        } else {
            out.leads
                .extend(records.iter().filter_map(LeadRow::from_record));
        }
    }

    // Round two, only when needed.
    let known: HashSet<&str> = out.contacts.iter().map(|c| c.id.as_str()).collect();
    let follow: Vec<String> = out
        .leads
        .iter()
        .filter(|l| l.is_converted)
        .filter_map(|l| l.converted_contact_id.as_deref())
        .filter(|id| !known.contains(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_string)
        .collect();
    let domains = creation_domains(batch, &out, s);
    let follow_stmts = if follow.is_empty() {
        Vec::new()
    } else {
        contact_id_statements(&follow, s, meta)?
    };
    let n_follow = follow_stmts.len();
    let second: Vec<String> = follow_stmts
        .into_iter()
        .chain(account_domain_statements(&domains, s, meta))
        .collect();
    if !second.is_empty() {
        let results = client.query_many(&second).await?;
        for (i, records) in results.into_iter().enumerate() {
            if i < n_follow {
                out.contacts
                    .extend(records.iter().filter_map(ContactRow::from_record));
            } else {
                out.accounts
                    .extend(records.iter().filter_map(AccountRow::from_record));
            }
        }
    }
    Ok(out)
}

/// Email domains of evaluations that found nobody and may create a Contact.
fn creation_domains(batch: &[Evaluation], found: &Lookup, s: &DestinationSettings) -> Vec<String> {
    if s.create_as != CreateAs::Contact || !s.create_records.enabled {
        return Vec::new();
    }
    let matched: HashSet<&str> = found
        .contacts
        .iter()
        .filter_map(|c| c.email.as_deref())
        .chain(found.leads.iter().filter_map(|l| l.email.as_deref()))
        .collect();
    batch
        .iter()
        .filter(|e| s.creates_for(e.score) && !matched.contains(e.email.normalized()))
        .map(|e| e.email.domain().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::DestinationSettings;

    #[test]
    fn domain_statements_split_under_the_limit() {
        let s = DestinationSettings::suggested("x");
        let domains: Vec<String> = (0..5000).map(|i| format!("d{i:05}.example.com")).collect();
        let stmts = account_domain_statements(&domains, &s, &Metadata::default());
        assert!(stmts.len() > 1);
        assert!(stmts.iter().all(|q| q.len() <= SOQL_MAX_CHARS));
        let total: usize = stmts.iter().map(|q| q.matches("LIKE").count()).sum();
        assert_eq!(total, 5000);
    }
}
