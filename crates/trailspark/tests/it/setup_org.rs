//! `trailspark setup-org` end to end against the emulated org's `bare` scenario (the
//! default org without any TrailSpark field).

use std::process::Output;

use serde_json::{Value, json};

use crate::sync::{
    Scratch, code, config, envs, lines, org_config, record, stderr, stdout, trailspark,
};

/// The bare org, then `scenario` on top of it.
async fn bare(scenario: &str) -> sfsim::RunningOrg {
    let org = sfsim::start(sfsim::Options::default())
        .await
        .expect("sfsim starts");
    org.control()
        .load_scenario(&sfsim::Scenario::bare())
        .expect("bare org");
    org.control()
        .load_scenario_str(scenario)
        .expect("scenario loads");
    org
}

/// Runs `trailspark ARGS… --config <org's config>` against `org`.
async fn run(org: &sfsim::RunningOrg, cfg_text: &str, args: &[&str]) -> Output {
    let s = Scratch::new("setuporg");
    let cfg = s.write("c.toml", cfg_text);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--config", cfg.to_str().expect("utf-8")]);
    trailspark(&all, &envs(org), None).await
}

async fn setup_org(org: &sfsim::RunningOrg, extra: &[&str]) -> Output {
    let mut args = vec!["setup-org", "--integration", "sim"];
    args.extend_from_slice(extra);
    run(org, &org_config(org, ""), &args).await
}

/// The lines of the plan (or report) starting with `verb`.
fn rows<'a>(out: &'a str, verb: &str) -> Vec<&'a str> {
    out.lines()
        .filter(|l| l.trim_start().starts_with(&format!("{verb} ")))
        .collect()
}

