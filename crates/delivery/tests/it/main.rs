//! Integration tests of the delivery crate (one test binary).

mod bodies;
mod common;
mod engine;
mod fresh;
mod late_commit;
mod setup;
mod sim;
