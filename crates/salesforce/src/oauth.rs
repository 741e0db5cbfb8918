//! Connecting an org: the web-server flow with PKCE (RFC 7636, method S256). The caller
//! sends the admin's browser to [`authorize_url`], receives `code` and `state` on its
//! callback, and trades the code for tokens with [`exchange_code`]; the refresh token then
//! feeds [`crate::TokenSource::RefreshToken`]. [`revoke`] undoes a connection.
//!
//! Pure parts (PKCE, the authorize URL, login URL checks) are apart from the two functions
//! that do I/O; both send exactly one request and never retry (a code is single-use).

use std::fmt;

use base64::Engine as _;
use rand::Rng as _;
use rand::TryRngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::auth;
use crate::config::{HttpOptions, LoginUrl};
use crate::error::Error;

/// The scopes a trailspark connection asks for: the REST API, and a refresh token that keeps
/// working while nobody is logged in.
pub const DEFAULT_SCOPES: [&str; 3] = ["api", "refresh_token", "offline_access"];

/// Length of a generated code verifier (RFC 7636 §4.1 allows 43–128).
const VERIFIER_LEN: usize = 64;

/// RFC 7636 §4.1's unreserved characters, the verifier's alphabet.
const VERIFIER_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// Revocation answers that mean the token is already unusable: a disconnect succeeded.
const ALREADY_REVOKED: [&str; 2] = ["invalid_token", "unsupported_token_type"];

/// A PKCE pair (RFC 7636, method S256): the verifier stays with the caller until the code
/// exchange; the challenge goes into the authorize URL.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: SecretString,
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair: 64 characters from the unreserved alphabet, drawn from the OS RNG.
    pub fn generate() -> Pkce {
        let mut rng = rand::rngs::OsRng.unwrap_err();
        let verifier: String = (0..VERIFIER_LEN)
            .map(|_| char::from(VERIFIER_ALPHABET[rng.random_range(0..VERIFIER_ALPHABET.len())]))
            .collect();
        Pkce::from_verifier(&verifier)
    }

    /// The pair for a known verifier: challenge = base64url-no-pad(SHA-256(verifier)).
    pub fn from_verifier(verifier: &str) -> Pkce {
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier: SecretString::from(verifier),
            challenge,
        }
    }
}

/// `<login>/services/oauth2/authorize?response_type=code&client_id=…&redirect_uri=…&state=…&code_challenge=…&code_challenge_method=S256&scope=…`,
/// form-encoded, spaces as `%20`. An empty `scopes` leaves `scope` out (the connected
/// app's selected scopes apply).
pub fn authorize_url(
    login: &LoginUrl,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    pkce_challenge: &str,
    scopes: &[&str],
) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge", pkce_challenge)
        .append_pair("code_challenge_method", "S256");
    if !scopes.is_empty() {
        query.append_pair("scope", &scopes.join(" "));
    }
    // The form serializer writes a space as `+` and a literal `+` as `%2B`, so every `+`
    // left is a space; `%20` reads the same to every parser, form or not.
    let query = query.finish().replace('+', "%20");
    format!("{}/services/oauth2/authorize?{query}", login.as_str())
}

/// What the token endpoint granted for an authorization code.
#[derive(Clone)]
pub struct TokenGrant {
    pub access_token: SecretString,
    /// Present when the scopes included `refresh_token` / `offline_access`.
    pub refresh_token: Option<SecretString>,
    /// The org's base URL for data calls.
    pub instance_url: String,
    /// The identity URL (`id`): `<host>/id/<orgId>/<userId>`.
    pub id_url: Option<String>,
    /// Milliseconds since the epoch, as Salesforce sends it.
    pub issued_at: Option<String>,
}

impl fmt::Debug for TokenGrant {
    /// Shows whether the tokens are there, never their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &"[REDACTED]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("instance_url", &self.instance_url)
            .field("id_url", &self.id_url)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// Trades an authorization code for tokens: one form POST `grant_type=authorization_code`
/// to `<login>/services/oauth2/token`, with the PKCE verifier and (when the connected app
/// requires it) the consumer secret. A refusal (`invalid_grant` for a used or expired code,
/// `invalid_request` for a wrong verifier, ...) is [`Error::Auth`].
pub async fn exchange_code(
    http: &HttpOptions,
    login: &LoginUrl,
    client_id: &str,
    client_secret: Option<&SecretString>,
    code: &str,
    redirect_uri: &str,
    verifier: &SecretString,
) -> Result<TokenGrant, Error> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier.expose_secret()),
    ];
    if let Some(s) = client_secret {
        form.push(("client_secret", s.expose_secret()));
    }
    let (status, content_type, body) = post_form(http, &login.token_url(), &form).await?;
    let token = auth::parse_token_response(status, &content_type, &body)?;
    Ok(TokenGrant {
        access_token: token.access_token,
        refresh_token: token.refresh_token,
        instance_url: token.instance_url,
        id_url: token.id_url,
        issued_at: token.issued_at,
    })
}

