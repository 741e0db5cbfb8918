//! `trailspark serve` end to end: the real binary as a separate process against an emulated
//! org started in-process, driven over HTTP, checked in the org through sfsim's control
//! plane. Each case runs on SQLite, and on the PostgreSQL server named by
//! `TRAILSPARK_TEST_POSTGRES_URL` in an `#[ignore]`d variant (skipped unless asked for;
//! asked for without the variable, it fails).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::sync::{Scratch, config};

pub const POSTGRES_URL_VAR: &str = "TRAILSPARK_TEST_POSTGRES_URL";

/// Knobs of one service under test.
#[derive(Clone)]
pub struct Opts {
    /// Lines added inside `[destinations.salesforce]`.
    pub destination_extra: String,
    /// Lines added inside `[server.worker]`.
    pub worker_extra: String,
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            destination_extra: "[destinations.salesforce.create_records]\nenabled = true\nscore_levels = [\"hot\", \"warm\"]\n".into(),
            worker_extra: "linger_ms = 20\nbatch_size = 50\nconcurrency = 2\n".into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// A database for one test: a SQLite file in the scratch dir, or a fresh PostgreSQL schema.
pub fn sqlite_url(s: &Scratch) -> String {
    format!("sqlite://{}", s.0.join("trailspark.db").display())
}

/// A fresh schema on the test PostgreSQL server; panics when none is configured, so a
/// PostgreSQL test can never pass without having run.
pub fn postgres_url() -> String {
    let base = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set: this test needs PostgreSQL \
             (eval \"$(scripts/start-postgres.sh)\" starts one and sets it)"
        )
    });
    let schema = format!("svc_{}_{}", std::process::id(), rand_suffix());
    let ok = std::process::Command::new("psql")
        .arg(&base)
        .args(["-q", "-c", &format!("CREATE SCHEMA {schema}")])
        .status()
        .expect("psql runs (needed for the PostgreSQL variant)");
    assert!(ok.success(), "CREATE SCHEMA failed");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos}_{}", N.fetch_add(1, Ordering::SeqCst))
}

/// The config file's text for a service pointed at `org` with database `db`.
pub fn config_text(org: &sfsim::RunningOrg, db: &str, o: &Opts) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\n\n[server.worker]\n{}\n{}",
        o.worker_extra,
        config(org.url(), org.client_id(), &o.destination_extra)
    )
}

/// Writes the config file for a service pointed at `org` with database `db`.
pub fn write_config(
    s: &Scratch,
    name: &str,
    org: &sfsim::RunningOrg,
    db: &str,
    o: &Opts,
) -> PathBuf {
    s.write(name, &config_text(org, db, o))
}

fn base_env(org: &sfsim::RunningOrg) -> Vec<(String, String)> {
    vec![
        ("SF_RT".into(), org.refresh_token()),
        ("TRAILSPARK_LEASE_MS".into(), "2000".into()),
        ("TRAILSPARK_POLL_MS".into(), "50".into()),
        ("TRAILSPARK_PAUSE_RECHECK_MS".into(), "300".into()),
        ("TRAILSPARK_RETRY_BASE_MS".into(), "200".into()),
        ("TRAILSPARK_SHUTDOWN_GRACE_MS".into(), "3000".into()),
        ("TRAILSPARK_METRICS_TOKEN".into(), METRICS_TOKEN.into()),
        ("RUST_LOG".into(), "info,server=debug".into()),
    ]
}

/// The services started here protect `/metrics` with this token.
pub const METRICS_TOKEN: &str = "metrics-token-for-tests";

/// Runs `trailspark token create` and returns the secret.
pub async fn create_token(config: &Path, name: &str, role_args: &[&str]) -> String {
    let mut args = vec![
        "token",
        "create",
        "--name",
        name,
        "--config",
        config.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(role_args);
    let o = crate::sync::trailspark(&args, &[], None).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "token create: {}",
        crate::sync::stderr(&o)
    );
    crate::sync::stdout(&o).trim().to_string()
}

/// A running `trailspark serve` process.
pub struct Service {
    pub child: Child,
    pub base: Option<String>,
    pub http: reqwest::Client,
    pub log: PathBuf,
}

