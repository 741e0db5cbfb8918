//! The trailspark service: the HTTP API (ingest, log, retry, settings, integrations,
//! health, metrics), the web app's pages, roles on API tokens, and the delivery workers, over one store.
//!
//! ```text
//! Application::build(settings, connector)  → binds the listener, opens the store
//!     .run_until_stopped(shutdown)         → serves the API and runs the workers until
//!                                            `shutdown` resolves, then drains them
//! ```
//! The binary (`trailspark serve` / `demo`) supplies the [`Connector`] that signs in to
//! Salesforce, so secrets handling stays in one place.

pub mod api;
pub mod auth;
pub mod batch;
pub mod current;
pub mod error;
pub mod handlers;
pub mod integrations;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod passwords;
pub mod rotation;
pub mod secrets;
pub mod session;
pub mod stats;
pub mod web;
pub mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use domain::{Config, DestinationSettings, IntegrationSettings};
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use error::ApiError;
pub use integrations::{Connector, Integrations, Status, refresh_token_connector};
pub use secrets::SecretBox;
pub use worker::{SALESFORCE, WorkerOptions};

/// Default listen address and database (`[server]` in docs/configuration.md).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://trailspark.db";

/// Which parts run in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Both,
    /// HTTP API only (workers run elsewhere, sharing a PostgreSQL database).
    ApiOnly,
    /// Delivery workers only (no listener).
    WorkersOnly,
}

/// Everything the service needs, already parsed. `Debug` masks the password of
/// `database_url`.
#[derive(Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    pub public_url: String,
    pub mode: Mode,
    pub worker: WorkerOptions,
    pub integrations: Vec<IntegrationSettings>,
    pub destination: Option<DestinationSettings>,
    /// Sync-log entries older than this are purged (checked hourly).
    pub log_retention: Duration,
    /// Finished evaluations older than this are purged with their deliveries (hourly).
    pub retention: Duration,
    /// Connection timeouts and cap (`[server.http]`).
    pub http: listener::Limits,
    /// The key that seals stored secrets; `None`: from the environment or the key file
    /// ([`SecretBox::load`]), beside the SQLite database by default.
    pub secrets: Option<Arc<SecretBox>>,
    /// When set, `/metrics` answers only requests carrying it as a bearer token
    /// (`TRAILSPARK_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &domain::config::redact_url_password(&self.database_url),
            )
            .field("public_url", &self.public_url)
            .field("mode", &self.mode)
            .field("worker", &self.worker)
            .field("integrations", &self.integrations)
            .field("destination", &self.destination)
            .field("log_retention", &self.log_retention)
            .field("retention", &self.retention)
            .field("http", &self.http)
            .field("secrets", &self.secrets.as_ref().map(|_| "***"))
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Settings {
    /// From a parsed config file (`[server]` defaults when the table is absent).
    pub fn from_config(cfg: &Config) -> Settings {
        let server = cfg.server.clone();
        let worker = server
            .as_ref()
            .map(|s| s.worker.clone())
            .unwrap_or_default();
        let listen = server
            .as_ref()
            .map_or_else(|| DEFAULT_LISTEN.to_string(), |s| s.listen.clone());
        Settings {
            public_url: server
                .as_ref()
                .map_or_else(|| format!("http://{listen}"), |s| s.public_url.clone()),
            database_url: server.as_ref().map_or_else(
                || DEFAULT_DATABASE_URL.to_string(),
                |s| s.database_url.clone(),
            ),
            listen,
            mode: Mode::Both,
            worker: WorkerOptions::from_settings(&worker),
            integrations: cfg.integrations.values().cloned().collect(),
            destination: cfg.destination.clone(),
            log_retention: Duration::from_secs(u64::from(worker.log_retention_days) * 86_400),
            retention: Duration::from_secs(u64::from(worker.retention_days) * 86_400),
            http: listener::Limits::from(
                &server.as_ref().map(|s| s.http.clone()).unwrap_or_default(),
            ),
            secrets: None,
            metrics_token: None,
        }
    }

    /// Where the secret key file goes by default: beside the SQLite database file, else
    /// the working directory.
    pub fn default_key_file(&self) -> std::path::PathBuf {
        let file = std::path::PathBuf::from(secrets::DEFAULT_KEY_FILE);
        let Some(path) = self.database_url.strip_prefix("sqlite://") else {
            return file;
        };
        let path = path.split('?').next().unwrap_or(path);
        match std::path::Path::new(path).parent() {
            Some(dir) if !dir.as_os_str().is_empty() && path != ":memory:" => dir.join(file),
            _ => file,
        }
    }
}

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Wakes this process's idle workers when evaluations were stored or re-queued.
    pub notify: Arc<Notify>,
    pub metrics: Arc<metrics::Metrics>,
    /// The store's figures as last read in the background (`/metrics`, the Overview).
    pub stats: Arc<stats::StoreStats>,
    /// When set, `/metrics` requires it as a bearer token.
    pub metrics_token: Option<Arc<str>>,
    pub integrations: Integrations,
    /// `[destinations.salesforce]` from the config file, when it has one (then the API
    /// shows it read-only); otherwise the settings saved through the API are in force.
    pub config_destination: Option<Arc<DestinationSettings>>,
    /// Destinations every new evaluation gets a delivery for.
    pub destinations: Arc<Vec<String>>,
    /// Seals refresh tokens and other secrets before they are stored.
    pub secrets: Arc<SecretBox>,
    /// Signs in config-file integrations.
    pub connector: Connector,
    /// The service's public base URL (OAuth callback, redirects) and its origin (the CSRF
    /// same-origin rule).
    pub public_url: String,
    pub public_origin: String,
    /// Session cookies carry `Secure` when the service is reached over https.
    pub secure_cookies: bool,
}

