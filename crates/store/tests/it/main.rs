//! Behaviour tests of the store, each run against SQLite and PostgreSQL (ignored unless asked
//! for: it needs a server).

mod support;

mod admin;
mod disk;
mod ingest;
mod lease;
mod listing;
mod retention;
mod retry;
mod tls;
mod tokens;
