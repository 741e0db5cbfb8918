//! The connected orgs as the service sees them. An integration comes from one of two
//! places:
//! - the config file (`[integrations.NAME]`): signed in through an injected [`Connector`]
//!   (the binary reads the secrets its environment variables name); read-only through the API;
//! - the database: connected from the web app through OAuth (authorization code + PKCE),
//!   its refresh token sealed with the service's key ([`crate::secrets`]).
//!
//! [`Integrations`] is the registry of both, with one cached Salesforce client per
//! integration and its status for `/api/v1/integrations` and `/metrics`. Stored connections
//! are re-read from the database ([`Integrations::sync_stored`]) so that a connect or
//! disconnect in one process reaches the workers of every process sharing the database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context as _;
use domain::IntegrationSettings;
use futures::future::BoxFuture;
use salesforce::{
    ApiVersion, Client, ClientConfig, LoginUrl, RefreshTokens, SecretString, TokenSource,
};
use serde_json::{Value, json};
use store::{Connection, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::secrets::SecretBox;

/// Builds a signed-in client for a config-file integration. The binary supplies it (secrets
/// come from environment variables it reads; tests hand in an emulated org's tokens); the
/// service hands it where a rotated refresh token is kept ([`crate::rotation`]), for the
/// client's configuration.
pub type Connector = Arc<
    dyn Fn(IntegrationSettings, Option<RefreshTokens>) -> BoxFuture<'static, anyhow::Result<Client>>
        + Send
        + Sync,
>;

/// Signs every integration in with one fixed refresh token, whatever its settings name: the
/// benchmarks hand in an emulated org's own tokens this way.
pub fn refresh_token_connector(
    login_url: String,
    client_id: String,
    refresh_token: String,
) -> Connector {
    Arc::new(move |_i, kept| {
        let (login_url, client_id, refresh_token) =
            (login_url.clone(), client_id.clone(), refresh_token.clone());
        Box::pin(async move {
            let mut cfg = ClientConfig::new(TokenSource::RefreshToken {
                login_url: LoginUrl::parse(&login_url).map_err(|e| anyhow::anyhow!("{e}"))?,
                client_id,
                client_secret: None,
                refresh_token: SecretString::from(refresh_token),
            });
            // The worker decides every retry (the destination's pause, the store's backoff).
            cfg.retry = salesforce::RetryPolicy::none();
            cfg.refresh_tokens = kept;
            Ok(Client::connect(cfg).await?)
        })
    })
}

/// For a service with no config-file integrations (the demo): every org is connected
/// through the web app, so this is never asked to sign in.
pub fn no_config_connector() -> Connector {
    Arc::new(|i, _| {
        Box::pin(async move {
            anyhow::bail!(
                "the integration {} is not in the configuration file",
                i.name
            )
        })
    })
}

/// The sealing purposes of a stored connection's secrets (bound to the connection's name).
pub fn refresh_token_purpose(name: &str) -> String {
    format!("connection:{name}:refresh_token")
}
pub fn client_secret_purpose(name: &str) -> String {
    format!("connection:{name}:client_secret")
}

/// Where an integration stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// No worker in this process uses it (API-only process, or no destination uses it).
    Idle,
    Connecting,
    Connected,
    /// Delivery paused for org-wide trouble (the org unavailable, throttling, the daily
    /// limit or `pause_at_api_usage`, the concurrent limit). Resumes by itself once a probe
    /// gets through.
    Paused {
        reason: String,
        /// `org_unavailable`, `throttled`, `request_limit`, `api_usage`, `concurrent_limit`.
        why: &'static str,
        since: OffsetDateTime,
        /// When the org is probed next (changes without being announced).
        next_probe: Option<OffsetDateTime>,
    },
    /// Salesforce refused the sign-in (refresh token revoked or expired): deliveries wait
    /// until the org is reconnected.
    SignedOut {
        message: String,
    },
    /// Signing in failed; retried with backoff.
    Error {
        message: String,
    },
    /// Disconnected from the web app: deliveries wait until it is connected again.
    Disconnected,
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Connecting => "connecting",
            Status::Connected => "connected",
            Status::Paused { .. } => "paused",
            Status::SignedOut { .. } => "signed_out",
            Status::Error { .. } => "error",
            Status::Disconnected => "disconnected",
        }
    }

    /// The same state for the log: a paused status whose next probe moved is no change.
    fn same_as(&self, other: &Status) -> bool {
        match (self, other) {
            (
                Status::Paused { reason, why, .. },
                Status::Paused {
                    reason: r2,
                    why: w2,
                    ..
                },
            ) => reason == r2 && why == w2,
            _ => self == other,
        }
    }
}

