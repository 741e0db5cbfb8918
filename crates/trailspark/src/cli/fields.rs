//! `trailspark fields`: an object's fields as the integration user sees them (label, API
//! name, type, length, writable), to pick the names for the field mapping.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use delivery::SObject;

use super::common::{EXIT_CANNOT_START, connect, load_config, print_error};

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (TOML) with [integrations.NAME].
    #[arg(long)]
    pub config: PathBuf,
    /// Which [integrations.NAME] to use.
    #[arg(long)]
    pub integration: String,
    /// Lead, Contact or Account.
    #[arg(long, value_parser = ["Lead", "Contact", "Account"], ignore_case = true)]
    pub object: String,
}

pub async fn run(args: Args) -> ExitCode {
    match fields(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::from(EXIT_CANNOT_START)
        }
    }
}

async fn fields(args: Args) -> Result<()> {
    let config = load_config(&args.config)?;
    let integ = config.integrations.get(&args.integration).ok_or_else(|| {
        anyhow!(
            "{}: integrations.{}: no such table (defined: {})",
            args.config.display(),
            args.integration,
            config
                .integrations
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let object = SObject::parse(&args.object)
        .ok_or_else(|| anyhow!("--object must be Lead, Contact or Account"))?;
    let client = connect(integ).await?;
    let d = client
        .describe(object.as_str())
        .await
        .map_err(|e| anyhow!("cannot read the {} object's fields: {e}", object.as_str()))?;
    let rows: Vec<[String; 5]> = d
        .fields
        .iter()
        .map(|f| {
            let writable = match (f.updateable && !f.calculated, f.createable && !f.calculated) {
                (true, true) => "yes",
                (true, false) => "update only",
                (false, true) => "create only",
                (false, false) => "no",
            };
            [
                f.label.clone(),
                f.name.clone(),
                f.field_type.as_str().to_string(),
                if f.length > 0 {
                    f.length.to_string()
                } else {
                    String::new()
                },
                writable.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["LABEL", "API NAME", "TYPE", "LENGTH", "WRITABLE"], &rows)
    );
    Ok(())
}

/// Left-aligned columns separated by two spaces.
fn table(header: &[&str; 5], rows: &[[String; 5]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}
