//! The OAuth endpoints against docs/salesforce.md#oauth, served standalone on 127.0.0.1.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};
use sfsim::oauth::{AUTO_APPROVE_PARAM, Auth, AuthConfig, SessionError};

const JWT_KEY: &str = include_str!("../fixtures/jwt_key.pem");
const JWT_CERT: &str = include_str!("../fixtures/jwt_cert.pem");
const OTHER_KEY: &str = include_str!("../fixtures/other_key.pem");
const CALLBACK: &str = "http://localhost:7777/callback";

/// An authorization server on a random port, with an HTTP client that does not follow
/// redirects (the tests read `Location`).
struct Server {
    url: String,
    auth: Arc<Auth>,
    cfg: AuthConfig,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn server_with(cfg: AuthConfig) -> Server {
    let auth = Auth::new(cfg.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    auth.set_instance_url(&url);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = sfsim::oauth::router(Arc::clone(&auth));
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Server {
        url,
        auth,
        cfg,
        http,
        _stop: stop,
    }
}

async fn server() -> Server {
    server_with(AuthConfig {
        jwt_cert_pem: Some(JWT_CERT.to_owned()),
        ..AuthConfig::default()
    })
    .await
}

impl Server {
    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/services/oauth2/token", self.url))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("json body"))
    }

    /// The refresh-token grant for the connected app without a secret.
    async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.cfg.client_id),
        ])
        .await
    }

    /// Runs the authorize step with auto-approval and returns the callback's query.
    async fn authorize(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", self.cfg.client_id.as_str()),
            ("redirect_uri", CALLBACK),
            ("state", "xyz"),
            (AUTO_APPROVE_PARAM, "true"),
        ];
        query.extend_from_slice(extra);
        let resp = self
            .http
            .get(format!("{}/services/oauth2/authorize", self.url))
            .query(&query)
            .send()
            .await
            .expect("authorize");
        assert_eq!(resp.status().as_u16(), 302);
        callback_query(&resp)
    }

    async fn code(&self, extra: &[(&str, &str)]) -> String {
        let q = self.authorize(extra).await;
        param(&q, "code").expect("code in the callback").to_owned()
    }
}

fn callback_query(resp: &reqwest::Response) -> Vec<(String, String)> {
    let location = resp
        .headers()
        .get("location")
        .expect("Location")
        .to_str()
        .expect("ascii");
    assert!(location.starts_with(CALLBACK), "{location}");
    let url = url::Url::parse(location).expect("url");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn assert_error(resp: &(u16, Value), error: &str, description: &str) {
    assert_eq!(resp.0, 400, "{}", resp.1);
    assert_eq!(
        resp.1,
        json!({"error": error, "error_description": description})
    );
}

fn pkce(verifier: &str) -> String {
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn jwt(key_pem: &str, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        claims,
        &key,
    )
    .expect("sign")
}

fn claims(s: &Server) -> Value {
    json!({"iss": s.cfg.client_id, "sub": s.cfg.username, "aud": "https://login.salesforce.com", "exp": now() + 180})
}

const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

// ---------------------------------------------------------------------------------------
// Token response shape

/// Golden shape: docs/salesforce.md#token-response (restforce
/// spec/fixtures/auth_success_response.json plus the modern `token_type` and `scope`): these keys
/// in this order, `issued_at` a string of milliseconds, no `expires_in`, `signature` = base64
/// HMAC-SHA256(id + issued_at).
#[tokio::test]
async fn web_server_flow_response_has_salesforce_shape() {
    let s = server().await;
    let verifier = "a-verifier-that-is-long-enough-to-be-a-real-pkce-verifier-0123456789";
    let code = s
        .code(&[
            ("code_challenge", &pkce(verifier)),
            ("scope", "api refresh_token"),
        ])
        .await;
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let (status, body) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &s.cfg.client_id),
            ("client_secret", &s.cfg.client_secret),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let obj = body.as_object().expect("object");
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "refresh_token",
            "signature",
            "scope",
            "instance_url",
            "id",
            "token_type",
            "issued_at"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api refresh_token");
    assert_eq!(body["instance_url"], s.url.as_str());
    let id = format!("{}/id/{}/{}", s.url, s.cfg.org_id, s.cfg.user_id);
    assert_eq!(body["id"], id.as_str());
    let issued_at = body["issued_at"].as_str().expect("issued_at is a string");
    let ms: u128 = issued_at.parse().expect("milliseconds");
    assert!(ms >= before && ms < before + 60_000);
    let access = body["access_token"].as_str().expect("access token");
    assert!(
        access.starts_with(&format!("{}!", &s.cfg.org_id[..15])),
        "{access}"
    );

    // The signature checks out with the consumer secret, as a client would verify it.
    let sig = base64::engine::general_purpose::STANDARD
        .decode(body["signature"].as_str().expect("sig"))
        .expect("b64");
    let key = jsonwebtoken::DecodingKey::from_secret(s.cfg.client_secret.as_bytes()).expect("key");
    let sig_url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
    let message = format!("{id}{issued_at}");
    assert!(
        jsonwebtoken::crypto::verify(
            &sig_url,
            message.as_bytes(),
            &key,
            jsonwebtoken::Algorithm::HS256
        )
        .expect("verify")
    );

    let session = s
        .auth
        .check_access_token(&format!("Bearer {access}"))
        .expect("valid session");
    assert_eq!(session.username, s.cfg.username);
    assert_eq!(session.org_id, s.cfg.org_id);
}

