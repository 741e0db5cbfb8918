//! A retried delivery's report says what the evaluation did over its attempts: when the
//! attempt before failed after sending a create whose answer was lost, and this attempt
//! finds the record already holding every value (`unchanged`), the lost create went
//! through — the evaluation `created` the record ([`delivery::after_retry`],
//! docs/product.md#outcomes). The earlier report is the delivery's last one in the store,
//! read only for retried deliveries that came out unchanged.

use domain::{Outcome, Report};
use store::{DeliveryId, LeasedDelivery};

use super::WorkerContext;

/// `reports` (aligned with `leased`) with each retried, unchanged one folded into the
/// attempt before it.
pub(super) async fn after_earlier_attempts(
    ctx: &WorkerContext,
    leased: &[LeasedDelivery],
    mut reports: Vec<(DeliveryId, Report)>,
) -> Vec<(DeliveryId, Report)> {
    for ((id, report), l) in reports.iter_mut().zip(leased) {
        if l.attempts == 0 || report.outcome != Outcome::Unchanged {
            continue;
        }
        let earlier = match ctx.store.get_evaluation(&l.evaluation_id).await {
            Ok(Some(e)) => e
                .deliveries
                .into_iter()
                .find(|d| d.id == *id)
                .and_then(|d| d.last_report)
                .and_then(|v| serde_json::from_value::<Report>(v).ok()),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, evaluation = %l.evaluation_id, "cannot read the earlier attempt's report");
                None
            }
        };
        if let Some(first) = earlier {
            *report = delivery::after_retry(
                first,
                std::mem::replace(report, Report::new("", "", Outcome::Unchanged)),
            );
        }
    }
    reports
}
