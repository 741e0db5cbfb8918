//! `trailspark serve --config F [--api-only | --workers-only] [--log-json]`: the service.
//! Config from the TOML file, with `TRAILSPARK_LISTEN` and `TRAILSPARK_DATABASE_URL`
//! overriding `[server]` and `TRAILSPARK_METRICS_TOKEN` protecting `/metrics`; runs until
//! SIGTERM or Ctrl-C, then drains in-flight batches.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use server::{Application, Connector, Mode, Settings};

use super::common::{EXIT_CANNOT_START, load_config, print_error};

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (docs/configuration.md).
    #[arg(long)]
    pub config: PathBuf,
    /// Serve the HTTP API only (workers run in other processes on a shared PostgreSQL).
    #[arg(long, conflicts_with = "workers_only")]
    pub api_only: bool,
    /// Run the delivery workers only (no HTTP listener).
    #[arg(long)]
    pub workers_only: bool,
    /// Log as JSON lines (for log shippers) instead of human-readable text.
    #[arg(long)]
    pub log_json: bool,
}

/// Sets up `tracing` on stderr; `RUST_LOG` refines the default `info` level.
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn,hyper=warn"));
    // A log line that cannot be written (stderr redirected to a full disk) is dropped: the
    // subscriber's own report of it would go to stderr too, and panic there.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The settings of the file with the environment's overrides applied.
pub fn settings_from(config: &domain::Config) -> Settings {
    let mut s = Settings::from_config(config);
    if let Ok(v) = std::env::var("TRAILSPARK_LISTEN")
        && !v.trim().is_empty()
    {
        s.listen = v.trim().to_string();
    }
    if let Ok(v) = std::env::var("TRAILSPARK_DATABASE_URL")
        && !v.trim().is_empty()
    {
        s.database_url = v.trim().to_string();
    }
    if let Ok(v) = std::env::var(METRICS_TOKEN_ENV)
        && !v.trim().is_empty()
    {
        s.metrics_token = Some(v.trim().to_string());
    }
    s.worker = s.worker.with_env_overrides();
    s
}

/// When set, `/metrics` requires `Authorization: Bearer <its value>`.
pub const METRICS_TOKEN_ENV: &str = "TRAILSPARK_METRICS_TOKEN";

/// Signs in through `[integrations.NAME]` (secrets from the environment variables it names).
pub fn config_connector() -> Connector {
    // The workers decide every retry (the destination's pause, the store's backoff), so
    // the client reports each failure instead of retrying it too.
    Arc::new(|i, kept| {
        Box::pin(async move {
            super::common::connect_with(&i, |c| {
                c.retry = salesforce::RetryPolicy::none();
                // A refresh token the org rotates is kept in the database, sealed.
                c.refresh_tokens = kept;
            })
            .await
        })
    })
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
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

pub async fn run(args: Args) -> ExitCode {
    init_logging(args.log_json);
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(EXIT_CANNOT_START);
        }
    };
    // An enabled destination must name a configured integration (exit 2, naming the key).
    if let Some(dest) = &config.destination
        && dest.enabled
        && let Err(e) = config.destination_with_integration(&args.config.display().to_string())
    {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_CANNOT_START);
    }
    let mut settings = settings_from(&config);
    settings.mode = if args.api_only {
        Mode::ApiOnly
    } else if args.workers_only {
        Mode::WorkersOnly
    } else {
        Mode::Both
    };
    let app = match Application::build(settings, config_connector()).await {
        Ok(a) => a,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(EXIT_CANNOT_START);
        }
    };
    match app.local_addr() {
        Some(addr) => {
            // On stdout so scripts and tests learn the port when `listen` ends in `:0`.
            println!("listening on http://{addr}");
            tracing::info!(%addr, "listening");
        }
        None => tracing::info!("workers only: no HTTP listener"),
    }
    match app.run_until_stopped(stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}
