//! Salesforce REST client for trailspark: connecting an org (web-server flow with PKCE,
//! [`oauth`]), OAuth token flows with single-flight refresh,
//! describe (cached, `If-Modified-Since` revalidation), SOQL queries with pagination, queries
//! and sObject Collections writes packed into Composite requests, typed errors with a retry
//! classification, and API-limit tracking from `Sforce-Limit-Info`; for org setup, custom
//! fields through the Tooling API (`tooling`) and field access through a permission set
//! (`permissions`).
//!
//! Facts about Salesforce's wire format live in `docs/salesforce.md`; the constants below
//! are the one place the numbers are defined.
//!
//! ```no_run
//! # async fn demo() -> Result<(), salesforce::Error> {
//! use salesforce::{Client, ClientConfig, LoginUrl, SecretString, TokenSource, chunk_in_clause, SOQL_MAX_CHARS};
//!
//! let client = Client::connect(ClientConfig::new(TokenSource::RefreshToken {
//!     login_url: LoginUrl::production(),
//!     client_id: "3MVG9...".into(),
//!     client_secret: None,
//!     refresh_token: SecretString::from("5Aep..."),
//! }))
//! .await?;
//! let lead = client.describe("Lead").await?;
//! let emails = vec!["ada@example.com".to_owned(), "o'hara@example.com".to_owned()];
//! let soqls = chunk_in_clause("SELECT Id, Email FROM Lead WHERE Email IN (", &emails, ")", SOQL_MAX_CHARS)
//!     .expect("emails are short");
//! let pages = client.query_many(&soqls).await?; // 5 statements per API call
//! # let _ = (lead, pages);
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod composite;
mod config;
mod describe;
mod describe_many;
mod error;
mod limits;
pub mod oauth;
mod permissions;
mod soql;
mod tooling;
mod types;

pub use client::{CALL_LATENCY_BOUNDS, CallCounts, CallLatency, Client, TRANSPORT_ERROR_STATUS};
pub use config::{
    ApiVersion, ClientConfig, HttpOptions, LoginUrl, RefreshTokenStore, RefreshTokens, RetryPolicy,
    TokenSource, require_secure_transport,
};
pub use describe::{FieldDescribe, FieldType, SObjectDescribe};
pub use error::{
    ApiError, Error, ErrorClass, FIELD_METADATA_ERROR_CODES, Failure, TransportKind, classify,
    is_field_metadata_error, parse_retry_after,
};
pub use limits::{ApiUsage, LimitValue, Limits, parse_limit_info};
pub use permissions::{
    Assignment, FieldGrant, FieldPermission, GrantOutcome, GrantRequest, PermissionSetInfo,
    PermissionSetRef, PermissionSetState,
};
pub use soql::{
    ChunkError, SOQL_MAX_CHARS, chunk_in_clause, escape_soql_literal, quote_soql_literal,
};
pub use tooling::{
    CustomFieldInfo, CustomFieldKind, CustomFieldMetadata, CustomFieldSpec,
    TOOLING_COMPOSITE_MAX_SUBREQUESTS, ToolingError,
};
pub use types::{
    CollectionWrite, Identity, Record, RecordError, SaveResult, WriteAction, WriteOptions,
};

/// Re-exported so callers can build [`TokenSource`] secrets without depending on `secrecy`.
pub use secrecy::{ExposeSecret, SecretString};

/// Maximum records in one sObject Collections create/update request ([REST]
/// resources-composite-sobjects-collections: "up to 200 records").
pub const COLLECTION_MAX_RECORDS: usize = 200;

/// Maximum query or sObject Collections subrequests in one Composite request ([REST]
/// resources-composite-composite: of 25 subrequests, at most 5 may be query/collections).
pub const COMPOSITE_MAX_HEAVY_SUBREQUESTS: usize = 5;

/// Salesforce's duplicate-rule header; `allowSave=true` saves despite *alert* rules
/// (block rules still fail) ([REST] headers-duplicaterules).
pub const DUPLICATE_RULE_HEADER: &str = "Sforce-Duplicate-Rule-Header";

/// The response header carrying `api-usage=used/max` ([REST] headers_api_usage).
pub const LIMIT_INFO_HEADER: &str = "Sforce-Limit-Info";

