//! Org setup: Tooling `CustomField` creates, queries and Composite; permission sets, field
//! permissions and assignments; the field-level security they give the integration user.

use serde_json::{Value, json};

use crate::support::{Org, org, org_with, urlencode};

const CF: &str = "/tooling/sobjects/CustomField";

async fn bare() -> Org {
    let o = org().await;
    o.org
        .control()
        .load_scenario_str("base = \"bare\"")
        .expect("bare loads");
    o
}

fn text_field(full: &str, length: u32) -> Value {
    json!({"FullName": full, "Metadata": {"type": "Text", "label": "TrailSpark Score", "length": length}})
}

async fn tooling_query(o: &Org, soql: &str) -> crate::support::Reply {
    o.get(&format!("/tooling/query?q={}", urlencode(soql)))
        .await
}

async fn describe_has(o: &Org, object: &str, field: &str) -> Option<Value> {
    let d = o.get(&format!("/sobjects/{object}/describe")).await;
    assert_eq!(d.status, 200);
    d.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == field)
        .cloned()
}

/// Creates the permission set, grants read+edit on `fields`, assigns it to the user.
async fn grant(o: &Org, fields: &[&str]) -> String {
    let ps = o
        .post(
            "/sobjects/PermissionSet",
            json!({"Name": "TrailSpark_Integration", "Label": "TrailSpark Integration"}),
        )
        .await;
    assert_eq!(ps.status, 201, "{}", ps.body);
    let ps = ps.body["id"].as_str().unwrap().to_owned();
    assert!(ps.starts_with("0PS"));
    let records: Vec<Value> = fields
        .iter()
        .map(|f| {
            json!({"attributes": {"type": "FieldPermissions"}, "ParentId": ps,
                   "SobjectType": f.split('.').next().unwrap(), "Field": f,
                   "PermissionsRead": true, "PermissionsEdit": true})
        })
        .collect();
    let r = o
        .post(
            "/composite/sobjects",
            json!({"allOrNone": false, "records": records}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["success"] == true),
        "{}",
        r.body
    );
    let user = o.org.auth().config().user_id.clone();
    let a = o
        .post(
            "/sobjects/PermissionSetAssignment",
            json!({"AssigneeId": user, "PermissionSetId": ps}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    ps
}

#[tokio::test]
async fn a_created_field_is_invisible_to_the_data_api_until_access_is_granted() {
    let o = bare().await;
    let lead = o.first_id("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1");
    let r = o.post(CF, text_field("Lead.TrailSpark_Score__c", 10)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["errors"], json!([]));
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("00N") && id.len() == 18, "{id}");
    assert!(r.header("Location").unwrap().ends_with(&id));

    // Tooling sees it at once, with FullName and Metadata when asked for one row.
    let got = o.get(&format!("{CF}/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["FullName"], "Lead.TrailSpark_Score__c");
    assert_eq!(got.body["DeveloperName"], "TrailSpark_Score");
    assert_eq!(got.body["TableEnumOrId"], "Lead");
    assert_eq!(got.body["Metadata"]["type"], "Text");
    assert_eq!(got.body["Metadata"]["length"], 10);
    let q = tooling_query(
        &o,
        "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Lead' AND DeveloperName = 'TrailSpark_Score'",
    )
    .await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["totalSize"], 1);
    assert_eq!(q.body["records"][0]["Id"], id.as_str());

    // The data API does not, for describe, SOQL or DML.
    assert!(
        describe_has(&o, "Lead", "TrailSpark_Score__c")
            .await
            .is_none()
    );
    let soql = o
        .query("SELECT TrailSpark_Score__c FROM Lead LIMIT 1")
        .await;
    assert_eq!((soql.status, soql.code()), (400, "INVALID_FIELD"));
    let w = o
        .patch(
            &format!("/sobjects/Lead/{lead}"),
            json!({"TrailSpark_Score__c": "hot"}),
        )
        .await;
    assert_eq!((w.status, w.code()), (400, "INVALID_FIELD"), "{}", w.body);

    grant(&o, &["Lead.TrailSpark_Score__c"]).await;
    let f = describe_has(&o, "Lead", "TrailSpark_Score__c")
        .await
        .expect("visible once granted");
    assert_eq!(
        (&f["type"], &f["length"], &f["updateable"], &f["custom"]),
        (&json!("string"), &json!(10), &json!(true), &json!(true))
    );
    let w = o
        .patch(
            &format!("/sobjects/Lead/{lead}"),
            json!({"TrailSpark_Score__c": "hot"}),
        )
        .await;
    assert_eq!(w.status, 204, "{}", w.body);
    assert_eq!(o.field(&lead, "TrailSpark_Score__c"), "hot");
}

#[tokio::test]
async fn read_only_access_shows_the_field_without_edit_and_required_fields_need_no_grant() {
    let o = bare().await;
    let r = o.post(CF, text_field("Contact.Ro__c", 20)).await;
    assert_eq!(r.status, 201);
    let required = json!({"FullName": "Contact.Must__c", "Metadata": {"type": "Text", "label": "Must", "length": 5, "required": true}});
    assert_eq!(o.post(CF, required).await.status, 201);
    let f = describe_has(&o, "Contact", "Must__c")
        .await
        .expect("required: visible");
    assert_eq!(f["updateable"], true);
    let ps = o
        .post(
            "/sobjects/PermissionSet",
            json!({"Name": "RO", "Label": "Read only"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fp = o
        .post(
            "/sobjects/FieldPermissions",
            json!({"ParentId": ps, "SobjectType": "Contact", "Field": "Contact.Ro__c", "PermissionsRead": true}),
        )
        .await;
    assert_eq!(fp.status, 201, "{}", fp.body);
    // Not assigned yet: still invisible.
    assert!(describe_has(&o, "Contact", "Ro__c").await.is_none());
    let user = o.org.auth().config().user_id.clone();
    let a = o
        .post(
            "/sobjects/PermissionSetAssignment",
            json!({"AssigneeId": user, "PermissionSetId": ps}),
        )
        .await;
    assert_eq!(a.status, 201);
    let f = describe_has(&o, "Contact", "Ro__c")
        .await
        .expect("readable");
    assert_eq!(
        (&f["createable"], &f["updateable"]),
        (&json!(false), &json!(false))
    );
    // Read → Read + Edit by updating the row.
    let row = fp.body["id"].as_str().unwrap();
    let up = o
        .patch(
            &format!("/sobjects/FieldPermissions/{row}"),
            json!({"PermissionsEdit": true}),
        )
        .await;
    assert_eq!(up.status, 204, "{}", up.body);
    assert_eq!(
        describe_has(&o, "Contact", "Ro__c").await.unwrap()["updateable"],
        true
    );
}

#[tokio::test]
async fn duplicate_developer_name_is_refused_with_salesforces_words() {
    // The default org already has the TrailSpark fields.
    let o = org().await;
    let r = o.post(CF, text_field("Lead.TrailSpark_Score__c", 10)).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!([{"message": "There is already a field named TrailSpark_Score on Lead.",
                "errorCode": "DUPLICATE_DEVELOPER_NAME", "fields": []}])
    );
    // Case-insensitively, and against fields created but not yet visible.
    assert_eq!(
        o.post(CF, text_field("Lead.New_One__c", 10)).await.status,
        201
    );
    let again = o.post(CF, text_field("lead.NEW_ONE__c", 10)).await;
    assert_eq!(again.code(), "DUPLICATE_DEVELOPER_NAME");
    assert_eq!(
        again.body[0]["message"],
        "There is already a field named NEW_ONE on Lead."
    );
}

#[tokio::test]
async fn metadata_is_validated_per_type() {
    let o = bare().await;
    let cases = [
        (
            json!({"type": "Text", "label": "x", "length": 300}),
            "between 1 and 255",
        ),
        (
            json!({"type": "LongTextArea", "label": "x", "length": 100, "visibleLines": 6}),
            "Data type LongTextArea must be at least 256 in length.",
        ),
        (
            json!({"type": "LongTextArea", "label": "x", "length": 131072}),
            "Must specify 'visibleLines' for a CustomField of type LongTextArea",
        ),
        (
            json!({"type": "Picklist", "label": "x"}),
            "Must specify 'valueSet'",
        ),
        (
            json!({"type": "DateTime", "label": "x", "length": 10}),
            "Can not specify 'length' for a CustomField of type DateTime",
        ),
        (
            json!({"type": "LongTextArea", "label": "x", "length": 300, "visibleLines": 6, "externalId": true}),
            "Can not specify 'externalId'",
        ),
    ];
    for (metadata, expected) in cases {
        let r = o
            .post(CF, json!({"FullName": "Lead.X__c", "Metadata": metadata}))
            .await;
        assert_eq!(r.status, 400, "{metadata}");
        assert_eq!(r.code(), "FIELD_INTEGRITY_EXCEPTION", "{}", r.body);
        let m = r.body[0]["message"].as_str().unwrap();
        assert!(m.contains(expected), "{m}");
    }
    let unknown = o
        .post(
            CF,
            json!({"FullName": "Lead.X__c", "Metadata": {"type": "Foo", "label": "x"}}),
        )
        .await;
    assert_eq!(unknown.code(), "JSON_PARSER_ERROR");
    let ok = [
        json!({"FullName": "Lead.A__c", "Metadata": {"type": "Text", "label": "A", "length": "80", "externalId": true, "unique": true}}),
        json!({"FullName": "Lead.B__c", "Metadata": {"type": "LongTextArea", "label": "B", "length": 131072, "visibleLines": 6}}),
        json!({"FullName": "Lead.C__c", "Metadata": {"type": "DateTime", "label": "C"}}),
        json!({"FullName": "Lead.D__c", "Metadata": {"type": "Date", "label": "D"}}),
        json!({"FullName": "Lead.E__c", "Metadata": {"type": "Picklist", "label": "E", "valueSet": {"restricted": true,
            "valueSetDefinition": {"sorted": false, "value": [{"fullName": "hot", "label": "hot", "default": false}]}}}}),
    ];
    for body in ok {
        let r = o.post(CF, body.clone()).await;
        assert_eq!(r.status, 201, "{body}: {}", r.body);
    }
}

#[tokio::test]
async fn tooling_query_filters_and_refuses_metadata_over_many_rows() {
    let o = org().await;
    // The default org's own custom fields are listed too.
    let q = tooling_query(
        &o,
        "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId IN ('Lead', 'Contact', 'Account') AND DeveloperName LIKE 'TrailSpark%'",
    )
    .await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["totalSize"], 8, "{}", q.body);
    assert_eq!(q.body["entityTypeName"], "CustomField");
    let many = tooling_query(
        &o,
        "SELECT Id, Metadata FROM CustomField WHERE TableEnumOrId = 'Lead'",
    )
    .await;
    assert_eq!(many.code(), "MALFORMED_QUERY");
    assert!(
        many.body[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("When retrieving results with Metadata or FullName fields, the query qualifications must specify no more than one row for retrieval. Result size: ")
    );
    let one = tooling_query(
        &o,
        "SELECT Id, FullName, Metadata FROM CustomField WHERE TableEnumOrId = 'Account' AND DeveloperName = 'TrailSpark_Propensity'",
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(
        one.body["records"][0]["FullName"],
        "Account.TrailSpark_Propensity__c"
    );
    assert_eq!(one.body["records"][0]["Metadata"]["type"], "Text");
    let bad = tooling_query(&o, "SELECT Id FROM CustomFieldz").await;
    assert_eq!(bad.code(), "INVALID_TYPE");
}

#[tokio::test]
async fn tooling_composite_creates_many_in_one_call_with_a_status_each() {
    let o = bare().await;
    let before = o.org.control().api_calls_counted();
    let body = json!({"allOrNone": false, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/tooling/sobjects/CustomField", "referenceId": "a",
         "body": text_field("Lead.A__c", 10)},
        {"method": "POST", "url": "/services/data/v62.0/tooling/sobjects/CustomField", "referenceId": "dup",
         "body": text_field("Lead.A__c", 10)},
        {"method": "POST", "url": "/services/data/v62.0/tooling/sobjects/CustomField", "referenceId": "b",
         "body": {"FullName": "Contact.B__c", "Metadata": {"type": "DateTime", "label": "B"}}},
        {"method": "GET", "url": format!("/services/data/v62.0/tooling/query?q={}", urlencode("SELECT Id FROM CustomField WHERE DeveloperName IN ('A', 'B')")), "referenceId": "q"},
        {"method": "GET", "url": "/services/data/v62.0/tooling/sobjects/CustomField/@{b.id}", "referenceId": "g"},
    ]});
    let r = o.post("/tooling/composite", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let res = r.body["compositeResponse"].as_array().unwrap();
    let statuses: Vec<u64> = res
        .iter()
        .map(|x| x["httpStatusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 400, 201, 200, 200], "{}", r.body);
    assert_eq!(res[1]["body"][0]["errorCode"], "DUPLICATE_DEVELOPER_NAME");
    assert!(res[0]["body"]["id"].as_str().unwrap().starts_with("00N"));
    assert_eq!(res[3]["body"]["totalSize"], 2);
    assert_eq!(res[4]["body"]["FullName"], "Contact.B__c");
    assert_eq!(o.org.control().api_calls_counted() - before, 1);
    let calls = o.org.control().calls();
    assert_eq!(calls.iter().filter(|c| c.in_composite).count(), 5);

    // Over 25 subrequests, or over 5 queries: refused as a whole.
    let many: Vec<Value> = (0..26)
        .map(|i| json!({"method": "POST", "url": "/services/data/v62.0/tooling/sobjects/CustomField", "referenceId": format!("f{i}"), "body": text_field(&format!("Lead.F{i}__c"), 5)}))
        .collect();
    let r = o
        .post("/tooling/composite", json!({"compositeRequest": many}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["compositeResponse"][0]["body"][0]["errorCode"],
        "LIMIT_EXCEEDED"
    );
    let queries: Vec<Value> = (0..6)
        .map(|i| json!({"method": "GET", "url": "/services/data/v62.0/tooling/query?q=SELECT+Id+FROM+CustomField", "referenceId": format!("q{i}")}))
        .collect();
    let r = o
        .post("/tooling/composite", json!({"compositeRequest": queries}))
        .await;
    assert_eq!(
        r.body["compositeResponse"][0]["body"][0]["errorCode"],
        "LIMIT_EXCEEDED"
    );
}

#[tokio::test]
async fn tooling_composite_all_or_none_rolls_the_creates_back() {
    let o = bare().await;
    let body = json!({"allOrNone": true, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/tooling/sobjects/CustomField", "referenceId": "a", "body": text_field("Lead.A__c", 10)},
        {"method": "POST", "url": "/services/data/v62.0/tooling/sobjects/CustomField", "referenceId": "bad", "body": text_field("Lead.B__c", 999)},
    ]});
    let r = o.post("/tooling/composite", body).await;
    let res = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(res[0]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(res[1]["body"][0]["errorCode"], "FIELD_INTEGRITY_EXCEPTION");
    let q = tooling_query(&o, "SELECT Id FROM CustomField WHERE DeveloperName = 'A'").await;
    assert_eq!(q.body["totalSize"], 0);
}

#[tokio::test]
async fn without_customize_application_tooling_creates_are_refused_naming_the_permission() {
    let o = bare().await;
    o.org
        .control()
        .load_scenario_str("[user]\ncustomize_application = false\n")
        .unwrap();
    let r = o.post(CF, text_field("Lead.A__c", 10)).await;
    assert_eq!((r.status, r.code()), (400, "INSUFFICIENT_ACCESS"));
    assert!(
        r.body[0]["message"]
            .as_str()
            .unwrap()
            .contains("\"Customize Application\"")
    );
    let q = tooling_query(&o, "SELECT Id FROM CustomField WHERE DeveloperName = 'A'").await;
    assert_eq!(q.body["totalSize"], 0);
}

#[tokio::test]
async fn field_permissions_rules() {
    let o = org().await;
    let ps = o
        .post(
            "/sobjects/PermissionSet",
            json!({"Name": "P", "Label": "P"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fp = |field: &str, read: bool, edit: bool| {
        json!({"attributes": {"type": "FieldPermissions"}, "ParentId": ps,
               "SobjectType": field.split('.').next().unwrap(), "Field": field,
               "PermissionsRead": read, "PermissionsEdit": edit})
    };
    let r = o
        .post(
            "/composite/sobjects",
            json!({"allOrNone": false, "records": [
                fp("Lead.Internal_Rating__c", false, true),
                fp("Lead.Nope__c", true, true),
                fp("Lead.LastName", true, true),
                fp("Lead.Email_Domain__c", true, true),
                fp("Lead.Email_Domain__c", true, false),
                fp("Contact.Internal_Rating__c", true, true),
                fp("Lead.Internal_Rating__c", true, true),
                fp("Lead.Internal_Rating__c", true, true),
                {"attributes": {"type": "Lead"}, "LastName": "x", "Company": "y"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let codes: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["errors"][0]["statusCode"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        codes,
        [
            "FIELD_INTEGRITY_EXCEPTION",               // Edit needs Read
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", // no such field
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", // required: not permissionable
            "FIELD_INTEGRITY_EXCEPTION",               // formula: Read only
            "ok",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", // not a Contact field
            "ok",
            "DUPLICATE_VALUE",
            "MIXED_DML_OPERATION",
        ],
        "{}",
        r.body
    );
    assert_eq!(
        r.body[1]["errors"][0]["message"],
        "Field Name: bad value for restricted picklist field: Lead.Nope__c"
    );
    assert_eq!(r.body[1]["errors"][0]["fields"], json!(["Field"]));
    // Queryable by the permission set's name.
    let q = o
        .query("SELECT Id, Field, PermissionsRead, PermissionsEdit, Parent.Name FROM FieldPermissions WHERE Parent.Name = 'P' ORDER BY Field")
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["totalSize"], 2);
    assert_eq!(q.body["records"][0]["Field"], "Lead.Email_Domain__c");
    assert_eq!(q.body["records"][0]["Parent"]["Name"], "P");
    let over: Vec<Value> = (0..201).map(|_| fp("Lead.Title", true, true)).collect();
    let r = o
        .post("/composite/sobjects", json!({"records": over}))
        .await;
    assert_eq!(r.code(), "EXCEEDED_ID_LIMIT");
}

#[tokio::test]
async fn permission_sets_and_assignments() {
    let o = org().await;
    let r = o
        .post(
            "/sobjects/PermissionSet",
            json!({"Name": "TrailSpark_Integration"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "REQUIRED_FIELD_MISSING"));
    let ps = o
        .post(
            "/sobjects/PermissionSet",
            json!({"Name": "TrailSpark_Integration", "Label": "TrailSpark Integration"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = o
        .post(
            "/sobjects/PermissionSet",
            json!({"Name": "trailspark_integration", "Label": "x"}),
        )
        .await;
    assert_eq!(again.code(), "DUPLICATE_DEVELOPER_NAME");
    let q = o
        .query("SELECT Id, Name, Label FROM PermissionSet WHERE Name = 'TrailSpark_Integration'")
        .await;
    assert_eq!(q.body["totalSize"], 1, "{}", q.body);
    assert_eq!(q.body["records"][0]["Id"], ps.as_str());
    assert_eq!(
        o.get(&format!("/sobjects/PermissionSet/{ps}")).await.body["Label"],
        "TrailSpark Integration"
    );

    let user = o.org.auth().config().user_id.clone();
    let assign = json!({"AssigneeId": user, "PermissionSetId": ps});
    assert_eq!(
        o.post("/sobjects/PermissionSetAssignment", assign.clone())
            .await
            .status,
        201
    );
    let dup = o.post("/sobjects/PermissionSetAssignment", assign).await;
    assert_eq!(dup.status, 400);
    assert_eq!(
        dup.body,
        json!([{"message": format!("Duplicate PermissionSetAssignment.  Assignee: {}; Permission Set: {}", &user[..15], &ps[..15]),
                "errorCode": "DUPLICATE_VALUE", "fields": ["AssigneeId", "PermissionSetId"]}])
    );
    let q = o
        .query(&format!("SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{user}' AND PermissionSet.Name = 'TrailSpark_Integration'"))
        .await;
    assert_eq!(q.body["totalSize"], 1, "{}", q.body);
    let nobody = o
        .post(
            "/sobjects/PermissionSetAssignment",
            json!({"AssigneeId": "005000000000001AAA", "PermissionSetId": ps}),
        )
        .await;
    assert_eq!(nobody.code(), "INVALID_CROSS_REFERENCE_KEY");
}

#[tokio::test]
async fn the_bare_scenario_loads_by_name_and_by_constructor() {
    let o = org_with(sfsim::Options {
        scenario: Some("bare".into()),
        ..sfsim::Options::default()
    })
    .await;
    assert!(
        describe_has(&o, "Lead", "TrailSpark_Score__c")
            .await
            .is_none()
    );
    assert!(
        describe_has(&o, "Account", "TrailSpark_Propensity__c")
            .await
            .is_none()
    );
    let q = tooling_query(
        &o,
        "SELECT Id FROM CustomField WHERE DeveloperName LIKE 'TrailSpark%'",
    )
    .await;
    assert_eq!(q.body["totalSize"], 0);
    assert_eq!(o.org.control().records("Account").len(), 100);
    let sc = sfsim::Scenario::bare();
    let d = org().await;
    d.org.control().load_scenario(&sc).unwrap();
    assert!(
        describe_has(&d, "Contact", "TrailSpark_Reasoning__c")
            .await
            .is_none()
    );
}
