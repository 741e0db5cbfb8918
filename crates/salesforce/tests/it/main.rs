//! Integration tests of the `salesforce` client (one test binary for the crate):
//! - `wire`: exact requests sent (snapshots) and client behaviour, against a tiny fake
//!   Salesforce that records every request;
//! - `oauth`: every token flow against the emulated org's OAuth server;
//! - `org`: end to end against the emulated org (`sfsim`);
//! - `setup`: custom fields and field access against the emulated org.

mod ambiguous;
mod fake;
mod oauth;
mod org;
mod setup;
mod wire;
