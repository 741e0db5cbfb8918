//! Org setup against the emulated org: read, plan, apply, the API calls it costs, and
//! that a second run writes nothing and a run after a partial failure finishes the job.

use delivery::setup::{self, FieldAction, SetupOptions};
use delivery::{SObject, check_with_metadata};
use domain::DestinationSettings;
use salesforce::Client;

use crate::sim::client_config;

async fn bare() -> sfsim::RunningOrg {
    let org = sfsim::start(sfsim::Options::default())
        .await
        .expect("sfsim starts");
    org.control()
        .load_scenario(&sfsim::Scenario::bare())
        .expect("bare org");
    org
}

async fn connect(org: &sfsim::RunningOrg) -> Client {
    Client::connect(client_config(org)).await.expect("connects")
}

fn desired() -> Vec<setup::DesiredField> {
    setup::desired_fields(
        Some(&DestinationSettings::suggested("sim")),
        SetupOptions::default(),
    )
}

/// Write calls in the org's call log: anything but GETs, except Composite envelopes
/// whose subrequests are all GETs.
fn writes(org: &sfsim::RunningOrg) -> Vec<String> {
    org.control()
        .calls()
        .iter()
        .filter(|c| c.method != "GET")
        .filter(|c| c.in_composite || !c.path.ends_with("/composite"))
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

#[tokio::test]
async fn from_a_bare_org_six_calls_set_everything_up_and_a_second_run_writes_nothing() {
    let org = bare().await;
    let client = connect(&org).await;
    let desired = desired();
    let state = setup::read_org(&client, &desired).await.unwrap();
    let plan = setup::plan(&state, &desired);
    assert_eq!(plan.creates().count(), 8);
    assert_eq!(plan.grants.len(), 8);
    let report = setup::apply(&client, &plan).await;
    assert_eq!(report.failures(), 0, "{report:?}");
    assert!(matches!(report.permission_set_created, Some(Ok(_))));
    assert_eq!(client.calls_made(), 6, "{:?}", client.call_counts());
    assert_eq!(
        org.control().api_calls_counted(),
        5,
        "userinfo is not a data call"
    );

    // The settings now check clean against what the integration user sees.
    org.control().clear_calls();
    let before = client.calls_made();
    let again = setup::read_org(&client, &desired).await.unwrap();
    assert_eq!(client.calls_made() - before, 4, "a second run only reads");
    let settings = DestinationSettings::suggested("sim");
    assert_eq!(check_with_metadata(&settings, &again.meta), vec![]);
    let lead_score = again
        .meta
        .object(SObject::Lead)
        .field("TrailSpark_Score__c")
        .unwrap();
    assert_eq!(lead_score.length, 10);

    let second = setup::plan(&again, &desired);
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(writes(&org), Vec::<String>::new());
    assert!(!org.control().calls().is_empty());
}

#[tokio::test]
async fn a_partial_failure_is_reported_per_field_and_a_rerun_finishes_the_job() {
    let org = bare().await;
    let client = connect(&org).await;
    let desired = desired();
    let plan = setup::plan(&setup::read_org(&client, &desired).await.unwrap(), &desired);
    // Between the plan and its application someone creates one of the fields (rightly
    // typed, but without access for the integration user).
    admin_creates(&org, "Contact", "TrailSpark_Evaluation_Date__c").await;
    let report = setup::apply(&client, &plan).await;
    assert_eq!(report.failures(), 1, "{report:?}");
    let failed = report.fields.iter().find(|f| f.failed()).unwrap();
    assert_eq!(failed.full_name(), "Contact.TrailSpark_Evaluation_Date__c");
    let why = failed.created.clone().unwrap().unwrap_err();
    assert!(why.contains("already has a field named"), "{why}");
    assert_eq!(
        failed.access,
        Some(Err("not granted: the field was not created".into()))
    );

    // The re-run sees the field (through Tooling), finds it fits, and only grants it.
    let state = setup::read_org(&client, &desired).await.unwrap();
    let rerun = setup::plan(&state, &desired);
    assert_eq!(rerun.creates().count(), 0);
    assert_eq!(rerun.grants.len(), 1);
    assert_eq!(
        rerun
            .fields
            .iter()
            .find(|f| f.full_name() == "Contact.TrailSpark_Evaluation_Date__c")
            .unwrap()
            .action,
        FieldAction::Keep
    );
    assert!(matches!(
        rerun.permission_set,
        setup::PermissionSetStep::Existing(_)
    ));
    let done = setup::apply(&client, &rerun).await;
    assert_eq!(done.failures(), 0, "{done:?}");
    let last = setup::plan(&setup::read_org(&client, &desired).await.unwrap(), &desired);
    assert!(last.is_empty(), "{last:?}");
}

/// Creates a DateTime field through the Tooling API with a session of its own, as an
/// admin working in Setup at the same time would.
async fn admin_creates(org: &sfsim::RunningOrg, object: &str, name: &str) {
    let admin = Client::connect(client_config(org)).await.unwrap();
    let spec = salesforce::CustomFieldSpec {
        object: object.into(),
        name: name.into(),
        label: "By hand".into(),
        description: None,
        kind: salesforce::CustomFieldKind::DateTime,
    };
    admin
        .create_custom_fields(&[spec])
        .await
        .remove(0)
        .expect("admin creates the field");
}
