//! Exact requests and client behaviour against the recording fake (`fake.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use salesforce::{
    ApiUsage, Client, CollectionWrite, Error, ErrorClass, LoginUrl, Record, SecretString,
    TokenSource, WriteAction, WriteOptions,
};
use serde_json::{Value, json};

use crate::fake::{Fake, Reply, composite_reply};

fn record(v: Value) -> Record {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn summaries(fake: &Fake) -> Vec<Value> {
    fake.data_requests().iter().map(|c| c.summary()).collect()
}

#[tokio::test]
async fn query_many_packs_five_queries_per_composite_and_follows_pages() {
    let fake = Fake::start(composite_reply).await;
    let mut cfg = fake.config();
    cfg.concurrency = 1; // deterministic request order for the snapshot
    let client = Client::connect(cfg).await.unwrap();
    let soqls: Vec<String> = (0..7)
        .map(|i| {
            if i == 3 {
                "SELECT Id FROM Lead WHERE Email IN ('o\\'hara@x.com') AND PAGED = TRUE".to_owned()
            } else {
                format!("SELECT Id, Email FROM Contact WHERE Email = 'u{i}@x.com'")
            }
        })
        .collect();
    let results = client.query_many(&soqls).await.unwrap();
    assert_eq!(results.len(), 7);
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert_eq!(r.len(), 2, "both pages of the paged query");
            assert_eq!(r[0]["page"], 1);
            assert_eq!(r[1]["page"], 2);
        } else {
            assert_eq!(r.len(), 1);
            assert_eq!(
                r[0]["q"],
                Value::from(soqls[i].clone()),
                "result {i} in input order"
            );
        }
    }
    // 5 + 2 queries, then the second page: 3 Composite requests, 3 API calls.
    assert_eq!(client.calls_made(), 3);
    assert_eq!(client.call_counts().composite, 3);
    insta::assert_json_snapshot!("query_many_requests", summaries(&fake));
    assert!(
        fake.data_requests()
            .iter()
            .all(|c| c.header("authorization").as_deref() == Some("Bearer tok-1"))
    );
}

