//! Field metadata kept fresh against the emulated org: a field changed in Salesforce after
//! the first describe is seen by the same destination — at once when it breaks a batch,
//! within the max age otherwise — and a destination built for changed settings starts from
//! what the previous one knew.

use std::time::Duration;

use serde_json::json;

use delivery::{DeliverOptions, Destination};
use domain::{DestinationSettings, Evaluation, Outcome, Warning};
use salesforce::Client;
use sfsim::RunningOrg;
use sfsim::control::{CallKind, CallRecord};

use crate::sim::{client_config, empty_org};

async fn client(org: &RunningOrg) -> Client {
    Client::connect(client_config(org)).await.expect("connects")
}

async fn destination(org: &RunningOrg, settings: DestinationSettings) -> Destination {
    Destination::new(settings, client(org).await)
        .await
        .expect("destination")
}

fn ev(i: usize, email: &str, reasoning: &str, at: &str) -> Evaluation {
    Evaluation::parse_json(
        &json!({"id": format!("ev-{i}"), "email": email, "score": "hot",
        "reasoning": reasoning, "evaluated_at": at}),
    )
    .expect("valid")
}

/// An org with one Contact, `a@x.com`; its id.
async fn org_with_contact() -> (RunningOrg, String) {
    let org = empty_org(Duration::ZERO).await;
    let id = org
        .control()
        .insert("Contact", json!({"LastName": "X", "Email": "a@x.com"}))
        .expect("contact");
    (org, id)
}

