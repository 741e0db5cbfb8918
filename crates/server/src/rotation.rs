//! Refresh tokens the org rotated, kept sealed in the database so a restart or another
//! process signs in with the current one (docs/configuration.md#refresh-token-rotation).
//! With Salesforce's Refresh Token Rotation every refresh answers a new refresh token and
//! retires the one used; a client that forgot the new one could never sign in again.
//!
//! - A connection made from the web app keeps it in its row, in place of the old one.
//! - A config-file integration keeps it as a setting, together with a hash of the token
//!   configured (the environment variable's): configuring a new token starts afresh instead
//!   of being overridden by one rotated from an older token.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use salesforce::{ExposeSecret as _, RefreshTokenStore, RefreshTokens, SecretString};
use serde_json::json;
use store::Store;

use crate::integrations::refresh_token_purpose;
use crate::secrets::SecretBox;

/// The setting holding a config-file integration's rotated token.
pub fn setting_key(name: &str) -> String {
    format!("integration:{name}:rotated_refresh_token")
}

fn config_purpose(name: &str) -> String {
    format!("integration:{name}:rotated_refresh_token")
}

/// A web-app connection's tokens: its row's.
pub fn for_connection(store: Arc<dyn Store>, secrets: Arc<SecretBox>, name: &str) -> RefreshTokens {
    RefreshTokens(Arc::new(InRow {
        store,
        secrets,
        name: name.to_owned(),
    }))
}

/// A config-file integration's tokens: a setting, per configured token.
pub fn for_config(store: Arc<dyn Store>, secrets: Arc<SecretBox>, name: &str) -> RefreshTokens {
    RefreshTokens(Arc::new(InSetting {
        store,
        secrets,
        name: name.to_owned(),
    }))
}

struct InRow {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
    name: String,
}

impl RefreshTokenStore for InRow {
    fn load<'a>(&'a self, _configured: &'a SecretString) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move {
            let row = match self.store.get_connection(&self.name).await {
                Ok(row) => row?,
                Err(e) => {
                    tracing::warn!(integration = %self.name, error = %e, "cannot read the stored refresh token");
                    return None;
                }
            };
            let sealed = row.refresh_token_enc?;
            self.secrets
                .open(&refresh_token_purpose(&self.name), &sealed)
                .inspect_err(|e| tracing::warn!(integration = %self.name, error = %e, "cannot open the stored refresh token"))
                .ok()
        })
    }

    fn save<'a>(
        &'a self,
        _configured: &'a SecretString,
        rotated: &'a SecretString,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let sealed = self
                .secrets
                .seal(&refresh_token_purpose(&self.name), rotated.expose_secret());
            match self
                .store
                .set_connection_refresh_token(&self.name, &sealed)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(integration = %self.name, "the connection was removed: its rotated refresh token is not kept")
                }
                Err(e) => {
                    tracing::error!(integration = %self.name, error = %e, "cannot keep the rotated refresh token: a restart will need the org connected again")
                }
            }
        })
    }
}

struct InSetting {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
    name: String,
}

impl RefreshTokenStore for InSetting {
    fn load<'a>(&'a self, configured: &'a SecretString) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move {
            let v = match self.store.get_setting(&setting_key(&self.name)).await {
                Ok(v) => v?,
                Err(e) => {
                    tracing::warn!(integration = %self.name, error = %e, "cannot read the kept refresh token");
                    return None;
                }
            };
            let origin = store::hash_token(configured.expose_secret());
            if v["origin"].as_str() != Some(origin.as_str()) {
                // Rotated from another configured token: the configured one is newer.
                return None;
            }
            self.secrets
                .open(&config_purpose(&self.name), v["sealed"].as_str()?)
                .inspect_err(|e| tracing::warn!(integration = %self.name, error = %e, "cannot open the kept refresh token"))
                .ok()
        })
    }

    fn save<'a>(
        &'a self,
        configured: &'a SecretString,
        rotated: &'a SecretString,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let value = json!({
                "origin": store::hash_token(configured.expose_secret()),
                "sealed": self.secrets.seal(&config_purpose(&self.name), rotated.expose_secret()),
            });
            if let Err(e) = self
                .store
                .put_setting(&setting_key(&self.name), &value)
                .await
            {
                tracing::error!(integration = %self.name, error = %e, "cannot keep the rotated refresh token: a restart will need a new one configured");
            }
        })
    }
}

/// Where a sign-in made before its connection is stored (the OAuth callback's first) keeps
/// a rotated token: in memory until [`Caught::hand_over`] names the stored place, then
/// there, so the row is written with the current token and later rotations reach it.
#[derive(Default)]
pub struct Caught {
    latest: Mutex<Option<SecretString>>,
    then: Mutex<Option<RefreshTokens>>,
}

impl Caught {
    /// The token rotated so far, if any.
    pub fn latest(&self) -> Option<SecretString> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// From now on, tokens are kept by `to`.
    pub fn hand_over(&self, to: RefreshTokens) {
        *self.then.lock().unwrap_or_else(|p| p.into_inner()) = Some(to);
    }

    fn delegate(&self) -> Option<RefreshTokens> {
        self.then.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl RefreshTokenStore for Caught {
    fn load<'a>(&'a self, configured: &'a SecretString) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move {
            match self.delegate() {
                Some(d) => d.0.load(configured).await,
                None => self.latest(),
            }
        })
    }

    fn save<'a>(
        &'a self,
        configured: &'a SecretString,
        rotated: &'a SecretString,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match self.delegate() {
                Some(d) => d.0.save(configured, rotated).await,
                None => {
                    *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(rotated.clone());
                }
            }
        })
    }
}
