//! The web app in a real headless Chromium (chromedriver, fantoccini) against a real
//! `trailspark serve` and the emulated org: sign in with the keyboard, connect an org
//! through its authorize page, map fields and see a save refused next to the field,
//! follow an evaluation to the sync log and its record in the org, retry a failure after
//! fixing its cause, and find every control read-only as a Viewer. Every page is checked
//! with axe-core (no serious or critical violation) and for console errors; screenshots go
//! to docs/screenshots/.
//!
//! Needs `CHROMEDRIVER`, `CHROMIUM` and `AXE` (the path of axe.min.js); scripts/test.sh
//! installs them and sets the variables, so the test is #[ignore]d for a plain run.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::connect::{PASSWORD, add_user, bare};
use crate::service::{contacts, evaluation};

struct Driver {
    _chromedriver: tokio::process::Child,
    _profile: PathBuf,
    url: String,
    axe: String,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test.sh, which installs the browser tooling")
    })
}

async fn start_browser(tag: &str) -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = tokio::process::Command::new(env("CHROMEDRIVER"))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let profile =
        std::env::temp_dir().join(format!("trailspark-chromium-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let caps = json!({
        "goog:chromeOptions": {
            "binary": env("CHROMIUM"),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1280,1000",
                     format!("--user-data-dir={}", profile.display())]
        },
        "goog:loggingPrefs": {"browser": "ALL"}
    });
    let caps = caps.as_object().cloned().expect("an object");
    let mut client = None;
    for _ in 0..100 {
        match ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let axe = std::fs::read_to_string(env("AXE")).expect("axe.min.js readable");
    (
        Driver {
            _chromedriver: child,
            _profile: profile,
            url,
            axe,
        },
        client.expect("chromedriver answers"),
    )
}

