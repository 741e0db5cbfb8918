//! End-to-end tests of the `trailspark` binary (one test binary for the crate).

mod browser;
mod check;
mod connect;
mod demo;
mod failures;
mod fencing;
mod fields;
mod late_commit;
mod roles;
mod rules;
mod service;
mod setup_org;
mod storage;
mod sync;
