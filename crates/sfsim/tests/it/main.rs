//! Integration tests of the emulated org: one test binary, one module per area.

mod basics;
mod oauth;
mod support;
mod tls;
