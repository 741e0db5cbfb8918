//! The configuration file (contract §2), parsed once into typed settings.
//!
//! TOML is converted to a JSON value and walked by hand (not `serde` derive) so that every
//! problem names the file, the full key and what was expected, e.g.
//! `config.toml: destinations.salesforce.person_match: expected "contact_first" or "both", got "contacts"`.
//! The same walker reads destination settings sent as JSON to the HTTP API.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::evaluation::Score;

/// The Salesforce REST API version used unless the integration names another.
pub const DEFAULT_API_VERSION: &str = "62.0";
/// Product rule: pause delivery when the org's daily API usage passes this share.
pub const DEFAULT_PAUSE_AT_API_USAGE: f64 = 0.8;
/// Salesforce field API names (with namespace and `__c`) stay well under this.
const FIELD_NAME_MAX_CHARS: usize = 100;

/// Every problem found in a configuration; Display gives one line per problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

/// One problem: where (`origin`, the file or `request`), which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigProblem {
    pub origin: String,
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.problem)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl ConfigError {
    fn single(origin: &str, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![ConfigProblem {
                origin: origin.to_string(),
                key: key.to_string(),
                problem: problem.into(),
            }],
        }
    }
}

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
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("listen", &self.listen)
            .field("database_url", &redact_url_password(&self.database_url))
            .field("public_url", &self.public_url)
            .field("worker", &self.worker)
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
    /// Concurrent batches in flight per destination.
    pub concurrency: usize,
    /// Attempts before a transiently failing delivery is marked failed.
    pub max_attempts: u32,
    /// Sync log entries older than this are purged.
    pub log_retention_days: u32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            batch_size: 1000,
            linger_ms: 100,
            concurrency: 4,
            max_attempts: 10,
            log_retention_days: 30,
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

/// `[destinations.salesforce]`: the seed's destination settings, typed.
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
    /// Defaults with everything mapped to the seed's suggested API names.
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

