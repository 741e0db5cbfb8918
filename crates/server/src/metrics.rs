//! `/metrics` in the OpenMetrics text format (which Prometheus reads), through the
//! `prometheus-client` crate: counters and histograms kept by this process (evaluations
//! accepted, delivery attempts by outcome, accept → written latency), the store's figures
//! as last read in the background by [`crate::stats`] (queue depth and age, database
//! size: a scrape never queries the database), and what this process's Salesforce
//! clients hold (calls, responses, call latency, API usage).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::integrations::Integrations;
use crate::stats::StoreStats;

/// The exposition's media type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the accept → written histogram: a lone evaluation is written
/// within milliseconds to a few hundred; a backlog or a pause takes minutes to hours.
const WRITTEN_BOUNDS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];

type Labels = Vec<(&'static str, String)>;

/// What this process counts, registered once; [`Metrics::render`] adds the rest.
pub struct Metrics {
    registry: Registry,
    accepted: Counter,
    duplicates: Counter,
    rejected: Counter,
    /// Attempts ended, by destination and outcome shown (updated, failed, retrying...).
    attempts: Family<Labels, Counter>,
    /// Pauses started, by why (`org_unavailable`, `throttled`, ...).
    paused: Family<Labels, Counter>,
    /// Failed attempts by Salesforce error code (or ours).
    errors: Family<Labels, Counter>,
    /// From accepted to written in the org, by destination.
    written: Family<Labels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let accepted = Counter::default();
        registry.register(
            "trailspark_evaluations_accepted",
            "Evaluations newly stored by this process.",
            accepted.clone(),
        );
        let duplicates = Counter::default();
        registry.register(
            "trailspark_evaluations_duplicate",
            "Evaluations received again with the same id and content (idempotent repeats).",
            duplicates.clone(),
        );
        let rejected = Counter::default();
        registry.register(
            "trailspark_evaluations_rejected",
            "Evaluations refused at the API (invalid input or id conflict).",
            rejected.clone(),
        );
        let attempts = Family::<Labels, Counter>::default();
        registry.register(
            "trailspark_delivery_attempts",
            "Delivery attempts ended by this process's workers, by outcome.",
            attempts.clone(),
        );
        let errors = Family::<Labels, Counter>::default();
        registry.register(
            "trailspark_delivery_errors",
            "Failed delivery attempts by Salesforce error code (as Salesforce spells it) or ours.",
            errors.clone(),
        );
        let paused = Family::<Labels, Counter>::default();
        registry.register(
            "trailspark_delivery_pauses",
            "Times delivery to the destination paused as a whole, by why (org_unavailable, throttled, request_limit, api_usage, concurrent_limit).",
            paused.clone(),
        );
        let written = Family::<Labels, Histogram>::new_with_constructor(
            (|| Histogram::new(WRITTEN_BOUNDS)) as fn() -> Histogram,
        );
        registry.register_with_unit(
            "trailspark_accept_to_written",
            "From an evaluation's acceptance to its values written in the org (updated, created or unchanged), retries and waits included, as recorded by this process's workers.",
            Unit::Seconds,
            written.clone(),
        );
        Metrics {
            registry,
            accepted,
            duplicates,
            rejected,
            attempts,
            paused,
            errors,
            written,
        }
    }
}

impl Metrics {
    pub fn ingested(&self, stored: u64, duplicates: u64, rejected: u64) {
        self.accepted.inc_by(stored);
        self.duplicates.inc_by(duplicates);
        self.rejected.inc_by(rejected);
    }

    pub fn attempt(&self, destination: &str, outcome: &str) {
        self.attempts
            .get_or_create(&vec![
                ("destination", label(destination)),
                ("outcome", label(outcome)),
            ])
            .inc();
    }

    /// An evaluation's values reached the org `after` its acceptance.
    pub fn written(&self, destination: &str, after: Duration) {
        self.written
            .get_or_create(&vec![("destination", label(destination))])
            .observe(after.as_secs_f64());
    }

