//! Peak memory of the service while 8 clients post 16 MiB ingest bodies at once: the rise
//! of the resident set's high-water mark (`VmHWM`) of a fresh process (this program run
//! again for each figure) running the service (API only, SQLite) and the clients, from
//! when the bodies are built to when every answer is in. Three bodies: an array of 16 MiB of empty objects (refused past 1,000 items),
//! one evaluation whose `person` is 16 MiB (refused over 256 KiB), and a full batch of
//! evaluations of about 256 KiB each (accepted and stored). For comparison, the same
//! bodies parsed whole into a `serde_json::Value`, 8 at once: what the ingest route did
//! first before it split the body.
//!
//! Prints the figures and rewrites its section of `docs/benchmarks.md`. Linux only.
//! Run: `cargo bench -p server --profile dev --bench memory`

#[path = "support/doc_section.rs"]
mod doc_section;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Bytes;
use serde_json::{Value, json};
use server::{Application, Mode, Settings, WorkerOptions};
use tokio::sync::oneshot;

const SECTION_START: &str = "<!-- ingest-memory:start -->";
const SECTION_END: &str = "<!-- ingest-memory:end -->";
const CLIENTS: usize = 8;
const BODY_BYTES: usize = 16 * 1024 * 1024 - 64 * 1024;

/// The resident set's high-water mark since the last reset, in MiB.
fn peak_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")?;
    Ok(kb / 1024.0)
}

/// The resident set now, in MiB.
fn resident_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kb / 1024.0)
}

/// Starts the high-water mark afresh from the current resident set.
fn reset_peak() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")
}

fn tiny_items() -> Bytes {
    let mut s = String::with_capacity(BODY_BYTES + 8);
    s.push('[');
    while s.len() < BODY_BYTES {
        s.push_str("{},");
    }
    s.push_str("{}]");
    Bytes::from(s)
}

fn huge_person() -> Bytes {
    let ev = json!({
        "id": "huge", "email": "huge@example.com", "score": "hot", "reasoning": "r",
        "evaluated_at": "2026-11-28T09:15:00Z",
        "person": {"first_name": "A", "title": "t".repeat(BODY_BYTES)},
    });
    Bytes::from(serde_json::to_vec(&ev).expect("serializes"))
}

/// Evaluations of nearly 256 KiB each (a long reasoning, a full `person`, an unknown key),
/// as many as fit in the body; `tag` keeps each client's ids apart.
fn full_batch(tag: usize) -> Bytes {
    let mut items = Vec::new();
    let mut size = 2;
    let mut i = 0;
    loop {
        let ev = json!({
            "id": format!("m-{tag}-{i}"), "email": format!("p{tag}-{i}@example.com"),
            "score": "warm", "reasoning": "r".repeat(120_000),
            "evaluated_at": "2026-11-28T09:15:00Z",
            "person": {"first_name": "A", "last_name": "B", "company": "C", "title": "t".repeat(60_000)},
            "account": {"name": "n".repeat(30_000), "domain": "example.com"},
            "notes": "x".repeat(40_000),
        });
        let n = serde_json::to_vec(&ev).expect("serializes").len() + 1;
        if size + n > BODY_BYTES {
            break;
        }
        size += n;
        items.push(ev);
        i += 1;
    }
    Bytes::from(serde_json::to_vec(&items).expect("serializes"))
}

/// The cases, by index: name, expected status, and the bodies of the 8 clients.
const CASES: [(&str, u16); 3] = [
    ("16 MiB of empty objects (refused: over 1,000 items)", 400),
    (
        "one evaluation with a 16 MiB `person` (refused: over 256 KiB)",
        400,
    ),
    (
        "evaluations of ~250 KiB each, as many as fit (accepted, stored)",
        202,
    ),
];

fn bodies(case: usize) -> Vec<Bytes> {
    match case {
        0 => (0..CLIENTS).map(|_| tiny_items()).collect(),
        1 => (0..CLIENTS).map(|_| huge_person()).collect(),
        _ => (0..CLIENTS).map(full_batch).collect(),
    }
}

const CASE_VAR: &str = "TRAILSPARK_MEMORY_BENCH_CASE";
const MODE_VAR: &str = "TRAILSPARK_MEMORY_BENCH_MODE";

fn main() -> Result<()> {
    match (std::env::var(CASE_VAR), std::env::var(MODE_VAR)) {
        (Ok(case), Ok(mode)) => {
            let case: usize = case.parse()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let (peak, baseline) = rt.block_on(measure(case, &mode))?;
            println!("peak={peak} baseline={baseline}");
            Ok(())
        }
        _ => report(),
    }
}

