//! The connected orgs as the service sees them: one Salesforce client per integration
//! (connected lazily by the workers, through an injected [`Connector`]), and its status
//! for `/api/v1/integrations` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use domain::IntegrationSettings;
use futures::future::BoxFuture;
use salesforce::{Client, ClientConfig, LoginUrl, SecretString, TokenSource};
use serde_json::{Value, json};

/// Builds a signed-in client for an integration. The binary supplies it (secrets come
/// from environment variables it reads; the demo hands in the emulated org's tokens).
pub type Connector =
    Arc<dyn Fn(IntegrationSettings) -> BoxFuture<'static, anyhow::Result<Client>> + Send + Sync>;

/// Signs every integration in with one fixed refresh token, whatever its settings name: the
/// demo and the benchmarks hand in an emulated org's own tokens this way.
pub fn refresh_token_connector(
    login_url: String,
    client_id: String,
    refresh_token: String,
) -> Connector {
    Arc::new(move |_i| {
        let (login_url, client_id, refresh_token) =
            (login_url.clone(), client_id.clone(), refresh_token.clone());
        Box::pin(async move {
            let cfg = ClientConfig::new(TokenSource::RefreshToken {
                login_url: LoginUrl::parse(&login_url).map_err(|e| anyhow::anyhow!("{e}"))?,
                client_id,
                client_secret: None,
                refresh_token: SecretString::from(refresh_token),
            });
            Ok(Client::connect(cfg).await?)
        })
    })
}

/// Where an integration stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// No worker in this process uses it (API-only process, or no destination uses it).
    Idle,
    Connecting,
    Connected,
    /// Delivery paused: the org's daily API usage passed `pause_at_api_usage`, or
    /// Salesforce answered REQUEST_LIMIT_EXCEEDED. Resumes by itself.
    Paused {
        reason: String,
    },
    /// Signing in failed; retried with backoff.
    Error {
        message: String,
    },
}

impl Status {
    fn name(&self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Connecting => "connecting",
            Status::Connected => "connected",
            Status::Paused { .. } => "paused",
            Status::Error { .. } => "error",
        }
    }
}

/// One integration's live state.
pub struct Integration {
    pub settings: IntegrationSettings,
    client: RwLock<Option<Client>>,
    status: Mutex<Status>,
}

impl Integration {
    pub fn new(settings: IntegrationSettings) -> Integration {
        Integration {
            settings,
            client: RwLock::new(None),
            status: Mutex::new(Status::Idle),
        }
    }

    pub fn client(&self) -> Option<Client> {
        self.client.read().ok().and_then(|c| c.clone())
    }

    pub fn set_client(&self, client: Client) {
        if let Ok(mut c) = self.client.write() {
            *c = Some(client);
        }
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or(Status::Idle)
    }

    pub fn set_status(&self, status: Status) {
        if let Ok(mut s) = self.status.lock() {
            if *s != status {
                tracing::info!(integration = %self.settings.name, status = status.name(), detail = ?status, "integration status");
            }
            *s = status;
        }
    }

    /// Share of the daily API allocation used, from the last `Sforce-Limit-Info` seen.
    pub fn usage_share(&self) -> Option<f64> {
        let u = self.client()?.api_usage()?;
        (u.max > 0).then(|| u.used as f64 / u.max as f64)
    }

    /// The `/api/v1/integrations` entry: name, status, API usage (no secrets).
    pub fn to_json(&self) -> Value {
        let status = self.status();
        let detail = match &status {
            Status::Paused { reason } => Some(reason.clone()),
            Status::Error { message } => Some(message.clone()),
            _ => None,
        };
        let client = self.client();
        let usage = client.as_ref().and_then(Client::api_usage).map(|u| {
            json!({"used": u.used, "max": u.max,
                   "share": if u.max > 0 { u.used as f64 / u.max as f64 } else { 0.0 }})
        });
        json!({
            "name": self.settings.name,
            "login_url": self.settings.login_url,
            "auth": self.settings.auth.kind(),
            "api_version": self.settings.api_version,
            "pause_at_api_usage": self.settings.pause_at_api_usage,
            "status": status.name(),
            "detail": detail,
            "instance_url": client.as_ref().map(Client::instance_url),
            "api_usage": usage,
            "calls_made": client.as_ref().map(Client::calls_made),
        })
    }
}

/// Every integration of the config, by name.
#[derive(Clone, Default)]
pub struct Integrations(pub Arc<BTreeMap<String, Arc<Integration>>>);

impl Integrations {
    pub fn new(settings: impl IntoIterator<Item = IntegrationSettings>) -> Integrations {
        Integrations(Arc::new(
            settings
                .into_iter()
                .map(|s| (s.name.clone(), Arc::new(Integration::new(s))))
                .collect(),
        ))
    }

    pub fn get(&self, name: &str) -> Option<Arc<Integration>> {
        self.0.get(name).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Integration>> {
        self.0.values()
    }
}
