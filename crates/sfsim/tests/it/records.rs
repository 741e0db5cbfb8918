//! Single-record CRUD and write validation (docs/salesforce.md#single-records, #error-codes,
//! #standard-fields, #duplicate-rules).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{assert_shape, golden, org};

#[tokio::test]
async fn create_read_update_delete_round_trip() {
    let o = org().await;
    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "Doe", "Company": "Acme", "Email": "Jane.Doe@acme.com"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_shape(&golden("create_success.json"), &r.body, "$");
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("00Q") && id.len() == 18);
    assert_eq!(sfsim::ids::to_18(&id[..15]).as_deref(), Some(id.as_str()));

    let r = o.get(&format!("/sobjects/Lead/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["attributes"]["type"], "Lead");
    assert_eq!(
        r.body["attributes"]["url"],
        format!("/services/data/v62.0/sobjects/Lead/{id}")
    );
    assert_eq!(
        r.body["Status"], "Open - Not Contacted",
        "picklist default applied"
    );
    assert_eq!(r.body["IsConverted"], false);
    assert_eq!(r.body["Name"], "Doe");
    assert_eq!(r.body["Email_Domain__c"], "acme.com", "formula evaluated");
    let created = r.body["CreatedDate"].as_str().unwrap().to_owned();
    // 2024-01-15T10:30:00.000+0000
    assert_eq!(created.len(), 28);
    assert!(created.ends_with("+0000") && created.as_bytes()[19] == b'.');

    let r = o.get(&format!("/sobjects/Lead/{id}?fields=Id,Email")).await;
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["attributes", "Id", "Email"]);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = o
        .patch(
            &format!("/sobjects/Lead/{}", &id[..15]),
            json!({"TrailSpark_Score__c": "hot", "TrailSpark_Evaluation_Date__c": "2024-01-15T10:30:00Z"}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    assert_eq!(o.field(&id, "TrailSpark_Score__c"), "hot");
    assert_eq!(
        o.field(&id, "TrailSpark_Evaluation_Date__c"),
        "2024-01-15T10:30:00.000+0000"
    );
    let modified = o.field(&id, "LastModifiedDate");
    assert!(
        modified.as_str().unwrap() > created.as_str(),
        "LastModifiedDate maintained"
    );
    assert_eq!(o.field(&id, "SystemModstamp"), modified);

    assert_eq!(o.delete(&format!("/sobjects/Lead/{id}")).await.status, 204);
    let r = o.get(&format!("/sobjects/Lead/{id}")).await;
    assert_eq!((r.status, r.code()), (404, "ENTITY_IS_DELETED"));
    let r = o
        .patch(&format!("/sobjects/Lead/{id}"), json!({"Company": "X"}))
        .await;
    assert_eq!((r.status, r.code()), (404, "ENTITY_IS_DELETED"));
}

#[tokio::test]
async fn unknown_object_and_record_are_not_found() {
    let o = org().await;
    let r = o.post("/sobjects/Nope__c", json!({"Name": "a"})).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    assert_eq!(
        r.body[0]["message"],
        "The requested resource does not exist"
    );
    let missing = sfsim::ids::mint("00Q", 999_999);
    assert_eq!(
        o.get(&format!("/sobjects/Lead/{missing}")).await.status,
        404
    );
    let r = o
        .call(
            Method::PUT,
            &o.data(&format!("/sobjects/Lead/{missing}")),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    let r = o
        .call(
            Method::POST,
            &o.data("/sobjects/Lead"),
            None,
            &[("Content-Type", "application/json")],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "JSON_PARSER_ERROR"));
}

#[tokio::test]
async fn validation_errors_match_salesforce() {
    let o = org().await;
    let r = o.post("/sobjects/Lead", json!({"LastName": "Doe"})).await;
    assert_eq!((r.status, r.code()), (400, "REQUIRED_FIELD_MISSING"));
    assert_eq!(
        r.body[0]["message"],
        "Required fields are missing: [Company]"
    );
    assert_eq!(r.body[0]["fields"], json!(["Company"]));

    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "Doe", "Company": "A", "Foo__c": 1}),
        )
        .await;
    assert_eq!(r.code(), "INVALID_FIELD");
    assert_shape(&golden("write_error.json"), &r.body, "$");
    assert_eq!(
        r.body[0]["message"],
        "No such column 'Foo__c' on sobject of type Lead"
    );

    let long = "x".repeat(256);
    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "Doe", "Company": "A", "TrailSpark_Score__c": long}),
        )
        .await;
    assert_eq!(r.code(), "STRING_TOO_LONG");
    assert_eq!(
        r.body[0]["message"],
        format!("TrailSpark Score: data value too large: {long} (max length=255)")
    );
    assert_eq!(r.body[0]["fields"], json!(["TrailSpark_Score__c"]));

    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "Doe", "Company": "A", "Status": "Hot Stuff"}),
        )
        .await;
    assert_eq!(r.code(), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
    assert_eq!(
        r.body[0]["message"],
        "Status: bad value for restricted picklist field: Hot Stuff"
    );
    // LeadSource is an open picklist: any value goes.
    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "Doe", "Company": "A", "LeadSource": "Podcast"}),
        )
        .await;
    assert_eq!(r.status, 201);

    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "Doe", "Company": "A", "Email": "not-an-email"}),
        )
        .await;
    assert_eq!(r.code(), "INVALID_EMAIL_ADDRESS");

    let r = o.post("/sobjects/Lead", json!({"LastName": "Doe", "Company": "A", "TrailSpark_Evaluation_Date__c": "yesterday"})).await;
    assert_eq!(r.code(), "INVALID_TYPE_ON_FIELD_IN_RECORD");
    let r = o.post("/sobjects/Lead", json!({"LastName": "Doe", "Company": "A", "TrailSpark_Evaluation_Date__c": "2024-01-15T10:30:00.000+0000"})).await;
    assert_eq!(r.status, 201);

    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "Doe", "Company": "A", "Internal_Rating__c": "A"}),
        )
        .await;
    assert_eq!(r.code(), "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert!(
        r.body[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unable to create/update fields: Internal_Rating__c.")
    );
    assert_eq!(r.body[0]["fields"], json!(["Internal_Rating__c"]));
    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "Doe", "Company": "A", "IsConverted": true}),
        )
        .await;
    assert_eq!(r.code(), "INVALID_FIELD_FOR_INSERT_UPDATE");

    let lead = o.first_id("SELECT Id FROM Lead WHERE IsConverted = false");
    let r = o
        .patch(&format!("/sobjects/Lead/{lead}"), json!({"LastName": null}))
        .await;
    assert_eq!(r.code(), "REQUIRED_FIELD_MISSING");
    let r = o
        .patch(
            &format!("/sobjects/Lead/{lead}"),
            json!({"Email_Domain__c": "x"}),
        )
        .await;
    assert_eq!(r.code(), "INVALID_FIELD_FOR_INSERT_UPDATE");

    let contact_missing_account = o
        .post(
            "/sobjects/Contact",
            json!({"LastName": "Doe", "AccountId": sfsim::ids::mint("001", 999_999)}),
        )
        .await;
    assert_eq!(
        contact_missing_account.code(),
        "INVALID_CROSS_REFERENCE_KEY"
    );
    let wrong_type = o
        .post(
            "/sobjects/Contact",
            json!({"LastName": "Doe", "AccountId": lead}),
        )
        .await;
    assert_eq!(wrong_type.code(), "MALFORMED_ID");
}

