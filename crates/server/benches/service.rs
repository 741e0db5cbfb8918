//! Service benchmarks, end to end through the HTTP API and the workers:
//! 1. evaluations accepted per second through batch POSTs (1,000 per request, 4 clients),
//!    on SQLite and (when `TRAILSPARK_TEST_POSTGRES_URL` is set) PostgreSQL;
//! 2. accept → written latency of lone evaluations (median, p99) against an emulated org
//!    answering at once, for two linger settings;
//! 3. delivery throughput with 1, 2 and 4 worker processes' worth of workers sharing one
//!    PostgreSQL database (each an `Application` in workers-only mode), org latency 50 ms.
//!
//! Prints the figures and rewrites its section of `docs/benchmarks.md`.
//! Run: `eval "$(scripts/start-postgres.sh)"; cargo bench -p server --bench service`
//! (`BENCH_EVALUATIONS=N` sets the ingest count, default 50,000).

#[path = "support/doc_section.rs"]
mod doc_section;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use domain::{AuthSettings, DestinationSettings, IntegrationSettings, WorkerSettings};
use serde_json::{Value, json};
use server::{Application, Connector, Mode, Settings, WorkerOptions};
use store::TokenRole;
use tokio::sync::oneshot;

const SECTION_START: &str = "<!-- service:start -->";
const SECTION_END: &str = "<!-- service:end -->";
const POST_BATCH: usize = 1000;
const CLIENTS: usize = 4;
const LATENCY_SAMPLES: usize = 100;
const SCALING_EVALUATIONS: usize = 4000;
const SCALING_ORG_LATENCY: Duration = Duration::from_millis(50);

fn connector(org: &sfsim::RunningOrg) -> Connector {
    server::refresh_token_connector(
        org.url().to_string(),
        org.client_id().to_string(),
        org.refresh_token(),
    )
}

fn settings(org: &sfsim::RunningOrg, db: &str, mode: Mode, worker: WorkerSettings) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        database_url: db.into(),
        public_url: "http://127.0.0.1".into(),
        mode,
        worker: WorkerOptions::from_settings(&worker),
        integrations: vec![IntegrationSettings {
            name: "sim".into(),
            login_url: org.url().into(),
            client_id: Some(org.client_id().into()),
            auth: AuthSettings::RefreshToken {
                refresh_token_env: "UNUSED".into(),
                client_secret_env: None,
            },
            api_version: "62.0".into(),
            pause_at_api_usage: 0.8,
            ca_cert_file: None,
        }],
        destination: Some(DestinationSettings::suggested("sim")),
        log_retention: Duration::from_secs(86_400),
        retention: Duration::from_secs(86_400),
        http: Default::default(),
        secrets: Some(std::sync::Arc::new(server::SecretBox::random())),
        metrics_token: None,
    }
}

struct Running {
    base: Option<String>,
    state: server::AppState,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
}

async fn run(app: Application) -> Running {
    let base = app.local_addr().map(|a| format!("http://{a}"));
    let state = app.state().clone();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    Running {
        base,
        state,
        stop,
        task,
    }
}

