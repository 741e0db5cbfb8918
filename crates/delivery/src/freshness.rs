//! Field metadata that is never stale for long. One snapshot of the Lead, Contact and
//! Account describes, shared by the destinations built for one org, is revalidated with
//! `If-Modified-Since` (an unchanged object answers 304 and keeps the client's cached
//! describe): when it is older than a max age, on demand (settings saved, a retry asked
//! for), and after Salesforce refused a batch over a field. A field created, removed or
//! changed in Salesforce is therefore seen within the max age, or at once when it breaks a
//! write.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use salesforce::Client;

use crate::destination::object_meta;
use crate::meta::{Metadata, SObject};

/// How long field metadata is trusted before the next batch revalidates it.
pub const DEFAULT_METADATA_MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// The field metadata of one org, shared by the [`crate::Destination`]s built for it (see
/// [`crate::Destination::with_metadata`]), so a destination built for changed settings
/// starts from what the previous one knew instead of describing again. Never share one
/// between orgs.
#[derive(Debug, Default)]
pub struct MetadataCache {
    state: Mutex<Option<Snapshot>>,
}

#[derive(Debug)]
struct Snapshot {
    metadata: Arc<Metadata>,
    /// The objects described (the others are empty in `metadata`).
    objects: BTreeSet<SObject>,
    /// When Salesforce last confirmed (200 or 304) every object.
    verified_at: Instant,
}

impl MetadataCache {
    pub fn new() -> Arc<MetadataCache> {
        Arc::new(MetadataCache::default())
    }

    /// Metadata covering `objects`: the snapshot when it covers them and is younger than
    /// `max_age`, otherwise revalidated first. A failed revalidation of a snapshot that
    /// covers them keeps the snapshot (stale metadata beats failing the batch; the next
    /// call tries again); a first load that fails is the error.
    pub(crate) async fn get(
        &self,
        client: &Client,
        objects: &[SObject],
        max_age: Duration,
    ) -> Result<Arc<Metadata>, salesforce::Error> {
        let mut state = self.state.lock().await;
        let covered = state
            .as_ref()
            .is_some_and(|s| objects.iter().all(|o| s.objects.contains(o)));
        if let Some(s) = state.as_ref().filter(|_| covered)
            && s.verified_at.elapsed() < max_age
        {
            return Ok(s.metadata.clone());
        }
        match revalidate(client, &mut state, objects).await {
            Ok((m, _)) => Ok(m),
            Err(e) if covered => {
                tracing::warn!(error = %e, "cannot revalidate field metadata; using what was described before");
                Ok(state
                    .as_ref()
                    .map(|s| s.metadata.clone())
                    .unwrap_or_default())
            }
            Err(e) => Err(e),
        }
    }

    /// Revalidates now: the metadata and whether it differs from the snapshot's.
    pub(crate) async fn refresh(
        &self,
        client: &Client,
        objects: &[SObject],
    ) -> Result<(Arc<Metadata>, bool), salesforce::Error> {
        let mut state = self.state.lock().await;
        revalidate(client, &mut state, objects).await
    }

    /// After a batch planned with `seen` (obtained at `since`) failed over a field: newer
    /// metadata when there is some, `None` when the org's metadata is what `seen` says.
    /// Concurrent batches of one destination share the work: a refresh that happened
    /// after `since` is not repeated.
    pub(crate) async fn refresh_after_field_error(
        &self,
        client: &Client,
        objects: &[SObject],
        seen: &Arc<Metadata>,
        since: Instant,
    ) -> Result<Option<Arc<Metadata>>, salesforce::Error> {
        let mut state = self.state.lock().await;
        if let Some(s) = state.as_ref() {
            if !Arc::ptr_eq(&s.metadata, seen) {
                return Ok(Some(s.metadata.clone()));
            }
            if s.verified_at > since {
                return Ok(None);
            }
        }
        let (m, changed) = revalidate(client, &mut state, objects).await?;
        Ok(changed.then_some(m))
    }
}

/// Describes every object of the snapshot and `objects` with `If-Modified-Since`, and
/// replaces the snapshot. An unchanged result keeps the snapshot's `Arc` (so callers can
/// tell "the same metadata" by pointer).
async fn revalidate(
    client: &Client,
    state: &mut Option<Snapshot>,
    objects: &[SObject],
) -> Result<(Arc<Metadata>, bool), salesforce::Error> {
    let mut all: BTreeSet<SObject> = objects.iter().copied().collect();
    if let Some(s) = state.as_ref() {
        all.extend(s.objects.iter().copied());
    }
    let mut fresh = Metadata::default();
    for &o in &all {
        let om = object_meta(&*client.describe_refresh(o.as_str()).await?);
        match o {
            SObject::Lead => fresh.lead = om,
            SObject::Contact => fresh.contact = om,
            SObject::Account => fresh.account = om,
        }
    }
    let (metadata, changed) = match state.take() {
        Some(prev) if *prev.metadata == fresh => (prev.metadata, false),
        Some(_) => {
            tracing::info!("field metadata changed in Salesforce; planning with the new describes");
            (Arc::new(fresh), true)
        }
        None => (Arc::new(fresh), true),
    };
    *state = Some(Snapshot {
        metadata: metadata.clone(),
        objects: all,
        verified_at: Instant::now(),
    });
    Ok((metadata, changed))
}
