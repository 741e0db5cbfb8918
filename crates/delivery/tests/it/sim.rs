//! The emulated org the engine tests and the delivery benchmark run against (the benchmark
//! includes this file through `#[path]`, so both start and sign in to it the same way).

use std::time::Duration;

use salesforce::{ClientConfig, LoginUrl, SecretString, TokenSource};

/// An emulated org with the standard metadata and no records, answering every API call
/// after `latency`.
pub async fn empty_org(latency: Duration) -> sfsim::RunningOrg {
    let org = sfsim::start(sfsim::Options {
        latency,
        ..Default::default()
    })
    .await
    .expect("sfsim starts");
    org.control()
        .load_scenario_str("base = \"empty\"\n")
        .expect("empty org");
    org
}

/// Client settings signing in to `org` with its connected app and refresh token.
pub fn client_config(org: &sfsim::RunningOrg) -> ClientConfig {
    ClientConfig::new(TokenSource::RefreshToken {
        login_url: LoginUrl::parse(org.url()).expect("url"),
        client_id: org.client_id().to_string(),
        client_secret: Some(SecretString::from(org.client_secret().to_string())),
        refresh_token: SecretString::from(org.refresh_token()),
    })
}
