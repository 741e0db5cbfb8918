//! Integration tests of the `salesforce` client (one test binary for the crate):
//! - `wire`: exact requests sent (snapshots) and client behaviour, against a tiny fake
//!   Salesforce that records every request;
//! - `org`: end to end against the emulated org (`sfsim`).

mod fake;
mod org;
mod wire;
