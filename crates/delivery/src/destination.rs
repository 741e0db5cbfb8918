//! The Salesforce destination: settings + client + field metadata kept fresh
//! ([`crate::freshness`]), and `deliver`, which runs lookup → plan → write → outcomes for one
//! batch and never loses an evaluation.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{DestinationSettings, Evaluation, Outcome, Report, ReportError, WriteAction};
use salesforce::{Client, SObjectDescribe};

use crate::freshness::{DEFAULT_METADATA_MAX_AGE, MetadataCache};
use crate::guard::LeaseGuard;
use crate::lookup::{LookupError, lookup};
use crate::meta::{FieldKind, FieldMeta, Metadata, ObjectMeta, SObject};
use crate::plan::{Plan, plan};
use crate::rows::Lookup;
use crate::write::{WriteResult, execute, report_error};

/// Composite requests in flight at once per batch unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How to deliver one batch.
#[derive(Debug, Clone)]
pub struct DeliverOptions {
    /// Look up and plan, write nothing; reports carry `dry_run: true`.
    pub dry_run: bool,
    /// Composite write requests in flight at once.
    pub concurrency: usize,
    /// The worker's lease on the batch, checked before each write request: once it dropped,
    /// no write is sent and the evaluations left unwritten fail with `LEASE_LOST` (kind
    /// `lease_lost`). `None`: nothing to hold (`trailspark sync`).
    pub lease: Option<LeaseGuard>,
}

impl Default for DeliverOptions {
    fn default() -> Self {
        DeliverOptions {
            dry_run: false,
            concurrency: DEFAULT_CONCURRENCY,
            lease: None,
        }
    }
}

/// A configured Salesforce destination.
pub struct Destination {
    settings: DestinationSettings,
    client: Client,
    /// Describes of Lead, Contact and Account, loaded lazily (a disabled destination makes
    /// no API call at all) and revalidated when older than `metadata_max_age`.
    metadata: Arc<MetadataCache>,
    metadata_max_age: Duration,
}

impl Destination {
    /// No API call is made here, so it cannot fail.
    pub async fn new(
        settings: DestinationSettings,
        client: Client,
    ) -> Result<Destination, Infallible> {
        Ok(Destination::with_metadata(
            settings,
            client,
            MetadataCache::new(),
        ))
    }

    /// A destination starting from field metadata another destination of the same org
    /// already holds ([`Destination::metadata_cache`]): built for changed settings, it
    /// describes nothing until the metadata is due, and refreshes seen by one are seen by
    /// both. No API call is made here.
    pub fn with_metadata(
        settings: DestinationSettings,
        client: Client,
        metadata: Arc<MetadataCache>,
    ) -> Destination {
        Destination {
            settings,
            client,
            metadata,
            metadata_max_age: DEFAULT_METADATA_MAX_AGE,
        }
    }

    /// How long field metadata is trusted before the next batch revalidates it
    /// ([`DEFAULT_METADATA_MAX_AGE`] unless set).
    pub fn with_metadata_max_age(mut self, max_age: Duration) -> Destination {
        self.metadata_max_age = max_age;
        self
    }

    /// The field metadata handle, to share with a destination built for changed settings.
    pub fn metadata_cache(&self) -> Arc<MetadataCache> {
        self.metadata.clone()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn settings(&self) -> &DestinationSettings {
        &self.settings
    }

    /// Field metadata of the objects the settings need: described on first use, then
    /// revalidated (`If-Modified-Since`) when older than the max age.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, salesforce::Error> {
        self.metadata
            .get(
                &self.client,
                &objects_needed(&self.settings),
                self.metadata_max_age,
            )
            .await
    }

    /// Revalidates the field metadata now (one conditional describe per object; unchanged
    /// objects answer 304): for when an admin may just have changed a field — settings
    /// saved, a retry asked for. True when anything changed.
    pub async fn refresh_metadata(&self) -> Result<bool, salesforce::Error> {
        let (_, changed) = self
            .metadata
            .refresh(&self.client, &objects_needed(&self.settings))
            .await?;
        Ok(changed)
    }