/// Calls that wrote something: anything but GETs, Composite envelopes aside (their
/// subrequests are logged on their own).
fn writes(org: &sfsim::RunningOrg) -> Vec<String> {
    org.control()
        .calls()
        .iter()
        .filter(|c| c.method != "GET")
        .filter(|c| c.in_composite || !c.path.ends_with("/composite"))
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

const FIELDS: [&str; 8] = [
    "Lead.TrailSpark_Score__c",
    "Lead.TrailSpark_Evaluation_Date__c",
    "Lead.TrailSpark_Reasoning__c",
    "Lead.TrailSpark_Propensity__c",
    "Contact.TrailSpark_Score__c",
    "Contact.TrailSpark_Evaluation_Date__c",
    "Contact.TrailSpark_Reasoning__c",
    "Account.TrailSpark_Propensity__c",
];

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_lists_the_fields_to_create_and_the_grants_and_writes_nothing() {
    let org = bare("").await;
    let o = setup_org(&org, &["--dry-run"]).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let creates = rows(&out, "create");
    // The mapped fields (the config maps the Lead propensity fallback too), then the set.
    assert_eq!(creates.len(), 9, "{out}");
    for (line, field) in creates.iter().zip(FIELDS) {
        assert!(line.contains(field), "{line} / {field}");
    }
    assert!(creates[0].ends_with("Text(10)"), "{}", creates[0]);
    assert!(creates[2].ends_with("Long Text Area(131072)"));
    assert!(creates[8].contains("permission set TrailSpark_Integration"));
    assert_eq!(rows(&out, "grant").len(), 8);
    assert!(
        rows(&out, "grant")[0].contains("Read+Edit through permission set TrailSpark_Integration")
    );
    assert_eq!(rows(&out, "assign").len(), 1);
    assert!(out.contains("dry run: nothing was written"), "{out}");
    assert_eq!(writes(&org), Vec::<String>::new());

    // Without destination settings for the integration: the seed's seven fields.
    let only_integration = org_config(&org, "")
        .split("[destinations.salesforce]")
        .next()
        .unwrap()
        .to_owned();
    let o = run(
        &org,
        &only_integration,
        &[
            "setup-org",
            "--integration",
            "sim",
            "--dry-run",
            "--person-key",
            "--picklist-score",
        ],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let fields: Vec<&str> = rows(&out, "create")
        .into_iter()
        .filter(|l| !l.contains("permission set"))
        .collect();
    assert_eq!(
        fields.len(),
        9,
        "7 + the person key on Lead and Contact: {out}"
    );
    assert!(
        fields[0].ends_with("Restricted Picklist (hot, warm, cold)"),
        "{}",
        fields[0]
    );
    assert!(!out.contains("Lead.TrailSpark_Propensity__c"));
    assert!(
        fields[8].contains("Contact.TrailSpark_Person_Key__c")
            && fields[8].ends_with("Text(80) External ID Unique")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_then_check_passes_sync_writes_every_slot_and_a_second_run_writes_nothing() {
    let org = bare("").await;
    let o = setup_org(&org, &[]).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert_eq!(rows(&out, "created").len(), 9, "{out}");
    assert_eq!(rows(&out, "granted").len(), 8);
    assert!(
        out.contains("setup complete: 8 field(s) created, 8 made editable. API calls: 6"),
        "{out}"
    );

    let o = run(&org, &org_config(&org, ""), &["check"]).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    // One Contact with an Account, one open Lead (no Account: the Lead fallback).
    let c = &org.control().query("SELECT Id, Email, AccountId FROM Contact WHERE AccountId != null ORDER BY CreatedDate LIMIT 2").unwrap()[1];
    let l = &org
        .control()
        .query("SELECT Id, Email FROM Lead WHERE IsConverted = false ORDER BY CreatedDate LIMIT 2")
        .unwrap()[1];
    let ev = |id: &str, email: &Value, score: &str, propensity: &str| {
        json!({"id": id, "email": email, "score": score, "reasoning": format!("why {id}"),
               "evaluated_at": "2026-11-28T09:15:00Z", "propensity": propensity})
        .to_string()
    };
    let input = format!(
        "{}\n{}\n",
        ev("e-contact", &c["Email"], "hot", "high"),
        ev("e-lead", &l["Email"], "warm", "low")
    );
    let s = Scratch::new("setuporgsync");
    let file = s.write("in.jsonl", &input);
    let cfg = s.write("c.toml", &org_config(&org, ""));
    let o = trailspark(
        &[
            "sync",
            "--config",
            cfg.to_str().unwrap(),
            "--input",
            file.to_str().unwrap(),
        ],
        &envs(&org),
        None,
    )
    .await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        lines(&o).iter().all(|r| r["outcome"] == "updated"),
        "{}",
        stdout(&o)
    );
    let contact = record(&org, c["Id"].as_str().unwrap());
    assert_eq!(contact["TrailSpark_Score__c"], "hot");
    assert_eq!(contact["TrailSpark_Reasoning__c"], "why e-contact");
    assert_eq!(
        contact["TrailSpark_Evaluation_Date__c"],
        "2026-11-28T09:15:00.000+0000"
    );
    let account = record(&org, c["AccountId"].as_str().unwrap());
    assert_eq!(account["TrailSpark_Propensity__c"], "high_propensity");
    let lead = record(&org, l["Id"].as_str().unwrap());
    assert_eq!(lead["TrailSpark_Score__c"], "warm");
    assert_eq!(lead["TrailSpark_Reasoning__c"], "why e-lead");
    assert_eq!(
        lead["TrailSpark_Evaluation_Date__c"],
        "2026-11-28T09:15:00.000+0000"
    );
    assert_eq!(lead["TrailSpark_Propensity__c"], "low_propensity");

    org.control().clear_calls();
    let o = setup_org(&org, &[]).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert_eq!(rows(&out, "keep").len(), 8, "{out}");
    assert!(
        out.contains("nothing to do") && out.contains("API calls: 4"),
        "{out}"
    );
    assert_eq!(writes(&org), Vec::<String>::new());
    assert!(!org.control().calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_of_the_wrong_type_is_reported_and_left_untouched() {
    let org = bare(
        "[[fields]]\nobject = \"Lead\"\nname = \"TrailSpark_Evaluation_Date__c\"\ntype = \"string\"\nlength = 30\n",
    )
    .await;
    let o = setup_org(&org, &[]).await;
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let conflict = rows(&out, "conflict");
    assert_eq!(conflict.len(), 1, "{out}");
    assert!(conflict[0].contains("Lead.TrailSpark_Evaluation_Date__c"));
    assert!(
        conflict[0].contains("is a string field, which cannot hold the evaluation date"),
        "{}",
        conflict[0]
    );
    assert!(conflict[0].contains("left as it is"));
    assert_eq!(
        rows(&out, "created").len(),
        8,
        "seven fields and the set: {out}"
    );
    assert!(
        out.contains("setup incomplete: 0 field(s) failed, 1 need(s) your attention"),
        "{out}"
    );
    let q = org
        .control()
        .query("SELECT Id FROM Lead WHERE TrailSpark_Evaluation_Date__c = 'not a date' LIMIT 1");
    assert!(q.is_ok(), "still a text field: {q:?}");
    assert!(
        writes(&org)
            .iter()
            .all(|w| !w.contains("TrailSpark_Evaluation_Date"))
    );
    let o = run(&org, &org_config(&org, ""), &["check"]).await;
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).starts_with("destinations.salesforce.lead.evaluation_date_field"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_customize_application_is_told_which_permission_it_needs() {
    let org = bare("[user]\ncustomize_application = false\n").await;
    let o = setup_org(&org, &[]).await;
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let failed = rows(&out, "FAILED");
    assert!(!failed.is_empty(), "{out}");
    assert!(
        failed[0].contains("not created") && failed[0].contains("\"Customize Application\""),
        "{}",
        failed[0]
    );
    assert!(out.contains("setup incomplete: 8 field(s) failed"), "{out}");
    // Nothing was created, nor a permission set made for nothing.
    assert!(
        org.control()
            .calls()
            .iter()
            .all(|c| !c.path.ends_with("/PermissionSet"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_integration_exits_2() {
    let org = bare("").await;
    let o = run(
        &org,
        &config(org.url(), org.client_id(), ""),
        &["setup-org", "--integration", "prod"],
    )
    .await;
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("integrations.prod: no such table"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_person_key_set_up_creates_are_upserts_by_it() {
    let org = bare("").await;
    let o = setup_org(&org, &["--person-key"]).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let described = org
        .control()
        .query("SELECT Id FROM Lead WHERE TrailSpark_Person_Key__c = 'x'")
        .expect("the key field exists");
    assert!(described.is_empty());

    let creating = "[destinations.salesforce.create_records]\nenabled = true";
    let s = Scratch::new("setuporgkey");
    let cfg = s.write("c.toml", &org_config(&org, creating));
    let file = s.write(
        "in.jsonl",
        &format!(
            "{}\n",
            json!({"id": "e-new", "email": "Key.Person@Upsert.example", "score": "hot",
                   "reasoning": "r", "evaluated_at": "2026-11-28T09:15:00Z"})
        ),
    );
    let args = [
        "sync",
        "--config",
        cfg.to_str().unwrap(),
        "--input",
        file.to_str().unwrap(),
    ];
    org.control().clear_calls();
    let o = trailspark(&args, &envs(&org), None).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "created", "{}", l[0]);
    assert_eq!(
        l[0]["writes"][0]["fields"]["TrailSpark_Person_Key__c"],
        "key.person@upsert.example"
    );
    assert!(
        org.control()
            .calls()
            .iter()
            .any(|c| c.kind == sfsim::CallKind::CollectionsUpsert),
        "the create went as an upsert by the key"
    );
    let o = trailspark(&args, &envs(&org), None).await;
    assert_eq!(lines(&o)[0]["outcome"], "unchanged", "{}", stdout(&o));
    let leads = org
        .control()
        .query("SELECT Id FROM Lead WHERE TrailSpark_Person_Key__c = 'key.person@upsert.example'")
        .unwrap();
    assert_eq!(leads.len(), 1);
}