#[tokio::test]
async fn query_many_fails_on_a_permanent_subrequest_error() {
    let fake = Fake::start(composite_reply).await;
    let client = Client::connect(fake.config()).await.unwrap();
    let err = client
        .query_many(&[
            "SELECT Id FROM Lead".into(),
            "SELECT BADFIELD FROM Lead".into(),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_FIELD"));
    assert_eq!(err.http_status(), Some(400));
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(client.calls_made(), 1, "a permanent error is not retried");
}

#[tokio::test]
async fn query_many_retries_a_retryable_subrequest_only() {
    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    let fake = Fake::start(move |c| {
        let body = c.json();
        let subs = body["compositeRequest"].as_array().cloned().unwrap_or_default();
        let out: Vec<Value> = subs
            .iter()
            .map(|s| {
                let slow = s["url"].as_str().unwrap_or_default().contains("SLOW");
                if slow && a.fetch_add(1, Ordering::SeqCst) == 0 {
                    json!({"body": [{"errorCode": "QUERY_TIMEOUT", "message": "Your query request was running too long"}],
                           "httpHeaders": {}, "httpStatusCode": 400, "referenceId": s["referenceId"]})
                } else {
                    json!({"body": {"totalSize": 1, "done": true, "records": [{"u": s["url"]}]},
                           "httpHeaders": {}, "httpStatusCode": 200, "referenceId": s["referenceId"]})
                }
            })
            .collect();
        Reply::json(200, json!({"compositeResponse": out}))
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    let r = client
        .query_many(&[
            "SELECT Id FROM Lead".into(),
            "SELECT Id FROM Lead WHERE SLOW".into(),
        ])
        .await
        .unwrap();
    assert_eq!(r[0].len(), 1);
    assert_eq!(r[1].len(), 1);
    let reqs = fake.data_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].json()["compositeRequest"].as_array().unwrap().len(),
        1,
        "only the failed query is re-run"
    );
}

fn lead(name: &str) -> Record {
    record(
        json!({"attributes": {"type": "Lead"}, "LastName": name, "Company": "Acme", "Email": format!("{}@x.com", name.to_lowercase())}),
    )
}

fn lead_update(id: &str) -> Record {
    record(json!({"attributes": {"type": "Lead"}, "Id": id, "TrailSpark_Score__c": "hot"}))
}

#[tokio::test]
async fn write_many_packs_collections_and_maps_results_by_position() {
    let fake = Fake::start(composite_reply).await;
    let mut cfg = fake.config();
    cfg.concurrency = 1;
    let client = Client::connect(cfg).await.unwrap();
    let ops = vec![
        CollectionWrite {
            action: WriteAction::Create,
            records: vec![lead("Ada"), lead("FAIL"), lead("Bob")],
        },
        CollectionWrite {
            action: WriteAction::Update,
            records: vec![lead_update("00Q5e00000AbCdEEAV")],
        },
        CollectionWrite {
            action: WriteAction::Create,
            records: vec![],
        },
        CollectionWrite {
            action: WriteAction::Create,
            records: vec![record(json!({"attributes": {"type": "Nope"}, "Name": "x"}))],
        },
        CollectionWrite {
            action: WriteAction::Update,
            records: vec![lead_update("00Q5e00000AbCdFEAV")],
        },
        CollectionWrite {
            action: WriteAction::Update,
            records: vec![lead_update("00Q5e00000AbCdGEAV")],
        },
        CollectionWrite {
            action: WriteAction::Update,
            records: vec![lead_update("00Q5e00000AbCdHEAV")],
        },
        CollectionWrite {
            action: WriteAction::Create,
            records: (0..201).map(|i| lead(&format!("N{i}"))).collect(),
        },
    ];
    let results = client
        .write_many(
            ops,
            WriteOptions {
                allow_duplicate_save: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 8);
    let first = results[0].as_ref().unwrap();
    assert!(first[0].success && first[0].id.is_some());
    assert!(!first[1].success && first[1].id.is_none());
    assert_eq!(first[1].errors[0].status_code, "REQUIRED_FIELD_MISSING");
    assert_eq!(first[1].errors[0].fields, vec!["Company"]);
    assert!(first[2].success);
    assert_eq!(
        results[1].as_ref().unwrap()[0].id.as_deref(),
        Some("00Q5e00000AbCdEEAV")
    );
    assert!(
        results[2].as_ref().unwrap().is_empty(),
        "empty op: nothing sent"
    );
    let nope = results[3].as_ref().unwrap_err();
    assert_eq!(nope.error_code(), Some("INVALID_TYPE"));
    assert_eq!(nope.http_status(), Some(400));
    assert_eq!(
        results[6].as_ref().unwrap()[0].id.as_deref(),
        Some("00Q5e00000AbCdHEAV")
    );
    assert!(
        matches!(results[7], Err(Error::InvalidRequest(_))),
        "201 records are refused before sending"
    );
    // 6 ops sent: 5 in the first Composite request, 1 in the second.
    assert_eq!(client.calls_made(), 2);
    insta::assert_json_snapshot!("write_many_requests", summaries(&fake));
}

#[tokio::test]
async fn write_many_without_duplicate_header_by_default() {
    let fake = Fake::start(composite_reply).await;
    let client = Client::connect(fake.config()).await.unwrap();
    let ops = vec![CollectionWrite {
        action: WriteAction::Create,
        records: vec![lead("Ada")],
    }];
    client
        .write_many(ops, WriteOptions::default())
        .await
        .unwrap();
    let req = &fake.data_requests()[0];
    assert_eq!(req.header("sforce-duplicate-rule-header"), None);
    assert!(
        req.json()["compositeRequest"][0]
            .get("httpHeaders")
            .is_none()
    );
}

#[tokio::test]
async fn write_many_retries_http_level_failures_only() {
    let calls = Arc::new(AtomicU32::new(0));
    let n = calls.clone();
    let fake = Fake::start(move |c| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(
                503,
                json!([{"message": "server too busy", "errorCode": "SERVER_UNAVAILABLE"}]),
            )
        } else {
            composite_reply(c)
        }
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    let ops = vec![CollectionWrite {
        action: WriteAction::Create,
        records: vec![lead("FAIL")],
    }];
    let r = client
        .write_many(ops, WriteOptions::default())
        .await
        .unwrap();
    // The per-record failure is a result, not retried; the 503 was retried once.
    assert!(!r[0].as_ref().unwrap()[0].success);
    assert_eq!(client.calls_made(), 2);
}

#[tokio::test]
async fn write_many_outer_error_when_nothing_was_written() {
    let fake = Fake::start(|_| {
        Reply::json(
            400,
            json!([{"message": "bad json", "errorCode": "JSON_PARSER_ERROR"}]),
        )
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    let ops = vec![CollectionWrite {
        action: WriteAction::Create,
        records: vec![lead("Ada")],
    }];
    let err = client
        .write_many(ops, WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("JSON_PARSER_ERROR"));
    assert_eq!(client.calls_made(), 1);
}

fn limits_reply(used: u64) -> Reply {
    Reply::json(
        200,
        json!({"DailyApiRequests": {"Max": 15000, "Remaining": 15000 - used}}),
    )
    .with_header(
        "sforce-limit-info",
        &format!("api-usage={used}/15000; api-bursts=1/750"),
    )
}

#[tokio::test]
async fn tracks_limit_info_and_counts_calls() {
    let n = Arc::new(AtomicU32::new(0));
    let c = n.clone();
    let fake =
        Fake::start(move |_| limits_reply(u64::from(c.fetch_add(1, Ordering::SeqCst)) + 10)).await;
    let client = Client::connect(fake.config()).await.unwrap();
    assert_eq!(client.api_usage(), None);
    let limits = client.limits().await.unwrap();
    assert_eq!(limits.daily_api_requests().unwrap().remaining, 14990);
    client.limits().await.unwrap();
    assert_eq!(
        client.api_usage(),
        Some(ApiUsage {
            used: 11,
            max: 15000
        })
    );
    let counts = client.call_counts();
    assert_eq!((counts.total, counts.other, counts.token), (2, 2, 1));
    assert_eq!(client.instance_url(), fake.url);
}

#[tokio::test]
async fn concurrent_requests_share_one_refresh() {
    let fake = Fake::start(|_| limits_reply(1)).await;
    let client = Client::connect(fake.config()).await.unwrap();
    fake.expire_tokens();
    // A slow token endpoint makes all ten requests see the expiry before the refresh ends.
    fake.set_token_delay(Duration::from_millis(100));
    let calls = (0..10).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.limits().await })
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap().unwrap();
    }
    let tokens = fake.token_requests();
    assert_eq!(tokens.len(), 2, "connect + exactly one refresh");
    let form = String::from_utf8(tokens[1].body.clone()).unwrap();
    assert!(
        form.contains("grant_type=refresh_token") && form.contains("refresh_token=rtok"),
        "{form}"
    );
    assert!(
        fake.data_requests()
            .iter()
            .filter(|c| c.header("authorization").as_deref() == Some("Bearer tok-2"))
            .count()
            == 10
    );
}

#[tokio::test]
async fn refresh_failure_surfaces_the_oauth_error() {
    let fake = Fake::start(|_| limits_reply(1)).await;
    let client = Client::connect(fake.config()).await.unwrap();
    fake.expire_tokens();
    fake.fail_token_requests(Reply::json(
        400,
        json!({"error": "invalid_grant", "error_description": "expired access/refresh token"}),
    ));
    let err = client.limits().await.unwrap_err();
    assert_eq!(
        err,
        Error::Auth {
            status: 400,
            error: "invalid_grant".into(),
            description: "expired access/refresh token".into()
        }
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!format!("{err:?}").contains("rtok"));
}

#[tokio::test]
async fn fixed_access_token_cannot_refresh() {
    let fake = Fake::start(|_| limits_reply(1)).await;
    let mut cfg = fake.config();
    cfg.auth = TokenSource::AccessToken {
        instance_url: fake.url.clone(),
        access_token: SecretString::from("never-valid"),
    };
    let client = Client::connect(cfg).await.unwrap();
    assert!(fake.token_requests().is_empty());
    let err = client.limits().await.unwrap_err();
    assert_eq!(err, Error::CannotRefresh);
    assert!(err.to_string().contains("cannot be refreshed"));
}

#[tokio::test]
async fn retries_html_503_then_gives_up_after_max_attempts() {
    let n = Arc::new(AtomicU32::new(0));
    let c = n.clone();
    let fake = Fake::start(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply {
                status: 503,
                headers: vec![("content-type", "text/html".into())],
                body: "<html><body>Maintenance</body></html>".into(),
            }
        } else {
            limits_reply(1)
        }
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    client.limits().await.unwrap();
    assert_eq!(client.calls_made(), 3);

    let fake = Fake::start(|_| {
        Reply::json(
            503,
            json!([{"message": "server too busy", "errorCode": "SERVER_UNAVAILABLE"}]),
        )
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    let err = client.limits().await.unwrap_err();
    assert_eq!(err.error_code(), Some("SERVER_UNAVAILABLE"));
    assert_eq!(client.calls_made(), 4, "max_attempts = 4");
}

#[tokio::test]
async fn limit_exceeded_is_not_retried() {
    let fake = Fake::start(|_| Reply::json(403, json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]))).await;
    let client = Client::connect(fake.config()).await.unwrap();
    let err = client.query("SELECT Id FROM Lead").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::LimitExceeded);
    assert_eq!(client.calls_made(), 1);
}

#[tokio::test]
async fn query_follows_next_records_url() {
    let fake = Fake::start(|c| {
        if c.path().ends_with("/query") {
            Reply::json(200, json!({"totalSize": 3, "done": false, "nextRecordsUrl": "/services/data/v62.0/query/01gX-2",
                "records": [{"Id": "a"}, {"Id": "b"}]}))
        } else {
            Reply::json(200, json!({"totalSize": 3, "done": true, "records": [{"Id": "c"}]}))
        }
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    let r = client
        .query("SELECT Id FROM Lead WHERE Email = 'a b@x.com'")
        .await
        .unwrap();
    let ids: Vec<&str> = r.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let uris: Vec<String> = fake.data_requests().iter().map(|c| c.uri.clone()).collect();
    assert_eq!(
        uris,
        [
            "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead+WHERE+Email+%3D+%27a+b%40x.com%27",
            "/services/data/v62.0/query/01gX-2"
        ]
    );
    assert_eq!(client.call_counts().query, 2);
}

#[tokio::test]
async fn very_long_query_goes_through_composite() {
    let fake = Fake::start(composite_reply).await;
    let client = Client::connect(fake.config()).await.unwrap();
    let values: Vec<String> = (0..1000).map(|i| format!("user{i}@example.com")).collect();
    let soqls = salesforce::chunk_in_clause(
        "SELECT Id FROM Lead WHERE Email IN (",
        &values,
        ")",
        salesforce::SOQL_MAX_CHARS,
    )
    .unwrap();
    assert_eq!(soqls.len(), 1);
    let r = client.query(&soqls[0]).await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(
        fake.data_requests()[0].path(),
        "/services/data/v62.0/composite"
    );
}

#[tokio::test]
async fn describe_is_cached_and_revalidated_with_if_modified_since() {
    let n = Arc::new(AtomicU32::new(0));
    let c = n.clone();
    let fake = Fake::start(move |req| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(200, json!({"name": "Lead", "label": "Lead", "fields": [{"name": "Email", "type": "email", "length": 80}]}))
                .with_header("last-modified", "Wed, 03 Jul 2013 19:43:31 GMT")
        } else {
            assert_eq!(req.header("if-modified-since").as_deref(), Some("Wed, 03 Jul 2013 19:43:31 GMT"));
            Reply { status: 304, headers: vec![], body: String::new() }
        }
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    let d1 = client.describe("Lead").await.unwrap();
    let d2 = client.describe("lead").await.unwrap();
    assert!(Arc::ptr_eq(&d1, &d2), "second describe from cache");
    assert_eq!(client.call_counts().describe, 1);
    let d3 = client.describe_refresh("Lead").await.unwrap();
    assert!(Arc::ptr_eq(&d1, &d3), "304 keeps the cached describe");
    assert_eq!(client.call_counts().describe, 2);
    assert_eq!(d3.field("email").unwrap().length, 80);
    assert_eq!(
        fake.data_requests()[0].path(),
        "/services/data/v62.0/sobjects/Lead/describe"
    );
    assert!(client.describe("Lead; DROP").await.is_err());
}

#[tokio::test]
async fn connect_reports_token_endpoint_errors() {
    let fake = Fake::start(|_| limits_reply(1)).await;
    fake.fail_token_requests(Reply::json(
        400,
        json!({"error": "invalid_client_id", "error_description": "client identifier invalid"}),
    ));
    let err = Client::connect(fake.config()).await.unwrap_err();
    assert_eq!(err.error_code(), Some("invalid_client_id"));
    assert_eq!(
        fake.token_requests().len(),
        1,
        "OAuth errors are not retried"
    );
}

#[tokio::test]
async fn client_credentials_use_http_basic() {
    let fake = Fake::start(|_| limits_reply(1)).await;
    let mut cfg = fake.config();
    cfg.auth = TokenSource::ClientCredentials {
        login_url: LoginUrl::parse(&fake.url).unwrap(),
        client_id: "cid".into(),
        client_secret: SecretString::from("csecret"),
    };
    Client::connect(cfg).await.unwrap();
    let t = &fake.token_requests()[0];
    // base64("cid:csecret")
    assert_eq!(
        t.header("authorization").as_deref(),
        Some("Basic Y2lkOmNzZWNyZXQ=")
    );
    assert_eq!(
        String::from_utf8(t.body.clone()).unwrap(),
        "grant_type=client_credentials"
    );
}

#[tokio::test]
async fn jwt_bearer_sends_a_verifiable_rs256_assertion() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let fake = Fake::start(|_| limits_reply(1)).await;
    let mut cfg = fake.config();
    cfg.auth = TokenSource::JwtBearer {
        login_url: LoginUrl::parse(&fake.url).unwrap(),
        client_id: "3MVG9cid".into(),
        username: "int@acme.com".into(),
        private_key_pem: SecretString::from(key.serialize_pem()),
        audience: Some("https://login.salesforce.com".into()),
    };
    Client::connect(cfg).await.unwrap();
    let form = String::from_utf8(fake.token_requests()[0].body.clone()).unwrap();
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        fields["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let decoding =
        jsonwebtoken::DecodingKey::from_rsa_pem(key.public_key_pem().as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["https://login.salesforce.com"]);
    let claims = jsonwebtoken::decode::<Value>(&fields["assertion"], &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], "3MVG9cid");
    assert_eq!(claims["sub"], "int@acme.com");
    let exp = claims["exp"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now + 170..=now + 190).contains(&exp), "exp = now + 3 min");
}

#[tokio::test]
async fn write_many_resends_only_an_op_whose_subrequest_failed_as_a_whole() {
    let failed_once = Arc::new(AtomicU32::new(0));
    let f = failed_once.clone();
    let fake = Fake::start(move |c| {
        let mut reply: Value = serde_json::from_str(&composite_reply(c).body).unwrap();
        let subs = c.json()["compositeRequest"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (n, sub) in subs.iter().enumerate() {
            let busy = sub["body"]["records"][0]["LastName"] == "Busy";
            if busy && f.fetch_add(1, Ordering::SeqCst) == 0 {
                reply["compositeResponse"][n]["httpStatusCode"] = json!(503);
                reply["compositeResponse"][n]["body"] =
                    json!([{"message": "server too busy", "errorCode": "SERVER_UNAVAILABLE"}]);
            }
        }
        Reply::json(200, reply)
    })
    .await;
    let client = Client::connect(fake.config()).await.unwrap();
    let ops = vec![
        CollectionWrite {
            action: WriteAction::Create,
            records: vec![lead("Ada")],
        },
        CollectionWrite {
            action: WriteAction::Create,
            records: vec![lead("Busy")],
        },
    ];
    let r = client
        .write_many(ops, WriteOptions::default())
        .await
        .unwrap();
    assert!(r[0].as_ref().unwrap()[0].success);
    assert!(r[1].as_ref().unwrap()[0].success);
    let reqs = fake.data_requests();
    assert_eq!(reqs.len(), 2);
    let second = reqs[1].json();
    let resent = second["compositeRequest"].as_array().unwrap();
    assert_eq!(resent.len(), 1, "only the failed op is sent again");
    assert_eq!(resent[0]["body"]["records"][0]["LastName"], "Busy");
}

#[tokio::test]
async fn composite_calls_run_with_bounded_concurrency_in_order() {
    for concurrency in [1, 3] {
        let fake = Fake::start(composite_reply).await;
        fake.set_data_delay(Duration::from_millis(30));
        let mut cfg = fake.config();
        cfg.concurrency = concurrency;
        let client = Client::connect(cfg).await.unwrap();
        let soqls: Vec<String> = (0..40)
            .map(|i| format!("SELECT Id FROM Lead WHERE Email = 'c{i}@x.com'"))
            .collect();
        let results = client.query_many(&soqls).await.unwrap();
        assert_eq!(client.calls_made(), 8);
        assert_eq!(
            fake.max_in_flight(),
            concurrency as u64,
            "concurrency {concurrency}"
        );
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r[0]["q"], Value::from(soqls[i].clone()));
        }
    }
}
