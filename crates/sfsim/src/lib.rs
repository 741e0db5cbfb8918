//! An emulated Salesforce org: Salesforce's REST and OAuth APIs served on localhost,
//! faithful enough that real clients (ours and others') work against it unchanged.
//!
//! The demo, the integration tests and the benchmarks all run against this crate, so the
//! reference is always real Salesforce behaviour (see `docs/salesforce-api.md`), never the
//! convenience of our own client. This crate must never depend on the `salesforce` crate:
//! two codebases that share wire types would agree on the same mistakes.
//!
//! Module ownership while the crate is being built:
//! - `oauth`, `tls`: the OAuth endpoints, sessions, and HTTPS.
//! - everything else: the org (records, metadata, SOQL, REST data API, control plane).

pub mod oauth;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to start an emulated org.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// A scenario file (JSON or TOML) replacing the default org's data and metadata.
    pub scenario: Option<PathBuf>,
    /// Added to every API call before it is answered (calls overlap; they do not queue).
    pub latency: Duration,
    /// Serve HTTPS with a certificate generated at start.
    pub tls: bool,
    /// Lifetime of access tokens; afterwards data calls answer 401 INVALID_SESSION_ID.
    pub access_token_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scenario: None,
            latency: Duration::ZERO,
            tls: false,
            access_token_ttl: Duration::from_secs(2 * 60 * 60),
        }
    }
}