/// The API router with roles and the error shape on every path.
pub fn router(state: AppState) -> Router {
    use api::*;
    use axum::routing::{delete, patch};
    use handlers::{audit, connections, session, settings, setup, users};
    Router::new()
        .route("/api/v1/evaluations", post(post_evaluations))
        .route("/api/v1/evaluations/{id}", get(get_evaluation))
        .route("/api/v1/deliveries", get(list_deliveries))
        .route("/api/v1/deliveries/retry", post(retry_failed))
        .route("/api/v1/deliveries/{id}/retry", post(retry_delivery))
        .route("/api/v1/destinations/salesforce/replay", post(replay))
        .route(
            "/api/v1/destinations/salesforce",
            get(settings::get).put(settings::put),
        )
        .route(
            "/api/v1/destinations/salesforce/history",
            get(settings::history),
        )
        .route("/api/v1/integrations", get(connections::list))
        .route("/api/v1/integrations/salesforce", post(connections::begin))
        .route("/api/oauth/callback/salesforce", get(connections::callback))
        .route("/api/v1/integrations/{name}/test", post(connections::test))
        .route("/api/v1/integrations/{name}/setup", post(setup::setup))
        .route(
            "/api/v1/integrations/{name}",
            delete(connections::disconnect),
        )
        .route(
            "/api/v1/integrations/{name}/objects/{object}/fields",
            get(connections::fields),
        )
        .route(
            "/api/v1/session",
            post(session::sign_in)
                .get(session::who_am_i)
                .delete(session::sign_out),
        )
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{id}",
            patch(users::update).delete(users::remove),
        )
        .route("/api/v1/audit", get(audit::list))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        // Only matched routes reach the role check (`route_layer`), so an unknown path is
        // a 404 and never a 401.
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require))
        // The web app's pages, behind their own table and the same role rules.
        .merge(web::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(reject_oversized))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Refuses a body announced larger than the limit before reading any of it (the body
/// extractors would otherwise read up to the limit first). Unannounced (chunked) bodies
/// are still cut at the limit by [`DefaultBodyLimit`].
async fn reject_oversized(
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let announced = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > api::BODY_LIMIT as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(req).await
}

/// A built service: store open, listener bound (unless workers-only).
pub struct Application {
    settings: Settings,
    state: AppState,
    listener: Option<TcpListener>,
    connector: Connector,
}

impl Application {
    /// Opens (and migrates) the database and binds the listener (port 0 picks one).
    pub async fn build(settings: Settings, connector: Connector) -> anyhow::Result<Application> {
        let store = store::open(&settings.database_url)
            .await
            .context("cannot open the database")?;
        Self::build_with_store(settings, store, connector).await
    }

    pub async fn build_with_store(
        settings: Settings,
        store: Arc<dyn Store>,
        connector: Connector,
    ) -> anyhow::Result<Application> {
        let listener = if settings.mode == Mode::WorkersOnly {
            None
        } else {
            let l = TcpListener::bind(&settings.listen)
                .await
                .with_context(|| format!("cannot listen on {}", settings.listen))?;
            Some(l)
        };
        let mut settings = settings;
        // `listen = "…:0"` picks a free port; the public URL derived from it names that port.
        if let Some(addr) = listener.as_ref().and_then(|l| l.local_addr().ok()) {
            settings.public_url = with_bound_port(&settings.public_url, addr.port());
        }
        let secrets = match &settings.secrets {
            Some(s) => s.clone(),
            None => Arc::new(
                SecretBox::load(&settings.default_key_file())
                    .context("cannot load the key that seals stored secrets")?,
            ),
        };
        let integrations = Integrations::new(settings.integrations.clone());
        integrations
            .sync_stored(store.as_ref())
            .await
            .context("cannot read the stored connections")?;
        let state = AppState {
            store,
            notify: Arc::new(Notify::new()),
            metrics: Arc::new(metrics::Metrics::default()),
            stats: Arc::new(stats::StoreStats::default()),
            metrics_token: settings.metrics_token.as_deref().map(Arc::from),
            integrations,
            config_destination: settings.destination.clone().map(Arc::new),
            // Every evaluation is queued for the destination, configured yet or not: one
            // accepted before the settings are saved is delivered once they are.
            destinations: Arc::new(vec![SALESFORCE.to_string()]),
            secrets,
            connector: connector.clone(),
            public_origin: session::origin_of(&settings.public_url),
            secure_cookies: settings.public_url.starts_with("https://"),
            public_url: settings.public_url.clone(),
        };
        Ok(Application {
            settings,
            state,
            listener,
            connector,
        })
    }

    /// The bound address (None for workers-only).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves and delivers until `shutdown` resolves; then stops accepting requests, lets
    /// in-flight batches finish (or releases them) and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if self.settings.mode != Mode::ApiOnly {
            let ctx = worker::WorkerContext {
                store: self.state.store.clone(),
                notify: self.state.notify.clone(),
                metrics: self.state.metrics.clone(),
                options: self.settings.worker.clone(),
                connector: self.connector.clone(),
                integrations: self.state.integrations.clone(),
                secrets: self.state.secrets.clone(),
                config_destination: self.state.config_destination.clone(),
                shutdown: stop_rx.clone(),
                process_tag: format!(
                    "{}-{}",
                    std::process::id(),
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                ),
            };
            tasks.push(tokio::spawn(worker::run_destination(ctx)));
            tasks.push(tokio::spawn(purge_loop(
                self.state.store.clone(),
                Retention {
                    log: self.settings.log_retention,
                    evaluations: self.settings.retention,
                },
                stop_rx.clone(),
            )));
        }
        let server = self.listener.map(|listener| {
            // The figures `/metrics` and the Overview show, read in the background.
            tasks.push(tokio::spawn(stats::refresh_loop(
                self.state.stats.clone(),
                self.state.store.clone(),
                stop_rx.clone(),
            )));
            tokio::spawn(listener::serve(
                listener,
                router(self.state.clone()),
                self.settings.http,
                stop_rx.clone(),
                self.settings.worker.shutdown_grace,
            ))
        });
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight work");
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        if let Some(s) = server {
            s.await.context("the HTTP server task failed")?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// `public_url` with port 0 replaced by the port actually bound.
fn with_bound_port(public_url: &str, port: u16) -> String {
    match url::Url::parse(public_url) {
        Ok(mut u) if u.port() == Some(0) => {
            let _ = u.set_port(Some(port));
            u.as_str().trim_end_matches('/').to_string()
        }
        _ => public_url.to_string(),
    }
}

/// How long the sync log and finished evaluations are kept.
#[derive(Debug, Clone, Copy)]
struct Retention {
    log: Duration,
    evaluations: Duration,
}

/// Rows one purge transaction deletes at most: short enough that ingest and the workers,
/// queued behind it for the write lock, wait milliseconds.
const PURGE_BATCH: usize = 500;

/// Deletes what is past retention, hourly: sync-log entries, then finished evaluations with
/// their deliveries, each in batches of [`PURGE_BATCH`] with a pause between batches so
/// writers take their turn; then expired sessions.
async fn purge_loop(store: Arc<dyn Store>, retention: Retention, mut stop: watch::Receiver<bool>) {
    loop {
        let now = time::OffsetDateTime::now_utc();
        let log_cutoff = now - retention.log;
        let purged = purge_in_batches(&mut stop, || {
            store.purge_log_older_than(log_cutoff, PURGE_BATCH)
        })
        .await;
        match purged {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "sync log entries past retention deleted"),
            Err(e) => tracing::warn!(error = %e, "cannot purge the sync log"),
        }
        let cutoff = now - retention.evaluations;
        let purged = purge_in_batches(&mut stop, || {
            store.purge_evaluations_older_than(cutoff, PURGE_BATCH)
        })
        .await;
        match purged {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "finished evaluations past retention deleted"),
            Err(e) => tracing::warn!(error = %e, "cannot purge old evaluations"),
        }
        if let Err(e) = store.purge_expired_sessions().await {
            tracing::warn!(error = %e, "cannot purge expired sessions");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Calls `batch` until it deletes fewer than [`PURGE_BATCH`] rows (or shutdown is asked);
/// returns the total.
async fn purge_in_batches<F, Fut>(
    stop: &mut watch::Receiver<bool>,
    mut batch: F,
) -> store::Result<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = store::Result<u64>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < PURGE_BATCH as u64 || *stop.borrow() {
            return Ok(total);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn purges_run_in_batches_until_one_comes_back_short() {
        let (_tx, mut rx) = watch::channel(false);
        let left = std::sync::Mutex::new(1_234u64);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let total = purge_in_batches(&mut rx, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut l = left.lock().unwrap();
            let n = (*l).min(PURGE_BATCH as u64);
            *l -= n;
            async move { Ok(n) }
        })
        .await
        .unwrap();
        assert_eq!(total, 1_234);
        assert_eq!(calls.into_inner(), 3, "500 + 500 + 234");
    }

    #[tokio::test]
    async fn a_purge_stops_between_batches_at_shutdown() {
        let (tx, mut rx) = watch::channel(false);
        tx.send(true).unwrap();
        let total = purge_in_batches(&mut rx, || async { Ok(PURGE_BATCH as u64) })
            .await
            .unwrap();
        assert_eq!(total, PURGE_BATCH as u64);
    }

    #[test]
    fn debug_masks_the_database_password() {
        let cfg = Config::from_toml_str(
            "[server]\ndatabase_url = \"postgres://app:s3cr3t@db:5432/ts\"\n",
            "c.toml",
        )
        .unwrap();
        let s = Settings::from_config(&cfg);
        assert_eq!(s.database_url, "postgres://app:s3cr3t@db:5432/ts");
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("postgres://app:***@db:5432/ts"), "{debug}");
    }
}
