//! The typed settings a configuration parses into: `[server]` and its worker, each
//! `[integrations.NAME]`, and `[destinations.salesforce]` with its field mappings.
//! Every value here is valid; the checks live where the file is read (`tables.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ConfigError;
use super::walker::Walker;
use crate::evaluation::Score;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub server: Option<ServerSettings>,
    pub integrations: BTreeMap<String, IntegrationSettings>,
    /// `[destinations.salesforce]`
    pub destination: Option<DestinationSettings>,
}

/// `[server]`: used by `serve` and `demo`. `Debug` masks the password of `database_url`.
#[derive(Clone, PartialEq, Serialize)]
pub struct ServerSettings {
    pub listen: String,
    pub database_url: String,
    pub public_url: String,
    /// `[server.worker]`
    pub worker: WorkerSettings,
    /// `[server.http]`
    pub http: HttpSettings,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("listen", &self.listen)
            .field("database_url", &redact_url_password(&self.database_url))
            .field("public_url", &self.public_url)
            .field("worker", &self.worker)
            .field("http", &self.http)
            .finish()
    }
}

/// `url` with the password of its user info (`scheme://user:PASSWORD@host/...`) replaced
/// by `***`, for Debug output, logs and errors; other URLs are returned unchanged.
pub fn redact_url_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

/// `[server.worker]`: how the delivery workers batch and retry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerSettings {
    /// Evaluations per lease. A flood leaves in batches of 1,000: one Composite lookup call
    /// and about one Composite write call (5 collections of 200) per batch, where smaller
    /// batches would each pay their own lookup call.
    pub batch_size: usize,
    /// How long a partial batch waits for company before it leaves; 100 ms keeps a lone
    /// evaluation's accept-to-written time near 100 ms plus the org's answer.
    pub linger_ms: u64,
    /// Batch loops per destination in each server process (`serve`, `demo`): how many
    /// batches are in flight at once (each batch sends its own Composite requests, a few at
    /// a time).
    pub concurrency: usize,
    /// Attempts before a transiently failing delivery is marked failed.
    pub max_attempts: u32,
    /// Sync log entries older than this are purged.
    pub log_retention_days: u32,
    /// Evaluations received longer ago than this, whose deliveries are all finished (and
    /// unchanged since), are purged with their deliveries and log. Pending ones never are.
    pub retention_days: u32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            batch_size: 1000,
            linger_ms: 100,
            concurrency: 4,
            max_attempts: 10,
            log_retention_days: 30,
            retention_days: 90,
        }
    }
}

/// `[server.http]`: how long a client may take and how many connections it may hold, so
/// slow or half-open clients cannot exhaust the service (docs/configuration.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpSettings {
    /// A request's head must arrive within this from its first byte.
    pub header_timeout_ms: u64,
    /// A request's body must arrive within this from its head.
    pub body_timeout_ms: u64,
    /// A connection waiting for its next request (kept alive, or opened and silent) is
    /// closed after this.
    pub idle_timeout_ms: u64,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            idle_timeout_ms: 60_000,
            max_connections: 1_024,
        }
    }
}

/// `[integrations.NAME]`: one connected org.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntegrationSettings {
    pub name: String,
    pub login_url: String,
    pub client_id: Option<String>,
    pub auth: AuthSettings,
    pub api_version: String,
    pub pause_at_api_usage: f64,
    /// Extra CA certificate (PEM) to trust, e.g. an emulated org's self-signed one.
    pub ca_cert_file: Option<PathBuf>,
}

/// How to obtain tokens; secrets are named by environment variable, never inline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "auth", rename_all = "snake_case")]
pub enum AuthSettings {
    RefreshToken {
        refresh_token_env: String,
        client_secret_env: Option<String>,
    },
    Jwt {
        username: String,
        private_key_file: PathBuf,
    },
    ClientCredentials {
        client_secret_env: String,
    },
    AccessToken {
        instance_url: String,
        access_token_env: String,
    },
}

impl AuthSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            AuthSettings::RefreshToken { .. } => "refresh_token",
            AuthSettings::Jwt { .. } => "jwt",
            AuthSettings::ClientCredentials { .. } => "client_credentials",
            AuthSettings::AccessToken { .. } => "access_token",
        }
    }
}

/// Whether a Contact match hides the Lead matches of the same email.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonMatch {
    #[default]
    ContactFirst,
    Both,
}

/// What to do when several records of one object share the email.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    #[default]
    All,
    MostRecent,
    Skip,
}

