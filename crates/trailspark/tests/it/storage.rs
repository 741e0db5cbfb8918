//! A full disk under a running `serve` (SQLite): ingest answers 503 with `Retry-After` and
//! `/readyz` 503 while writes fail; once space is back both recover without a restart, and
//! every accepted evaluation is delivered.
//!
//! The full disk is the service process's file-size limit set to 0 (`prlimit`): every
//! write(2) to a file then fails, as on a full disk, its log file's included. The test
//! process ignores SIGXFSZ before starting the service, which inherits that, so a failed
//! write is an error rather than the signal's default (ending the process).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::service::{Opts, Service, contacts, evaluation, eventually, setup};

/// Sets the soft file-size limit of process `pid` (`None`: its hard limit).
fn file_size_limit(pid: u32, bytes: Option<u64>) {
    let pid = libc::pid_t::try_from(pid).expect("pid");
    // SAFETY: prlimit on a child process of ours, with valid pointers.
    unsafe {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(
            libc::prlimit(pid, libc::RLIMIT_FSIZE, std::ptr::null(), &mut old),
            0
        );
        let new = libc::rlimit {
            rlim_cur: bytes.unwrap_or(old.rlim_max),
            rlim_max: old.rlim_max,
        };
        assert_eq!(
            libc::prlimit(pid, libc::RLIMIT_FSIZE, &new, std::ptr::null_mut()),
            0
        );
    }
}

async fn readyz(svc: &Service) -> StatusCode {
    svc.send(reqwest::Method::GET, "/readyz", None, None)
        .await
        .0
}

#[tokio::test]
async fn a_full_disk_gives_503_and_not_ready_then_recovers_without_a_restart() {
    // SAFETY: setting this test process's own signal disposition (each test is a process).
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let t = setup("svc-disk", Opts::default()).await;
    let people = contacts(&t.org, 3);
    let (s, v) = t
        .svc
        .ingest(&t.owner, &evaluation("d-0", &people[0].0, "hot"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    t.svc
        .wait_state(&t.owner, "d-0", Duration::from_secs(20), "done")
        .await;
    let pid = t.svc.child.id().expect("running");

    file_size_limit(pid, Some(0));
    let resp = t
        .svc
        .http
        .post(t.svc.url("/api/v1/evaluations"))
        .bearer_auth(&t.owner)
        .json(&evaluation("d-1", &people[1].0, "hot"))
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert_eq!(readyz(&t.svc).await, StatusCode::SERVICE_UNAVAILABLE);

    file_size_limit(pid, None);
    eventually(Duration::from_secs(20), "ready again", || async {
        readyz(&t.svc).await == StatusCode::OK
    })
    .await;
    // The refused evaluation is sent again, with another; everything accepted is delivered.
    let batch = json!([
        evaluation("d-1", &people[1].0, "hot"),
        evaluation("d-2", &people[2].0, "warm")
    ]);
    let (s, v) = t.svc.ingest(&t.owner, &batch).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    for id in ["d-0", "d-1", "d-2"] {
        t.svc
            .wait_state(&t.owner, id, Duration::from_secs(30), "done")
            .await;
    }
    let code = t.svc.stop().await;
    assert!(code.success(), "serve exits 0: {code:?}");
}
