//! Integration tests of the delivery crate (one test binary).

mod bodies;
mod common;
mod engine;
mod setup;
mod sim;
