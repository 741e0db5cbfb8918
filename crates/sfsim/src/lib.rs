//! An emulated Salesforce org: Salesforce's REST and OAuth APIs served on localhost,
//! faithful enough that real clients (ours and others') work against it unchanged.
//!
//! The demo, the integration tests and the benchmarks all run against this crate, so the
//! reference is always real Salesforce behaviour (see `docs/salesforce.md`), never the
//! convenience of our own client. This crate must never depend on the `salesforce` crate:
//! two codebases that share wire types would agree on the same mistakes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sfsim::StartError> {
//! let org = sfsim::start(sfsim::Options::default()).await?;
//! let token = org.access_token();   // Bearer token for /services/data/v62.0/...
//! let leads = org.control().query("SELECT Id, Email FROM Lead WHERE IsConverted = false");
//! org.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Modules:
//! - [`schema`]: object/field metadata and the describe documents;
//! - [`org`]: records in memory, write validation (types, lengths, field-level security,
//!   required fields, restricted picklists, validation and duplicate rules, converted
//!   leads, deleted records), queries;
//! - [`soql`]: the SOQL subset (pure parser/evaluator);
//! - [`setup`]: the Tooling API's custom fields, permission sets and field permissions,
//!   and the field-level security they give the integration user;
//! - [`api`]: the REST data API (`/services/data/...`), incl. Collections and Composite;
//! - [`control`]: the control plane (`/__sfsim/...` and [`Control`]): scenarios, faults,
//!   call log, counters;
//! - [`scenario`]: JSON/TOML scenario documents;
//! - [`seed`]: the default org's metadata and data (documented there);
//! - [`ids`]: 18-character ids with key prefixes and checksums;
//! - `oauth`, `tls`: the OAuth endpoints, sessions, and HTTPS.
//!
//! Not emulated (answers 404 `NOT_FOUND` or `MALFORMED_QUERY`): Bulk API 2.0, upsert by
//! external id, `/composite/batch` and `/composite/graph`, SOSL, child subqueries,
//! aggregates other than `COUNT()`, date literals such as `TODAY`, record types,
//! sharing rules, triggers and flows.
//!
//! Fidelity notes: errors are JSON arrays `[{"message","errorCode","fields"?}]`; every
//! data response carries `Sforce-Limit-Info: api-usage=N/M`; Composite counts as one API
//! call; datetimes are written `2024-01-15T10:30:00.000+0000`. Where Salesforce's exact
//! wording is not documented (composite limit errors, retired-version body), the
//! messages are plausible stand-ins and marked so in the code.

#![recursion_limit = "256"]
// Nested `if let` reads closer to the Salesforce rules they encode than let-chains do;
// handler helpers pass whole error responses by value on purpose.
#![allow(
    clippy::collapsible_if,
    clippy::result_large_err,
    clippy::type_complexity
)]

pub mod api;
pub mod control;
pub mod ids;
pub mod oauth;
pub mod org;
pub mod scenario;
pub mod schema;
pub mod seed;
pub mod setup;
pub mod soql;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to start an emulated org.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// A scenario file (JSON or TOML) replacing the default org's data and metadata.
    pub scenario: Option<PathBuf>,
    /// Added to every API call before it is answered (calls overlap; they do not queue).
    pub latency: Duration,
    /// Serve HTTPS with a certificate generated at start.
    pub tls: bool,
    /// Lifetime of access tokens; afterwards data calls answer 401 INVALID_SESSION_ID.
    pub access_token_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scenario: None,
            latency: Duration::ZERO,
            tls: false,
            access_token_ttl: Duration::from_secs(2 * 60 * 60),
        }
    }
}

pub use control::{CallKind, CallRecord, Control, Faults};
pub use scenario::Scenario;

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::any;

/// Why the org could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

struct Inner {
    url: String,
    control: Control,
    auth: Arc<oauth::Auth>,
    access_token: String,
    refresh_token: String,
    tls: Option<tls::TlsMaterial>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
    }
}

