//! OAuth token requests: each flow is one form POST to `<login>/services/oauth2/token`
//! (`docs/salesforce.md#oauth`). Pure parts (JWT claims, response parsing) are separate
//! from the one function that does I/O.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{TokenSource, require_secure_transport};
use crate::error::Error;

/// The JWT bearer grant type (RFC 7523), as Salesforce expects it.
const JWT_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Salesforce tolerates ~3 minutes of clock skew and wants `exp` close ahead
/// ([HELP] remoteaccess_oauth_jwt_flow).
const JWT_LIFETIME_SECS: i64 = 180;

/// A token as the client keeps it.
pub(crate) struct Token {
    pub access_token: SecretString,
    pub instance_url: String,
    /// Identity URL (`id`), used as a fallback for `identity()`.
    pub id_url: Option<String>,
    /// Set when the org rotates refresh tokens (only then does the response carry one),
    /// and on the authorization-code grant when the scopes asked for one.
    pub refresh_token: Option<SecretString>,
    /// `issued_at` (milliseconds since the epoch, as a string) when the response has it.
    pub issued_at: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    issued_at: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct JwtClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
}

pub(crate) fn jwt_claims(
    client_id: &str,
    username: &str,
    audience: &str,
    now_unix: i64,
) -> JwtClaims {
    JwtClaims {
        iss: client_id.to_owned(),
        sub: username.to_owned(),
        aud: audience.to_owned(),
        exp: now_unix + JWT_LIFETIME_SECS,
    }
}

/// Signs the assertion with RS256 (the only algorithm Salesforce accepts).
pub(crate) fn sign_jwt(
    claims: &JwtClaims,
    private_key_pem: &SecretString,
) -> Result<String, Error> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes())
        // The jsonwebtoken error names the problem (bad PEM, not RSA) without key material.
        .map_err(|e| Error::Config(format!("JWT private key: {e}")))?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        claims,
        &key,
    )
    .map_err(|e| Error::Config(format!("JWT signing: {e}")))
}

/// Parses a token endpoint answer: success JSON, `{"error","error_description"}`, or
/// anything else (HTML from a proxy, ...).
pub(crate) fn parse_token_response(
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<Token, Error> {
    if (200..300).contains(&status) {
        let r: TokenResponse = serde_json::from_slice(body)
            .map_err(|e| Error::Decode(format!("token response: {e}")))?;
        return Ok(Token {
            access_token: SecretString::from(r.access_token),
            instance_url: r.instance_url.trim_end_matches('/').to_owned(),
            id_url: r.id,
            refresh_token: r.refresh_token.map(SecretString::from),
            issued_at: r.issued_at,
        });
    }
    match serde_json::from_slice::<TokenErrorBody>(body) {
        Ok(e) => Err(Error::Auth {
            status,
            error: e.error,
            description: e.error_description,
        }),
        Err(_) => Err(crate::client::unexpected(status, content_type, body)),
    }
}

/// Requests a token from `source`. `refresh_override` replaces the configured refresh
/// token after the org rotated it. `initial` distinguishes the first token (a fixed access
/// token is fine) from a refresh (a fixed access token cannot be refreshed).
pub(crate) async fn request_token(
    http: &reqwest::Client,
    source: &TokenSource,
    refresh_override: Option<&SecretString>,
    initial: bool,
) -> Result<Token, Error> {
    let request = match source {
        TokenSource::AccessToken {
            instance_url,
            access_token,
        } => {
            if !initial {
                return Err(Error::CannotRefresh);
            }
            require_secure_transport("instance URL", instance_url)?;
            return Ok(Token {
                access_token: access_token.clone(),
                instance_url: instance_url.trim_end_matches('/').to_owned(),
                id_url: None,
                refresh_token: None,
                issued_at: None,
            });
        }
        TokenSource::RefreshToken {
            login_url,
            client_id,
            client_secret,
            refresh_token,
        } => {
            require_secure_transport("login URL", login_url.as_str())?;
            let rt = refresh_override.unwrap_or(refresh_token);
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.expose_secret()),
                ("client_id", client_id.as_str()),
            ];
            if let Some(s) = client_secret {
                form.push(("client_secret", s.expose_secret()));
            }
            http.post(login_url.token_url()).form(&form)
        }
        TokenSource::JwtBearer {
            login_url,
            client_id,
            username,
            private_key_pem,
            audience,
        } => {
            require_secure_transport("login URL", login_url.as_str())?;
            let aud = audience
                .clone()
                .unwrap_or_else(|| login_url.default_jwt_audience());
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let assertion = sign_jwt(&jwt_claims(client_id, username, &aud, now), private_key_pem)?;
            http.post(login_url.token_url()).form(&[
                ("grant_type", JWT_GRANT_TYPE),
                ("assertion", assertion.as_str()),
            ])
        }
        TokenSource::ClientCredentials {
            login_url,
            client_id,
            client_secret,
        } => {
            require_secure_transport("login URL", login_url.as_str())?;
            http.post(login_url.token_url())
                .basic_auth(client_id, Some(client_secret.expose_secret()))
                .form(&[("grant_type", "client_credentials")])
        }
    };
    let (status, content_type, body) = send_form(request).await?;
    let token = parse_token_response(status, &content_type, &body)?;
    // Every later request carries the access token to the instance the answer names.
    require_secure_transport("instance URL", &token.instance_url)?;
    Ok(token)
}

