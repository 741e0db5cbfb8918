//! Composite (docs/salesforce.md#composite).

use serde_json::{Value, json};

use crate::support::{assert_shape, golden, org, urlencode};

#[tokio::test]
async fn references_and_one_api_call() {
    let o = org().await;
    let email = o
        .org
        .control()
        .query("SELECT Email FROM Lead WHERE IsConverted = false AND Email != null LIMIT 1")
        .unwrap()[0]["Email"]
        .as_str()
        .unwrap()
        .to_owned();
    let soql = format!("SELECT Id FROM Lead WHERE Email = '{email}'");
    let body = json!({"allOrNone": false, "compositeRequest": [
        {"method": "GET", "url": format!("/services/data/v62.0/query?q={}", urlencode(&soql)), "referenceId": "q"},
        {"method": "PATCH", "url": "/services/data/v62.0/sobjects/Lead/@{q.records[0].Id}", "referenceId": "u", "body": {"TrailSpark_Score__c": "hot"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "acc", "body": {"Name": "NewCo"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": "con", "body": {"LastName": "X", "AccountId": "@{acc.id}"}},
    ]});
    let before = o.org.control().api_calls_counted();
    let r = o.post("/composite", body).await;
    assert_eq!(r.status, 200);
    let g = golden("composite.json");
    assert_shape(
        &g,
        &json!({"compositeResponse": [r.body["compositeResponse"][0].clone(), r.body["compositeResponse"][1].clone()]}),
        "$",
    );
    let res = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(
        res.iter()
            .map(|x| x["httpStatusCode"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [200, 204, 201, 201]
    );
    assert_eq!(res[1]["body"], Value::Null);
    let lead = res[0]["body"]["records"][0]["Id"].as_str().unwrap();
    assert_eq!(o.field(lead, "TrailSpark_Score__c"), "hot");
    let con = res[3]["body"]["id"].as_str().unwrap();
    assert_eq!(o.field(con, "AccountId"), res[2]["body"]["id"]);
    assert_eq!(
        o.org.control().api_calls_counted() - before,
        1,
        "composite counts as one call"
    );
    let calls = o.org.control().calls();
    let top: Vec<_> = calls.iter().filter(|c| !c.in_composite).collect();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].kind, sfsim::CallKind::Composite);
    assert_eq!(calls.iter().filter(|c| c.in_composite).count(), 4);
}

#[tokio::test]
async fn all_or_none_halts_and_rolls_back() {
    let o = org().await;
    let before = o.org.control().records("Account").len();
    let body = json!({"allOrNone": true, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "a", "body": {"Name": "Kept?"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Lead", "referenceId": "bad", "body": {"LastName": "NoCompany"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "c", "body": {"Name": "Never"}},
    ]});
    let r = o.post("/composite", body).await;
    assert_eq!(r.status, 200);
    let res = r.body["compositeResponse"].as_array().unwrap();
    for i in [0, 2] {
        assert_eq!(res[i]["httpStatusCode"], 400);
        assert_eq!(res[i]["body"][0]["errorCode"], "PROCESSING_HALTED");
        assert_eq!(
            res[i]["body"][0]["message"],
            "The transaction was rolled back since another operation in the same transaction failed."
        );
    }
    assert_eq!(res[1]["body"][0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(o.org.control().records("Account").len(), before);
}

#[tokio::test]
async fn without_all_or_none_failed_references_halt_dependents_only() {
    let o = org().await;
    let body = json!({"compositeRequest": [
        {"method": "GET", "url": format!("/services/data/v62.0/query?q={}", urlencode("SELECT Id FROM Lead WHERE Email = 'nobody@nowhere.example'")), "referenceId": "q"},
        {"method": "PATCH", "url": "/services/data/v62.0/sobjects/Lead/@{q.records[0].Id}", "referenceId": "u", "body": {"TrailSpark_Score__c": "hot"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "a", "body": {"Name": "Independent"}},
    ]});
    let r = o.post("/composite", body).await;
    let res = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(res[0]["httpStatusCode"], 200);
    assert_eq!(res[1]["httpStatusCode"], 400);
    assert_eq!(res[1]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(res[2]["httpStatusCode"], 201);
}

#[tokio::test]
async fn subrequest_caps() {
    let o = org().await;
    let sub = |i: usize| json!({"method": "GET", "url": "/services/data/v62.0/limits", "referenceId": format!("r{i}")});
    let r = o
        .post(
            "/composite",
            json!({"compositeRequest": (0..26).map(sub).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = o
        .post(
            "/composite",
            json!({"compositeRequest": (0..25).map(sub).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(r.status, 200);
    let q = |i: usize| json!({"method": "GET", "url": "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead+LIMIT+1", "referenceId": format!("q{i}")});
    let r = o
        .post(
            "/composite",
            json!({"compositeRequest": (0..6).map(q).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = o
        .post(
            "/composite",
            json!({"compositeRequest": (0..5).map(q).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(r.status, 200);
    // Collections count towards the same cap of 5.
    let mut mixed: Vec<Value> = (0..4).map(q).collect();
    mixed.push(json!({"method": "POST", "url": "/services/data/v62.0/composite/sobjects", "referenceId": "c1", "body": {"records": []}}));
    mixed.push(json!({"method": "PATCH", "url": "/services/data/v62.0/composite/sobjects", "referenceId": "c2", "body": {"records": []}}));
    let r = o
        .post("/composite", json!({"compositeRequest": mixed}))
        .await;
    assert_eq!(r.status, 400);
}
