//! `trailspark token create|revoke|list`: API tokens for the HTTP API. A token's secret is
//! printed once at creation; only its SHA-256 is stored.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use store::TokenRole;

use super::common::{EXIT_CANNOT_START, EXIT_PROBLEMS, open_store, print_error};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a token and print it (once; it cannot be shown again).
    Create(CreateArgs),
    /// Revoke a token by name or id; requests with it are refused from then on.
    Revoke(RevokeArgs),
    /// List tokens (never their secrets).
    List(ListArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The configuration file; its [server] database_url says where tokens are stored.
    #[arg(long)]
    pub config: PathBuf,
    /// A name to recognise the token by (e.g. the system that uses it).
    #[arg(long)]
    pub name: String,
    /// owner, admin, editor or viewer.
    #[arg(long, required_unless_present = "scope", conflicts_with = "scope")]
    pub role: Option<String>,
    /// `ingest`: may only post evaluations.
    #[arg(long)]
    pub scope: Option<String>,
}

#[derive(clap::Args)]
pub struct RevokeArgs {
    /// The configuration file; its [server] database_url says where tokens are stored.
    #[arg(long)]
    pub config: PathBuf,
    /// The name the token was created with (every token of that name is revoked).
    #[arg(long, required_unless_present = "id", conflicts_with = "id")]
    pub name: Option<String>,
    /// The token's id, as `token list` shows it.
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// The configuration file; its [server] database_url says where tokens are stored.
    #[arg(long)]
    pub config: PathBuf,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Create(a) => create(a).await,
        Command::Revoke(a) => revoke(a).await,
        Command::List(a) => list(a).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            ExitCode::from(EXIT_CANNOT_START)
        }
    }
}

fn parse_role(role: Option<&str>, scope: Option<&str>) -> Result<TokenRole> {
    match (role, scope) {
        (_, Some("ingest")) => Ok(TokenRole::Ingest),
        (_, Some(other)) => bail!("--scope: the only scope is \"ingest\", got {other:?}"),
        (Some(r), None) => match TokenRole::parse(&r.to_lowercase()) {
            Some(TokenRole::Ingest) | None => Err(anyhow!(
                "--role: expected owner, admin, editor or viewer, got {r:?} (use --scope ingest for an ingest-only token)"
            )),
            Some(role) => Ok(role),
        },
        (None, None) => bail!("give --role or --scope"),
    }
}

async fn create(a: CreateArgs) -> Result<ExitCode> {
    let role = parse_role(a.role.as_deref(), a.scope.as_deref())?;
    if a.name.trim().is_empty() {
        bail!("--name: must not be empty");
    }
    let store = open_store(&a.config).await?;
    let created = store.create_token(a.name.trim(), role).await?;
    super::user::audit(
        store.as_ref(),
        "token.create",
        &created.token.name,
        serde_json::json!({"id": created.token.id, "role": role.as_str()}),
    )
    .await;
    eprintln!(
        "created token {:?} (id {}, role {}); it is shown only now:",
        created.token.name,
        created.token.id,
        role.as_str()
    );
    println!("{}", created.secret);
    Ok(ExitCode::SUCCESS)
}

async fn revoke(a: RevokeArgs) -> Result<ExitCode> {
    let store = open_store(&a.config).await?;
    let active: Vec<_> = store
        .list_tokens()
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .collect();
    let targets: Vec<String> = match (&a.id, &a.name) {
        (Some(id), _) => vec![id.clone()],
        (None, Some(name)) => active
            .iter()
            .filter(|t| &t.name == name)
            .map(|t| t.id.clone())
            .collect(),
        (None, None) => bail!("give --name or --id"),
    };
    let mut revoked = 0;
    for id in &targets {
        if store.revoke_token(id).await? {
            revoked += 1;
            super::user::audit(store.as_ref(), "token.revoke", id, serde_json::json!({})).await;
        }
    }
    if revoked == 0 {
        eprintln!("no active token matches");
        return Ok(ExitCode::from(EXIT_PROBLEMS));
    }
    eprintln!("revoked {revoked} token(s)");
    Ok(ExitCode::SUCCESS)
}

async fn list(a: ListArgs) -> Result<ExitCode> {
    let store = open_store(&a.config).await?;
    let tokens = store.list_tokens().await?;
    let fmt = |t: Option<time::OffsetDateTime>| {
        t.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
    };
    if a.json {
        for t in &tokens {
            println!("{}", serde_json::to_string(t)?);
        }
    } else {
        println!(
            "{:<38} {:<24} {:<8} {:<26} {:<26}",
            "ID", "NAME", "ROLE", "CREATED", "REVOKED"
        );
        for t in &tokens {
            println!(
                "{:<38} {:<24} {:<8} {:<26} {:<26}",
                t.id,
                t.name,
                t.role.as_str(),
                fmt(Some(t.created_at)),
                fmt(t.revoked_at)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
