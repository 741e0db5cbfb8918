//! Org setup against the emulated org: custom fields through the Tooling API, field access
//! through a permission set, and the API calls each step costs.

use salesforce::{
    Assignment, Client, ClientConfig, CustomFieldKind, CustomFieldSpec, FieldGrant, GrantRequest,
    LoginUrl, PermissionSetRef, SecretString, TokenSource, ToolingError,
};
use sfsim::RunningOrg;

const OBJECTS: [&str; 3] = ["Lead", "Contact", "Account"];
const PS: &str = "TrailSpark_Integration";

async fn bare() -> RunningOrg {
    let org = sfsim::start(sfsim::Options::default())
        .await
        .expect("emulated org starts");
    org.control()
        .load_scenario(&sfsim::Scenario::bare())
        .expect("bare");
    org
}

async fn connect(org: &RunningOrg) -> Client {
    Client::connect(ClientConfig::new(TokenSource::RefreshToken {
        login_url: LoginUrl::parse(org.url()).unwrap(),
        client_id: org.client_id().to_owned(),
        client_secret: Some(SecretString::from(org.client_secret().to_owned())),
        refresh_token: SecretString::from(org.refresh_token()),
    }))
    .await
    .expect("connects")
}

fn text(object: &str, name: &str, length: u32) -> CustomFieldSpec {
    CustomFieldSpec {
        object: object.into(),
        name: name.into(),
        label: name.trim_end_matches("__c").replace('_', " "),
        description: None,
        kind: CustomFieldKind::Text {
            length,
            external_id: false,
            unique: false,
        },
    }
}

/// API calls the org counted while `f` ran.
async fn counted<T>(org: &RunningOrg, f: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = org.control().api_calls_counted();
    let out = f.await;
    (out, org.control().api_calls_counted() - before)
}

#[tokio::test]
async fn lists_the_orgs_custom_fields_whatever_their_visibility() {
    let default = sfsim::start(sfsim::Options::default()).await.unwrap();
    let client = connect(&default).await;
    let all = client
        .list_custom_fields(&OBJECTS, &["TrailSpark_Score", "TrailSpark_Propensity"])
        .await
        .unwrap();
    let mut names: Vec<String> = all
        .iter()
        .map(|f| format!("{}.{}", f.object, f.api_name()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Account.TrailSpark_Propensity__c",
            "Contact.TrailSpark_Score__c",
            "Lead.TrailSpark_Propensity__c",
            "Lead.TrailSpark_Score__c"
        ]
    );
    assert!(all.iter().all(|f| f.id.starts_with("00N")));
    let org = bare().await;
    let client = connect(&org).await;
    assert!(
        client
            .list_custom_fields(&OBJECTS, &[])
            .await
            .unwrap()
            .iter()
            .all(|f| !f.developer_name.starts_with("TrailSpark"))
    );
}