/// A running emulated org. Cloning is cheap; dropping the last handle (or calling
/// [`RunningOrg::shutdown`]) stops the server.
#[derive(Clone)]
pub struct RunningOrg {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RunningOrg {
    /// Shows the URL and user only; tokens and the client secret are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningOrg")
            .field("url", &self.inner.url)
            .field("username", &self.username())
            .finish_non_exhaustive()
    }
}

impl RunningOrg {
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS.
    pub fn url(&self) -> &str {
        &self.inner.url
    }
    /// The emulated connected app's consumer key.
    pub fn client_id(&self) -> &str {
        &self.inner.auth.config().client_id
    }
    pub fn client_secret(&self) -> &str {
        &self.inner.auth.config().client_secret
    }
    /// The integration user's username.
    pub fn username(&self) -> &str {
        &self.inner.auth.config().username
    }
    /// The integration user's password (login page and password grant).
    pub fn password(&self) -> &str {
        &self.inner.auth.config().password
    }
    /// An access token issued at start (valid until it expires or is expired by a fault).
    pub fn access_token(&self) -> String {
        self.inner.access_token.clone()
    }
    /// The refresh token issued with [`RunningOrg::access_token`].
    pub fn refresh_token(&self) -> String {
        self.inner.refresh_token.clone()
    }
    /// The CA certificate (PEM file) clients must trust, with TLS.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.inner.tls.as_ref().map(tls::TlsMaterial::ca_cert_path)
    }
    /// The OAuth authorization server (sessions, token issue).
    pub fn auth(&self) -> &Arc<oauth::Auth> {
        &self.inner.auth
    }
    /// The in-process control plane (the same operations as `/__sfsim/...`).
    pub fn control(&self) -> &Control {
        &self.inner.control
    }
    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(self) {
        let stop = self.inner.stop.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The whole HTTP surface: data API, OAuth, control plane.
pub fn router(control: &Control) -> Router {
    let data = Router::new()
        .route("/services/data", any(api::handle))
        .route("/services/data/", any(api::handle))
        .route("/services/data/{*rest}", any(api::handle))
        .with_state(control.clone());
    data.merge(oauth::router(Arc::clone(&control.shared.auth)))
        .merge(control::router(control.clone()))
}

/// Starts an org: the default org (or `opts.scenario` applied to it), a session for the
/// integration user, and the HTTP(S) server on `opts.listen`.
pub async fn start(opts: Options) -> Result<RunningOrg, StartError> {
    let mut org = seed::default_org();
    let scenario = opts
        .scenario
        .as_deref()
        .map(Scenario::from_file)
        .transpose()?;
    if let Some(sc) = &scenario {
        scenario::apply(&mut org, sc)?;
    }
    let auth = oauth::Auth::new(oauth::AuthConfig {
        access_token_ttl: opts.access_token_ttl,
        ..oauth::AuthConfig::default()
    });
    org.user_id = auth.config().user_id.clone();
    let control = Control::new(org, Arc::clone(&auth), opts.latency);
    if let Some(max) = scenario.as_ref().and_then(|s| s.daily_api_limit) {
        control.set_daily_limit(max);
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: opts.listen,
        source,
    })?;
    let material = if opts.tls {
        Some(tls::generate(&tls::DEFAULT_HOSTS)?)
    } else {
        None
    };
    let url = match &material {
        Some(_) => format!("https://localhost:{}", addr.port()),
        None => format!("http://127.0.0.1:{}", addr.port()),
    };
    auth.set_instance_url(&url);
    let (access_token, refresh_token) = auth.issue_tokens();
    let app = router(&control);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stop_rx.await;
    };
    let task = match &material {
        Some(m) => {
            let cfg = m.server_config();
            tokio::spawn(async move {
                if let Err(e) = tls::serve(listener, app, cfg, shutdown).await {
                    tracing::error!(error = %e, "sfsim HTTPS server stopped");
                }
            })
        }
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "sfsim HTTP server stopped");
            }
        }),
    };
    Ok(RunningOrg {
        inner: Arc::new(Inner {
            url,
            control,
            auth,
            access_token,
            refresh_token,
            tls: material,
            stop: Mutex::new(Some(stop_tx)),
            task: Mutex::new(Some(task)),
        }),
    })
}
