//! `trailspark user add|list|set-role|remove`: the people who sign in to the web app.
//! Passwords come from `TRAILSPARK_PASSWORD` or a prompt on a terminal (never a flag, which
//! would land in the shell history and the process list) and are stored as Argon2id
//! hashes. The last Owner can be neither removed nor demoted.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use serde_json::json;
use store::{NewAudit, StoreError, TokenRole};

use super::common::{EXIT_CANNOT_START, open_store, print_error};

/// The environment variable a new password is read from.
pub const PASSWORD_ENV: &str = "TRAILSPARK_PASSWORD";

#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a user (password from TRAILSPARK_PASSWORD, or asked for on a terminal).
    Add(AddArgs),
    /// List users (never their passwords).
    List(ConfigArg),
    /// Change a user's role.
    SetRole(SetRoleArgs),
    /// Remove a user (their sessions end at once).
    Remove(RemoveArgs),
}

#[derive(clap::Args)]
pub struct ConfigArg {
    /// The configuration file; its [server] database_url says where users are stored.
    #[arg(long)]
    pub config: PathBuf,
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// The configuration file; its [server] database_url says where users are stored.
    #[arg(long)]
    pub config: PathBuf,
    /// The email the user signs in with.
    #[arg(long)]
    pub email: String,
    /// owner, admin, editor or viewer.
    #[arg(long)]
    pub role: String,
}

#[derive(clap::Args)]
pub struct SetRoleArgs {
    /// The configuration file; its [server] database_url says where users are stored.
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub email: String,
    /// owner, admin, editor or viewer.
    #[arg(long)]
    pub role: String,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    /// The configuration file; its [server] database_url says where users are stored.
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub email: String,
}

pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Add(a) => add(a).await,
        Command::List(a) => list(a).await,
        Command::SetRole(a) => set_role(a).await,
        Command::Remove(a) => remove(a).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::from(EXIT_CANNOT_START)
        }
    }
}

fn parse_role(r: &str) -> Result<TokenRole> {
    match TokenRole::parse(&r.trim().to_lowercase()) {
        Some(TokenRole::Ingest) | None => Err(anyhow!(
            "--role: expected owner, admin, editor or viewer, got {r:?}"
        )),
        Some(role) => Ok(role),
    }
}

/// The new password: `TRAILSPARK_PASSWORD`, else typed twice on a terminal.
fn new_password() -> Result<String> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: set {PASSWORD_ENV}, or run on a terminal to be asked for one");
    }
    let p = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password again: ")?;
    if p != again {
        bail!("the two passwords differ");
    }
    Ok(p)
}

/// Who the audit log names for a command-line change: the operating-system user.
fn cli_actor() -> String {
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{who}")
}

pub async fn audit(
    store: &dyn store::Store,
    action: &str,
    target: &str,
    details: serde_json::Value,
) {
    let e = NewAudit {
        actor: cli_actor(),
        action: action.into(),
        target: Some(target.into()),
        details,
    };
    if let Err(err) = store.append_audit(e).await {
        eprintln!("warning: cannot write the audit log: {err}");
    }
}

async fn add(a: AddArgs) -> Result<()> {
    let email = domain::Email::parse(&a.email).map_err(|e| anyhow!("--email: {e}"))?;
    let role = parse_role(&a.role)?;
    let password = new_password()?;
    server::passwords::check_new(&password).map_err(|m| anyhow!("{m}"))?;
    let hash = server::passwords::hash(&password)?;
    let store = open_store(&a.config).await?;
    let user = match store.create_user(email.as_str(), &hash, role).await {
        Ok(u) => u,
        Err(StoreError::Conflict(_)) => {
            bail!("a user with the email {} already exists", email.as_str())
        }
        Err(e) => return Err(e.into()),
    };
    audit(
        store.as_ref(),
        "user.create",
        &user.email,
        json!({"role": role.as_str()}),
    )
    .await;
    eprintln!("added {} ({})", user.email, role.as_str());
    Ok(())
}

async fn list(a: ConfigArg) -> Result<()> {
    let store = open_store(&a.config).await?;
    for u in store.list_users().await? {
        println!(
            "{}\t{}\t{}",
            u.email,
            u.role.as_str(),
            u.last_sign_in_at
                .map(server::handlers::rfc3339)
                .unwrap_or_else(|| "never signed in".into())
        );
    }
    Ok(())
}

async fn find(store: &dyn store::Store, email: &str) -> Result<store::User> {
    store
        .find_user_by_email(email)
        .await?
        .ok_or_else(|| anyhow!("--email: no user {email}"))
}

async fn set_role(a: SetRoleArgs) -> Result<()> {
    let role = parse_role(&a.role)?;
    let store = open_store(&a.config).await?;
    let user = find(store.as_ref(), &a.email).await?;
    match store.set_user_role(&user.id, role).await {
        Ok(_) => {}
        Err(StoreError::LastOwner) => bail!(
            "{} is the last owner: make another user owner first",
            user.email
        ),
        Err(e) => return Err(e.into()),
    }
    audit(
        store.as_ref(),
        "user.set_role",
        &user.email,
        json!({"from": user.role.as_str(), "to": role.as_str()}),
    )
    .await;
    eprintln!("{} is now {}", user.email, role.as_str());
    Ok(())
}

async fn remove(a: RemoveArgs) -> Result<()> {
    let store = open_store(&a.config).await?;
    let user = find(store.as_ref(), &a.email).await?;
    match store.remove_user(&user.id).await {
        Ok(_) => {}
        Err(StoreError::LastOwner) => {
            bail!("{} is the last owner and cannot be removed", user.email)
        }
        Err(e) => return Err(e.into()),
    }
    audit(store.as_ref(), "user.remove", &user.email, json!({})).await;
    eprintln!("removed {}", user.email);
    Ok(())
}
