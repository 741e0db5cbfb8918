//! `trailspark sfsim`: the emulated Salesforce org on its own, for scripts, other clients
//! and manual exploration.
//!
//! When the org is ready, one JSON line on stdout tells a script everything it needs to
//! connect (URL, connected app, tokens, user, and with `--tls` the CA file to trust); logs
//! go to stderr. It then runs until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};

#[derive(clap::Args)]
#[command(after_help = "\
On start, prints one JSON line on stdout:
  {\"url\":...,\"client_id\":...,\"client_secret\":...,\"access_token\":...,\"refresh_token\":...,\"username\":...}
plus \"ca_cert\" (path of the CA certificate to trust) with --tls. The org speaks Salesforce's
REST and OAuth APIs (/services/data/..., /services/oauth2/...); its control plane is under
/__sfsim/. The integration user's password for the login page is \"sfsim-password\".")]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (the chosen URL is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Scenario file (JSON or TOML) replacing the default org's metadata and records.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Delay added to every API call, in milliseconds, to imitate a distant org.
    #[arg(long, value_name = "N", default_value_t = 0)]
    latency_ms: u64,
    /// Serve HTTPS with a certificate generated at start; the URL becomes
    /// https://localhost:PORT and the CA certificate's path is printed as "ca_cert".
    #[arg(long)]
    tls: bool,
    /// Lifetime of access tokens in seconds; afterwards data calls answer
    /// 401 INVALID_SESSION_ID until the client refreshes (Salesforce's default is 2 hours).
    #[arg(long, value_name = "N", default_value_t = 7200, value_parser = clap::value_parser!(u64).range(1..))]
    token_ttl_secs: u64,
    /// Certificate (PEM) of the emulated connected app for the JWT bearer flow; assertions
    /// signed with its private key are accepted for the integration user.
    #[arg(long, value_name = "FILE")]
    jwt_cert: Option<PathBuf>,
    /// The connected app's Refresh Token Rotation: every refresh answers a new refresh token
    /// and the one used stops working (docs/salesforce.md#refresh-token-grant).
    #[arg(long)]
    rotate_refresh_tokens: bool,
}

pub async fn run(args: Args) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();

    let jwt_cert = match args
        .jwt_cert
        .as_deref()
        .map(std::fs::read_to_string)
        .transpose()
    {
        Ok(pem) => pem,
        Err(e) => {
            eprintln!("error: cannot read the --jwt-cert file: {e}");
            return ExitCode::from(2);
        }
    };
    let options = sfsim::Options {
        listen: args.listen,
        scenario: args.scenario,
        latency: Duration::from_millis(args.latency_ms),
        tls: args.tls,
        access_token_ttl: Duration::from_secs(args.token_ttl_secs),
    };
    let org = match sfsim::start(options).await {
        Ok(org) => org,
        Err(e) => {
            eprintln!("error: the emulated org could not start: {e}");
            return ExitCode::from(2);
        }
    };

    if let Err(e) = org.auth().set_jwt_cert_pem(jwt_cert.as_deref()) {
        eprintln!("error: --jwt-cert: {e}");
        org.shutdown().await;
        return ExitCode::from(2);
    }
    org.auth()
        .set_refresh_token_rotation(args.rotate_refresh_tokens);

    let line = ready_line(
        org.url(),
        org.client_id(),
        org.client_secret(),
        &org.access_token(),
        &org.refresh_token(),
        org.username(),
        org.ca_cert_path().map(|p| p.display().to_string()),
    );
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("error: could not write to stdout");
        org.shutdown().await;
        return ExitCode::from(2);
    }
    drop(stdout);
    eprintln!(
        "sfsim: emulated Salesforce org at {} (Ctrl-C to stop)",
        org.url()
    );

    wait_for_stop_signal().await;
    org.shutdown().await;
    ExitCode::SUCCESS
}

/// The one line a script reads to connect, keys in a stable order.
fn ready_line(
    url: &str,
    client_id: &str,
    client_secret: &str,
    access_token: &str,
    refresh_token: &str,
    username: &str,
    ca_cert: Option<String>,
) -> String {
    let mut m = Map::new();
    m.insert("url".into(), url.into());
    m.insert("client_id".into(), client_id.into());
    m.insert("client_secret".into(), client_secret.into());
    m.insert("access_token".into(), access_token.into());
    m.insert("refresh_token".into(), refresh_token.into());
    m.insert("username".into(), username.into());
    if let Some(path) = ca_cert {
        m.insert("ca_cert".into(), path.into());
    }
    Value::Object(m).to_string()
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_is_one_json_object_with_ca_only_under_tls() {
        let plain = ready_line("http://127.0.0.1:1", "id", "sec", "at", "rt", "u@x", None);
        assert!(!plain.contains('\n'));
        let v: Value = serde_json::from_str(&plain).expect("json");
        assert_eq!(v["url"], "http://127.0.0.1:1");
        assert!(v.get("ca_cert").is_none());
        let tls = ready_line(
            "https://localhost:1",
            "id",
            "sec",
            "at",
            "rt",
            "u@x",
            Some("/tmp/ca.pem".into()),
        );
        let v: Value = serde_json::from_str(&tls).expect("json");
        assert_eq!(v["ca_cert"], "/tmp/ca.pem");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "url",
                "client_id",
                "client_secret",
                "access_token",
                "refresh_token",
                "username",
                "ca_cert"
            ]
        );
    }

    #[test]
    fn every_flag_has_help() {
        use clap::{CommandFactory as _, Parser as _};
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let cmd = Cli::command();
        for arg in cmd.get_arguments() {
            assert!(arg.get_help().is_some(), "--{} has no help", arg.get_id());
        }
        let parsed =
            Cli::try_parse_from(["x", "--tls", "--token-ttl-secs", "5", "--latency-ms", "3"])
                .expect("parse");
        assert!(parsed.args.tls);
        assert_eq!(parsed.args.token_ttl_secs, 5);
        assert!(Cli::try_parse_from(["x", "--token-ttl-secs", "0"]).is_err());
    }
}
