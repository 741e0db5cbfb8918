//! `trailspark check`: preflight of `[destinations.salesforce]` against the org's live
//! metadata. Exit 0 when good; 1 with one line per problem and its fix (a disabled
//! destination is one, listed first); 2 when the config itself cannot be read. `note:`
//! lines say what the org could add (the person-key field) and never fail the check.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;

use super::common::{EXIT_CANNOT_START, EXIT_PROBLEMS, connect, load_config, print_error};

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (TOML) with [integrations.NAME] and [destinations.salesforce].
    #[arg(long)]
    pub config: PathBuf,
}

pub async fn run(args: Args) -> ExitCode {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(EXIT_CANNOT_START);
        }
    };
    let origin = args.config.display().to_string();
    let (dest, integ) = match config.destination_with_integration(&origin) {
        Ok(x) => x,
        Err(e) => {
            print_error(&anyhow!("{e}"));
            return ExitCode::from(EXIT_CANNOT_START);
        }
    };
    let (problems, notes) = match connect(integ).await {
        Ok(client) => delivery::check::check_with_notes(dest, &client).await,
        Err(e) => {
            // As `delivery::check` orders them: a disabled destination first.
            let mut problems: Vec<_> = delivery::check::disabled_problem(dest)
                .into_iter()
                .collect();
            problems.push(match e.downcast_ref::<salesforce::Error>() {
                // The integration does not authenticate: one problem line with the fix.
                Some(sf) => delivery::check::auth_problem(&integ.name, sf),
                None => delivery::Problem {
                    key: format!("integrations.{}", integ.name),
                    code: delivery::check::codes::INTEGRATION_NOT_CONNECTED.into(),
                    message: format!("{e:#}"),
                    fix: "set the environment variables and files the integration names, then run check again".into(),
                },
            });
            (problems, Vec::new())
        }
    };
    if problems.is_empty() {
        println!(
            "ok: [destinations.salesforce] (enabled) matches the org of [integrations.{}]: every mapped field exists, has a compatible type and is writable",
            integ.name
        );
        for n in &notes {
            println!("note: {n}");
        }
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            println!("{p}");
        }
        for n in &notes {
            println!("note: {n}");
        }
        eprintln!(
            "{} problem{} found",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        ExitCode::from(EXIT_PROBLEMS)
    }
}
