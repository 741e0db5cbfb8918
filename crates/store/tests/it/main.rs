//! Behaviour tests of the store, each run against SQLite and (when configured) PostgreSQL.

mod support;

mod admin;
mod ingest;
mod lease;
mod listing;
mod retry;
mod tokens;
