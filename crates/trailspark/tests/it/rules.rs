//! Delivery rules end to end: `trailspark sync` against an emulated org, checking what the
//! report says was sent and what the org holds afterwards — Date evaluation fields, Contacts
//! without an Account, unmapped propensity, and a refused write naming its record.

use std::process::Output;

use serde_json::{Value, json};

use crate::sync::{Scratch, envs, insert, lines, org, org_config, record, stderr, trailspark};

/// The `[destinations.salesforce.propensity]` table of `sync::config`.
const PROPENSITY_TABLE: &str = "[destinations.salesforce.propensity]\naccount_field = \"TrailSpark_Propensity__c\"\nlead_field = \"TrailSpark_Propensity__c\"\n";

fn ev(id: &str, email: &str, score: &str, at: &str, propensity: Option<&str>) -> Value {
    let mut v = json!({"id": id, "email": email, "score": score, "reasoning": format!("reasoning of {id}"), "evaluated_at": at});
    if let Some(p) = propensity {
        v["propensity"] = json!(p);
    }
    v
}

/// Runs `sync` on `evs` (JSON Lines) with the config `config_text`.
async fn sync_with(org: &sfsim::RunningOrg, config_text: &str, evs: &[Value]) -> Output {
    let s = Scratch::new("rules");
    let cfg = s.write("config.toml", config_text);
    let text: String = evs.iter().map(|v| format!("{v}\n")).collect();
    let input = s.write("in.jsonl", &text);
    let (cfg, input) = (
        cfg.to_str().expect("utf-8 path").to_string(),
        input.to_str().expect("utf-8 path").to_string(),
    );
    trailspark(
        &["sync", "--config", &cfg, "--input", &input],
        &envs(org),
        None,
    )
    .await
}

#[track_caller]
fn assert_exit(o: &Output, expected: i32) {
    assert_eq!(o.status.code(), Some(expected), "{}", stderr(o));
}

fn contact(org: &sfsim::RunningOrg, email: &str, account: Option<&str>) -> String {
    let mut fields = json!({"LastName": "Lovelace", "Email": email});
    if let Some(a) = account {
        fields["AccountId"] = json!(a);
    }
    insert(org, "Contact", fields)
}

fn lead(org: &sfsim::RunningOrg, email: &str) -> String {
    insert(
        org,
        "Lead",
        json!({"LastName": "Babbage", "Company": "X", "Email": email}),
    )
}

