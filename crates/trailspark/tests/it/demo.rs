//! `trailspark demo` the way the README runs it (`cargo run -p trailspark -- demo`; here the
//! built binary): one command, no setup, and the sample evaluations are delivered — seen
//! through the API with the printed token.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::sync::Scratch;

#[tokio::test]
async fn demo_runs_with_no_setup_and_delivers_its_samples() {
    let s = Scratch::new("demo");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_trailspark"))
        // Not README's default 127.0.0.1:8080: tests run in parallel (and a developer may
        // have a demo running), so a fixed port would make them fail at random.
        .args(["demo", "--listen", "127.0.0.1:0", "--every", "1", "--dir"])
        .arg(&s.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("demo starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut api, mut token, mut email, mut password) = (None, None, None, None);
    let mut page = None;
    let started = Instant::now();
    while api.is_none() || token.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("demo prints its URLs in time")
            .expect("stdout")
            .expect("demo keeps running");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["API", url] => api = Some(url.trim_end_matches("/api/v1").to_string()),
            ["Open", url, "in", "a", "browser", ..] => page = Some(url.to_string()),
            ["Owner", "API", "token", t] => token = Some(t.to_string()),
            ["email", e] => email = Some(e.to_string()),
            ["password", p] => password = Some(p.to_string()),
            _ => {}
        }
    }
    let (api, token) = (api.expect("api"), token.expect("token"));
    // The page to open is printed first, and answers with the sign-in page.
    let page = page.expect("the page to open");
    assert_eq!(page, format!("{api}/"));
    let sign_in = reqwest::get(format!("{api}/sign-in"))
        .await
        .expect("sign-in page");
    assert_eq!(sign_in.status(), reqwest::StatusCode::OK);
    assert!(
        sign_in
            .text()
            .await
            .unwrap_or_default()
            .contains("password")
    );
    let http = reqwest::Client::new();
    // The printed sign-in works.
    let signed_in = http
        .post(format!("{api}/api/v1/session"))
        .json(&serde_json::json!({"email": email.expect("an email"), "password": password.expect("a password")}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), reqwest::StatusCode::OK);
    assert!(signed_in.headers().get("set-cookie").is_some());
    let mut seen: Vec<Value>;
    loop {
        let v: Value = http
            .get(format!("{api}/api/v1/deliveries?limit=100"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("deliveries")
            .json()
            .await
            .expect("json");
        seen = v["items"].as_array().cloned().unwrap_or_default();
        let outcome = |id: &str| {
            seen.iter()
                .find(|d| d["id"] == id)
                .and_then(|d| d["outcome"].as_str().map(str::to_string))
        };
        if outcome("demo-new-0").as_deref() == Some("created")
            && outcome("demo-contact-1").as_deref() == Some("updated")
            && outcome("demo-blocked-by-validation-rule").as_deref() == Some("failed")
            && seen.iter().any(|d| {
                d["id"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("demo-trickle-"))
            })
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "demo samples not delivered: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let blocked = seen
        .iter()
        .find(|d| d["id"] == "demo-blocked-by-validation-rule")
        .expect("blocked");
    assert_eq!(
        blocked["error"]["code"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    );
    let long = seen
        .iter()
        .find(|d| d["id"] == "demo-long-reasoning")
        .expect("long");
    assert!(
        long["warnings"].to_string().contains("reasoning_truncated"),
        "{long}"
    );

    // Ctrl-C stops everything cleanly.
    let pid = child.id().expect("pid");
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("demo stops on Ctrl-C")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn demo_on_a_taken_address_exits_2_and_suggests_listen() {
    let s = Scratch::new("demo-busy");
    // Stands in for README's default 8080 being taken: a random port held by this test.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("addr").to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_trailspark"))
        .args(["demo", "--listen", &busy, "--dir"])
        .arg(&s.0)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("demo gives up promptly")
        .expect("demo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
    drop(taken);
}
