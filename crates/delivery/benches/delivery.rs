//! Delivery benchmark against the emulated org with 100 ms latency per API call:
//! 10,000 evaluations (≈60% existing Contacts, several per Account; 25% open Leads; 10%
//! unknown people with creation on for hot; 5% already up to date), delivered in batches of
//! 5,000 like `trailspark sync`. Prints API calls used against the floor
//! (⌈lookup statements / 5⌉ + ⌈records written / 1,000⌉, each statement carrying as many
//! emails as the 100,000-character SOQL limit allows) and against a per-record client
//! (2 calls per evaluation: one lookup, one write), and evaluations per second.
//!
//! Run: `cargo bench -p delivery` (env `BENCH_EVALUATIONS`, `BENCH_LATENCY_MS`, `BENCH_BATCH` to change).

use std::time::{Duration, Instant};

use delivery::{DeliverOptions, Destination};
use domain::{DestinationSettings, Evaluation, Outcome, Score};
use salesforce::Client;
use serde_json::json;

#[path = "../tests/it/sim.rs"]
mod sim;

/// `trailspark sync`'s default batch size.
const DEFAULT_BATCH: u64 = 5000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let n = env_or("BENCH_EVALUATIONS", 10_000) as usize;
    let latency = Duration::from_millis(env_or("BENCH_LATENCY_MS", 100));
    let batch_size = env_or("BENCH_BATCH", DEFAULT_BATCH).max(1) as usize;
    let org = sim::empty_org(latency).await;
    let ctl = org.control();

    // People: 60% Contacts (3 per Account), 25% open Leads, 10% unknown, 5% unchanged Contacts.
    let when = "2026-11-28T09:15:00Z";
    let mut evaluations = Vec::with_capacity(n);
    let mut account = String::new();
    for i in 0..n {
        let kind = i % 20; // 12/20 contacts, 5/20 leads, 2/20 unknown, 1/20 unchanged
        let email = format!("person{i}@company{}.example.com", i / 3);
        let score = Score::ALL[i % 3];
        let propensity = ["high", "medium", "low"][i % 3];
        let ev = |email: &str| {
            Evaluation::parse_json(&json!({"id": format!("ev-{i}"), "email": email, "score": score.as_str(),
                "reasoning": format!("Signals for person {i}: visited pricing, read docs."), "evaluated_at": when, "propensity": propensity}))
            .expect("valid evaluation")
        };
        match kind {
            0..=11 => {
                if i % 3 == 0 || account.is_empty() {
                    account = ctl
                        .insert("Account", json!({"Name": format!("Company {}", i / 3)}))
                        .expect("account");
                }
                ctl.insert(
                    "Contact",
                    json!({"LastName": format!("P{i}"), "Email": email, "AccountId": account}),
                )
                .expect("contact");
            }
            12..=16 => {
                ctl.insert(
                    "Lead",
                    json!({"LastName": format!("P{i}"), "Company": "X", "Email": email}),
                )
                .expect("lead");
            }
            17 | 18 => {}
            _ => {
                let e = ev(&email);
                ctl.insert("Contact", json!({"LastName": format!("P{i}"), "Email": email, "TrailSpark_Score__c": score.as_str(),
                    "TrailSpark_Evaluation_Date__c": "2026-11-28T09:15:00.000+0000", "TrailSpark_Reasoning__c": e.reasoning})).expect("unchanged contact");
            }
        }
        evaluations.push(ev(&email));
    }

    let mut cfg = sim::client_config(&org);
    cfg.concurrency = 4;
    let client = Client::connect(cfg).await.expect("connects");
    let mut settings = DestinationSettings::suggested("bench");
    settings.create_records.enabled = true;
    settings.create_records.score_levels = [Score::Hot].into_iter().collect();
    let dest = Destination::new(settings, client.clone())
        .await
        .expect("destination");
    let metadata = dest.metadata().await.expect("describes");
    let describe_calls = client.calls_made();
    ctl.clear_calls();

    let started = Instant::now();
    let mut counts = std::collections::BTreeMap::<Outcome, usize>::new();
    let mut records_written = 0usize;
    for batch in evaluations.chunks(batch_size) {
        for r in dest.deliver(batch, DeliverOptions::default()).await {
            *counts.entry(r.outcome).or_default() += 1;
            if !matches!(r.outcome, Outcome::Failed) {
                records_written += r.writes.len();
            }
        }
    }
    let elapsed = started.elapsed();
    let calls = client.calls_made() - describe_calls;
    let statements = ctl
        .calls()
        .iter()
        .filter(|c| {
            matches!(
                c.kind,
                sfsim::control::CallKind::Query | sfsim::control::CallKind::QueryMore
            )
        })
        .count();
    // The floor (docs/benchmarks.md): every email looked up once, each statement filled up to the
    // 100,000-character SOQL limit, five statements per Composite call, and every record
    // written in Composite calls of 1,000 records.
    let mut all_emails: Vec<String> = evaluations
        .iter()
        .map(|e| e.email.normalized().to_string())
        .collect();
    all_emails.sort();
    all_emails.dedup();
    let (contact_floor, lead_floor) =
        delivery::lookup::email_statements(&all_emails, dest.settings(), &metadata)
            .expect("statements");
    let floor_statements = contact_floor.len() + lead_floor.len();
    let floor = floor_statements.div_ceil(5) + records_written.div_ceil(1000);
    let target_calls = 1.25 * floor as f64 + describe_calls as f64;
    println!(
        "evaluations:            {n} in batches of {batch_size}, {} ms latency per call",
        latency.as_millis()
    );
    println!(
        "outcomes:               {}",
        counts
            .iter()
            .map(|(o, c)| format!("{c} {}", o.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("records written:        {records_written}");
    println!("lookup SOQL statements: {statements}");
    println!(
        "API calls used:         {calls} (+{describe_calls} describe/identity once per destination)"
    );
    println!(
        "floor:                  {floor} (⌈{floor_statements} full statements/5⌉ + ⌈{records_written}/1000⌉)"
    );
    println!(
        "used / floor:           {:.2} (target: calls ≤ 1.25 × floor + describes = {target_calls:.1}: {})",
        calls as f64 / floor as f64,
        verdict(calls as f64 + describe_calls as f64 <= target_calls)
    );
    println!("per-record client:      {} (2 per evaluation)", 2 * n);
    println!(
        "per-record / used:      {:.0}× (target ≥ 500×: {})",
        (2 * n) as f64 / calls as f64,
        verdict((2 * n) as f64 / calls as f64 >= 500.0)
    );
    println!(
        "time:                   {:.1} s, {:.0} evaluations/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    println!(
        "throughput target:      ≥ 2,000 evaluations/s: {}",
        verdict(n as f64 / elapsed.as_secs_f64() >= 2000.0)
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
