//! Integration tests of the emulated org: one test binary, one module per area.

mod oauth;
mod tls;