/// axe-core finds no serious or critical violation, and the console has no error.
async fn check_page(d: &Driver, c: &Client, what: &str) {
    c.execute(&d.axe, vec![]).await.expect("axe injected");
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => ({id: v.id, impact: v.impact, help: v.help,
                             nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))));",
            vec![],
        )
        .await
        .expect("axe runs");
    assert_eq!(result, json!([]), "{what}: accessibility violations");
    let session = c.session_id().await.ok().flatten().expect("a session id");
    let logs: Value = reqwest::Client::new()
        .post(format!("{}/session/{session}/se/log", d.url))
        .json(&json!({"type": "browser"}))
        .send()
        .await
        .expect("log endpoint")
        .json()
        .await
        .expect("json");
    let errors: Vec<&Value> = logs["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["level"] == "SEVERE")
                // The emulated org's login page (another origin) has no favicon; not ours.
                .filter(|e| {
                    !e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("/favicon.ico") && !m.contains("/assets/"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(errors.is_empty(), "{what}: console errors {errors:?}");
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots folder");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

/// The text of the first element matching `css`, waiting (up to 10 s) for it to appear:
/// a click that submits a form returns before the next page has loaded.
async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .text()
        .await
        .expect("text")
}

async fn sign_in(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/")).await.expect("open");
    // Not signed in: the sign-in page, with a way back.
    let here = c.current_url().await.expect("url");
    assert_eq!(here.path(), "/sign-in", "{here}");
    c.find(Locator::Id("email"))
        .await
        .expect("email")
        .send_keys(email)
        .await
        .expect("type");
    let pw = c.find(Locator::Id("password")).await.expect("password");
    pw.send_keys(PASSWORD).await.expect("type");
    // Enter submits.
    pw.send_keys("\u{E007}").await.expect("enter");
    wait_path(c, "/").await;
}

async fn wait_path(c: &Client, path: &str) {
    for _ in 0..100 {
        if c.current_url()
            .await
            .map(|u| u.path() == path)
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never reached {path}: at {:?}", c.current_url().await);
}

async fn wait_text(c: &Client, url: &str, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        c.goto(url).await.expect("open");
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{needle:?} never appeared in {css} at {url}: {last}");
}

/// Waits (after a click that loads a page) until `css` holds `needle`.
async fn wait_here(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{needle:?} never appeared in {css}: {last}");
}

async fn select(c: &Client, id: &str, value: &str) {
    // The Lead and Contact mappings are tabs: open the one holding the control.
    for tab in ["lead", "contact"] {
        if id.starts_with(&format!("{tab}-"))
            && let Ok(t) = c.find(Locator::Id(&format!("tab-{tab}"))).await
        {
            t.click().await.expect("open the tab");
        }
    }
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("#{id}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|_| panic!("#{id} offers {value}"));
}

async fn post_evaluation(base: &str, token: &str, body: &Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/evaluations"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("ingest");
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
}

#[tokio::test]
#[ignore = "needs chromium, chromedriver and axe-core: CHROMEDRIVER, CHROMIUM, AXE (scripts/test.sh installs them)"]
async fn an_admin_connects_maps_follows_and_retries_in_a_real_browser() {
    let t = bare("browser", Vec::new()).await;
    add_user(&t.config, "owner@acme.example", "owner").await;
    add_user(&t.config, "viewer@acme.example", "viewer").await;
    let base = t.svc.base.clone().expect("base");
    let (d, c) = start_browser("admin").await;

    // Sign in (keyboard): the sign-in page passes axe first.
    c.goto(&format!("{base}/sign-in")).await.expect("open");
    check_page(&d, &c, "sign-in").await;
    screenshot(&c, "sign-in").await;
    sign_in(&c, &base, "owner@acme.example").await;
    assert!(
        text_of(&c, "main")
            .await
            .contains("No Salesforce org is connected")
    );
    check_page(&d, &c, "overview (empty)").await;

    // Connect through the org's authorize page.
    c.goto(&format!("{base}/settings/crm-integration"))
        .await
        .expect("open");
    check_page(&d, &c, "connect (empty)").await;
    let form = c
        .form(Locator::Css(
            "form[action='/settings/crm-integration/connect']",
        ))
        .await
        .expect("connect form");
    form.set_by_name("name", "production").await.expect("name");
    form.set_by_name("client_id", t.org.client_id())
        .await
        .expect("client id");
    form.set_by_name("login_url", t.org.url())
        .await
        .expect("url");
    form.submit_direct().await.expect("connect");
    c.find(Locator::Id("password"))
        .await
        .expect("the org's login page")
        .send_keys(t.org.password())
        .await
        .expect("type");
    c.find(Locator::Css("button[value=allow]"))
        .await
        .expect("Allow")
        .click()
        .await
        .expect("allow");
    wait_path(&c, "/settings/crm-integration").await;
    let main = text_of(&c, "main").await;
    assert!(main.contains("Connected production"), "{main}");
    assert!(text_of(&c, "table").await.contains("Connected"));
    // Test Connection shows its result.
    c.find(Locator::Css("form[action$='/production/test'] button"))
        .await
        .expect("Test Connection")
        .click()
        .await
        .expect("test");
    assert!(
        text_of(&c, "#test-result")
            .await
            .contains("Test Connection succeeded")
    );
    check_page(&d, &c, "connect").await;
    screenshot(&c, "connect").await;

    // A field the integration user cannot edit, offered while the cache is old.
    let dest = format!("{base}/settings/crm-integration/destinations");
    c.goto(&dest).await.expect("open");
    select(&c, "integration", "production").await;
    c.find(Locator::Id("enabled"))
        .await
        .expect("toggle")
        .click()
        .await
        .expect("on");
    select(&c, "lead-score_field", "TrailSpark_Score__c").await;
    // Each choice above was checked against a fresh describe; the org answers the next
    // one with `If-Modified-Since` by the second, so the field changes a second later (as
    // an admin's change in Salesforce would).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.org
        .control()
        .load_scenario_str(
            "[[fields]]\nobject = \"Contact\"\nname = \"TrailSpark_Reasoning__c\"\ntype = \"textarea\"\nlength = 131072\nupdateable = false\n",
        )
        .expect("scenario");
    // Each choice is checked as it is made: the problem shows next to the dropdown
    // before Save, in the message its aria-describedby names. (The field is the suggested
    // one, already chosen: choosing it again changes nothing, so first "not written".)
    select(&c, "contact-reasoning_field", "").await;
    select(&c, "contact-reasoning_field", "TrailSpark_Reasoning__c").await;
    let early = wait_here(&c, "#contact-reasoning_field-error", "edit").await;
    assert!(early.contains("Fix:"), "{early}");
    let described = c
        .find(Locator::Id("contact-reasoning_field"))
        .await
        .expect("select")
        .attr("aria-describedby")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert!(
        described.contains("contact-reasoning_field-error"),
        "{described}"
    );
    assert_eq!(
        c.find(Locator::Id("contact-reasoning_field"))
            .await
            .expect("select")
            .attr("aria-invalid")
            .await
            .expect("attr")
            .as_deref(),
        Some("true")
    );
    let here = c.current_url().await.expect("url");
    assert_eq!(
        here.path(),
        "/settings/crm-integration/destinations",
        "not saved yet"
    );
    assert!(
        c.find(Locator::Id("problems")).await.is_err(),
        "no Save happened: no summary yet"
    );
    check_page(&d, &c, "destinations, a choice checked").await;
    // Save (which does everything without the script too) shows it with the summary.
    c.find(Locator::Css("button[value=save]"))
        .await
        .expect("Save")
        .click()
        .await
        .expect("save");
    wait_here(&c, "#problems", "problem").await;
    let problem = wait_here(&c, "#contact-reasoning_field-error", "edit").await;
    assert!(problem.to_lowercase().contains("edit"), "{problem}");
    assert!(text_of(&c, "#problems").await.contains("problem"));
    // The input is kept.
    let kept = c
        .find(Locator::Id("lead-score_field"))
        .await
        .expect("select")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(kept.as_deref(), Some("TrailSpark_Score__c"));
    check_page(&d, &c, "destinations with a problem").await;
    screenshot(&c, "destinations").await;
    // Fix: Refresh fields, leave it unwritten, save.
    select(&c, "contact-reasoning_field", "").await;
    c.find(Locator::Css("button[value=save]"))
        .await
        .expect("Save")
        .click()
        .await
        .expect("save");
    wait_here(&c, "main", "Saved").await;

    // An evaluation appears in the sync log with a link to its record in the org.
    let token = crate::service::create_token(&t.config, "browser", &["--role", "owner"]).await;
    let people = contacts(&t.org, 2);
    post_evaluation(&base, &token, &evaluation("b-1", &people[0].0, "hot")).await;
    wait_text(&c, &format!("{base}/log"), "table.log", "b-1").await;
    wait_text(&c, &format!("{base}/log"), "table.log", "updated").await;
    check_page(&d, &c, "sync log").await;
    screenshot(&c, "sync-log").await;
    c.goto(&format!("{base}/log/b-1")).await.expect("open");
    let link = c
        .find(Locator::Css("a.record-link"))
        .await
        .expect("a record link");
    let href = link.attr("href").await.expect("href").expect("an href");
    assert!(
        href.starts_with(t.org.url()) && href.ends_with(&people[0].1),
        "{href}"
    );
    check_page(&d, &c, "log detail").await;
    screenshot(&c, "log-detail").await;
    let record = reqwest::get(&href).await.expect("record page");
    assert_eq!(record.status(), reqwest::StatusCode::OK);
    assert!(
        record
            .text()
            .await
            .unwrap_or_default()
            .contains(&people[0].1)
    );

    // A failure (a validation rule), its cause fixed by the mapping, retried from the page.
    t.org
        .control()
        .load_scenario_str(
            "[[validation_rules]]\nname = \"No_Cold\"\nobject = \"Contact\"\nmessage = \"Cold contacts are not allowed\"\nerror_field = \"TrailSpark_Score__c\"\ncondition = { kind = \"equals\", field = \"TrailSpark_Score__c\", value = \"cold\" }\n",
        )
        .expect("rule");
    post_evaluation(&base, &token, &evaluation("b-2", &people[1].0, "cold")).await;
    let detail = wait_text(&c, &format!("{base}/log/b-2"), "main", "failed").await;
    assert!(detail.contains("Cold contacts are not allowed"), "{detail}");
    c.goto(&dest).await.expect("open");
    select(&c, "contact-score_field", "").await;
    c.find(Locator::Css("button[value=save]"))
        .await
        .expect("Save")
        .click()
        .await
        .expect("save");
    wait_here(&c, "main", "Saved").await;
    c.goto(&format!("{base}/log/b-2")).await.expect("open");
    c.find(Locator::Css("form[action$='/retry'] button"))
        .await
        .expect("Retry")
        .click()
        .await
        .expect("retry");
    // The retry's own answer first: leaving earlier would abort the form's POST.
    let mut answered = false;
    for _ in 0..100 {
        let url = c.current_url().await.expect("url");
        if url.query().is_some_and(|q| q.contains("retried")) {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "the retry is answered");
    wait_text(&c, &format!("{base}/log/b-2"), "main", "updated").await;

    // The Overview with data.
    c.goto(&format!("{base}/")).await.expect("open");
    check_page(&d, &c, "overview").await;
    screenshot(&c, "overview").await;

    // Sign out.
    c.find(Locator::Css("form[action='/sign-out'] button"))
        .await
        .expect("Sign out")
        .click()
        .await
        .expect("sign out");
    wait_path(&c, "/sign-in").await;
    wait_here(&c, "main", "signed out").await;

    // A Viewer finds every control read-only.
    sign_in(&c, &base, "viewer@acme.example").await;
    c.goto(&dest).await.expect("open");
    assert!(
        text_of(&c, "#read-only-note")
            .await
            .contains("Only an Owner or Admin")
    );
    for e in c
        .find_all(Locator::Css("#destination-form select, #destination-form input:not([type=hidden]), #destination-form button:not([role=tab])"))
        .await
        .expect("controls")
    {
        assert!(!e.is_enabled().await.expect("enabled?"), "a control is enabled for a Viewer");
    }
    check_page(&d, &c, "destinations read-only").await;
    // Tab reaches the main controls.
    c.goto(&format!("{base}/log")).await.expect("open");
    let mut reached = Vec::new();
    for _ in 0..12 {
        c.active_element()
            .await
            .expect("active")
            .send_keys("\u{E004}")
            .await
            .expect("tab");
        let id = c
            .active_element()
            .await
            .expect("active")
            .attr("id")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        reached.push(id);
    }
    for id in ["outcome", "email", "window"] {
        assert!(
            reached.iter().any(|r| r == id),
            "tab never reached #{id}: {reached:?}"
        );
    }
    c.close().await.expect("close");
}
