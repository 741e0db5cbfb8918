//! The values that cross the store's boundary: rows in, rows out. Plain data, no SQL.
//!
//! The store is domain-agnostic at the JSON level: an evaluation is kept as its JSON
//! (docs/api.md#evaluation) plus the few columns the queue needs (id, content hash, normalized
//! email, time); a delivery's report is kept as the report-line JSON. Business rules stay in
//! `domain` and `delivery`; the only domain type used here is [`Outcome`], to name what happened.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use domain::{Backoff, Outcome};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;

/// A delivery's primary key (one evaluation at one destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub i64);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for DeliveryId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(DeliveryId)
    }
}

/// An accepted evaluation, ready to be stored with one delivery per destination.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvaluation {
    /// The idempotency key.
    pub id: String,
    /// Hex SHA-256 of the content without the id: tells a duplicate from a conflict.
    pub content_hash: String,
    /// Lower-cased, trimmed email (log filter).
    pub email: String,
    pub evaluated_at: OffsetDateTime,
    /// The evaluation as JSON (docs/api.md#evaluation).
    pub payload: Value,
    /// Destinations that must receive it (one delivery each), e.g. `["salesforce"]`.
    pub destinations: Vec<String>,
}

impl NewEvaluation {
    /// The row for a parsed evaluation.
    pub fn from_evaluation(e: &domain::Evaluation, destinations: &[&str]) -> NewEvaluation {
        NewEvaluation {
            id: e.id.as_str().to_string(),
            content_hash: e.content_hash(),
            email: e.email.normalized().to_string(),
            evaluated_at: e.evaluated_at.datetime(),
            payload: e.to_json(),
            destinations: destinations.iter().map(|d| d.to_string()).collect(),
        }
    }
}

/// What `ingest` did with one item (same order as the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestResult {
    /// New: stored with its deliveries.
    Stored,
    /// Same id and same content as one already stored (or earlier in the batch): nothing
    /// changed; the original acceptance stands.
    Duplicate,
    /// Same id as a stored evaluation but different content: refused, nothing changed.
    Conflict,
}

/// Where a delivery is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for `next_attempt_at`.
    Pending,
    /// Taken by a worker until `lease_expires_at`.
    Leased,
    /// Finished with a final outcome (anything but failed).
    Done,
    /// Permanently failed, or out of attempts; waits for a manual retry.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] = [
        DeliveryState::Pending,
        DeliveryState::Leased,
        DeliveryState::Done,
        DeliveryState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Leased => "leased",
            DeliveryState::Done => "done",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The outcome shown for a delivery (product: outcomes, plus `pending` / `retrying` while
/// in flight). Serialized as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryOutcome {
    /// Not attempted yet.
    Pending,
    /// A transient failure happened; another attempt is scheduled.
    Retrying,
    /// Finished (`failed` included).
    Final(Outcome),
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Pending => "pending",
            DeliveryOutcome::Retrying => "retrying",
            DeliveryOutcome::Final(o) => o.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryOutcome> {
        match s {
            "pending" => Some(DeliveryOutcome::Pending),
            "retrying" => Some(DeliveryOutcome::Retrying),
            _ => Outcome::parse(s).map(DeliveryOutcome::Final),
        }
    }
}

impl fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DeliveryOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeliveryOutcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DeliveryOutcome::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown outcome {s:?}")))
    }
}

/// A stored evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvaluation {
    pub id: String,
    pub content_hash: String,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub evaluated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub payload: Value,
}

/// A delivery row: one evaluation at one destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub evaluation_id: String,
    pub destination: String,
    pub state: DeliveryState,
    pub outcome: DeliveryOutcome,
    /// Attempts that ended (any result).
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub lease_owner: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    /// The report line of the last attempt.
    pub last_report: Option<Value>,
    /// When the outcome last changed (leasing does not count).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An evaluation and its delivery per destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationWithDeliveries {
    pub evaluation: StoredEvaluation,
    pub deliveries: Vec<Delivery>,
}

/// A lease's fencing token: each lease of a delivery takes the next one, so the holder of
/// an older lease (expired and taken over) can be told apart from the current holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseToken(pub i64);

/// A delivery handed to a worker by `lease_batch`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedDelivery {
    pub id: DeliveryId,
    /// Given back with the attempt's result: only the current lease's result applies.
    pub token: LeaseToken,
    pub evaluation_id: String,
    pub destination: String,
    /// Attempts already ended before this one (0 on the first attempt: a retry when > 0).
    pub attempts: u32,
    /// When the lease ends, by the database's clock (PostgreSQL) or the process's (SQLite).
    pub lease_expires_at: OffsetDateTime,
    /// The evaluation's JSON (docs/api.md#evaluation).
    pub payload: Value,
    /// When the evaluation was accepted (the start of its accept → written latency).
    pub received_at: OffsetDateTime,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Finished with this outcome (`Outcome::Failed` means a permanent failure).
    Final(Outcome),
    /// Failed in a way a later attempt may fix: retried with backoff until the policy's
    /// attempts are used up, then failed.
    Transient,
}