    /// One report per evaluation, in batch order. Whatever goes wrong, every evaluation gets
    /// a report: a failure before any write (metadata, lookup) fails the whole batch with
    /// the error, `transient` when a later attempt may succeed.
    pub async fn deliver(&self, batch: &[Evaluation], opts: DeliverOptions) -> Vec<Report> {
        if batch.is_empty() {
            return Vec::new();
        }
        let mut reports = if !self.settings.enabled {
            plan(
                batch,
                &Lookup::default(),
                &self.settings,
                &Metadata::default(),
            )
            .reports
        } else {
            self.deliver_enabled(batch, &opts).await
        };
        if opts.dry_run {
            for r in &mut reports {
                r.dry_run = true;
            }
        }
        reports
    }

    /// Delivers with the current metadata; when evaluations fail over a field (Salesforce
    /// refused a field or picklist value, a lookup named a field that is gone, or the
    /// metadata lacks a mapped field), revalidates the metadata once and, if it changed,
    /// delivers those evaluations again in this batch before reporting them.
    async fn deliver_enabled(&self, batch: &[Evaluation], opts: &DeliverOptions) -> Vec<Report> {
        let since = Instant::now();
        let meta = match self.metadata().await {
            Ok(m) => m,
            Err(e) => return fail_all(batch, report_error(&e)),
        };
        let mut reports = self.attempt(batch, &meta, opts).await;
        let again: Vec<usize> = (0..reports.len())
            .filter(|&i| failed_over_field(&reports[i]))
            .collect();
        if again.is_empty() {
            return reports;
        }
        let objects = objects_needed(&self.settings);
        let fresh = match self
            .metadata
            .refresh_after_field_error(&self.client, &objects, &meta, since)
            .await
        {
            Ok(Some(m)) => m,
            Ok(None) => return reports,
            Err(e) => {
                tracing::warn!(error = %e, "cannot revalidate field metadata after a field error");
                return reports;
            }
        };
        tracing::info!(
            evaluations = again.len(),
            "field metadata changed; delivering the evaluations that failed over a field again"
        );
        let subset: Vec<Evaluation> = again.iter().map(|&i| batch[i].clone()).collect();
        let second = self.attempt(&subset, &fresh, opts).await;
        for (&i, retried) in again.iter().zip(second) {
            let first = std::mem::replace(&mut reports[i], retried);
            if !opts.dry_run {
                keep_written(&mut reports[i], first);
            }
        }
        reports
    }

    /// One lookup → plan → write → outcomes pass with `meta`.
    async fn attempt(
        &self,
        batch: &[Evaluation],
        meta: &Metadata,
        opts: &DeliverOptions,
    ) -> Vec<Report> {
        let found = match lookup(&self.client, batch, &self.settings, meta).await {
            Ok(l) => l,
            Err(LookupError::Salesforce(e)) => return fail_all(batch, report_error(&e)),
            Err(e @ LookupError::Chunk(_)) => {
                return fail_all(
                    batch,
                    ReportError::from_code(domain::hints::UNEXPECTED_RESPONSE, &e.to_string()),
                );
            }
        };
        let planned = plan(batch, &found, &self.settings, meta);
        if opts.dry_run || planned.writes.is_empty() {
            return planned.reports;
        }
        let results = execute(
            &self.client,
            &planned.writes,
            opts.concurrency,
            self.settings.allow_duplicate_save,
            opts.lease.as_ref(),
        )
        .await;
        outcomes(planned, &results)
    }
}

/// An evaluation that failed because the request did not fit the org's fields: Salesforce's
/// field and picklist codes, which the planner also uses for a mapped field missing from the
/// metadata.
fn failed_over_field(r: &Report) -> bool {
    r.outcome == Outcome::Failed
        && r.error
            .as_ref()
            .is_some_and(|e| salesforce::is_field_metadata_error(&e.code))
}

/// Folds the writes of a first pass that went through into the report of the second pass:
/// they happened, so the log lists them, and an evaluation that created or updated a record
/// in the first pass did so even when the second pass found nothing left to change.
fn keep_written(report: &mut Report, first: Report) {
    let written: Vec<_> = first.writes.into_iter().filter(|w| !w.failed).collect();
    if written.is_empty() {
        return;
    }
    let created = written.iter().any(|w| w.action == WriteAction::Create);
    if report.outcome != Outcome::Failed {
        if created {
            report.outcome = Outcome::Created;
            report.reason = None;
        } else if report.outcome != Outcome::Created {
            report.outcome = Outcome::Updated;
            report.reason = None;
        }
    }
    for w in first.warnings {
        if !report.warnings.contains(&w) {
            report.warnings.push(w);
        }
    }
    let later = std::mem::replace(&mut report.writes, written);
    report.writes.extend(later);
}

