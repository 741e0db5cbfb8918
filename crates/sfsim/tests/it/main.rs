//! Integration tests of the emulated org: one test binary, one module per area.

mod basics;
mod collections;
mod composite;
mod control;
mod oauth;
mod query;
mod records;
mod support;
mod tls;
mod tooling;
mod upsert;