    pub fn error(&self, code: &str) {
        self.errors
            .get_or_create(&vec![("code", label(code))])
            .inc();
    }

    pub fn pause_started(&self, why: &str) {
        self.paused.get_or_create(&vec![("why", label(why))]).inc();
    }

    /// The whole exposition: this process's metrics, then the store's last figures and
    /// the integrations' (read from memory, never from the database).
    pub fn render(&self, stats: &StoreStats, integrations: &Integrations) -> String {
        let mut out = String::new();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Current::read(stats, integrations)));
        // Both only fail when writing to the String fails, which it does not.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// A label value with the characters the exposition format would need escaped removed
/// (error codes and integration names come from outside).
fn label(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '"' | '\\' | '\n'))
        .collect()
}

/// The figures read at scrape time from memory (the store's last snapshot, the
/// integrations' clients), as owned samples: a collector must be `'static`.
#[derive(Debug)]
struct Current {
    families: Vec<Sampled>,
}

#[derive(Debug)]
struct Sampled {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    samples: Samples,
}

#[derive(Debug)]
enum Samples {
    Counter(Vec<(Labels, u64)>),
    /// Counts.
    Gauge(Vec<(Labels, u64)>),
    /// Ratios and ages.
    GaugeF(Vec<(Labels, f64)>),
    Histogram(Vec<(Labels, salesforce::CallLatency)>),
}

impl Current {
    fn read(stats: &StoreStats, integrations: &Integrations) -> Current {
        let mut families = Vec::new();
        if let Some(s) = stats.latest() {
            let q = &s.queue;
            families.push(Sampled {
                name: "trailspark_deliveries",
                help: "Deliveries in the store by current outcome (all processes), as last counted.",
                unit: None,
                samples: Samples::Gauge(
                    q.by_outcome
                        .iter()
                        .map(|(o, n)| (vec![("outcome", o.to_string())], *n))
                        .collect(),
                ),
            });
            families.push(Sampled {
                name: "trailspark_queue_depth",
                help: "Deliveries by queue state, as last counted.",
                unit: None,
                samples: Samples::Gauge(
                    q.by_state
                        .iter()
                        .map(|(st, n)| (vec![("state", st.as_str().to_string())], *n))
                        .collect(),
                ),
            });
            families.push(Sampled {
                name: "trailspark_queue_due",
                help: "Deliveries due now (waiting for a worker), as last counted.",
                unit: None,
                samples: Samples::Gauge(vec![(Vec::new(), q.due)]),
            });
            families.push(Sampled {
                name: "trailspark_queue_oldest_due_age",
                help: "How long the longest-waiting due delivery had waited when last counted.",
                unit: Some(Unit::Seconds),
                samples: Samples::GaugeF(vec![(
                    Vec::new(),
                    q.oldest_due_age.map_or(0.0, |d| d.as_secs_f64()),
                )]),
            });
            if let Some(bytes) = s.database_bytes {
                families.push(Sampled {
                    name: "trailspark_database_size",
                    help: "Bytes the service's data takes (the SQLite file, or the PostgreSQL schema's tables and indexes), as last read.",
                    unit: Some(Unit::Bytes),
                    samples: Samples::Gauge(vec![(Vec::new(), bytes)]),
                });
            }
            families.push(Sampled {
                name: "trailspark_store_stats_age",
                help: "How old the figures above are (they are read in the background every few seconds, never by a scrape).",
                unit: Some(Unit::Seconds),
                samples: Samples::GaugeF(vec![(
                    Vec::new(),
                    (time::OffsetDateTime::now_utc() - s.at)
                        .as_seconds_f64()
                        .max(0.0),
                )]),
            });
        }
        let mut calls = Vec::new();
        let mut responses = Vec::new();
        let mut latency = Vec::new();
        let mut usage = Vec::new();
        let mut paused = Vec::new();
        for i in integrations.all() {
            let name = label(&i.name);
            let why = match i.status() {
                crate::integrations::Status::Paused { why, .. } => Some(why),
                crate::integrations::Status::SignedOut { .. } => Some("signed_out"),
                _ => None,
            };
            paused.push((
                vec![
                    ("integration", name.clone()),
                    ("why", why.unwrap_or("").to_string()),
                ],
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
                    calls.push((
                        vec![("integration", name.clone()), ("kind", kind.to_string())],
                        n,
                    ));
                }
                responses.extend(response_samples(&name, &c.calls_by_status()));
                for (kind, l) in c.call_latencies() {
                    latency.push((
                        vec![("integration", name.clone()), ("kind", kind.to_string())],
                        l,
                    ));
                }
            }
            if let Some(share) = i.usage_share() {
                usage.push((vec![("integration", name.clone())], share));
            }
        }
        families.push(Sampled {
            name: "trailspark_salesforce_calls",
            help: "Salesforce API calls made by this process (a Composite request counts once), by kind.",
            unit: None,
            samples: Samples::Counter(calls),
        });
        families.push(Sampled {
            name: "trailspark_salesforce_responses",
            help: "Salesforce API calls made by this process, by kind and HTTP status (status=\"error\" when no response came).",
            unit: None,
            samples: Samples::Counter(responses),
        });
        families.push(Sampled {
            name: "trailspark_salesforce_call_duration",
            help: "How long this process's Salesforce API calls took, from the request to the response's last byte, by kind (each retry is a call).",
            unit: Some(Unit::Seconds),
            samples: Samples::Histogram(latency),
        });
        families.push(Sampled {
            name: "trailspark_salesforce_api_usage_ratio",
            help: "Share of the org's daily API allocation used (last Sforce-Limit-Info).",
            unit: None,
            samples: Samples::GaugeF(usage),
        });
        families.push(Sampled {
            name: "trailspark_delivery_paused",
            help: "1 while delivery to the integration is paused (why: the trouble) or waits for a reconnect (why=\"signed_out\").",
            unit: None,
            samples: Samples::Gauge(paused),
        });
        Current { families }
    }
}

