//! `trailspark demo`: the whole service on one machine with no setup — an emulated
//! Salesforce org (sfsim, default data plus two demo rules), an embedded SQLite database,
//! the destination mapped to the suggested fields (docs/product.md#the-salesforce-fields), an
//! Owner token, and a trickle of sample evaluations so the sync log moves: existing Contacts and
//! Leads updated, new hot leads created, and a few instructive failures (a validation rule, a
//! truncated reasoning).
//!
//! It is the `serve` command with its inputs made up, so the web settings page and sign-in
//! plug into the same `Application` later.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use domain::{DestinationSettings, Score, WorkerSettings};
use serde_json::{Value, json};
use server::{AppState, Application, Mode, Settings, WorkerOptions};
use store::TokenRole;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::common::{EXIT_CANNOT_START, print_error};
use super::serve::{init_logging, stop_signal};

/// The integration name the demo's org is connected under.
const INTEGRATION: &str = "demo";
/// The demo's Owner.
const OWNER_EMAIL: &str = "owner@trailspark.example";

/// The demo org's additions to sfsim's default org: a validation rule that refuses cold
/// scores on Leads (so one sample fails with Salesforce's message and our hint), and a
/// Lead reasoning field of 1,000 characters (so a long reasoning is cut with a warning).
const DEMO_SCENARIO: &str = r#"
[[fields]]
object = "Lead"
name = "TrailSpark_Reasoning__c"
label = "TrailSpark Reasoning"
type = "textarea"
length = 1000

[[validation_rules]]
name = "Cold_Leads_Need_Review"
object = "Lead"
message = "A sales manager reviews cold leads before they are scored cold"
error_field = "TrailSpark_Score__c"
condition = { kind = "equals", field = "TrailSpark_Score__c", value = "cold" }
"#;

#[derive(clap::Args)]
pub struct Args {
    /// Where the SQLite database lives (kept); a temporary directory when absent (removed).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Seconds between sample evaluations after the first round (0: no trickle).
    #[arg(long, default_value_t = 3)]
    pub every: u64,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

pub async fn run(args: Args) -> ExitCode {
    init_logging(args.log_json);
    match demo(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::from(EXIT_CANNOT_START)
        }
    }
}

async fn demo(args: Args) -> Result<()> {
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("trailspark-demo-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the demo directory {}", dir.display()))?;

    let org = sfsim::start(sfsim::Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..sfsim::Options::default()
    })
    .await
    .context("cannot start the emulated Salesforce org")?;
    org.control()
        .load_scenario_str(DEMO_SCENARIO)
        .map_err(|e| anyhow!("demo scenario: {e}"))?;

    let db = dir.join("trailspark.db");
    let worker = WorkerSettings {
        linger_ms: 50,
        ..WorkerSettings::default()
    };
    let settings = Settings {
        listen: args.listen.clone(),
        database_url: format!("sqlite://{}", db.display()),
        public_url: format!("http://{}", args.listen),
        mode: Mode::Both,
        worker: WorkerOptions::from_settings(&worker).with_env_overrides(),
        // Nothing from a config file: the org is connected and the destination configured
        // through the API below, the way an admin does it from the settings page.
        integrations: Vec::new(),
        destination: None,
        log_retention: Duration::from_secs(u64::from(worker.log_retention_days) * 86_400),
        retention: Duration::from_secs(u64::from(worker.retention_days) * 86_400),
        http: Default::default(),
        secrets: None,
        metrics_token: None,
    };
    let app = Application::build(settings, server::integrations::no_config_connector())
        .await
        .context("the demo cannot start (if the address is taken, pick another with --listen)")?;
    let addr = app
        .local_addr()
        .ok_or_else(|| anyhow!("the demo has no listener"))?;
    let state = app.state().clone();
    let base = state.public_url.clone();

    // An Owner to sign in with (a fresh random password each run).
    let password = server::session::random_token()[..20].to_string();
    let hash = server::passwords::hash(&password)?;
    state
        .store
        .create_user(OWNER_EMAIL, &hash, TokenRole::Owner)
        .await
        .context("cannot create the demo's owner")?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stop_rx.await;
    }));
    let setup = async {
        let web = WebSession::sign_in(&base, OWNER_EMAIL, &password).await?;
        web.connect(INTEGRATION, org.url(), org.client_id()).await?;
        let mut destination = DestinationSettings::suggested(INTEGRATION);
        destination.create_records.enabled = true;
        destination.create_records.score_levels = [Score::Hot, Score::Warm].into_iter().collect();
        web.save_settings(&destination).await?;
        anyhow::Ok(())
    };
    if let Err(e) = setup.await {
        let _ = stop_tx.send(());
        let _ = running.await;
        return Err(e.context("cannot set up the demo through the API"));
    }
    let owner = state
        .store
        .create_token("demo-owner", TokenRole::Owner)
        .await
        .context("cannot create the demo's owner token")?;

    println!("Open {base}/ in a browser (TrailSpark demo, running on http://{addr})");
    println!();
    println!("  Sign in             {base}/sign-in  (API: POST {base}/api/v1/session)");
    println!("    email             {OWNER_EMAIL}");
    println!("    password          {password}");
    println!("  API                 {base}/api/v1");
    println!("  Sync log            {base}/api/v1/deliveries");
    println!("  Settings            {base}/api/v1/destinations/salesforce");
    println!("  Metrics             {base}/metrics");
    println!("  API description     {base}/api/openapi.json");
    println!(
        "  Emulated org        {}  (control plane: {}/__sfsim/records/Lead)",
        org.url(),
        org.url()
    );
    println!("  Database            {}", db.display());
    println!();
    println!("  Owner API token     {}", owner.secret);
    println!();
    println!("Try:");
    println!(
        "  curl -H 'Authorization: Bearer {}' {base}/api/v1/deliveries",
        owner.secret
    );
    println!("Sample evaluations arrive every few seconds. Press Ctrl-C to stop.");

    let samples = samples(org.control()).context("cannot pick sample records from the org")?;
    let trickle = tokio::spawn(trickle(state, samples, Duration::from_secs(args.every)));
    stop_signal().await;
    let _ = stop_tx.send(());
    let result = running
        .await
        .unwrap_or_else(|e| Err(anyhow!("the service task failed: {e}")));
    trickle.abort();
    org.shutdown().await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// The sample evaluations: a first round covering every interesting case, then
