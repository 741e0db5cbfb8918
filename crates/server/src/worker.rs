//! Delivery workers: per destination, loops that lease batches of due deliveries from the
//! store, deliver them through `delivery::Destination`, and record the outcomes.
//!
//! - Latency vs batching: a worker sleeps until woken by an ingest ([`Notify`], same
//!   process) or a short poll tick (other processes' ingests); after a wake it lingers
//!   briefly so company can arrive, and while a backlog exists it takes full batches back
//!   to back without waiting.
//! - Exclusivity comes from the store's leases (`SKIP LOCKED` on PostgreSQL); a lease is
//!   extended while a long batch runs, and a crashed worker's leases expire and are taken
//!   over, so several processes may share one database.
//! - The daily API limit: before each batch the org's usage (the last `Sforce-Limit-Info`)
//!   is compared with `pause_at_api_usage`; past it, or after `REQUEST_LIMIT_EXCEEDED`,
//!   delivery pauses and `limits()` is re-read periodically until there is room again.
//!   Deliveries refused for the limit are released, not failed: they cost no attempt.
//! - Shutdown: no new leases; an in-flight batch gets a grace period to finish, then its
//!   leases are released so another worker takes them at once.

use std::sync::Arc;
use std::time::Duration;

use delivery::{DeliverOptions, Destination};
use domain::{
    DestinationSettings, Evaluation, Outcome, Reason, Report, WorkerSettings, describe_errors,
};
use serde_json::Value;
use store::{DeliveryId, DeliveryResult, Disposition, LeasedDelivery, RetryPolicy, Store};
use tokio::sync::{Mutex, Notify, watch};
use tokio::time::Instant;

use crate::current;
use crate::integrations::{Connector, Integration, Integrations, Status};
use crate::metrics::Metrics;
use crate::secrets::SecretBox;

/// The destination name deliveries are queued under (the `[destinations.salesforce]` table).
pub const SALESFORCE: &str = "salesforce";

/// Salesforce's error code for the daily limit ([REST] errorcodes: 403 REQUEST_LIMIT_EXCEEDED).
const REQUEST_LIMIT_EXCEEDED: &str = "REQUEST_LIMIT_EXCEEDED";

/// How workers batch, lease, retry and pause.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Deliveries per lease: `[server.worker] batch_size`, 1,000 unless configured
    /// (`domain::WorkerSettings` says why).
    pub batch_size: usize,
    /// After a wake-up, how long a worker waits for more evaluations before leasing.
    pub linger: Duration,
    /// Batch loops per destination in this process.
    pub concurrency: usize,
    /// How often an idle worker looks for work that no wake-up announced.
    pub poll_interval: Duration,
    /// Lease length; extended every third of it while a batch is in flight.
    pub lease_for: Duration,
    /// While paused for the API limit, how often `limits()` is re-read.
    pub pause_recheck: Duration,
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
            linger: Duration::from_millis(w.linger_ms),
            concurrency: w.concurrency.max(1),
            poll_interval: Duration::from_millis(150),
            lease_for: Duration::from_secs(60),
            pause_recheck: Duration::from_secs(30),
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
    /// `TRAILSPARK_PAUSE_RECHECK_MS`, `TRAILSPARK_RETRY_BASE_MS`, `TRAILSPARK_SHUTDOWN_GRACE_MS`.
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
            self.pause_recheck = d;
        }
        if let Some(d) = ms("TRAILSPARK_RETRY_BASE_MS") {
            self.retry.base = d;
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
    let gate = Arc::new(PauseGate::default());
    let mut loops = Vec::new();
    for i in 0..ctx.options.concurrency {
        let worker = format!("{}-{SALESFORCE}-{i}", ctx.process_tag);
        loops.push(tokio::spawn(batch_loop(
            ctx.clone(),
            worker,
            resolver.clone(),
            gate.clone(),
        )));
    }
    for l in loops {
        let _ = l.await;
    }
}

