//! Late commits on a real `serve`: Salesforce commits a create and answers it with HTTP 500
//! (the emulated org's late-commit fault). With the person-key field the create is an
//! upsert and one email stays one record whenever the commit lands; either way the log says
//! the evaluation created the record (docs/product.md#the-person-key).

use std::time::Duration;

use crate::service::{Opts, evaluation, leads_with_email, org, setup_with, sqlite_url};
use crate::sync::Scratch;

const KEY_FIELDS: &str = r#"
[[fields]]
object = "Lead"
name = "TrailSpark_Person_Key__c"
type = "string"
length = 80
external_id = true
unique = true

[[fields]]
object = "Contact"
name = "TrailSpark_Person_Key__c"
type = "string"
length = 80
external_id = true
unique = true
"#;

#[tokio::test]
async fn with_the_person_key_a_create_committed_after_its_500_is_one_lead() {
    let scratch = Scratch::new("late-key");
    let org = org().await;
    org.control()
        .load_scenario_str(KEY_FIELDS)
        .expect("key fields");
    let db = sqlite_url(&scratch);
    let t = setup_with(scratch, org, &db, Opts::default()).await;
    // The create is answered 500 and lands 1.5 s later, after any resend or re-delivery.
    t.org.control().commit_late(1, Duration::from_millis(1500));
    let email = "late.key@late-commit.example";
    t.svc
        .ingest(&t.owner, &evaluation("late-key", email, "hot"))
        .await;
    t.svc
        .wait_outcome(&t.owner, "late-key", Duration::from_secs(30), "created")
        .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(leads_with_email(&t.org, email), 1, "one Lead for one email");
}

#[tokio::test]
async fn with_the_person_key_a_create_committed_before_its_500_is_logged_created() {
    let scratch = Scratch::new("late-key-now");
    let org = org().await;
    org.control()
        .load_scenario_str(KEY_FIELDS)
        .expect("key fields");
    let db = sqlite_url(&scratch);
    let t = setup_with(scratch, org, &db, Opts::default()).await;
    t.org.control().commit_late(1, Duration::ZERO);
    let email = "late.key.now@late-commit.example";
    t.svc
        .ingest(&t.owner, &evaluation("late-key-now", email, "hot"))
        .await;
    let d = t
        .svc
        .wait_delivery(&t.owner, "late-key-now", Duration::from_secs(30), |d| {
            d["state"] == "done"
        })
        .await;
    assert_eq!(d["outcome"], "created", "{d}");
    assert_eq!(leads_with_email(&t.org, email), 1);
}

#[tokio::test]
async fn without_the_key_a_lost_create_found_by_the_retry_is_logged_created() {
    let scratch = Scratch::new("late-plain");
    let org = org().await;
    let db = sqlite_url(&scratch);
    let t = setup_with(scratch, org, &db, Opts::default()).await;
    // Committed before the 500: the retry's look-up finds the Lead holding every value.
    t.org.control().commit_late(1, Duration::ZERO);
    let email = "late.plain@late-commit.example";
    t.svc
        .ingest(&t.owner, &evaluation("late-plain", email, "hot"))
        .await;
    let d = t
        .svc
        .wait_delivery(&t.owner, "late-plain", Duration::from_secs(30), |d| {
            d["state"] == "done"
        })
        .await;
    assert_eq!(d["outcome"], "created", "{d}");
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(leads_with_email(&t.org, email), 1);
}
