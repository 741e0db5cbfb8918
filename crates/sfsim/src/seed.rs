//! The default org: metadata of Lead, Contact and Account and a deterministic data set.
//!
//! Metadata (as the integration user sees it):
//! - standard fields: `Id`, `IsDeleted`, names (`FirstName` 40, `LastName` 80 required,
//!   derived `Name`), `Company` (Lead, 255, required), `Email` (email 80), `Phone`,
//!   `Title`, `Website` (url 255), `Description` (textarea 32000), `Status` (Lead,
//!   restricted picklist defaulting to `Open - Not Contacted`), `LeadSource` (open
//!   picklist), `IsConverted`, `ConvertedDate` (date), `ConvertedContactId` /
//!   `ConvertedAccountId` (read-only references), `AccountId` (Contact, reference to
//!   Account, relationship `Account`), `OwnerId`, audit fields `CreatedDate`,
//!   `CreatedById`, `LastModifiedDate`, `LastModifiedById`, `SystemModstamp`;
//! - TrailSpark's custom fields (docs/product.md#the-salesforce-fields): `TrailSpark_Score__c`
//!   (Text 255, Lead and Contact), `TrailSpark_Evaluation_Date__c` (DateTime, Lead and Contact),
//!   `TrailSpark_Reasoning__c` (Long Text Area 131072, Lead and Contact),
//!   `TrailSpark_Propensity__c` (Text 255, Account and Lead);
//! - other custom fields: `Lead.Email_Domain__c` (formula, calculated),
//!   `Lead.Notes__c` (Rich Text Area 32768, htmlFormatted), `Lead.Internal_Rating__c`
//!   (Text 20, read-only for the integration user by field-level security).
//! - a duplicate rule `Standard_Lead_Duplicate_Rule` on Lead: exact Email match, alert
//!   only, on create.
//!
//! Data (same every start; ids minted in this order):
//! - 100 Accounts `001…` with names like "Acme Analytics", websites
//!   `https://www.<slug>.com`; every 4th has `TrailSpark_Propensity__c` set.
//! - 250 Contacts `003…`: the first 230 belong to Accounts (2–3 each, Account `i % 100`),
//!   the last 20 have no Account; emails `first.last@<account domain>` (or
//!   `@example.net` without Account); every 7th written in mixed case; every 25th has
//!   no email; Contact 249 repeats Contact 0's email (duplicate Contacts).
//! - 120 open Leads `00Q…` (`Status` open values): emails `first.last<i>@<company>.io`,
//!   every 5th mixed case; Lead 119 repeats Lead 0's email in other case (duplicate
//!   Leads); Lead 118 has the email of Contact 5 (a person who is both).
//! - 20 converted Leads (`IsConverted = true`, `Status = Closed - Converted`) pointing at
//!   Contacts 10, 20, … 200 and their Accounts, with those Contacts' emails.
//! - Created dates spread hourly from 2024-01-01T00:00:00Z; nothing carries TrailSpark
//!   values except the propensity above.

use serde_json::{Value, json};

use crate::org::{DuplicateAction, DuplicateRule, Fields, Org, Undo, WriteCtx};
use crate::schema::{FieldDef, FieldType as T, Formula, ObjectDef};

/// The integration user's id (matches the OAuth module's default user).
pub const USER_ID: &str = "0055g00000IntUsAAJ";

pub const LEAD_STATUSES: [&str; 4] = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
];

fn audit_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::new("OwnerId", "Owner ID", T::Reference, 18)
            .reference(&["Group", "User"], "Owner")
            .required_defaulted(),
        FieldDef::new("CreatedDate", "Created Date", T::Datetime, 0).system(true),
        FieldDef::new("CreatedById", "Created By ID", T::Reference, 18)
            .reference(&["User"], "CreatedBy")
            .system(true),
        FieldDef::new("LastModifiedDate", "Last Modified Date", T::Datetime, 0).system(true),
        FieldDef::new("LastModifiedById", "Last Modified By ID", T::Reference, 18)
            .reference(&["User"], "LastModifiedBy")
            .system(true),
        FieldDef::new("SystemModstamp", "System Modstamp", T::Datetime, 0).system(true),
    ]
}

