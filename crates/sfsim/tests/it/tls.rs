//! HTTPS with the generated certificate, checked by a real TLS client (reqwest + rustls)
//! that trusts only the generated CA.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sfsim::tls::{DEFAULT_HOSTS, TlsMaterial, generate};

struct Https {
    port: u16,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(material: &TlsMaterial) -> Https {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = Router::new().route("/hello", get(|| async { "hello over tls" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(sfsim::tls::serve(
        listener,
        router,
        material.server_config(),
        async move {
            let _ = stopped.await;
        },
    ));
    Https { port, stop, done }
}

fn client_trusting(pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_client_trusting_the_ca_file_connects_by_name_and_by_ip() {
    let material = generate(&DEFAULT_HOSTS).expect("certificates");
    let server = serve(&material).await;
    // The file is what users hand to their clients.
    let pem = std::fs::read_to_string(material.ca_cert_path()).expect("CA file");
    assert_eq!(pem, material.ca_cert_pem());
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1);
    let client = client_trusting(&pem);
    for host in ["localhost", "127.0.0.1"] {
        let resp = client
            .get(format!("https://{host}:{}/hello", server.port))
            .send()
            .await
            .expect(host);
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.text().await.expect("body"), "hello over tls");
    }
    let _ = server.stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .expect("stops")
        .expect("task")
        .expect("serve");
}

#[tokio::test]
async fn a_client_trusting_another_ca_is_refused() {
    let material = generate(&DEFAULT_HOSTS).expect("certificates");
    let stranger = generate(&DEFAULT_HOSTS).expect("certificates");
    let server = serve(&material).await;
    let client = client_trusting(stranger.ca_cert_pem());
    let result = client
        .get(format!("https://localhost:{}/hello", server.port))
        .send()
        .await;
    assert!(
        result.is_err(),
        "a certificate from another CA must not verify"
    );
    // Plain HTTP to the TLS port does not get an answer either.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    assert!(
        plain
            .get(format!("http://127.0.0.1:{}/hello", server.port))
            .send()
            .await
            .is_err()
    );
    // The server survives both failed handshakes.
    let ok = client_trusting(material.ca_cert_pem());
    assert_eq!(
        ok.get(format!("https://localhost:{}/hello", server.port))
            .send()
            .await
            .expect("ok")
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn a_name_outside_the_certificate_is_refused() {
    let material = generate(&["localhost"]).expect("certificates");
    let server = serve(&material).await;
    let client = client_trusting(material.ca_cert_pem());
    assert!(
        client
            .get(format!("https://localhost:{}/hello", server.port))
            .send()
            .await
            .is_ok()
    );
    assert!(
        client
            .get(format!("https://127.0.0.1:{}/hello", server.port))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_ca_file_is_removed_with_the_last_handle() {
    let material = generate(&DEFAULT_HOSTS).expect("certificates");
    let path = material.ca_cert_path().to_owned();
    let copy = material.clone();
    drop(material);
    assert!(path.exists(), "still used by a clone");
    drop(copy);
    assert!(!path.exists());
}

#[test]
fn debug_output_shows_no_key_material() {
    let material = generate(&DEFAULT_HOSTS).expect("certificates");
    let dbg = format!("{material:?}");
    assert!(
        !dbg.contains("PRIVATE KEY") && !dbg.contains("BEGIN"),
        "{dbg}"
    );
}
