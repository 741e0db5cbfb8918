//! `sslmode` in a PostgreSQL URL is honoured: against the test server, which offers no TLS,
//! `require` and the `verify-*` modes fail with an error naming TLS instead of going plain,
//! while `disable` and the default connect; against the second test server, which speaks
//! TLS with a certificate of its own CA (`TRAILSPARK_PG_TLS=1 scripts/start-postgres.sh`),
//! `require` and `verify-*` connect encrypted and an unknown CA is refused.

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

fn tls_server() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: this test needs PostgreSQL speaking TLS \
                 (eval \"$(TRAILSPARK_PG_TLS=1 scripts/start-postgres.sh)\" starts one and sets it)"
            )
        })
    };
    (
        var("TRAILSPARK_TEST_POSTGRES_TLS_URL"),
        var("TRAILSPARK_TEST_POSTGRES_TLS_CA"),
    )
}

#[tokio::test]
#[ignore = "needs PostgreSQL speaking TLS (TRAILSPARK_TEST_POSTGRES_TLS_URL)"]
async fn postgres_over_tls_with_require_and_verify_full() {
    let (base, ca) = tls_server();
    // Each store in its own schema, as the other tests.
    for (i, params) in [
        "sslmode=require".to_string(),
        format!("sslmode=verify-ca&sslrootcert={ca}"),
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ]
    .iter()
    .enumerate()
    {
        let url = with_param(&base, params);
        let schema = format!("tls_{}_{i}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{params}: {e}"));
        let encrypted: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&mut conn)
                .await
                .expect("pg_stat_ssl");
        assert!(encrypted, "{params}: the connection is encrypted");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create schema");
        let store = store::open(&with_param(&url, &format!("options[search_path]={schema}")))
            .await
            .unwrap_or_else(|e| panic!("{params}: {e}"));
        store.ready().await.expect("ready");
    }
    // The server's certificate chains to the test CA only: verifying against the public
    // roots fails.
    let err = store::open(&with_param(&base, "sslmode=verify-full"))
        .await
        .err()
        .expect("an unknown CA is refused");
    assert!(err.to_string().contains("certificate"), "{err}");
}