impl Service {
    /// Starts `serve` with `config` and waits until it listens (or, workers-only, started).
    pub async fn start(
        s: &Scratch,
        org: &sfsim::RunningOrg,
        config: &Path,
        o: &Opts,
        tag: &str,
    ) -> Service {
        let log = s.0.join(format!("{tag}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailspark"));
        cmd.args(["serve", "--config", config.to_str().expect("utf-8")])
            .args(&o.args)
            .envs(base_env(org))
            .envs(o.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("trailspark serve starts");
        let workers_only = o.args.iter().any(|a| a == "--workers-only");
        let base = if workers_only {
            None
        } else {
            let stdout = child.stdout.take().expect("stdout");
            let mut lines = BufReader::new(stdout).lines();
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("serve did not start in time; log:\n{}", read(&log)))
                .expect("read stdout")
                .unwrap_or_else(|| panic!("serve exited; log:\n{}", read(&log)));
            let url = line
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
                .to_string();
            Some(url)
        };
        Service {
            child,
            base,
            http: reqwest::Client::new(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.base.as_deref().expect("this service has an API")
        )
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.expect("request reaches the service");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some(token),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Posts one evaluation or a batch to the ingest endpoint.
    pub async fn ingest(&self, token: &str, body: &Value) -> (StatusCode, Value) {
        self.post("/api/v1/evaluations", token, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// Polls the evaluation until its salesforce delivery satisfies `done`.
    pub async fn wait_delivery(
        &self,
        token: &str,
        id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let (status, v) = self.get(&format!("/api/v1/evaluations/{id}"), token).await;
            if status == StatusCode::OK {
                let d = &v["deliveries"][0];
                if done(d) {
                    return d.clone();
                }
            }
            assert!(
                start.elapsed() < timeout,
                "delivery of {id} not done in {timeout:?}: {v}\nlog:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until the evaluation's salesforce delivery is in `state`.
    pub async fn wait_state(&self, token: &str, id: &str, timeout: Duration, state: &str) -> Value {
        self.wait_delivery(token, id, timeout, |d| d["state"] == state)
            .await
    }

    /// Polls until the evaluation's salesforce delivery has `outcome`.
    pub async fn wait_outcome(
        &self,
        token: &str,
        id: &str,
        timeout: Duration,
        outcome: &str,
    ) -> Value {
        self.wait_delivery(token, id, timeout, |d| d["outcome"] == outcome)
            .await
    }

    /// The `/metrics` exposition text (with the metrics token).
    pub async fn metrics(&self) -> String {
        let r = self
            .http
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("metrics");
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.expect("text")
    }

    /// The `/metrics` text once it holds `needle`: the store's figures in it are read in
    /// the background every few seconds, so a change shows after the next read.
    pub async fn metrics_with(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.metrics().await;
            if text.contains(needle) || std::time::Instant::now() > deadline {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every delivery in the log (follows cursors).
    pub async fn all_deliveries(&self, token: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/deliveries?limit=500&cursor={c}"),
                None => "/api/v1/deliveries?limit=500".to_string(),
            };
            let (status, v) = self.get(&path, token).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            out.extend(v["items"].as_array().cloned().unwrap_or_default());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    pub fn log_tail(&self) -> String {
        let text = read(&self.log);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("serve stops after SIGTERM")
            .expect("wait")
    }

    /// `kill -9`.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

fn read(p: &PathBuf) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Waits until `cond` holds (polling), panicking with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < timeout, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn org() -> sfsim::RunningOrg {
    sfsim::start(sfsim::Options::default())
        .await
        .expect("emulated org starts")
}

/// Emails and ids of Contacts that are unique (one record per email) and have an Account.
pub fn contacts(org: &sfsim::RunningOrg, n: usize) -> Vec<(String, String)> {
    let rows = org
        .control()
        .query("SELECT Id, Email FROM Contact WHERE Email != null AND AccountId != null ORDER BY CreatedDate")
        .expect("query");
    let mut seen = std::collections::HashMap::new();
    for r in &rows {
        if let Some(e) = r["Email"].as_str() {
            *seen.entry(e.to_lowercase()).or_insert(0) += 1;
        }
    }
    rows.iter()
        .filter_map(|r| {
            let e = r["Email"].as_str()?;
            (seen.get(&e.to_lowercase()) == Some(&1)).then(|| {
                (
                    e.to_string(),
                    r["Id"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .take(n)
        .collect()
}

pub fn evaluation(id: &str, email: &str, score: &str) -> Value {
    json!({
        "id": id,
        "email": email,
        "score": score,
        "reasoning": format!("reasoning for {id}"),
        "evaluated_at": "2026-11-28T09:15:00Z",
        "person": {"first_name": "Test", "last_name": format!("Person {id}"), "company": "Testco"},
    })
}

/// Number of live Leads with this email in the org.
pub fn leads_with_email(org: &sfsim::RunningOrg, email: &str) -> usize {
    org.control()
        .query(&format!(
            "SELECT Id FROM Lead WHERE Email = '{}' AND IsDeleted = false",
            email.replace('\'', "\\'")
        ))
        .expect("query")
        .len()
}

/// A service on SQLite with an owner token.
pub struct Setup {
    pub scratch: Scratch,
    pub org: sfsim::RunningOrg,
    pub config: PathBuf,
    pub owner: String,
    pub svc: Service,
    pub opts: Opts,
}

pub async fn setup(tag: &str, o: Opts) -> Setup {
    let scratch = Scratch::new(tag);
    let org = org().await;
    let db = sqlite_url(&scratch);
    setup_with(scratch, org, &db, o).await
}

/// The same on a fresh PostgreSQL schema (panics when PostgreSQL is not configured).
pub async fn setup_postgres(tag: &str, o: Opts) -> Setup {
    let db = postgres_url();
    setup_with(Scratch::new(tag), org().await, &db, o).await
}

pub async fn setup_with(scratch: Scratch, org: sfsim::RunningOrg, db: &str, o: Opts) -> Setup {
    let config = write_config(&scratch, "config.toml", &org, db, &o);
    let owner = create_token(&config, "owner", &["--role", "owner"]).await;
    let svc = Service::start(&scratch, &org, &config, &o, "serve").await;
    Setup {
        scratch,
        org,
        config,
        owner,
        svc,
        opts: o,
    }
}

// ------------------------------------------------------------------------------ tests

#[tokio::test]
async fn ingest_is_written_in_the_org_and_reported() {
    ingest_case(setup("svc-ingest", Opts::default()).await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: TRAILSPARK_TEST_POSTGRES_URL (scripts/test.sh starts one)"]
async fn ingest_is_written_in_the_org_and_reported_on_postgres() {
    ingest_case(setup_postgres("svc-ingest-pg", Opts::default()).await).await;
}

async fn ingest_case(t: Setup) {
    let (email, contact_id) = contacts(&t.org, 1).remove(0);
    let started = Instant::now();
    let (status, answer) = t
        .svc
        .ingest(&t.owner, &evaluation("ev-1", &email, "hot"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer,
        json!({"accepted": [{"index": 0, "id": "ev-1"}], "rejected": []})
    );
    let d = t
        .svc
        .wait_outcome(&t.owner, "ev-1", Duration::from_secs(20), "updated")
        .await;
    let lone_latency = started.elapsed();
    assert_eq!(d["writes"][0]["object"], "Contact");
    assert_eq!(d["writes"][0]["id"], contact_id.as_str());
    assert_eq!(d["state"], "done");
    let rec = t.org.control().record(&contact_id).expect("contact");
    assert_eq!(rec["TrailSpark_Score__c"], "hot");
    assert_eq!(rec["TrailSpark_Reasoning__c"], "reasoning for ev-1");
    // A lone evaluation leaves at once (woken on ingest, not a slow poll).
    assert!(
        lone_latency < Duration::from_secs(3),
        "took {lone_latency:?}"
    );

    // It appears in the log, filterable by email and outcome.
    let (status, page) = t
        .svc
        .get(
            &format!(
                "/api/v1/deliveries?outcome=updated&email={}",
                email.to_uppercase()
            ),
            &t.owner,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    let (_, page) = t
        .svc
        .get("/api/v1/deliveries?outcome=failed", &t.owner)
        .await;
    assert_eq!(page["items"], json!([]));

    // Metrics count it; they need the metrics token this service was started with.
    let text = t
        .svc
        .metrics_with("trailspark_deliveries{outcome=\"updated\"} 1\n")
        .await;
    assert!(
        text.contains("trailspark_evaluations_accepted_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("trailspark_deliveries{outcome=\"updated\"} 1\n"),
        "{text}"
    );
    for line in [
        "trailspark_accept_to_written_seconds_count{destination=\"salesforce\"} 1\n",
        "# TYPE trailspark_salesforce_call_duration_seconds histogram\n",
        "# TYPE trailspark_database_size_bytes gauge\n",
    ] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
    for auth in [None, Some("Bearer wrong-token")] {
        let mut req = t.svc.http.get(t.svc.url("/metrics"));
        if let Some(a) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let r = req.send().await.expect("metrics");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
    }
    assert!(
        text.contains("trailspark_salesforce_calls_total{integration=\"sim\",kind=\"composite\"}"),
        "{text}"
    );

    // Integrations and settings.
    let (status, ints) = t.svc.get("/api/v1/integrations", &t.owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ints["items"][0]["name"], "sim");
    assert_eq!(ints["items"][0]["status"], "connected");
    assert!(
        ints["items"][0]["api_usage"]["used"].as_u64().is_some(),
        "{ints}"
    );
    let (status, dest) = t.svc.get("/api/v1/destinations/salesforce", &t.owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dest["lead"]["score_field"], "TrailSpark_Score__c");
    assert_eq!(dest["integration"], "sim");

    let (status, _) = t
        .svc
        .send(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let code = t.svc.stop().await;
    assert!(code.success(), "serve exits 0 on SIGTERM: {code:?}");
}

#[tokio::test]
async fn same_evaluation_twice_is_one_write_and_other_content_conflicts() {
    let t = setup("svc-idem", Opts::default()).await;
    let email = "new.person.idem@nowhere-corp.example";
    let ev = evaluation("ev-new", email, "hot");
    let (s1, a1) = t.svc.ingest(&t.owner, &ev).await;
    let (s2, a2) = t.svc.ingest(&t.owner, &ev).await;
    assert_eq!(s1, StatusCode::ACCEPTED);
    assert_eq!(
        (s2, &a2),
        (StatusCode::ACCEPTED, &a1),
        "the original answer"
    );
    t.svc
        .wait_outcome(&t.owner, "ev-new", Duration::from_secs(20), "created")
        .await;
    // Posted again after delivery: still one Lead.
    let (s3, _) = t.svc.ingest(&t.owner, &json!([ev])).await;
    assert_eq!(s3, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(leads_with_email(&t.org, email), 1);

    let mut other = ev.clone();
    other["score"] = json!("cold");
    let (s4, err) = t.svc.ingest(&t.owner, &other).await;
    assert_eq!(s4, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "id_conflict");
    let all = t.svc.all_deliveries(&t.owner).await;
    assert_eq!(all.len(), 1, "one delivery: {all:?}");
}

#[tokio::test]
async fn bad_input_gets_the_documented_error_and_stores_nothing() {
    let t = setup("svc-bad", Opts::default()).await;
    let post_raw = |body: Vec<u8>| {
        t.svc.send(
            reqwest::Method::POST,
            "/api/v1/evaluations",
            Some(&t.owner),
            Some(body),
        )
    };

    let (s, v) = post_raw(b"{\"email\": ".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "malformed_json", "{v}");
    assert!(v["error"]["details"].is_array());

    let (s, v) = post_raw(
        br#"{"email": 5, "score": ["hot"], "reasoning": 1, "evaluated_at": "yesterday"}"#.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_evaluations", "{v}");
    let fields: Vec<&str> = v["error"]["details"][0]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for f in ["email", "score", "reasoning", "evaluated_at"] {
        assert!(fields.contains(&f), "{f} in {v}");
    }

    let (s, v) = post_raw(b"\"hello\"".to_vec()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_body"))
    );

    let (s, v) = oversized_post(&t.svc, &t.owner).await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["error"]["code"], "payload_too_large");

    let batch: Vec<Value> = (0..1001)
        .map(|i| evaluation(&format!("b-{i}"), &format!("p{i}@example.com"), "warm"))
        .collect();
    let (s, v) = t.svc.ingest(&t.owner, &json!(batch)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "batch_too_large");

    let (s, v) = t.svc.get("/api/v1/nope", &t.owner).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_found");
    let (s, v) = t
        .svc
        .send(
            reqwest::Method::DELETE,
            "/api/v1/evaluations",
            Some(&t.owner),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["error"]["code"], "method_not_allowed");

    let (s, v) = t
        .svc
        .get("/api/v1/deliveries?outcome=bogus", &t.owner)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    let (s, _) = t
        .svc
        .get("/api/v1/deliveries?since=yesterday", &t.owner)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.svc.get("/api/v1/evaluations/b-1", &t.owner).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    assert!(
        t.svc.all_deliveries(&t.owner).await.is_empty(),
        "nothing stored"
    );
}

/// Announces a 17 MiB body and reads the answer before sending it, as a client honouring
/// an early response does (a client that keeps writing sees the connection closed).
async fn oversized_post(svc: &Service, token: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = svc.base.as_deref().expect("api");
    let host = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /api/v1/evaluations HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n[",
        17 * 1024 * 1024
    );
    conn.write_all(head.as_bytes()).await.expect("write head");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk))
            .await
            .expect("an answer before the body is sent")
            .unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && let Some(len) = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
            && body.len() >= len
        {
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            return (
                status,
                serde_json::from_str(&body[..len]).unwrap_or(Value::Null),
            );
        }
        assert!(n > 0, "connection closed without an answer: {text}");
    }
}

#[tokio::test]
async fn a_batch_accepts_the_good_items_and_lists_the_bad_by_index() {
    let t = setup("svc-partial", Opts::default()).await;
    let (email, _) = contacts(&t.org, 1).remove(0);
    let batch = json!([
        evaluation("good-1", &email, "warm"),
        {"id": "bad-1", "email": "not-an-email", "score": "hot", "reasoning": "", "evaluated_at": "2026-11-28T09:15:00Z"},
        {"id": "bad-2", "email": "a@b.example", "score": "scorching", "reasoning": "", "evaluated_at": "2026-11-28T09:15:00"},
    ]);
    let (s, v) = t.svc.ingest(&t.owner, &batch).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["accepted"], json!([{"index": 0, "id": "good-1"}]));
    let rejected = v["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["errors"][0]["field"], "email");
    assert_eq!(rejected[1]["index"], 2);
    let fields: Vec<&str> = rejected[1]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"score") && fields.contains(&"evaluated_at"),
        "{v}"
    );
    t.svc
        .wait_outcome(&t.owner, "good-1", Duration::from_secs(20), "updated")
        .await;
    assert_eq!(t.svc.all_deliveries(&t.owner).await.len(), 1);
}

#[tokio::test]
async fn transient_trouble_is_retried_until_everything_is_delivered_once() {
    faults_case(setup("svc-faults", Opts::default()).await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: TRAILSPARK_TEST_POSTGRES_URL (scripts/test.sh starts one)"]
async fn transient_trouble_is_retried_until_everything_is_delivered_once_on_postgres() {
    faults_case(setup_postgres("svc-faults-pg", Opts::default()).await).await;
}

async fn faults_case(t: Setup) {
    let people = contacts(&t.org, 12);
    // A first delivery so the client is signed in before the trouble starts.
    let (email0, _) = &people[0];
    t.svc
        .ingest(&t.owner, &evaluation("warmup", email0, "warm"))
        .await;
    t.svc
        .wait_outcome(&t.owner, "warmup", Duration::from_secs(20), "updated")
        .await;

    let c = t.org.control();
    // A burst of 503s, an expired session, and row locks on some of the records.
    c.fail_next_calls(6);
    c.expire_tokens();
    let locked: Vec<&str> = people[1..4].iter().map(|(_, id)| id.as_str()).collect();
    c.lock_records(&locked, Some(3));
    let mut batch: Vec<Value> = people[1..]
        .iter()
        .enumerate()
        .map(|(i, (email, _))| evaluation(&format!("f-{i}"), email, ["hot", "warm", "cold"][i % 3]))
        .collect();
    let new_emails: Vec<String> = (0..3)
        .map(|i| format!("fresh.{i}@faults-corp.example"))
        .collect();
    for (i, e) in new_emails.iter().enumerate() {
        batch.push(evaluation(&format!("n-{i}"), e, "hot"));
    }
    let (s, v) = t.svc.ingest(&t.owner, &json!(batch)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    for item in &batch {
        let id = item["id"].as_str().expect("id");
        t.svc
            .wait_state(&t.owner, id, Duration::from_secs(60), "done")
            .await;
    }
    for (i, (_, contact_id)) in people[1..].iter().enumerate() {
        let rec = c.record(contact_id).expect("contact");
        assert_eq!(
            rec["TrailSpark_Score__c"],
            ["hot", "warm", "cold"][i % 3],
            "{rec}"
        );
    }
    for e in &new_emails {
        assert_eq!(leads_with_email(&t.org, e), 1, "one Lead for {e}");
    }
    let failed = t
        .svc
        .get("/api/v1/deliveries?outcome=failed", &t.owner)
        .await
        .1;
    assert_eq!(failed["items"], json!([]));
}

#[tokio::test]
async fn the_daily_limit_pauses_delivery_and_raising_it_resumes() {
    let t = setup("svc-limit", Opts::default()).await;
    let people = contacts(&t.org, 10);
    let c = t.org.control();
    t.svc
        .ingest(&t.owner, &evaluation("first", &people[0].0, "hot"))
        .await;
    t.svc
        .wait_outcome(&t.owner, "first", Duration::from_secs(20), "updated")
        .await;
    // Only a couple of calls left in the org's day.
    c.set_daily_limit(c.api_calls_counted() + 2);
    for (i, (email, _)) in people[1..].iter().enumerate() {
        let (s, _) = t
            .svc
            .ingest(&t.owner, &evaluation(&format!("l-{i}"), email, "warm"))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let svc = &t.svc;
    let owner = &t.owner;
    eventually(
        Duration::from_secs(20),
        "integration paused",
        || async move {
            svc.get("/api/v1/integrations", owner).await.1["items"][0]["status"] == "paused"
        },
    )
    .await;
    // Paused, not failed: the deliveries wait.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let failed = svc.get("/api/v1/deliveries?outcome=failed", owner).await.1;
    assert_eq!(failed["items"], json!([]), "nothing fails for the limit");
    let pending = svc
        .all_deliveries(owner)
        .await
        .into_iter()
        .filter(|d| d["state"] != "done")
        .count();
    assert!(pending > 0, "some wait for the limit");

    c.set_daily_limit(1_000_000);
    for i in 0..people.len() - 1 {
        svc.wait_outcome(owner, &format!("l-{i}"), Duration::from_secs(30), "updated")
            .await;
    }
    for (_, id) in &people[1..] {
        assert_eq!(
            c.record(id).expect("contact")["TrailSpark_Score__c"],
            "warm"
        );
    }
    let ints = svc.get("/api/v1/integrations", owner).await.1;
    assert_eq!(ints["items"][0]["status"], "connected", "{ints}");
}

#[tokio::test]
async fn a_validation_rule_fails_visibly_and_retry_delivers_after_the_fix() {
    let t = setup("svc-validation", Opts::default()).await;
    let c = t.org.control();
    c.load_scenario_str(
        r#"
[[validation_rules]]
name = "Hot_Needs_Title"
object = "Contact"
message = "Hot contacts need a Title"
error_field = "Title"
condition = { kind = "required_when", field = "Title", when_field = "TrailSpark_Score__c", when_value = "hot" }
"#,
    )
    .expect("scenario");
    let (email, id) = contacts(&t.org, 1).remove(0);
    c.update(&id, json!({"Title": null})).expect("clear title");
    t.svc
        .ingest(&t.owner, &evaluation("v-1", &email, "hot"))
        .await;
    let d = t
        .svc
        .wait_state(&t.owner, "v-1", Duration::from_secs(20), "failed")
        .await;
    assert_eq!(d["outcome"], "failed");
    assert_eq!(
        d["error"]["code"], "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "{d}"
    );
    assert!(
        d["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Hot contacts need a Title"),
        "{d}"
    );
    assert!(
        d["error"]["hint"]
            .as_str()
            .unwrap_or("")
            .contains("validation rule"),
        "{d}"
    );
    assert_eq!(
        d["attempts"], 1,
        "a permanent failure is not retried by itself"
    );
    let text = t
        .svc
        .metrics_with("trailspark_deliveries{outcome=\"failed\"} 1\n")
        .await;
    assert!(
        text.contains(
            "trailspark_delivery_errors_total{code=\"FIELD_CUSTOM_VALIDATION_EXCEPTION\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("trailspark_deliveries{outcome=\"failed\"} 1\n"),
        "{text}"
    );

    // Roles: a viewer may not retry.
    let viewer = create_token(&t.config, "viewer", &["--role", "viewer"]).await;
    let delivery = d["delivery_id"].as_i64().expect("delivery id");
    let (s, _) = t
        .svc
        .post(
            &format!("/api/v1/deliveries/{delivery}/retry"),
            &viewer,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The admin fixes the record, then retries.
    c.update(&id, json!({"Title": "VP Engineering"}))
        .expect("set title");
    let (s, v) = t
        .svc
        .post(
            &format!("/api/v1/deliveries/{delivery}/retry"),
            &t.owner,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    t.svc
        .wait_outcome(&t.owner, "v-1", Duration::from_secs(20), "updated")
        .await;
    assert_eq!(
        c.record(&id).expect("contact")["TrailSpark_Score__c"],
        "hot"
    );
    let (s, _) = t
        .svc
        .post("/api/v1/deliveries/999999/retry", &t.owner, &json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = t
        .svc
        .post(
            "/api/v1/deliveries/retry?outcome=failed",
            &t.owner,
            &json!({}),
        )
        .await;
    assert_eq!((s, &v["requeued"]), (StatusCode::ACCEPTED, &json!(0)));
}

fn kill_opts() -> Opts {
    Opts {
        worker_extra: "linger_ms = 20\nbatch_size = 25\nconcurrency = 2\n".into(),
        ..Opts::default()
    }
}

#[tokio::test]
async fn kill_9_mid_batch_then_restart_delivers_everything_once() {
    kill_case(setup("svc-kill", kill_opts()).await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: TRAILSPARK_TEST_POSTGRES_URL (scripts/test.sh starts one)"]
async fn kill_9_mid_batch_then_restart_delivers_everything_once_on_postgres() {
    kill_case(setup_postgres("svc-kill-pg", kill_opts()).await).await;
}

async fn kill_case(t: Setup) {
    let c = t.org.control();
    // Slow org so batches are in flight when the process dies.
    c.set_extra_latency(Duration::from_millis(400));
    // Wait until the first records are being created, then kill -9.
    let emails = ingest_unknown_people(&t, "k", "kill.test.{i}@crash-corp.example", 120).await;
    let Setup {
        scratch,
        org,
        config,
        owner,
        svc,
        opts,
    } = t;
    svc.kill().await;
    org.control().set_extra_latency(Duration::ZERO);
    let svc = Service::start(&scratch, &org, &config, &opts, "restart").await;
    each_created_once(&svc, &owner, &org, "k", &emails, Duration::from_secs(60)).await;
}

/// Posts `n` hot evaluations (ids `{id_prefix}-{i}`) of people the org does not know, with
/// emails from `pattern` (`{i}` replaced), and returns once the first of their Leads exists.
async fn ingest_unknown_people(t: &Setup, id_prefix: &str, pattern: &str, n: usize) -> Vec<String> {
    let emails: Vec<String> = (0..n)
        .map(|i| pattern.replace("{i}", &i.to_string()))
        .collect();
    let batch: Vec<Value> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| evaluation(&format!("{id_prefix}-{i}"), e, "hot"))
        .collect();
    let (s, v) = t.svc.ingest(&t.owner, &json!(batch)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    eventually(Duration::from_secs(30), "first creates", || async {
        emails.iter().any(|e| leads_with_email(&t.org, e) > 0)
    })
    .await;
    emails
}

/// Waits until every evaluation `{id_prefix}-{i}` is done, then checks exactly one Lead
/// exists per email.
async fn each_created_once(
    svc: &Service,
    owner: &str,
    org: &sfsim::RunningOrg,
    id_prefix: &str,
    emails: &[String],
    timeout: Duration,
) {
    for i in 0..emails.len() {
        svc.wait_state(owner, &format!("{id_prefix}-{i}"), timeout, "done")
            .await;
    }
    for e in emails {
        assert_eq!(leads_with_email(org, e), 1, "exactly one Lead for {e}");
    }
}

#[tokio::test]
async fn disabled_destination_records_skipped_and_replay_requeues_the_window() {
    let o = Opts {
        destination_extra: "enabled = false\n".into(),
        ..Opts::default()
    };
    let t = setup("svc-disabled", o).await;
    let (email, _) = contacts(&t.org, 1).remove(0);
    t.svc
        .ingest(&t.owner, &evaluation("d-1", &email, "hot"))
        .await;
    let d = t
        .svc
        .wait_state(&t.owner, "d-1", Duration::from_secs(20), "done")
        .await;
    assert_eq!(
        (d["outcome"].as_str(), d["reason"].as_str()),
        (Some("skipped"), Some("destination_disabled"))
    );
    assert_eq!(
        t.org.control().api_calls_counted(),
        0,
        "a disabled destination calls nothing"
    );

    // Re-enabled (a new config), the window is replayed.
    let Setup {
        scratch,
        org,
        owner,
        svc,
        ..
    } = t;
    assert!(svc.stop().await.success());
    let o = Opts::default();
    let config = write_config(&scratch, "config2.toml", &org, &sqlite_url(&scratch), &o);
    let svc = Service::start(&scratch, &org, &config, &o, "enabled").await;
    let (s, v) = svc
        .post(
            "/api/v1/destinations/salesforce/replay",
            &owner,
            &json!({"from": "2026-11-28T00:00:00Z", "to": "2026-11-29T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (s, &v["requeued"]),
        (StatusCode::ACCEPTED, &json!(1)),
        "{v}"
    );
    svc.wait_outcome(&owner, "d-1", Duration::from_secs(20), "updated")
        .await;
    let (s, v) = svc
        .post(
            "/api/v1/destinations/salesforce/replay",
            &owner,
            &json!({"from": "2026-11-29T00:00:00Z", "to": "2026-11-28T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: TRAILSPARK_TEST_POSTGRES_URL (scripts/test.sh starts one)"]
async fn postgres_two_worker_processes_one_killed_deliver_everything_once() {
    let o = Opts {
        args: vec!["--api-only".into()],
        worker_extra: "linger_ms = 20\nbatch_size = 20\nconcurrency = 2\n".into(),
        ..Opts::default()
    };
    let t = setup_postgres("svc-pg", o.clone()).await;
    // Leases stay at 20 (no growth for a backlog), so the two processes share the work.
    let workers = Opts {
        args: vec!["--workers-only".into()],
        env: vec![("TRAILSPARK_MAX_BATCH".into(), "20".into())],
        ..o
    };
    let w1 = Service::start(&t.scratch, &t.org, &t.config, &workers, "w1").await;
    let w2 = Service::start(&t.scratch, &t.org, &t.config, &workers, "w2").await;
    t.org
        .control()
        .set_extra_latency(Duration::from_millis(300));
    let emails = ingest_unknown_people(&t, "p", "pg.{i}@two-workers.example", 150).await;
    let w1_log = w1.log.clone();
    // Killed while it holds work, not before it took any.
    eventually(Duration::from_secs(20), "worker 1 leases a batch", || {
        let log = w1_log.clone();
        async move { read(&log).contains("leased a batch") }
    })
    .await;
    w1.kill().await;
    t.org.control().set_extra_latency(Duration::ZERO);
    each_created_once(
        &t.svc,
        &t.owner,
        &t.org,
        "p",
        &emails,
        Duration::from_secs(90),
    )
    .await;
    // Both processes took batches (the killed one's unfinished leases were taken over).
    assert!(
        read(&w1_log).contains("leased a batch"),
        "worker 1 worked before it died"
    );
    assert!(read(&w2.log).contains("leased a batch"), "worker 2 worked");
    drop(w2);
}

#[tokio::test]
async fn shutdown_releases_a_batch_that_outlives_the_grace_period() {
    // A lease long enough that only a release (not an expiry) explains a quick redelivery.
    let o = Opts {
        env: vec![
            ("TRAILSPARK_LEASE_MS".into(), "30000".into()),
            ("TRAILSPARK_SHUTDOWN_GRACE_MS".into(), "300".into()),
        ],
        ..Opts::default()
    };
    let t = setup("svc-release", o).await;
    let (email, _) = contacts(&t.org, 1).remove(0);
    t.org.control().set_extra_latency(Duration::from_secs(10));
    t.svc
        .ingest(&t.owner, &evaluation("r-1", &email, "warm"))
        .await;
    t.svc
        .wait_state(&t.owner, "r-1", Duration::from_secs(20), "leased")
        .await;
    let Setup {
        scratch,
        org,
        config,
        owner,
        svc,
        opts,
    } = t;
    let asked = Instant::now();
    assert!(svc.stop().await.success());
    assert!(
        // The batch needs 10 s; the grace period is 300 ms. Generous for a loaded machine.
        asked.elapsed() < Duration::from_secs(7),
        "stopped after the grace period, not after the batch"
    );
    org.control().set_extra_latency(Duration::ZERO);
    let svc = Service::start(&scratch, &org, &config, &opts, "after-release").await;
    let d = svc
        .wait_state(&owner, "r-1", Duration::from_secs(10), "done")
        .await;
    assert!(
        matches!(d["outcome"].as_str(), Some("updated" | "unchanged")),
        "{d}"
    );
    assert_eq!(d["attempts"], 1, "a released lease costs no attempt");
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_batch_finish() {
    let o = Opts {
        env: vec![("TRAILSPARK_SHUTDOWN_GRACE_MS".into(), "15000".into())],
        ..Opts::default()
    };
    let t = setup("svc-drain", o).await;
    let (email, id) = contacts(&t.org, 1).remove(0);
    // Sign in and describe first, so the slow calls below are the batch's own.
    t.svc
        .ingest(
            &t.owner,
            &evaluation("warm", &contacts(&t.org, 2)[1].0, "warm"),
        )
        .await;
    t.svc
        .wait_state(&t.owner, "warm", Duration::from_secs(20), "done")
        .await;
    t.org
        .control()
        .set_extra_latency(Duration::from_millis(800));
    t.svc
        .ingest(&t.owner, &evaluation("f-1", &email, "hot"))
        .await;
    t.svc
        .wait_state(&t.owner, "f-1", Duration::from_secs(20), "leased")
        .await;
    let Setup {
        scratch,
        org,
        config,
        owner,
        svc,
        mut opts,
    } = t;
    assert!(svc.stop().await.success());
    // Written before the process ended, and recorded as done (an API-only process has no
    // workers that could have delivered it since).
    assert_eq!(
        org.control().record(&id).expect("contact")["TrailSpark_Score__c"],
        "hot"
    );
    opts.args = vec!["--api-only".into()];
    let svc = Service::start(&scratch, &org, &config, &opts, "api-only").await;
    let (_, v) = svc.get("/api/v1/evaluations/f-1", &owner).await;
    assert_eq!(v["deliveries"][0]["state"], "done", "{v}");
    assert_eq!(v["deliveries"][0]["outcome"], "updated", "{v}");
}

#[tokio::test]
async fn long_batches_keep_their_lease() {
    let o = Opts {
        env: vec![("TRAILSPARK_LEASE_MS".into(), "600".into())],
        ..Opts::default()
    };
    let t = setup("svc-extend", o).await;
    let people = contacts(&t.org, 2);
    let c = t.org.control();
    t.svc
        .ingest(&t.owner, &evaluation("e-0", &people[0].0, "warm"))
        .await;
    t.svc
        .wait_state(&t.owner, "e-0", Duration::from_secs(20), "done")
        .await;
    let data_calls = |c: &sfsim::Control| {
        c.calls()
            .iter()
            .filter(|r| matches!(r.kind.family(), "query" | "composite" | "collections"))
            .count()
    };
    let before = data_calls(c);
    // Each call now outlasts the lease several times over; without extension another
    // batch loop would take the delivery over and call Salesforce again.
    c.set_extra_latency(Duration::from_millis(1500));
    t.svc
        .ingest(&t.owner, &evaluation("e-1", &people[1].0, "hot"))
        .await;
    let d = t
        .svc
        .wait_state(&t.owner, "e-1", Duration::from_secs(30), "done")
        .await;
    assert_eq!(d["outcome"], "updated");
    let after = data_calls(c);
    let first_delivery_calls = before; // the first delivery made the same kind of calls
    assert_eq!(
        after - before,
        first_delivery_calls,
        "no second attempt ran in parallel"
    );
}

#[tokio::test]
async fn environment_overrides_listen_and_database() {
    let s = Scratch::new("svc-env");
    let org = org().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("addr");
    let o = Opts::default();
    let config = s.write(
        "config.toml",
        &format!(
            "[server]\nlisten = \"{busy}\"\ndatabase_url = \"sqlite://{}\"\n\n{}",
            s.0.join("unused.db").display(),
            config(org.url(), org.client_id(), &o.destination_extra)
        ),
    );
    let other_db = s.0.join("from-env.db");
    let o = Opts {
        args: vec!["--log-json".into()],
        env: vec![
            ("TRAILSPARK_LISTEN".into(), "127.0.0.1:0".into()),
            (
                "TRAILSPARK_DATABASE_URL".into(),
                format!("sqlite://{}", other_db.display()),
            ),
        ],
        ..o
    };
    let svc = Service::start(&s, &org, &config, &o, "env").await;
    let (status, _) = svc.send(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        other_db.exists(),
        "the database named by TRAILSPARK_DATABASE_URL is used"
    );
    assert!(!s.0.join("unused.db").exists());
    // Deliver something so the log has sign-in and delivery lines, then check them.
    let owner = create_token(
        &config_with_db(&s, &org, &other_db),
        "owner",
        &["--role", "owner"],
    )
    .await;
    let (email, _) = contacts(&org, 1).remove(0);
    svc.ingest(&owner, &evaluation("j-1", &email, "hot")).await;
    svc.wait_state(&owner, "j-1", Duration::from_secs(20), "done")
        .await;
    let log = read(&svc.log);
    assert!(log.lines().count() > 2, "{log}");
    for line in log.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "--log-json writes JSON lines: {line}"
        );
    }
    assert!(
        !log.contains(&org.refresh_token()),
        "the refresh token is never logged"
    );
    assert!(!log.contains(&owner), "API tokens are never logged");
    drop(taken);
}

/// A config naming `db` (for the token command, which reads `[server]` only).
fn config_with_db(s: &Scratch, org: &sfsim::RunningOrg, db: &Path) -> PathBuf {
    write_config(
        s,
        "token.toml",
        org,
        &format!("sqlite://{}", db.display()),
        &Opts::default(),
    )
}

#[tokio::test]
async fn serve_with_a_bad_config_exits_2_naming_the_key() {
    let s = Scratch::new("svc-badcfg");
    let config = s.write("config.toml", "[server]\nlisten = \"nowhere\"\n");
    let o = crate::sync::trailspark(
        &["serve", "--config", config.to_str().expect("utf-8")],
        &[],
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        crate::sync::stderr(&o).contains("server.listen"),
        "{}",
        crate::sync::stderr(&o)
    );
}

#[tokio::test]
async fn an_org_that_refuses_sign_in_shows_in_integrations_and_nothing_is_lost() {
    let o = Opts {
        env: vec![("SF_RT".into(), "not-a-refresh-token".into())],
        ..Opts::default()
    };
    let t = setup("svc-signin", o).await;
    let (email, _) = contacts(&t.org, 1).remove(0);
    let (s, _) = t
        .svc
        .ingest(&t.owner, &evaluation("s-1", &email, "hot"))
        .await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "accepted even while the org is unreachable"
    );
    let (svc, owner) = (&t.svc, &t.owner);
    eventually(
        Duration::from_secs(20),
        "integration signed out",
        || async move {
            svc.get("/api/v1/integrations", owner).await.1["items"][0]["status"] == "signed_out"
        },
    )
    .await;
    let (_, ints) = svc.get("/api/v1/integrations", owner).await;
    assert!(
        ints["items"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("reconnect the org")),
        "the status says why and what to do: {ints}"
    );
    assert!(
        !ints.to_string().contains("not-a-refresh-token"),
        "secrets never shown: {ints}"
    );
    let (_, v) = svc.get("/api/v1/evaluations/s-1", owner).await;
    assert_eq!(v["deliveries"][0]["state"], "pending", "{v}");
}

#[tokio::test]
async fn a_flood_leaves_in_full_batches() {
    let o = Opts {
        worker_extra: "linger_ms = 20\nbatch_size = 200\nconcurrency = 2\n".into(),
        ..Opts::default()
    };
    let t = setup("svc-flood", o).await;
    // Unknown people scored cold: each batch costs its lookup and nothing else.
    let batch: Vec<Value> = (0..1000)
        .map(|i| {
            evaluation(
                &format!("fl-{i}"),
                &format!("flood.{i}@nobody-corp.example"),
                "cold",
            )
        })
        .collect();
    let (s, v) = t.svc.ingest(&t.owner, &json!(batch)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (svc, owner) = (&t.svc, &t.owner);
    eventually(
        Duration::from_secs(60),
        "all 1,000 skipped",
        || async move {
            svc.get("/api/v1/deliveries?outcome=skipped&limit=500", owner)
                .await
                .1["next_cursor"]
                .is_string()
                && svc
                    .all_deliveries(owner)
                    .await
                    .iter()
                    .all(|d| d["outcome"] == "skipped")
        },
    )
    .await;
    assert_eq!(t.svc.all_deliveries(&t.owner).await.len(), 1000);
    let lookups = t
        .org
        .control()
        .calls()
        .iter()
        .filter(|c| matches!(c.kind.family(), "query" | "composite"))
        .count();
    // 1,000 / 200 = 5 batches; each batch's lookup is a few packed queries.
    assert!(
        lookups <= 20,
        "{lookups} lookup calls for 1,000 evaluations"
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_is_kept_so_a_restart_still_delivers() {
    let scratch = Scratch::new("svc-rotate");
    let org = org().await;
    org.control().set_refresh_token_rotation(true);
    let db = sqlite_url(&scratch);
    let t = setup_with(scratch, org, &db, Opts::default()).await;
    let people = contacts(&t.org, 3);
    let configured = t.org.refresh_token();

    let (s, _) = t
        .svc
        .ingest(&t.owner, &evaluation("rot-1", &people[0].0, "hot"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    t.svc
        .wait_outcome(&t.owner, "rot-1", Duration::from_secs(20), "updated")
        .await;
    assert!(
        !t.org.auth().refresh_tokens().contains(&configured),
        "the sign-in rotated the configured token away"
    );
    // An expired session: the refresh rotates the token again.
    t.org.control().expire_tokens();
    t.svc
        .ingest(&t.owner, &evaluation("rot-2", &people[1].0, "hot"))
        .await;
    t.svc
        .wait_outcome(&t.owner, "rot-2", Duration::from_secs(20), "updated")
        .await;

    // A restart with the same configuration (its token retired long ago) still delivers.
    let Setup {
        scratch,
        org,
        config,
        owner,
        svc,
        opts,
    } = t;
    assert!(svc.stop().await.success());
    let current = org.auth().refresh_tokens();
    assert_eq!(current.len(), 1, "one live token: {current:?}");
    let svc = Service::start(&scratch, &org, &config, &opts, "restart").await;
    svc.ingest(&owner, &evaluation("rot-3", &people[2].0, "hot"))
        .await;
    svc.wait_outcome(&owner, "rot-3", Duration::from_secs(20), "updated")
        .await;
    // Kept sealed: no refresh token in the database's files.
    assert!(svc.stop().await.success());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&scratch.0).expect("scratch dir") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("trailspark.db"))
        {
            files.push(std::fs::read(&path).expect("read the database"));
        }
    }
    assert!(!files.is_empty());
    for token in org.auth().refresh_tokens().iter().chain(&current) {
        for bytes in &files {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "a refresh token in plain text in the database"
            );
        }
    }
}
