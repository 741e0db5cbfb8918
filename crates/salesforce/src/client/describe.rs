//! `describe`: an object's field metadata, fetched once per client and cached, and
//! revalidated on demand with `If-Modified-Since` (a 304 keeps the cached copy).

use std::sync::Arc;

use reqwest::header;

use super::request::{CallKind, Request};
use super::{CachedDescribe, Client, lock};
use crate::describe::SObjectDescribe;
use crate::error::Error;

impl Client {
    /// Field metadata of `object`, fetched once per client and cached (object names are
    /// case-insensitive).
    pub async fn describe(&self, object: &str) -> Result<Arc<SObjectDescribe>, Error> {
        if let Some(c) = lock(&self.inner.describes).get(&object.to_ascii_lowercase()) {
            return Ok(c.describe.clone());
        }
        self.fetch_describe(object, None).await
    }

    /// Re-validates the cached describe with `If-Modified-Since` (304 keeps the cached
    /// value: the same `Arc` comes back); fetches it when not cached.
    pub async fn describe_refresh(&self, object: &str) -> Result<Arc<SObjectDescribe>, Error> {
        let since = lock(&self.inner.describes)
            .get(&object.to_ascii_lowercase())
            .and_then(|c| c.last_modified.clone());
        self.fetch_describe(object, since).await
    }

    async fn fetch_describe(
        &self,
        object: &str,
        since: Option<String>,
    ) -> Result<Arc<SObjectDescribe>, Error> {
        if object.is_empty()
            || !object
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::InvalidRequest(format!(
                "`{object}` is not an sObject API name"
            )));
        }
        let key = object.to_ascii_lowercase();
        let path = format!(
            "{}/sobjects/{object}/describe",
            self.inner.cfg.api_version.data_path()
        );
        let mut headers = Vec::new();
        if let Some(s) = &since {
            headers.push((header::IF_MODIFIED_SINCE.as_str(), s.clone()));
        }
        let resp = self
            .send(&Request {
                headers,
                ..Request::get(&path, CallKind::Describe)
            })
            .await?;
        if resp.status == 304 {
            if let Some(c) = lock(&self.inner.describes).get(&key) {
                return Ok(c.describe.clone());
            }
            // A 304 without a cached copy can only answer a request we did not make
            // conditional.
            return Err(Error::Decode(format!(
                "304 Not Modified for the describe of `{object}`, which is not cached"
            )));
        }
        let describe: Arc<SObjectDescribe> = Arc::new(resp.json("describe")?);
        let last_modified = resp
            .headers
            .get(header::LAST_MODIFIED)
            .or_else(|| resp.headers.get(header::DATE))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        lock(&self.inner.describes).insert(
            key,
            CachedDescribe {
                describe: describe.clone(),
                last_modified,
            },
        );
        Ok(describe)
    }
}
