//! Tokens: the first sign-in and the single-flight refresh after `INVALID_SESSION_ID`,
//! each token request retried on transient failures like any other call (token requests
//! are counted apart: Salesforce does not count them as API calls).

use std::sync::atomic::Ordering;

use secrecy::SecretString;

use super::request::may_retry;
use super::{Client, Counters, read_session};
use crate::auth::{self, Token};
use crate::config::ClientConfig;
use crate::error::Error;

impl Client {
    /// Single-flight refresh: the first request to see an expired token fetches a new one
    /// while holding `refresh_lock`; the others wait on the lock, then see a newer
    /// generation and reuse that token instead of fetching again.
    pub(super) async fn refresh(&self, seen_generation: u64) -> Result<(), Error> {
        let _guard = self.inner.refresh_lock.lock().await;
        let rotated = {
            let s = read_session(&self.inner.session);
            if s.generation != seen_generation {
                return Ok(());
            }
            s.rotated_refresh_token.clone()
        };
        // Another process may have rotated the token since: the kept one is the current one.
        let rotated = kept_refresh_token(&self.inner.cfg).await.or(rotated);
        tracing::info!("Salesforce session expired; requesting a new access token");
        let token = request_token_with_retry(
            &self.inner.http,
            &self.inner.cfg,
            &self.inner.counters,
            rotated.as_ref(),
            false,
        )
        .await?;
        keep_rotated(&self.inner.cfg, token.refresh_token.as_ref()).await;
        let mut s = self
            .inner
            .session
            .write()
            .unwrap_or_else(|p| p.into_inner());
        s.access_token = token.access_token;
        s.instance_url = token.instance_url;
        if token.id_url.is_some() {
            s.id_url = token.id_url;
        }
        if token.refresh_token.is_some() {
            s.rotated_refresh_token = token.refresh_token;
        } else if rotated.is_some() {
            s.rotated_refresh_token = rotated;
        }
        s.generation += 1;
        Ok(())
    }
}

/// The refresh token kept by the configured [`crate::RefreshTokenStore`] for the
/// configured one, when there is a store and it holds one.
pub(super) async fn kept_refresh_token(cfg: &ClientConfig) -> Option<SecretString> {
    match (&cfg.auth, &cfg.refresh_tokens) {
        (crate::TokenSource::RefreshToken { refresh_token, .. }, Some(store)) => {
            store.0.load(refresh_token).await
        }
        _ => None,
    }
}

/// Hands a token the org rotated to the configured store.
pub(super) async fn keep_rotated(cfg: &ClientConfig, rotated: Option<&SecretString>) {
    if let (crate::TokenSource::RefreshToken { refresh_token, .. }, Some(store), Some(rotated)) =
        (&cfg.auth, &cfg.refresh_tokens, rotated)
    {
        tracing::info!("Salesforce rotated the refresh token; keeping the new one");
        store.0.save(refresh_token, rotated).await;
    }
}

pub(super) async fn request_token_with_retry(
    http: &reqwest::Client,
    cfg: &ClientConfig,
    counters: &Counters,
    rotated: Option<&SecretString>,
    initial: bool,
) -> Result<Token, Error> {
    let mut attempt = 1;
    loop {
        if !matches!(cfg.auth, crate::TokenSource::AccessToken { .. }) {
            counters.token.fetch_add(1, Ordering::Relaxed);
        }
        match auth::request_token(http, &cfg.auth, rotated, initial).await {
            Ok(t) => return Ok(t),
            Err(e) if may_retry(&cfg.retry, &e, attempt) => {
                let delay = cfg.retry.backoff.jittered(attempt);
                tracing::warn!(error = %e, attempt, ?delay, "token request failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
