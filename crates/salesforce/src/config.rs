//! Client configuration: which OAuth flow provides tokens, API version, timeouts, retry
//! policy and concurrency. Secrets are `SecretString`s so `Debug` never shows them.

use std::fmt;
use std::time::Duration;

use domain::Backoff;
use secrecy::SecretString;

use crate::error::Error;

/// Production login host ([REST] OAuth endpoints).
const PRODUCTION_LOGIN: &str = "https://login.salesforce.com";
/// Sandbox login host.
const SANDBOX_LOGIN: &str = "https://test.salesforce.com";

/// The API version every data URL is built with; Winter '25 (62.0) is the version the
/// project is tested against (`docs/salesforce.md#api-versions`).
pub const DEFAULT_API_VERSION: ApiVersion = ApiVersion(62);

/// A Salesforce REST API version such as `62.0` (always `major.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(u16);

impl ApiVersion {
    /// Versions below 31.0 are retired (410 Gone) ([HELP] 000354473).
    pub const OLDEST_SUPPORTED: u16 = 31;

    /// `ApiVersion::new(62)` is `62.0`.
    pub fn new(major: u16) -> Result<Self, Error> {
        if major < Self::OLDEST_SUPPORTED {
            return Err(Error::Config(format!(
                "API version {major}.0 is retired; use {}.0 or newer",
                Self::OLDEST_SUPPORTED
            )));
        }
        Ok(Self(major))
    }

    /// Parses `62.0`, `v62.0` or `62`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let major = t.strip_suffix(".0").unwrap_or(t);
        let major: u16 = major
            .parse()
            .map_err(|_| Error::Config(format!("API version `{s}` is not like `62.0`")))?;
        Self::new(major)
    }

    pub fn major(self) -> u16 {
        self.0
    }

    /// `/services/data/v62.0`: the prefix of every data resource (also inside Composite
    /// subrequest URLs, which must include it).
    pub fn data_path(self) -> String {
        format!("/services/data/v{}.0", self.0)
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        DEFAULT_API_VERSION
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.0", self.0)
    }
}

/// Refuses a URL secrets would travel to in clear text: `https://` only, except `http://` on
/// a loopback host (127.0.0.0/8, `::1`, `localhost`), where the emulated org runs. Tokens,
/// codes and records must never cross a network unencrypted. `what` names the URL in the
/// error ("login URL", "instance URL").
pub fn require_secure_transport(what: &str, s: &str) -> Result<(), Error> {
    let u = url::Url::parse(s.trim()).map_err(|e| Error::Config(format!("{what} `{s}`: {e}")))?;
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(Error::Config(format!(
            "{what} `{s}` must use https:// (http:// is accepted only on this machine: localhost, 127.0.0.1, ::1)"
        ))),
        _ => Err(Error::Config(format!("{what} `{s}` must be https://host"))),
    }
}

/// The host OAuth token requests go to: production, sandbox, a My Domain, or any base URL
/// (the emulated org). Stored without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginUrl(String);

impl LoginUrl {
    /// `https://login.salesforce.com`.
    pub fn production() -> Self {
        Self(PRODUCTION_LOGIN.to_owned())
    }

    /// `https://test.salesforce.com`.
    pub fn sandbox() -> Self {
        Self(SANDBOX_LOGIN.to_owned())
    }

    /// `https://<name>.my.salesforce.com` for `acme`; a full host such as
    /// `acme--uat.sandbox.my.salesforce.com` or an `https://` URL is kept as given.
    pub fn my_domain(name: &str) -> Result<Self, Error> {
        let name = name.trim().trim_end_matches('/');
        if name.starts_with("https://") || name.starts_with("http://") {
            return Self::parse(name);
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(Error::Config(format!("`{name}` is not a My Domain name")));
        }
        if name.contains('.') {
            Self::parse(&format!("https://{name}"))
        } else {
            Self::parse(&format!("https://{name}.my.salesforce.com"))
        }
    }

