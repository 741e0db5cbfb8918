//! What a batch loop delivers to: the settings in force, the integration they name, and
//! a [`Destination`] built for them, kept while neither changes. While there is nothing
//! to deliver to (no settings, the org disconnected or its sign-in refused), the answer is
//! [`Target::Wait`]: deliveries stay queued, untouched, and the reason is shown once.

use std::sync::Arc;
use std::time::Duration;

use delivery::Destination;
use domain::DestinationSettings;
use serde_json::Value;
use tokio::sync::Mutex;

use super::{METADATA_REFRESH_KEY, WorkerContext};
use crate::current;
use crate::integrations::{Integration, Status};

/// What a batch loop delivers to right now.
#[derive(Clone)]
pub(super) enum Target {
    /// Nothing to deliver to yet (no settings saved, the org disconnected or unreachable):
    /// deliveries stay queued, untouched, and the reason is visible in the integration's
    /// status and the service log.
    Wait,
    /// The destination is switched off: deliveries are recorded as skipped.
    Disabled,
    Deliver(Arc<Destination>, Arc<Integration>),
}

/// Works out the [`Target`] from the settings in force and the integration they name,
/// keeping one [`Destination`] per settings version and connection (so its cached field
/// metadata survives from batch to batch), and rebuilding it when either changes.
pub(super) struct Resolver {
    ctx: WorkerContext,
    state: Mutex<ResolverState>,
}

#[derive(Default)]
pub(super) struct ResolverState {
    /// The destination built for (settings version, settings, integration).
    built: Option<Built>,
    /// The last metadata-refresh request seen.
    refresh_seen: Option<Value>,
    /// The last reason for waiting that was logged (each change is logged once).
    announced: Option<String>,
}

/// The destination built for one settings version, integration and signed-in client.
struct Built {
    version: i64,
    settings: DestinationSettings,
    integration: Arc<Integration>,
    client_epoch: u64,
    destination: Arc<Destination>,
}

impl Resolver {
    pub(super) fn new(ctx: WorkerContext) -> Resolver {
        Resolver {
            ctx,
            state: Mutex::new(ResolverState::default()),
        }
    }

    /// Worked out before every batch (a few small reads of the database), so a save, a
    /// retry or a disconnect in any process applies to the very next batch.
    pub(super) async fn target(&self) -> Target {
        let mut st = self.state.lock().await;
        self.resolve(&mut st).await
    }

    fn wait(st: &mut ResolverState, why: String) -> Target {
        if st.announced.as_deref() != Some(why.as_str()) {
            tracing::warn!(reason = %why, "not delivering: evaluations stay queued");
            st.announced = Some(why);
        }
        Target::Wait
    }

    async fn resolve(&self, st: &mut ResolverState) -> Target {
        let ctx = &self.ctx;
        if let Err(e) = ctx
            .integrations
            .sync_stored_if_older(ctx.store.as_ref(), Duration::from_secs(1))
            .await
        {
            return Self::wait(st, format!("cannot read the stored connections: {e}"));
        }
        let current =
            match current::current(ctx.store.as_ref(), ctx.config_destination.as_ref()).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return Self::wait(
                    st,
                    "no destination settings saved yet (Settings > CRM Integration > Destinations)"
                        .into(),
                );
                }
                Err(e) => {
                    return Self::wait(st, format!("cannot read the destination settings: {e:#}"));
                }
            };
        if !current.settings.enabled {
            if st.announced.as_deref() != Some("disabled") {
                tracing::info!(
                    "destination disabled: deliveries are recorded as skipped (destination_disabled)"
                );
                st.announced = Some("disabled".into());
            }
            return Target::Disabled;
        }
        let name = current.settings.integration.clone();
        let Some(integration) = ctx.integrations.get(&name) else {
            return Self::wait(
                st,
                format!("the destination names the integration {name:?}, which does not exist"),
            );
        };
        if integration.is_disconnected() {
            integration.set_status(Status::Disconnected);
            return Self::wait(
                st,
                format!("the integration {name} is disconnected: connect it again"),
            );
        }
        let client = match integration.client() {
            Some(c) => c,
            None => {
                integration.set_status(Status::Connecting);
                match integration
                    .connect(&ctx.connector, &ctx.secrets, &ctx.store)
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        let message = format!("{e:#}");
                        // A refused sign-in (revoked or expired refresh token) waits for a
                        // reconnect; other failures (the org down) are retried.
                        let refused = e
                            .chain()
                            .find_map(|c| c.downcast_ref::<salesforce::Error>())
                            .is_some_and(|e| e.failure() == salesforce::Failure::SignedOut);
                        integration.set_status(if refused {
                            Status::SignedOut {
                                message: format!(
                                    "Salesforce refused the sign-in ({message}): reconnect the org"
                                ),
                            }
                        } else {
                            Status::Error {
                                message: message.clone(),
                            }
                        });
                        return Self::wait(
                            st,
                            format!("cannot sign in to the integration {name}: {message}"),
                        );
                    }
                }
            }
        };
        if matches!(
            integration.status(),
            Status::Idle | Status::Connecting | Status::Error { .. } | Status::SignedOut { .. }
        ) {
            integration.set_status(Status::Connected);
        }
        if st.announced.take().is_some() {
            tracing::info!(integration = %name, "delivering");
        }
        let version = current.version_key();
        let epoch = integration.client_epoch();
        let reuse = st.built.as_ref().filter(|b| {
            b.version == version
                && b.settings == current.settings
                && Arc::ptr_eq(&b.integration, &integration)
                && b.client_epoch == epoch
        });
        let dest = match reuse {
            Some(b) => b.destination.clone(),
            None => {
                let destination = match Destination::new(current.settings.clone(), client).await {
                    Ok(d) => Arc::new(d),
                    Err(e) => return Self::wait(st, format!("cannot set up the destination: {e}")),
                };
                st.built = Some(Built {
                    version,
                    settings: current.settings,
                    integration: integration.clone(),
                    client_epoch: epoch,
                    destination: destination.clone(),
                });
                destination
            }
        };
        // A retry request asks every worker to look at the org's fields again.
        if let Ok(marker) = ctx.store.get_setting(METADATA_REFRESH_KEY).await
            && marker != st.refresh_seen
        {
            if (st.refresh_seen.is_some() || marker.is_some())
                && let Err(e) = dest.refresh_metadata().await
            {
                tracing::warn!(error = %e, "cannot re-read the org's field metadata");
            }
            st.refresh_seen = marker;
        }
        Target::Deliver(dest, integration)
    }
}
