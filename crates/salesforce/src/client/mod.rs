//! The Salesforce REST client: one reqwest connection pool, the current session and the
//! call counters, shared by every clone. The calls live by path: `request` (sending,
//! retries, error bodies), `token` (sign-in and single-flight refresh), `describe`,
//! `query` and `write`; identity, limits and the counters are here.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use secrecy::SecretString;
use serde_json::Value;

use crate::config::{ApiVersion, ClientConfig};
use crate::describe::SObjectDescribe;
use crate::error::Error;
use crate::limits::{ApiUsage, Limits};
use crate::types::Identity;

mod describe;
mod query;
mod request;
mod token;
mod write;

pub(crate) use request::{error_from_json, snippet, unexpected};

pub(crate) use request::{CallKind, Request};
use token::request_token_with_retry;

/// HTTP calls made by a client, by kind. `total` counts data API calls as Salesforce counts
/// them (a Composite request is one call, retries are calls too); token requests are not
/// API calls and are counted apart in `token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallCounts {
    pub total: u64,
    pub query: u64,
    pub composite: u64,
    pub describe: u64,
    pub other: u64,
    pub token: u64,
}

/// The status recorded by [`Client::calls_by_status`] for a data call that got no HTTP
/// response (connection refused or reset, timeout, body cut off before the headers).
pub const TRANSPORT_ERROR_STATUS: u16 = 0;

/// Upper bounds (seconds) of the buckets of [`CallLatency`]; one more bucket counts the
/// slower calls.
pub const CALL_LATENCY_BOUNDS: [f64; 10] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How long a client's data calls of one kind took, from sending the request to the
/// response's last byte (or the transport error): a histogram over
/// [`CALL_LATENCY_BOUNDS`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallLatency {
    /// Calls per bucket (not cumulative): `buckets[i]` took at most
    /// `CALL_LATENCY_BOUNDS[i]` and more than the bound before; the last counts the rest.
    pub buckets: [u64; CALL_LATENCY_BOUNDS.len() + 1],
    pub sum_seconds: f64,
    pub count: u64,
}

impl CallLatency {
    pub(crate) fn observe(&mut self, seconds: f64) {
        let i = CALL_LATENCY_BOUNDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(CALL_LATENCY_BOUNDS.len());
        self.buckets[i] += 1;
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

#[derive(Default)]
struct Counters {
    query: AtomicU64,
    composite: AtomicU64,
    describe: AtomicU64,
    other: AtomicU64,
    token: AtomicU64,
    /// Data call responses by (kind label, HTTP status or [`TRANSPORT_ERROR_STATUS`]).
    responses: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Data call durations by kind label.
    latency: Mutex<BTreeMap<&'static str, CallLatency>>,
}

/// The current session. `generation` increases with every refresh so that requests that
/// saw an expired token can tell whether someone already replaced it.
struct Session {
    access_token: SecretString,
    instance_url: String,
    id_url: Option<String>,
    rotated_refresh_token: Option<SecretString>,
    generation: u64,
}

struct CachedDescribe {
    describe: Arc<SObjectDescribe>,
    /// `Last-Modified` of the response (or its `Date`), sent back as `If-Modified-Since`.
    last_modified: Option<String>,
}

/// A Salesforce REST client. Cheap to clone (shared state behind an `Arc`); `Send + Sync`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    cfg: ClientConfig,
    session: RwLock<Session>,
    /// Held while a token request is in flight: one refresh at a time (single flight).
    refresh_lock: tokio::sync::Mutex<()>,
    usage: Mutex<Option<ApiUsage>>,
    counters: Counters,
    describes: Mutex<HashMap<String, CachedDescribe>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("instance_url", &self.instance_url())
            .field("api_version", &self.inner.cfg.api_version)
            .field("auth", &self.inner.cfg.auth)
            .finish_non_exhaustive()
    }
}