#[tokio::test]
async fn converted_leads_refuse_updates() {
    let o = org().await;
    let id = o.first_id("SELECT Id FROM Lead WHERE IsConverted = true");
    let contact = o.field(&id, "ConvertedContactId");
    assert!(contact.as_str().unwrap().starts_with("003"));
    let r = o
        .patch(
            &format!("/sobjects/Lead/{id}"),
            json!({"TrailSpark_Score__c": "hot"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "CANNOT_UPDATE_CONVERTED_LEAD"));
    assert_eq!(r.body[0]["message"], "cannot reference converted lead");
}

#[tokio::test]
async fn validation_rules_fire_with_their_message() {
    let o = org().await;
    o.org
        .control()
        .load_scenario_str(
            r#"
[[validation_rules]]
name = "No_Cold"
object = "Lead"
message = "Cold scores are not accepted here"
error_field = "TrailSpark_Score__c"
condition = { kind = "equals", field = "TrailSpark_Score__c", value = "COLD" }

[[validation_rules]]
name = "Reason_With_Score"
object = "Lead"
message = "Reasoning is required when a score is set"
condition = { kind = "required_when", field = "TrailSpark_Reasoning__c", when_field = "TrailSpark_Score__c" }
"#,
        )
        .unwrap();
    let lead = o.first_id("SELECT Id FROM Lead WHERE IsConverted = false");
    let r = o
        .patch(
            &format!("/sobjects/Lead/{lead}"),
            json!({"TrailSpark_Score__c": "cold", "TrailSpark_Reasoning__c": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    );
    assert_eq!(r.body[0]["message"], "Cold scores are not accepted here");
    assert_eq!(r.body[0]["fields"], json!(["TrailSpark_Score__c"]));
    let r = o
        .patch(
            &format!("/sobjects/Lead/{lead}"),
            json!({"TrailSpark_Score__c": "hot"}),
        )
        .await;
    assert_eq!(
        r.body[0]["message"],
        "Reasoning is required when a score is set"
    );
    let r = o
        .patch(
            &format!("/sobjects/Lead/{lead}"),
            json!({"TrailSpark_Score__c": "hot", "TrailSpark_Reasoning__c": "why"}),
        )
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn duplicate_rules_alert_vs_block() {
    let o = org().await;
    let email = o
        .org
        .control()
        .query("SELECT Email FROM Lead WHERE IsConverted = false AND Email != null LIMIT 1")
        .unwrap()[0]["Email"]
        .as_str()
        .unwrap()
        .to_uppercase();
    let body = json!({"LastName": "Dup", "Company": "A", "Email": email});
    // Default rule: alert only.
    let r = o.post("/sobjects/Lead", body.clone()).await;
    assert_eq!((r.status, r.code()), (400, "DUPLICATES_DETECTED"));
    assert_shape(&golden("duplicates_detected.json"), &r.body, "$");
    assert_eq!(r.body[0]["duplicateResult"]["allowSave"], true);
    let dup_id = r.body[0]["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"]["Id"]
        .as_str()
        .unwrap();
    assert!(dup_id.starts_with("00Q"));
    let header = [(
        "Sforce-Duplicate-Rule-Header",
        "allowSave=true; includeRecordDetails=true",
    )];
    let r = o
        .call(
            Method::POST,
            &o.data("/sobjects/Lead"),
            Some(body.clone()),
            &header,
        )
        .await;
    assert_eq!(
        r.status, 201,
        "alert rule lets the save through with allowSave"
    );

    o.org
        .control()
        .load_scenario_str(
            r#"{"duplicate_rules":[{"name":"Lead_Block","object":"Lead","action":"block"}]}"#,
        )
        .unwrap();
    let r = o
        .call(Method::POST, &o.data("/sobjects/Lead"), Some(body), &header)
        .await;
    assert_eq!((r.status, r.code()), (400, "DUPLICATES_DETECTED"));
    assert_eq!(r.body[0]["duplicateResult"]["allowSave"], false);
}

#[tokio::test]
async fn boolean_date_and_number_fields_are_type_checked() {
    let o = org().await;
    o.org
        .control()
        .load_scenario_str(
            r#"{"fields":[{"object":"Lead","name":"Opted_In__c","type":"boolean","default":false},
                          {"object":"Lead","name":"Next_Call__c","type":"date"},
                          {"object":"Lead","name":"Rating__c","type":"double"}]}"#,
        )
        .unwrap();
    let base = || json!({"LastName": "T", "Company": "C"});
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    for (k, v) in [
        ("Opted_In__c", json!("yes")),
        ("Opted_In__c", json!(1)),
        ("Next_Call__c", json!("15/01/2024")),
        ("Rating__c", json!("high")),
        ("Rating__c", json!(true)),
    ] {
        let r = o.post("/sobjects/Lead", with(k, v.clone())).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
            "{k} = {v}"
        );
        assert_eq!(r.body[0]["fields"], json!([k]));
    }
    let r = o
        .post(
            "/sobjects/Lead",
            json!({"LastName": "T", "Company": "C", "Opted_In__c": true, "Next_Call__c": "2024-01-15", "Rating__c": 4.5}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(o.field(id, "Opted_In__c"), true);
    assert_eq!(o.field(id, "Next_Call__c"), "2024-01-15");
    assert_eq!(o.field(id, "Rating__c"), 4.5);
    let r = o.post("/sobjects/Lead", base()).await;
    assert_eq!(
        o.field(r.body["id"].as_str().unwrap(), "Opted_In__c"),
        false,
        "checkbox default"
    );
}
