//! After an attempt: each report's [`Action`] follows from its error's kind alone (decided
//! where Salesforce's answer was read), then the batch is recorded. Org-wide trouble hands
//! the delivery back without spending an attempt and pauses the destination; only a
//! record's own transient trouble is retried per delivery, with backoff.

use std::time::Duration;

use domain::{FailureKind, Outcome, Report};
use serde_json::Value;
use store::{CompleteStatus, DeliveryId, DeliveryResult, Disposition, LeasedDelivery};

use super::WorkerContext;
use super::gate::Gate;
use super::pause::Why;
use crate::integrations::Integration;

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Org-wide trouble: hand it back without spending an attempt; the destination pauses.
    Release(Why),
    /// Salesforce refused the integration's sign-in (a revoked or expired refresh token):
    /// the org must be reconnected; hand the delivery back without spending an attempt.
    SignedOut,
    /// The worker's lease dropped before the write: hand the delivery back (the store only
    /// releases it if this worker still holds it) without spending an attempt.
    LeaseLost,
    /// Record the attempt.
    Complete(Disposition),
}

/// Pure: a report's consequence for the queue, from its outcome and error kind.
pub(super) fn classify(report: &Report) -> Action {
    let kind = match (&report.outcome, &report.error) {
        (Outcome::Failed, Some(e)) => e.kind,
        (o, _) => return Action::Complete(Disposition::Final(*o)),
    };
    match kind {
        FailureKind::SignedOut => Action::SignedOut,
        FailureKind::LeaseLost => Action::LeaseLost,
        FailureKind::RecordTransient | FailureKind::AmbiguousCreate => {
            Action::Complete(Disposition::Transient)
        }
        FailureKind::Record => Action::Complete(Disposition::Final(Outcome::Failed)),
        k => match Why::from_kind(k) {
            Some(why) => Action::Release(why),
            None => Action::Complete(Disposition::Transient),
        },
    }
}

/// Whether the attempt changed (or may have changed) something in Salesforce: a write that
/// went through, or a create whose answer was lost.
fn wrote(report: &Report) -> bool {
    let ambiguous = report
        .error
        .as_ref()
        .is_some_and(|e| e.kind == FailureKind::AmbiguousCreate);
    !report.dry_run && (ambiguous || report.writes.iter().any(|w| !w.failed))
}