/// Locks a std mutex, recovering the data if a panicking thread poisoned it (the guarded
/// values are plain caches and counters, always consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    /// Builds the HTTP client and obtains the first access token (for
    /// [`crate::TokenSource::AccessToken`] no call is made). Token requests are retried on
    /// transient failures like any other request.
    pub async fn connect(cfg: ClientConfig) -> Result<Client, Error> {
        if cfg.concurrency == 0 {
            return Err(Error::Config("concurrency must be at least 1".into()));
        }
        if cfg.retry.max_attempts == 0 {
            return Err(Error::Config(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        // Redirects are never followed: every request carries a token or a secret, and a
        // redirect would resend it to wherever it points.
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(cfg.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none());
        for pem in &cfg.extra_root_certs_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let counters = Counters::default();
        let kept = token::kept_refresh_token(&cfg).await;
        let token = request_token_with_retry(&http, &cfg, &counters, kept.as_ref(), true).await?;
        token::keep_rotated(&cfg, token.refresh_token.as_ref()).await;
        let inner = Inner {
            http,
            session: RwLock::new(Session {
                access_token: token.access_token,
                instance_url: token.instance_url,
                id_url: token.id_url,
                rotated_refresh_token: token.refresh_token.or(kept),
                generation: 0,
            }),
            cfg,
            refresh_lock: tokio::sync::Mutex::new(()),
            usage: Mutex::new(None),
            counters,
            describes: Mutex::new(HashMap::new()),
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// Who we are connected as: `/services/oauth2/userinfo` on the instance, falling back
    /// to the identity URL from the token response when userinfo is not served.
    pub async fn identity(&self) -> Result<Identity, Error> {
        let userinfo = self
            .send(&Request::get("/services/oauth2/userinfo", CallKind::Other))
            .await;
        let resp = match userinfo {
            Ok(r) => r,
            Err(e) if e.http_status() == Some(404) => {
                let Some(id_url) = read_session(&self.inner.session).id_url.clone() else {
                    return Err(e);
                };
                self.send(&Request::get(&id_url, CallKind::Other)).await?
            }
            Err(e) => return Err(e),
        };
        resp.json("identity")
    }

    /// `GET /limits` (needs "View Setup and Configuration").
    pub async fn limits(&self) -> Result<Limits, Error> {
        let path = format!("{}/limits", self.inner.cfg.api_version.data_path());
        let resp = self.send(&Request::get(&path, CallKind::Other)).await?;
        let v: Value = resp.json("limits")?;
        Limits::from_json(&v).ok_or_else(|| Error::Decode("limits: not an object".into()))
    }

    /// The latest `Sforce-Limit-Info` `api-usage` seen on any response.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        *lock(&self.inner.usage)
    }

    /// Data API calls this client made (composite = 1), retries included.
    pub fn calls_made(&self) -> u64 {
        self.call_counts().total
    }

    /// Calls by kind.
    pub fn call_counts(&self) -> CallCounts {
        let c = &self.inner.counters;
        let query = c.query.load(Ordering::Relaxed);
        let composite = c.composite.load(Ordering::Relaxed);
        let describe = c.describe.load(Ordering::Relaxed);
        let other = c.other.load(Ordering::Relaxed);
        CallCounts {
            total: query + composite + describe + other,
            query,
            composite,
            describe,
            other,
            token: c.token.load(Ordering::Relaxed),
        }
    }

    /// Data calls by (kind, HTTP status of the response): kinds as in [`CallCounts`]
    /// (`query`, `composite`, `describe`, `other`), [`TRANSPORT_ERROR_STATUS`] for calls
    /// that got no response. Each retry is its own entry, so a 503 then a success shows
    /// as one 503 and one 200. Token requests are not included.
    pub fn calls_by_status(&self) -> BTreeMap<(&'static str, u16), u64> {
        lock(&self.inner.counters.responses).clone()
    }

    /// Data call durations by kind (as in [`Client::calls_by_status`]); each retry is its
    /// own call. Token requests are not included.
    pub fn call_latencies(&self) -> BTreeMap<&'static str, CallLatency> {
        lock(&self.inner.counters.latency).clone()
    }

    /// Base URL of data calls (from the token response).
    pub fn instance_url(&self) -> String {
        read_session(&self.inner.session).instance_url.clone()
    }

    pub fn api_version(&self) -> ApiVersion {
        self.inner.cfg.api_version
    }
}

fn read_session(s: &RwLock<Session>) -> std::sync::RwLockReadGuard<'_, Session> {
    s.read().unwrap_or_else(|p| p.into_inner())
}