/// re-evaluations of known people (newer times) for the trickle.
struct Samples {
    first: Vec<Value>,
    people: Vec<String>,
}

fn emails(control: &sfsim::Control, soql: &str) -> Result<Vec<String>> {
    let rows = control.query(soql).map_err(|e| anyhow!("{e}"))?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get("Email").and_then(Value::as_str).map(str::to_string))
        .collect())
}

fn samples(control: &sfsim::Control) -> Result<Samples> {
    let contacts = emails(
        control,
        "SELECT Email FROM Contact WHERE Email != null AND AccountId != null ORDER BY CreatedDate LIMIT 6",
    )?;
    let leads = emails(
        control,
        "SELECT Email FROM Lead WHERE Email != null AND IsConverted = false ORDER BY CreatedDate LIMIT 6",
    )?;
    let now = OffsetDateTime::now_utc();
    let at = |minutes: i64| {
        (now - time::Duration::minutes(minutes))
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    let mut first = Vec::new();
    let scores = ["hot", "warm", "cold"];
    let propensities = ["high", "medium", "low"];
    let engagement = ["strong", "steady", "little"];
    for (i, email) in contacts.iter().take(4).enumerate() {
        first.push(json!({
            "id": format!("demo-contact-{i}"),
            "email": email,
            "score": scores[i % 3],
            "reasoning": format!("Existing customer contact; {} engagement with the product this month.", engagement[i % 3]),
            "evaluated_at": at(30 - i as i64),
            "propensity": propensities[i % 3],
        }));
    }
    for (i, email) in leads.iter().take(2).enumerate() {
        first.push(json!({
            "id": format!("demo-lead-{i}"),
            "email": email,
            "score": scores[i % 2],
            "reasoning": "Open lead; opened the last three campaign emails and visited pricing.",
            "evaluated_at": at(20 - i as i64),
        }));
    }
    for (i, (first_name, last_name, company)) in [
        ("Grace", "Hopper", "Compilers Inc"),
        ("Alan", "Turing", "Bletchley Analytics"),
    ]
    .into_iter()
    .enumerate()
    {
        first.push(json!({
            "id": format!("demo-new-{i}"),
            "email": format!("{}.{}@{}.example", first_name.to_lowercase(), last_name.to_lowercase(), company.split(' ').next().unwrap_or("new").to_lowercase()),
            "score": "hot",
            "reasoning": "Not in Salesforce yet: requested a demo and matches the ideal customer profile.",
            "evaluated_at": at(10 - i as i64),
            "propensity": "high",
            "person": {"first_name": first_name, "last_name": last_name, "company": company},
        }));
    }
    if let Some(email) = leads.get(2) {
        // Fails: the demo org's validation rule refuses cold scores on Leads.
        first.push(json!({
            "id": "demo-blocked-by-validation-rule",
            "email": email,
            "score": "cold",
            "reasoning": "No engagement for six months.",
            "evaluated_at": at(5),
        }));
    }
    if let Some(email) = leads.get(3) {
        // Delivered with a warning: the Lead's reasoning field holds 1,000 characters.
        first.push(json!({
            "id": "demo-long-reasoning",
            "email": email,
            "score": "warm",
            "reasoning": "Detailed research notes. ".repeat(60),
            "evaluated_at": at(4),
        }));
    }
    first.push(json!({
        "id": "demo-cold-unknown",
        "email": "someone.new@unknown-company.example",
        "score": "cold",
        "reasoning": "Not in Salesforce and cold: skipped, creation is for hot and warm only.",
        "evaluated_at": at(3),
    }));
    let mut people = contacts;
    people.extend(leads.into_iter().take(2));
    Ok(Samples { first, people })
}

/// Posts the first round at once, then one re-evaluation every `every`.
async fn trickle(state: AppState, samples: Samples, every: Duration) {
    match server::api::ingest(&state, &samples.first).await {
        Ok(answer) => tracing::info!(
            accepted = answer["accepted"].as_array().map_or(0, Vec::len),
            "demo: sample evaluations posted"
        ),
        Err(e) => tracing::warn!(error = %e, "demo: sample evaluations refused"),
    }
    if every.is_zero() || samples.people.is_empty() {
        return;
    }
    let scores = ["hot", "warm", "cold"];
    for n in 0u64.. {
        tokio::time::sleep(every).await;
        let email = &samples.people[(n as usize) % samples.people.len()];
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let item = json!({
            "id": format!("demo-trickle-{n}-{}", std::process::id()),
            "email": email,
            "score": scores[(n as usize / samples.people.len()) % 3],
            "reasoning": format!("Re-evaluated after new activity (round {n})."),
            "evaluated_at": now,
        });
        if let Err(e) = server::api::ingest(&state, &[item]).await {
            tracing::warn!(error = %e, "demo: sample evaluation refused");
        }
    }
}

/// The demo signs in and sets itself up through the same HTTP API (and the same rules)
/// as the settings page: a session cookie, its CSRF token, this service's Origin.
struct WebSession {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl WebSession {
    async fn sign_in(base: &str, email: &str, password: &str) -> Result<WebSession> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let resp = http
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await?;
        let cookie = resp
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("sign-in set no cookie ({})", resp.status()))?;
        let body: Value = resp.error_for_status()?.json().await?;
        let csrf = body["csrf_token"]
            .as_str()
            .ok_or_else(|| anyhow!("sign-in returned no CSRF token"))?
            .to_string();
        Ok(WebSession {
            http,
            base: base.to_string(),
            cookie,
            csrf,
        })
    }

    fn send(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header(reqwest::header::ORIGIN, &self.base)
            .header("X-CSRF-Token", &self.csrf)
    }

    /// Connect → the org's authorize page (approved at once, as a person would click
    /// Allow) → the callback with the code.
    async fn connect(&self, name: &str, login_url: &str, client_id: &str) -> Result<()> {
        let begun: Value = checked(
            self.send(reqwest::Method::POST, "/api/v1/integrations/salesforce")
                .json(&json!({"name": name, "client_id": client_id, "sandbox": false, "login_url": login_url}))
                .send()
                .await?,
        )
        .await?;
        let authorize = begun["authorize_url"]
            .as_str()
            .ok_or_else(|| anyhow!("no authorize_url"))?;
        let mut url = url::Url::parse(authorize)?;
        url.query_pairs_mut()
            .append_pair(sfsim::oauth::AUTO_APPROVE_PARAM, "true");
        let consent = self.http.get(url).send().await?;
        let callback = consent
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("the authorize page did not redirect ({})", consent.status()))?
            .to_string();
        let _: Value = checked(
            self.http
                .get(callback)
                .header(reqwest::header::COOKIE, &self.cookie)
                .send()
                .await?,
        )
        .await?;
        Ok(())
    }

    async fn save_settings(&self, s: &DestinationSettings) -> Result<()> {
        let _: Value = checked(
            self.send(reqwest::Method::PUT, "/api/v1/destinations/salesforce")
                .json(&s.to_json())
                .send()
                .await?,
        )
        .await?;
        Ok(())
    }
}

/// The JSON of a successful answer, or an error carrying the API's message.
async fn checked(resp: reqwest::Response) -> Result<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(anyhow!("{status}: {body}"));
    }
    Ok(body)
}
