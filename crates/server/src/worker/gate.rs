//! Drives the destination's [`Pause`] with real time: batches report org-wide trouble
//! here, loops wait here before leasing, and while paused one loop at a time sends one
//! cheap probe (`GET /limits`, which also refreshes the org's API usage) when it is due.
//! Every change is published once: the integration's status, `/metrics`, the service log.

use std::time::Duration;

use delivery::write::kind_of;
use salesforce::Failure;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::pause::{Change, Pause, ProbePolicy, Why};
use super::{WorkerContext, stopped};
use crate::integrations::{Integration, Status};
use crate::metrics::Metrics;

/// Shared by the loops of one destination.
pub(super) struct Gate {
    pause: std::sync::Mutex<Pause>,
    /// Held by the loop sending the probe, so only one is sent.
    probing: Mutex<()>,
}

impl Gate {
    pub(super) fn new(policy: ProbePolicy) -> Gate {
        Gate {
            pause: std::sync::Mutex::new(Pause::new(policy)),
            probing: Mutex::new(()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Pause) -> T) -> T {
        let mut p = self
            .pause
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut p)
    }

    pub(super) fn is_paused(&self) -> bool {
        self.with(|p| p.is_paused())
    }

    /// A batch met org-wide trouble.
    pub(super) fn trouble(
        &self,
        why: Why,
        retry_after: Option<Duration>,
        integration: &Integration,
        metrics: &Metrics,
    ) {
        let change = self.with(|p| p.trouble(why, retry_after, Instant::now()));
        self.publish(change, integration, metrics);
    }

    /// Returns when delivery may proceed (false: shutdown asked while paused).
    pub(super) async fn wait(
        &self,
        ctx: &WorkerContext,
        integration: &Integration,
        client: &salesforce::Client,
    ) -> bool {
        let limit = integration.pause_at_api_usage;
        let mut shutdown = ctx.shutdown.clone();
        loop {
            let over_share = client
                .api_usage()
                .is_some_and(|u| u.max > 0 && (u.used as f64 / u.max as f64) >= limit);
            if over_share && !self.is_paused() {
                self.trouble(Why::UsageShare, None, integration, &ctx.metrics);
            }
            let (due, next) = self.with(|p| (p.probe_due(Instant::now()), p.next_probe()));
            let Some(next) = next else {
                return true;
            };
            if due && let Ok(_probing) = self.probing.try_lock() {
                // Another loop's probe may have answered between the look and the lock
                // (a 429 asking for a wait): probe only if one is still due.
                if self.with(|p| p.probe_due(Instant::now())) {
                    self.probe(client, integration, &ctx.metrics, limit).await;
                }
                continue;
            }
            let wake = next.min(Instant::now() + Duration::from_millis(250));
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = stopped(&mut shutdown) => return false,
            }
        }
    }

    /// One probe: `/limits` answers (with room in the daily allocation) or it does not.
    async fn probe(
        &self,
        client: &salesforce::Client,
        integration: &Integration,
        metrics: &Metrics,
        limit: f64,
    ) {
        let result = client.limits().await;
        let now = Instant::now();
        let change = match result {
            Ok(l) => match l.daily_api_requests() {
                Some(d) if d.remaining == 0 => {
                    self.with(|p| p.probe_failed(Why::RequestLimit, None, now))
                }
                Some(d) if d.max > 0 && (d.max - d.remaining) as f64 / d.max as f64 >= limit => {
                    self.with(|p| p.probe_failed(Why::UsageShare, None, now))
                }
                _ => self.with(|p| p.recovered(now)),
            },
            Err(e) => {
                let failure = e.failure();
                let retry_after = match failure {
                    Failure::Throttled { retry_after } => retry_after,
                    _ => None,
                };
                match Why::from_kind(kind_of(failure)) {
                    Some(why) => self.with(|p| p.probe_failed(why, retry_after, now)),
                    None => {
                        if kind_of(failure) == domain::FailureKind::SignedOut {
                            integration.sign_out(e.to_string());
                        } else {
                            tracing::debug!(error = %e, "probe failed for a reason of its own; resuming");
                        }
                        self.with(|p| p.recovered(now))
                    }
                }
            }
        };
        self.publish(change, integration, metrics);
    }

    /// Shows a change (and the next probe's time, which changes silently).
    fn publish(&self, change: Option<Change>, integration: &Integration, metrics: &Metrics) {
        let state = self.with(|p| p.state);
        if let super::pause::State::Paused {
            why,
            since,
            next_probe,
            ..
        } = state
        {
            let at = |i: Instant| {
                let now = Instant::now();
                let wall = OffsetDateTime::now_utc();
                if i >= now {
                    wall + (i - now)
                } else {
                    wall - (now - i)
                }
            };
            integration.set_status(Status::Paused {
                reason: why.describe().to_string(),
                why: why.as_str(),
                since: at(since),
                next_probe: Some(at(next_probe)),
            });
        }
        match change {
            Some(Change::Paused(why)) => {
                metrics.pause_started(why.as_str());
                tracing::warn!(integration = %integration.name, why = why.as_str(), reason = why.describe(), "delivery paused: deliveries stay queued without spending attempts; probing until the org is back");
            }
            Some(Change::Now(why)) => {
                tracing::warn!(integration = %integration.name, why = why.as_str(), reason = why.describe(), "delivery still paused, for another reason");
            }
            Some(Change::Resumed(after)) => {
                tracing::info!(integration = %integration.name, paused_for = ?after, "delivery resumed");
                if matches!(integration.status(), Status::Paused { .. }) {
                    integration.set_status(Status::Connected);
                }
            }
            None => {}
        }
    }
}