#[cfg(test)]
mod secret_tests {
    //! Secrets must never reach logs: `Debug` of configuration, client and errors is checked
    //! for the secret values themselves.
    use super::*;

    const SECRETS: [&str; 4] = [
        "REFRESH-SEKRIT",
        "CLIENT-SEKRIT",
        "PEM-SEKRIT",
        "ACCESS-SEKRIT",
    ];

    fn assert_clean(text: &str) {
        for s in SECRETS {
            assert!(!text.contains(s), "secret {s} leaked in: {text}");
        }
    }

    #[test]
    fn config_debug_redacts_every_token_source() {
        let sources = vec![
            TokenSource::RefreshToken {
                login_url: LoginUrl::production(),
                client_id: "cid".into(),
                client_secret: Some(SecretString::from("CLIENT-SEKRIT")),
                refresh_token: SecretString::from("REFRESH-SEKRIT"),
            },
            TokenSource::JwtBearer {
                login_url: LoginUrl::sandbox(),
                client_id: "cid".into(),
                username: "u@x.com".into(),
                private_key_pem: SecretString::from("PEM-SEKRIT"),
                audience: None,
            },
            TokenSource::ClientCredentials {
                login_url: LoginUrl::my_domain("acme").unwrap(),
                client_id: "cid".into(),
                client_secret: SecretString::from("CLIENT-SEKRIT"),
            },
            TokenSource::AccessToken {
                instance_url: "https://acme.my.salesforce.com".into(),
                access_token: SecretString::from("ACCESS-SEKRIT"),
            },
        ];
        for s in sources {
            let cfg = ClientConfig::new(s);
            let dbg = format!("{cfg:?} {cfg:#?}");
            assert!(dbg.contains("cid") || dbg.contains("acme"), "{dbg}");
            assert_clean(&dbg);
        }
    }

    #[tokio::test]
    async fn client_and_error_debug_redact_secrets() {
        let client = Client::connect(ClientConfig::new(TokenSource::AccessToken {
            instance_url: "http://127.0.0.1:9".into(),
            access_token: SecretString::from("ACCESS-SEKRIT"),
        }))
        .await
        .unwrap();
        let dbg = format!("{client:?}");
        assert!(dbg.contains("127.0.0.1:9"));
        assert_clean(&dbg);
        // A call to a closed port: the transport error must not carry the bearer token.
        let mut cfg = ClientConfig::new(TokenSource::AccessToken {
            instance_url: "http://127.0.0.1:9".into(),
            access_token: SecretString::from("ACCESS-SEKRIT"),
        });
        cfg.retry = RetryPolicy::none();
        let client = Client::connect(cfg).await.unwrap();
        let err = client.limits().await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Retryable);
        assert_clean(&format!("{err} {err:?}"));
        assert_clean(&format!("{:?}", Error::CannotRefresh));
        // Nor the URL, whose query string carries customer data (emails in SOQL).
        let err = client
            .query("SELECT Id FROM Lead WHERE Email = 'private.person@example.com'")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(
            !format!("{err} {err:?}").contains("private.person"),
            "{err:?}"
        );
    }
}

#[cfg(test)]
mod thread_safety {
    //! Callers share one client across tasks and spawn its futures: both must stay
    //! `Send` (+ `Sync` for the client), which this checks at compile time.
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}

    #[allow(dead_code, clippy::let_underscore_future)]
    fn futures_are_send(c: &Client) {
        send_sync(c);
        send(&c.query(""));
        send(&c.query_many(&[]));
        send(&c.write_many(Vec::new(), WriteOptions::default()));
        send(&c.describe(""));
        send(&c.describe_refresh(""));
        send(&c.identity());
        send(&c.limits());
        let http = HttpOptions::default();
        let login = LoginUrl::production();
        let secret = SecretString::from("");
        send(&oauth::exchange_code(
            &http, &login, "", None, "", "", &secret,
        ));
        send(&oauth::revoke(&http, &login, &secret));
        send(&Client::connect(ClientConfig::new(
            TokenSource::AccessToken {
                instance_url: String::new(),
                access_token: SecretString::from(""),
            },
        )));
    }
}