/// `Id` and `IsDeleted`, the fields every standard object's describe starts with.
fn head_fields(id_label: &str) -> Vec<FieldDef> {
    vec![
        FieldDef::new("Id", id_label, T::Id, 18).system(true),
        FieldDef::new("IsDeleted", "Deleted", T::Boolean, 0).system(true),
    ]
}

/// A standard object whose singular label is its API name.
fn standard_object(
    name: &str,
    label_plural: &str,
    key_prefix: &str,
    fields: Vec<FieldDef>,
) -> ObjectDef {
    ObjectDef {
        name: name.into(),
        label: name.into(),
        label_plural: label_plural.into(),
        key_prefix: key_prefix.into(),
        fields,
    }
}

fn trailspark_person_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::new("TrailSpark_Score__c", "TrailSpark Score", T::String, 255),
        FieldDef::new(
            "TrailSpark_Evaluation_Date__c",
            "TrailSpark Evaluation Date",
            T::Datetime,
            0,
        ),
        FieldDef::new(
            "TrailSpark_Reasoning__c",
            "TrailSpark Reasoning",
            T::Textarea,
            131_072,
        ),
    ]
}

/// The propensity field, on Lead and on Account alike.
fn propensity_field() -> FieldDef {
    FieldDef::new(
        "TrailSpark_Propensity__c",
        "TrailSpark Propensity",
        T::String,
        255,
    )
}

fn names() -> Vec<FieldDef> {
    vec![
        FieldDef::new("LastName", "Last Name", T::String, 80).required(),
        FieldDef::new("FirstName", "First Name", T::String, 40),
        FieldDef::new("Name", "Full Name", T::String, 121)
            .formula(Formula::FullName)
            .named(),
    ]
}

pub fn lead_def() -> ObjectDef {
    let mut fields = head_fields("Lead ID");
    fields.extend(names());
    fields.extend([
        FieldDef::new("Title", "Title", T::String, 128),
        FieldDef::new("Company", "Company", T::String, 255).required(),
        FieldDef::new("Email", "Email", T::Email, 80),
        FieldDef::new("Phone", "Phone", T::Phone, 40),
        FieldDef::new("Website", "Website", T::Url, 255),
        FieldDef::new("Description", "Description", T::Textarea, 32_000),
        FieldDef::new("LeadSource", "Lead Source", T::Picklist, 255).picklist(
            &[
                "Web",
                "Phone Inquiry",
                "Partner Referral",
                "Purchased List",
                "Other",
            ],
            None,
            false,
        ),
        FieldDef::new("Status", "Status", T::Picklist, 255)
            .picklist(&LEAD_STATUSES, Some(LEAD_STATUSES[0]), true)
            .required(),
        FieldDef::new("IsConverted", "Converted", T::Boolean, 0)
            .system(true)
            .with_default(json!(false)),
        FieldDef::new("ConvertedDate", "Converted Date", T::Date, 0).read_only(),
        FieldDef::new(
            "ConvertedAccountId",
            "Converted Account ID",
            T::Reference,
            18,
        )
        .reference(&["Account"], "ConvertedAccount")
        .read_only(),
        FieldDef::new(
            "ConvertedContactId",
            "Converted Contact ID",
            T::Reference,
            18,
        )
        .reference(&["Contact"], "ConvertedContact")
        .read_only(),
    ]);
    fields.extend(audit_fields());
    fields.extend(trailspark_person_fields());
    fields.extend([
        propensity_field(),
        FieldDef::new("Email_Domain__c", "Email Domain", T::String, 255).formula(
            Formula::EmailDomain {
                field: "Email".into(),
            },
        ),
        FieldDef::new("Notes__c", "Notes", T::Textarea, 32_768).rich_text(),
        // Read-only for the integration user by field-level security.
        FieldDef::new("Internal_Rating__c", "Internal Rating", T::String, 20).read_only(),
    ]);
    standard_object("Lead", "Leads", "00Q", fields)
}

pub fn contact_def() -> ObjectDef {
    let mut fields = head_fields("Contact ID");
    fields.push(
        FieldDef::new("AccountId", "Account ID", T::Reference, 18)
            .reference(&["Account"], "Account"),
    );
    fields.extend(names());
    fields.extend([
        FieldDef::new("Title", "Title", T::String, 128),
        FieldDef::new("Email", "Email", T::Email, 80),
        FieldDef::new("Phone", "Business Phone", T::Phone, 40),
        FieldDef::new("Description", "Contact Description", T::Textarea, 32_000),
    ]);
    fields.extend(audit_fields());
    fields.extend(trailspark_person_fields());
    standard_object("Contact", "Contacts", "003", fields)
}

