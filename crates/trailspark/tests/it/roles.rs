//! The role matrix: every route called with every role, an ingest-scoped token, a revoked
//! token, a made-up token and no token; expectations written from contract §4, not from
//! the server's own table.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::service::{Opts, create_token, evaluation, setup};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    Public,
    IngestOrEditor,
    Viewer,
    Admin,
}

#[tokio::test]
async fn every_route_checks_the_role_the_contract_gives_it() {
    let t = setup("roles", Opts::default()).await;
    let admin = create_token(&t.config, "admin", &["--role", "admin"]).await;
    let editor = create_token(&t.config, "editor", &["--role", "editor"]).await;
    let viewer = create_token(&t.config, "viewer", &["--role", "viewer"]).await;
    let ingest = create_token(&t.config, "ingest", &["--scope", "ingest"]).await;
    let revoked = create_token(&t.config, "gone", &["--role", "owner"]).await;
    let o = crate::sync::trailspark(
        &[
            "token",
            "revoke",
            "--name",
            "gone",
            "--config",
            t.config.to_str().expect("utf-8"),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", crate::sync::stderr(&o));
    let listed = crate::sync::trailspark(
        &[
            "token",
            "list",
            "--json",
            "--config",
            t.config.to_str().expect("utf-8"),
        ],
        &[],
        None,
    )
    .await;
    let listed = crate::sync::stdout(&listed);
    assert_eq!(listed.lines().count(), 6, "{listed}");
    assert!(!listed.contains(&revoked), "secrets are never listed");

    let ev = evaluation("role-ev", "role.person@example.com", "cold");
    let routes: Vec<(Method, String, Option<serde_json::Value>, Need)> = vec![
        (
            Method::POST,
            "/api/v1/evaluations".into(),
            Some(ev.clone()),
            Need::IngestOrEditor,
        ),
        (
            Method::GET,
            "/api/v1/evaluations/role-ev".into(),
            None,
            Need::Viewer,
        ),
        (Method::GET, "/api/v1/deliveries".into(), None, Need::Viewer),
        (
            Method::POST,
            "/api/v1/deliveries/1/retry".into(),
            Some(json!({})),
            Need::Admin,
        ),
        (
            Method::POST,
            "/api/v1/deliveries/retry?outcome=failed".into(),
            Some(json!({})),
            Need::Admin,
        ),
        (
            Method::POST,
            "/api/v1/destinations/salesforce/replay".into(),
            Some(json!({"from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z"})),
            Need::Admin,
        ),
        (
            Method::GET,
            "/api/v1/destinations/salesforce".into(),
            None,
            Need::Viewer,
        ),
        (
            Method::GET,
            "/api/v1/integrations".into(),
            None,
            Need::Viewer,
        ),
        (Method::GET, "/healthz".into(), None, Need::Public),
        (Method::GET, "/readyz".into(), None, Need::Public),
        (Method::GET, "/metrics".into(), None, Need::Public),
        (Method::GET, "/api/openapi.json".into(), None, Need::Public),
    ];
    let callers: Vec<(&str, Option<String>)> = vec![
        ("owner", Some(t.owner.clone())),
        ("admin", Some(admin)),
        ("editor", Some(editor)),
        ("viewer", Some(viewer)),
        ("ingest", Some(ingest)),
        ("revoked", Some(revoked)),
        (
            "made-up",
            Some("ts_0000000000000000000000000000000000000000000000000000000000000000".into()),
        ),
        ("none", None),
    ];
    let rank = |who: &str| match who {
        "owner" => 4,
        "admin" => 3,
        "editor" => 2,
        "viewer" => 1,
        _ => 0,
    };
    for (method, path, body, need) in &routes {
        for (who, token) in &callers {
            let authenticated = matches!(*who, "owner" | "admin" | "editor" | "viewer" | "ingest");
            let expected_denial = match need {
                Need::Public => None,
                _ if !authenticated => Some(StatusCode::UNAUTHORIZED),
                Need::IngestOrEditor if *who == "ingest" || rank(who) >= 2 => None,
                Need::Viewer if rank(who) >= 1 => None,
                Need::Admin if rank(who) >= 3 => None,
                _ => Some(StatusCode::FORBIDDEN),
            };
            let (status, v) = t
                .svc
                .send(
                    method.clone(),
                    path,
                    token.as_deref(),
                    body.as_ref().map(|b| b.to_string().into_bytes()),
                )
                .await;
            match expected_denial {
                Some(code) => {
                    assert_eq!(status, code, "{method} {path} as {who}: {v}");
                    let expected = if code == StatusCode::UNAUTHORIZED {
                        "unauthorized"
                    } else {
                        "forbidden"
                    };
                    assert_eq!(v["error"]["code"], expected, "{method} {path} as {who}");
                }
                None => assert!(
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN
                        && !status.is_server_error(),
                    "{method} {path} as {who}: {status} {v}"
                ),
            }
        }
    }
}
