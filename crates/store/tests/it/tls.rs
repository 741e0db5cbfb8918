//! `sslmode` in a PostgreSQL URL is honoured: against the test server, which offers no TLS,
//! `require` and the `verify-*` modes fail with an error naming TLS instead of going plain,
//! while `disable` and the default connect.

use crate::support::POSTGRES_URL_VAR;

fn with_param(base: &str, param: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{param}")
}

fn base() -> String {
    std::env::var(POSTGRES_URL_VAR)
        .unwrap_or_else(|_| panic!("{POSTGRES_URL_VAR} is not set: this test needs PostgreSQL"))
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TRAILSPARK_TEST_POSTGRES_URL)"]
async fn postgres_sslmode_require_never_falls_back_to_plain_text() {
    let base = base();
    for mode in ["require", "verify-ca", "verify-full"] {
        let err = match store::open(&with_param(&base, &format!("sslmode={mode}"))).await {
            Ok(_) => panic!("sslmode={mode} connected to a server without TLS"),
            Err(e) => e.to_string(),
        };
        assert!(err.to_lowercase().contains("tls"), "sslmode={mode}: {err}");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TRAILSPARK_TEST_POSTGRES_URL)"]
async fn postgres_sslmode_disable_and_the_default_connect() {
    let base = base();
    for url in [
        with_param(&base, "sslmode=disable"),
        with_param(&base, "sslmode=prefer"),
        base.clone(),
    ] {
        let store = store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        store.ready().await.expect("ready");
    }
}
