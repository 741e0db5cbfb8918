//! The configuration file (docs/configuration.md), parsed once into typed settings. TOML becomes a
//! JSON value walked by hand (not `serde` derive) so every problem names the file, the full key and
//! what was expected, e.g. `config.toml: destinations.salesforce.person_match: expected
//! "contact_first" or "both", got "contacts"`; the same walker reads destination settings sent
//! as JSON to the HTTP API. Parts: `settings`, `tables` (keys and checks), `walker`, `error`.

use std::path::Path;

mod error;
mod settings;
mod tables;
mod walker;

pub use error::{ConfigError, ConfigProblem};
pub use settings::{
    AuthSettings, Config, CreateAs, CreateRecords, DestinationSettings, DuplicatePolicy,
    HttpSettings, IntegrationSettings, ObjectMapping, PersonMatch, PropensityMapping,
    ServerSettings, Slot, WorkerSettings, redact_url_password,
};

use walker::Walker;

/// The Salesforce REST API version used unless the integration names another.
pub const DEFAULT_API_VERSION: &str = "62.0";
/// Product rule: pause delivery when the org's daily API usage passes this share.
pub const DEFAULT_PAUSE_AT_API_USAGE: f64 = 0.8;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::Score;

    const FULL: &str = r#"
[server]
listen = "127.0.0.1:8080"
database_url = "sqlite://trailspark.db"
public_url = "http://127.0.0.1:8080"

[server.worker]
batch_size = 500

[server.http]
header_timeout_ms = 5000
max_connections = 200

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
    fn parses_the_contract_example() {
        let c = Config::from_toml_str(FULL, "config.toml").unwrap();
        let s = c.server.as_ref().unwrap();
        assert_eq!(s.worker.batch_size, 500);
        assert_eq!(s.worker.concurrency, 4);
        assert_eq!(s.http.header_timeout_ms, 5_000);
        assert_eq!(s.http.max_connections, 200);
        assert_eq!(
            s.http.idle_timeout_ms,
            HttpSettings::default().idle_timeout_ms
        );
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