#[tokio::test]
async fn code_without_refresh_scope_yields_no_refresh_token() {
    let s = server().await;
    let code = s.code(&[("scope", "api")]).await;
    let (status, body) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &s.cfg.client_id),
            ("client_secret", &s.cfg.client_secret),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("expires_in").is_none());
}

// ---------------------------------------------------------------------------------------
// Authorization code: PKCE, single use, expiry, redirect_uri, client secret

#[tokio::test]
async fn pkce_public_client_needs_the_right_verifier() {
    let s = server().await;
    let verifier = "correct-horse-battery-staple-correct-horse-battery-staple-42";
    let exchange = |code: String, verifier: Option<&'static str>| {
        let s = &s;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("client_id", s.cfg.client_id.clone()),
                ("redirect_uri", CALLBACK.to_owned()),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v.to_owned()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.token(&form).await
        }
    };
    let challenge = pkce(verifier);
    // Missing verifier after a challenge: invalid_grant; wrong one: invalid_request
    // (docs/salesforce.md#authorization-code-grant).
    let code = s.code(&[("code_challenge", &challenge)]).await;
    assert_error(
        &exchange(code.clone(), None).await,
        "invalid_grant",
        "invalid code verifier",
    );
    assert_error(
        &exchange(code.clone(), Some("not-the-verifier")).await,
        "invalid_request",
        "invalid code verifier",
    );
    // The right verifier, without a client secret (PKCE binds the code to the client).
    let (status, body) = exchange(code, Some(verifier)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());

    // Without PKCE, a client secret is required.
    let code = s.code(&[]).await;
    assert_error(
        &exchange(code, None).await,
        "invalid_client",
        "invalid client credentials",
    );
}

