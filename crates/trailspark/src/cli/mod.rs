//! One module per subcommand.

pub mod check;
pub mod common;
pub mod demo;
pub mod fields;
pub mod serve;
pub mod setup_org;
pub mod sfsim;
pub mod sync;
pub mod token;
pub mod user;