/// Completes the batch: org-wide refusals are released (and pause the destination), the
/// rest recorded with their outcome under the lease's token. Deliveries whose lease dropped
/// before any write are released; one that wrote before its lease dropped is recorded, so
/// the log keeps the write (marked stale if another worker holds the delivery now).
pub(super) async fn record(
    ctx: &WorkerContext,
    worker: &str,
    leased: &[LeasedDelivery],
    reports: Vec<(DeliveryId, Report)>,
    gate: &Gate,
    integration: Option<&Integration>,
) {
    let reports = super::retried::after_earlier_attempts(ctx, leased, reports).await;
    let mut results = Vec::new();
    let mut released = Vec::new();
    let mut trouble: Option<(Why, Option<Duration>)> = None;
    let mut signed_out = false;
    let mut lease_dropped = 0usize;
    for ((id, report), l) in reports.into_iter().zip(leased) {
        let disposition = match classify(&report) {
            Action::Release(why) => {
                let retry_after = report
                    .error
                    .as_ref()
                    .and_then(|e| e.retry_after_ms)
                    .map(Duration::from_millis);
                let longest = trouble.and_then(|t| t.1).max(retry_after);
                trouble = Some((why, longest));
                released.push(id);
                continue;
            }
            Action::SignedOut => {
                if !signed_out && let (Some(i), Some(e)) = (integration, &report.error) {
                    i.sign_out(e.message.clone());
                }
                signed_out = true;
                released.push(id);
                continue;
            }
            Action::LeaseLost if !wrote(&report) => {
                lease_dropped += 1;
                released.push(id);
                continue;
            }
            Action::LeaseLost => Disposition::Transient,
            Action::Complete(d) => d,
        };
        let shown = match disposition {
            Disposition::Transient => "retrying",
            Disposition::Final(o) => o.as_str(),
        };
        ctx.metrics.attempt(&l.destination, shown);
        if matches!(
            disposition,
            Disposition::Final(Outcome::Updated | Outcome::Created | Outcome::Unchanged)
        ) {
            let after = time::OffsetDateTime::now_utc() - l.received_at;
            ctx.metrics
                .written(&l.destination, after.try_into().unwrap_or_default());
        }
        if let Some(e) = &report.error {
            ctx.metrics.error(&e.code);
            tracing::info!(evaluation = %l.evaluation_id, outcome = shown, code = %e.code, kind = e.kind.as_str(), message = %e.message, "delivery attempt failed");
        }
        results.push(DeliveryResult {
            id,
            worker: worker.to_string(),
            token: l.token,
            disposition,
            wrote: wrote(&report),
            report: serde_json::to_value(&report).unwrap_or(Value::Null),
        });
    }
    if let (Some((why, retry_after)), Some(i)) = (trouble, integration) {
        gate.trouble(why, retry_after, i, &ctx.metrics);
    }
    if lease_dropped > 0 {
        tracing::info!(%worker, count = lease_dropped, "deliveries whose lease dropped before their writes handed back");
    }
    if !released.is_empty()
        && let Err(e) = ctx.store.release(&released, worker).await
    {
        tracing::error!(error = %e, "cannot release deliveries refused for org-wide trouble (their leases will expire)");
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
            Ok(statuses) => {
                let stale = statuses
                    .iter()
                    .filter(|s| **s == CompleteStatus::Stale)
                    .count();
                if stale > 0 {
                    tracing::warn!(%worker, stale, "results of leases another worker holds now were not applied");
                }
                return;
            }
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

    fn failed(kind: FailureKind) -> Report {
        Report::failed(
            "ev",
            "a@b.example",
            ReportError::from_code("ANY_CODE", "message").with_kind(kind),
        )
    }

    #[test]
    fn org_wide_trouble_releases_and_pauses_instead_of_spending_an_attempt() {
        use FailureKind::*;
        assert_eq!(
            classify(&failed(OrgUnavailable)),
            Action::Release(Why::Unavailable)
        );
        assert_eq!(
            classify(&failed(Throttled)),
            Action::Release(Why::Throttled)
        );
        assert_eq!(
            classify(&failed(RequestLimit)),
            Action::Release(Why::RequestLimit)
        );
        assert_eq!(
            classify(&failed(ConcurrentLimit)),
            Action::Release(Why::ConcurrentLimit)
        );
    }

    #[test]
    fn a_lost_lease_hands_the_delivery_back() {
        assert_eq!(classify(&failed(FailureKind::LeaseLost)), Action::LeaseLost);
    }

    #[test]
    fn a_write_that_went_through_or_may_have_is_kept() {
        assert!(!wrote(&failed(FailureKind::LeaseLost)));
        assert!(wrote(&failed(FailureKind::AmbiguousCreate)));
        let mut r = Report::new("ev", "a@b.example", Outcome::Created);
        r.writes.push(domain::WriteReport {
            object: "Lead".into(),
            id: Some("00Q1".into()),
            action: domain::WriteAction::Create,
            fields: Default::default(),
            failed: false,
        });
        assert!(wrote(&r));
        r.writes[0].failed = true;
        assert!(!wrote(&r));
        r.writes[0].failed = false;
        r.dry_run = true;
        assert!(!wrote(&r), "a dry run writes nothing");
    }

    #[test]
    fn a_refused_sign_in_hands_the_delivery_back_for_after_the_reconnect() {
        assert_eq!(classify(&failed(FailureKind::SignedOut)), Action::SignedOut);
    }

    #[test]
    fn the_kind_decides_not_the_code() {
        // Codes that once decided by string no longer do.
        let limit = Report::failed(
            "ev",
            "a@b.example",
            ReportError::from_code("REQUEST_LIMIT_EXCEEDED", "x").with_kind(FailureKind::Record),
        );
        assert_eq!(
            classify(&limit),
            Action::Complete(Disposition::Final(Outcome::Failed))
        );
        assert_eq!(
            classify(&failed(FailureKind::RecordTransient)),
            Action::Complete(Disposition::Transient)
        );
        assert_eq!(
            classify(&failed(FailureKind::AmbiguousCreate)),
            Action::Complete(Disposition::Transient)
        );
        assert_eq!(
            classify(&failed(FailureKind::Record)),
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
}
