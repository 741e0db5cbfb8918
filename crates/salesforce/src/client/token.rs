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
        tracing::info!("Salesforce session expired; requesting a new access token");
        let token = request_token_with_retry(
            &self.inner.http,
            &self.inner.cfg,
            &self.inner.counters,
            rotated.as_ref(),
            false,
        )
        .await?;
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
        }
        s.generation += 1;
        Ok(())
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