/// Revokes a token (a refresh token revokes its access tokens too): form POST `token=…` to
/// `<login>/services/oauth2/revoke`. A token Salesforce no longer knows (`invalid_token`,
/// `unsupported_token_type`) counts as revoked: for a disconnect that is success.
pub async fn revoke(
    http: &HttpOptions,
    login: &LoginUrl,
    token: &SecretString,
) -> Result<(), Error> {
    let url = format!("{}/services/oauth2/revoke", login.as_str());
    let (status, content_type, body) =
        post_form(http, &url, &[("token", token.expose_secret())]).await?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    // Only the error branch of the token-response parser applies to a non-2xx answer.
    match auth::parse_token_response(status, &content_type, &body) {
        Err(Error::Auth {
            status: 400, error, ..
        }) if ALREADY_REVOKED.contains(&error.as_str()) => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Err(crate::client::unexpected(status, &content_type, &body)),
    }
}

/// One form POST; the answer's status, content type and body.
async fn post_form(
    http: &HttpOptions,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(u16, String, Vec<u8>), Error> {
    auth::send_form(http.build()?.post(url).form(form)).await
}

impl LoginUrl {
    /// A login URL an admin may connect through: `https://` only, except `http://` on a
    /// loopback host (127.0.0.0/8, `::1`, `localhost`), where the emulated org runs. Tokens
    /// and codes must never cross a network in clear text.
    pub fn parse_for_connect(s: &str) -> Result<LoginUrl, Error> {
        crate::config::require_secure_transport("login URL", s)?;
        LoginUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn generated_verifiers_are_64_unreserved_characters_and_differ() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        let v = a.verifier.expose_secret();
        assert_eq!(v.len(), VERIFIER_LEN);
        assert!(v.bytes().all(|c| VERIFIER_ALPHABET.contains(&c)), "{v}");
        assert_ne!(v, b.verifier.expose_secret());
        assert_eq!(a.challenge, Pkce::from_verifier(v).challenge);
        assert!(!format!("{a:?}").contains(v));
    }

    #[test]
    fn authorize_url_is_form_encoded_with_every_parameter() {
        let url = authorize_url(
            &LoginUrl::production(),
            "3MVG9+id",
            "https://app.example/oauth/callback?x=1",
            "st&ate",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            &DEFAULT_SCOPES,
        );
        assert_eq!(
            url,
            "https://login.salesforce.com/services/oauth2/authorize?response_type=code\
             &client_id=3MVG9%2Bid\
             &redirect_uri=https%3A%2F%2Fapp.example%2Foauth%2Fcallback%3Fx%3D1\
             &state=st%26ate\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256\
             &scope=api%20refresh_token%20offline_access"
        );
        let bare = authorize_url(
            &LoginUrl::sandbox(),
            "c",
            "http://localhost/cb",
            "s",
            "x",
            &[],
        );
        assert!(!bare.contains("scope="), "{bare}");
        // Whatever the encoding, a parser reads back what was put in.
        let parsed = url::Url::parse(&url).unwrap();
        let pairs: std::collections::HashMap<_, _> = parsed.query_pairs().collect();
        assert_eq!(pairs["client_id"], "3MVG9+id");
        assert_eq!(pairs["scope"], "api refresh_token offline_access");
        assert_eq!(
            pairs["redirect_uri"],
            "https://app.example/oauth/callback?x=1"
        );
    }

    #[test]
    fn token_grant_debug_hides_tokens() {
        let g = TokenGrant {
            access_token: SecretString::from("ACCESS-SEKRIT"),
            refresh_token: Some(SecretString::from("REFRESH-SEKRIT")),
            instance_url: "https://acme.my.salesforce.com".into(),
            id_url: None,
            issued_at: Some("1".into()),
        };
        let dbg = format!("{g:?} {g:#?}");
        assert!(dbg.contains("acme.my.salesforce.com"), "{dbg}");
        assert!(!dbg.contains("SEKRIT"), "{dbg}");
    }

    #[test]
    fn connect_login_urls_need_https_except_on_loopback() {
        for ok in [
            "https://login.salesforce.com",
            "https://acme.my.salesforce.com/",
            "http://127.0.0.1:8080",
            "http://127.10.0.3:1",
            "http://localhost:9",
            "http://LOCALHOST:9",
            "http://[::1]:8443",
            "https://localhost:8443",
        ] {
            assert!(LoginUrl::parse_for_connect(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            LoginUrl::parse_for_connect("http://127.0.0.1:8080/x")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "http://login.salesforce.com",
            "http://acme.my.salesforce.com",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://localhost.evil.example",
            "http://[::2]",
            "ftp://localhost",
            "login.salesforce.com",
            "",
        ] {
            let err = LoginUrl::parse_for_connect(bad).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{bad}: {err:?}");
        }
    }
}
