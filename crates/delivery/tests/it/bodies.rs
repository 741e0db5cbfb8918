//! Snapshots of the exact SOQL and JSON bodies the engine sends for a representative batch:
//! a change here is a change in what Salesforce receives, so it must be deliberate.

use serde_json::Value;

use delivery::lookup::{account_domain_statements, contact_id_statements, email_statements};
use delivery::plan;
use delivery::write::layout;
use domain::{CreateAs, DestinationSettings, WriteAction};

use crate::common::{batch, lookup_rows, metadata};

#[test]
fn lookup_soql_for_a_batch() {
    let s = DestinationSettings::suggested("prod");
    let emails = delivery::lookup::batch_emails(&batch());
    let (contact, lead) = email_statements(&emails, &s, &metadata()).unwrap();
    insta::assert_snapshot!("contact_lookup", contact.join("\n"));
    insta::assert_snapshot!("lead_lookup", lead.join("\n"));
    let follow =
        contact_id_statements(&["003000000000009AAA".to_string()], &s, &metadata()).unwrap();
    insta::assert_snapshot!("contact_follow", follow.join("\n"));
    let mut s2 = s.clone();
    s2.create_as = CreateAs::Contact;
    let acc = account_domain_statements(
        &["example.com".into(), "o'neil.io".into()],
        &s2,
        &metadata(),
    );
    insta::assert_snapshot!("account_domain_lookup", acc.join("\n"));
}

#[test]
fn emails_with_quotes_and_backslashes_are_escaped() {
    let s = DestinationSettings::suggested("prod");
    let emails = vec![
        "o'brien@example.com".to_string(),
        r#""a\\b"@example.com"#.to_string(),
    ];
    let (contact, _) = email_statements(&emails, &s, &metadata()).unwrap();
    assert!(
        contact[0].ends_with(r#"WHERE Email IN ('o\'brien@example.com','\"a\\\\b\"@example.com')"#),
        "{}",
        contact[0]
    );
}

#[test]
fn collection_bodies_for_a_batch() {
    let mut s = DestinationSettings::suggested("prod");
    s.create_records.enabled = true;
    let p = plan(&batch(), &lookup_rows(), &s, &metadata());
    let reports: Vec<Value> = p
        .reports
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    insta::assert_json_snapshot!("planned_reports", reports);
    let idx_update: Vec<usize> = (0..p.writes.len())
        .filter(|&i| p.writes[i].action == WriteAction::Update)
        .collect();
    let idx_create: Vec<usize> = (0..p.writes.len())
        .filter(|&i| p.writes[i].action == WriteAction::Create)
        .collect();
    for (name, idx) in [
        ("update_collections", idx_update),
        ("create_collections", idx_create),
    ] {
        let lay = layout(&p.writes, &idx);
        let bodies: Vec<Value> = lay
            .parallel
            .iter()
            .flat_map(|g| g.ops.iter())
            .map(|(op, _)| serde_json::json!({"allOrNone": false, "records": op.records}))
            .collect();
        insta::assert_json_snapshot!(name, bodies);
    }
}