impl Config {
    /// Reads and parses a file; errors name the file.
    pub fn from_toml_file(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::single(&origin, "", format!("cannot read the file: {e}")))?;
        Config::from_toml_str(&text, &origin)
    }

    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            ConfigError::single(
                origin,
                "",
                format!("not valid TOML: {}", e.to_string().trim()),
            )
        })?;
        let v = serde_json::to_value(&table)
            .map_err(|e| ConfigError::single(origin, "", format!("unsupported value: {e}")))?;
        let mut w = Walker::new(origin);
        let parsed = w.config(&v);
        w.finish(parsed)
    }

    /// The destination and the integration it names, or a problem saying which is missing.
    pub fn destination_with_integration(
        &self,
        origin: &str,
    ) -> Result<(&DestinationSettings, &IntegrationSettings), ConfigError> {
        let dest = self.destination.as_ref().ok_or_else(|| {
            ConfigError::single(
                origin,
                "destinations.salesforce",
                "missing; add a [destinations.salesforce] table",
            )
        })?;
        let integ = self.integrations.get(&dest.integration).ok_or_else(|| {
            ConfigError::single(
                origin,
                "destinations.salesforce.integration",
                format!(
                    "names {:?}, but there is no [integrations.{}] table (defined: {})",
                    dest.integration,
                    dest.integration,
                    self.integration_names()
                ),
            )
        })?;
        Ok((dest, integ))
    }

    fn integration_names(&self) -> String {
        if self.integrations.is_empty() {
            "none".into()
        } else {
            self.integrations
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// Collects problems while reading a JSON tree; each getter records what it could not read.
struct Walker {
    origin: String,
    problems: Vec<ConfigProblem>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn quoted_list(options: &[&str]) -> String {
    let q: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} or {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

impl Walker {
    fn new(origin: &str) -> Walker {
        Walker {
            origin: origin.to_string(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, key: &str, problem: impl Into<String>) {
        self.problems.push(ConfigProblem {
            origin: self.origin.clone(),
            key: key.to_string(),
            problem: problem.into(),
        });
    }

    fn finish<T>(self, parsed: Option<T>) -> Result<T, ConfigError> {
        match parsed {
            Some(t) if self.problems.is_empty() => Ok(t),
            _ => Err(ConfigError {
                problems: if self.problems.is_empty() {
                    vec![ConfigProblem {
                        origin: self.origin,
                        key: String::new(),
                        problem: "invalid configuration".into(),
                    }]
                } else {
                    self.problems
                },
            }),
        }
    }

    fn table<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => {
                for k in m.keys() {
                    if !allowed.contains(&k.as_str()) {
                        self.problem(
                            &join(path, k),
                            format!("unknown key; expected one of: {}", allowed.join(", ")),
                        );
                    }
                }
                Some(m)
            }
            other => {
                self.problem(path, format!("expected a table, got {}", kind(other)));
                None
            }
        }
    }

    fn opt_str(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(
                    &join(path, key),
                    format!("expected a string, got {}", kind(other)),
                );
                None
            }
        }
    }

    fn req_str(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        let s = self.opt_str(m, path, key);
        match s {
            Some(s) if s.trim().is_empty() => {
                self.problem(&join(path, key), "must not be empty");
                None
            }
            Some(s) => Some(s),
            None => {
                if !m.contains_key(key) {
                    self.problem(&join(path, key), "is required");
                }
                None
            }
        }
    }

    fn bool_or(&mut self, m: &Map<String, Value>, path: &str, key: &str, default: bool) -> bool {
        match m.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problem(
                    &join(path, key),
                    format!("expected true or false, got {}", kind(other)),
                );
                default
            }
        }
    }

    fn uint_or(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> u64 {
        match m.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(x) if (min..=max).contains(&x) => x,
                _ => {
                    self.problem(
                        &join(path, key),
                        format!("expected a whole number from {min} to {max}, got {n}"),
                    );
                    default
                }
            },
            Some(other) => {
                self.problem(
                    &join(path, key),
                    format!("expected a whole number, got {}", kind(other)),
                );
                default
            }
        }
    }

    fn choice<T: Copy>(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        key: &str,
        options: &[(&str, T)],
        default: T,
    ) -> T {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        match m.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::String(s)) => match options.iter().find(|(n, _)| n == s) {
                Some((_, t)) => *t,
                None => {
                    self.problem(
                        &join(path, key),
                        format!("expected {}, got {s:?}", quoted_list(&names)),
                    );
                    default
                }
            },
            Some(other) => {
                self.problem(
                    &join(path, key),
                    format!("expected {}, got {}", quoted_list(&names), kind(other)),
                );
                default
            }
        }
    }

    /// A Salesforce field API name; checked so it can be placed in SOQL SELECT lists safely.
    fn field_name(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        let s = self.opt_str(m, path, key)?;
        let s = s.trim().to_string();
        if s.is_empty() {
            return None;
        }
        let valid = s.len() <= FIELD_NAME_MAX_CHARS
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Some(s)
        } else {
            self.problem(
                &join(path, key),
                format!("{s:?} is not a Salesforce field API name (letters, digits and underscores, starting with a letter, e.g. \"TrailSpark_Score__c\")"),
            );
            None
        }
    }

    fn config(&mut self, v: &Value) -> Option<Config> {
        let root = self.table(v, "", &["server", "integrations", "destinations"])?;
        let server = root.get("server").and_then(|s| self.server(s, "server"));
        let mut integrations = BTreeMap::new();
        if let Some(iv) = root.get("integrations") {
            if let Value::Object(m) = iv {
                for (name, t) in m {
                    let path = format!("integrations.{name}");
                    if let Some(i) = self.integration(name, t, &path) {
                        integrations.insert(name.clone(), i);
                    }
                }
            } else {
                self.problem(
                    "integrations",
                    format!("expected a table of named integrations, got {}", kind(iv)),
                );
            }
        }
        let mut destination = None;
        if let Some(dv) = root.get("destinations")
            && let Some(d) = self.table(dv, "destinations", &["salesforce"])
            && let Some(sf) = d.get("salesforce")
        {
            destination = self.destination(sf, "destinations.salesforce");
        }
        Some(Config {
            server,
            integrations,
            destination,
        })
    }

    fn server(&mut self, v: &Value, path: &str) -> Option<ServerSettings> {
        let m = self.table(v, path, &["listen", "database_url", "public_url", "worker"])?;
        let listen = self
            .opt_str(m, path, "listen")
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        if listen.parse::<std::net::SocketAddr>().is_err() {
            self.problem(
                &join(path, "listen"),
                format!("expected an address like \"127.0.0.1:8080\", got {listen:?}"),
            );
        }
        let database_url = self
            .opt_str(m, path, "database_url")
            .unwrap_or_else(|| "sqlite://trailspark.db".into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            self.problem(
                &join(path, "database_url"),
                format!(
                    "expected sqlite://PATH or postgres://..., got {:?}",
                    redact_url_password(&database_url)
                ),
            );
        }
        let public_url = self
            .opt_str(m, path, "public_url")
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            self.problem(
                &join(path, "public_url"),
                format!("expected an http:// or https:// URL, got {public_url:?}"),
            );
        }
        let worker = match m.get("worker") {
            Some(wv) => self.worker(wv, &join(path, "worker")),
            None => WorkerSettings::default(),
        };
        Some(ServerSettings {
            listen,
            database_url,
            public_url,
            worker,
        })
    }

    fn worker(&mut self, v: &Value, path: &str) -> WorkerSettings {
        let d = WorkerSettings::default();
        let Some(m) = self.table(
            v,
            path,
            &[
                "batch_size",
                "linger_ms",
                "concurrency",
                "max_attempts",
                "log_retention_days",
            ],
        ) else {
            return d;
        };
        WorkerSettings {
            batch_size: self.uint_or(m, path, "batch_size", d.batch_size as u64, 1, 10_000)
                as usize,
            linger_ms: self.uint_or(m, path, "linger_ms", d.linger_ms, 0, 60_000),
            concurrency: self.uint_or(m, path, "concurrency", d.concurrency as u64, 1, 64) as usize,
            max_attempts: self.uint_or(m, path, "max_attempts", u64::from(d.max_attempts), 1, 1_000)
                as u32,
            log_retention_days: self.uint_or(
                m,
                path,
                "log_retention_days",
                u64::from(d.log_retention_days),
                1,
                3_650,
            ) as u32,
        }
    }

    fn integration(&mut self, name: &str, v: &Value, path: &str) -> Option<IntegrationSettings> {
        let m = self.table(
            v,
            path,
            &[
                "login_url",
                "client_id",
                "auth",
                "refresh_token_env",
                "client_secret_env",
                "username",
                "private_key_file",
                "instance_url",
                "access_token_env",
                "api_version",
                "pause_at_api_usage",
                "ca_cert_file",
            ],
        )?;
        let login_url = self
            .opt_str(m, path, "login_url")
            .unwrap_or_else(|| "https://login.salesforce.com".into());
        if !(login_url.starts_with("https://") || login_url.starts_with("http://")) {
            self.problem(
                &join(path, "login_url"),
                format!("expected an https:// URL, got {login_url:?}"),
            );
        }
        let client_id = self.opt_str(m, path, "client_id");
        #[derive(Clone, Copy)]
        enum K {
            Refresh,
            Jwt,
            Cc,
            Access,
        }
        let k = self.choice(
            m,
            path,
            "auth",
            &[
                ("refresh_token", K::Refresh),
                ("jwt", K::Jwt),
                ("client_credentials", K::Cc),
                ("access_token", K::Access),
            ],
            K::Refresh,
        );
        let auth = match k {
            K::Refresh => {
                let refresh_token_env = self.req_str(m, path, "refresh_token_env");
                let client_secret_env = self.opt_str(m, path, "client_secret_env");
                if client_id.is_none() {
                    self.problem(
                        &join(path, "client_id"),
                        "is required for auth = \"refresh_token\"",
                    );
                }
                AuthSettings::RefreshToken {
                    refresh_token_env: refresh_token_env.unwrap_or_default(),
                    client_secret_env,
                }
            }
            K::Jwt => {
                let username = self.req_str(m, path, "username");
                let key = self.req_str(m, path, "private_key_file");
                if client_id.is_none() {
                    self.problem(&join(path, "client_id"), "is required for auth = \"jwt\"");
                }
                AuthSettings::Jwt {
                    username: username.unwrap_or_default(),
                    private_key_file: PathBuf::from(key.unwrap_or_default()),
                }
            }
            K::Cc => {
                let secret = self.req_str(m, path, "client_secret_env");
                if client_id.is_none() {
                    self.problem(
                        &join(path, "client_id"),
                        "is required for auth = \"client_credentials\"",
                    );
                }
                AuthSettings::ClientCredentials {
                    client_secret_env: secret.unwrap_or_default(),
                }
            }
            K::Access => AuthSettings::AccessToken {
                instance_url: self.req_str(m, path, "instance_url").unwrap_or_default(),
                access_token_env: self
                    .req_str(m, path, "access_token_env")
                    .unwrap_or_default(),
            },
        };
        let api_version = self
            .opt_str(m, path, "api_version")
            .unwrap_or_else(|| DEFAULT_API_VERSION.into());
        let version_ok = api_version
            .strip_suffix(".0")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n >= 31);
        if !version_ok {
            self.problem(
                &join(path, "api_version"),
                format!("expected a version like \"62.0\" (31.0 or newer), got {api_version:?}"),
            );
        }
        let pause_at_api_usage = match m.get("pause_at_api_usage") {
            None | Some(Value::Null) => DEFAULT_PAUSE_AT_API_USAGE,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x > 0.0 && x <= 1.0 => x,
                _ => {
                    self.problem(
                        &join(path, "pause_at_api_usage"),
                        format!("expected a share between 0 and 1 (e.g. 0.8), got {n}"),
                    );
                    DEFAULT_PAUSE_AT_API_USAGE
                }
            },
            Some(other) => {
                self.problem(
                    &join(path, "pause_at_api_usage"),
                    format!("expected a number, got {}", kind(other)),
                );
                DEFAULT_PAUSE_AT_API_USAGE
            }
        };
        let ca_cert_file = self.opt_str(m, path, "ca_cert_file").map(PathBuf::from);
        Some(IntegrationSettings {
            name: name.to_string(),
            login_url,
            client_id,
            auth,
            api_version,
            pause_at_api_usage,
            ca_cert_file,
        })
    }

    fn mapping(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> ObjectMapping {
        let Some(v) = m.get(key) else {
            return ObjectMapping::default();
        };
        let p = join(path, key);
        let Some(t) = self.table(
            v,
            &p,
            &["score_field", "evaluation_date_field", "reasoning_field"],
        ) else {
            return ObjectMapping::default();
        };
        ObjectMapping {
            score_field: self.field_name(t, &p, "score_field"),
            evaluation_date_field: self.field_name(t, &p, "evaluation_date_field"),
            reasoning_field: self.field_name(t, &p, "reasoning_field"),
        }
    }

    fn destination(&mut self, v: &Value, path: &str) -> Option<DestinationSettings> {
        let m = self.table(
            v,
            path,
            &[
                "enabled",
                "integration",
                "person_match",
                "duplicates",
                "create_as",
                "allow_duplicate_save",
                "create_records",
                "lead",
                "contact",
                "propensity",
            ],
        )?;
        let enabled = self.bool_or(m, path, "enabled", true);
        let integration = self.req_str(m, path, "integration");
        let person_match = self.choice(
            m,
            path,
            "person_match",
            &[
                ("contact_first", PersonMatch::ContactFirst),
                ("both", PersonMatch::Both),
            ],
            PersonMatch::default(),
        );
        let duplicates = self.choice(
            m,
            path,
            "duplicates",
            &[
                ("all", DuplicatePolicy::All),
                ("most_recent", DuplicatePolicy::MostRecent),
                ("skip", DuplicatePolicy::Skip),
            ],
            DuplicatePolicy::default(),
        );
        let create_as = self.choice(
            m,
            path,
            "create_as",
            &[("lead", CreateAs::Lead), ("contact", CreateAs::Contact)],
            CreateAs::default(),
        );
        let allow_duplicate_save = self.bool_or(m, path, "allow_duplicate_save", false);
        let mut create_records = CreateRecords::default();
        if let Some(cv) = m.get("create_records") {
            let p = join(path, "create_records");
            if let Some(t) = self.table(cv, &p, &["enabled", "score_levels"]) {
                create_records.enabled = self.bool_or(t, &p, "enabled", false);
                match t.get("score_levels") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(items)) => {
                        let mut levels = BTreeSet::new();
                        for (i, item) in items.iter().enumerate() {
                            match item.as_str().and_then(Score::parse) {
                                Some(s) => {
                                    levels.insert(s);
                                }
                                None => self.problem(
                                    &format!("{p}.score_levels[{i}]"),
                                    format!("expected {}, got {item}", Score::EXPECTED),
                                ),
                            }
                        }
                        create_records.score_levels = levels;
                    }
                    Some(other) => self.problem(
                        &join(&p, "score_levels"),
                        format!(
                            "expected a list like [\"hot\", \"warm\"], got {}",
                            kind(other)
                        ),
                    ),
                }
            }
        }
        let lead = self.mapping(m, path, "lead");
        let contact = self.mapping(m, path, "contact");
        let mut propensity = PropensityMapping::default();
        if let Some(pv) = m.get("propensity") {
            let p = join(path, "propensity");
            if let Some(t) = self.table(pv, &p, &["account_field", "lead_field"]) {
                propensity.account_field = self.field_name(t, &p, "account_field");
                propensity.lead_field = self.field_name(t, &p, "lead_field");
            }
        }
        Some(DestinationSettings {
            enabled,
            integration: integration.unwrap_or_default(),
            person_match,
            duplicates,
            create_as,
            allow_duplicate_save,
            create_records,
            lead,
            contact,
            propensity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[server]
listen = "127.0.0.1:8080"
database_url = "sqlite://trailspark.db"
public_url = "http://127.0.0.1:8080"

[server.worker]
batch_size = 500

[integrations.production]
login_url = "https://login.salesforce.com"
client_id = "3MVG9..."
auth = "refresh_token"
refresh_token_env = "SF_REFRESH_TOKEN"
api_version = "62.0"
pause_at_api_usage = 0.8

[destinations.salesforce]
enabled = true
integration = "production"
person_match = "contact_first"
duplicates = "all"
create_as = "lead"
allow_duplicate_save = false

[destinations.salesforce.create_records]
enabled = true
score_levels = ["hot", "warm"]

[destinations.salesforce.lead]
score_field = "TrailSpark_Score__c"
evaluation_date_field = "TrailSpark_Evaluation_Date__c"
reasoning_field = "TrailSpark_Reasoning__c"

[destinations.salesforce.contact]
score_field = "TrailSpark_Score__c"

[destinations.salesforce.propensity]
account_field = "TrailSpark_Propensity__c"
"#;

    #[test]
    fn database_password_never_shows_in_debug_or_errors() {
        let text = FULL.replace(
            "sqlite://trailspark.db",
            "postgres://app:s3cr3t@db.example.com:5432/trailspark",
        );
        let c = Config::from_toml_str(&text, "config.toml").unwrap();
        let debug = format!("{:?}", c.server.as_ref().unwrap());
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(
            debug.contains("postgres://app:***@db.example.com:5432/trailspark"),
            "{debug}"
        );

        let text = FULL.replace("sqlite://trailspark.db", "mysql://app:s3cr3t@db/x");
        let err = Config::from_toml_str(&text, "config.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("database_url"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(err.contains("mysql://app:***@db/x"), "{err}");
    }

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

    #[test]
    fn parses_the_contract_example() {
        let c = Config::from_toml_str(FULL, "config.toml").unwrap();
        let s = c.server.as_ref().unwrap();
        assert_eq!(s.worker.batch_size, 500);
        assert_eq!(s.worker.concurrency, 4);
        let i = &c.integrations["production"];
        assert_eq!(
            i.auth,
            AuthSettings::RefreshToken {
                refresh_token_env: "SF_REFRESH_TOKEN".into(),
                client_secret_env: None
            }
        );
        let d = c.destination.as_ref().unwrap();
        assert!(d.creates_for(Score::Hot));
        assert!(!d.creates_for(Score::Cold));
        assert_eq!(
            d.contact.slots(),
            vec![(Slot::Score, "TrailSpark_Score__c")]
        );
        assert!(d.propensity.lead_field.is_none());
        let (dest, integ) = c.destination_with_integration("config.toml").unwrap();
        assert_eq!(dest.integration, integ.name);
    }

    #[test]
    fn error_names_file_key_and_problem() {
        let text = FULL.replace(
            "person_match = \"contact_first\"",
            "person_match = \"contacts\"",
        );
        let err = Config::from_toml_str(&text, "config.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"config.toml: destinations.salesforce.person_match: expected "contact_first" or "both", got "contacts""#
        );
    }

    #[test]
    fn reports_every_problem() {
        let text = FULL
            .replace("duplicates = \"all\"", "duplicates = \"some\"\ncolour = 1")
            .replace(
                "score_levels = [\"hot\", \"warm\"]",
                "score_levels = [\"hot\", \"tepid\"]",
            )
            .replace(
                "score_field = \"TrailSpark_Score__c\"\n\n[destinations.salesforce.propensity]",
                "score_field = \"Score' OR 1=1\"\n\n[destinations.salesforce.propensity]",
            );
        let err = Config::from_toml_str(&text, "c.toml").unwrap_err();
        let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "destinations.salesforce.colour",
                "destinations.salesforce.duplicates",
                "destinations.salesforce.create_records.score_levels[1]",
                "destinations.salesforce.contact.score_field"
            ]
        );
    }

    #[test]
    fn invalid_toml_names_the_file() {
        let err = Config::from_toml_str("[server\n", "bad.toml").unwrap_err();
        assert!(
            err.to_string().starts_with("bad.toml: not valid TOML"),
            "{err}"
        );
    }

    #[test]
    fn missing_integration_is_named() {
        let text = FULL.replace("integration = \"production\"", "integration = \"staging\"");
        let c = Config::from_toml_str(&text, "config.toml").unwrap();
        let err = c.destination_with_integration("config.toml").unwrap_err();
        assert!(err.to_string().contains("[integrations.staging]"), "{err}");
    }

    #[test]
    fn auth_kinds_require_their_keys() {
        let text = "[integrations.x]\nclient_id = \"a\"\nauth = \"jwt\"\n";
        let err = Config::from_toml_str(text, "c.toml").unwrap_err();
        let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["integrations.x.username", "integrations.x.private_key_file"]
        );
        let ok = "[integrations.x]\nauth = \"access_token\"\ninstance_url = \"http://127.0.0.1:1\"\naccess_token_env = \"T\"\n";
        assert!(Config::from_toml_str(ok, "c.toml").is_ok());
    }

    #[test]
    fn destination_json_round_trips() {
        let c = Config::from_toml_str(FULL, "config.toml").unwrap();
        let d = c.destination.unwrap();
        let again = DestinationSettings::from_json(&d.to_json(), "request").unwrap();
        assert_eq!(d, again);
    }
}
