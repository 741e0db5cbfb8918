//! `trailspark`: writes AI lead evaluations into Salesforce.
//!
//! Each subcommand lives in its own module under `cli/` with an `Args` struct and a
//! `run` function returning the process exit code.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "trailspark",
    version,
    about = "Writes AI lead evaluations into Salesforce"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The service with an emulated Salesforce org and sample data, on an embedded SQLite database.
    Demo(cli::demo::Args),
    /// The service: HTTP API, web pages and delivery workers.
    Serve(cli::serve::Args),
    /// One-shot delivery of a JSONL or CSV file through [destinations.salesforce].
    Sync(cli::sync::Args),
    /// Preflight of the destination settings against the org's live metadata.
    Check(cli::check::Args),
    /// List an object's fields: label, API name, type, length, writable.
    Fields(cli::fields::Args),
    /// Create TrailSpark's fields in the org and give the integration user access to them.
    SetupOrg(cli::setup_org::Args),
    /// Create or revoke API tokens.
    #[command(subcommand)]
    Token(cli::token::Command),
    /// Manage the people who sign in to the web app.
    #[command(subcommand)]
    User(cli::user::Command),
    /// The emulated Salesforce org on its own.
    Sfsim(cli::sfsim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => cli::demo::run(args).await,
            Command::Serve(args) => cli::serve::run(args).await,
            Command::Sync(args) => cli::sync::run(args).await,
            Command::Check(args) => cli::check::run(args).await,
            Command::Fields(args) => cli::fields::run(args).await,
            Command::SetupOrg(args) => cli::setup_org::run(args).await,
            Command::Token(command) => cli::token::run(command).await,
            Command::User(command) => cli::user::run(command).await,
            Command::Sfsim(args) => cli::sfsim::run(args).await,
        }
    })
}
