//! `/metrics` in Prometheus text format: counters kept by this process (evaluations
//! accepted, delivery attempts by outcome) and gauges read at scrape time (queue depth and
//! age from the store, which every process shares; Salesforce calls and API usage from the
//! clients of this process).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use store::QueueStats;

use crate::integrations::Integrations;

/// Counters of this process.
#[derive(Default)]
pub struct Metrics {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    /// Attempts ended, by (destination, outcome shown: updated, failed, retrying...).
    attempts: Mutex<BTreeMap<(String, String), u64>>,
    /// Pauses started, by why (`org_unavailable`, `throttled`, ...).
    paused: Mutex<BTreeMap<String, u64>>,
    /// Failed attempts by Salesforce error code (or ours).
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn ingested(&self, stored: u64, duplicates: u64, rejected: u64) {
        self.accepted.fetch_add(stored, Ordering::Relaxed);
        self.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        self.rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    pub fn attempt(&self, destination: &str, outcome: &str) {
        if let Ok(mut m) = self.attempts.lock() {
            *m.entry((destination.to_string(), outcome.to_string()))
                .or_insert(0) += 1;
        }
    }

    pub fn error(&self, code: &str) {
        if let Ok(mut m) = self.errors.lock() {
            *m.entry(code.to_string()).or_insert(0) += 1;
        }
    }

    pub fn pause_started(&self, why: &str) {
        if let Ok(mut m) = self.paused.lock() {
            *m.entry(why.to_string()).or_insert(0) += 1;
        }
    }

    /// The whole exposition.
    pub fn render(&self, queue: Option<&QueueStats>, integrations: &Integrations) -> String {
        let mut out = String::new();
        counter(
            &mut out,
            "trailspark_evaluations_accepted_total",
            "Evaluations newly stored by this process.",
            &[(String::new(), self.accepted.load(Ordering::Relaxed))],
        );
        counter(
            &mut out,
            "trailspark_evaluations_duplicate_total",
            "Evaluations received again with the same id and content (idempotent repeats).",
            &[(String::new(), self.duplicates.load(Ordering::Relaxed))],
        );
        counter(
            &mut out,
            "trailspark_evaluations_rejected_total",
            "Evaluations refused at the API (invalid input or id conflict).",
            &[(String::new(), self.rejected.load(Ordering::Relaxed))],
        );
        let attempts: Vec<(String, u64)> = self
            .attempts
            .lock()
            .map(|m| {
                m.iter()
                    .map(|((d, o), n)| (format!("destination=\"{d}\",outcome=\"{o}\""), *n))
                    .collect()
            })
            .unwrap_or_default();
        counter(
            &mut out,
            "trailspark_delivery_attempts_total",
            "Delivery attempts ended by this process's workers, by outcome.",
            &attempts,
        );
        let errors: Vec<(String, u64)> = self
            .errors
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(c, n)| (format!("code=\"{}\"", label(c)), *n))
                    .collect()
            })
            .unwrap_or_default();
        counter(
            &mut out,
            "trailspark_delivery_errors_total",
            "Failed delivery attempts by Salesforce error code (as Salesforce spells it) or ours.",
            &errors,
        );
        let pauses: Vec<(String, u64)> = self
            .paused
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(why, n)| (format!("why=\"{why}\""), *n))
                    .collect()
            })
            .unwrap_or_default();
        counter(
            &mut out,
            "trailspark_delivery_pauses_total",
            "Times delivery to the destination paused as a whole, by why (org_unavailable, throttled, request_limit, api_usage, concurrent_limit).",
            &pauses,
        );
        if let Some(q) = queue {
            let by_outcome: Vec<(String, u64)> = q
                .by_outcome
                .iter()
                .map(|(o, n)| (format!("outcome=\"{o}\""), *n))
                .collect();
            gauge(
                &mut out,
                "trailspark_deliveries",
                "Deliveries in the store by current outcome (all processes).",
                &by_outcome,
            );
            let by_state: Vec<(String, u64)> = q
                .by_state
                .iter()
                .map(|(s, n)| (format!("state=\"{}\"", s.as_str()), *n))
                .collect();
            gauge(
                &mut out,
                "trailspark_queue_depth",
                "Deliveries by queue state.",
                &by_state,
            );
            gauge(
                &mut out,
                "trailspark_queue_due",
                "Deliveries due now (waiting for a worker).",
                &[(String::new(), q.due)],
            );
            gauge_f(
                &mut out,
                "trailspark_queue_oldest_due_age_seconds",
                "How long the longest-waiting due delivery has waited.",
                &[(
                    String::new(),
                    q.oldest_due_age.map_or(0.0, |d| d.as_secs_f64()),
                )],
            );
        }
        let mut calls = Vec::new();
        let mut responses = Vec::new();
        let mut usage = Vec::new();
        let mut paused = Vec::new();
        for i in integrations.all() {
            let name = &i.name;
            let why = match i.status() {
                crate::integrations::Status::Paused { why, .. } => Some(why),
                crate::integrations::Status::SignedOut { .. } => Some("signed_out"),
                _ => None,
            };
            paused.push((
                format!("integration=\"{name}\",why=\"{}\"", why.unwrap_or("")),
                u64::from(why.is_some()),
            ));
            if let Some(c) = i.client() {
                let k = c.call_counts();
                for (kind, n) in [
                    ("query", k.query),
                    ("composite", k.composite),
                    ("describe", k.describe),
                    ("other", k.other),
                    ("token", k.token),
                ] {
                    calls.push((format!("integration=\"{name}\",kind=\"{kind}\""), n));
                }
                responses.extend(response_samples(name, &c.calls_by_status()));
            }
            if let Some(share) = i.usage_share() {
                usage.push((format!("integration=\"{name}\""), share));
            }
        }
        counter(
            &mut out,
            "trailspark_salesforce_calls_total",
            "Salesforce API calls made by this process (a Composite request counts once), by kind.",
            &calls,
        );
        counter(
            &mut out,
            "trailspark_salesforce_responses_total",
            "Salesforce API calls made by this process, by kind and HTTP status (status=\"error\" when no response came).",
            &responses,
        );
        gauge_f(
            &mut out,
            "trailspark_salesforce_api_usage_ratio",
            "Share of the org's daily API allocation used (last Sforce-Limit-Info).",
            &usage,
        );
        gauge(
            &mut out,
            "trailspark_delivery_paused",
            "1 while delivery to the integration is paused (why: the trouble) or waits for a reconnect (why=\"signed_out\").",
            &paused,
        );
        out
    }
}

