//! Every token flow against the emulated org's OAuth server (`sfsim::oauth`), served
//! standalone on 127.0.0.1: the real form posts, the real error bodies, the identity
//! service's own expired-token answer, and connecting an org (authorize, code exchange
//! with PKCE, revocation).

use std::sync::Arc;

use salesforce::oauth::{DEFAULT_SCOPES, Pkce, authorize_url, exchange_code, revoke};
use salesforce::{
    Client, ClientConfig, ErrorClass, ExposeSecret, HttpOptions, LoginUrl, SecretString,
    TokenSource,
};
use sfsim::oauth::{AUTO_APPROVE_PARAM, Auth, AuthConfig};

struct Server {
    url: String,
    auth: Arc<Auth>,
    cfg: AuthConfig,
    key_pem: String,
}

async fn server() -> Server {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["trailspark-test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cfg = AuthConfig {
        jwt_cert_pem: Some(cert.pem()),
        ..AuthConfig::default()
    };
    let auth = Auth::new(cfg.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    auth.set_instance_url(&url);
    let app = sfsim::oauth::router(Arc::clone(&auth));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        url,
        auth,
        cfg,
        key_pem: key.serialize_pem(),
    }
}

impl Server {
    fn login(&self) -> LoginUrl {
        LoginUrl::parse(&self.url).unwrap()
    }
}

async fn assert_identity(client: &Client, s: &Server) {
    let id = client.identity().await.unwrap();
    assert_eq!(id.username, s.cfg.username);
    assert_eq!(id.organization_id, s.cfg.org_id);
    assert_eq!(id.user_id, s.cfg.user_id);
    assert_eq!(client.instance_url(), s.url);
}

#[tokio::test]
async fn refresh_token_flow_logs_in_and_refreshes_after_expiry() {
    let s = server().await;
    let (_, refresh) = s.auth.issue_tokens();
    let client = Client::connect(ClientConfig::new(TokenSource::RefreshToken {
        login_url: s.login(),
        client_id: s.cfg.client_id.clone(),
        client_secret: Some(SecretString::from(s.cfg.client_secret.clone())),
        refresh_token: SecretString::from(refresh),
    }))
    .await
    .unwrap();
    assert_identity(&client, &s).await;
    // userinfo answers an expired token with 403 `Bad_OAuth_Token`: refreshed once.
    s.auth.expire_access_tokens();
    assert_identity(&client, &s).await;
    assert_eq!(client.call_counts().token, 2);
}

#[tokio::test]
async fn jwt_bearer_flow_is_accepted_by_the_org() {
    let s = server().await;
    for audience in [None, Some("https://login.salesforce.com".to_owned())] {
        let client = Client::connect(ClientConfig::new(TokenSource::JwtBearer {
            login_url: s.login(),
            client_id: s.cfg.client_id.clone(),
            username: s.cfg.username.clone(),
            private_key_pem: SecretString::from(s.key_pem.clone()),
            audience,
        }))
        .await
        .unwrap();
        assert_identity(&client, &s).await;
    }
}

