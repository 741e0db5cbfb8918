//! Store throughput: evaluations stored per second through `Store::ingest` in batches of
//! 1,000 (the HTTP API's largest batch), and deliveries per second through the worker's
//! lease → complete cycle, on SQLite and (when `TRAILSPARK_TEST_POSTGRES_URL` is set) on
//! PostgreSQL. Prints the figures and rewrites its own section of `docs/benchmarks.md`.
//!
//! Run: `eval "$(scripts/start-postgres.sh)"; cargo bench -p store --bench ingest`
//! (`BENCH_EVALUATIONS=N` changes the count, default 100,000).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::Outcome;
use serde_json::json;
use store::{DeliveryResult, Disposition, NewEvaluation, RetryPolicy, Store};
use time::OffsetDateTime;

const BATCH: usize = 1000;
const LEASE_BATCH: usize = 200;
const CONCURRENT_CLIENTS: usize = 4;
const SECTION_START: &str = "<!-- store-ingest:start -->";
const SECTION_END: &str = "<!-- store-ingest:end -->";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Figures {
    backend: &'static str,
    one_client: f64,
    concurrent: f64,
    queue_cycle: f64,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let count: usize = std::env::var("BENCH_EVALUATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut figures = Vec::new();

    let dir = std::env::temp_dir().join(format!("store-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = |name: &str| format!("sqlite://{}", dir.join(name).display());
    figures.push(
        run(
            "SQLite (file, WAL)",
            &sqlite("a.db"),
            &sqlite("b.db"),
            count,
        )
        .await?,
    );
    let _ = std::fs::remove_dir_all(&dir);

    match std::env::var("TRAILSPARK_TEST_POSTGRES_URL") {
        Ok(base) => {
            let a = fresh_schema(&base).await?;
            let b = fresh_schema(&base).await?;
            figures.push(run("PostgreSQL (local)", &a, &b, count).await?);
        }
        Err(_) => eprintln!("TRAILSPARK_TEST_POSTGRES_URL not set: PostgreSQL skipped"),
    }

    let section = render(&figures, count);
    println!("{section}");
    write_section(&section)?;
    Ok(())
}

async fn run(
    backend: &'static str,
    url_one: &str,
    url_many: &str,
    count: usize,
) -> Result<Figures, BoxError> {
    let batches = make_batches(count);

    // One client posting batches back to back.
    let s = store::open(url_one).await?;
    let t = Instant::now();
    for b in &batches {
        s.ingest(b.clone()).await?;
    }
    let one_client = count as f64 / t.elapsed().as_secs_f64();

    // The queue cycle on what was just stored: one worker, lease then complete.
    let t = Instant::now();
    let mut done = 0usize;
    loop {
        let leased = s
            .lease_batch("salesforce", LEASE_BATCH, Duration::from_secs(60), "bench")
            .await?;
        if leased.is_empty() {
            break;
        }
        done += leased.len();
        let results = leased
            .iter()
            .map(|l| DeliveryResult {
                id: l.id,
                worker: "bench".into(),
                token: l.token,
                disposition: Disposition::Final(Outcome::Updated),
                report: json!({"id": l.evaluation_id, "outcome": "updated",
                    "writes": [{"object": "Lead", "id": "00Q000000000001AAA", "action": "update"}]}),
                wrote: true,
            })
            .collect();
        s.complete(results, &RetryPolicy::default()).await?;
    }
    let queue_cycle = done as f64 / t.elapsed().as_secs_f64();

    // Several clients at once (concurrent HTTP batch POSTs), on a fresh database.
    let s: Arc<dyn Store> = store::open(url_many).await?;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for part in 0..CONCURRENT_CLIENTS {
        let s = s.clone();
        let mine: Vec<Vec<NewEvaluation>> = batches
            .iter()
            .skip(part)
            .step_by(CONCURRENT_CLIENTS)
            .cloned()
            .collect();
        tasks.push(tokio::spawn(async move {
            for b in mine {
                s.ingest(b).await?;
            }
            Ok::<(), store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let concurrent = count as f64 / t.elapsed().as_secs_f64();

    eprintln!(
        "{backend}: {one_client:.0}/s one client, {concurrent:.0}/s {CONCURRENT_CLIENTS} clients, {queue_cycle:.0}/s queue cycle"
    );
    Ok(Figures {
        backend,
        one_client,
        concurrent,
        queue_cycle,
    })
}

/// Realistic evaluations (~700 bytes of JSON each, reasoning of a few sentences).
fn make_batches(count: usize) -> Vec<Vec<NewEvaluation>> {
    let base = OffsetDateTime::now_utc();
    let reasoning = "VP Engineering at a 400-person fintech; visited pricing three times this \
        week, downloaded the security whitepaper and asked for a SOC 2 report. Budget cycle \
        starts next quarter; champion identified in the platform team. "
        .repeat(2);
    let all: Vec<NewEvaluation> = (0..count)
        .map(|n| {
            let id = format!("bench-{n:08}");
            let email = format!("person{n}@example{}.com", n % 997);
            NewEvaluation {
                content_hash: format!("{:064x}", n),
                email: email.clone(),
                evaluated_at: base,
                payload: json!({"id": id, "email": email, "score": "hot",
                    "reasoning": reasoning, "evaluated_at": "2026-11-28T09:15:00Z",
                    "propensity": "high",
                    "person": {"first_name": "Ada", "last_name": "Lovelace",
                               "company": "Analytical Engines", "title": "VP Engineering"}}),
                destinations: vec!["salesforce".into()],
                id,
            }
        })
        .collect();
    all.chunks(BATCH).map(<[NewEvaluation]>::to_vec).collect()
}

async fn fresh_schema(base: &str) -> Result<String, BoxError> {
    use sqlx::Connection;
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(base).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options[search_path]={schema}"))
}

fn render(figures: &[Figures], count: usize) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = OffsetDateTime::now_utc().date();
    let mut s = String::new();
    let _ = writeln!(s, "{SECTION_START}");
    let _ = writeln!(s, "## Store: ingest and queue throughput\n");
    let _ = writeln!(
        s,
        "`eval \"$(scripts/start-postgres.sh)\"; cargo bench -p store --bench ingest` \
         ({count} evaluations, batches of {BATCH}; {cores} cores; {date}).\n"
    );
    let _ = writeln!(
        s,
        "| backend | ingest, 1 client (evaluations/s) | ingest, {CONCURRENT_CLIENTS} clients (evaluations/s) | lease {LEASE_BATCH} + complete, 1 worker (deliveries/s) |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: |");
    for f in figures {
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.0} |",
            f.backend, f.one_client, f.concurrent, f.queue_cycle
        );
    }
    let _ = writeln!(
        s,
        "\nEach ingest is one transaction committed before it returns (SQLite: WAL, \
         `synchronous = NORMAL`; PostgreSQL: default durability). Evaluations are ~700 bytes \
         of JSON. The queue cycle includes one sync-log entry per delivery. \
         Runs on a shared machine vary by up to ±40%."
    );
    let _ = write!(s, "{SECTION_END}");
    s
}

/// Replaces this benchmark's section of docs/benchmarks.md (or appends it), keeping the rest.
fn write_section(section: &str) -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/benchmarks.md");
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_string());
    let new = match (old.find(SECTION_START), old.find(SECTION_END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}{}", &old[..a], section, &old[b + SECTION_END.len()..])
        }
        _ => format!("{}\n\n{}\n", old.trim_end(), section),
    };
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, new)
}
