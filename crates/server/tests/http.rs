//! The service's HTTP edge in one process: connection timeouts and shutdown with slow or
//! half-open clients, HEAD on the health routes, and the ingest body's bounds.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use server::listener::Limits;
use server::{Application, Mode, Settings, WorkerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Long enough that a test never fails on a slow machine; the bounds under test are short.
const PATIENCE: Duration = Duration::from_secs(20);

struct Running {
    addr: std::net::SocketAddr,
    state: server::AppState,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "trailspark-http-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    TempDir(d)
}

async fn start(http: Limits, grace: Duration) -> Running {
    let dir = temp_dir();
    let worker = WorkerOptions {
        shutdown_grace: grace,
        ..WorkerOptions::from_settings(&Default::default())
    };
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}", dir.0.join("t.db").display()),
        public_url: "http://127.0.0.1:0".into(),
        mode: Mode::ApiOnly,
        worker,
        integrations: Vec::new(),
        destination: None,
        log_retention: Duration::from_secs(86_400),
        retention: Duration::from_secs(86_400),
        metrics_token: None,
        http,
        secrets: Some(Arc::new(server::SecretBox::random())),
    };
    let app = Application::build(settings, server::integrations::no_config_connector())
        .await
        .expect("the service starts");
    let addr = app.local_addr().expect("listening");
    let state = app.state().clone();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        state,
        stop,
        task,
        _dir: dir,
    }
}

fn limits(header_ms: u64, body_ms: u64, idle_ms: u64) -> Limits {
    Limits {
        header_timeout: Duration::from_millis(header_ms),
        body_timeout: Duration::from_millis(body_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        max_connections: 64,
    }
}

/// Reads until the peer closes; what it sent.
async fn read_to_close(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, conn.read_to_end(&mut got))
        .await
        .expect("the service closes the connection")
        .ok();
    String::from_utf8_lossy(&got).to_string()
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_after_the_header_timeout() {
    let svc = start(limits(300, 60_000, 60_000), Duration::from_secs(5)).await;
    let mut conn = TcpStream::connect(svc.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // Keep dripping a byte now and then, as a slowloris client does: it does not help.
    let drip = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if conn.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(PATIENCE, drip).await;
    let answer = read_to_close(&mut conn).await;
    assert!(
        !answer.contains("200 OK"),
        "no answer to a head never finished: {answer}"
    );
    let _ = svc.stop.send(());
    svc.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_silent_or_idle_connection_is_closed_after_the_idle_timeout() {
    let svc = start(limits(60_000, 60_000, 300), Duration::from_secs(5)).await;
    // Opened and silent.
    let mut silent = TcpStream::connect(svc.addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    // Kept alive after an answer.
    let mut kept = TcpStream::connect(svc.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = svc.stop.send(());
    svc.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let svc = start(limits(60_000, 300, 60_000), Duration::from_secs(5)).await;
    let token = svc
        .state
        .store
        .create_token("t", store::TokenRole::Owner)
        .await
        .unwrap()
        .secret;
    let mut conn = TcpStream::connect(svc.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/evaluations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{\"email\":"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    let _ = svc.stop.send(());
    svc.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_finishes_within_its_grace_with_a_half_sent_request_open() {
    // Timeouts far longer than the grace: only the grace can end the connection.
    let svc = start(
        limits(600_000, 600_000, 600_000),
        Duration::from_millis(300),
    )
    .await;
    let mut conn = TcpStream::connect(svc.addr).await.unwrap();
    conn.write_all(b"POST /api/v1/evaluations HTTP/1.1\r\nHost: x\r\nContent-Le")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(svc.addr).await.unwrap();
    // Both connections are being served before the stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = svc.stop.send(());
    tokio::time::timeout(PATIENCE, svc.task)
        .await
        .expect("shutdown does not wait for the half-sent request")
        .unwrap()
        .unwrap();
    assert_eq!(read_to_close(&mut conn).await, "");
    assert_eq!(read_to_close(&mut idle).await, "");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let mut cap = limits(60_000, 60_000, 60_000);
    cap.max_connections = 1;
    let svc = start(cap, Duration::from_secs(5)).await;
    let first = TcpStream::connect(svc.addr).await.unwrap();
    // The first connection is being served (holding the only place) before the second comes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = TcpStream::connect(svc.addr).await.unwrap();
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(early.is_err(), "no answer while the cap is reached");
    drop(first);
    let answer = read_to_close(&mut second).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = svc.stop.send(());
    svc.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn head_on_the_health_routes_answers_like_get_without_a_body() {
    let svc = start(Limits::default(), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let url = format!("http://{}{path}", svc.addr);
        let get = client.get(&url).send().await.unwrap();
        assert_eq!(get.status(), 200, "GET {path}");
        let get_type = get.headers().get("content-type").cloned();
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(head.headers().get("content-type").cloned(), get_type);
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    let _ = svc.stop.send(());
    svc.task.await.unwrap().unwrap();
}

async fn post(svc: &Running, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/evaluations", svc.addr))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn evaluation(id: &str) -> Value {
    json!({"id": id, "email": format!("{id}@example.com"), "score": "hot",
           "reasoning": "r", "evaluated_at": "2026-11-28T09:15:00Z"})
}

#[tokio::test]
async fn ingest_bounds_are_enforced_while_parsing() {
    let svc = start(Limits::default(), Duration::from_secs(5)).await;
    let token = svc
        .state
        .store
        .create_token("t", store::TokenRole::Owner)
        .await
        .unwrap()
        .secret;

    // More than 1,000 items: refused with the count, whatever the items are.
    let many = format!("[{}{{}}]", "{},".repeat(250_000));
    let (s, v) = post(&svc, &token, many.into_bytes()).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "batch_too_large");
    assert_eq!(v["error"]["details"][0]["got"], 250_001);

    // An item over 256 KiB is rejected by index, unread; the others are accepted.
    let mut big = evaluation("big");
    big["padding"] = json!("x".repeat(300 * 1024));
    let mut person = evaluation("person");
    person["person"] = json!({"first_name": "A", "title": "t".repeat(70 * 1024)});
    let body = serde_json::to_vec(&json!([evaluation("ok-1"), big, person])).unwrap();
    let (s, v) = post(&svc, &token, body).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], json!([{"index": 0, "id": "ok-1"}]));
    assert_eq!(v["rejected"][0]["index"], 1);
    assert_eq!(v["rejected"][0]["errors"][0]["field"], "(evaluation)");
    let message = v["rejected"][0]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("256 KiB"), "{message}");
    assert_eq!(v["rejected"][1]["errors"][0]["field"], "person");

    // An error quotes a bounded part of a long value, not the value.
    let mut long = evaluation("long");
    long["score"] = json!("\u{1}".repeat(20_000));
    let (s, v) = post(&svc, &token, serde_json::to_vec(&long).unwrap()).await;
    assert_eq!(s, 400, "{v}");
    let text = v.to_string();
    assert!(text.len() < 2_000, "{} bytes of error", text.len());

    // The other shapes keep their answers.
    let (s, v) = post(&svc, &token, b"[]".to_vec()).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("empty_batch")));
    let (s, v) = post(&svc, &token, b"\"hello\"".to_vec()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    let (s, v) = post(&svc, &token, b"[{}, ".to_vec()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );
    let (s, v) = post(
        &svc,
        &token,
        serde_json::to_vec(&evaluation("one")).unwrap(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], json!([{"index": 0, "id": "one"}]));

    let _ = svc.stop.send(());
    svc.task.await.unwrap().unwrap();
}
