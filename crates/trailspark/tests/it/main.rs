//! End-to-end tests of the `trailspark` binary (one test binary for the crate).

mod check;
mod fields;
mod sync;
mod demo;
mod roles;
mod service;