/// What a batch loop delivers to right now.
#[derive(Clone)]
enum Target {
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
struct Resolver {
    ctx: WorkerContext,
    state: Mutex<ResolverState>,
}

#[derive(Default)]
struct ResolverState {
    /// The last answer and when it was worked out (reused for a moment).
    last: Option<(Instant, Target)>,
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

/// How long a worked-out target is reused before the settings are read again.
const RESOLVE_EVERY: Duration = Duration::from_millis(500);

impl Resolver {
    fn new(ctx: WorkerContext) -> Resolver {
        Resolver {
            ctx,
            state: Mutex::new(ResolverState::default()),
        }
    }

    async fn target(&self) -> Target {
        let mut st = self.state.lock().await;
        if let Some((at, t)) = &st.last
            && at.elapsed() < RESOLVE_EVERY
            && self.still_current(t)
        {
            return t.clone();
        }
        let t = self.resolve(&mut st).await;
        st.last = Some((Instant::now(), t.clone()));
        t
    }

    /// A remembered target stays usable only while its integration is still the registry's
    /// (a disconnect or reconnect in this process replaces it at once) and signed in.
    fn still_current(&self, t: &Target) -> bool {
        match t {
            Target::Deliver(_, i) => {
                i.client().is_some()
                    && self
                        .ctx
                        .integrations
                        .get(&i.name)
                        .is_some_and(|now| Arc::ptr_eq(&now, i))
            }
            Target::Wait | Target::Disabled => true,
        }
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
                match integration.connect(&ctx.connector, &ctx.secrets).await {
                    Ok(c) => c,
                    Err(e) => {
                        let message = format!("{e:#}");
                        integration.set_status(Status::Error {
                            message: message.clone(),
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
            Status::Idle | Status::Connecting | Status::Error { .. }
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

/// Resolves once shutdown has been asked.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Shared by the loops of one destination: whether delivery is paused for the API limit.
#[derive(Default)]
struct PauseGate {
    /// Set after REQUEST_LIMIT_EXCEEDED; cleared once `limits()` shows room again.
    limit_hit: std::sync::atomic::AtomicBool,
    /// When `limits()` was last read (one loop re-reads; the others wait).
    last_check: Mutex<Option<Instant>>,
}

impl PauseGate {
    /// Returns when delivery may proceed (false: shutdown asked while paused).
    async fn wait(
        &self,
        ctx: &WorkerContext,
        integration: &Integration,
        client: &salesforce::Client,
    ) -> bool {
        use std::sync::atomic::Ordering;
        let limit = integration.pause_at_api_usage;
        let mut shutdown = ctx.shutdown.clone();
        let mut announced = false;
        loop {
            let over_share = client
                .api_usage()
                .is_some_and(|u| u.max > 0 && (u.used as f64 / u.max as f64) >= limit);
            let hit = self.limit_hit.load(Ordering::SeqCst);
            if !over_share && !hit {
                if announced {
                    tracing::info!(integration = %integration.name, "delivery resumed: the org's API usage is below the pause threshold");
                    integration.set_status(Status::Connected);
                }
                return true;
            }
            if !announced {
                announced = true;
                let reason = if hit {
                    "Salesforce answered REQUEST_LIMIT_EXCEEDED (daily API limit reached)"
                        .to_string()
                } else {
                    format!(
                        "the org's daily API usage passed {:.0}% (pause_at_api_usage)",
                        limit * 100.0
                    )
                };
                if !matches!(integration.status(), Status::Paused { .. }) {
                    ctx.metrics.pause_started();
                }
                tracing::warn!(integration = %integration.name, %reason, "delivery paused");
                integration.set_status(Status::Paused { reason });
            }
            {
                let mut last = self.last_check.lock().await;
                let due = last.is_none_or(|t| t.elapsed() >= ctx.options.pause_recheck);
                if due {
                    *last = Some(Instant::now());
                    // `limits()` also refreshes `api_usage()` from its response header.
                    match client.limits().await {
                        Ok(l) => {
                            if let Some(d) = l.daily_api_requests() {
                                let used_share = if d.max > 0 {
                                    (d.max - d.remaining) as f64 / d.max as f64
                                } else {
                                    1.0
                                };
                                if d.remaining > 0 {
                                    self.limit_hit.store(false, Ordering::SeqCst);
                                }
                                if used_share < limit && d.remaining > 0 {
                                    continue;
                                }
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "limits() while paused");
                        }
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(ctx.options.pause_recheck.min(Duration::from_secs(1)).max(Duration::from_millis(50))) => {}
                _ = stopped(&mut shutdown) => return false,
            }
        }
    }
}

/// One batch loop: lease, deliver, complete, until shutdown.
async fn batch_loop(
    ctx: WorkerContext,
    worker: String,
    resolver: Arc<Resolver>,
    gate: Arc<PauseGate>,
) {
    let mut shutdown = ctx.shutdown.clone();
    let mut backlog = true; // look for work at once on start
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
        if let Some((dest, integration)) = &destination
            && !gate.wait(&ctx, integration, dest.client()).await
        {
            return;
        }
        let leased = match ctx
            .store
            .lease_batch(
                SALESFORCE,
                ctx.options.batch_size,
                ctx.options.lease_for,
                &worker,
            )
            .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot lease deliveries; retrying");
                backlog = false;
                continue;
            }
        };
        if leased.is_empty() {
            backlog = false;
            continue;
        }
        backlog = leased.len() >= ctx.options.batch_size;
        let ids: Vec<DeliveryId> = leased.iter().map(|l| l.id).collect();
        tracing::debug!(%worker, count = leased.len(), "leased a batch");
        let reports = match &destination {
            None => Some(disabled_reports(&leased)),
            Some((dest, _)) => deliver_with_lease(&ctx, &worker, dest, &leased, &ids).await,
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

/// Delivers a leased batch, extending the lease while it runs. `None` when shutdown's
/// grace period ended first (the batch was abandoned and must be released).
async fn deliver_with_lease(
    ctx: &WorkerContext,
    worker: &str,
    dest: &Destination,
    leased: &[LeasedDelivery],
    ids: &[DeliveryId],
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
    let opts = DeliverOptions::default();
    let mut shutdown = ctx.shutdown.clone();
    let fut = dest.deliver(&parsed, opts);
    tokio::pin!(fut);
    let extend_every = ctx.options.lease_for / 3;
    let mut tick = tokio::time::interval_at(Instant::now() + extend_every, extend_every);
    let mut deadline: Option<Instant> = None;
    let reports = loop {
        tokio::select! {
            r = &mut fut => break r,
            _ = tick.tick() => {
                match ctx.store.extend_lease(ids, worker, ctx.options.lease_for).await {
                    Ok(n) if (n as usize) < ids.len() => tracing::warn!(held = n, of = ids.len(), "some leases were lost during a long batch"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot extend leases"),
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
                    let mut e =
                        domain::ReportError::from_code("INTERNAL", "no report for this evaluation");
                    e.transient = true;
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

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Refused for the org's daily limit: hand it back without spending an attempt.
    Release,
    /// Salesforce refused the integration's sign-in (a revoked or expired refresh token):
    /// the org must be reconnected; hand the delivery back without spending an attempt.
    SignedOut,
    /// Record the attempt.
    Complete(Disposition),
}

/// Pure: a report's consequence for the queue. Failures the hint table marks transient
/// (locks, 503s, timeouts) are retried with backoff; other failures stop in `failed`.
fn classify(report: &Report) -> Action {
    match (&report.outcome, &report.error) {
        (Outcome::Failed, Some(e)) if e.code == REQUEST_LIMIT_EXCEEDED => Action::Release,
        (Outcome::Failed, Some(e)) if e.code == domain::hints::AUTH_FAILED => Action::SignedOut,
        (Outcome::Failed, Some(e)) if e.transient => Action::Complete(Disposition::Transient),
        (o, _) => Action::Complete(Disposition::Final(*o)),
    }
}

/// Completes the batch: limit refusals are released (and pause the destination), the
/// rest recorded with their outcome.
async fn record(
    ctx: &WorkerContext,
    worker: &str,
    leased: &[LeasedDelivery],
    reports: Vec<(DeliveryId, Report)>,
    gate: &PauseGate,
    integration: Option<&Integration>,
) {
    let mut results = Vec::new();
    let mut limited = Vec::new();
    let mut signed_out = Vec::new();
    for ((id, report), l) in reports.into_iter().zip(leased) {
        let disposition = match classify(&report) {
            Action::Release => {
                limited.push(id);
                continue;
            }
            Action::SignedOut => {
                if signed_out.is_empty()
                    && let (Some(i), Some(e)) = (integration, &report.error)
                {
                    i.sign_out(e.message.clone());
                }
                signed_out.push(id);
                continue;
            }
            Action::Complete(d) => d,
        };
        let shown = match disposition {
            Disposition::Transient => "retrying",
            Disposition::Final(o) => o.as_str(),
        };
        ctx.metrics.attempt(&l.destination, shown);
        if let Some(e) = &report.error {
            ctx.metrics.error(&e.code);
            tracing::info!(evaluation = %l.evaluation_id, outcome = shown, code = %e.code, message = %e.message, "delivery attempt failed");
        }
        results.push(DeliveryResult {
            id,
            worker: worker.to_string(),
            disposition,
            report: serde_json::to_value(&report).unwrap_or(Value::Null),
        });
    }
    if !limited.is_empty() {
        gate.limit_hit
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = ctx.store.release(&limited, worker).await {
            tracing::error!(error = %e, "cannot release deliveries refused for the API limit (their leases will expire)");
        }
    }
    if !signed_out.is_empty()
        && let Err(e) = ctx.store.release(&signed_out, worker).await
    {
        tracing::error!(error = %e, "cannot release deliveries refused for a failed sign-in (their leases will expire)");
    }
    if results.is_empty() {
        return;
    }
    // The results must reach the store: retry a few times (a busy database) before
    // leaving the leases to expire, which re-delivers idempotently.
    for attempt in 0..5u32 {
        match ctx
            .store
            .complete(results.clone(), &ctx.options.retry)
            .await
        {
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, attempt, "cannot record delivery results; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ReportError;

    fn failed(code: &str) -> Report {
        Report::failed("ev", "a@b.example", ReportError::from_code(code, "message"))
    }

    #[test]
    fn the_daily_limit_releases_instead_of_spending_an_attempt() {
        assert_eq!(classify(&failed(REQUEST_LIMIT_EXCEEDED)), Action::Release);
    }

    #[test]
    fn a_refused_sign_in_hands_the_delivery_back_for_after_the_reconnect() {
        assert_eq!(
            classify(&failed(domain::hints::AUTH_FAILED)),
            Action::SignedOut
        );
    }

    #[test]
    fn transient_failures_are_retried_and_permanent_ones_stop() {
        assert_eq!(
            classify(&failed("UNABLE_TO_LOCK_ROW")),
            Action::Complete(Disposition::Transient)
        );
        assert_eq!(
            classify(&failed("FIELD_CUSTOM_VALIDATION_EXCEPTION")),
            Action::Complete(Disposition::Final(Outcome::Failed))
        );
    }

    #[test]
    fn outcomes_other_than_failed_are_final() {
        let r = Report::new("ev", "a@b.example", Outcome::Updated);
        assert_eq!(
            classify(&r),
            Action::Complete(Disposition::Final(Outcome::Updated))
        );
    }

    #[test]
    fn a_disabled_destination_skips_with_its_reason() {
        let leased = vec![LeasedDelivery {
            id: DeliveryId(7),
            evaluation_id: "ev-1".into(),
            destination: SALESFORCE.into(),
            attempts: 0,
            lease_expires_at: time::OffsetDateTime::UNIX_EPOCH,
            payload: serde_json::json!({"email": " Ada@Example.com "}),
        }];
        let out = disabled_reports(&leased);
        assert_eq!(out[0].0, DeliveryId(7));
        assert_eq!(out[0].1.outcome, Outcome::Skipped);
        assert_eq!(out[0].1.reason, Some(Reason::DestinationDisabled));
        assert_eq!(out[0].1.email, "ada@example.com");
    }
}