    /// Any `http(s)://host[:port]` base URL (path ignored).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let u = url::Url::parse(s.trim())
            .map_err(|e| Error::Config(format!("login URL `{s}`: {e}")))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(Error::Config(format!(
                "login URL `{s}` must be http(s)://host"
            )));
        }
        Ok(Self(u.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<login>/services/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.0)
    }

    /// The JWT `aud` Salesforce expects for this login host: `https://test.salesforce.com`
    /// for sandboxes (incl. `*.sandbox.my.salesforce.com`), `https://login.salesforce.com`
    /// for production and production My Domains, the URL itself otherwise (Experience Cloud
    /// sites, the emulated org) ([HELP] remoteaccess_oauth_jwt_flow).
    pub fn default_jwt_audience(&self) -> String {
        let host = url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        if host == "test.salesforce.com" || host.ends_with(".sandbox.my.salesforce.com") {
            SANDBOX_LOGIN.to_owned()
        } else if host == "login.salesforce.com" || host.ends_with(".my.salesforce.com") {
            PRODUCTION_LOGIN.to_owned()
        } else {
            self.0.clone()
        }
    }
}

impl fmt::Display for LoginUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where access tokens come from. Salesforce returns no `expires_in`: a token is used until
/// a call answers 401 `INVALID_SESSION_ID`, then the source is asked again (except
/// [`TokenSource::AccessToken`], which cannot refresh and yields [`Error::CannotRefresh`]).
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// `grant_type=refresh_token` (web-server flow done elsewhere, e.g. `trailspark token`).
    RefreshToken {
        login_url: LoginUrl,
        client_id: String,
        /// Optional: connected apps may not require the secret for refresh.
        client_secret: Option<SecretString>,
        refresh_token: SecretString,
    },
    /// JWT bearer flow (server-to-server; RS256 assertion signed with the app's key).
    JwtBearer {
        login_url: LoginUrl,
        client_id: String,
        /// Salesforce username of the integration user (`sub`).
        username: String,
        /// PKCS#1 or PKCS#8 RSA private key, PEM.
        private_key_pem: SecretString,
        /// `aud` claim; `None` = [`LoginUrl::default_jwt_audience`].
        audience: Option<String>,
    },
    /// Client credentials flow (HTTP Basic); must go to the org's My Domain host.
    ClientCredentials {
        login_url: LoginUrl,
        client_id: String,
        client_secret: SecretString,
    },
    /// A fixed token obtained elsewhere; no refresh possible.
    AccessToken {
        instance_url: String,
        access_token: SecretString,
    },
}

/// The client's own retries of [`crate::ErrorClass::Retryable`] failures, waiting the
/// product's one backoff ([`domain::Backoff`]) between attempts. A caller that keeps its own
/// retry schedule (the service's workers, `trailspark sync`) builds its client with
/// [`RetryPolicy::none`], so that exactly one place decides and attempts never multiply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = no retry).
    pub max_attempts: u32,
    /// The wait before each retry.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    /// 5 attempts, 250 ms doubling to at most 8 s (`docs/salesforce.md#retry-classification`).
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(8)),
        }
    }
}

impl RetryPolicy {
    /// No retries: every failure goes back to the caller at once (an expired session is
    /// still refreshed once, which is not a retry of the org's answer).
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// How HTTP connections to Salesforce are made: timeouts, user agent, extra trusted CA
/// certificates. Used on its own by the connect flow ([`crate::oauth`]), which runs before
/// any [`ClientConfig`] exists; [`ClientConfig::http_options`] gives a client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub user_agent: String,
    /// Extra trusted CA certificates (PEM), e.g. the emulated org's generated CA.
    pub extra_root_certs_pem: Vec<Vec<u8>>,
}

impl Default for HttpOptions {
    /// 120 s timeout (collections writes of 200 records take seconds on real orgs, a
    /// Composite of 5 of them longer), 10 s connect timeout, `trailspark/<version>`.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("trailspark/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_root_certs_pem: Vec::new(),
        }
    }
}

impl HttpOptions {
    /// The HTTP client (rustls). Redirects are never followed: a Salesforce endpoint that
    /// redirects is misconfigured, and following would resend a token request's form (with
    /// its code, verifier or secret) to wherever the redirect points.
    pub(crate) fn build(&self) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none());
        for pem in &self.extra_root_certs_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))
    }
}

/// Everything [`crate::Client::connect`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub auth: TokenSource,
    pub api_version: ApiVersion,
    /// Whole-request timeout (default: [`HttpOptions::default`]'s).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Composite requests in flight at once for `query_many` / `write_many`.
    pub concurrency: usize,
    pub user_agent: String,
    /// Extra trusted CA certificates (PEM), e.g. the emulated org's generated CA.
    pub extra_root_certs_pem: Vec<Vec<u8>>,
    /// Where a refresh token the org rotated is kept beyond this client (refresh-token
    /// flow only): read before every token request, written after every rotation.
    pub refresh_tokens: Option<RefreshTokens>,
}

