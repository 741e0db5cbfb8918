//! The client: one reqwest connection pool, the current token, single-flight refresh,
//! retries with backoff, limit tracking, and the API surface (describe, query, composite
//! packing of queries and collections writes, identity, limits).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use reqwest::header::{self, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::auth::{self, Token};
use crate::composite::{self, QueryPage, SubRequest, SubResponse};
use crate::config::{ApiVersion, ClientConfig, RetryPolicy};
use crate::describe::SObjectDescribe;
use crate::error::{ApiError, Error, ErrorClass};
use crate::limits::{ApiUsage, Limits, parse_limit_info};
use crate::types::{CollectionWrite, Identity, Record, SaveResult, WriteAction, WriteOptions};
use crate::{
    COLLECTION_MAX_RECORDS, COMPOSITE_MAX_HEAVY_SUBREQUESTS, DUPLICATE_RULE_HEADER,
    LIMIT_INFO_HEADER,
};

/// Query URLs longer than this go through a Composite request instead: URI plus headers
/// must stay under 16,384 bytes ([HELP] 000386264; django-salesforce switches at 15,500).
const MAX_QUERY_URL_CHARS: usize = 15_000;

/// Bytes of a non-JSON error body kept in [`Error::UnexpectedResponse`].
const SNIPPET_CHARS: usize = 200;

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

/// The subresponses of one Composite request, or why it failed as a whole.
type CompositeAnswer = Result<Vec<SubResponse>, Error>;

/// The collection ops carried by one Composite request: (op index, attempt number).
type OpGroup = Vec<(usize, u32)>;

#[derive(Debug, Clone, Copy)]
pub(crate) enum CallKind {
    Query,
    Composite,
    Describe,
    Other,
}

impl CallKind {
    /// The name used in [`Client::calls_by_status`] (same as the [`CallCounts`] fields).
    fn label(self) -> &'static str {
        match self {
            CallKind::Query => "query",
            CallKind::Composite => "composite",
            CallKind::Describe => "describe",
            CallKind::Other => "other",
        }
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

/// A successful (2xx or 304) response.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode(format!("{what}: {e}")))
    }
}

/// One logical request (possibly sent several times).
pub(crate) struct Request<'a> {
    pub(crate) method: reqwest::Method,
    /// `/services/...` (joined to the instance URL) or an absolute URL.
    pub(crate) path: &'a str,
    pub(crate) body: Option<&'a Value>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) kind: CallKind,
    /// Whether the request may be sent again after an ambiguous failure (see
    /// [`Error::is_ambiguous`]): false for a Composite carrying creates, which are not
    /// idempotent.
    pub(crate) resend_ambiguous: bool,
}