/// Where an integration is defined.
#[derive(Debug, Clone)]
pub enum Source {
    /// `[integrations.NAME]` in the config file.
    Config(IntegrationSettings),
    /// Connected through the web app; `refresh_token_enc` is `None` once disconnected.
    Stored(Connection),
}

/// One integration's live state.
pub struct Integration {
    pub name: String,
    pub source: Source,
    /// Pause delivery when the org's daily API usage passes this share.
    pub pause_at_api_usage: f64,
    client: RwLock<Option<Client>>,
    /// Counts the clients set, so a destination built on an older one is rebuilt.
    client_epoch: std::sync::atomic::AtomicU64,
    status: Mutex<Status>,
}

impl Integration {
    pub fn from_config(settings: IntegrationSettings) -> Integration {
        Integration {
            name: settings.name.clone(),
            pause_at_api_usage: settings.pause_at_api_usage,
            source: Source::Config(settings),
            client: RwLock::new(None),
            client_epoch: Default::default(),
            status: Mutex::new(Status::Idle),
        }
    }

    pub fn from_connection(c: Connection) -> Integration {
        let status = if c.refresh_token_enc.is_some() {
            Status::Idle
        } else {
            Status::Disconnected
        };
        Integration {
            name: c.name.clone(),
            pause_at_api_usage: domain::config::DEFAULT_PAUSE_AT_API_USAGE,
            source: Source::Stored(c),
            client: RwLock::new(None),
            client_epoch: Default::default(),
            status: Mutex::new(status),
        }
    }

    /// Defined in the config file (and so read-only through the API)?
    pub fn managed_by_config(&self) -> bool {
        matches!(self.source, Source::Config(_))
    }

    /// A stored connection whose tokens were removed.
    pub fn is_disconnected(&self) -> bool {
        matches!(&self.source, Source::Stored(c) if c.refresh_token_enc.is_none())
    }

    pub fn client(&self) -> Option<Client> {
        self.client.read().ok().and_then(|c| c.clone())
    }

