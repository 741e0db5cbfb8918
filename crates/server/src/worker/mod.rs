//! Delivery workers: per destination, loops that lease batches of due deliveries from the
//! store, deliver them through `delivery::Destination`, and record the outcomes.
//!
//! - Latency vs batching: a worker sleeps until woken by an ingest ([`Notify`], same
//!   process) or a short poll tick (other processes' ingests); after a wake it lingers
//!   briefly so company can arrive, and while a backlog exists it takes full batches back
//!   to back without waiting.
//! - Exclusivity comes from the store's leases (`SKIP LOCKED` on PostgreSQL); a lease is
//!   extended every third of its length while a long batch runs, and a crashed worker's
//!   leases expire and are taken over, so several processes may share one database.
//! - Fencing: a worker writes only while it holds its lease. A [`LeaseGuard`] is checked
//!   before every write request; it drops when the lease's time is up by this process's
//!   clock (a stall) or an extension fails or comes back short, and the unwritten deliveries
//!   are handed back. Results carry the lease's token, and the store applies only the
//!   current lease's (`store::Store::complete`).
//! - Floods: after a full lease the next one may take up to `max_batch_size`, so lookups
//!   are filled and Composite writes full; while evaluations keep pouring in, one loop at
//!   a time gathers them first (`flood.rs`); a lone evaluation still leaves after `linger`.
//! - Org-wide trouble (`pause.rs`, `gate.rs`): the org unavailable, throttled, out of
//!   requests, or past `pause_at_api_usage` pauses the destination as a whole; affected
//!   deliveries are released without spending an attempt, nothing is leased while paused,
//!   and one probe at growing intervals tells when to resume. A refused sign-in waits for a
//!   reconnect (`resolver.rs`). Only a record's own transient trouble is retried per
//!   delivery (`record.rs`, the store's backoff).
//! - Shutdown: no new leases; an in-flight batch gets a grace period to finish, then its
//!   leases are released so another worker takes them at once.

mod flood;
mod gate;
pub mod pause;
mod record;
mod resolver;
mod retried;

use std::sync::Arc;
use std::time::Duration;

use delivery::{DeliverOptions, Destination, LeaseGuard};
use domain::{
    DestinationSettings, Evaluation, Outcome, Reason, Report, WorkerSettings, describe_errors,
};
use serde_json::Value;
use store::{DeliveryId, LeasedDelivery, RetryPolicy, Store};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::integrations::{Connector, Integrations};
use crate::metrics::Metrics;
use crate::secrets::SecretBox;
use flood::{Flood, Turn};
use gate::Gate;
use pause::ProbePolicy;
use record::record;
use resolver::{Resolver, Target};

/// The destination name deliveries are queued under (the `[destinations.salesforce]` table).
pub const SALESFORCE: &str = "salesforce";

/// The largest lease a worker takes while a backlog waits (`trailspark sync`'s default batch).
pub const MAX_BATCH_SIZE: usize = 5_000;

/// How workers batch, lease, retry and pause.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Deliveries per lease: `[server.worker] batch_size`, 1,000 unless configured
    /// (`domain::WorkerSettings` says why).
    pub batch_size: usize,
    /// Deliveries per lease while a backlog waits (the last lease came back full).
    pub max_batch_size: usize,
    /// During a flood (a lease came back full less than this ago), how long one loop
    /// gathers before its large lease; zero: never.
    pub flood_gather: Duration,
    /// After a wake-up, how long a worker waits for more evaluations before leasing.
    pub linger: Duration,
    /// Batch loops per destination in this process.
    pub concurrency: usize,
    /// How often an idle worker looks for work that no wake-up announced.
    pub poll_interval: Duration,
    /// Lease length; extended every third of it while a batch is in flight.
    pub lease_for: Duration,
    /// While paused: when to probe the org (`daily_recheck` for the daily limit).
    pub probe: ProbePolicy,
    /// How long an in-flight batch may run on after shutdown was asked.
    pub shutdown_grace: Duration,
    /// Backoff and attempts for transient failures.
    pub retry: RetryPolicy,
    /// Delay before signing in again after a failed connection.
    pub reconnect_after: Duration,
}