/// The report of an evaluation delivered again after an attempt that failed (`first`),
/// from the new attempt's (`second`) — what the evaluation did over both
/// (docs/product.md#outcomes):
///
/// - writes of the first attempt that went through stay listed, as in the field-error
///   second pass;
/// - a create the first attempt sent whose answer was lost (it failed transiently: a
///   timeout, HTTP 500, a dropped connection) may have been committed all the same; when
///   the new attempt then finds the person's record already holding every value — it
///   would have reported `unchanged` — that record is the one the lost create made: the
///   evaluation `created` it. The create stays listed (without the id its lost answer
///   carried).
pub fn after_retry(first: Report, mut second: Report) -> Report {
    if first.outcome != Outcome::Failed || second.dry_run {
        return second;
    }
    let lost = first.error.as_ref().is_some_and(|e| e.transient);
    if lost && second.outcome == Outcome::Unchanged {
        let creates: Vec<_> = first
            .writes
            .iter()
            .filter(|w| w.failed && w.action == WriteAction::Create)
            .map(|w| domain::WriteReport {
                failed: false,
                ..w.clone()
            })
            .collect();
        if !creates.is_empty() {
            second.outcome = Outcome::Created;
            second.reason = None;
            let later = std::mem::replace(&mut second.writes, creates);
            second.writes.extend(later);
        }
    }
    keep_written(&mut second, first);
    second
}

fn fail_all(batch: &[Evaluation], err: ReportError) -> Vec<Report> {
    batch
        .iter()
        .map(|e| Report::failed(e.id.as_str(), e.email.normalized(), err.clone()))
        .collect()
}

/// Per-record results mapped back to per-evaluation reports: an evaluation fails when any
/// of its writes failed (the first failure is its error); every write stays listed, the
/// refused ones marked `failed` so the log names the object, record and fields that
/// Salesforce refused; created records get their new ids.
pub fn outcomes(plan: Plan, results: &[WriteResult]) -> Vec<Report> {
    let Plan {
        reports,
        report_writes,
        ..
    } = plan;
    reports
        .into_iter()
        .zip(report_writes)
        .map(|(mut report, idx)| {
            let mut failure: Option<ReportError> = None;
            for (w, &i) in report.writes.iter_mut().zip(&idx) {
                match results.get(i) {
                    Some(WriteResult::Ok(id)) => {
                        if w.id.is_none() {
                            w.id = id.clone();
                        }
                    }
                    Some(WriteResult::Failed(e)) => {
                        w.failed = true;
                        failure.get_or_insert_with(|| e.clone());
                    }
                    None => {
                        w.failed = true;
                        failure.get_or_insert_with(|| {
                            ReportError::from_code(
                                domain::hints::NO_RESULT,
                                "no result for this record",
                            )
                        });
                    }
                }
            }
            if let Some(e) = failure {
                report.outcome = Outcome::Failed;
                report.reason = None;
                report.error = Some(e);
            }
            report
        })
        .collect()
}

/// Which objects a destination reads: Lead and Contact always, Account when propensity or
/// contact creation needs it.
pub fn objects_needed(s: &DestinationSettings) -> Vec<SObject> {
    let mut v = vec![SObject::Lead, SObject::Contact];
    if s.propensity.account_field.is_some() || s.create_as == domain::CreateAs::Contact {
        v.push(SObject::Account);
    }
    v
}