/// Which object a create-if-not-found makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateAs {
    #[default]
    Lead,
    Contact,
}

/// `[destinations.salesforce.create_records]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateRecords {
    pub enabled: bool,
    pub score_levels: BTreeSet<Score>,
}

impl Default for CreateRecords {
    fn default() -> Self {
        CreateRecords {
            enabled: false,
            score_levels: Score::ALL.into_iter().collect(),
        }
    }
}

/// `[destinations.salesforce.lead]` / `.contact`: an unmapped slot is not written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectMapping {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_date_field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_field: Option<String>,
}

impl ObjectMapping {
    pub fn is_empty(&self) -> bool {
        self.score_field.is_none()
            && self.evaluation_date_field.is_none()
            && self.reasoning_field.is_none()
    }

    /// The mapped `(slot, field)` pairs.
    pub fn slots(&self) -> Vec<(Slot, &str)> {
        [
            (Slot::Score, &self.score_field),
            (Slot::EvaluationDate, &self.evaluation_date_field),
            (Slot::Reasoning, &self.reasoning_field),
        ]
        .into_iter()
        .filter_map(|(slot, f)| f.as_deref().map(|f| (slot, f)))
        .collect()
    }
}

/// `[destinations.salesforce.propensity]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PropensityMapping {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_field: Option<String>,
}

/// What a mapped field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Score,
    EvaluationDate,
    Reasoning,
    Propensity,
}

impl Slot {
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Score => "score",
            Slot::EvaluationDate => "evaluation_date",
            Slot::Reasoning => "reasoning",
            Slot::Propensity => "propensity",
        }
    }

    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "score" => Some(Slot::Score),
            "evaluation_date" => Some(Slot::EvaluationDate),
            "reasoning" => Some(Slot::Reasoning),
            "propensity" => Some(Slot::Propensity),
            _ => None,
        }
    }
}

/// `[destinations.salesforce]`: the destination settings (docs/configuration.md), typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationSettings {
    pub enabled: bool,
    pub integration: String,
    pub person_match: PersonMatch,
    pub duplicates: DuplicatePolicy,
    pub create_as: CreateAs,
    pub allow_duplicate_save: bool,
    pub create_records: CreateRecords,
    pub lead: ObjectMapping,
    pub contact: ObjectMapping,
    pub propensity: PropensityMapping,
}

impl DestinationSettings {
    /// Defaults with everything mapped to the suggested API names
    /// (docs/product.md#the-salesforce-fields).
    pub fn suggested(integration: &str) -> DestinationSettings {
        let mapping = ObjectMapping {
            score_field: Some("TrailSpark_Score__c".into()),
            evaluation_date_field: Some("TrailSpark_Evaluation_Date__c".into()),
            reasoning_field: Some("TrailSpark_Reasoning__c".into()),
        };
        DestinationSettings {
            enabled: true,
            integration: integration.to_string(),
            person_match: PersonMatch::default(),
            duplicates: DuplicatePolicy::default(),
            create_as: CreateAs::default(),
            allow_duplicate_save: false,
            create_records: CreateRecords::default(),
            lead: mapping.clone(),
            contact: mapping,
            propensity: PropensityMapping {
                account_field: Some("TrailSpark_Propensity__c".into()),
                lead_field: Some("TrailSpark_Propensity__c".into()),
            },
        }
    }

    /// Reads the settings from JSON with the same keys as the TOML table (HTTP API).
    /// `origin` names the source in errors (e.g. `request body`).
    pub fn from_json(v: &Value, origin: &str) -> Result<DestinationSettings, ConfigError> {
        let mut w = Walker::new(origin);
        let parsed = w.destination(v, "");
        w.finish(parsed)
    }

    /// The settings as JSON with the same keys as the TOML table.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// May an evaluation with this score create a record?
    pub fn creates_for(&self, score: Score) -> bool {
        self.create_records.enabled && self.create_records.score_levels.contains(&score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_only_the_password_of_a_url() {
        assert_eq!(
            redact_url_password("postgresql://u:p%40ss@h/d?sslmode=require"),
            "postgresql://u:***@h/d?sslmode=require"
        );
        assert_eq!(redact_url_password("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(
            redact_url_password("sqlite://a:b@c.db"),
            "sqlite://a:***@c.db"
        );
        assert_eq!(redact_url_password("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            redact_url_password("postgres://h/d?x=a@b"),
            "postgres://h/d?x=a@b"
        );
    }
}
