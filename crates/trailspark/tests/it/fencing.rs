//! Fencing end to end: a worker process stopped (`SIGSTOP`) past its lease while another
//! takes the delivery over writes nothing when it resumes: one record in the org, and the
//! sync log holds the attempt that happened, once.

use std::time::Duration;

use reqwest::StatusCode;

use crate::service::{
    Opts, Service, Setup, evaluation, eventually, leads_with_email, setup, setup_postgres,
};

fn signal(svc: &Service, sig: &str) {
    let pid = svc.child.id().expect("running");
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success(), "kill {sig}");
}

/// The API in its own process, so a stopped worker does not stop it. Duplicate saves are
/// allowed (the org's duplicate rule only alerts), so nothing but fencing stands between a
/// stale worker and a second Lead.
fn api_only() -> Opts {
    let d = Opts::default();
    Opts {
        args: vec!["--api-only".into()],
        worker_extra: "linger_ms = 20\nbatch_size = 20\nconcurrency = 1\n".into(),
        destination_extra: format!("allow_duplicate_save = true\n{}", d.destination_extra),
        ..d
    }
}

#[tokio::test]
async fn a_worker_stalled_past_its_lease_writes_nothing_when_it_resumes() {
    stall_case(setup("svc-stall", api_only()).await, false).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: TRAILSPARK_TEST_POSTGRES_URL (scripts/test.sh starts one)"]
async fn a_worker_stalled_past_its_lease_writes_nothing_when_it_resumes_on_postgres() {
    stall_case(setup_postgres("svc-stall-pg", api_only()).await, true).await;
}

async fn stall_case(t: Setup, postgres: bool) {
    let workers = Opts {
        args: vec!["--workers-only".into()],
        env: vec![("TRAILSPARK_LEASE_MS".into(), "1500".into())],
        ..t.opts.clone()
    };
    // Every Salesforce answer takes a second: worker A is still looking the person up when
    // it is stopped.
    t.org
        .control()
        .set_extra_latency(Duration::from_millis(1000));
    let a = Service::start(&t.scratch, &t.org, &t.config, &workers, "worker-a").await;
    let email = "stalled.worker@fencing.example";
    let (s, v) = t
        .svc
        .ingest(&t.owner, &evaluation("f-1", email, "hot"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let a_log = a.log.clone();
    // Stopped once its lookup reached the org (which answers it at once, then waits): the
    // answer, no such person, is what A finds when it resumes.
    let ctl = t.org.control();
    eventually(
        Duration::from_secs(20),
        "worker A looks the person up",
        || async {
            ctl.calls()
                .iter()
                .any(|c| matches!(c.kind.family(), "query" | "composite"))
        },
    )
    .await;
    signal(&a, "-STOP");

    // B takes the delivery over once A's lease ran out, and creates the Lead.
    let b = Service::start(&t.scratch, &t.org, &t.config, &workers, "worker-b").await;
    let d = t
        .svc
        .wait_state(&t.owner, "f-1", Duration::from_secs(30), "done")
        .await;
    assert_eq!(d["outcome"], "created", "{d}");
    assert_eq!(leads_with_email(&t.org, email), 1);

    // A resumes with its lookup's answer (no Lead then) and would create a second one, but
    // its lease is gone: it sends no write and hands the delivery back.
    signal(&a, "-CONT");
    // Done with its batch either way: handed back, or (were it not fenced) written and
    // refused by the store as stale.
    let start = std::time::Instant::now();
    let a_done = |log: &str| {
        log.contains("lease dropped before their writes")
            || log.contains("another worker holds now were not applied")
    };
    while !a_done(&std::fs::read_to_string(&a_log).unwrap_or_default()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "worker A did not finish its batch; its log:\n{}",
            a.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(leads_with_email(&t.org, email), 1, "A wrote nothing");
    assert!(
        std::fs::read_to_string(&a_log)
            .unwrap_or_default()
            .contains("lease dropped before their writes"),
        "A handed the delivery back unwritten: {}",
        a.log_tail()
    );

    // The log says what happened: B's attempt, once; A's nothing.
    let db = std::fs::read_to_string(&t.config)
        .expect("config")
        .lines()
        .find_map(|l| {
            l.strip_prefix("database_url = \"")?
                .strip_suffix('"')
                .map(str::to_string)
        })
        .expect("database_url");
    let store = store::open(&db).await.expect("open the service's database");
    let log = store.evaluation_log("f-1").await.expect("log");
    let seen: Vec<_> = log
        .iter()
        .map(|e| {
            (
                e.outcome.as_str(),
                e.stale,
                e.worker.contains("-salesforce-"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("created", false, true)],
        "{log:?} (postgres: {postgres})"
    );
    let got = store
        .get_evaluation("f-1")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(got.deliveries[0].attempts, 1);
    drop(b);
    drop(a);
}