impl Running {
    /// The API's base URL and a fresh owner token for it.
    async fn api(&self) -> Result<(String, String)> {
        let token = self
            .state
            .store
            .create_token("bench", TokenRole::Owner)
            .await?
            .secret;
        let base = self.base.clone().context("listener")?;
        Ok((base, token))
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn evaluation(id: &str, email: &str, i: usize) -> Value {
    let score = ["hot", "warm", "cold"][i % 3];
    json!({
        "id": id, "email": email, "score": score,
        "reasoning": format!("Benchmark evaluation {id}: visited pricing, opened three emails, matches the ideal customer profile."),
        "evaluated_at": format!("2026-11-28T{:02}:{:02}:{:02}Z", (i / 3600) % 24, (i / 60) % 60, i % 60),
        "propensity": "medium",
    })
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("trailspark-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn pg_schema_url(base: &str, tag: &str) -> Result<String> {
    let schema = format!("bench_{tag}_{}", std::process::id());
    let ok = std::process::Command::new("psql")
        .arg(base)
        .args(["-q", "-c", &format!("SET client_min_messages = warning; DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")])
        .status()
        .context("psql")?;
    if !ok.success() {
        return Err(anyhow!("CREATE SCHEMA failed"));
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options[search_path]={schema}"))
}

/// Evaluations accepted per second through batch POSTs (workers off: API only).
async fn ingest_rate(org: &sfsim::RunningOrg, db: &str, total: usize) -> Result<f64> {
    let app = Application::build(
        settings(org, db, Mode::ApiOnly, WorkerSettings::default()),
        connector(org),
    )
    .await?;
    let r = run(app).await;
    let (base, token) = r.api().await?;
    let bodies: Vec<String> = (0..total.div_ceil(POST_BATCH))
        .map(|b| {
            let items: Vec<Value> = (b * POST_BATCH..((b + 1) * POST_BATCH).min(total))
                .map(|i| {
                    evaluation(
                        &format!("ing-{i}"),
                        &format!("person{i}@bench-{}.example", i % 97),
                        i,
                    )
                })
                .collect();
            Value::Array(items).to_string()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (bodies, next, http, base, token) = (
            bodies.clone(),
            next.clone(),
            http.clone(),
            base.clone(),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                let resp = http
                    .post(format!("{base}/api/v1/evaluations"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                if resp.status().as_u16() != 202 {
                    return Err(anyhow!("POST answered {}", resp.status()));
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    r.stop().await;
    Ok(rate)
}

/// Accept → written latency of lone evaluations (median, p99), polling the org's record.
async fn lone_latency(linger_ms: u64) -> Result<(Duration, Duration)> {
    let org = sfsim::start(sfsim::Options::default()).await?;
    let dir = temp_dir(&format!("latency-{linger_ms}"));
    let db = format!("sqlite://{}", dir.join("db.sqlite").display());
    let worker = WorkerSettings {
        linger_ms,
        ..WorkerSettings::default()
    };
    let app = Application::build(settings(&org, &db, Mode::Both, worker), connector(&org)).await?;
    let r = run(app).await;
    let (base, token) = r.api().await?;
    let rows = org
        .control()
        .query("SELECT Id, Email FROM Contact WHERE Email != null ORDER BY CreatedDate")
        .map_err(|e| anyhow!("{e}"))?;
    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    // One warm-up (sign-in and describes), then the measured ones.
    for i in 0..=LATENCY_SAMPLES {
        let row = &rows[(i * 7) % rows.len()];
        let (id, email) = (
            row["Id"].as_str().unwrap_or_default(),
            row["Email"].as_str().unwrap_or_default(),
        );
        let marker = format!("latency sample {i} {}", uuid_like(i));
        let mut ev = evaluation(&format!("lat-{linger_ms}-{i}"), email, i);
        ev["reasoning"] = json!(marker);
        ev["evaluated_at"] = json!(
            time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)?
        );
        let start = Instant::now();
        let resp = http
            .post(format!("{base}/api/v1/evaluations"))
            .bearer_auth(&token)
            .json(&ev)
            .send()
            .await?;
        if resp.status().as_u16() != 202 {
            return Err(anyhow!("POST answered {}", resp.status()));
        }
        loop {
            let written = org
                .control()
                .record(id)
                .is_some_and(|r| r["TrailSpark_Reasoning__c"] == json!(marker));
            if written {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(anyhow!("sample {i} not written in 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if i > 0 {
            samples.push(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r.stop().await;
    org.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Ok((at(0.5), at(0.99)))
}

fn uuid_like(i: usize) -> String {
    format!("{:x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Deliveries per second with `n` workers-only applications sharing one PostgreSQL.
async fn scaling(pg_base: &str, n: usize) -> Result<f64> {
    let org = sfsim::start(sfsim::Options {
        latency: SCALING_ORG_LATENCY,
        ..sfsim::Options::default()
    })
    .await?;
    let db = pg_schema_url(pg_base, &format!("w{n}"))?;
    let store = store::open(&db).await?;
    let rows = org
        .control()
        .query("SELECT Email FROM Lead WHERE Email != null AND IsConverted = false")
        .map_err(|e| anyhow!("{e}"))?;
    let mut contacts = org
        .control()
        .query("SELECT Email FROM Contact WHERE Email != null")
        .map_err(|e| anyhow!("{e}"))?;
    contacts.extend(rows);
    let emails: Vec<String> = contacts
        .iter()
        .filter_map(|r| r["Email"].as_str().map(str::to_string))
        .collect();
    let mut news = Vec::new();
    for i in 0..SCALING_EVALUATIONS {
        let v = evaluation(&format!("sc-{i}"), &emails[i % emails.len()], i);
        let e = domain::Evaluation::parse_json(&v).map_err(|e| anyhow!("{e:?}"))?;
        news.push(store::NewEvaluation::from_evaluation(
            &e,
            &[server::SALESFORCE],
        ));
    }
    for chunk in news.chunks(1000) {
        store.ingest(chunk.to_vec()).await?;
    }
    let worker = WorkerSettings {
        concurrency: 2,
        batch_size: 200,
        linger_ms: 0,
        ..WorkerSettings::default()
    };
    let start = Instant::now();
    let mut running = Vec::new();
    for _ in 0..n {
        let app = Application::build(
            settings(&org, &db, Mode::WorkersOnly, worker.clone()),
            connector(&org),
        )
        .await?;
        running.push(run(app).await);
    }
    loop {
        let q = store.queue_stats(None).await?;
        let open: u64 = q
            .by_state
            .iter()
            .filter(|(s, _)| {
                matches!(
                    s,
                    store::DeliveryState::Pending | store::DeliveryState::Leased
                )
            })
            .map(|(_, n)| n)
            .sum();
        if open == 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            return Err(anyhow!("scaling run with {n} workers did not finish"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = SCALING_EVALUATIONS as f64 / start.elapsed().as_secs_f64();
    for r in running {
        r.stop().await;
    }
    org.shutdown().await;
    Ok(rate)
}

#[tokio::main]
async fn main() -> Result<()> {
    let total: usize = std::env::var("BENCH_EVALUATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let pg = std::env::var("TRAILSPARK_TEST_POSTGRES_URL").ok();
    let org = sfsim::start(sfsim::Options::default()).await?;
    let dir = temp_dir("ingest");
    let sqlite_rate = ingest_rate(
        &org,
        &format!("sqlite://{}", dir.join("db.sqlite").display()),
        total,
    )
    .await?;
    println!("ingest SQLite: {sqlite_rate:.0} evaluations/s");
    let _ = std::fs::remove_dir_all(&dir);
    let pg_rate = match &pg {
        Some(base) => {
            let r = ingest_rate(&org, &pg_schema_url(base, "ingest")?, total).await?;
            println!("ingest PostgreSQL: {r:.0} evaluations/s");
            Some(r)
        }
        None => None,
    };
    let mut latencies = Vec::new();
    for linger in [0u64, WorkerSettings::default().linger_ms] {
        let (median, p99) = lone_latency(linger).await?;
        println!("lone latency, linger {linger} ms: median {median:?}, p99 {p99:?}");
        latencies.push((linger, median, p99));
    }
    let mut scale = Vec::new();
    if let Some(base) = &pg {
        for n in [1usize, 2, 4] {
            let r = scaling(base, n).await?;
            println!("{n} worker process(es): {r:.0} deliveries/s");
            scale.push((n, r));
        }
    }

    let mut section = String::new();
    let _ = writeln!(section, "{SECTION_START}");
    let _ = writeln!(
        section,
        "## Service: HTTP ingest, lone-evaluation latency, worker scaling\n"
    );
    let (profile, flag) = if cfg!(debug_assertions) {
        (
            "dev profile: our crates unoptimised, dependencies at opt-level 1",
            " --profile dev",
        )
    } else {
        ("release build", "")
    };
    let _ = writeln!(
        section,
        "`eval \"$(scripts/start-postgres.sh)\"; cargo bench -p server{flag} --bench service` ({profile}; the service in-process on a random port, driven over HTTP by reqwest; emulated org in-process; 2 shared cores; {}).\n",
        time::OffsetDateTime::now_utc().date()
    );
    let _ = writeln!(
        section,
        "| measure | SQLite | PostgreSQL |\n| --- | ---: | ---: |"
    );
    let _ = writeln!(
        section,
        "| evaluations accepted/s ({total} in POSTs of {POST_BATCH}, {CLIENTS} clients, committed before each 202) | {sqlite_rate:.0} | {} |",
        pg_rate.map_or("not run".to_string(), |r| format!("{r:.0}"))
    );
    let _ = writeln!(
        section,
        "\nAccept → written in the org for a lone evaluation (SQLite, org answering at once, {LATENCY_SAMPLES} samples, each POST waits for the previous write):\n"
    );
    let _ = writeln!(
        section,
        "| `linger_ms` | median | p99 |\n| ---: | ---: | ---: |"
    );
    for (l, m, p) in &latencies {
        let _ = writeln!(
            section,
            "| {l} | {} ms | {} ms |",
            m.as_millis(),
            p.as_millis()
        );
    }
    if !scale.is_empty() {
        let _ = writeln!(
            section,
            "\nDelivery with N workers-only services on one PostgreSQL ({SCALING_EVALUATIONS} evaluations already queued, updates of existing Contacts/Leads, batches of 200, 2 batch loops per service, {} ms added to every org call):\n",
            SCALING_ORG_LATENCY.as_millis()
        );
        let _ = writeln!(section, "| services | deliveries/s |\n| ---: | ---: |");
        for (n, r) in &scale {
            let _ = writeln!(section, "| {n} | {r:.0} |");
        }
    }
    let _ = writeln!(section, "{SECTION_END}");
    doc_section::write(SECTION_START, SECTION_END, &section)?;
    org.shutdown().await;
    Ok(())
}