/// Runs one measurement in a fresh process; (peak rise, resident set before) in MiB.
fn child(case: usize, mode: &str) -> Result<(f64, f64)> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(CASE_VAR, case.to_string())
        .env(MODE_VAR, mode)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "case {case} ({mode}) failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("peak="))
        .context("no figure")?;
    let mut it = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('=').and_then(|(_, v)| v.parse::<f64>().ok()));
    Ok((it.next().context("peak")?, it.next().context("baseline")?))
}

fn report() -> Result<()> {
    let mut rows = Vec::new();
    for (i, (name, _)) in CASES.iter().enumerate() {
        let (after, base) = child(i, "service")?;
        let (before, _) = child(i, "parse")?;
        println!(
            "{name}: service peak {after:.0} MiB above {base:.0} MiB (whole-body parse {before:.0} MiB, {:.1}x)",
            before / after.max(1.0)
        );
        rows.push((*name, after, before, base));
    }
    let mut section = String::new();
    let _ = writeln!(section, "{SECTION_START}");
    let _ = writeln!(
        section,
        "## Service: peak memory of {CLIENTS} concurrent 16 MiB ingest bodies\n"
    );
    let _ = writeln!(
        section,
        "`cargo bench -p server --profile dev --bench memory` (dev profile; each figure from a fresh process running the service API-only on SQLite, driven over HTTP by reqwest from the same process; {} cores; {}).\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        time::OffsetDateTime::now_utc().date()
    );
    let _ = writeln!(
        section,
        "Each figure is the rise of the process's resident-set high-water mark (`VmHWM`) while {CLIENTS} clients post one such body each at once, above the resident set once the service is up and the clients' {CLIENTS} bodies are built (given in the last column). \"Whole-body parse\" is the same {CLIENTS} bodies parsed into `serde_json::Value` trees at once in a process that holds them already: the previous ingest route did that after reading each body (joining its chunks: up to twice its size), so its peak was about the bodies read plus this column plus the rows. The service now reads a body once into a buffer sized from `Content-Length`, splits it into items without a tree, parses one item at a time and lets the body go before storing the rows: its peak is about the {CLIENTS} bodies read ({CLIENTS} × 16 MiB = 128 MiB) and the rows.\n"
    );
    let _ = writeln!(
        section,
        "| body | service peak (MiB) | whole-body parse (MiB) | resident before (MiB) |\n| --- | ---: | ---: | ---: |"
    );
    for (name, after, before, base) in &rows {
        let _ = writeln!(section, "| {name} | {after:.0} | {before:.0} | {base:.0} |");
    }
    let _ = writeln!(section, "{SECTION_END}");
    doc_section::write(SECTION_START, SECTION_END, &section)?;
    Ok(())
}

/// One case in this process: the peak rise and the resident set before it, in MiB.
async fn measure(case: usize, mode: &str) -> Result<(f64, f64)> {
    let dir = std::env::temp_dir().join(format!("trailspark-bench-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = measure_in(&dir, case, mode).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_in(dir: &std::path::Path, case: usize, mode: &str) -> Result<(f64, f64)> {
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}", dir.join("bench.db").display()),
        public_url: "http://127.0.0.1:0".into(),
        mode: Mode::ApiOnly,
        worker: WorkerOptions::from_settings(&Default::default()),
        integrations: Vec::new(),
        destination: None,
        log_retention: Duration::from_secs(86_400),
        retention: Duration::from_secs(86_400),
        metrics_token: None,
        http: Default::default(),
        secrets: Some(Arc::new(server::SecretBox::random())),
    };
    let app = Application::build(settings, server::integrations::no_config_connector()).await?;
    let base = format!("http://{}", app.local_addr().context("listener")?);
    let token = app
        .state()
        .store
        .create_token("bench", store::TokenRole::Owner)
        .await?
        .secret;
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    // A first request, so the baseline is a warmed-up service.
    client
        .get(format!("{base}/readyz"))
        .send()
        .await?
        .error_for_status()?;
    let bodies = bodies(case);
    let expect = CASES[case].1;
    reset_peak()?;
    let baseline = resident_mib()?;
    if mode == "parse" {
        let parses: Vec<_> = bodies
            .iter()
            .cloned()
            .map(|b| {
                tokio::task::spawn_blocking(move || serde_json::from_slice::<Value>(&b).is_ok())
            })
            .collect();
        futures::future::join_all(parses).await;
    } else {
        let sends = bodies.iter().cloned().map(|body| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                let r = client
                    .post(format!("{base}/api/v1/evaluations"))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = r.status().as_u16();
                let _ = r.bytes().await?;
                anyhow::Ok(status)
            }
        });
        for status in futures::future::join_all(sends).await {
            let status = status?;
            anyhow::ensure!(status == expect, "case {case}: got {status}");
        }
    }
    let peak = peak_mib()? - baseline;
    let _ = stop.send(());
    task.await??;
    Ok((peak, baseline))
}
