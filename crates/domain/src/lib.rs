//! The vocabulary of trailspark: evaluations (parsed at the edge), destination and service
//! settings (parsed from TOML or JSON), outcomes and report lines, and the hint table.
//! No I/O beyond reading a config file, no async.

pub mod backoff;
pub mod config;
pub mod email;
pub mod evaluation;
pub mod failure;
pub mod hints;
pub mod quote;
pub mod report;

pub use backoff::Backoff;
pub use config::{
    AuthSettings, Config, ConfigError, ConfigProblem, CreateAs, CreateRecords, DestinationSettings,
    DuplicatePolicy, HttpSettings, IntegrationSettings, ObjectMapping, PersonMatch,
    PropensityMapping, ServerSettings, Slot, WorkerSettings,
};
pub use email::{Email, EmailError};
pub use evaluation::{
    AccountHint, EvaluatedAt, Evaluation, EvaluationId, FieldError, ParseOptions, Person,
    Propensity, Score, csv_record_json, derived_id, describe_errors, format_salesforce_datetime,
    json_kind, parse_salesforce_datetime, report_id,
};
pub use failure::FailureKind;
pub use quote::quoted;
pub use report::{Outcome, Reason, Report, ReportError, Warning, WriteAction, WriteReport};