    pub fn set_client(&self, client: Client) {
        if let Ok(mut c) = self.client.write() {
            *c = Some(client);
            self.client_epoch
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Which signed-in client is current (changes with every new sign-in).
    pub fn client_epoch(&self) -> u64 {
        self.client_epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Salesforce refused the sign-in: forget the client (the next use signs in again,
    /// which fails until the org is reconnected) and show why.
    pub fn sign_out(&self, message: String) {
        if let Ok(mut c) = self.client.write() {
            *c = None;
        }
        self.set_status(Status::SignedOut {
            message: format!("Salesforce refused the sign-in ({message}): reconnect the org"),
        });
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or(Status::Idle)
    }

    pub fn set_status(&self, status: Status) {
        if let Ok(mut s) = self.status.lock() {
            if !s.same_as(&status) {
                tracing::info!(integration = %self.name, status = status.name(), detail = ?status, "integration status");
            }
            *s = status;
        }
    }

    /// Share of the daily API allocation used, from the last `Sforce-Limit-Info` seen.
    pub fn usage_share(&self) -> Option<f64> {
        let u = self.client()?.api_usage()?;
        (u.max > 0).then(|| u.used as f64 / u.max as f64)
    }

    /// The signed-in client, connecting on first use (and caching it). A refresh token the
    /// org rotates is kept sealed in `store` ([`crate::rotation`]).
    pub async fn connect(
        &self,
        connector: &Connector,
        secrets: &Arc<SecretBox>,
        store: &Arc<dyn Store>,
    ) -> anyhow::Result<Client> {
        if let Some(c) = self.client() {
            return Ok(c);
        }
        let client = match &self.source {
            Source::Config(settings) => {
                let kept = crate::rotation::for_config(store.clone(), secrets.clone(), &self.name);
                connector(settings.clone(), Some(kept)).await?
            }
            Source::Stored(c) => {
                let kept =
                    crate::rotation::for_connection(store.clone(), secrets.clone(), &self.name);
                connect_stored(c, secrets, Some(kept)).await?
            }
        };
        self.set_client(client.clone());
        Ok(client)
    }

    /// The `/api/v1/integrations` entry: name, source, status, who and which org, API usage
    /// (never a secret).
    pub fn to_json(&self) -> Value {
        let status = self.status();
        let detail = match &status {
            Status::Paused { reason, .. } => Some(reason.clone()),
            Status::Error { message } | Status::SignedOut { message } => Some(message.clone()),
            Status::Disconnected => {
                Some("disconnected: deliveries wait until the org is connected again".into())
            }
            _ => None,
        };
        let client = self.client();
        let usage = client.as_ref().and_then(Client::api_usage).map(|u| {
            json!({"used": u.used, "max": u.max,
                   "share": if u.max > 0 { u.used as f64 / u.max as f64 } else { 0.0 }})
        });
        let mut v = json!({
            "name": self.name,
            "managed_by": if self.managed_by_config() { "config" } else { "database" },
            "pause_at_api_usage": self.pause_at_api_usage,
            "status": status.name(),
            "detail": detail,
            "pause": match &status {
                Status::Paused { why, since, next_probe, .. } => json!({
                    "why": why,
                    "since": since.format(&Rfc3339).ok(),
                    "next_probe": next_probe.and_then(|t| t.format(&Rfc3339).ok()),
                }),
                _ => Value::Null,
            },
            "instance_url": client.as_ref().map(Client::instance_url),
            "api_usage": usage,
            "calls_made": client.as_ref().map(Client::calls_made),
        });
        match &self.source {
            Source::Config(s) => {
                v["login_url"] = json!(s.login_url);
                v["auth"] = json!(s.auth.kind());
                v["api_version"] = json!(s.api_version);
            }
            Source::Stored(c) => {
                v["login_url"] = json!(c.login_url);
                v["auth"] = json!("oauth");
                v["api_version"] = json!(domain::config::DEFAULT_API_VERSION);
                v["sandbox"] = json!(c.sandbox);
                v["client_id"] = json!(c.client_id);
                v["username"] = json!(c.username);
                v["user_id"] = json!(c.user_id);
                v["org_id"] = json!(c.org_id);
                v["connected_by"] = json!(c.connected_by);
                v["connected_at"] = json!(c.connected_at.map(crate::handlers::rfc3339));
                v["disconnected_at"] = json!(c.disconnected_at.map(crate::handlers::rfc3339));
                if v["instance_url"].is_null() {
                    v["instance_url"] = json!(c.instance_url);
                }
                if c.refresh_token_enc.is_none() {
                    v["status"] = json!(Status::Disconnected.name());
                }
            }
        }
        v
    }
}

/// Signs in with a stored connection's refresh token; `kept` is where a rotated one goes.
pub async fn connect_stored(
    c: &Connection,
    secrets: &SecretBox,
    kept: Option<RefreshTokens>,
) -> anyhow::Result<Client> {
    let sealed = c
        .refresh_token_enc
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("the integration {} is disconnected", c.name))?;
    let refresh_token = secrets.open(&refresh_token_purpose(&c.name), sealed)?;
    let client_secret = secrets.open_opt(
        &client_secret_purpose(&c.name),
        c.client_secret_enc.as_deref(),
    )?;
    let mut cfg = ClientConfig::new(TokenSource::RefreshToken {
        login_url: LoginUrl::parse(&c.login_url)
            .map_err(|e| anyhow::anyhow!("the stored login URL of {}: {e}", c.name))?,
        client_id: c.client_id.clone(),
        client_secret,
        refresh_token,
    });
    // The worker decides every retry (the destination's pause, the store's backoff).
    cfg.retry = salesforce::RetryPolicy::none();
    cfg.refresh_tokens = kept;
    cfg.api_version = ApiVersion::parse(domain::config::DEFAULT_API_VERSION)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Client::connect(cfg)
        .await
        .with_context(|| format!("cannot sign in to Salesforce as the integration {}", c.name))
}

/// The row changed only by a rotated refresh token: the client signed in keeps working (it
/// reads the kept token before its next refresh), so it is not dropped.
fn only_rotated(old: &Connection, new: &Connection) -> bool {
    old.refresh_token_enc.is_some()
        && new.refresh_token_enc.is_some()
        && Connection {
            refresh_token_enc: None,
            updated_at: new.updated_at,
            ..old.clone()
        } == Connection {
            refresh_token_enc: None,
            ..new.clone()
        }
}

/// Every integration, by name: the config file's (fixed) and the database's (re-read).
#[derive(Clone, Default)]
pub struct Integrations {
    config: Arc<BTreeMap<String, Arc<Integration>>>,
    stored: Arc<RwLock<BTreeMap<String, Arc<Integration>>>>,
    /// When the stored connections were last read, to skip re-reading within a batch.
    synced_at: Arc<Mutex<Option<OffsetDateTime>>>,
}

impl Integrations {
    pub fn new(settings: impl IntoIterator<Item = IntegrationSettings>) -> Integrations {
        Integrations {
            config: Arc::new(
                settings
                    .into_iter()
                    .map(|s| (s.name.clone(), Arc::new(Integration::from_config(s))))
                    .collect(),
            ),
            ..Integrations::default()
        }
    }

    /// A config-file integration of this name?
    pub fn is_config(&self, name: &str) -> bool {
        self.config.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Integration>> {
        if let Some(i) = self.config.get(name) {
            return Some(i.clone());
        }
        self.stored.read().ok()?.get(name).cloned()
    }

    /// Every integration, config ones first, each group by name.
    pub fn all(&self) -> Vec<Arc<Integration>> {
        let mut out: Vec<_> = self.config.values().cloned().collect();
        if let Ok(s) = self.stored.read() {
            out.extend(s.values().filter(|i| !self.is_config(&i.name)).cloned());
        }
        out
    }

    /// Re-reads the stored connections; an entry whose row changed (reconnected,
    /// disconnected, rotated token) is replaced, dropping its cached client.
    pub async fn sync_stored(&self, store: &dyn Store) -> store::Result<()> {
        let rows = store.list_connections().await?;
        let mut map = match self.stored.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let mut next = BTreeMap::new();
        for c in rows {
            let keep = map.get(&c.name).filter(|i| match &i.source {
                Source::Stored(old) => old.updated_at == c.updated_at || only_rotated(old, &c),
                Source::Config(_) => false,
            });
            let entry = match keep {
                Some(i) => i.clone(),
                None => Arc::new(Integration::from_connection(c.clone())),
            };
            next.insert(c.name.clone(), entry);
        }
        *map = next;
        if let Ok(mut t) = self.synced_at.lock() {
            *t = Some(OffsetDateTime::now_utc());
        }
        Ok(())
    }

    /// [`Self::sync_stored`] unless it ran within `max_age`.
    pub async fn sync_stored_if_older(
        &self,
        store: &dyn Store,
        max_age: std::time::Duration,
    ) -> store::Result<()> {
        let fresh = self
            .synced_at
            .lock()
            .ok()
            .and_then(|t| *t)
            .is_some_and(|t| OffsetDateTime::now_utc() - t < max_age);
        if fresh {
            return Ok(());
        }
        self.sync_stored(store).await
    }
}