/// Samples of `trailspark_salesforce_responses_total` for one integration's client.
fn response_samples(
    integration: &str,
    by_status: &BTreeMap<(&'static str, u16), u64>,
) -> Vec<(String, u64)> {
    by_status
        .iter()
        .map(|((kind, status), n)| {
            let status = if *status == salesforce::TRANSPORT_ERROR_STATUS {
                "error".to_string()
            } else {
                status.to_string()
            };
            (
                format!("integration=\"{integration}\",kind=\"{kind}\",status=\"{status}\""),
                *n,
            )
        })
        .collect()
}

/// A label value with the characters Prometheus escapes removed.
fn label(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '"' | '\\' | '\n'))
        .collect()
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

fn counter(out: &mut String, name: &str, help: &str, samples: &[(String, u64)]) {
    header(out, name, help, "counter");
    for (l, v) in samples {
        sample(out, name, l, v);
    }
}

fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, u64)]) {
    header(out, name, help, "gauge");
    for (l, v) in samples {
        sample(out, name, l, v);
    }
}

fn gauge_f(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    header(out, name, help, "gauge");
    for (l, v) in samples {
        sample(out, name, l, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.ingested(3, 1, 2);
        m.attempt("salesforce", "updated");
        m.attempt("salesforce", "updated");
        let text = m.render(None, &Integrations::default());
        assert!(
            text.contains("trailspark_evaluations_accepted_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("trailspark_evaluations_rejected_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "trailspark_delivery_attempts_total{destination=\"salesforce\",outcome=\"updated\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE trailspark_salesforce_responses_total counter\n"),
            "{text}"
        );
    }

    #[test]
    fn responses_are_labelled_by_kind_and_status() {
        let by_status = BTreeMap::from([
            (("query", 200), 4),
            (("query", 503), 1),
            (("composite", salesforce::TRANSPORT_ERROR_STATUS), 2),
        ]);
        let mut out = String::new();
        counter(
            &mut out,
            "trailspark_salesforce_responses_total",
            "h",
            &response_samples("sim", &by_status),
        );
        for line in [
            "trailspark_salesforce_responses_total{integration=\"sim\",kind=\"query\",status=\"200\"} 4\n",
            "trailspark_salesforce_responses_total{integration=\"sim\",kind=\"query\",status=\"503\"} 1\n",
            "trailspark_salesforce_responses_total{integration=\"sim\",kind=\"composite\",status=\"error\"} 2\n",
        ] {
            assert!(out.contains(line), "{line} missing in {out}");
        }
    }
}