impl WorkerOptions {
    pub fn from_settings(w: &WorkerSettings) -> WorkerOptions {
        WorkerOptions {
            batch_size: w.batch_size.max(1),
            max_batch_size: MAX_BATCH_SIZE.max(w.batch_size),
            flood_gather: Duration::from_secs(1),
            linger: Duration::from_millis(w.linger_ms),
            concurrency: w.concurrency.max(1),
            poll_interval: Duration::from_millis(150),
            lease_for: Duration::from_secs(60),
            probe: ProbePolicy::default(),
            shutdown_grace: Duration::from_secs(20),
            retry: RetryPolicy {
                max_attempts: w.max_attempts.max(1),
                ..RetryPolicy::default()
            },
            reconnect_after: Duration::from_secs(5),
        }
    }

    /// Operational knobs that have no config key, from the environment (tests and
    /// operators tuning a deployment): `TRAILSPARK_LEASE_MS`, `TRAILSPARK_POLL_MS`,
    /// `TRAILSPARK_PAUSE_RECHECK_MS` (the daily limit's recheck), `TRAILSPARK_PROBE_FIRST_MS`
    /// and `TRAILSPARK_PROBE_MAX_MS` (probing while paused for other trouble),
    /// `TRAILSPARK_MAX_BATCH` (the largest lease), `TRAILSPARK_FLOOD_GATHER_MS` (0: never
    /// gather), `TRAILSPARK_RETRY_BASE_MS`,
    /// `TRAILSPARK_SHUTDOWN_GRACE_MS`.
    pub fn with_env_overrides(mut self) -> WorkerOptions {
        let ms = |var: &str| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        if let Some(d) = ms("TRAILSPARK_LEASE_MS") {
            self.lease_for = d.max(Duration::from_millis(300));
        }
        if let Some(d) = ms("TRAILSPARK_POLL_MS") {
            self.poll_interval = d.max(Duration::from_millis(10));
        }
        if let Some(d) = ms("TRAILSPARK_PAUSE_RECHECK_MS") {
            self.probe.daily_recheck = d.max(Duration::from_millis(10));
        }
        if let Some(d) = ms("TRAILSPARK_PROBE_FIRST_MS") {
            self.probe.first = d.max(Duration::from_millis(10));
        }
        if let Some(d) = ms("TRAILSPARK_PROBE_MAX_MS") {
            self.probe.max = d.max(self.probe.first);
        }
        if let Some(n) = std::env::var("TRAILSPARK_MAX_BATCH")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            self.max_batch_size = n.max(self.batch_size);
        }
        if let Some(d) = ms("TRAILSPARK_FLOOD_GATHER_MS") {
            self.flood_gather = d;
        }
        if let Some(d) = ms("TRAILSPARK_RETRY_BASE_MS") {
            self.retry.backoff.base = d;
        }
        if let Some(d) = ms("TRAILSPARK_SHUTDOWN_GRACE_MS") {
            self.shutdown_grace = d;
        }
        self
    }
}

/// What the workers of one process share.
#[derive(Clone)]
pub struct WorkerContext {
    pub store: Arc<dyn Store>,
    pub notify: Arc<Notify>,
    pub metrics: Arc<Metrics>,
    pub options: WorkerOptions,
    pub connector: Connector,
    pub integrations: Integrations,
    pub secrets: Arc<SecretBox>,
    /// `[destinations.salesforce]` of the config file; `None`: the saved settings.
    pub config_destination: Option<Arc<DestinationSettings>>,
    pub shutdown: watch::Receiver<bool>,
    /// Identifies this process in lease owners (`<pid>-<random>`).
    pub process_tag: String,
}

/// The store setting a retry request writes, so every worker re-reads the org's field
/// metadata before its next batch (the admin may just have fixed a field in Salesforce).
pub const METADATA_REFRESH_KEY: &str = "salesforce.metadata_refresh_requested";

/// Runs the workers of the destination until shutdown.
pub async fn run_destination(ctx: WorkerContext) {
    let resolver = Arc::new(Resolver::new(ctx.clone()));
    let gate = Arc::new(Gate::new(ctx.options.probe));
    let flood = Arc::new(Flood::new(ctx.options.flood_gather));
    let mut loops = Vec::new();
    for i in 0..ctx.options.concurrency {
        let worker = format!("{}-{SALESFORCE}-{i}", ctx.process_tag);
        loops.push(tokio::spawn(batch_loop(
            ctx.clone(),
            worker,
            resolver.clone(),
            gate.clone(),
            flood.clone(),
        )));
    }
    for l in loops {
        let _ = l.await;
    }
}

