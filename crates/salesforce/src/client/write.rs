//! The write path: sObject Collections creates, updates and upserts packed five per
//! Composite request, with retries that never resend a create after an ambiguous failure
//! (the records may already exist; an upsert by external id is resent, since it matches
//! what the first send created), and save results matched to records by position.

use futures::StreamExt;

use super::Client;
use super::request::{CompositeAnswer, may_retry};
use crate::composite::{self, SubRequest, SubResponse};
use crate::error::Error;
use crate::types::{CollectionWrite, SaveResult, WriteOptions};
use crate::{COLLECTION_MAX_RECORDS, COMPOSITE_MAX_HEAVY_SUBREQUESTS, DUPLICATE_RULE_HEADER};

/// The collection ops carried by one Composite request: (op index, attempt number).
type OpGroup = Vec<(usize, u32)>;

impl Client {
    /// Sends collection writes (each ≤ 200 records; create = POST, update = PATCH
    /// `/composite/sobjects`, upsert = PATCH `/composite/sobjects/{object}/{field}`,
    /// `allOrNone:false`) packed 5 per Composite request, run with
    /// the configured concurrency. Results per op in input order, per record by position.
    ///
    /// - A subrequest answered with a non-2xx `httpStatusCode` gives that op `Err` (typed,
    ///   e.g. `Error::Api` with the subrequest's status and error array).
    /// - An op with more than 200 records gives that op `Err(Error::InvalidRequest)`
    ///   without sending it; an op with no records gives `Ok(vec![])`.
    /// - A Composite request failing at the HTTP level (no per-record results came back) is
    ///   retried as a whole when retryable — unless it carries a create and the failure is
    ///   ambiguous ([`Error::is_ambiguous`]: timeout, connection lost after sending, HTTP
    ///   500), because the records may already exist and a resend would create them twice.
    ///   Such ops get the (retryable) error without a resend; the caller must look the
    ///   records up again before trying again (`trailspark sync` and the delivery engine do).
    ///   Likewise an op whose subrequest failed as a whole with a retryable error (e.g.
    ///   subrequest `httpStatusCode` 503, no per-record results) is sent again in a later
    ///   Composite request, except an ambiguous failure of a create op. Per-record
    ///   failures (e.g. one record's `UNABLE_TO_LOCK_ROW`) are *not* retried here: they are
    ///   results for the caller. When retries are exhausted each op of that Composite gets
    ///   the error.
    /// - Outer `Err`: no Composite request produced any per-record result (nothing was
    ///   written as far as the client knows); it is the first request's error.
    pub async fn write_many(
        &self,
        ops: Vec<CollectionWrite>,
        opts: WriteOptions,
    ) -> Result<Vec<Result<Vec<SaveResult>, Error>>, Error> {
        let version = self.inner.cfg.api_version;
        let mut results: Vec<Option<Result<Vec<SaveResult>, Error>>> = vec![None; ops.len()];
        let mut to_send: Vec<(usize, &CollectionWrite)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if op.records.is_empty() {
                results[i] = Some(Ok(Vec::new()));
            } else if op.records.len() > COLLECTION_MAX_RECORDS {
                results[i] = Some(Err(Error::InvalidRequest(format!(
                    "{} records in one collection write; Salesforce accepts at most {COLLECTION_MAX_RECORDS}",
                    op.records.len()
                ))));
            } else {
                to_send.push((i, op));
            }
        }
        let top_headers: Vec<(&'static str, String)> = if opts.allow_duplicate_save {
            vec![(DUPLICATE_RULE_HEADER, "allowSave=true".to_owned())]
        } else {
            Vec::new()
        };
        let mut first_err = None;
        let mut any_answered = false;
        // Rounds: ops whose subrequest failed as a whole with a retryable error (no
        // per-record results, e.g. a subrequest 503) go again in the next round.
        let mut pending: Vec<(usize, u32)> = to_send.iter().map(|(i, _)| (*i, 1)).collect();
        while !pending.is_empty() {
            // Subrequests are built before the stream so its futures own their data (and
            // stay `Send` for callers that spawn `write_many`).
            let groups: Vec<(OpGroup, Vec<SubRequest>)> = pending
                .chunks(COMPOSITE_MAX_HEAVY_SUBREQUESTS)
                .map(|group| {
                    let subs = group
                        .iter()
                        .enumerate()
                        .map(|(n, (i, _))| {
                            composite::write_subrequest(
                                version,
                                &ops[*i],
                                format!("w{n}"),
                                opts.allow_duplicate_save,
                            )
                        })
                        .collect();
                    (group.to_vec(), subs)
                })
                .collect();
            let answers: Vec<(OpGroup, CompositeAnswer)> = futures::stream::iter(groups)
                .map(|(group, subs)| {
                    let top_headers = top_headers.clone();
                    let creates = group
                        .iter()
                        .any(|(i, _)| ops[*i].action.resend_may_duplicate());
                    async move {
                        let answer = self.composite(&subs, top_headers, !creates).await;
                        (group, answer)
                    }
                })
                .buffered(self.inner.cfg.concurrency)
                .collect()
                .await;
            let mut next = Vec::new();
            let mut backoff_for = 0;
            for (group, answer) in answers {
                match answer {
                    Err(e) => {
                        for (i, _) in &group {
                            results[*i] = Some(Err(e.clone()));
                        }
                        first_err.get_or_insert(e);
                    }
                    Ok(subs) => {
                        any_answered = true;
                        for ((i, attempt), sub) in group.into_iter().zip(subs) {
                            let r = save_results(&ops[i], sub);
                            match r {
                                Err(e)
                                    if may_retry(&self.inner.cfg.retry, &e, attempt)
                                        && !(ops[i].action.resend_may_duplicate()
                                            && e.is_ambiguous()) =>
                                {
                                    tracing::warn!(error = %e, attempt, "collection subrequest failed; retrying");
                                    backoff_for = backoff_for.max(attempt);
                                    next.push((i, attempt + 1));
                                }
                                r => results[i] = Some(r),
                            }
                        }
                    }
                }
            }
            if backoff_for > 0 {
                tokio::time::sleep(self.inner.cfg.retry.backoff.jittered(backoff_for)).await;
            }
            pending = next;
        }
        if let (false, Some(e)) = (any_answered, first_err) {
            return Err(e);
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Decode("write result missing".into()))))
            .collect())
    }
}

/// Parses each save result of one collections subresponse, checking the count (results
/// are matched to records by position).
fn save_results(op: &CollectionWrite, sub: SubResponse) -> Result<Vec<SaveResult>, Error> {
    if !sub.is_success() {
        return Err(sub.error());
    }
    let results: Vec<SaveResult> = serde_json::from_value(sub.body)
        .map_err(|e| Error::Decode(format!("collection results: {e}")))?;
    if results.len() != op.records.len() {
        return Err(Error::Decode(format!(
            "{} results for {} records in a collection write",
            results.len(),
            op.records.len()
        )));
    }
    Ok(results)
}
