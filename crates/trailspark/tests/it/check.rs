//! `trailspark check` end to end against emulated orgs shaped by scenarios.

use crate::sync::{Scratch, code, envs, org, org_config, stderr, stdout, trailspark};

async fn check(org: &sfsim::RunningOrg, extra: &str) -> std::process::Output {
    let s = Scratch::new("check");
    let cfg = s.write("c.toml", &org_config(org, extra));
    trailspark(
        &["check", "--config", cfg.to_str().expect("utf-8")],
        &envs(org),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn good_settings_pass() {
    let org = org("").await;
    let o = check(&org, "").await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("ok:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_person_key_is_a_note_that_passes() {
    let creating = "[destinations.salesforce.create_records]\nenabled = true";
    let org = org("").await;
    let o = check(&org, creating).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let notes: Vec<&str> = out.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 1, "{out}");
    assert!(notes[0].starts_with("note: Lead has no usable TrailSpark_Person_Key__c"));
    assert!(notes[0].contains("setup-org --person-key"));
    let key = "[[fields]]\nobject = \"Lead\"\nname = \"TrailSpark_Person_Key__c\"\ntype = \"string\"\nlength = 80\nexternal_id = true\nunique = true\n";
    org.control().load_scenario_str(key).expect("key field");
    let o = check(&org, creating).await;
    assert_eq!(code(&o), 0);
    assert!(!stdout(&o).contains("note:"), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn creation_settings_pass_on_the_default_org_and_a_required_field_is_caught() {
    let creating =
        "create_as = \"contact\"\n[destinations.salesforce.create_records]\nenabled = true";
    let default_org = sfsim::start(sfsim::Options::default())
        .await
        .expect("sfsim starts");
    let o = check(&default_org, creating).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let org = org(
        "[[fields]]\nobject = \"Lead\"\nname = \"Region__c\"\ntype = \"string\"\nrequired = true\n",
    )
    .await;
    let o = check(&org, creating).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("destinations.salesforce.create_records: Lead.Region__c"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn catches_missing_field_wrong_type_no_edit_access_and_picklist_without_hot() {
    let scenario = r#"
[[remove_fields]]
object = "Contact"
name = "TrailSpark_Reasoning__c"

[[fields]]
object = "Lead"
name = "TrailSpark_Evaluation_Date__c"
type = "double"

[[fields]]
object = "Contact"
name = "TrailSpark_Score__c"
type = "string"
length = 255
updateable = false

[[fields]]
object = "Lead"
name = "TrailSpark_Score__c"
type = "picklist"
picklist = ["warm", "cold"]
restricted = true
"#;
    let org = org(scenario).await;
    let o = check(&org, "").await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let find = |key: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no line for {key}: {out}"))
            .to_string()
    };
    assert!(
        find("destinations.salesforce.contact.reasoning_field:")
            .contains("does not exist on Contact")
    );
    assert!(find("destinations.salesforce.lead.evaluation_date_field:").contains("Date/Time"));
    assert!(find("destinations.salesforce.contact.score_field:").contains("Edit access"));
    assert!(find("destinations.salesforce.lead.score_field:").contains("lacks the value(s) hot"));
    assert!(lines.iter().all(|l| l.contains("Fix:")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_destination_is_the_first_problem_with_its_fix() {
    let org =
        org("[[remove_fields]]\nobject = \"Contact\"\nname = \"TrailSpark_Reasoning__c\"\n").await;
    let o = check(&org, "enabled = false").await;
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("destinations.salesforce.enabled: the destination is disabled"),
        "{out}"
    );
    assert!(
        lines[0].ends_with("Fix: set `enabled = true` in [destinations.salesforce]"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("destinations.salesforce.contact.reasoning_field:"),
        "{out}"
    );
    assert!(stderr(&o).contains("2 problems found"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_integration_that_cannot_sign_in_is_a_problem() {
    let org = org("").await;
    let s = Scratch::new("checkauth");
    let cfg = s.write("c.toml", &org_config(&org, ""));
    let env = vec![
        ("SF_RT", "wrong".to_string()),
        ("SF_CS", org.client_secret().to_string()),
    ];
    let o = trailspark(
        &["check", "--config", cfg.to_str().expect("utf-8")],
        &env,
        None,
    )
    .await;
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("integrations.sim:"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("reconnect"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_config_exits_2() {
    let s = Scratch::new("checkcfg");
    let cfg = s.write(
        "c.toml",
        "[destinations.salesforce]\nintegration = \"nope\"\n",
    );
    let o = trailspark(
        &["check", "--config", cfg.to_str().expect("utf-8")],
        &[],
        None,
    )
    .await;
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("destinations.salesforce.integration"),
        "{}",
        stderr(&o)
    );
}