pub fn account_def() -> ObjectDef {
    let mut fields = head_fields("Account ID");
    fields.extend([
        FieldDef::new("Name", "Account Name", T::String, 255)
            .required()
            .named(),
        FieldDef::new("Website", "Website", T::Url, 255),
        FieldDef::new("Industry", "Industry", T::Picklist, 255).picklist(
            &[
                "Technology",
                "Manufacturing",
                "Finance",
                "Healthcare",
                "Retail",
                "Media",
            ],
            None,
            false,
        ),
        FieldDef::new("Phone", "Account Phone", T::Phone, 40),
        FieldDef::new("Description", "Account Description", T::Textarea, 32_000),
    ]);
    fields.extend(audit_fields());
    fields.push(propensity_field());
    standard_object("Account", "Accounts", "001", fields)
}

/// An org with the three objects' metadata and no records or rules.
pub fn empty_org() -> Org {
    Org::new(vec![account_def(), contact_def(), lead_def()], USER_ID)
}

pub fn default_duplicate_rule() -> DuplicateRule {
    DuplicateRule {
        name: "Standard_Lead_Duplicate_Rule".into(),
        object: "Lead".into(),
        field: "Email".into(),
        action: DuplicateAction::Alert,
        on_create: true,
        on_update: false,
        message: None,
        active: true,
    }
}

/// Small deterministic generator (xorshift64*), so the default org never changes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const FIRST: [&str; 24] = [
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Priya", "Lucas", "Chloe", "Mateo", "Hana",
    "Omar", "Ingrid", "Kenji", "Sofia", "Diego", "Amara", "Felix", "Nora", "Ravi", "Elena",
    "Jonas", "Leila", "Tomas",
];
const LAST: [&str; 24] = [
    "Smith",
    "Garcia",
    "Chen",
    "Okafor",
    "Novak",
    "Rossi",
    "Kim",
    "Patel",
    "Muller",
    "Silva",
    "Johansson",
    "Tanaka",
    "Dubois",
    "Kowalski",
    "Haddad",
    "Nguyen",
    "Brown",
    "Costa",
    "Fischer",
    "Moreau",
    "Singh",
    "Larsen",
    "Ortiz",
    "Walsh",
];
const BRAND: [&str; 20] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Cyberdyne",
    "Tyrell",
    "Soylent",
    "Massive",
    "Pied Piper",
    "Aperture",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Nakatomi",
    "Dunder",
];
const INDUSTRIES: [&str; 6] = [
    "Technology",
    "Manufacturing",
    "Finance",
    "Healthcare",
    "Retail",
    "Media",
];
const SUFFIX: [&str; 5] = ["Analytics", "Systems", "Labs", "Logistics", "Partners"];

