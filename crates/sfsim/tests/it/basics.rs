//! Versions, sessions, limits, request-size limits and describe (docs/salesforce.md#api-versions,
//! #describe, #limits).

use reqwest::Method;
use serde_json::Value;

use crate::support::{assert_shape, golden, org};

#[tokio::test]
async fn versions_list_needs_no_session_and_is_not_counted() {
    let o = org().await;
    let r = o
        .http
        .get(format!("{}/services/data/", o.org.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("sforce-limit-info").is_none());
    let v: Value = r.json().await.unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list[0]["version"], "31.0");
    assert_eq!(list[0]["label"], "Summer '14");
    assert!(list.iter().any(|x| x["url"] == "/services/data/v62.0"));
    assert_eq!(o.org.control().api_calls_counted(), 0);
}

#[tokio::test]
async fn missing_or_bad_session_is_401_invalid_session_id() {
    let o = org().await;
    let r = o.http.get(o.data("/limits")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_shape(&golden("expired_session.json"), &body, "$");
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
    assert_eq!(body[0]["message"], "Session expired or invalid");
    let r = o
        .http
        .get(o.data("/limits"))
        .bearer_auth("00Dnope!bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Expiring tokens through the control plane makes the start token fail too.
    assert_eq!(o.get("/limits").await.status, 200);
    o.org.control().expire_tokens();
    let r = o.get("/limits").await;
    assert_eq!((r.status, r.code()), (401, "INVALID_SESSION_ID"));
}

#[tokio::test]
async fn unknown_and_retired_versions() {
    let o = org().await;
    let url = format!("{}/services/data/v99.0/limits", o.org.url());
    let r = o.call(Method::GET, &url, None, &[]).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let url = format!("{}/services/data/v30.0/limits", o.org.url());
    assert_eq!(o.call(Method::GET, &url, None, &[]).await.status, 410);
    let url = format!("{}/services/data/v31.0/limits", o.org.url());
    assert_eq!(o.call(Method::GET, &url, None, &[]).await.status, 200);
}

#[tokio::test]
async fn limit_info_header_counts_calls_and_daily_limit_refuses() {
    let o = org().await;
    o.org.control().set_daily_limit(3);
    let r = o.get("/limits").await;
    assert_eq!(r.header("sforce-limit-info"), Some("api-usage=1/3"));
    assert_eq!(r.body["DailyApiRequests"]["Max"], 3);
    assert_eq!(r.body["DailyApiRequests"]["Remaining"], 2);
    assert_eq!(
        o.get("/").await.header("sforce-limit-info"),
        Some("api-usage=2/3")
    );
    assert_eq!(o.get("/sobjects").await.status, 200);
    let r = o.get("/sobjects").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(r.body[0]["message"], "TotalRequests Limit exceeded.");
    assert_eq!(r.header("sforce-limit-info"), Some("api-usage=3/3"));
    assert_eq!(o.org.control().api_calls_counted(), 3);
    o.org.control().set_daily_limit(10);
    assert_eq!(o.get("/sobjects").await.status, 200);
}

#[tokio::test]
async fn oversized_uri_is_414_and_oversized_headers_431() {
    let o = org().await;
    let long = "a".repeat(17_000);
    let r = o
        .query(&format!("SELECT Id FROM Lead WHERE Email = '{long}'"))
        .await;
    assert_eq!(r.status, 414);
    let q = "x".repeat(10_000);
    let url = format!("{}?q={}", o.data("/query"), q);
    let big = "b".repeat(8_000);
    let r = o
        .call(Method::GET, &url, None, &[("X-Padding", big.as_str())])
        .await;
    assert_eq!(r.status, 431);
}

#[tokio::test]
async fn resources_and_global_describe() {
    let o = org().await;
    let r = o.get("/").await;
    assert_eq!(r.body["query"], "/services/data/v62.0/query");
    assert_eq!(r.body["composite"], "/services/data/v62.0/composite");
    let r = o.get("/sobjects").await;
    let names: Vec<&str> = r.body["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for n in ["Lead", "Contact", "Account"] {
        assert!(names.contains(&n));
    }
    let lead = r.body["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Lead")
        .unwrap();
    assert_eq!(lead["keyPrefix"], "00Q");
}

#[tokio::test]
async fn describe_has_realistic_keys_and_fls() {
    let o = org().await;
    let r = o.get("/sobjects/Lead/describe").await;
    assert_eq!(r.status, 200);
    let d = &r.body;
    // Required keys of DescribeSObjectResult (plugin-schema sobject-describe.json,
    // docs/salesforce.md#describe).
    for k in [
        "actionOverrides",
        "activateable",
        "childRelationships",
        "compactLayoutable",
        "createable",
        "custom",
        "customSetting",
        "deepCloneable",
        "deletable",
        "deprecatedAndHidden",
        "feedEnabled",
        "fields",
        "hasSubtypes",
        "idEnabled",
        "isInterface",
        "isSubtype",
        "label",
        "labelPlural",
        "layoutable",
        "listviewable",
        "lookupLayoutable",
        "mergeable",
        "mruEnabled",
        "name",
        "namedLayoutInfos",
        "queryable",
        "recordTypeInfos",
        "replicateable",
        "retrieveable",
        "searchLayoutable",
        "searchable",
        "triggerable",
        "undeletable",
        "updateable",
        "urls",
        "keyPrefix",
    ] {
        assert!(d.get(k).is_some(), "describe lacks {k}");
    }
    let field_keys = [
        "aggregatable",
        "autoNumber",
        "byteLength",
        "calculated",
        "calculatedFormula",
        "cascadeDelete",
        "caseSensitive",
        "compoundFieldName",
        "controllerName",
        "createable",
        "custom",
        "defaultValue",
        "defaultValueFormula",
        "defaultedOnCreate",
        "dependentPicklist",
        "deprecatedAndHidden",
        "digits",
        "displayLocationInDecimal",
        "encrypted",
        "externalId",
        "extraTypeInfo",
        "filterable",
        "filteredLookupInfo",
        "groupable",
        "highScaleNumber",
        "htmlFormatted",
        "idLookup",
        "inlineHelpText",
        "label",
        "length",
        "mask",
        "maskType",
        "name",
        "nameField",
        "namePointing",
        "nillable",
        "permissionable",
        "picklistValues",
        "precision",
        "queryByDistance",
        "referenceTargetField",
        "referenceTo",
        "relationshipName",
        "relationshipOrder",
        "restrictedDelete",
        "restrictedPicklist",
        "scale",
        "soapType",
        "sortable",
        "type",
        "unique",
        "updateable",
        "writeRequiresMasterRead",
    ];
    let fields = d["fields"].as_array().unwrap();
    let f = |n: &str| {
        fields
            .iter()
            .find(|f| f["name"] == n)
            .unwrap_or_else(|| panic!("no field {n}"))
            .clone()
    };
    for field in fields {
        for k in field_keys {
            assert!(field.get(k).is_some(), "field {} lacks {k}", field["name"]);
        }
    }
    let email = f("Email");
    assert_eq!(
        (
            email["type"].as_str(),
            email["length"].as_u64(),
            email["byteLength"].as_u64()
        ),
        (Some("email"), Some(80), Some(240))
    );
    let status = f("Status");
    assert_eq!(status["type"], "picklist");
    assert_eq!(status["restrictedPicklist"], true);
    assert_eq!(status["defaultedOnCreate"], true);
    assert_eq!(status["picklistValues"][0]["defaultValue"], true);
    assert_eq!(f("Description")["length"], 32000);
    let reasoning = f("TrailSpark_Reasoning__c");
    assert_eq!(
        (
            reasoning["type"].as_str(),
            reasoning["length"].as_u64(),
            reasoning["custom"].as_bool()
        ),
        (Some("textarea"), Some(131072), Some(true))
    );
    assert_eq!(f("TrailSpark_Evaluation_Date__c")["type"], "datetime");
    assert_eq!(f("Email_Domain__c")["calculated"], true);
    assert_eq!(f("Email_Domain__c")["updateable"], false);
    assert_eq!(f("Notes__c")["htmlFormatted"], true);
    assert_eq!(f("Notes__c")["extraTypeInfo"], "richtextarea");
    let rating = f("Internal_Rating__c");
    assert_eq!(
        (
            rating["createable"].as_bool(),
            rating["updateable"].as_bool()
        ),
        (Some(false), Some(false))
    );
    assert_eq!(f("LastName")["nillable"], false);
    assert_eq!(f("IsConverted")["updateable"], false);
    let contact = o.get("/sobjects/Contact/describe").await;
    let acc = contact.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "AccountId")
        .unwrap()
        .clone();
    assert_eq!(acc["relationshipName"], "Account");
    assert_eq!(acc["referenceTo"][0], "Account");
    assert_eq!(o.get("/sobjects/Nope__c/describe").await.status, 404);
}

#[tokio::test]
async fn describe_if_modified_since_gives_304_until_metadata_changes() {
    let o = org().await;
    let r = o.get("/sobjects/Lead/describe").await;
    let lm = r.header("last-modified").expect("Last-Modified").to_owned();
    let url = o.data("/sobjects/Lead/describe");
    let r = o
        .call(
            Method::GET,
            &url,
            None,
            &[("If-Modified-Since", lm.as_str())],
        )
        .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.body, Value::Null);
    let r = o
        .call(
            Method::GET,
            &url,
            None,
            &[("If-Modified-Since", "Wed, 3 Jul 2013 19:43:31 GMT")],
        )
        .await;
    assert_eq!(r.status, 200);
    o.org
        .control()
        .load_scenario_str(
            r#"{"fields":[{"object":"Lead","name":"Extra__c","type":"string","length":10}]}"#,
        )
        .unwrap();
    let r = o
        .call(
            Method::GET,
            &url,
            None,
            &[("If-Modified-Since", lm.as_str())],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "Extra__c")
    );
}

#[tokio::test]
async fn https_org_serves_the_data_api_to_a_client_trusting_its_ca() {
    let org = sfsim::start(sfsim::Options {
        tls: true,
        ..sfsim::Options::default()
    })
    .await
    .expect("start");
    assert!(org.url().starts_with("https://localhost:"));
    let pem = std::fs::read(org.ca_cert_path().expect("ca path")).expect("ca file");
    let ca = reqwest::Certificate::from_pem(&pem).expect("pem");
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client");
    let r = http
        .get(format!(
            "{}/services/data/v62.0/sobjects/Lead/describe",
            org.url()
        ))
        .bearer_auth(org.access_token())
        .send()
        .await
        .expect("https call");
    assert_eq!(r.status(), 200);
    org.shutdown().await;
}
