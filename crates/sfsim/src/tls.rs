//! HTTPS for the emulated org: a certificate generated at start, served with rustls.