#[tokio::test]
async fn jwt_for_an_unknown_user_is_refused_with_salesforce_words() {
    let s = server().await;
    let err = Client::connect(ClientConfig::new(TokenSource::JwtBearer {
        login_url: s.login(),
        client_id: s.cfg.client_id.clone(),
        username: "nobody@example.com".into(),
        private_key_pem: SecretString::from(s.key_pem.clone()),
        audience: None,
    }))
    .await
    .unwrap_err();
    assert_eq!(err.error_code(), Some("invalid_grant"));
    assert!(
        err.to_string()
            .contains("user hasn't approved this consumer"),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn client_credentials_flow_logs_in() {
    let s = server().await;
    let client = Client::connect(ClientConfig::new(TokenSource::ClientCredentials {
        login_url: s.login(),
        client_id: s.cfg.client_id.clone(),
        client_secret: SecretString::from(s.cfg.client_secret.clone()),
    }))
    .await
    .unwrap();
    assert_identity(&client, &s).await;
}

#[tokio::test]
async fn wrong_client_secret_is_a_permanent_auth_error_without_the_secret() {
    let s = server().await;
    let err = Client::connect(ClientConfig::new(TokenSource::ClientCredentials {
        login_url: s.login(),
        client_id: s.cfg.client_id.clone(),
        client_secret: SecretString::from("WRONG-SEKRIT"),
    }))
    .await
    .unwrap_err();
    assert!(matches!(err, salesforce::Error::Auth { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!format!("{err} {err:?}").contains("WRONG-SEKRIT"));
}

#[tokio::test]
async fn https_with_the_orgs_generated_ca() {
    let s = server().await;
    let material = sfsim::tls::generate(&sfsim::tls::DEFAULT_HOSTS).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    s.auth.set_instance_url(&url);
    tokio::spawn(sfsim::tls::serve(
        listener,
        sfsim::oauth::router(Arc::clone(&s.auth)),
        material.server_config(),
        std::future::pending(),
    ));
    let source = TokenSource::ClientCredentials {
        login_url: LoginUrl::parse(&url).unwrap(),
        client_id: s.cfg.client_id.clone(),
        client_secret: SecretString::from(s.cfg.client_secret.clone()),
    };
    let mut cfg = ClientConfig::new(source.clone());
    cfg.extra_root_certs_pem = vec![material.ca_cert_pem().as_bytes().to_vec()];
    let client = Client::connect(cfg).await.unwrap();
    assert_eq!(client.identity().await.unwrap().username, s.cfg.username);

    // Without the CA the certificate is not trusted.
    let mut cfg = ClientConfig::new(source);
    cfg.retry = salesforce::RetryPolicy::none();
    let err = Client::connect(cfg).await.unwrap_err();
    assert!(
        matches!(err, salesforce::Error::Transport { .. }),
        "{err:?}"
    );
}

/// Where the emulated org sends the browser back; loopback callbacks need no registration.
const CALLBACK: &str = "http://localhost:1/oauth/callback";

/// What a browser does with the authorize URL: the org approves at once (its auto-approve
/// switch stands for the admin's login and "Allow") and answers 302 to the callback, whose
/// `code` is returned after checking `state` came back unchanged.
async fn authorize(s: &Server, pkce: &Pkce, state: &str) -> String {
    let url = authorize_url(
        &s.login(),
        &s.cfg.client_id,
        CALLBACK,
        state,
        &pkce.challenge,
        &DEFAULT_SCOPES,
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser
        .get(format!("{url}&{AUTO_APPROVE_PARAM}=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap();
    let back = url::Url::parse(location).unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(state));
    param("code").expect("code on the callback")
}

fn refresh_source(s: &Server, refresh_token: SecretString) -> ClientConfig {
    let mut cfg = ClientConfig::new(TokenSource::RefreshToken {
        login_url: s.login(),
        client_id: s.cfg.client_id.clone(),
        client_secret: None,
        refresh_token,
    });
    cfg.retry = salesforce::RetryPolicy::none();
    cfg
}

#[tokio::test]
async fn connecting_an_org_yields_a_refresh_token_the_client_signs_in_with() {
    let s = server().await;
    let pkce = Pkce::generate();
    let code = authorize(&s, &pkce, "state-1").await;
    let http = HttpOptions::default();
    // PKCE binds the code to this client: no consumer secret is needed.
    let grant = exchange_code(
        &http,
        &s.login(),
        &s.cfg.client_id,
        None,
        &code,
        CALLBACK,
        &pkce.verifier,
    )
    .await
    .unwrap();
    assert_eq!(grant.instance_url, s.url);
    assert!(grant.issued_at.is_some());
    assert!(grant.id_url.as_deref().unwrap().contains(&s.cfg.user_id));
    let refresh = grant
        .refresh_token
        .clone()
        .expect("offline access gives a refresh token");
    let client = Client::connect(refresh_source(&s, refresh)).await.unwrap();
    assert_identity(&client, &s).await;

    // A code is single-use.
    let again = exchange_code(
        &http,
        &s.login(),
        &s.cfg.client_id,
        None,
        &code,
        CALLBACK,
        &pkce.verifier,
    )
    .await
    .unwrap_err();
    assert_eq!(again.error_code(), Some("invalid_grant"));
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_with_a_typed_error() {
    let s = server().await;
    let pkce = Pkce::generate();
    let code = authorize(&s, &pkce, "state-2").await;
    let other = Pkce::generate();
    let err = exchange_code(
        &HttpOptions::default(),
        &s.login(),
        &s.cfg.client_id,
        Some(&SecretString::from(s.cfg.client_secret.clone())),
        &code,
        CALLBACK,
        &other.verifier,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, salesforce::Error::Auth { status: 400, error, .. } if error == "invalid_request"),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!format!("{err} {err:?}").contains(other.verifier.expose_secret()));
}

#[tokio::test]
async fn revoking_the_refresh_token_disconnects_and_twice_is_still_success() {
    let s = server().await;
    let pkce = Pkce::generate();
    let code = authorize(&s, &pkce, "state-3").await;
    let http = HttpOptions::default();
    let grant = exchange_code(
        &http,
        &s.login(),
        &s.cfg.client_id,
        None,
        &code,
        CALLBACK,
        &pkce.verifier,
    )
    .await
    .unwrap();
    let refresh = grant.refresh_token.unwrap();
    revoke(&http, &s.login(), &refresh).await.unwrap();
    let err = Client::connect(refresh_source(&s, refresh.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("invalid_grant"), "{err:?}");
    // Already revoked: the org answers `invalid_token`, which is what a disconnect wants.
    revoke(&http, &s.login(), &refresh).await.unwrap();
}

#[tokio::test]
async fn revoking_against_a_host_that_is_not_an_org_fails() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "<html>down for maintenance</html>",
        )
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let err = revoke(
        &HttpOptions::default(),
        &LoginUrl::parse(&url).unwrap(),
        &SecretString::from("5Aep861x"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            salesforce::Error::UnexpectedResponse { status: 503, .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_connect_flow_trusts_the_orgs_generated_ca_when_told() {
    let s = server().await;
    let material = sfsim::tls::generate(&sfsim::tls::DEFAULT_HOSTS).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    s.auth.set_instance_url(&url);
    tokio::spawn(sfsim::tls::serve(
        listener,
        sfsim::oauth::router(Arc::clone(&s.auth)),
        material.server_config(),
        std::future::pending(),
    ));
    let login = LoginUrl::parse_for_connect(&url).unwrap();
    let (_, refresh) = s.auth.issue_tokens();
    let refresh = SecretString::from(refresh);
    let untrusted = revoke(&HttpOptions::default(), &login, &refresh)
        .await
        .unwrap_err();
    assert!(
        matches!(untrusted, salesforce::Error::Transport { .. }),
        "{untrusted:?}"
    );
    let http = HttpOptions {
        extra_root_certs_pem: vec![material.ca_cert_pem().as_bytes().to_vec()],
        ..HttpOptions::default()
    };
    revoke(&http, &login, &refresh).await.unwrap();
}

/// A [`salesforce::RefreshTokenStore`] in memory, keyed by the configured token.
#[derive(Default)]
struct Kept(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl salesforce::RefreshTokenStore for Kept {
    fn load<'a>(
        &'a self,
        configured: &'a SecretString,
    ) -> futures::future::BoxFuture<'a, Option<SecretString>> {
        let t = self
            .0
            .lock()
            .unwrap()
            .get(configured.expose_secret())
            .cloned();
        Box::pin(async move { t.map(SecretString::from) })
    }
    fn save<'a>(
        &'a self,
        configured: &'a SecretString,
        rotated: &'a SecretString,
    ) -> futures::future::BoxFuture<'a, ()> {
        self.0.lock().unwrap().insert(
            configured.expose_secret().to_owned(),
            rotated.expose_secret().to_owned(),
        );
        Box::pin(async {})
    }
}

#[tokio::test]
async fn a_rotated_refresh_token_is_kept_and_the_next_client_signs_in_with_it() {
    let s = server().await;
    s.auth.set_refresh_token_rotation(true);
    let (_, configured) = s.auth.issue_tokens();
    let kept = Arc::new(Kept::default());
    let cfg = || {
        let mut c = refresh_source(&s, SecretString::from(configured.clone()));
        c.refresh_tokens = Some(salesforce::RefreshTokens(kept.clone()));
        c
    };
    let client = Client::connect(cfg()).await.unwrap();
    // The sign-in itself rotated the token: the configured one no longer works.
    let first = kept.0.lock().unwrap()[&configured].clone();
    assert_ne!(first, configured);
    assert_eq!(s.auth.refresh_tokens(), vec![first.clone()]);
    // A refresh after expiry rotates again, and the store follows.
    s.auth.expire_access_tokens();
    assert_identity(&client, &s).await;
    let second = kept.0.lock().unwrap()[&configured].clone();
    assert_ne!(second, first);
    assert_eq!(s.auth.refresh_tokens(), vec![second.clone()]);
    // A new client (a restart) configured with the original token signs in with the kept one.
    drop(client);
    let again = Client::connect(cfg()).await.unwrap();
    assert_identity(&again, &s).await;
    // Without the store it cannot: the configured token was replaced long ago.
    let err = Client::connect(refresh_source(&s, SecretString::from(configured.clone())))
        .await
        .unwrap_err();
    assert!(matches!(err, salesforce::Error::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_successor() {
    let s = server().await;
    s.auth.set_refresh_token_rotation(true);
    let (_, configured) = s.auth.issue_tokens();
    let client = Client::connect(refresh_source(&s, SecretString::from(configured.clone())))
        .await
        .unwrap();
    assert_eq!(s.auth.refresh_tokens().len(), 1);
    // The old token again, as a process that did not keep the rotated one would.
    assert!(
        Client::connect(refresh_source(&s, SecretString::from(configured)))
            .await
            .is_err()
    );
    assert!(s.auth.refresh_tokens().is_empty(), "the family is revoked");
    assert!(client.identity().await.is_err(), "and its access tokens");
}

/// A server answering every request with a redirect to `target`, counting the requests
/// that reach `target` itself.
async fn redirecting(target_hits: Arc<std::sync::atomic::AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = format!("{url}/elsewhere");
    let app = axum::Router::new()
        .route(
            "/elsewhere",
            axum::routing::any(move || {
                target_hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { "{}" }
            }),
        )
        .fallback(move || {
            let target = target.clone();
            async move {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, target)],
                )
            }
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn requests_carrying_secrets_do_not_follow_redirects() {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = redirecting(hits.clone()).await;
    // The token request (its form carries the refresh token and the secret).
    let err = Client::connect(ClientConfig::new(TokenSource::RefreshToken {
        login_url: LoginUrl::parse(&url).unwrap(),
        client_id: "3MVG9x".into(),
        client_secret: Some(SecretString::from("secret")),
        refresh_token: SecretString::from("5Aep861x"),
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            salesforce::Error::UnexpectedResponse { status: 307, .. }
        ),
        "{err:?}"
    );
    // A data request (its header carries the access token).
    let client = Client::connect(ClientConfig::new(TokenSource::AccessToken {
        instance_url: url.clone(),
        access_token: SecretString::from("00Dx!token"),
    }))
    .await
    .unwrap();
    assert!(client.limits().await.is_err());
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "never followed"
    );
}

#[tokio::test]
async fn plain_http_is_refused_except_on_this_machine() {
    for url in ["http://login.salesforce.com", "http://10.0.0.1:8080"] {
        let err = Client::connect(ClientConfig::new(TokenSource::RefreshToken {
            login_url: LoginUrl::parse(url).unwrap(),
            client_id: "3MVG9x".into(),
            client_secret: None,
            refresh_token: SecretString::from("5Aep861x"),
        }))
        .await
        .unwrap_err();
        assert!(
            matches!(&err, salesforce::Error::Config(m) if m.contains("https://")),
            "{url}: {err:?}"
        );
    }
    let err = Client::connect(ClientConfig::new(TokenSource::AccessToken {
        instance_url: "http://acme.my.salesforce.com".into(),
        access_token: SecretString::from("00Dx!token"),
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, salesforce::Error::Config(m) if m.contains("instance URL")),
        "{err:?}"
    );
    // An org answering a token request with a plain-http instance elsewhere is refused too.
    assert!(salesforce::require_secure_transport("instance URL", "http://127.0.0.1:9").is_ok());
    assert!(salesforce::require_secure_transport("instance URL", "http://[::1]:9").is_ok());
    assert!(salesforce::require_secure_transport("instance URL", "http://localhost:9").is_ok());
    assert!(salesforce::require_secure_transport("instance URL", "https://x.example").is_ok());
}
