//! sObject Collections (docs/salesforce.md#sobject-collections).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{assert_shape, golden, org};

#[tokio::test]
async fn create_mixed_types_in_order_with_per_record_errors() {
    let o = org().await;
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Account"}, "Name": "example.com"},
        {"attributes": {"type": "Contact"}, "LastName": "Johnson", "FirstName": "Erica"},
        {"attributes": {"type": "Lead"}, "LastName": "NoCompany"},
        {"attributes": {"type": "Lead"}, "LastName": "Ok", "Company": "C"},
    ]});
    let r = o.post("/composite/sobjects", body).await;
    assert_eq!(r.status, 200);
    let res = r.body.as_array().unwrap();
    assert_eq!(res.len(), 4);
    assert!(res[0]["id"].as_str().unwrap().starts_with("001"));
    assert!(res[1]["id"].as_str().unwrap().starts_with("003"));
    assert_eq!(res[0]["success"], true);
    assert_eq!(res[2]["success"], false);
    assert!(res[2].get("id").is_none(), "failed creates carry no id");
    assert_eq!(res[2]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(res[2]["errors"][0]["fields"], json!(["Company"]));
    assert!(res[3]["id"].as_str().unwrap().starts_with("00Q"));
    let calls = o.org.control().calls();
    assert_eq!(
        (calls[0].kind, calls[0].records),
        (sfsim::CallKind::CollectionsCreate, 4)
    );
}

#[tokio::test]
async fn all_or_none_rolls_back_for_real() {
    let o = org().await;
    let before = o.org.control().records("Lead").len();
    let body = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Lead"}, "LastName": "A", "Company": "C", "Email": "unique-a@x.example"},
        {"attributes": {"type": "Lead"}, "LastName": "B"},
    ]});
    let r = o.post("/composite/sobjects", body).await;
    assert_eq!(r.status, 200);
    let res = r.body.as_array().unwrap();
    assert_eq!(
        res[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        res[0]["errors"][0]["message"],
        "Record rolled back because not all records were valid and the request was using AllOrNone header"
    );
    assert_eq!(res[1]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(
        o.org.control().records("Lead").len(),
        before,
        "nothing was kept"
    );
    assert!(
        o.org
            .control()
            .query("SELECT Id FROM Lead WHERE Email = 'unique-a@x.example'")
            .unwrap()
            .is_empty()
    );

    // Same for updates: the first update is undone.
    let ids: Vec<String> = o
        .org
        .control()
        .query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 2")
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    let body = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Lead"}, "id": ids[0], "TrailSpark_Score__c": "hot"},
        {"attributes": {"type": "Lead"}, "Id": ids[1], "Status": "Bogus"},
    ]});
    let r = o.patch("/composite/sobjects", body).await;
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(o.field(&ids[0], "TrailSpark_Score__c"), Value::Null);
}

#[tokio::test]
async fn golden_all_or_none_shape_with_duplicates() {
    let o = org().await;
    let email = o
        .org
        .control()
        .query("SELECT Email FROM Lead WHERE Email != null LIMIT 1")
        .unwrap()[0]["Email"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Lead"}, "LastName": "Dup", "Company": "C", "Email": email},
        {"attributes": {"type": "Lead"}, "LastName": "Fine", "Company": "C"},
    ]});
    let r = o.post("/composite/sobjects", body).await;
    assert_shape(&golden("collections_all_or_none.json"), &r.body, "$");
    assert_eq!(r.body[0]["errors"][0]["statusCode"], "DUPLICATES_DETECTED");
    // With allowSave the alert-only default rule lets both through.
    let body = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Lead"}, "LastName": "Dup", "Company": "C", "Email": email},
    ]});
    let r = o
        .call(
            Method::POST,
            &o.data("/composite/sobjects"),
            Some(body),
            &[("Sforce-Duplicate-Rule-Header", "allowSave=true")],
        )
        .await;
    assert_eq!(r.body[0]["success"], true);
}