/// Sends an OAuth form request (asking for JSON) and reads the answer whole: its status,
/// content type and body. The token, revoke and code-exchange requests all go through here.
pub(crate) async fn send_form(
    request: reqwest::RequestBuilder,
) -> Result<(u16, String, Vec<u8>), Error> {
    let resp = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| Error::transport(&e))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.bytes().await.map_err(|e| Error::transport(&e))?;
    Ok((status, content_type, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_claims_follow_salesforce_rules() {
        let c = jwt_claims(
            "3MVG9abc",
            "int@acme.com",
            "https://login.salesforce.com",
            1_700_000_000,
        );
        assert_eq!(
            c,
            JwtClaims {
                iss: "3MVG9abc".into(),
                sub: "int@acme.com".into(),
                aud: "https://login.salesforce.com".into(),
                exp: 1_700_000_180,
            }
        );
    }

    #[test]
    fn bad_private_key_is_a_config_error_without_the_key() {
        let key = SecretString::from(
            "-----BEGIN PRIVATE KEY-----\nnot-a-key-SECRETMATERIAL\n-----END PRIVATE KEY-----\n",
        );
        let err = sign_jwt(&jwt_claims("a", "b", "c", 0), &key).unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        assert!(!format!("{err} {err:?}").contains("SECRETMATERIAL"));
    }

    #[test]
    fn parses_success_and_oauth_errors() {
        let ok = br#"{"id":"https://login.salesforce.com/id/00Dx/005x","issued_at":"1278448832702",
            "instance_url":"https://na1.salesforce.com/","signature":"x","access_token":"00Dx!AR8","token_type":"Bearer"}"#;
        let t = parse_token_response(200, "application/json", ok).unwrap();
        assert_eq!(t.instance_url, "https://na1.salesforce.com");
        assert_eq!(t.access_token.expose_secret(), "00Dx!AR8");
        assert!(t.refresh_token.is_none());
        assert_eq!(t.issued_at.as_deref(), Some("1278448832702"));
        let err = parse_token_response(
            400,
            "application/json",
            br#"{"error":"invalid_grant","error_description":"expired access/refresh token"}"#,
        )
        .err()
        .unwrap();
        assert_eq!(
            err,
            Error::Auth {
                status: 400,
                error: "invalid_grant".into(),
                description: "expired access/refresh token".into()
            }
        );
        let html = parse_token_response(503, "text/html", b"<html><body>Maintenance</body></html>")
            .err()
            .unwrap();
        assert!(matches!(
            html,
            Error::UnexpectedResponse { status: 503, .. }
        ));
        assert_eq!(html.class(), crate::ErrorClass::Retryable);
    }
}