#[tokio::test]
async fn codes_are_single_use() {
    let s = server().await;
    let code = s.code(&[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", s.cfg.client_id.as_str()),
        ("client_secret", s.cfg.client_secret.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    assert_eq!(s.token(&form).await.0, 200);
    assert_error(
        &s.token(&form).await,
        "invalid_grant",
        "expired authorization code",
    );
}

#[tokio::test]
async fn codes_expire() {
    let s = server_with(AuthConfig {
        code_ttl: Duration::from_millis(100),
        ..AuthConfig::default()
    })
    .await;
    let code = s.code(&[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let resp = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &s.cfg.client_id),
            ("client_secret", &s.cfg.client_secret),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    assert_error(&resp, "invalid_grant", "expired authorization code");
}

#[tokio::test]
async fn code_exchange_checks_redirect_uri_and_client() {
    let s = server().await;
    let code = s.code(&[]).await;
    let with = |client_id: &str, redirect: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("client_id".to_owned(), client_id.to_owned()),
            ("client_secret".to_owned(), s.cfg.client_secret.clone()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
        ]
    };
    let send = |form: Vec<(String, String)>| async {
        let form = form;
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        s.token(&pairs).await
    };
    assert_error(
        &send(with(&s.cfg.client_id, "http://localhost:7777/other")).await,
        "invalid_grant",
        "redirect_uri must match configuration",
    );
    assert_error(
        &send(with("3MVG9unknown", CALLBACK)).await,
        "invalid_client_id",
        "client identifier invalid",
    );
    assert_error(
        &s.token(&[
            ("grant_type", "authorization_code"),
            ("code", "aPrxnope"),
            ("client_id", &s.cfg.client_id),
            ("client_secret", &s.cfg.client_secret),
            ("redirect_uri", CALLBACK),
        ])
        .await,
        "invalid_grant",
        "invalid authorization code",
    );
    // Failed attempts did not consume the code.
    assert_eq!(send(with(&s.cfg.client_id, CALLBACK)).await.0, 200);
}

// ---------------------------------------------------------------------------------------
// The login-and-allow page

#[tokio::test]
async fn login_page_allows_and_denies() {
    let s = server().await;
    let url = format!("{}/services/oauth2/authorize", s.url);
    let query = [
        ("response_type", "code"),
        ("client_id", s.cfg.client_id.as_str()),
        ("redirect_uri", CALLBACK),
        ("state", "st<ate>"),
    ];
    let page = s.http.get(&url).query(&query).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains(r#"name="username""#) && html.contains(r#"name="password""#),
        "{html}"
    );
    assert!(html.contains(r#"value="allow""#) && html.contains(r#"value="deny""#));
    // State is carried in a hidden field, escaped.
    assert!(
        html.contains(r#"name="state" value="st&lt;ate&gt;""#),
        "{html}"
    );

    let submit = |username: &str, password: &str, action: &str| {
        let mut form: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        form.push(("username".into(), username.into()));
        form.push(("password".into(), password.into()));
        form.push(("action".into(), action.into()));
        s.http.post(&url).form(&form).send()
    };

    let wrong = submit(&s.cfg.username, "wrong", "allow")
        .await
        .expect("post");
    assert_eq!(wrong.status().as_u16(), 200);
    assert!(
        wrong
            .text()
            .await
            .expect("html")
            .contains("Please check your username and password")
    );

    let denied = submit(&s.cfg.username, "", "deny").await.expect("post");
    assert_eq!(denied.status().as_u16(), 302);
    let location = denied.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        location,
        format!(
            "{CALLBACK}?error=access_denied&error_description=end-user+denied+authorization&state=st%3Cate%3E"
        )
    );

    let allowed = submit(&s.cfg.username, &s.cfg.password, "allow")
        .await
        .expect("post");
    assert_eq!(allowed.status().as_u16(), 302);
    let q = callback_query(&allowed);
    assert_eq!(param(&q, "state"), Some("st<ate>"));
    let code = param(&q, "code").expect("code");
    let (status, _) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", &s.cfg.client_id),
            ("client_secret", &s.cfg.client_secret),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn authorize_refuses_unknown_clients_and_foreign_callbacks_without_redirecting() {
    let s = server().await;
    let url = format!("{}/services/oauth2/authorize", s.url);
    for (client, callback, error) in [
        ("3MVG9unknown", CALLBACK, "invalid_client_id"),
        (
            s.cfg.client_id.as_str(),
            "https://attacker.example/cb",
            "redirect_uri_mismatch",
        ),
    ] {
        let resp = s
            .http
            .get(&url)
            .query(&[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", callback),
                (AUTO_APPROVE_PARAM, "true"),
            ])
            .send()
            .await
            .expect("authorize");
        assert_eq!(resp.status().as_u16(), 400);
        assert!(resp.headers().get("location").is_none());
        assert!(resp.text().await.expect("html").contains(error));
    }
    // Errors after the callback is trusted go to the callback.
    let q = s.authorize(&[("scope", "api chatter_api")]).await;
    assert_eq!(param(&q, "error"), Some("invalid_scope"));
    assert_eq!(param(&q, "state"), Some("xyz"));
}

// ---------------------------------------------------------------------------------------
// Refresh token, client credentials, password

#[tokio::test]
async fn refresh_grant_issues_a_new_access_token_without_rotation() {
    let s = server().await;
    let (old_access, refresh) = s.auth.issue_tokens();
    let (status, body) = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &s.cfg.client_id),
            ("client_secret", &s.cfg.client_secret),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "signature",
            "scope",
            "instance_url",
            "id",
            "token_type",
            "issued_at"
        ]
    );
    let access = body["access_token"].as_str().expect("access");
    assert_ne!(access, old_access);
    assert!(s.auth.check_access_token(access).is_ok());
    assert!(s.auth.check_access_token(&old_access).is_ok());

    let bad = s.refresh("5Aep861nope").await;
    assert_error(&bad, "invalid_grant", "expired access/refresh token");
    let wrong_secret = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &s.cfg.client_id),
            ("client_secret", "nope"),
        ])
        .await;
    assert_error(
        &wrong_secret,
        "invalid_client",
        "invalid client credentials",
    );
}