#[tokio::test]
async fn update_mixed_types_id_or_capital_id_and_errors_in_order() {
    let o = org().await;
    let lead = o.first_id("SELECT Id FROM Lead WHERE IsConverted = false");
    let converted = o.first_id("SELECT Id FROM Lead WHERE IsConverted = true");
    let contact = o.first_id("SELECT Id FROM Contact");
    let account = o.first_id("SELECT Id FROM Account");
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Lead"}, "id": lead, "TrailSpark_Score__c": "warm"},
        {"attributes": {"type": "Contact"}, "Id": contact, "TrailSpark_Score__c": "cold"},
        {"attributes": {"type": "Account"}, "id": account, "TrailSpark_Propensity__c": "high_propensity"},
        {"attributes": {"type": "Lead"}, "id": converted, "TrailSpark_Score__c": "hot"},
        {"attributes": {"type": "Lead"}, "TrailSpark_Score__c": "hot"},
        {"attributes": {"type": "Lead"}, "id": "00Qbogus", "TrailSpark_Score__c": "hot"},
    ]});
    let r = o.patch("/composite/sobjects", body).await;
    let res = r.body.as_array().unwrap();
    assert_eq!(
        res.iter()
            .map(|x| x["success"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [true, true, true, false, false, false]
    );
    assert_eq!(res[0]["id"], lead.as_str());
    assert_eq!(
        res[3]["errors"][0]["statusCode"],
        "CANNOT_UPDATE_CONVERTED_LEAD"
    );
    assert_eq!(res[4]["errors"][0]["statusCode"], "MISSING_ARGUMENT");
    assert_eq!(res[5]["errors"][0]["statusCode"], "MALFORMED_ID");
    assert_eq!(o.field(&contact, "TrailSpark_Score__c"), "cold");
    assert_eq!(
        o.field(&account, "TrailSpark_Propensity__c"),
        "high_propensity"
    );
}

#[tokio::test]
async fn more_than_200_records_is_a_400() {
    let o = org().await;
    let records: Vec<Value> = (0..201).map(|i| json!({"attributes": {"type": "Lead"}, "LastName": format!("L{i}"), "Company": "C"})).collect();
    let r = o
        .post("/composite/sobjects", json!({"records": records}))
        .await;
    assert_eq!((r.status, r.code()), (400, "EXCEEDED_ID_LIMIT"));
    let records: Vec<Value> = (0..200).map(|i| json!({"attributes": {"type": "Lead"}, "LastName": format!("L{i}"), "Company": "C"})).collect();
    let r = o
        .post("/composite/sobjects", json!({"records": records}))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["success"] == true)
    );
}

#[tokio::test]
async fn retrieve_and_delete() {
    let o = org().await;
    let ids: Vec<String> = o
        .org
        .control()
        .query("SELECT Id FROM Lead LIMIT 2")
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    let missing = sfsim::ids::mint("00Q", 999_999);
    let r = o
        .get(&format!(
            "/composite/sobjects/Lead?ids={},{},{missing}&fields=Id,Email",
            ids[0], ids[1]
        ))
        .await;
    assert_eq!(r.status, 200);
    let res = r.body.as_array().unwrap();
    assert_eq!(res[0]["Id"], ids[0].as_str());
    assert_eq!(res[0]["attributes"]["type"], "Lead");
    assert_eq!(res[2], Value::Null);
    let r = o
        .delete(&format!(
            "/composite/sobjects?ids={},{missing}&allOrNone=true",
            ids[0]
        ))
        .await;
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(r.body[1]["errors"][0]["statusCode"], "NOT_FOUND");
    assert_eq!(o.field(&ids[0], "IsDeleted"), false);
    let r = o
        .delete(&format!("/composite/sobjects?ids={},{}", ids[0], ids[1]))
        .await;
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["success"] == true)
    );
    assert_eq!(o.field(&ids[1], "IsDeleted"), true);
}

#[tokio::test]
async fn locked_records_fail_with_unable_to_lock_row() {
    let o = org().await;
    let ids: Vec<String> = o
        .org
        .control()
        .query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 2")
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    o.org.control().lock_records(&[ids[1].as_str()], Some(1));
    let body = json!({"records": [
        {"attributes": {"type": "Lead"}, "id": ids[0], "TrailSpark_Score__c": "hot"},
        {"attributes": {"type": "Lead"}, "id": ids[1], "TrailSpark_Score__c": "hot"},
    ]});
    let r = o.patch("/composite/sobjects", body.clone()).await;
    assert_eq!(r.body[0]["success"], true);
    assert_eq!(r.body[1]["errors"][0]["statusCode"], "UNABLE_TO_LOCK_ROW");
    assert!(
        r.body[1]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unable to obtain exclusive access to this record")
    );
    // Locked once only: the retry succeeds.
    let r = o.patch("/composite/sobjects", body).await;
    assert_eq!(r.body[1]["success"], true);
}

#[tokio::test]
async fn records_locked_for_a_window_refuse_writes_until_it_ends() {
    let o = org().await;
    let ids: Vec<String> = o
        .org
        .control()
        .query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 2")
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    o.org
        .control()
        .lock_records_for(&[ids[1].as_str()], std::time::Duration::from_millis(300));
    let body = json!({"records": [
        {"attributes": {"type": "Lead"}, "id": ids[0], "TrailSpark_Score__c": "hot"},
        {"attributes": {"type": "Lead"}, "id": ids[1], "TrailSpark_Score__c": "hot"},
    ]});
    // Locked however often it is tried within the window; the other record is written.
    for _ in 0..2 {
        let r = o.patch("/composite/sobjects", body.clone()).await;
        assert_eq!(r.body[0]["success"], true);
        assert_eq!(r.body[1]["errors"][0]["statusCode"], "UNABLE_TO_LOCK_ROW");
    }
    let faults = serde_json::to_value(o.org.control().faults()).unwrap();
    assert!(faults["locked_until"].as_object().unwrap().len() == 1);
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let r = o.patch("/composite/sobjects", body).await;
    assert_eq!(r.body[1]["success"], true);
}
