//! The client: one reqwest connection pool, the current token, single-flight refresh,
//! retries, limit tracking, and the API surface.

use std::sync::Arc;

use crate::config::{ApiVersion, ClientConfig};
use crate::describe::SObjectDescribe;
use crate::error::Error;
use crate::limits::{ApiUsage, Limits};
use crate::types::{CollectionWrite, Identity, Record, SaveResult, WriteOptions};

/// HTTP calls made by a client, by kind. `total` counts data API calls as Salesforce counts
/// them (a Composite request is one call); token requests are not API calls and are
/// counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallCounts {
    pub total: u64,
    pub query: u64,
    pub composite: u64,
    pub describe: u64,
    pub other: u64,
    pub token: u64,
}

/// A Salesforce REST client. Cheap to clone (shared state behind an `Arc`); `Send + Sync`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClientConfig,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_version", &self.inner.cfg.api_version)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the HTTP client and obtains the first access token (for
    /// [`crate::TokenSource::AccessToken`] no call is made).
    pub async fn connect(cfg: ClientConfig) -> Result<Client, Error> {
        let _ = cfg;
        todo!()
    }

    /// Field metadata of `object`, fetched once per client and cached.
    pub async fn describe(&self, object: &str) -> Result<Arc<SObjectDescribe>, Error> {
        let _ = object;
        todo!()
    }

    /// Re-validates the cached describe with `If-Modified-Since` (304 keeps the cached
    /// value, same `Arc`); fetches it when not cached.
    pub async fn describe_refresh(&self, object: &str) -> Result<Arc<SObjectDescribe>, Error> {
        let _ = object;
        todo!()
    }

    /// Runs one SOQL query and follows `nextRecordsUrl` until `done`.
    pub async fn query(&self, soql: &str) -> Result<Vec<Record>, Error> {
        let _ = soql;
        todo!()
    }

    /// Runs many SOQL queries packed 5 per Composite request (1 API call each); follows
    /// `nextRecordsUrl` pages (also packed). Results in input order. Subrequests failing
    /// with a retryable error are re-run within the retry policy; any other failure fails
    /// the whole call (queries are all-or-nothing for the caller).
    pub async fn query_many(&self, soqls: &[String]) -> Result<Vec<Vec<Record>>, Error> {
        let _ = soqls;
        todo!()
    }

    /// Sends collection writes (each ≤ 200 records; create = POST, update = PATCH
    /// `/composite/sobjects`, `allOrNone:false`) packed 5 per Composite request, run with
    /// the configured concurrency. Results per op in input order, per record by position.
    ///
    /// - A subrequest answered with a non-2xx `httpStatusCode` gives that op `Err` (typed).
    /// - An op with more than 200 records gives that op `Err(Error::InvalidRequest)`
    ///   without sending it; an op with no records gives `Ok(vec![])`.
    /// - A Composite request failing at the HTTP level (no per-record results came back) is
    ///   retried as a whole when retryable, so delivery is **at least once**: a create whose
    ///   response was lost may be sent again. The delivery engine protects creates by
    ///   re-looking-up before a retried create. When retries are exhausted each op of that
    ///   Composite gets the error.
    /// - Outer `Err`: no Composite request produced any per-record result (nothing was
    ///   written as far as the client knows); it is the first request's error.
    pub async fn write_many(
        &self,
        ops: Vec<CollectionWrite>,
        opts: WriteOptions,
    ) -> Result<Vec<Result<Vec<SaveResult>, Error>>, Error> {
        let _ = (ops, opts);
        todo!()
    }

    /// Who we are connected as (`/services/oauth2/userinfo`).
    pub async fn identity(&self) -> Result<Identity, Error> {
        todo!()
    }

    /// `GET /limits`.
    pub async fn limits(&self) -> Result<Limits, Error> {
        todo!()
    }

    /// The latest `Sforce-Limit-Info` `api-usage` seen on any response.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        todo!()
    }

    /// Data API calls this client made (composite = 1), including retries and refresh
    /// retries.
    pub fn calls_made(&self) -> u64 {
        todo!()
    }

    /// Calls by kind.
    pub fn call_counts(&self) -> CallCounts {
        todo!()
    }

    /// Base URL of data calls (from the token response).
    pub fn instance_url(&self) -> String {
        todo!()
    }

    pub fn api_version(&self) -> ApiVersion {
        self.inner.cfg.api_version
    }
}
