//! The role matrix: every route called with every role — as an API token and as a person
//! signed in with the session cookie —, an ingest-scoped token, a revoked token, a made-up
//! token, an ended session and no credentials; expectations written from docs/api.md, not
//! from the server's own table. Then the cross-site rule: a cookie-authenticated change
//! without the CSRF token, or from another origin, is refused.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::connect::{Browser, PASSWORD, add_user};
use crate::service::{Opts, create_token, evaluation, setup};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    Public,
    SignedIn,
    IngestOrEditor,
    Viewer,
    Admin,
    Owner,
}

#[tokio::test]
async fn every_route_checks_the_role_the_contract_gives_it() {
    // Without a metrics token `/metrics` is public (the other service tests set one).
    let t = setup(
        "roles",
        Opts {
            env: vec![("TRAILSPARK_METRICS_TOKEN".into(), String::new())],
            ..Opts::default()
        },
    )
    .await;
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
        (
            Method::PUT,
            "/api/v1/destinations/salesforce".into(),
            Some(json!({})),
            Need::Admin,
        ),
        (
            Method::GET,
            "/api/v1/destinations/salesforce/history".into(),
            None,
            Need::Viewer,
        ),
        (
            Method::POST,
            "/api/v1/integrations/salesforce".into(),
            Some(json!({"name": "matrix", "client_id": "3MVG9matrix", "sandbox": true})),
            Need::Admin,
        ),
        (
            Method::GET,
            "/api/oauth/callback/salesforce?code=x&state=y".into(),
            None,
            Need::Public,
        ),
        (
            Method::POST,
            "/api/v1/integrations/sim/test".into(),
            None,
            Need::Viewer,
        ),
        (
            Method::DELETE,
            "/api/v1/integrations/not-there".into(),
            None,
            Need::Admin,
        ),
        (
            Method::GET,
            "/api/v1/integrations/sim/objects/Lead/fields?slot=score".into(),
            None,
            Need::Viewer,
        ),
        (
            Method::POST,
            "/api/v1/integrations/sim/setup?dry_run=true".into(),
            None,
            Need::Viewer,
        ),
        (Method::GET, "/api/v1/users".into(), None, Need::Owner),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({})),
            Need::Owner,
        ),
        (
            Method::PATCH,
            "/api/v1/users/not-there".into(),
            Some(json!({"role": "viewer"})),
            Need::Owner,
        ),
        (
            Method::DELETE,
            "/api/v1/users/not-there".into(),
            None,
            Need::Owner,
        ),
        (Method::GET, "/api/v1/audit".into(), None, Need::Admin),
        (
            Method::POST,
            "/api/v1/session".into(),
            Some(json!({})),
            Need::Public,
        ),
        (Method::GET, "/api/v1/session".into(), None, Need::SignedIn),
        (Method::GET, "/healthz".into(), None, Need::Public),
        (Method::GET, "/readyz".into(), None, Need::Public),
        (Method::GET, "/metrics".into(), None, Need::Public),
        (Method::GET, "/api/openapi.json".into(), None, Need::Public),
        // Last: it ends the sessions the matrix signs in with.
        (
            Method::DELETE,
            "/api/v1/session".into(),
            None,
            Need::SignedIn,
        ),
    ];
    let base = t.svc.base.clone().expect("an API");
    let mut people = Vec::new();
    for role in ["owner", "admin", "editor", "viewer"] {
        let email = format!("{role}@roles.example");
        add_user(&t.config, &email, role).await;
        people.push((role, Browser::sign_in(&base, &email, PASSWORD).await));
    }
    cross_site_changes_are_refused(&people[0].1).await;
    let ended = Browser::sign_in(&base, "viewer@roles.example", PASSWORD).await;
    let (status, _) = ended.send(Method::DELETE, "/api/v1/session", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
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
    let rank = |who: &str| match who.trim_start_matches("session:") {
        "owner" => 4,
        "admin" => 3,
        "editor" => 2,
        "viewer" => 1,
        _ => 0,
    };
    for (method, path, body, need) in &routes {
        for (who, token) in &callers {
            check(
                &t,
                method,
                path,
                body,
                need,
                who,
                Call::Token(token.as_deref()),
                &rank,
            )
            .await;
        }
        for (role, browser) in &people {
            let who = format!("session:{role}");
            check(
                &t,
                method,
                path,
                body,
                need,
                &who,
                Call::Cookie(browser),
                &rank,
            )
            .await;
        }
        check(
            &t,
            method,
            path,
            body,
            need,
            "ended-session",
            Call::Cookie(&ended),
            &rank,
        )
        .await;
    }
}

enum Call<'a> {
    Token(Option<&'a str>),
    Cookie(&'a Browser),
}

#[allow(clippy::too_many_arguments)]
async fn check(
    t: &crate::service::Setup,
    method: &Method,
    path: &str,
    body: &Option<serde_json::Value>,
    need: &Need,
    who: &str,
    call: Call<'_>,
    rank: &dyn Fn(&str) -> i32,
) {
    let authenticated = matches!(
        who.trim_start_matches("session:"),
        "owner" | "admin" | "editor" | "viewer" | "ingest"
    );
    let expected_denial = match need {
        Need::Public => None,
        _ if !authenticated => Some(StatusCode::UNAUTHORIZED),
        Need::SignedIn => None,
        Need::IngestOrEditor if who == "ingest" || rank(who) >= 2 => None,
        Need::Viewer if rank(who) >= 1 => None,
        Need::Admin if rank(who) >= 3 => None,
        Need::Owner if rank(who) >= 4 => None,
        _ => Some(StatusCode::FORBIDDEN),
    };
    let (status, v) = match call {
        Call::Token(token) => {
            t.svc
                .send(
                    method.clone(),
                    path,
                    token,
                    body.as_ref().map(|b| b.to_string().into_bytes()),
                )
                .await
        }
        Call::Cookie(b) => b.send(method.clone(), path, body.as_ref()).await,
    };
    match expected_denial {
        Some(code) => {
            assert_eq!(status, code, "{method} {path} as {who}: {v}");
            let expected = if code != StatusCode::UNAUTHORIZED {
                "forbidden"
            } else if who == "ended-session" {
                "session_expired"
            } else {
                "unauthorized"
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

/// A signed-in person's browser tricked by another site: no CSRF token, a foreign Origin,
/// or no Origin at all — each refused before the route runs; the same request with both
/// passes the check.
async fn cross_site_changes_are_refused(owner: &Browser) {
    let body = json!({"name": "csrf", "client_id": "3MVG9csrf", "sandbox": true});
    let path = "/api/v1/integrations/salesforce";
    let own = owner.base.clone();
    let token = owner.csrf.clone();
    for (origin, csrf, what) in [
        (Some(own.as_str()), None, "no CSRF token"),
        (
            Some(own.as_str()),
            Some("not-the-token"),
            "a wrong CSRF token",
        ),
        (
            Some("https://evil.example"),
            Some(token.as_str()),
            "a foreign Origin",
        ),
        (None, Some(token.as_str()), "no Origin"),
    ] {
        let (status, v) = owner
            .send_with(Method::POST, path, Some(&body), origin, csrf)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {v}");
        assert_eq!(v["error"]["code"], "csrf_refused", "{what}");
    }
    let (status, v) = owner.send(Method::POST, path, Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Reading needs neither.
    let (status, _) = owner
        .send_with(Method::GET, "/api/v1/session", None, None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
}