/// Resolves once shutdown has been asked.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// One batch loop: lease, deliver, complete, until shutdown.
async fn batch_loop(
    ctx: WorkerContext,
    worker: String,
    resolver: Arc<Resolver>,
    gate: Arc<Gate>,
    flood: Arc<Flood>,
) {
    let mut shutdown = ctx.shutdown.clone();
    let mut backlog = true; // look for work at once on start
    // The last lease came back with `max_batch_size`: a standing backlog, no gathering.
    let mut at_max = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if !backlog {
            // Idle: wait for an ingest in this process, a poll tick, or shutdown.
            let woken = tokio::select! {
                _ = ctx.notify.notified() => true,
                _ = tokio::time::sleep(ctx.options.poll_interval) => false,
                _ = stopped(&mut shutdown) => return,
            };
            if woken && !ctx.options.linger.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(ctx.options.linger) => {}
                    _ = stopped(&mut shutdown) => return,
                }
            }
        }
        let target = resolver.target().await;
        let destination = match &target {
            Target::Wait => {
                // Nothing leased: the deliveries keep their place and their attempts.
                tokio::select! {
                    _ = ctx.notify.notified() => {}
                    _ = tokio::time::sleep(ctx.options.reconnect_after) => {}
                    _ = stopped(&mut shutdown) => return,
                }
                backlog = true;
                continue;
            }
            Target::Disabled => None,
            Target::Deliver(dest, integration) => Some((dest.clone(), integration.clone())),
        };
        // After a pause the whole queue is due at once: it leaves in full batches.
        let resumed = destination.is_some() && gate.is_paused();
        if let Some((dest, integration)) = &destination
            && !gate.wait(&ctx, integration, dest.client()).await
        {
            return;
        }
        // Pouring in: one loop gathers, then leases large; the others leave it the queue.
        let turn = if at_max {
            Turn::Lease
        } else {
            tokio::select! {
                t = flood.turn(&ctx.notify) => t,
                _ = stopped(&mut shutdown) => return,
            }
        };
        if matches!(turn, Turn::Skip) {
            backlog = false;
            continue;
        }
        // A full lease last time means more is waiting: take a larger batch, so lookups
        // are filled and Composite writes full.
        let size = if backlog || resumed || matches!(turn, Turn::Gathered { .. }) {
            ctx.options.max_batch_size
        } else {
            ctx.options.batch_size
        };
        // Measured before asking, so the guard never outlives the lease the store grants.
        let asked = std::time::Instant::now();
        let leased = match ctx
            .store
            .lease_batch(SALESFORCE, size, ctx.options.lease_for, &worker)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot lease deliveries; retrying");
                backlog = false;
                continue;
            }
        };
        drop(turn);
        flood.leased(leased.len(), ctx.options.batch_size);
        at_max = leased.len() >= ctx.options.max_batch_size;
        if leased.is_empty() {
            backlog = false;
            continue;
        }
        backlog = leased.len() >= ctx.options.batch_size;
        // Paused by another loop's batch while this one waited for its lease: hand it back.
        if destination.is_some() && gate.is_paused() {
            let ids: Vec<DeliveryId> = leased.iter().map(|l| l.id).collect();
            if let Err(e) = ctx.store.release(&ids, &worker).await {
                tracing::error!(error = %e, "cannot release leases while paused (they will expire)");
            }
            backlog = true;
            continue;
        }
        let ids: Vec<DeliveryId> = leased.iter().map(|l| l.id).collect();
        tracing::debug!(%worker, count = leased.len(), "leased a batch");
        let reports = match &destination {
            None => Some(disabled_reports(&leased)),
            Some((dest, _)) => {
                let guard = LeaseGuard::for_lease(asked, ctx.options.lease_for);
                deliver_with_lease(&ctx, &worker, dest, &leased, &ids, guard).await
            }
        };
        let Some(reports) = reports else {
            // Shutdown grace ran out: hand the batch back for another worker.
            if let Err(e) = ctx.store.release(&ids, &worker).await {
                tracing::error!(error = %e, "cannot release leases at shutdown (they will expire)");
            }
            return;
        };
        let integration = destination.as_ref().map(|(_, i)| i.as_ref());
        record(&ctx, &worker, &leased, reports, &gate, integration).await;
    }
}

