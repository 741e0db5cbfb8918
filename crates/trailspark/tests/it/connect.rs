//! Connecting and configuring through the service, as the settings page does it: a person
//! signs in (session cookie + CSRF token), connects the emulated org through OAuth
//! (authorization code + PKCE), tests and disconnects it, and saves destination settings
//! that are checked against the org's live metadata. Everything runs against a real
//! `trailspark serve` whose config file has only a `[server]` table.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::service::{Opts, Service, contacts, evaluation, org, sqlite_url};
use crate::sync::{Scratch, stderr, trailspark};

pub const PASSWORD: &str = "a long test password";

/// A service with no integration and no destination in its config file.
pub struct Bare {
    pub scratch: Scratch,
    pub org: sfsim::RunningOrg,
    pub config: PathBuf,
    pub svc: Service,
}

pub async fn bare(tag: &str, env: Vec<(String, String)>) -> Bare {
    let scratch = Scratch::new(tag);
    let org = org().await;
    let db = sqlite_url(&scratch);
    let config = scratch.write(
        "config.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\n\n[server.worker]\nlinger_ms = 20\nbatch_size = 50\n"
        ),
    );
    let opts = Opts {
        env,
        ..Opts::default()
    };
    let svc = Service::start(&scratch, &org, &config, &opts, "serve").await;
    Bare {
        scratch,
        org,
        config,
        svc,
    }
}

/// The Owner `owner@acme.example`, added and signed in.
pub async fn owner(t: &Bare) -> Browser {
    add_user(&t.config, "owner@acme.example", "owner").await;
    let base = t.svc.base.as_deref().expect("an API");
    Browser::sign_in(base, "owner@acme.example", PASSWORD).await
}

/// The same, with the emulated org connected as `name`.
pub async fn connected_owner(t: &Bare, name: &str) -> Browser {
    let b = owner(t).await;
    let (status, v, _) = b.connect(&t.org, name).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    b
}

/// `trailspark user add` with the test password.
pub async fn add_user(config: &std::path::Path, email: &str, role: &str) {
    let o = trailspark(
        &[
            "user",
            "add",
            "--config",
            config.to_str().expect("utf-8"),
            "--email",
            email,
            "--role",
            role,
        ],
        &[("TRAILSPARK_PASSWORD", PASSWORD.to_string())],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "user add: {}", stderr(&o));
}

/// A signed-in browser: the session cookie, the CSRF token and this service's origin on
/// every request; redirects are not followed, so each hop can be checked.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Browser {
    pub async fn sign_in(base: &str, email: &str, password: &str) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let resp = http
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("sign-in reaches the service");
        assert_eq!(resp.status(), StatusCode::OK, "sign in as {email}");
        let set_cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie")
            .to_string();
        assert!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
            "{set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
        let body: Value = resp.json().await.expect("json");
        Browser {
            http,
            base: base.to_string(),
            cookie,
            csrf: body["csrf_token"].as_str().expect("csrf token").to_string(),
        }
    }

    /// A request as the page sends it (cookie, Origin, X-CSRF-Token).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.send_with(
            method,
            path,
            body,
            Some(&self.base.clone()),
            Some(&self.csrf.clone()),
        )
        .await
    }

    /// The same with a chosen Origin and CSRF token (either left out when `None`).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        origin: Option<&str>,
        csrf: Option<&str>,
    ) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self
            .http
            .request(method, url)
            .header("cookie", &self.cookie);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request reaches the service");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Connect → the org's authorize page, approved → the callback. Returns the callback's
    /// answer and the callback URL (to try reusing it).
    pub async fn connect(
        &self,
        org: &sfsim::RunningOrg,
        name: &str,
    ) -> (StatusCode, Value, String) {
        let (status, begun) = self
            .send(
                Method::POST,
                "/api/v1/integrations/salesforce",
                Some(&json!({"name": name, "client_id": org.client_id(), "sandbox": false, "login_url": org.url()})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{begun}");
        let authorize = begun["authorize_url"].as_str().expect("authorize_url");
        let u = url::Url::parse(authorize).expect("a URL");
        let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "api refresh_token offline_access");
        assert_eq!(
            q["redirect_uri"],
            format!("{}/api/oauth/callback/salesforce", self.base)
        );
        assert!(q["state"].len() >= 32, "a long random state");
        let mut approve = u.clone();
        approve
            .query_pairs_mut()
            .append_pair(sfsim::oauth::AUTO_APPROVE_PARAM, "true");
        let consent = self.http.get(approve).send().await.expect("authorize page");
        assert_eq!(consent.status(), StatusCode::FOUND);
        let callback = consent.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        assert!(callback.starts_with(&q["redirect_uri"]), "{callback}");
        let (status, body) = self
            .send_with(Method::GET, &callback, None, None, None)
            .await;
        (status, body, callback)
    }
}