#[tokio::test]
async fn creates_fields_25_per_call_with_typed_errors_per_field() {
    let org = bare().await;
    let client = connect(&org).await;
    let mut specs: Vec<CustomFieldSpec> = (0..27)
        .map(|i| text("Lead", &format!("F{i}__c"), 10))
        .collect();
    specs.push(text("Lead", "F3__c", 10)); // taken by the 4th
    specs.push(CustomFieldSpec {
        kind: CustomFieldKind::LongTextArea {
            length: 100,
            visible_lines: 6,
        },
        ..text("Contact", "Reasoning__c", 1)
    });
    specs.push(CustomFieldSpec {
        kind: CustomFieldKind::Picklist {
            values: vec!["hot".into(), "warm".into(), "cold".into()],
            restricted: true,
        },
        ..text("Contact", "Score__c", 1)
    });
    let (results, calls) = counted(&org, client.create_custom_fields(&specs)).await;
    assert_eq!(calls, 2, "30 fields: two tooling/composite calls");
    assert_eq!(results.len(), 30);
    assert!(results[..27].iter().all(Result::is_ok), "{results:?}");
    match &results[27] {
        Err(ToolingError::DuplicateName {
            object,
            name,
            message,
        }) => {
            assert_eq!((object.as_str(), name.as_str()), ("Lead", "F3__c"));
            assert_eq!(message, "There is already a field named F3 on Lead.");
        }
        other => panic!("{other:?}"),
    }
    match &results[28] {
        Err(ToolingError::BadMetadata { code, message }) => {
            assert_eq!(code, "FIELD_INTEGRITY_EXCEPTION");
            assert!(message.contains("at least 256"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let picklist = results[29].as_ref().unwrap().clone();
    let meta = client
        .custom_field_metadata(&[picklist])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(meta.field_type, "Picklist");
    assert_eq!(meta.picklist_values, ["hot", "warm", "cold"]);
    assert!(meta.restricted);
    // Created, but not visible to the integration user yet.
    let lead = client.describe_many(&["Lead"]).await.unwrap();
    assert!(lead[0].field("F0__c").is_none());
}

#[tokio::test]
async fn without_customize_application_the_error_names_the_permission() {
    let org = bare().await;
    org.control()
        .load_scenario_str("[user]\ncustomize_application = false")
        .unwrap();
    let client = connect(&org).await;
    let r = client
        .create_custom_fields(&[text("Lead", "A__c", 10)])
        .await
        .remove(0);
    let e = r.unwrap_err();
    assert!(matches!(e, ToolingError::CannotCustomize { .. }), "{e:?}");
    assert!(e.to_string().contains("\"Customize Application\""), "{e}");
}

#[tokio::test]
async fn one_call_creates_the_permission_set_grants_and_assigns() {
    let org = bare().await;
    let client = connect(&org).await;
    let me = client.identity().await.unwrap();
    let specs = [text("Lead", "A__c", 10), text("Account", "B__c", 20)];
    let created = client.create_custom_fields(&specs).await;
    assert!(created.iter().all(Result::is_ok));

    let (state, calls) =
        counted(&org, client.permission_set_state(PS, &me.user_id, &OBJECTS)).await;
    assert_eq!(calls, 1);
    assert_eq!(state.unwrap(), Default::default());

    let req = GrantRequest {
        permission_set: PermissionSetRef::Create {
            name: PS.into(),
            label: "TrailSpark Integration".into(),
            description: "d".into(),
        },
        grants: vec![
            FieldGrant {
                field: "Lead.A__c".into(),
                existing: None,
            },
            FieldGrant {
                field: "Account.B__c".into(),
                existing: None,
            },
            FieldGrant {
                field: "Lead.Nope__c".into(),
                existing: None,
            },
        ],
        assign_to: Some(me.user_id.clone()),
    };
    let (out, calls) = counted(&org, client.grant_field_access(&req)).await;
    assert_eq!((calls, out.calls), (1, 1));
    let ps = out.permission_set.clone().unwrap();
    assert!(ps.starts_with("0PS"));
    assert!(out.grants[0].is_ok() && out.grants[1].is_ok(), "{out:?}");
    assert_eq!(
        out.grants[2].as_ref().unwrap_err().error_code(),
        Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    );
    assert!(matches!(out.assignment, Some(Ok(Assignment::Created(_)))));

    let d = client.describe_many(&["Lead", "Account"]).await.unwrap();
    assert!(d[0].field("A__c").unwrap().updateable);
    assert!(d[1].field("B__c").unwrap().updateable);

    let state = client
        .permission_set_state(PS, &me.user_id, &OBJECTS)
        .await
        .unwrap();
    assert_eq!(state.permission_set.unwrap().id, ps);
    assert!(state.assigned);
    let mut fields: Vec<(String, bool, bool)> = state
        .field_permissions
        .iter()
        .map(|f| (f.field.clone(), f.read, f.edit))
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            ("Account.B__c".to_string(), true, true),
            ("Lead.A__c".to_string(), true, true)
        ]
    );
    // Assigning again is not an error.
    assert_eq!(
        client.assign_permission_set(&ps, &me.user_id).await,
        Ok(Assignment::AlreadyAssigned)
    );
    // Finding it again creates nothing.
    let (found, calls) = counted(
        &org,
        client.find_or_create_permission_set(PS, "TrailSpark Integration", "d"),
    )
    .await;
    assert_eq!((found.unwrap().id, calls), (ps, 1));
}

#[tokio::test]
async fn an_existing_read_only_row_is_completed_and_a_failed_set_fails_every_grant() {
    let org = bare().await;
    let client = connect(&org).await;
    let me = client.identity().await.unwrap();
    client
        .create_custom_fields(&[text("Contact", "C__c", 10)])
        .await
        .remove(0)
        .unwrap();
    let ps = client
        .find_or_create_permission_set("Other", "Other", "d")
        .await
        .unwrap();
    // A read-only row made by hand in Setup.
    let made = reqwest::Client::new()
        .post(format!("{}/services/data/v62.0/sobjects/FieldPermissions", org.url()))
        .bearer_auth(org.access_token())
        .json(&serde_json::json!({"ParentId": ps.id, "SobjectType": "Contact", "Field": "Contact.C__c", "PermissionsRead": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    client
        .assign_permission_set(&ps.id, &me.user_id)
        .await
        .unwrap();
    let readable = client.describe_many(&["Contact"]).await.unwrap();
    assert!(!readable[0].field("C__c").unwrap().updateable);
    let state = client
        .permission_set_state("Other", &me.user_id, &OBJECTS)
        .await
        .unwrap();
    let id = state.field_permissions[0].id.clone();
    let again = client
        .grant_field_access(&GrantRequest {
            permission_set: PermissionSetRef::Existing(ps.id.clone()),
            grants: vec![FieldGrant {
                field: "Contact.C__c".into(),
                existing: Some(id),
            }],
            assign_to: None,
        })
        .await;
    assert!(again.grants[0].is_ok(), "{again:?}");
    let editable = client.describe_many(&["Contact"]).await.unwrap();
    assert!(editable[0].field("C__c").unwrap().updateable);

    let bad = client
        .grant_field_access(&GrantRequest {
            permission_set: PermissionSetRef::Create {
                name: "Bad Name".into(),
                label: "x".into(),
                description: "d".into(),
            },
            grants: vec![FieldGrant {
                field: "Contact.C__c".into(),
                existing: None,
            }],
            assign_to: Some(me.user_id),
        })
        .await;
    let code =
        |r: &Result<(), salesforce::Error>| r.as_ref().unwrap_err().error_code().map(str::to_owned);
    assert_eq!(
        bad.permission_set.as_ref().unwrap_err().error_code(),
        Some("FIELD_INTEGRITY_EXCEPTION")
    );
    assert_eq!(
        code(&bad.grants[0]).as_deref(),
        Some("FIELD_INTEGRITY_EXCEPTION")
    );
    assert!(matches!(bad.assignment, Some(Err(_))));
}
