//! Salesforce REST client for trailspark: OAuth token flows with single-flight refresh,
//! describe (cached, `If-Modified-Since` revalidation), SOQL queries with pagination, queries
//! and sObject Collections writes packed into Composite requests, typed errors with a retry
//! classification, and API-limit tracking from `Sforce-Limit-Info`.
//!
//! Facts about Salesforce's wire format live in `docs/salesforce-api.md`; the constants below
//! are the one place the numbers are defined.

mod auth;
mod client;
mod composite;
mod config;
mod describe;
mod error;
mod limits;
mod soql;
mod types;

pub use client::{CallCounts, Client};
pub use config::{ApiVersion, ClientConfig, LoginUrl, RetryPolicy, TokenSource};
pub use describe::{FieldDescribe, FieldType, SObjectDescribe};
pub use error::{ApiError, Error, ErrorClass, TransportKind, classify};
pub use limits::{ApiUsage, LimitValue, Limits, parse_limit_info};
pub use soql::{
    ChunkError, SOQL_MAX_CHARS, chunk_in_clause, escape_soql_literal, quote_soql_literal,
};
pub use types::{
    CollectionWrite, Identity, Record, RecordError, SaveResult, WriteAction, WriteOptions,
};

/// Re-exported so callers can build [`TokenSource`] secrets without depending on `secrecy`.
pub use secrecy::{ExposeSecret, SecretString};

/// Maximum records in one sObject Collections create/update request ([REST]
/// resources-composite-sobjects-collections: "up to 200 records").
pub const COLLECTION_MAX_RECORDS: usize = 200;

/// Maximum query or sObject Collections subrequests in one Composite request ([REST]
/// resources-composite-composite: of 25 subrequests, at most 5 may be query/collections).
pub const COMPOSITE_MAX_HEAVY_SUBREQUESTS: usize = 5;

/// Salesforce's duplicate-rule header; `allowSave=true` saves despite *alert* rules
/// (block rules still fail) ([REST] headers-duplicaterules).
pub const DUPLICATE_RULE_HEADER: &str = "Sforce-Duplicate-Rule-Header";

/// The response header carrying `api-usage=used/max` ([REST] headers_api_usage).
pub const LIMIT_INFO_HEADER: &str = "Sforce-Limit-Info";
