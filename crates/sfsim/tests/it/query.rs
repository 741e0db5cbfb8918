//! SOQL over REST: results, relationships, pagination, errors (docs/salesforce.md#query).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{assert_shape, golden, org, urlencode};

/// A restforce query page without its object-specific field (`Text_Label`).
fn query_golden(name: &str) -> Value {
    let mut g = golden(name);
    if let Some(r) = g["records"][0].as_object_mut() {
        r.remove("Text_Label");
    }
    g
}

#[tokio::test]
async fn query_shapes_and_relationship_fields() {
    let o = org().await;
    let r = o.query("SELECT Id, Email, Account.TrailSpark_Propensity__c, Account.Name FROM Contact WHERE AccountId != null ORDER BY Email LIMIT 3").await;
    assert_eq!(r.status, 200);
    assert_shape(&query_golden("query_last_page.json"), &r.body, "$");
    assert_eq!(r.body["totalSize"], 3);
    assert_eq!(r.body["done"], true);
    assert!(
        r.body.get("nextRecordsUrl").is_none(),
        "no nextRecordsUrl key on the last page"
    );
    let rec = &r.body["records"][0];
    let keys: Vec<&String> = rec.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["attributes", "Id", "Email", "Account"],
        "SELECT order, parent nested once"
    );
    assert_eq!(rec["Account"]["attributes"]["type"], "Account");
    assert!(rec["Account"]["Name"].is_string());
    assert!(rec["Account"].get("TrailSpark_Propensity__c").is_some());
    // Private contacts have a null parent.
    let r = o
        .query("SELECT Id, Account.Name FROM Contact WHERE AccountId = null LIMIT 1")
        .await;
    assert_eq!(r.body["records"][0]["Account"], Value::Null);
    // Filter through the relationship.
    let r = o
        .query("SELECT Id FROM Contact WHERE Account.TrailSpark_Propensity__c = 'high_propensity'")
        .await;
    assert!(r.body["totalSize"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn email_matching_is_case_insensitive_and_in_lists_work() {
    let o = org().await;
    let rows = o
        .org
        .control()
        .query("SELECT Email FROM Contact WHERE Email != null LIMIT 3")
        .unwrap();
    let emails: Vec<String> = rows
        .iter()
        .map(|r| r["Email"].as_str().unwrap().to_uppercase())
        .collect();
    let list = emails
        .iter()
        .map(|e| format!("'{e}'"))
        .collect::<Vec<_>>()
        .join(",");
    let soql = format!("SELECT Id, Email FROM Contact WHERE Email IN ({list})");
    let r = o.query(&soql).await;
    // Contact 0's email is shared with another Contact in the default org.
    assert!(r.body["totalSize"].as_u64().unwrap() >= 3);
    let lower = o
        .org
        .control()
        .query(&soql.to_lowercase().replace(
            "select id, email from contact where email in",
            "SELECT Id FROM Contact WHERE Email IN",
        ))
        .unwrap();
    assert_eq!(r.body["totalSize"].as_u64().unwrap() as usize, lower.len());
    let r = o
        .query(&format!(
            "SELECT Id FROM Contact WHERE Email = '{}'",
            emails[1].to_lowercase()
        ))
        .await;
    assert_eq!(r.body["totalSize"], 1);
    let r = o
        .query(&format!(
            "SELECT Id FROM Contact WHERE Email NOT IN ({list}) AND Email != null"
        ))
        .await;
    let all = o
        .org
        .control()
        .query("SELECT Id FROM Contact WHERE Email != null")
        .unwrap()
        .len();
    assert_eq!(
        r.body["totalSize"].as_u64().unwrap() as usize,
        all - lower.len()
    );
    let r = o.query("SELECT Id FROM Lead WHERE Email LIKE '%.IO' AND (IsConverted = false OR Status = 'x') AND NOT Status = 'Closed - Converted'").await;
    assert!(r.body["totalSize"].as_u64().unwrap() > 50);
}

#[tokio::test]
async fn duplicates_in_default_org() {
    let o = org().await;
    // Two leads share an email (different case) and two contacts share one.
    let leads = o
        .org
        .control()
        .query("SELECT Email FROM Lead WHERE IsConverted = false")
        .unwrap();
    let mut seen = std::collections::HashMap::new();
    for l in &leads {
        if let Some(e) = l["Email"].as_str() {
            *seen.entry(e.to_lowercase()).or_insert(0) += 1;
        }
    }
    assert!(seen.values().any(|n| *n >= 2));
    assert_eq!(leads.len(), 120);
    let converted = o
        .org
        .control()
        .query(
            "SELECT Id, ConvertedContactId, ConvertedAccountId FROM Lead WHERE IsConverted = true",
        )
        .unwrap();
    assert_eq!(converted.len(), 20);
    assert_eq!(o.org.control().records("Account").len(), 100);
    let contacts = o
        .org
        .control()
        .query("SELECT Email FROM Contact WHERE Email != null")
        .unwrap();
    let mut seen = std::collections::HashMap::new();
    for c in &contacts {
        *seen
            .entry(c["Email"].as_str().unwrap().to_lowercase())
            .or_insert(0) += 1;
    }
    assert!(
        seen.values().any(|n| *n >= 2),
        "two Contacts share an email"
    );
    assert!(
        contacts.iter().any(|c| c["Email"]
            .as_str()
            .unwrap()
            .chars()
            .any(|ch| ch.is_ascii_uppercase())),
        "mixed-case emails"
    );
    let private = o
        .org
        .control()
        .query("SELECT Id FROM Contact WHERE AccountId = null")
        .unwrap();
    assert_eq!(private.len(), 20);
    // Converted leads point at real Contacts and Accounts.
    let first = &converted[0];
    let contact = o
        .org
        .control()
        .record(first["ConvertedContactId"].as_str().unwrap())
        .unwrap();
    assert_eq!(contact["AccountId"], first["ConvertedAccountId"]);
    assert_eq!(o.org.control().records("Contact").len(), 250);
}

#[tokio::test]
async fn pagination_honours_batch_size_and_query_more() {
    let o = org().await;
    let url = format!(
        "{}?q={}",
        o.data("/query"),
        urlencode("SELECT Id FROM Contact ORDER BY Id")
    );
    let r = o
        .call(
            Method::GET,
            &url,
            None,
            &[("Sforce-Query-Options", "batchSize=100")],
        )
        .await;
    // 100 is clamped up to the 200 minimum.
    assert_shape(&query_golden("query_first_page.json"), &r.body, "$");
    assert_eq!(r.body["totalSize"], 250);
    assert_eq!(r.body["done"], false);
    assert_eq!(r.body["records"].as_array().unwrap().len(), 200);
    let next = r.body["nextRecordsUrl"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with("/services/data/v62.0/query/01g") && next.ends_with("-200"),
        "{next}"
    );
    let r = o
        .call(Method::GET, &format!("{}{next}", o.org.url()), None, &[])
        .await;
    assert_eq!(r.body["totalSize"], 250);
    assert_eq!(r.body["done"], true);
    assert_eq!(r.body["records"].as_array().unwrap().len(), 50);
    assert!(r.body.get("nextRecordsUrl").is_none());
    let kinds: Vec<sfsim::CallKind> = o.org.control().calls().iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [sfsim::CallKind::Query, sfsim::CallKind::QueryMore]);
    // Default batch is 2000: one page.
    let r = o.query("SELECT Id FROM Contact").await;
    assert_eq!(r.body["records"].as_array().unwrap().len(), 250);
    let bogus = format!(
        "{}/services/data/v62.0/query/01gXXXXXXXXXXXXXXX-200",
        o.org.url()
    );
    assert_eq!(
        o.call(Method::GET, &bogus, None, &[]).await.code(),
        "INVALID_QUERY_LOCATOR"
    );
}

#[tokio::test]
async fn count_limit_offset_and_query_all() {
    let o = org().await;
    let r = o
        .query("SELECT COUNT() FROM Lead WHERE IsConverted = true")
        .await;
    assert_eq!(
        r.body,
        json!({"totalSize": 20, "done": true, "records": []})
    );
    let a = o
        .query("SELECT Id FROM Lead ORDER BY CreatedDate DESC NULLS LAST LIMIT 5")
        .await;
    let b = o
        .query("SELECT Id FROM Lead ORDER BY CreatedDate DESC LIMIT 3 OFFSET 2")
        .await;
    assert_eq!(a.body["records"][2]["Id"], b.body["records"][0]["Id"]);
    let lead = a.body["records"][0]["Id"].as_str().unwrap().to_owned();
    assert_eq!(
        o.delete(&format!("/sobjects/Lead/{lead}")).await.status,
        204
    );
    let q = format!("SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead}'");
    assert_eq!(o.query(&q).await.body["totalSize"], 0);
    let url = format!("{}?q={}", o.data("/queryAll"), urlencode(&q));
    let r = o.call(Method::GET, &url, None, &[]).await;
    assert_eq!(r.body["totalSize"], 1);
    assert_eq!(r.body["records"][0]["IsDeleted"], true);
    let r = o.query("SELECT Id FROM Lead WHERE CreatedDate > 2024-01-10T00:00:00Z AND CreatedDate < 2024-01-20").await;
    assert_eq!(
        r.code(),
        "INVALID_FIELD",
        "date literal against a datetime field"
    );
    let r = o.query("SELECT Id FROM Lead WHERE CreatedDate > 2024-01-10T00:00:00Z AND CreatedDate < 2024-12-20T00:00:00.000+0000").await;
    assert!(r.body["totalSize"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn query_errors() {
    let o = org().await;
    let r = o.query("SELECT Id FROM Leed").await;
    assert_eq!((r.status, r.code()), (400, "INVALID_TYPE"));
    assert!(
        r.body[0]["message"]
            .as_str()
            .unwrap()
            .contains("sObject type 'Leed' is not supported.")
    );
    let r = o.query("SELECT Bogus__c FROM Lead").await;
    assert_eq!(r.code(), "INVALID_FIELD");
    assert!(
        r.body[0]["message"]
            .as_str()
            .unwrap()
            .contains("No such column 'Bogus__c' on entity 'Lead'")
    );
    let r = o
        .query("SELECT Id FROM Lead WHERE Email = \"a@b.com\"")
        .await;
    assert_eq!(r.code(), "MALFORMED_QUERY");
    let r = o.query(r"SELECT Id FROM Lead WHERE Email = 'a\qb'").await;
    assert_eq!(r.code(), "MALFORMED_QUERY");
    let r = o
        .query(r"SELECT Id FROM Lead WHERE LastName = 'O\'Brien\\'")
        .await;
    assert_eq!(r.status, 200);
    let r = o.query("SELECT Id FROM Lead WHERE").await;
    assert_eq!(r.code(), "MALFORMED_QUERY");
    assert!(
        r.body[0]["message"]
            .as_str()
            .unwrap()
            .contains("ERROR at Row:1:Column:")
    );
    let r = o.get("/query").await;
    assert_eq!(r.code(), "MALFORMED_QUERY");
}

#[tokio::test]
async fn long_statements_are_refused_but_fit_in_composite() {
    let o = org().await;
    let emails: Vec<String> = (0..3000)
        .map(|i| format!("'nobody{i}@nowhere.example'"))
        .collect();
    let soql = format!("SELECT Id FROM Lead WHERE Email IN ({})", emails.join(","));
    assert!(soql.len() > 16_384 && soql.len() < 100_000);
    let body = json!({"compositeRequest": [{"method": "GET", "url": format!("/services/data/v62.0/query?q={}", urlencode(&soql)), "referenceId": "q"}]});
    let r = o.post("/composite", body).await;
    assert_eq!(r.body["compositeResponse"][0]["httpStatusCode"], 200);
    let too_long = format!(
        "SELECT Id FROM Lead WHERE Email IN ({})",
        (0..4000)
            .map(|i| format!("'{}{i}@x.example'", "n".repeat(20)))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(too_long.len() > 100_000);
    let body = json!({"compositeRequest": [{"method": "GET", "url": format!("/services/data/v62.0/query?q={}", urlencode(&too_long)), "referenceId": "q"}]});
    let r = o.post("/composite", body).await;
    assert_eq!(r.body["compositeResponse"][0]["httpStatusCode"], 400);
    assert_eq!(
        r.body["compositeResponse"][0]["body"][0]["errorCode"],
        "MALFORMED_QUERY"
    );
}