fn slug(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

fn created(i: usize) -> String {
    let base = time::macros::datetime!(2024-01-01 00:00:00 UTC);
    crate::soql::format_datetime(base + time::Duration::hours(i as i64))
}

fn mixed_case(email: &str) -> String {
    // "ava.smith3@acme.com" -> "Ava.Smith3@Acme.Com"
    let mut out = String::with_capacity(email.len());
    let mut up = true;
    for c in email.chars() {
        out.push(if up { c.to_ascii_uppercase() } else { c });
        up = c == '.' || c == '@';
    }
    out
}

fn insert(org: &mut Org, object: &str, v: Value) -> String {
    let Value::Object(fields) = v else {
        return String::new();
    };
    let fields: Fields = fields;
    let ctx = WriteCtx {
        system: true,
        ..WriteCtx::default()
    };
    let mut undo = Undo::default();
    // The seed is built from constants; a failure here is a bug in this file.
    match org.create(object, &fields, ctx, &mut undo) {
        Ok(id) => id,
        Err(e) => panic!("default org seed record refused: {e:?}"),
    }
}

/// The default org (metadata, rules and records documented above).
pub fn default_org() -> Org {
    let mut org = empty_org();
    org.duplicate_rules.push(default_duplicate_rule());
    let mut rng = Rng(0x5EED_7A11_5BA2_C0DE);
    let mut n = 0usize;
    let mut tick = || {
        n += 1;
        created(n)
    };

    let mut accounts = Vec::new(); // (id, domain)
    for i in 0..100 {
        let name = format!("{} {}", BRAND[i % BRAND.len()], SUFFIX[i / BRAND.len()]);
        let domain = format!("{}.com", slug(&name));
        let propensity = match i % 12 {
            0 => json!("high_propensity"),
            4 => json!("medium_propensity"),
            8 => json!("low_propensity"),
            _ => Value::Null,
        };
        let t = tick();
        let id = insert(
            &mut org,
            "Account",
            json!({
                "Name": name, "Website": format!("https://www.{domain}"),
                "Industry": INDUSTRIES[i % INDUSTRIES.len()],
                "TrailSpark_Propensity__c": propensity,
                "CreatedDate": t, "LastModifiedDate": t, "SystemModstamp": t,
            }),
        );
        accounts.push((id, domain));
    }

    let mut contacts = Vec::new(); // (id, email, account id)
    for i in 0..250 {
        let first = rng.pick(&FIRST);
        let last = rng.pick(&LAST);
        let account = (i < 230).then(|| accounts[i % 100].clone());
        let domain = account
            .as_ref()
            .map_or("example.net".to_owned(), |a| a.1.clone());
        let mut email = format!(
            "{}.{}{}@{domain}",
            first.to_lowercase(),
            last.to_lowercase(),
            i
        );
        if i % 7 == 3 {
            email = mixed_case(&email);
        }
        let email = if i == 249 {
            contacts
                .first()
                .map(|c: &(String, Option<String>, Option<String>)| c.1.clone())
                .unwrap_or(Some(email))
        } else if i % 25 == 24 {
            None
        } else {
            Some(email)
        };
        let t = tick();
        let id = insert(
            &mut org,
            "Contact",
            json!({
                "FirstName": first, "LastName": last, "Email": email,
                "AccountId": account.as_ref().map(|a| a.0.clone()),
                "Title": rng.pick(&["VP Sales", "Head of Marketing", "CTO", "Buyer", "Analyst"]),
                "CreatedDate": t, "LastModifiedDate": t, "SystemModstamp": t,
            }),
        );
        contacts.push((id, email, account.map(|a| a.0)));
    }

    for i in 0..120 {
        let first = rng.pick(&FIRST);
        let last = rng.pick(&LAST);
        let company = format!(
            "{} {}",
            rng.pick(&LAST),
            rng.pick(&["Ventures", "GmbH", "Studio", "Inc", "Co"])
        );
        let mut email = format!(
            "{}.{}{}@{}.io",
            first.to_lowercase(),
            last.to_lowercase(),
            i,
            slug(&company)
        );
        if i % 5 == 2 {
            email = mixed_case(&email);
        }
        if i == 119 {
            email = org
                .records("Lead")
                .first()
                .and_then(|l| {
                    l.get("Email")
                        .and_then(Value::as_str)
                        .map(str::to_uppercase)
                })
                .unwrap_or(email);
        }
        if i == 118 {
            email = contacts[5].1.clone().unwrap_or(email);
        }
        let t = tick();
        insert(
            &mut org,
            "Lead",
            json!({
                "FirstName": first, "LastName": last, "Company": company, "Email": email,
                "Status": LEAD_STATUSES[i % 2],
                "LeadSource": rng.pick(&["Web", "Phone Inquiry", "Partner Referral", "Other"]),
                "CreatedDate": t, "LastModifiedDate": t, "SystemModstamp": t,
            }),
        );
    }

    for k in 1..=20 {
        let (cid, email, aid) = contacts[k * 10].clone();
        let t = tick();
        insert(
            &mut org,
            "Lead",
            json!({
                "FirstName": rng.pick(&FIRST), "LastName": rng.pick(&LAST), "Company": "Converted Co",
                "Email": email, "Status": "Closed - Converted", "IsConverted": true,
                "ConvertedContactId": cid, "ConvertedAccountId": aid,
                "ConvertedDate": &t[..10],
                "CreatedDate": t, "LastModifiedDate": t, "SystemModstamp": t,
            }),
        );
    }
    org
}