impl Collector for Current {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            let kind = match f.samples {
                Samples::Counter(_) => MetricType::Counter,
                Samples::Gauge(_) | Samples::GaugeF(_) => MetricType::Gauge,
                Samples::Histogram(_) => MetricType::Histogram,
            };
            let mut family = encoder.encode_descriptor(f.name, f.help, f.unit.as_ref(), kind)?;
            match &f.samples {
                Samples::Counter(s) => {
                    for (labels, v) in s {
                        ConstCounter::new(*v).encode(family.encode_family(labels)?)?;
                    }
                }
                Samples::Gauge(s) => {
                    for (labels, v) in s {
                        ConstGauge::new(*v).encode(family.encode_family(labels)?)?;
                    }
                }
                Samples::GaugeF(s) => {
                    for (labels, v) in s {
                        ConstGauge::new(*v).encode(family.encode_family(labels)?)?;
                    }
                }
                Samples::Histogram(s) => {
                    for (labels, l) in s {
                        encode_latency(family.encode_family(labels)?, l)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A Salesforce client's call durations as a histogram.
fn encode_latency(
    mut m: MetricEncoder<'_>,
    l: &salesforce::CallLatency,
) -> Result<(), std::fmt::Error> {
    let buckets: Vec<(f64, u64)> = salesforce::CALL_LATENCY_BOUNDS
        .iter()
        .copied()
        .chain([f64::MAX])
        .zip(l.buckets.iter().copied())
        .collect();
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
        l.sum_seconds,
        l.count,
        &buckets,
        None,
    )
}

/// Samples of `trailspark_salesforce_responses_total` for one integration's client.
fn response_samples(
    integration: &str,
    by_status: &std::collections::BTreeMap<(&'static str, u16), u64>,
) -> Vec<(Labels, u64)> {
    by_status
        .iter()
        .map(|((kind, status), n)| {
            let status = if *status == salesforce::TRANSPORT_ERROR_STATUS {
                "error".to_string()
            } else {
                status.to_string()
            };
            (
                vec![
                    ("integration", integration.to_string()),
                    ("kind", kind.to_string()),
                    ("status", status),
                ],
                *n,
            )
        })
        .collect()
}

/// Whether a request may read `/metrics`: always when no token is set; otherwise only
/// with `Authorization: Bearer <token>` (compared in constant time).
pub fn scrape_allowed(token: Option<&Arc<str>>, authorization: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let Some(given) = authorization.and_then(|h| {
        let (scheme, rest) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    }) else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        m.written("salesforce", Duration::from_millis(30));
        let text = m.render(&StoreStats::default(), &Integrations::default());
        for line in [
            "trailspark_evaluations_accepted_total 3\n",
            "trailspark_evaluations_rejected_total 2\n",
            "trailspark_delivery_attempts_total{destination=\"salesforce\",outcome=\"updated\"} 2\n",
            "# TYPE trailspark_salesforce_responses counter\n",
            "# TYPE trailspark_accept_to_written_seconds histogram\n",
            "trailspark_accept_to_written_seconds_bucket{le=\"0.05\",destination=\"salesforce\"} 1\n",
            "trailspark_accept_to_written_seconds_count{destination=\"salesforce\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(
            !text.contains("trailspark_queue_depth"),
            "no store figures before the first read: {text}"
        );
    }

    #[test]
    fn responses_are_labelled_by_kind_and_status() {
        let by_status = std::collections::BTreeMap::from([
            (("query", 200), 4),
            (("query", 503), 1),
            (("composite", salesforce::TRANSPORT_ERROR_STATUS), 2),
        ]);
        let b = Current {
            families: vec![Sampled {
                name: "trailspark_salesforce_responses",
                help: "h",
                unit: None,
                samples: Samples::Counter(response_samples("sim", &by_status)),
            }],
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(b));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        for line in [
            "trailspark_salesforce_responses_total{integration=\"sim\",kind=\"query\",status=\"200\"} 4\n",
            "trailspark_salesforce_responses_total{integration=\"sim\",kind=\"query\",status=\"503\"} 1\n",
            "trailspark_salesforce_responses_total{integration=\"sim\",kind=\"composite\",status=\"error\"} 2\n",
        ] {
            assert!(out.contains(line), "{line} missing in {out}");
        }
    }

    #[test]
    fn call_latency_is_a_histogram() {
        let mut l = salesforce::CallLatency::default();
        l.buckets[0] = 2;
        l.buckets[salesforce::CALL_LATENCY_BOUNDS.len()] = 1;
        l.count = 3;
        l.sum_seconds = 40.5;
        let b = Current {
            families: vec![Sampled {
                name: "trailspark_salesforce_call_duration",
                help: "h",
                unit: Some(Unit::Seconds),
                samples: Samples::Histogram(vec![(
                    vec![("integration", "sim".into()), ("kind", "query".into())],
                    l,
                )]),
            }],
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(b));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        for line in [
            "trailspark_salesforce_call_duration_seconds_bucket{le=\"0.025\",integration=\"sim\",kind=\"query\"} 2\n",
            "trailspark_salesforce_call_duration_seconds_bucket{le=\"30.0\",integration=\"sim\",kind=\"query\"} 2\n",
            "trailspark_salesforce_call_duration_seconds_bucket{le=\"+Inf\",integration=\"sim\",kind=\"query\"} 3\n",
            "trailspark_salesforce_call_duration_seconds_count{integration=\"sim\",kind=\"query\"} 3\n",
        ] {
            assert!(out.contains(line), "{line} missing in {out}");
        }
    }

    #[test]
    fn a_set_token_is_required_exactly() {
        let token: Arc<str> = Arc::from("s3cret");
        assert!(scrape_allowed(None, None));
        assert!(scrape_allowed(Some(&token), Some("Bearer s3cret")));
        assert!(scrape_allowed(Some(&token), Some("bearer s3cret")));
        assert!(!scrape_allowed(Some(&token), None));
        assert!(!scrape_allowed(Some(&token), Some("Bearer s3cre")));
        assert!(!scrape_allowed(Some(&token), Some("Basic s3cret")));
    }
}