/// The planner's view of a describe result.
pub fn object_meta(d: &SObjectDescribe) -> ObjectMeta {
    ObjectMeta::new(
        d.fields
            .iter()
            .map(|f| FieldMeta {
                name: f.name.clone(),
                label: f.label.clone(),
                kind: FieldKind::from_describe(f.field_type.as_str()),
                length: f.length,
                createable: f.createable && !f.calculated,
                updateable: f.updateable && !f.calculated,
                picklist_values: f.picklist_values.clone(),
                restricted_picklist: f.restricted_picklist,
                required_on_create: f.required_on_create(),
                external_id: f.external_id,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedWrite;
    use domain::{Reason, WriteAction, WriteReport};
    use serde_json::Map;

    fn planned(n: usize) -> Plan {
        let mut reports = Vec::new();
        let mut writes = Vec::new();
        let mut report_writes = Vec::new();
        for i in 0..n {
            let mut r = Report::new(&format!("e{i}"), "a@x.com", Outcome::Created);
            r.writes.push(WriteReport {
                object: "Lead".into(),
                id: None,
                action: WriteAction::Create,
                fields: Map::new(),
                failed: false,
            });
            reports.push(r);
            report_writes.push(vec![writes.len()]);
            writes.push(PlannedWrite {
                object: SObject::Lead,
                action: WriteAction::Create,
                id: None,
                fields: Map::new(),
                family: format!("new:{i}"),
                evaluation: i,
            });
        }
        let mut skipped = Report::new("s", "b@x.com", Outcome::Skipped);
        skipped.reason = Some(Reason::NoMatch);
        reports.push(skipped);
        report_writes.push(vec![]);
        Plan {
            writes,
            reports,
            report_writes,
        }
    }

    #[test]
    fn outcomes_fill_created_ids_and_fail_with_the_error() {
        let results = vec![
            WriteResult::Ok(Some("00Qnew".into())),
            WriteResult::Failed(ReportError::from_code(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "Company needed",
            )),
        ];
        let r = outcomes(planned(2), &results);
        assert_eq!(r.len(), 3, "never loses an evaluation");
        assert_eq!(r[0].outcome, Outcome::Created);
        assert_eq!(r[0].writes[0].id.as_deref(), Some("00Qnew"));
        assert!(!r[0].writes[0].failed);
        assert_eq!(r[1].outcome, Outcome::Failed);
        assert_eq!(r[1].writes.len(), 1, "the refused create stays listed");
        assert!(r[1].writes[0].failed);
        assert_eq!(r[1].writes[0].object, "Lead");
        assert_eq!(r[1].writes[0].id, None, "a refused create has no id");
        assert!(r[1].error.as_ref().unwrap().hint.contains("Company needed"));
        assert_eq!(r[2].outcome, Outcome::Skipped);
    }

    #[test]
    fn a_refused_update_names_its_record_and_fields_and_the_rest_stay_as_written() {
        let mut fields = Map::new();
        fields.insert("TrailSpark_Score__c".into(), serde_json::json!("hot"));
        let mut report = Report::new("e0", "a@x.com", Outcome::Updated);
        let mut writes = Vec::new();
        for (object, id) in [
            (SObject::Contact, "003000000000001AAA"),
            (SObject::Account, "001000000000001AAA"),
        ] {
            report.writes.push(WriteReport {
                object: object.as_str().into(),
                id: Some(id.into()),
                action: WriteAction::Update,
                fields: fields.clone(),
                failed: false,
            });
            writes.push(PlannedWrite {
                object,
                action: WriteAction::Update,
                id: Some(id.into()),
                fields: fields.clone(),
                family: id.into(),
                evaluation: 0,
            });
        }
        let plan = Plan {
            writes,
            reports: vec![report],
            report_writes: vec![vec![0, 1]],
        };
        let results = vec![
            WriteResult::Failed(ReportError::from_code(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "Score may not change on closed contacts",
            )),
            WriteResult::Ok(Some("001000000000001AAA".into())),
        ];
        let r = outcomes(plan, &results);
        assert_eq!(r[0].outcome, Outcome::Failed);
        let line: serde_json::Value = serde_json::from_str(&r[0].to_json_line()).unwrap();
        assert_eq!(
            line["writes"],
            serde_json::json!([
                {"object": "Contact", "id": "003000000000001AAA", "action": "update",
                 "fields": {"TrailSpark_Score__c": "hot"}, "failed": true},
                {"object": "Account", "id": "001000000000001AAA", "action": "update",
                 "fields": {"TrailSpark_Score__c": "hot"}},
            ]),
            "the refused write is marked; the one that went through reads as before"
        );
        assert_eq!(line["error"]["code"], "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    }

    fn write(object: &str, action: WriteAction, failed: bool) -> WriteReport {
        WriteReport {
            object: object.into(),
            id: Some(format!("{object}-id")),
            action,
            fields: Map::new(),
            failed,
        }
    }

    #[test]
    fn a_second_pass_keeps_what_the_first_pass_wrote() {
        let mut first = Report::new("e0", "a@x.com", Outcome::Failed);
        first.writes = vec![
            write("Contact", WriteAction::Update, false),
            write("Account", WriteAction::Update, true),
        ];
        let mut second = Report::new("e0", "a@x.com", Outcome::Updated);
        second.writes = vec![write("Account", WriteAction::Update, false)];
        keep_written(&mut second, first.clone());
        assert_eq!(second.outcome, Outcome::Updated);
        let objects: Vec<_> = second
            .writes
            .iter()
            .map(|w| (w.object.as_str(), w.failed))
            .collect();
        assert_eq!(objects, [("Contact", false), ("Account", false)]);

        // A record created by the first pass stays the evaluation's outcome, even when the
        // second pass finds it already holds every value.
        first.writes = vec![
            write("Lead", WriteAction::Create, false),
            write("Account", WriteAction::Update, true),
        ];
        let mut unchanged = Report::new("e0", "a@x.com", Outcome::Unchanged);
        keep_written(&mut unchanged, first.clone());
        assert_eq!(unchanged.outcome, Outcome::Created);
        assert_eq!(unchanged.writes.len(), 1);

        // A second failure stays a failure, listing what did get written.
        let mut failed = Report::new("e0", "a@x.com", Outcome::Failed);
        keep_written(&mut failed, first);
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(failed.writes.len(), 1);

        // Nothing written in the first pass: the second pass's report as it is.
        let mut skipped = Report::new("e0", "a@x.com", Outcome::Skipped);
        skipped.reason = Some(Reason::NoMatch);
        keep_written(&mut skipped, Report::new("e0", "a@x.com", Outcome::Failed));
        assert_eq!(skipped.outcome, Outcome::Skipped);
        assert_eq!(skipped.reason, Some(Reason::NoMatch));
    }

    #[test]
    fn a_lost_create_found_unchanged_by_the_next_attempt_was_created_by_it() {
        let lost = ReportError::from_code("HTTP_500", "lost")
            .with_kind(domain::FailureKind::AmbiguousCreate);
        let mut first = Report::failed("e0", "a@x.com", lost.clone());
        first.writes = vec![write("Lead", WriteAction::Create, true)];
        first.writes[0].id = None;
        let second = Report::new("e0", "a@x.com", Outcome::Unchanged);
        let r = after_retry(first.clone(), second);
        assert_eq!((r.outcome, r.reason), (Outcome::Created, None));
        assert_eq!(r.writes.len(), 1);
        assert_eq!(
            (r.writes[0].action, r.writes[0].failed),
            (WriteAction::Create, false)
        );

        // The create really failed before: the new attempt's create is the one.
        let mut created = Report::new("e0", "a@x.com", Outcome::Created);
        created.writes = vec![write("Lead", WriteAction::Create, false)];
        let r = after_retry(first.clone(), created.clone());
        assert_eq!(r, created);

        // A refused create (not transient) was never committed: unchanged is what it is.
        let mut refused = first.clone();
        refused.error = Some(ReportError::from_code("REQUIRED_FIELD_MISSING", "Company"));
        let unchanged = Report::new("e0", "a@x.com", Outcome::Unchanged);
        assert_eq!(after_retry(refused, unchanged.clone()), unchanged);

        // A first attempt that did not fail changes nothing.
        let ok = Report::new("e0", "a@x.com", Outcome::Updated);
        assert_eq!(after_retry(ok, unchanged.clone()), unchanged);
    }

    #[test]
    fn only_field_and_picklist_failures_call_for_fresh_metadata() {
        let failed = |code: &str| {
            let mut r = Report::new("e0", "a@x.com", Outcome::Failed);
            r.error = Some(ReportError::from_code(code, "x"));
            r
        };
        assert!(failed_over_field(&failed("INVALID_FIELD")));
        assert!(failed_over_field(&failed(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        )));
        assert!(!failed_over_field(&failed("UNABLE_TO_LOCK_ROW")));
        assert!(!failed_over_field(&failed("DUPLICATES_DETECTED")));
        assert!(!failed_over_field(&Report::new(
            "e0",
            "a@x.com",
            Outcome::Updated
        )));
    }

    #[test]
    fn a_missing_result_marks_the_write_failed() {
        let r = outcomes(planned(1), &[]);
        assert_eq!(r[0].outcome, Outcome::Failed);
        assert!(r[0].writes[0].failed);
        assert_eq!(r[0].error.as_ref().unwrap().code, domain::hints::NO_RESULT);
    }
}
