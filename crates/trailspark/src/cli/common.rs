//! Shared by the commands: reading the config file and building a Salesforce client from an
//! `[integrations.NAME]` table (secrets read from the environment variables it names).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use domain::{AuthSettings, Config, IntegrationSettings};
use salesforce::{ApiVersion, Client, ClientConfig, LoginUrl, SecretString, TokenSource};

/// Exit code: nothing could be attempted (config, input file, authentication).
pub const EXIT_CANNOT_START: u8 = 2;
/// Exit code: some evaluations failed or were rejected / the check found problems.
pub const EXIT_PROBLEMS: u8 = 1;

/// Reads and parses the config file; the error text names the file, key and problem.
pub fn load_config(path: &Path) -> Result<Config> {
    Config::from_toml_file(path).map_err(|e| anyhow!("{e}"))
}

/// The secret in the environment variable `var`, or an error naming the variable and key.
fn secret_from_env(integration: &str, key: &str, var: &str) -> Result<SecretString> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_string())),
        _ => bail!(
            "integrations.{integration}.{key}: the environment variable {var} is not set (it must hold the secret)"
        ),
    }
}

/// Client settings for an integration: token source, API version, extra CA certificate.
pub fn client_config(i: &IntegrationSettings) -> Result<ClientConfig> {
    let name = &i.name;
    let login_url =
        || LoginUrl::parse(&i.login_url).map_err(|e| anyhow!("integrations.{name}.login_url: {e}"));
    let client_id = || {
        i.client_id.clone().ok_or_else(|| {
            anyhow!(
                "integrations.{name}.client_id: is required for auth = \"{}\"",
                i.auth.kind()
            )
        })
    };
    let auth = match &i.auth {
        AuthSettings::RefreshToken {
            refresh_token_env,
            client_secret_env,
        } => TokenSource::RefreshToken {
            login_url: login_url()?,
            client_id: client_id()?,
            client_secret: match client_secret_env {
                Some(var) => Some(secret_from_env(name, "client_secret_env", var)?),
                None => None,
            },
            refresh_token: secret_from_env(name, "refresh_token_env", refresh_token_env)?,
        },
        AuthSettings::Jwt {
            username,
            private_key_file,
        } => {
            let pem = std::fs::read_to_string(private_key_file).with_context(|| {
                format!(
                    "integrations.{name}.private_key_file: cannot read {}",
                    private_key_file.display()
                )
            })?;
            TokenSource::JwtBearer {
                login_url: login_url()?,
                client_id: client_id()?,
                username: username.clone(),
                private_key_pem: SecretString::from(pem),
                audience: None,
            }
        }
        AuthSettings::ClientCredentials { client_secret_env } => TokenSource::ClientCredentials {
            login_url: login_url()?,
            client_id: client_id()?,
            client_secret: secret_from_env(name, "client_secret_env", client_secret_env)?,
        },
        AuthSettings::AccessToken {
            instance_url,
            access_token_env,
        } => TokenSource::AccessToken {
            instance_url: instance_url.trim_end_matches('/').to_string(),
            access_token: secret_from_env(name, "access_token_env", access_token_env)?,
        },
    };
    let mut cfg = ClientConfig::new(auth);
    cfg.api_version = ApiVersion::parse(&i.api_version)
        .map_err(|e| anyhow!("integrations.{name}.api_version: {e}"))?;
    cfg.timeout = Duration::from_secs(120);
    if let Some(ca) = &i.ca_cert_file {
        let pem = std::fs::read(ca).with_context(|| {
            format!(
                "integrations.{name}.ca_cert_file: cannot read {}",
                ca.display()
            )
        })?;
        cfg.extra_root_certs_pem.push(pem);
    }
    Ok(cfg)
}

/// Connects (obtains the first token); the error says which integration could not sign in.
pub async fn connect(i: &IntegrationSettings) -> Result<Client> {
    connect_with(i, |_| {}).await
}

/// Like [`connect`], adjusting the client settings first (e.g. concurrency).
pub async fn connect_with(
    i: &IntegrationSettings,
    adjust: impl FnOnce(&mut ClientConfig),
) -> Result<Client> {
    let mut cfg = client_config(i)?;
    adjust(&mut cfg);
    Client::connect(cfg).await.map_err(|e| {
        anyhow::Error::new(e).context(format!(
            "integrations.{}: cannot sign in to Salesforce at {}",
            i.name, i.login_url
        ))
    })
}

/// Prints an error with its cause chain on stderr.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("error: {e:#}");
}

/// Opens (and migrates) the database the config file's `[server] database_url` names.
pub async fn open_store(config: &Path) -> Result<std::sync::Arc<dyn store::Store>> {
    let cfg = load_config(config)?;
    let settings = super::serve::settings_from(&cfg);
    store::open(&settings.database_url)
        .await
        .context("cannot open the database")
}
