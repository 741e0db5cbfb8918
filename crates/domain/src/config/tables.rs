//! The tables of the file: which keys each allows, their defaults and their checks,
//! read with the [`Walker`] into the typed settings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::settings::{
    AuthSettings, Config, CreateAs, CreateRecords, DestinationSettings, DuplicatePolicy,
    HttpSettings, IntegrationSettings, ObjectMapping, PersonMatch, PropensityMapping,
    ServerSettings, WorkerSettings, redact_url_password,
};
use super::walker::{Walker, join, kind};
use super::{DEFAULT_API_VERSION, DEFAULT_PAUSE_AT_API_USAGE};
use crate::evaluation::Score;

impl Walker {
    pub(super) fn config(&mut self, v: &Value) -> Option<Config> {
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
        let m = self.table(
            v,
            path,
            &["listen", "database_url", "public_url", "worker", "http"],
        )?;
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
        let http = match m.get("http") {
            Some(hv) => self.http(hv, &join(path, "http")),
            None => HttpSettings::default(),
        };
        Some(ServerSettings {
            listen,
            database_url,
            public_url,
            worker,
            http,
        })
    }

    fn http(&mut self, v: &Value, path: &str) -> HttpSettings {
        let d = HttpSettings::default();
        let Some(m) = self.table(
            v,
            path,
            &[
                "header_timeout_ms",
                "body_timeout_ms",
                "idle_timeout_ms",
                "max_connections",
            ],
        ) else {
            return d;
        };
        HttpSettings {
            header_timeout_ms: self.uint_or(
                m,
                path,
                "header_timeout_ms",
                d.header_timeout_ms,
                1,
                600_000,
            ),
            body_timeout_ms: self.uint_or(
                m,
                path,
                "body_timeout_ms",
                d.body_timeout_ms,
                1,
                3_600_000,
            ),
            idle_timeout_ms: self.uint_or(
                m,
                path,
                "idle_timeout_ms",
                d.idle_timeout_ms,
                1,
                3_600_000,
            ),
            max_connections: self.uint_or(
                m,
                path,
                "max_connections",
                d.max_connections as u64,
                1,
                1_000_000,
            ) as usize,
        }
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
                "retention_days",
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
            retention_days: self.uint_or(
                m,
                path,
                "retention_days",
                u64::from(d.retention_days),
                1,
                36_500,
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

    pub(super) fn destination(&mut self, v: &Value, path: &str) -> Option<DestinationSettings> {
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