/// Keeps the refresh token an org rotated (Salesforce's "Refresh Token Rotation": every
/// refresh answers with a new refresh token and invalidates the one used), so a restart or
/// another process signs in with the current one instead of the one configured, which no
/// longer works. `configured` is the token the client was configured with: a store keeps
/// a rotated token per configured one, so configuring a new token is not overridden by one
/// rotated from an older token.
pub trait RefreshTokenStore: Send + Sync {
    /// The current token descended from `configured`, if one was kept.
    fn load<'a>(
        &'a self,
        configured: &'a SecretString,
    ) -> futures::future::BoxFuture<'a, Option<SecretString>>;
    /// Keeps `rotated`, the org's new token descended from `configured`.
    fn save<'a>(
        &'a self,
        configured: &'a SecretString,
        rotated: &'a SecretString,
    ) -> futures::future::BoxFuture<'a, ()>;
}

/// A shared [`RefreshTokenStore`].
#[derive(Clone)]
pub struct RefreshTokens(pub std::sync::Arc<dyn RefreshTokenStore>);

impl fmt::Debug for RefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokens")
    }
}

impl ClientConfig {
    /// Defaults: API 62.0, [`HttpOptions::default`] (120 s timeout, 10 s connect timeout),
    /// default retry policy, concurrency 4.
    pub fn new(auth: TokenSource) -> Self {
        let http = HttpOptions::default();
        Self {
            auth,
            api_version: DEFAULT_API_VERSION,
            timeout: http.timeout,
            connect_timeout: http.connect_timeout,
            retry: RetryPolicy::default(),
            concurrency: 4,
            user_agent: http.user_agent,
            extra_root_certs_pem: http.extra_root_certs_pem,
            refresh_tokens: None,
        }
    }

    /// The HTTP part of this configuration.
    pub fn http_options(&self) -> HttpOptions {
        HttpOptions {
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            user_agent: self.user_agent.clone(),
            extra_root_certs_pem: self.extra_root_certs_pem.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_parses_common_spellings() {
        assert_eq!(ApiVersion::parse("62.0").unwrap().major(), 62);
        assert_eq!(ApiVersion::parse("v63.0").unwrap().major(), 63);
        assert_eq!(ApiVersion::parse("64").unwrap().to_string(), "64.0");
        assert_eq!(
            ApiVersion::parse("v62.0").unwrap().data_path(),
            "/services/data/v62.0"
        );
        assert!(ApiVersion::parse("30.0").is_err());
        assert!(ApiVersion::parse("abc").is_err());
    }

    #[test]
    fn login_urls() {
        assert_eq!(
            LoginUrl::production().token_url(),
            "https://login.salesforce.com/services/oauth2/token"
        );
        assert_eq!(LoginUrl::sandbox().as_str(), "https://test.salesforce.com");
        assert_eq!(
            LoginUrl::my_domain("acme").unwrap().as_str(),
            "https://acme.my.salesforce.com"
        );
        assert_eq!(
            LoginUrl::my_domain("acme--uat.sandbox.my.salesforce.com")
                .unwrap()
                .as_str(),
            "https://acme--uat.sandbox.my.salesforce.com"
        );
        assert!(LoginUrl::my_domain("bad name").is_err());
        assert_eq!(
            LoginUrl::parse("http://127.0.0.1:8080/").unwrap().as_str(),
            "http://127.0.0.1:8080"
        );
        assert!(LoginUrl::parse("ftp://x").is_err());
    }

    #[test]
    fn jwt_audience_follows_login_host() {
        assert_eq!(
            LoginUrl::production().default_jwt_audience(),
            "https://login.salesforce.com"
        );
        assert_eq!(
            LoginUrl::sandbox().default_jwt_audience(),
            "https://test.salesforce.com"
        );
        assert_eq!(
            LoginUrl::my_domain("acme").unwrap().default_jwt_audience(),
            "https://login.salesforce.com"
        );
        assert_eq!(
            LoginUrl::my_domain("acme--uat.sandbox.my.salesforce.com")
                .unwrap()
                .default_jwt_audience(),
            "https://test.salesforce.com"
        );
        assert_eq!(
            LoginUrl::parse("http://127.0.0.1:9")
                .unwrap()
                .default_jwt_audience(),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn no_retries_means_one_attempt() {
        assert_eq!(RetryPolicy::none().max_attempts, 1);
        assert_eq!(RetryPolicy::default().max_attempts, 5);
    }
}