/// Delivers a leased batch, extending the lease while it runs; `guard` drops (and stops the
/// batch's writes) when an extension fails or returns fewer leases than held: the batch is
/// one lease to the guard, since which ones were lost is not known. `None` when shutdown's
/// grace period ended first (the batch was abandoned and must be released).
async fn deliver_with_lease(
    ctx: &WorkerContext,
    worker: &str,
    dest: &Destination,
    leased: &[LeasedDelivery],
    ids: &[DeliveryId],
    guard: LeaseGuard,
) -> Option<Vec<(DeliveryId, Report)>> {
    let mut parsed = Vec::new();
    let mut out: Vec<Option<Report>> = vec![None; leased.len()];
    let mut positions = Vec::new();
    for (i, l) in leased.iter().enumerate() {
        match Evaluation::parse_json(&l.payload) {
            Ok(e) => {
                parsed.push(e);
                positions.push(i);
            }
            // Stored evaluations were valid when accepted; one that no longer parses (a
            // rule changed between versions) is rejected rather than retried forever.
            Err(errors) => {
                out[i] = Some(Report::rejected(
                    &l.evaluation_id,
                    l.payload.get("email").and_then(Value::as_str).unwrap_or(""),
                    &describe_errors(&errors),
                ))
            }
        }
    }
    let opts = DeliverOptions {
        lease: Some(guard.clone()),
        ..DeliverOptions::default()
    };
    let mut shutdown = ctx.shutdown.clone();
    let fut = dest.deliver(&parsed, opts);
    tokio::pin!(fut);
    let extend_every = ctx.options.lease_for / 3;
    let mut tick = tokio::time::interval_at(Instant::now() + extend_every, extend_every);
    let mut deadline: Option<Instant> = None;
    let reports = loop {
        tokio::select! {
            r = &mut fut => break r,
            _ = tick.tick(), if guard.held() => {
                let at = std::time::Instant::now();
                match ctx.store.extend_lease(ids, worker, ctx.options.lease_for).await {
                    Ok(n) if (n as usize) < ids.len() => {
                        guard.lose();
                        tracing::warn!(%worker, held = n, of = ids.len(), "leases lost during a batch; its writes stop");
                    }
                    Ok(_) => guard.extended(at, ctx.options.lease_for),
                    Err(e) => {
                        guard.lose();
                        tracing::warn!(%worker, error = %e, "cannot extend leases; the batch's writes stop");
                    }
                }
            }
            _ = stopped(&mut shutdown), if deadline.is_none() => {
                deadline = Some(Instant::now() + ctx.options.shutdown_grace);
            }
            _ = sleep_until_opt(deadline), if deadline.is_some() => return None,
        }
    };
    for (report, pos) in reports.into_iter().zip(positions) {
        out[pos] = Some(report);
    }
    Some(
        leased
            .iter()
            .zip(out)
            .map(|(l, r)| {
                let r = r.unwrap_or_else(|| {
                    // `deliver` promises one report per evaluation; if it ever broke that
                    // promise the delivery must be retried, not lost.
                    let e =
                        domain::ReportError::from_code("INTERNAL", "no report for this evaluation")
                            .with_kind(domain::FailureKind::RecordTransient);
                    Report::failed(&l.evaluation_id, "", e)
                });
                (l.id, r)
            })
            .collect(),
    )
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The reports of a disabled destination: accepted, stored, and recorded as skipped.
fn disabled_reports(leased: &[LeasedDelivery]) -> Vec<(DeliveryId, Report)> {
    leased
        .iter()
        .map(|l| {
            let email = l.payload.get("email").and_then(Value::as_str).unwrap_or("");
            let email = email.trim().to_lowercase();
            (
                l.id,
                Report::new(&l.evaluation_id, &email, Outcome::Skipped)
                    .with_reason(Reason::DestinationDisabled),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_destination_skips_with_its_reason() {
        let leased = vec![LeasedDelivery {
            id: DeliveryId(7),
            token: store::LeaseToken(1),
            evaluation_id: "ev-1".into(),
            destination: SALESFORCE.into(),
            attempts: 0,
            lease_expires_at: time::OffsetDateTime::UNIX_EPOCH,
            payload: serde_json::json!({"email": " Ada@Example.com "}),
            received_at: time::OffsetDateTime::UNIX_EPOCH,
        }];
        let out = disabled_reports(&leased);
        assert_eq!(out[0].0, DeliveryId(7));
        assert_eq!(out[0].1.outcome, Outcome::Skipped);
        assert_eq!(out[0].1.reason, Some(Reason::DestinationDisabled));
        assert_eq!(out[0].1.email, "ada@example.com");
    }
}