fn describes(org: &RunningOrg) -> Vec<CallRecord> {
    org.control()
        .calls()
        .into_iter()
        .filter(|c| c.kind == CallKind::Describe)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_created_after_the_first_describe_is_written_by_the_same_destination() {
    let (org, contact) = org_with_contact().await;
    let mut settings = DestinationSettings::suggested("sim");
    settings.contact.score_field = Some("Fit_Score__c".into());
    let dest = destination(&org, settings).await;
    let batch = [ev(0, "a@x.com", "r", "2026-11-28T09:15:00Z")];

    let first = dest.deliver(&batch, DeliverOptions::default()).await;
    assert_eq!(first[0].outcome, Outcome::Failed, "{:?}", first[0]);
    let err = first[0].error.as_ref().expect("error");
    assert_eq!(err.code, "INVALID_FIELD");
    assert!(err.message.contains("Fit_Score__c"), "{err:?}");

    // The admin creates the field in Setup.
    org.control()
        .load_scenario_str(
            "[[fields]]\nobject = \"Contact\"\nname = \"Fit_Score__c\"\nlabel = \"Fit Score\"\ntype = \"string\"\n",
        )
        .expect("field added");
    org.control().clear_calls();
    let second = dest.deliver(&batch, DeliverOptions::default()).await;
    assert_eq!(second[0].outcome, Outcome::Updated, "{:?}", second[0]);
    assert_eq!(
        org.control().record(&contact).expect("contact")["Fit_Score__c"],
        "hot"
    );
    let described = describes(&org);
    assert!(
        described
            .iter()
            .any(|c| c.path.ends_with("/Contact/describe") && c.status == 200),
        "the Contact was described again: {described:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_shortened_in_salesforce_is_seen_when_the_write_is_refused() {
    let (org, contact) = org_with_contact().await;
    let dest = destination(&org, DestinationSettings::suggested("sim")).await;
    let first = dest
        .deliver(
            &[ev(0, "a@x.com", "short", "2026-11-28T09:15:00Z")],
            DeliverOptions::default(),
        )
        .await;
    assert_eq!(first[0].outcome, Outcome::Updated, "{:?}", first[0]);

    // The reasoning field becomes a 10-character text area after the describe was cached:
    // the planner still fits reasoning to 131,072 characters, Salesforce refuses the write.
    org.control()
        .load_scenario_str(
            "[[fields]]\nobject = \"Contact\"\nname = \"TrailSpark_Reasoning__c\"\ntype = \"textarea\"\nlength = 10\n",
        )
        .expect("field shortened");
    org.control().clear_calls();
    let reports = dest
        .deliver(
            &[ev(
                1,
                "a@x.com",
                "a much longer reasoning",
                "2026-11-29T09:15:00Z",
            )],
            DeliverOptions::default(),
        )
        .await;
    let r = &reports[0];
    assert_eq!(r.outcome, Outcome::Updated, "{r:?}");
    assert!(
        r.warnings
            .contains(&Warning::ReasoningTruncated { length: 10 }),
        "{r:?}"
    );
    assert_eq!(r.writes.len(), 1, "the refused write is not listed: {r:?}");
    let refused = org
        .control()
        .calls()
        .into_iter()
        .filter(|c| c.kind == CallKind::CollectionsUpdate && c.in_composite)
        .map(|c| c.status)
        .collect::<Vec<_>>();
    assert_eq!(refused.len(), 2, "written twice: {refused:?}");
    assert!(
        describes(&org).iter().all(|c| c.status == 200),
        "described again after the refusal"
    );
    assert_eq!(
        org.control().record(&contact).expect("contact")["TrailSpark_Reasoning__c"],
        "a much lo…"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_field_fails_the_lookup_once_then_the_plan_names_it() {
    let (org, _) = org_with_contact().await;
    let dest = destination(&org, DestinationSettings::suggested("sim")).await;
    let first = dest
        .deliver(
            &[ev(0, "a@x.com", "r", "2026-11-28T09:15:00Z")],
            DeliverOptions::default(),
        )
        .await;
    assert_eq!(first[0].outcome, Outcome::Updated, "{:?}", first[0]);
    org.control()
        .load_scenario_str(
            "[[remove_fields]]\nobject = \"Contact\"\nname = \"TrailSpark_Reasoning__c\"\n",
        )
        .expect("field removed");
    org.control().clear_calls();
    let reports = dest
        .deliver(
            &[ev(1, "a@x.com", "r2", "2026-11-29T09:15:00Z")],
            DeliverOptions::default(),
        )
        .await;
    let e = reports[0].error.as_ref().expect("still failed");
    assert_eq!(e.code, "INVALID_FIELD");
    // The lookup's SOQL named the removed field; after the refresh the plan knows it is gone.
    assert!(
        e.message
            .contains("missing or not visible to the integration user"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_older_than_the_max_age_is_revalidated_with_if_modified_since() {
    let (org, _) = org_with_contact().await;
    let dest = destination(&org, DestinationSettings::suggested("sim"))
        .await
        .with_metadata_max_age(Duration::ZERO);
    let batch = [ev(0, "a@x.com", "r", "2026-11-28T09:15:00Z")];
    dest.deliver(&batch, DeliverOptions::default()).await;
    org.control().clear_calls();
    let reports = dest.deliver(&batch, DeliverOptions::default()).await;
    assert_eq!(reports[0].outcome, Outcome::Unchanged, "{:?}", reports[0]);
    let statuses: Vec<u16> = describes(&org).iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [304, 304, 304],
        "Lead, Contact, Account unchanged"
    );
    assert!(
        !dest.refresh_metadata().await.expect("refresh"),
        "nothing changed"
    );
    org.control()
        .load_scenario_str("[[fields]]\nobject = \"Lead\"\nname = \"New__c\"\ntype = \"string\"\n")
        .expect("field added");
    assert!(dest.refresh_metadata().await.expect("refresh"));
    assert!(
        dest.metadata()
            .await
            .expect("metadata")
            .lead
            .field("new__c")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_built_for_changed_settings_does_not_describe_again() {
    let (org, contact) = org_with_contact().await;
    let client = client(&org).await;
    let dest = Destination::new(DestinationSettings::suggested("sim"), client.clone())
        .await
        .expect("destination");
    dest.deliver(
        &[ev(0, "a@x.com", "r", "2026-11-28T09:15:00Z")],
        DeliverOptions::default(),
    )
    .await;
    let mut changed = DestinationSettings::suggested("sim");
    changed.contact.reasoning_field = None;
    let next = Destination::with_metadata(changed, client, dest.metadata_cache());
    org.control().clear_calls();
    let reports = next
        .deliver(
            &[ev(1, "a@x.com", "not written", "2026-11-29T09:15:00Z")],
            DeliverOptions::default(),
        )
        .await;
    assert_eq!(reports[0].outcome, Outcome::Updated, "{:?}", reports[0]);
    assert!(describes(&org).is_empty(), "{:?}", describes(&org));
    assert_eq!(
        org.control().record(&contact).expect("contact")["TrailSpark_Reasoning__c"],
        "r"
    );
}