#[tokio::test]
async fn client_credentials_by_basic_auth_or_body() {
    let s = server().await;
    let basic = s
        .http
        .post(format!("{}/services/oauth2/token", s.url))
        .basic_auth(&s.cfg.client_id, Some(&s.cfg.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(basic.status().as_u16(), 200);
    let body: Value = basic.json().await.expect("json");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["issued_at"].is_string() && body["signature"].is_string());
    assert!(
        s.auth
            .check_access_token(body["access_token"].as_str().expect("token"))
            .is_ok()
    );

    let in_body = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.cfg.client_id),
            ("client_secret", &s.cfg.client_secret),
        ])
        .await;
    assert_eq!(in_body.0, 200);

    let wrong = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.cfg.client_id),
            ("client_secret", "x"),
        ])
        .await;
    assert_error(&wrong, "invalid_client", "invalid client credentials");
    let missing = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.cfg.client_id),
        ])
        .await;
    assert_error(&missing, "invalid_client", "invalid client credentials");
    let unknown = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "3MVG9x"),
            ("client_secret", "x"),
        ])
        .await;
    assert_error(&unknown, "invalid_client_id", "client identifier invalid");
}

#[tokio::test]
async fn client_credentials_needs_a_run_as_user() {
    let s = server_with(AuthConfig {
        client_credentials_enabled: false,
        ..AuthConfig::default()
    })
    .await;
    let resp = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.cfg.client_id),
            ("client_secret", &s.cfg.client_secret),
        ])
        .await;
    assert_error(&resp, "invalid_grant", "no client credentials user enabled");
}

#[tokio::test]
async fn password_grant() {
    let s = server().await;
    let form = |password: &str| {
        vec![
            ("grant_type", "password".to_owned()),
            ("client_id", s.cfg.client_id.clone()),
            ("client_secret", s.cfg.client_secret.clone()),
            ("username", s.cfg.username.clone()),
            ("password", password.to_owned()),
        ]
    };
    let ok = form(&s.cfg.password);
    let ok: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = s.token(&ok).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    let bad = form("wrong");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_error(
        &s.token(&bad).await,
        "invalid_grant",
        "authentication failure",
    );
}

// ---------------------------------------------------------------------------------------
// JWT bearer

#[tokio::test]
async fn jwt_bearer_good_assertions() {
    let s = server().await;
    for aud in [
        json!("https://login.salesforce.com"),
        json!("https://test.salesforce.com"),
        json!(s.url),
        json!([s.url]),
    ] {
        let mut c = claims(&s);
        c["aud"] = aud.clone();
        let (status, body) = s
            .token(&[("grant_type", JWT_GRANT), ("assertion", &jwt(JWT_KEY, &c))])
            .await;
        assert_eq!(status, 200, "aud {aud}: {body}");
        // The documented JWT response: no refresh token, no issued_at/signature
        // (docs/salesforce.md#jwt-bearer-grant).
        let keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["access_token", "scope", "instance_url", "id", "token_type"]
        );
        assert!(
            s.auth
                .check_access_token(body["access_token"].as_str().expect("token"))
                .is_ok()
        );
    }
    // exp a little in the past is within the ~3 minutes of allowed skew; exp as a string works.
    let mut c = claims(&s);
    c["exp"] = json!((now() - 60).to_string());
    assert_eq!(
        s.token(&[("grant_type", JWT_GRANT), ("assertion", &jwt(JWT_KEY, &c))])
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn jwt_bearer_bad_assertions() {
    let s = server().await;
    let send = |assertion: String| {
        let s = &s;
        async move {
            s.token(&[("grant_type", JWT_GRANT), ("assertion", &assertion)])
                .await
        }
    };
    let base = claims(&s);
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    assert_error(
        &send(jwt(OTHER_KEY, &base)).await,
        "invalid_grant",
        "invalid assertion",
    );
    assert_error(
        &send(jwt(JWT_KEY, &with("aud", json!("https://evil.example")))).await,
        "invalid_grant",
        "Audience validation failed",
    );
    assert_error(
        &send(jwt(JWT_KEY, &with("exp", json!(now() - 600)))).await,
        "invalid_grant",
        "expired authorization code",
    );
    assert_error(
        &send(jwt(JWT_KEY, &with("iss", json!("3MVG9other")))).await,
        "invalid_client_id",
        "client identifier invalid",
    );
    assert_error(
        &send(jwt(JWT_KEY, &with("sub", json!("nobody@example.com")))).await,
        "invalid_grant",
        "user hasn't approved this consumer",
    );
    let mut no_exp = base.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    assert_error(
        &send(jwt(JWT_KEY, &no_exp)).await,
        "invalid_grant",
        "invalid assertion",
    );
    // Only RS256: an HS256 token keyed with the certificate text must not pass.
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &base,
        &jsonwebtoken::EncodingKey::from_secret(JWT_CERT.as_bytes()).expect("key"),
    )
    .expect("sign");
    assert_error(&send(hs).await, "invalid_grant", "invalid assertion");
    assert_error(
        &send("not.a.jwt".to_owned()).await,
        "invalid_grant",
        "invalid assertion",
    );
}