/// The suggested settings for an integration, with creates for hot leads.
pub fn settings_for(integration: &str) -> Value {
    json!({
        "enabled": true,
        "integration": integration,
        "create_records": {"enabled": true, "score_levels": ["hot"]},
        "lead": {"score_field": "TrailSpark_Score__c", "evaluation_date_field": "TrailSpark_Evaluation_Date__c", "reasoning_field": "TrailSpark_Reasoning__c"},
        "contact": {"score_field": "TrailSpark_Score__c", "evaluation_date_field": "TrailSpark_Evaluation_Date__c", "reasoning_field": "TrailSpark_Reasoning__c"},
        "propensity": {"account_field": "TrailSpark_Propensity__c", "lead_field": "TrailSpark_Propensity__c"}
    })
}

async fn delivery_state(b: &Browser, id: &str) -> Value {
    let (_, v) = b
        .send(Method::GET, &format!("/api/v1/evaluations/{id}"), None)
        .await;
    v
}

async fn wait_outcome(b: &Browser, id: &str, outcome: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = delivery_state(b, id).await;
        if last["deliveries"][0]["outcome"] == outcome {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never became {outcome}: {last}");
}

#[tokio::test]
async fn an_admin_connects_tests_disconnects_and_reconnects_an_org_without_losing_evaluations() {
    let t = bare("connect", Vec::new()).await;
    let b = owner(&t).await;

    // Connect through the org's authorize page with PKCE.
    let (status, connected, callback) = b.connect(&t.org, "production").await;
    assert_eq!(status, StatusCode::OK, "{connected}");
    assert_eq!(connected["connected"], "production");
    assert!(
        connected["username"]
            .as_str()
            .is_some_and(|u| u.contains('@'))
    );
    // The state is single use.
    let (again, v) = b.send_with(Method::GET, &callback, None, None, None).await;
    assert_eq!(again, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_state");

    let (_, list) = b.send(Method::GET, "/api/v1/integrations", None).await;
    let item = &list["items"][0];
    assert_eq!(item["name"], "production");
    assert_eq!(item["managed_by"], "database");
    assert_eq!(item["username"], connected["username"]);

    // Test Connection.
    let (status, tested) = b
        .send(Method::POST, "/api/v1/integrations/production/test", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(tested["org_id"].as_str().is_some());
    assert!(
        tested["daily_api_requests"]["max"].as_u64().unwrap_or(0) > 0,
        "{tested}"
    );

    // Settings saved through the API take effect without a restart.
    let (status, saved) = b
        .send(
            Method::PUT,
            "/api/v1/destinations/salesforce",
            Some(&settings_for("production")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["meta"]["version"], 1);
    let people = contacts(&t.org, 2);
    let (status, v) = b
        .send(
            Method::POST,
            "/api/v1/evaluations",
            Some(&evaluation("c-1", &people[0].0, "hot")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    wait_outcome(&b, "c-1", "updated").await;

    // Disconnect: the org sees the revocation; the secrets are gone.
    let live_before = t.org.auth().refresh_tokens().len();
    let (status, v) = b
        .send(Method::DELETE, "/api/v1/integrations/production", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["revoked_at_salesforce"], true);
    assert_eq!(t.org.auth().refresh_tokens().len(), live_before - 1);
    let (_, list) = b.send(Method::GET, "/api/v1/integrations", None).await;
    assert_eq!(list["items"][0]["status"], "disconnected", "{list}");

    // An evaluation for the disconnected org waits, queued, not failed.
    let (status, _) = b
        .send(
            Method::POST,
            "/api/v1/evaluations",
            Some(&evaluation("c-2", &people[1].0, "warm")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = delivery_state(&b, "c-2").await;
    assert_eq!(waiting["deliveries"][0]["state"], "pending", "{waiting}");
    assert_eq!(waiting["deliveries"][0]["attempts"], 0, "{waiting}");

    // Reconnecting delivers it.
    let (status, v, _) = b.connect(&t.org, "production").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    wait_outcome(&b, "c-2", "updated").await;

    // The audit log has the story, without secrets.
    let (_, audit) = b.send(Method::GET, "/api/v1/audit", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "session.sign_in",
        "connection.begin",
        "connection.connect",
        "connection.test",
        "settings.save",
        "connection.disconnect",
        "user.create",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[tokio::test]
async fn a_denied_consent_or_a_foreign_session_stores_nothing() {
    let t = bare("connect-denied", Vec::new()).await;
    add_user(&t.config, "owner@acme.example", "owner").await;
    add_user(&t.config, "admin@acme.example", "admin").await;
    let base = t.svc.base.clone().unwrap();
    let owner = Browser::sign_in(&base, "owner@acme.example", PASSWORD).await;
    let admin = Browser::sign_in(&base, "admin@acme.example", PASSWORD).await;

    let begin = |b: &Browser| {
        let body = json!({"name": "prod", "client_id": t.org.client_id(), "sandbox": false, "login_url": t.org.url()});
        let b = b.clone_ref();
        async move {
            let (_, v) = b
                .send(Method::POST, "/api/v1/integrations/salesforce", Some(&body))
                .await;
            let u = url::Url::parse(v["authorize_url"].as_str().unwrap()).unwrap();
            u.query_pairs()
                .find(|(k, _)| k == "state")
                .unwrap()
                .1
                .into_owned()
        }
    };
    // Denied at the org.
    let state = begin(&owner).await;
    let (status, v) = owner
        .send_with(
            Method::GET,
            &format!("/api/oauth/callback/salesforce?error=access_denied&error_description=end-user+denied+authorization&state={state}"),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "consent_denied");
    // Completed in another person's session.
    let state = begin(&owner).await;
    let (status, v) = admin
        .send_with(
            Method::GET,
            &format!("/api/oauth/callback/salesforce?code=whatever&state={state}"),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    // A made-up state.
    let (status, v) = owner
        .send_with(
            Method::GET,
            "/api/oauth/callback/salesforce?code=x&state=made-up",
            None,
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (_, list) = owner.send(Method::GET, "/api/v1/integrations", None).await;
    assert_eq!(list["items"], json!([]), "nothing stored: {list}");
}

impl Browser {
    fn clone_ref(&self) -> Browser {
        Browser {
            http: self.http.clone(),
            base: self.base.clone(),
            cookie: self.cookie.clone(),
            csrf: self.csrf.clone(),
        }
    }
}

#[tokio::test]
async fn saving_settings_names_every_problem_against_the_org() {
    let t = bare("settings-problems", Vec::new()).await;
    // A Date field, a read-only field and a picklist without `warm` on Contact.
    t.org
        .control()
        .load_scenario_str(
            r#"
[[fields]]
object = "Contact"
name = "Scored_On__c"
label = "Scored On"
type = "date"

[[fields]]
object = "Contact"
name = "Locked_Reasoning__c"
label = "Locked Reasoning"
type = "textarea"
length = 32000
updateable = false

[[fields]]
object = "Lead"
name = "Rating_Pick__c"
label = "Rating Pick"
type = "picklist"
picklist = ["hot", "cold"]
restricted = true
"#,
        )
        .expect("scenario");
    let b = connected_owner(&t, "prod").await;
    let mut s = settings_for("prod");
    s["contact"]["score_field"] = json!("Scored_On__c");
    s["contact"]["reasoning_field"] = json!("Locked_Reasoning__c");
    s["contact"]["evaluation_date_field"] = json!("No_Such_Field__c");
    s["lead"]["score_field"] = json!("Rating_Pick__c");

    for path in [
        "/api/v1/destinations/salesforce?validate_only=true",
        "/api/v1/destinations/salesforce",
    ] {
        let (status, v) = b.send(Method::PUT, path, Some(&s)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let mut got: Vec<(String, String)> = v["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["key"].as_str().unwrap().to_string(),
                    d["code"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "contact.evaluation_date_field".to_string(),
                    "field_missing".to_string()
                ),
                (
                    "contact.reasoning_field".to_string(),
                    "field_not_editable".to_string()
                ),
                (
                    "contact.score_field".to_string(),
                    "field_type_mismatch".to_string()
                ),
                (
                    "lead.score_field".to_string(),
                    "picklist_missing_values".to_string()
                ),
            ],
            "{v}"
        );
        for d in v["error"]["details"].as_array().unwrap() {
            assert!(d["fix"].as_str().is_some_and(|f| !f.is_empty()), "{d}");
        }
    }
    let (_, history) = b
        .send(Method::GET, "/api/v1/destinations/salesforce/history", None)
        .await;
    assert_eq!(history["items"], json!([]), "nothing saved");

    // The fixed settings validate and save; the field options explain the dropdown.
    let good = settings_for("prod");
    let (status, v) = b
        .send(
            Method::PUT,
            "/api/v1/destinations/salesforce?validate_only=true",
            Some(&good),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, options) = b
        .send(
            Method::GET,
            "/api/v1/integrations/prod/objects/Contact/fields?slot=score",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let offered: Vec<&str> = options["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["display"].as_str())
        .collect();
    assert!(
        offered.contains(&"TrailSpark Score (TrailSpark_Score__c)"),
        "{offered:?}"
    );
    let why = options["not_offered"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Scored_On__c")
        .expect("the Date field is explained");
    assert!(
        why["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{why}"
    );
}

#[tokio::test]
async fn saved_settings_take_effect_on_the_next_batch_and_a_retry_sees_a_new_field() {
    let t = bare("settings-live", Vec::new()).await;
    let b = connected_owner(&t, "prod").await;
    let (status, v) = b
        .send(
            Method::PUT,
            "/api/v1/destinations/salesforce",
            Some(&settings_for("prod")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let people = contacts(&t.org, 3);

    // Map the Contact score to another field: the next evaluation lands there.
    t.org
        .control()
        .load_scenario_str(
            "[[fields]]\nobject = \"Contact\"\nname = \"AI_Score__c\"\nlabel = \"AI Score\"\ntype = \"string\"\nlength = 20\n",
        )
        .expect("scenario");
    let mut s = settings_for("prod");
    s["contact"]["score_field"] = json!("AI_Score__c");
    let (status, v) = b
        .send(Method::PUT, "/api/v1/destinations/salesforce", Some(&s))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    b.send(
        Method::POST,
        "/api/v1/evaluations",
        Some(&evaluation("l-1", &people[0].0, "warm")),
    )
    .await;
    wait_outcome(&b, "l-1", "updated").await;
    let rec = t.org.control().record(&people[0].1).expect("the contact");
    assert_eq!(rec["AI_Score__c"], "warm", "{rec}");
}

/// The first troubleshooting path of docs/product.md#troubleshooting: a mapped Contact field
/// missing in the org fails the delivery; the admin creates the field in Salesforce and retries;
/// the retry delivers without a restart (the retry makes the workers read the org's fields again).
#[tokio::test]
async fn a_retry_after_the_field_is_created_delivers_without_a_restart() {
    let scratch = Scratch::new("stale-metadata");
    let org = org().await;
    let db = sqlite_url(&scratch);
    let o = Opts::default();
    let text = crate::service::config_text(&org, &db, &o).replacen(
        "[destinations.salesforce.contact]\nscore_field = \"TrailSpark_Score__c\"\nevaluation_date_field = \"TrailSpark_Evaluation_Date__c\"\nreasoning_field = \"TrailSpark_Reasoning__c\"",
        "[destinations.salesforce.contact]\nscore_field = \"TrailSpark_Score__c\"\nevaluation_date_field = \"TrailSpark_Evaluation_Date__c\"\nreasoning_field = \"Late_Reasoning__c\"",
        1,
    );
    assert!(text.contains("Late_Reasoning__c"));
    let config = scratch.write("config.toml", &text);
    let owner = crate::service::create_token(&config, "owner", &["--role", "owner"]).await;
    let svc = Service::start(&scratch, &org, &config, &o, "serve").await;
    let (email, contact_id) = contacts(&org, 1).remove(0);
    let (status, v) = svc
        .ingest(&owner, &evaluation("late-1", &email, "hot"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let failed = svc
        .wait_outcome(&owner, "late-1", Duration::from_secs(20), "failed")
        .await;
    assert_eq!(failed["error"]["code"], "INVALID_FIELD", "{failed}");

    org.control()
        .load_scenario_str(
            "[[fields]]\nobject = \"Contact\"\nname = \"Late_Reasoning__c\"\nlabel = \"Late Reasoning\"\ntype = \"textarea\"\nlength = 32000\n",
        )
        .expect("the field is created in the org");
    let id = failed["delivery_id"].as_i64().expect("delivery id");
    let (status, v) = svc
        .post(
            &format!("/api/v1/deliveries/{id}/retry"),
            &owner,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    svc.wait_outcome(&owner, "late-1", Duration::from_secs(20), "updated")
        .await;
    let rec = org.control().record(&contact_id).expect("the contact");
    assert!(
        rec["Late_Reasoning__c"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{rec}"
    );
}

#[tokio::test]
async fn stored_secrets_are_unreadable_in_the_database_file_and_absent_from_logs() {
    let t = bare("connect-secrets", vec![("RUST_LOG".into(), "trace".into())]).await;
    let b = connected_owner(&t, "prod").await;
    let (status, _) = b
        .send(Method::POST, "/api/v1/integrations/prod/test", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let refresh_tokens = t.org.auth().refresh_tokens();
    assert!(!refresh_tokens.is_empty());
    let mut db_bytes = Vec::new();
    for entry in std::fs::read_dir(&t.scratch.0).expect("scratch") {
        let p = entry.expect("entry").path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("trailspark.db"))
        {
            db_bytes.extend(std::fs::read(&p).expect("db file"));
        }
    }
    assert!(!db_bytes.is_empty());
    let db_text = String::from_utf8_lossy(&db_bytes);
    let log = t.svc.log_tail();
    for secret in refresh_tokens
        .iter()
        .map(String::as_str)
        .chain([PASSWORD, b.cookie.split('=').nth(1).unwrap()])
    {
        assert!(
            !db_text.contains(secret),
            "a secret is readable in the database file"
        );
        assert!(!log.contains(secret), "a secret is in the trace log");
    }
    assert!(
        log.contains("TRACE") || log.contains("trace"),
        "the log is at trace level"
    );
}

/// "Set up the org for me" through the API on an org without any TrailSpark field: anyone
/// may see the plan, only an Owner or Admin may apply it; once applied the suggested
/// settings save cleanly and a second run has nothing to do.
#[tokio::test]
async fn the_setup_route_shows_the_plan_to_viewers_and_applies_it_for_admins() {
    let t = bare("setup-api", Vec::new()).await;
    t.org
        .control()
        .load_scenario(&sfsim::Scenario::bare())
        .expect("bare org");
    add_user(&t.config, "owner@acme.example", "owner").await;
    add_user(&t.config, "viewer@acme.example", "viewer").await;
    let base = t.svc.base.clone().unwrap();
    let owner = Browser::sign_in(&base, "owner@acme.example", PASSWORD).await;
    let viewer = Browser::sign_in(&base, "viewer@acme.example", PASSWORD).await;
    let (status, v, _) = owner.connect(&t.org, "prod").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // The suggested settings cannot be saved yet: the fields are missing.
    let (status, v) = owner
        .send(
            Method::PUT,
            "/api/v1/destinations/salesforce",
            Some(&settings_for("prod")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    let (status, plan) = viewer
        .send(
            Method::POST,
            "/api/v1/integrations/prod/setup?dry_run=true",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let creates: Vec<&str> = plan["plan"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == "create")
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(creates.len(), 7, "the seven suggested fields: {plan}");
    assert!(
        creates.contains(&"Account.TrailSpark_Propensity__c"),
        "{creates:?}"
    );
    assert_eq!(plan["applied"], Value::Null);
    let (status, v) = viewer
        .send(Method::POST, "/api/v1/integrations/prod/setup", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");

    let (status, done) = owner
        .send(Method::POST, "/api/v1/integrations/prod/setup", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["applied"]["failures"], 0, "{done}");
    assert!(done["api_calls"].as_u64().is_some_and(|n| n <= 6), "{done}");
    let (status, again) = owner
        .send(Method::POST, "/api/v1/integrations/prod/setup", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["nothing_to_do"], true, "{again}");
    assert_eq!(again["applied"], Value::Null, "no write on a second run");

    // The seven fields hold the suggested mapping (the Lead propensity fallback is an
    // eighth field, set up when the settings map it).
    let mut s = settings_for("prod");
    s["propensity"]["lead_field"] = Value::Null;
    let (status, v) = owner
        .send(Method::PUT, "/api/v1/destinations/salesforce", Some(&s))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, audit) = owner.send(Method::GET, "/api/v1/audit", None).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "setup.apply"),
        "{audit}"
    );
}

/// The Destinations page's "Create missing fields": the plan is shown first, Apply creates
/// the fields and returns to the Destinations tab, and the suggested mapping then saves.
#[tokio::test]
async fn create_missing_fields_from_the_settings_page_ends_with_a_working_mapping() {
    let t = bare("setup-page", Vec::new()).await;
    t.org
        .control()
        .load_scenario(&sfsim::Scenario::bare())
        .expect("bare org");
    add_user(&t.config, "owner@acme.example", "owner").await;
    let base = t.svc.base.clone().unwrap();
    let owner = Browser::sign_in(&base, "owner@acme.example", PASSWORD).await;
    let (status, v, _) = owner.connect(&t.org, "prod").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let page = |path: &str| {
        let req = owner
            .http
            .get(format!("{base}{path}"))
            .header("cookie", &owner.cookie)
            .header("accept", "text/html");
        async move { req.send().await.expect("page").text().await.expect("html") }
    };
    let destinations = page("/settings/crm-integration/destinations").await;
    assert!(
        destinations.contains("/settings/crm-integration/prod/setup"),
        "the Destinations tab offers Create missing fields"
    );
    let plan = page("/settings/crm-integration/prod/setup").await;
    assert!(plan.contains("Lead.TrailSpark_Score__c"), "{plan}");
    assert!(plan.contains("Create"), "{plan}");
    assert!(plan.contains("Nothing has changed yet"), "{plan}");
    let applied = owner
        .http
        .post(format!("{base}/settings/crm-integration/prod/setup"))
        .header("cookie", &owner.cookie)
        .header("origin", &base)
        .form(&[("csrf_token", owner.csrf.as_str())])
        .send()
        .await
        .expect("apply");
    assert_eq!(applied.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        applied.headers()["location"],
        "/settings/crm-integration/destinations?setup=done"
    );
    let again = page("/settings/crm-integration/prod/setup").await;
    assert!(again.contains("Nothing to do"), "{again}");
    // The person key is offered, and created when asked for.
    assert!(again.contains("name=\"person_key\""), "{again}");
    let keyed = page("/settings/crm-integration/prod/setup?person_key=true").await;
    assert!(keyed.contains("Lead.TrailSpark_Person_Key__c"), "{keyed}");
    assert!(keyed.contains("External ID"), "{keyed}");
    let applied = owner
        .http
        .post(format!("{base}/settings/crm-integration/prod/setup"))
        .header("cookie", &owner.cookie)
        .header("origin", &base)
        .form(&[("csrf_token", owner.csrf.as_str()), ("person_key", "true")])
        .send()
        .await
        .expect("apply");
    assert_eq!(applied.status(), StatusCode::SEE_OTHER);
    let keyed = page("/settings/crm-integration/prod/setup?person_key=true").await;
    assert!(keyed.contains("Nothing to do"), "{keyed}");
    let mut s = settings_for("prod");
    s["propensity"]["lead_field"] = Value::Null;
    let (status, v) = owner
        .send(Method::PUT, "/api/v1/destinations/salesforce", Some(&s))
        .await;
    assert_eq!(status, StatusCode::OK, "a working mapping: {v}");
}

/// Salesforce's Refresh Token Rotation on the connected app: every refresh retires the
/// token used. The service keeps each new token in the connection's row, so delivery goes
/// on after sessions expire and after a restart, with one live token in the org.
#[tokio::test]
async fn a_connection_whose_refresh_tokens_rotate_keeps_delivering_across_a_restart() {
    let t = bare("connect-rotate", Vec::new()).await;
    t.org.control().set_refresh_token_rotation(true);
    // The org's own start-up token is live too; the connection adds one.
    let live = t.org.auth().refresh_tokens().len() + 1;
    let b = connected_owner(&t, "production").await;
    let (status, saved) = b
        .send(
            Method::PUT,
            "/api/v1/destinations/salesforce",
            Some(&settings_for("production")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let people = contacts(&t.org, 3);
    ingest(&b, "rot-1", &people[0].0).await;
    wait_outcome(&b, "rot-1", "updated").await;
    // Expired sessions: the refresh rotates the token, and the row follows.
    t.org.control().expire_tokens();
    ingest(&b, "rot-2", &people[1].0).await;
    wait_outcome(&b, "rot-2", "updated").await;
    assert_eq!(t.org.auth().refresh_tokens().len(), live, "one live token");

    let Bare {
        scratch,
        org,
        config,
        svc,
    } = t;
    assert!(svc.stop().await.success());
    let svc = Service::start(&scratch, &org, &config, &Opts::default(), "restart").await;
    let b = Browser::sign_in(
        svc.base.as_deref().expect("an API"),
        "owner@acme.example",
        PASSWORD,
    )
    .await;
    ingest(&b, "rot-3", &people[2].0).await;
    wait_outcome(&b, "rot-3", "updated").await;
    assert_eq!(
        org.auth().refresh_tokens().len(),
        live,
        "still one live token"
    );
}

async fn ingest(b: &Browser, id: &str, email: &str) {
    let (status, v) = b
        .send(
            Method::POST,
            "/api/v1/evaluations",
            Some(&evaluation(id, email, "hot")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
}