impl<'a> Request<'a> {
    /// A plain `GET` without extra headers.
    pub(crate) fn get(path: &'a str, kind: CallKind) -> Self {
        Request {
            method: reqwest::Method::GET,
            path,
            body: None,
            headers: Vec::new(),
            kind,
            resend_ambiguous: true,
        }
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
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(cfg.user_agent.clone());
        for pem in &cfg.extra_root_certs_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let counters = Counters::default();
        let token = request_token_with_retry(&http, &cfg, &counters, None, true).await?;
        let inner = Inner {
            http,
            session: RwLock::new(Session {
                access_token: token.access_token,
                instance_url: token.instance_url,
                id_url: token.id_url,
                rotated_refresh_token: token.refresh_token,
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

    /// Field metadata of `object`, fetched once per client and cached (object names are
    /// case-insensitive).
    pub async fn describe(&self, object: &str) -> Result<Arc<SObjectDescribe>, Error> {
        if let Some(c) = lock(&self.inner.describes).get(&object.to_ascii_lowercase()) {
            return Ok(c.describe.clone());
        }
        self.fetch_describe(object, None).await
    }

    /// Re-validates the cached describe with `If-Modified-Since` (304 keeps the cached
    /// value: the same `Arc` comes back); fetches it when not cached.
    pub async fn describe_refresh(&self, object: &str) -> Result<Arc<SObjectDescribe>, Error> {
        let since = lock(&self.inner.describes)
            .get(&object.to_ascii_lowercase())
            .and_then(|c| c.last_modified.clone());
        self.fetch_describe(object, since).await
    }

    async fn fetch_describe(
        &self,
        object: &str,
        since: Option<String>,
    ) -> Result<Arc<SObjectDescribe>, Error> {
        if object.is_empty()
            || !object
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::InvalidRequest(format!(
                "`{object}` is not an sObject API name"
            )));
        }
        let key = object.to_ascii_lowercase();
        let path = format!(
            "{}/sobjects/{object}/describe",
            self.inner.cfg.api_version.data_path()
        );
        let mut headers = Vec::new();
        if let Some(s) = &since {
            headers.push((header::IF_MODIFIED_SINCE.as_str(), s.clone()));
        }
        let resp = self
            .send(&Request {
                headers,
                ..Request::get(&path, CallKind::Describe)
            })
            .await?;
        if resp.status == 304 {
            if let Some(c) = lock(&self.inner.describes).get(&key) {
                return Ok(c.describe.clone());
            }
            // A 304 without a cached copy can only answer a request we did not make
            // conditional.
            return Err(Error::Decode(format!(
                "304 Not Modified for the describe of `{object}`, which is not cached"
            )));
        }
        let describe: Arc<SObjectDescribe> = Arc::new(resp.json("describe")?);
        let last_modified = resp
            .headers
            .get(header::LAST_MODIFIED)
            .or_else(|| resp.headers.get(header::DATE))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        lock(&self.inner.describes).insert(
            key,
            CachedDescribe {
                describe: describe.clone(),
                last_modified,
            },
        );
        Ok(describe)
    }

    /// Runs one SOQL query and follows `nextRecordsUrl` until `done`. A statement too long
    /// for a URL is sent inside a Composite request instead (body, not URL).
    pub async fn query(&self, soql: &str) -> Result<Vec<Record>, Error> {
        let path = composite::query_path(self.inner.cfg.api_version, soql);
        if path.len() + self.instance_url().len() > MAX_QUERY_URL_CHARS {
            let mut all = self.query_many(&[soql.to_owned()]).await?;
            return Ok(all.pop().unwrap_or_default());
        }
        let mut records = Vec::new();
        let mut next = Some(path);
        while let Some(path) = next.take() {
            let resp = self.send(&Request::get(&path, CallKind::Query)).await?;
            let page = QueryPage::parse(resp.json("query result")?)?;
            next = page.next().map(str::to_owned);
            records.extend(page.records);
        }
        Ok(records)
    }

    /// Runs many SOQL queries packed 5 per Composite request (1 API call each), with the
    /// configured concurrency; follows `nextRecordsUrl` pages, packing them as further
    /// subrequests. Results in input order. Subrequests failing with a retryable error
    /// (e.g. `QUERY_TIMEOUT`) are re-run within the retry policy; any other failure fails
    /// the whole call (queries are idempotent, so the caller may simply call again).
    pub async fn query_many(&self, soqls: &[String]) -> Result<Vec<Vec<Record>>, Error> {
        struct Pending {
            index: usize,
            url: String,
            attempt: u32,
        }
        let version = self.inner.cfg.api_version;
        let mut results: Vec<Vec<Record>> = vec![Vec::new(); soqls.len()];
        let mut pending: Vec<Pending> = soqls
            .iter()
            .enumerate()
            .map(|(index, s)| Pending {
                index,
                url: composite::query_path(version, s),
                attempt: 1,
            })
            .collect();
        while !pending.is_empty() {
            let mut groups: Vec<Vec<Pending>> = Vec::new();
            for p in pending.drain(..) {
                match groups.last_mut() {
                    Some(g) if g.len() < COMPOSITE_MAX_HEAVY_SUBREQUESTS => g.push(p),
                    _ => groups.push(vec![p]),
                }
            }
            let answers: Vec<(Vec<Pending>, CompositeAnswer)> = futures::stream::iter(groups)
                .map(|group| async move {
                    let subs: Vec<SubRequest> = group
                        .iter()
                        .enumerate()
                        .map(|(i, p)| composite::query_subrequest(p.url.clone(), format!("q{i}")))
                        .collect();
                    let r = self.composite(&subs, Vec::new(), true).await;
                    (group, r)
                })
                .buffered(self.inner.cfg.concurrency)
                .collect()
                .await;
            let mut backoff_for = 0;
            for (group, answer) in answers {
                let subs = answer?;
                for (p, sub) in group.into_iter().zip(subs) {
                    if sub.is_success() {
                        let page = QueryPage::parse(sub.body)?;
                        if let Some(next) = page.next() {
                            pending.push(Pending {
                                index: p.index,
                                url: next.to_owned(),
                                attempt: 1,
                            });
                        }
                        results[p.index].extend(page.records);
                        continue;
                    }
                    let err = sub.error();
                    if may_retry(&self.inner.cfg.retry, &err, p.attempt) {
                        tracing::warn!(error = %err, attempt = p.attempt, "query subrequest failed; retrying");
                        backoff_for = backoff_for.max(p.attempt);
                        pending.push(Pending {
                            attempt: p.attempt + 1,
                            ..p
                        });
                    } else {
                        return Err(err);
                    }
                }
            }
            // Keep each query's pages in order: a query has at most one pending request.
            pending.sort_by_key(|p| p.index);
            if backoff_for > 0 {
                tokio::time::sleep(jittered_delay(&self.inner.cfg.retry, backoff_for)).await;
            }
        }
        Ok(results)
    }

    /// Sends collection writes (each ≤ 200 records; create = POST, update = PATCH
    /// `/composite/sobjects`, `allOrNone:false`) packed 5 per Composite request, run with
    /// the configured concurrency. Results per op in input order, per record by position.
    ///
    /// - A subrequest answered with a non-2xx `httpStatusCode` gives that op `Err` (typed,
    ///   e.g. `Error::Api` with the subrequest's status and error array).
    /// - An op with more than 200 records gives that op `Err(Error::InvalidRequest)`
    ///   without sending it; an op with no records gives `Ok(vec![])`.
    /// - A Composite request failing at the HTTP level (no per-record results came back) is
    ///   retried as a whole when retryable — unless it carries a create and the failure is
    ///   ambiguous ([`Error::is_ambiguous`]: timeout, connection lost after sending, HTTP
    ///   500), because the records may already exist and a resend would create them twice.
    ///   Such ops get the (retryable) error without a resend; the caller must look the
    ///   records up again before trying again (`trailspark sync` and the delivery engine do).
    ///   Likewise an op whose subrequest failed as a whole with a retryable error (e.g.
    ///   subrequest `httpStatusCode` 503, no per-record results) is sent again in a later
    ///   Composite request, except an ambiguous failure of a create op. Per-record
    ///   failures (e.g. one record's `UNABLE_TO_LOCK_ROW`) are *not* retried here: they are
    ///   results for the caller. When retries are exhausted each op of that Composite gets
    ///   the error.
    /// - Outer `Err`: no Composite request produced any per-record result (nothing was
    ///   written as far as the client knows); it is the first request's error.
    pub async fn write_many(
        &self,
        ops: Vec<CollectionWrite>,
        opts: WriteOptions,
    ) -> Result<Vec<Result<Vec<SaveResult>, Error>>, Error> {
        let version = self.inner.cfg.api_version;
        let mut results: Vec<Option<Result<Vec<SaveResult>, Error>>> = vec![None; ops.len()];
        let mut to_send: Vec<(usize, &CollectionWrite)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if op.records.is_empty() {
                results[i] = Some(Ok(Vec::new()));
            } else if op.records.len() > COLLECTION_MAX_RECORDS {
                results[i] = Some(Err(Error::InvalidRequest(format!(
                    "{} records in one collection write; Salesforce accepts at most {COLLECTION_MAX_RECORDS}",
                    op.records.len()
                ))));
            } else {
                to_send.push((i, op));
            }
        }
        let top_headers: Vec<(&'static str, String)> = if opts.allow_duplicate_save {
            vec![(DUPLICATE_RULE_HEADER, "allowSave=true".to_owned())]
        } else {
            Vec::new()
        };
        let mut first_err = None;
        let mut any_answered = false;
        // Rounds: ops whose subrequest failed as a whole with a retryable error (no
        // per-record results, e.g. a subrequest 503) go again in the next round.
        let mut pending: Vec<(usize, u32)> = to_send.iter().map(|(i, _)| (*i, 1)).collect();
        while !pending.is_empty() {
            // Subrequests are built before the stream so its futures own their data (and
            // stay `Send` for callers that spawn `write_many`).
            let groups: Vec<(OpGroup, Vec<SubRequest>)> = pending
                .chunks(COMPOSITE_MAX_HEAVY_SUBREQUESTS)
                .map(|group| {
                    let subs = group
                        .iter()
                        .enumerate()
                        .map(|(n, (i, _))| {
                            composite::write_subrequest(
                                version,
                                &ops[*i],
                                format!("w{n}"),
                                opts.allow_duplicate_save,
                            )
                        })
                        .collect();
                    (group.to_vec(), subs)
                })
                .collect();
            let answers: Vec<(OpGroup, CompositeAnswer)> = futures::stream::iter(groups)
                .map(|(group, subs)| {
                    let top_headers = top_headers.clone();
                    let creates = group
                        .iter()
                        .any(|(i, _)| ops[*i].action == WriteAction::Create);
                    async move {
                        let answer = self.composite(&subs, top_headers, !creates).await;
                        (group, answer)
                    }
                })
                .buffered(self.inner.cfg.concurrency)
                .collect()
                .await;
            let mut next = Vec::new();
            let mut backoff_for = 0;
            for (group, answer) in answers {
                match answer {
                    Err(e) => {
                        for (i, _) in &group {
                            results[*i] = Some(Err(e.clone()));
                        }
                        first_err.get_or_insert(e);
                    }
                    Ok(subs) => {
                        any_answered = true;
                        for ((i, attempt), sub) in group.into_iter().zip(subs) {
                            let r = save_results(&ops[i], sub);
                            match r {
                                Err(e)
                                    if may_retry(&self.inner.cfg.retry, &e, attempt)
                                        && !(ops[i].action == WriteAction::Create
                                            && e.is_ambiguous()) =>
                                {
                                    tracing::warn!(error = %e, attempt, "collection subrequest failed; retrying");
                                    backoff_for = backoff_for.max(attempt);
                                    next.push((i, attempt + 1));
                                }
                                r => results[i] = Some(r),
                            }
                        }
                    }
                }
            }
            if backoff_for > 0 {
                tokio::time::sleep(jittered_delay(&self.inner.cfg.retry, backoff_for)).await;
            }
            pending = next;
        }
        if let (false, Some(e)) = (any_answered, first_err) {
            return Err(e);
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Decode("write result missing".into()))))
            .collect())
    }

    /// One Composite request (retried as a whole on HTTP-level retryable failures; after an
    /// ambiguous failure only when `resend_ambiguous`).
    pub(crate) async fn composite(
        &self,
        subs: &[SubRequest],
        headers: Vec<(&'static str, String)>,
        resend_ambiguous: bool,
    ) -> Result<Vec<SubResponse>, Error> {
        let body = composite::composite_body(subs);
        let path = format!("{}/composite", self.inner.cfg.api_version.data_path());
        let resp = self
            .send(&Request {
                method: reqwest::Method::POST,
                path: &path,
                body: Some(&body),
                headers,
                kind: CallKind::Composite,
                resend_ambiguous,
            })
            .await?;
        composite::parse_composite_response(subs, &resp.body)
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

    /// Base URL of data calls (from the token response).
    pub fn instance_url(&self) -> String {
        read_session(&self.inner.session).instance_url.clone()
    }

    pub fn api_version(&self) -> ApiVersion {
        self.inner.cfg.api_version
    }

    /// Sends `req`, refreshing the token once on `INVALID_SESSION_ID` and retrying
    /// retryable failures with jittered exponential backoff.
    pub(crate) async fn send(&self, req: &Request<'_>) -> Result<Response, Error> {
        let policy = &self.inner.cfg.retry;
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let (token, instance_url, generation) = {
                let s = read_session(&self.inner.session);
                (s.access_token.clone(), s.instance_url.clone(), s.generation)
            };
            let err = match self.send_once(req, &token, &instance_url).await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            match err.class() {
                ErrorClass::Refresh if !refreshed => {
                    refreshed = true;
                    self.refresh(generation).await?;
                }
                // The request may have been processed: resending a create could create
                // the records twice, so the caller decides (after a fresh lookup).
                ErrorClass::Retryable if !req.resend_ambiguous && err.is_ambiguous() => {
                    tracing::warn!(error = %err, "Salesforce write with creates failed ambiguously; not resending");
                    return Err(err);
                }
                ErrorClass::Retryable if attempt < policy.max_attempts => {
                    let delay = jittered_delay(policy, attempt);
                    tracing::warn!(error = %err, attempt, ?delay, "Salesforce call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                _ => return Err(err),
            }
        }
    }

    async fn send_once(
        &self,
        req: &Request<'_>,
        token: &SecretString,
        instance_url: &str,
    ) -> Result<Response, Error> {
        let url = if req.path.starts_with('/') {
            format!("{instance_url}{}", req.path)
        } else {
            req.path.to_owned()
        };
        let mut rb = self
            .inner
            .http
            .request(req.method.clone(), url)
            .bearer_auth(token.expose_secret())
            .header(header::ACCEPT, "application/json");
        for (k, v) in &req.headers {
            rb = rb.header(*k, v);
        }
        if let Some(b) = req.body {
            rb = rb.json(b);
        }
        self.count(req.kind);
        let resp = rb.send().await.map_err(|e| {
            self.count_status(req.kind, TRANSPORT_ERROR_STATUS);
            Error::transport(&e)
        })?;
        let status = resp.status().as_u16();
        self.count_status(req.kind, status);
        let headers = resp.headers().clone();
        if let Some(u) = headers
            .get(LIMIT_INFO_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_limit_info)
        {
            *lock(&self.inner.usage) = Some(u);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| Error::transport(&e))?
            .to_vec();
        tracing::debug!(method = %req.method, kind = ?req.kind, status, "Salesforce call");
        if (200..300).contains(&status) || status == 304 {
            return Ok(Response {
                status,
                headers,
                body,
            });
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Err(error_from_body(status, content_type, &body))
    }

    /// Single-flight refresh: the first request to see an expired token fetches a new one
    /// while holding `refresh_lock`; the others wait on the lock, then see a newer
    /// generation and reuse that token instead of fetching again.
    async fn refresh(&self, seen_generation: u64) -> Result<(), Error> {
        let _guard = self.inner.refresh_lock.lock().await;
        let rotated = {
            let s = read_session(&self.inner.session);
            if s.generation != seen_generation {
                return Ok(());
            }
            s.rotated_refresh_token.clone()
        };
        tracing::info!("Salesforce session expired; requesting a new access token");
        let token = request_token_with_retry(
            &self.inner.http,
            &self.inner.cfg,
            &self.inner.counters,
            rotated.as_ref(),
            false,
        )
        .await?;
        let mut s = self
            .inner
            .session
            .write()
            .unwrap_or_else(|p| p.into_inner());
        s.access_token = token.access_token;
        s.instance_url = token.instance_url;
        if token.id_url.is_some() {
            s.id_url = token.id_url;
        }
        if token.refresh_token.is_some() {
            s.rotated_refresh_token = token.refresh_token;
        }
        s.generation += 1;
        Ok(())
    }

    fn count(&self, kind: CallKind) {
        let c = &self.inner.counters;
        let counter = match kind {
            CallKind::Query => &c.query,
            CallKind::Composite => &c.composite,
            CallKind::Describe => &c.describe,
            CallKind::Other => &c.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn count_status(&self, kind: CallKind, status: u16) {
        *lock(&self.inner.counters.responses)
            .entry((kind.label(), status))
            .or_insert(0) += 1;
    }
}

fn read_session(s: &RwLock<Session>) -> std::sync::RwLockReadGuard<'_, Session> {
    s.read().unwrap_or_else(|p| p.into_inner())
}

/// Whether attempt number `attempt`, failed with `err`, may be followed by another: the
/// error is transient and the policy has attempts left.
fn may_retry(policy: &RetryPolicy, err: &Error, attempt: u32) -> bool {
    err.class() == ErrorClass::Retryable && attempt < policy.max_attempts
}

/// The wait before retrying after attempt `attempt`, with fresh jitter.
fn jittered_delay(policy: &RetryPolicy, attempt: u32) -> std::time::Duration {
    policy.delay(attempt, rand::random::<f64>())
}

async fn request_token_with_retry(
    http: &reqwest::Client,
    cfg: &ClientConfig,
    counters: &Counters,
    rotated: Option<&SecretString>,
    initial: bool,
) -> Result<Token, Error> {
    let mut attempt = 1;
    loop {
        if !matches!(cfg.auth, crate::TokenSource::AccessToken { .. }) {
            counters.token.fetch_add(1, Ordering::Relaxed);
        }
        match auth::request_token(http, &cfg.auth, rotated, initial).await {
            Ok(t) => return Ok(t),
            Err(e) if may_retry(&cfg.retry, &e, attempt) => {
                let delay = jittered_delay(&cfg.retry, attempt);
                tracing::warn!(error = %e, attempt, ?delay, "token request failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Parses each save result of one collections subresponse, checking the count (results
/// are matched to records by position).
fn save_results(op: &CollectionWrite, sub: SubResponse) -> Result<Vec<SaveResult>, Error> {
    if !sub.is_success() {
        return Err(sub.error());
    }
    let results: Vec<SaveResult> = serde_json::from_value(sub.body)
        .map_err(|e| Error::Decode(format!("collection results: {e}")))?;
    if results.len() != op.records.len() {
        return Err(Error::Decode(format!(
            "{} results for {} records in a collection write",
            results.len(),
            op.records.len()
        )));
    }
    Ok(results)
}

/// The typed error of a non-success response body: Salesforce's error array, a single
/// error object, or (HTML, empty, other) an [`Error::UnexpectedResponse`].
pub(crate) fn error_from_body(status: u16, content_type: &str, body: &[u8]) -> Error {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| error_from_json(status, &v))
        .unwrap_or_else(|| unexpected(status, content_type, body))
}

/// `[{"message","errorCode","fields"}]` (or one such object) → [`Error::Api`].
pub(crate) fn error_from_json(status: u16, v: &Value) -> Option<Error> {
    let parse_one = |e: &Value| -> Option<ApiError> {
        e.get("errorCode")?.as_str()?;
        serde_json::from_value(e.clone()).ok()
    };
    let errors: Vec<ApiError> = match v {
        Value::Array(items) => items.iter().map(parse_one).collect::<Option<Vec<_>>>()?,
        Value::Object(_) => vec![parse_one(v)?],
        _ => return None,
    };
    if errors.is_empty() {
        return None;
    }
    Some(Error::Api { status, errors })
}

pub(crate) fn unexpected(status: u16, content_type: &str, body: &[u8]) -> Error {
    Error::UnexpectedResponse {
        status,
        content_type: content_type.to_owned(),
        snippet: snippet(body),
    }
}

/// The start of a body, whitespace collapsed, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed: Vec<&str> = text.split_whitespace().collect();
    let joined = collapsed.join(" ");
    if joined.chars().count() > SNIPPET_CHARS {
        let cut: String = joined.chars().take(SNIPPET_CHARS).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_typed() {
        let e = error_from_body(
            401,
            "application/json",
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        );
        assert_eq!(e.error_code(), Some("INVALID_SESSION_ID"));
        assert_eq!(e.class(), ErrorClass::Refresh);
        let e = error_from_body(
            400,
            "application/json",
            br#"[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Name"]}]"#,
        );
        assert!(
            matches!(&e, Error::Api { errors, .. } if errors[0].fields == vec!["Name".to_string()])
        );
        let html = error_from_body(
            503,
            "text/html",
            b"<html>\n  <body>Down for   maintenance</body></html>",
        );
        assert_eq!(
            html,
            Error::UnexpectedResponse {
                status: 503,
                content_type: "text/html".into(),
                snippet: "<html> <body>Down for maintenance</body></html>".into()
            }
        );
        assert_eq!(html.class(), ErrorClass::Retryable);
        let empty = error_from_body(502, "", b"");
        assert_eq!(empty.class(), ErrorClass::Retryable);
        let odd_json = error_from_body(400, "application/json", br#"{"foo":1}"#);
        assert!(matches!(odd_json, Error::UnexpectedResponse { .. }));
    }

    #[test]
    fn snippet_is_bounded() {
        let long = "x".repeat(1000);
        assert_eq!(snippet(long.as_bytes()).chars().count(), SNIPPET_CHARS + 1);
    }
}