#[tokio::test]
async fn jwt_bearer_without_a_registered_certificate_is_refused() {
    let s = server_with(AuthConfig::default()).await;
    let resp = s
        .token(&[
            ("grant_type", JWT_GRANT),
            ("assertion", &jwt(JWT_KEY, &claims(&s))),
        ])
        .await;
    assert_error(&resp, "invalid_grant", "invalid assertion");
}

#[tokio::test]
async fn jwt_certificate_can_be_uploaded_later() {
    let s = server_with(AuthConfig::default()).await;
    assert!(
        s.auth
            .set_jwt_cert_pem(Some(
                "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
            ))
            .is_err()
    );
    s.auth
        .set_jwt_cert_pem(Some(JWT_CERT))
        .expect("an RSA certificate");
    let assertion = jwt(JWT_KEY, &claims(&s));
    let (status, body) = s
        .token(&[("grant_type", JWT_GRANT), ("assertion", &assertion)])
        .await;
    assert_eq!(status, 200, "{body}");
    s.auth.set_jwt_cert_pem(None).expect("removal");
    let again = s
        .token(&[
            ("grant_type", JWT_GRANT),
            ("assertion", &jwt(JWT_KEY, &claims(&s))),
        ])
        .await;
    assert_error(&again, "invalid_grant", "invalid assertion");
}

// ---------------------------------------------------------------------------------------
// Request format

#[tokio::test]
async fn token_endpoint_takes_forms_only() {
    let s = server().await;
    assert_error(
        &s.token(&[("grant_type", "implicit")]).await,
        "unsupported_grant_type",
        "grant type not supported",
    );
    assert_error(
        &s.token(&[]).await,
        "unsupported_grant_type",
        "grant type not supported",
    );
    let json_body = s
        .http
        .post(format!("{}/services/oauth2/token", s.url))
        .json(&json!({"grant_type": "client_credentials", "client_id": s.cfg.client_id, "client_secret": s.cfg.client_secret}))
        .send()
        .await
        .expect("token");
    assert_eq!(json_body.status().as_u16(), 400);
    assert_eq!(json_body.headers()["cache-control"], "no-store");
    let body: Value = json_body.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");
}

// ---------------------------------------------------------------------------------------
// Sessions: revoke, expiry

