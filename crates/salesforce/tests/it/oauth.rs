//! Every token flow against the emulated org's OAuth server (`sfsim::oauth`), served
//! standalone on 127.0.0.1: the real form posts, the real error bodies, the identity
//! service's own expired-token answer.

use std::sync::Arc;

use salesforce::{Client, ClientConfig, ErrorClass, LoginUrl, SecretString, TokenSource};
use sfsim::oauth::{Auth, AuthConfig};

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