/// The result of one attempt, reported by the worker that holds the lease.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryResult {
    pub id: DeliveryId,
    /// Must be the current lease owner, or the result is not applied.
    pub worker: String,
    /// The lease the attempt ran under: must still be the delivery's current lease, or the
    /// result is not applied.
    pub token: LeaseToken,
    pub disposition: Disposition,
    /// The report line (writes, error...).
    pub report: Value,
    /// The attempt changed something at the destination (a write went through). A stale
    /// result that wrote is still logged (marked stale), since the write happened; one that
    /// wrote nothing leaves no trace.
    pub wrote: bool,
}

/// What `complete` did with one result (same order as the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteStatus {
    /// Recorded; the delivery is now in this state.
    Applied(DeliveryState),
    /// The lease is no longer current (expired and taken over, released, completed already,
    /// or the delivery does not exist): the delivery did not change. A result that wrote
    /// is logged all the same, marked stale.
    Stale,
}

/// Retry schedule for a delivery's own transient failures: the product's one backoff
/// ([`domain::Backoff`]), one jitter per completed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total before a transiently failing delivery is marked failed.
    pub max_attempts: u32,
    /// The wait after an attempt: 2 s doubling to 10 minutes unless set.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            backoff: Backoff::new(Duration::from_secs(2), Duration::from_secs(600)),
        }
    }
}

/// Which time of an evaluation a replay window refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBasis {
    /// When the evaluation was made (`evaluated_at`).
    Evaluated,
    /// When the service accepted it.
    Received,
}

/// Sync-log filter (every field optional; all given ones must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    pub outcome: Option<DeliveryOutcome>,
    /// Only deliveries updated at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Normalized (lower-case) email.
    pub email: Option<String>,
    pub destination: Option<String>,
}

/// One entry of the delivery listing: the delivery with its evaluation's key facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryView {
    pub delivery: Delivery,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub evaluated_at: OffsetDateTime,
}

/// A page of the listing, newest first; `next_cursor` fetches the following page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    pub items: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

/// How many deliveries of one current outcome last changed in one hour of a counted
/// range ([`crate::Store::outcome_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HourlyCount {
    /// Whole hours from the range's start: 0 counts `[from, from + 1 h)`.
    pub hour: u32,
    pub outcome: DeliveryOutcome,
    pub count: u64,
}

/// One attempt in the sync log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    pub id: i64,
    pub delivery_id: DeliveryId,
    pub evaluation_id: String,
    pub destination: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub outcome: DeliveryOutcome,
    pub worker: String,
    pub report: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Written by a worker whose lease had been taken over: its writes happened, but the
    /// delivery's state is the current lease holder's.
    pub stale: bool,
}

/// What `retry_delivery` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    Requeued,
    /// Pending or leased already.
    AlreadyQueued,
    NotFound,
}

/// Queue depth and outcomes, for `/metrics` and the page.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueStats {
    /// Deliveries per state (every state present, possibly 0).
    pub by_state: BTreeMap<DeliveryState, u64>,
    /// Deliveries per shown outcome (only those present).
    pub by_outcome: BTreeMap<DeliveryOutcome, u64>,
    /// Pending deliveries that are due now (or leased with an expired lease).
    pub due: u64,
    /// How long the longest-waiting due delivery has been due.
    pub oldest_due_age: Option<Duration>,
}

/// Roles of API tokens: the web roles, or the narrow `ingest` scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    Owner,
    Admin,
    Editor,
    Viewer,
    /// May only post evaluations.
    Ingest,
}

impl TokenRole {
    pub const ALL: [TokenRole; 5] = [
        TokenRole::Owner,
        TokenRole::Admin,
        TokenRole::Editor,
        TokenRole::Viewer,
        TokenRole::Ingest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Owner => "owner",
            TokenRole::Admin => "admin",
            TokenRole::Editor => "editor",
            TokenRole::Viewer => "viewer",
            TokenRole::Ingest => "ingest",
        }
    }

    pub fn parse(s: &str) -> Option<TokenRole> {
        TokenRole::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A stored API token (never its secret; only its SHA-256 is kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: TokenRole,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// A token just created: the plaintext is shown once and never stored.
#[derive(Clone)]
pub struct CreatedToken {
    pub token: ApiToken,
    pub secret: String,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &self.token)
            .field("secret", &"[redacted]")
            .finish()
    }
}