#[tokio::test]
async fn revoking_an_access_token() {
    let s = server().await;
    let (access, refresh) = s.auth.issue_tokens();
    let revoke = |token: &str| {
        s.http
            .post(format!("{}/services/oauth2/revoke", s.url))
            .form(&[("token", token)])
            .send()
    };
    let resp = revoke(&access).await.expect("revoke");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("body"), "");
    assert_eq!(
        s.auth.check_access_token(&access),
        Err(SessionError::Invalid)
    );
    // The refresh token still works.
    let (status, _) = s.refresh(&refresh).await;
    assert_eq!(status, 200);

    let unknown = revoke("00Dnope!nope").await.expect("revoke");
    assert_eq!(unknown.status().as_u16(), 400);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["error"], "invalid_token");
    let missing = s
        .http
        .post(format!("{}/services/oauth2/revoke", s.url))
        .form(&[("x", "y")])
        .send()
        .await
        .expect("revoke");
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_token_type");
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_access_tokens() {
    let s = server().await;
    let (access, refresh) = s.auth.issue_tokens();
    let (_, refreshed) = s.refresh(&refresh).await;
    let access2 = refreshed["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (other_access, _) = s.auth.issue_tokens();

    let resp = s
        .http
        .get(format!("{}/services/oauth2/revoke", s.url))
        .query(&[("token", &refresh)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        s.auth.check_access_token(&access),
        Err(SessionError::Invalid)
    );
    assert_eq!(
        s.auth.check_access_token(&access2),
        Err(SessionError::Invalid)
    );
    assert!(
        s.auth.check_access_token(&other_access).is_ok(),
        "tokens of another grant survive"
    );
    let again = s.refresh(&refresh).await;
    assert_error(&again, "invalid_grant", "expired access/refresh token");
}

#[tokio::test]
async fn access_tokens_expire_after_the_ttl_and_on_demand() {
    let s = server_with(AuthConfig {
        access_token_ttl: Duration::from_millis(150),
        ..AuthConfig::default()
    })
    .await;
    let (access, refresh) = s.auth.issue_tokens();
    assert!(s.auth.check_access_token(&access).is_ok());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        s.auth.check_access_token(&access),
        Err(SessionError::Expired)
    );
    // Refreshing brings a working session back.
    let (_, body) = s.refresh(&refresh).await;
    let fresh = body["access_token"].as_str().expect("token").to_owned();
    assert!(s.auth.check_access_token(&fresh).is_ok());

    s.auth.set_access_token_ttl(Duration::from_secs(3600));
    s.auth.expire_access_tokens();
    assert_eq!(
        s.auth.check_access_token(&fresh),
        Err(SessionError::Expired)
    );
    let (after, _) = s.auth.issue_tokens();
    assert!(
        s.auth.check_access_token(&after).is_ok(),
        "tokens issued after the fault work"
    );
    assert_eq!(s.auth.check_access_token(""), Err(SessionError::Missing));
    assert_eq!(
        s.auth.check_access_token("Bearer 00Dx!unknown"),
        Err(SessionError::Invalid)
    );
}

#[tokio::test]
async fn session_errors_answer_invalid_session_id() {
    use axum::response::IntoResponse as _;
    let resp = SessionError::Expired.into_response();
    assert_eq!(resp.status().as_u16(), 401);
    let bytes = axum::body::to_bytes(resp.into_body(), 1024)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    // The golden crates/sfsim/tests/fixtures/goldens/expired_session.json (restforce's
    // spec/fixtures/expired_session_response.json).
    assert_eq!(
        body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
}

// ---------------------------------------------------------------------------------------
// Identity

#[tokio::test]
async fn userinfo_and_identity_url() {
    let s = server().await;
    let (access, _) = s.auth.issue_tokens();
    let info: Value = s
        .http
        .get(format!("{}/services/oauth2/userinfo", s.url))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["preferred_username"], s.cfg.username.as_str());
    assert_eq!(info["user_id"], s.cfg.user_id.as_str());
    assert_eq!(info["organization_id"], s.cfg.org_id.as_str());
    assert_eq!(info["email"], s.cfg.email.as_str());
    let id_url = format!("{}/id/{}/{}", s.url, s.cfg.org_id, s.cfg.user_id);
    assert_eq!(info["sub"], id_url.as_str());
    assert_eq!(
        info["urls"]["rest"],
        format!("{}/services/data/v{{version}}/", s.url).as_str()
    );

    let identity: Value = s
        .http
        .get(&id_url)
        .bearer_auth(&access)
        .send()
        .await
        .expect("id")
        .json()
        .await
        .expect("json");
    assert_eq!(identity["username"], s.cfg.username.as_str());
    assert_eq!(identity["id"], id_url.as_str());

    let denied = s
        .http
        .get(format!("{}/services/oauth2/userinfo", s.url))
        .bearer_auth("00Dx!bad")
        .send()
        .await
        .expect("userinfo");
    assert_eq!(denied.status().as_u16(), 403);
    assert_eq!(denied.text().await.expect("body"), "Bad_OAuth_Token");
    let other = s
        .http
        .get(format!("{}/id/{}/005000000000001AAA", s.url, s.cfg.org_id))
        .bearer_auth(&access)
        .send()
        .await
        .expect("id");
    assert_eq!(other.status().as_u16(), 404);
}

#[tokio::test]
async fn introspection_tells_active_from_revoked() {
    let s = server().await;
    let (access, refresh) = s.auth.issue_tokens();
    let introspect = |token: &str, secret: &str| {
        s.http
            .post(format!("{}/services/oauth2/introspect", s.url))
            .basic_auth(&s.cfg.client_id, Some(secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
    };
    let active: Value = introspect(&access, &s.cfg.client_secret)
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(active["active"], true);
    assert_eq!(active["token_type"], "access_token");
    assert_eq!(active["username"], s.cfg.username.as_str());
    let (iat, exp) = (
        active["iat"].as_u64().expect("iat"),
        active["exp"].as_u64().expect("exp"),
    );
    assert_eq!(exp - iat, s.cfg.access_token_ttl.as_secs());
    let rt: Value = introspect(&refresh, &s.cfg.client_secret)
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(rt["token_type"], "refresh_token");

    s.auth.expire_access_tokens();
    let expired: Value = introspect(&access, &s.cfg.client_secret)
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(expired, json!({"active": false}));
    let wrong = introspect(&refresh, "not-the-secret")
        .await
        .expect("introspect");
    assert_eq!(wrong.status().as_u16(), 400);
}

// ---------------------------------------------------------------------------------------
// Sessions seen by the data API of a whole org (`sfsim::start`)

const QUERY_PATH: &str = "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead+LIMIT+1";

async fn data_call(http: &reqwest::Client, org: &sfsim::RunningOrg, token: &str) -> (u16, Value) {
    let resp = http
        .get(format!("{}{QUERY_PATH}", org.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("query");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

fn invalid_session() -> Value {
    json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
}

#[tokio::test]
async fn data_calls_answer_401_after_expiry_revoke_and_work_again_after_refresh() {
    let org = sfsim::start(sfsim::Options::default())
        .await
        .expect("org starts");
    let http = reqwest::Client::new();
    let access = org.access_token();
    assert_eq!(data_call(&http, &org, &access).await.0, 200);

    org.auth().expire_access_tokens();
    assert_eq!(
        data_call(&http, &org, &access).await,
        (401, invalid_session())
    );

    let refreshed: Value = http
        .post(format!("{}/services/oauth2/token", org.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &org.refresh_token()),
            ("client_id", org.client_id()),
            ("client_secret", org.client_secret()),
        ])
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    assert_eq!(refreshed["instance_url"], org.url());
    let fresh = refreshed["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(data_call(&http, &org, &fresh).await.0, 200);

    let revoked = http
        .post(format!("{}/services/oauth2/revoke", org.url()))
        .form(&[("token", fresh.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 200);
    assert_eq!(
        data_call(&http, &org, &fresh).await,
        (401, invalid_session())
    );
    assert_eq!(data_call(&http, &org, "").await.0, 401);
    org.shutdown().await;
}

#[tokio::test]
async fn data_calls_answer_401_after_the_token_ttl() {
    let org = sfsim::start(sfsim::Options {
        access_token_ttl: Duration::from_millis(300),
        ..sfsim::Options::default()
    })
    .await
    .expect("org starts");
    let http = reqwest::Client::new();
    let access = org.access_token();
    assert_eq!(data_call(&http, &org, &access).await.0, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        data_call(&http, &org, &access).await,
        (401, invalid_session())
    );
    org.shutdown().await;
}

#[tokio::test]
async fn a_whole_org_over_https_with_client_credentials() {
    let org = sfsim::start(sfsim::Options {
        tls: true,
        ..sfsim::Options::default()
    })
    .await
    .expect("org starts");
    assert!(org.url().starts_with("https://localhost:"), "{}", org.url());
    let pem = std::fs::read(org.ca_cert_path().expect("CA path with tls")).expect("CA file");
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
        .build()
        .expect("client");
    let token: Value = http
        .post(format!("{}/services/oauth2/token", org.url()))
        .basic_auth(org.client_id(), Some(org.client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token over https")
        .json()
        .await
        .expect("json");
    assert_eq!(token["instance_url"], org.url());
    let access = token["access_token"].as_str().expect("token");
    let (status, body) = data_call(&http, &org, access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["done"], true);
    org.shutdown().await;
}