fn field_names(write: &Value) -> Vec<String> {
    write["fields"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_date_evaluation_field_gets_the_utc_date() {
    let org = org(
        "[[fields]]\nobject = \"Contact\"\nname = \"TrailSpark_Evaluation_Date__c\"\ntype = \"date\"\n",
    )
    .await;
    let c = contact(&org, "ada@x.com", None);
    // 23:30 at UTC-5 on the 28th is 04:30 UTC on the 29th.
    let o = sync_with(
        &org,
        &org_config(&org, ""),
        &[ev(
            "d",
            "ada@x.com",
            "hot",
            "2026-11-28T23:30:00-05:00",
            None,
        )],
    )
    .await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "updated", "{}", l[0]);
    assert_eq!(l[0]["writes"][0]["object"], "Contact");
    assert_eq!(
        l[0]["writes"][0]["fields"]["TrailSpark_Evaluation_Date__c"], "2026-11-29",
        "a Date field is sent the UTC date, not a date-time: {}",
        l[0]
    );
    assert_eq!(
        record(&org, &c)["TrailSpark_Evaluation_Date__c"],
        "2026-11-29"
    );
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "hot");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contact_without_an_account_gets_everything_but_propensity() {
    let org = org("").await;
    let c = contact(&org, "solo@x.com", None);
    // A Lead with the same email: the Contact wins, and the Lead propensity field must not
    // be used as a fallback for the Contact's missing Account.
    let l_id = lead(&org, "solo@x.com");
    let o = sync_with(
        &org,
        &org_config(&org, ""),
        &[ev(
            "p",
            "solo@x.com",
            "warm",
            "2026-11-28T09:15:00Z",
            Some("high"),
        )],
    )
    .await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "updated", "{}", l[0]);
    let writes = l[0]["writes"].as_array().cloned().unwrap_or_default();
    assert_eq!(writes.len(), 1, "only the Contact is written: {}", l[0]);
    assert_eq!(writes[0]["object"], "Contact");
    assert_eq!(writes[0]["id"], c.as_str());
    assert_eq!(
        field_names(&writes[0]),
        [
            "TrailSpark_Score__c",
            "TrailSpark_Evaluation_Date__c",
            "TrailSpark_Reasoning__c"
        ]
    );
    assert!(
        l[0]["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["code"] == "propensity_not_written")),
        "the report says why propensity was not written: {}",
        l[0]
    );
    let r = record(&org, &c);
    assert_eq!(r["TrailSpark_Score__c"], "warm");
    assert_eq!(r["TrailSpark_Reasoning__c"], "reasoning of p");
    assert!(
        r["TrailSpark_Evaluation_Date__c"]
            .as_str()
            .is_some_and(|d| d.starts_with("2026-11-28T09:15:00")),
        "{r}"
    );
    let lead_rec = record(&org, &l_id);
    assert_eq!(lead_rec["TrailSpark_Propensity__c"], Value::Null);
    assert_eq!(lead_rec["TrailSpark_Score__c"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn unmapped_propensity_writes_nothing_for_propensity() {
    let org = org("").await;
    let acc = insert(&org, "Account", json!({"Name": "Analytical Engines"}));
    let c = contact(&org, "with-account@x.com", Some(&acc));
    let l_id = lead(&org, "lead-only@x.com");
    let config = org_config(&org, "");
    assert!(config.contains(PROPENSITY_TABLE), "{config}");
    let o = sync_with(
        &org,
        &config.replace(PROPENSITY_TABLE, ""),
        &[
            ev(
                "c",
                "with-account@x.com",
                "hot",
                "2026-11-28T09:15:00Z",
                Some("high"),
            ),
            ev(
                "l",
                "lead-only@x.com",
                "cold",
                "2026-11-28T09:15:00Z",
                Some("low"),
            ),
        ],
    )
    .await;
    assert_exit(&o, 0);
    let l = lines(&o);
    for (line, object, id) in [(&l[0], "Contact", &c), (&l[1], "Lead", &l_id)] {
        assert_eq!(line["outcome"], "updated", "{line}");
        let writes = line["writes"].as_array().cloned().unwrap_or_default();
        assert_eq!(writes.len(), 1, "no Account write: {line}");
        assert_eq!(writes[0]["object"], object);
        assert_eq!(writes[0]["id"], id.as_str());
        assert!(
            !field_names(&writes[0])
                .iter()
                .any(|f| f.contains("Propensity")),
            "{line}"
        );
    }
    assert_eq!(record(&org, &acc)["TrailSpark_Propensity__c"], Value::Null);
    assert_eq!(record(&org, &l_id)["TrailSpark_Propensity__c"], Value::Null);
    assert_eq!(record(&org, &l_id)["TrailSpark_Score__c"], "cold");
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "hot");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_write_names_its_object_record_and_fields() {
    let org = org(
        "[[validation_rules]]\nname = \"No_Cold\"\nobject = \"Lead\"\nmessage = \"Cold leads are not allowed\"\nerror_field = \"TrailSpark_Score__c\"\ncondition = { kind = \"equals\", field = \"TrailSpark_Score__c\", value = \"cold\" }\n",
    )
    .await;
    let cold = lead(&org, "cold@x.com");
    let hot = lead(&org, "hot@x.com");
    let o = sync_with(
        &org,
        &org_config(&org, ""),
        &[
            ev("c", "cold@x.com", "cold", "2026-11-28T09:15:00Z", None),
            ev("h", "hot@x.com", "hot", "2026-11-28T09:15:00Z", None),
        ],
    )
    .await;
    assert_exit(&o, 1);
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "failed", "{}", l[0]);
    assert_eq!(l[0]["error"]["code"], "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    assert_eq!(l[0]["error"]["message"], "Cold leads are not allowed");
    assert_eq!(
        l[0]["writes"],
        json!([{
            "object": "Lead",
            "id": cold,
            "action": "update",
            "fields": {
                "TrailSpark_Score__c": "cold",
                "TrailSpark_Evaluation_Date__c": "2026-11-28T09:15:00.000Z",
                "TrailSpark_Reasoning__c": "reasoning of c",
            },
            "failed": true,
        }]),
        "{}",
        l[0]
    );
    assert_eq!(record(&org, &cold)["TrailSpark_Score__c"], Value::Null);
    assert_eq!(l[1]["outcome"], "updated");
    assert_eq!(l[1]["writes"][0]["id"], hot.as_str());
    assert!(
        l[1]["writes"][0].get("failed").is_none(),
        "a write that went through reads as before: {}",
        l[1]
    );
}
