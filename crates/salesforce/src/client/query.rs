//! The query path: one SOQL statement (paged with `nextRecordsUrl`, moved into a Composite
//! body when too long for a URL), and many statements packed five per Composite request
//! with retries of transiently failed subrequests.

use futures::StreamExt;

use super::Client;
use super::request::{CallKind, CompositeAnswer, Request, may_retry};
use crate::COMPOSITE_MAX_HEAVY_SUBREQUESTS;
use crate::composite::{self, QueryPage, SubRequest};
use crate::error::Error;
use crate::types::Record;

/// Query URLs longer than this go through a Composite request instead: URI plus headers
/// must stay under 16,384 bytes ([HELP] 000386264; django-salesforce switches at 15,500).
const MAX_QUERY_URL_CHARS: usize = 15_000;

impl Client {
    /// Runs one SOQL query and follows `nextRecordsUrl` until `done`. A statement too long
    /// for a URL is sent inside a Composite request instead (body, not URL).
    pub async fn query(&self, soql: &str) -> Result<Vec<Record>, Error> {
        let path = composite::query_path(self.inner.cfg.api_version, soql);
        if path.len() + self.instance_url().len() > MAX_QUERY_URL_CHARS {
            let mut all = self.query_many(&[soql.to_owned()]).await?;
            return Ok(all.pop().unwrap_or_default());
        }
        let mut records = Vec::new();
        let mut next = Some(path);
        while let Some(path) = next.take() {
            let resp = self.send(&Request::get(&path, CallKind::Query)).await?;
            let page = QueryPage::parse(resp.json("query result")?)?;
            next = page.next().map(str::to_owned);
            records.extend(page.records);
        }
        Ok(records)
    }

    /// Runs many SOQL queries packed 5 per Composite request (1 API call each), with the
    /// configured concurrency; follows `nextRecordsUrl` pages, packing them as further
    /// subrequests. Results in input order. Subrequests failing with a retryable error
    /// (e.g. `QUERY_TIMEOUT`) are re-run within the retry policy; any other failure fails
    /// the whole call (queries are idempotent, so the caller may simply call again).
    pub async fn query_many(&self, soqls: &[String]) -> Result<Vec<Vec<Record>>, Error> {
        struct Pending {
            index: usize,
            url: String,
            attempt: u32,
        }
        let version = self.inner.cfg.api_version;
        let mut results: Vec<Vec<Record>> = vec![Vec::new(); soqls.len()];
        let mut pending: Vec<Pending> = soqls
            .iter()
            .enumerate()
            .map(|(index, s)| Pending {
                index,
                url: composite::query_path(version, s),
                attempt: 1,
            })
            .collect();
        while !pending.is_empty() {
            let mut groups: Vec<Vec<Pending>> = Vec::new();
            for p in pending.drain(..) {
                match groups.last_mut() {
                    Some(g) if g.len() < COMPOSITE_MAX_HEAVY_SUBREQUESTS => g.push(p),
                    _ => groups.push(vec![p]),
                }
            }
            let answers: Vec<(Vec<Pending>, CompositeAnswer)> = futures::stream::iter(groups)
                .map(|group| async move {
                    let subs: Vec<SubRequest> = group
                        .iter()
                        .enumerate()
                        .map(|(i, p)| composite::query_subrequest(p.url.clone(), format!("q{i}")))
                        .collect();
                    let r = self.composite(&subs, Vec::new(), true).await;
                    (group, r)
                })
                .buffered(self.inner.cfg.concurrency)
                .collect()
                .await;
            let mut backoff_for = 0;
            for (group, answer) in answers {
                let subs = answer?;
                for (p, sub) in group.into_iter().zip(subs) {
                    if sub.is_success() {
                        let page = QueryPage::parse(sub.body)?;
                        if let Some(next) = page.next() {
                            pending.push(Pending {
                                index: p.index,
                                url: next.to_owned(),
                                attempt: 1,
                            });
                        }
                        results[p.index].extend(page.records);
                        continue;
                    }
                    let err = sub.error();
                    if may_retry(&self.inner.cfg.retry, &err, p.attempt) {
                        tracing::warn!(error = %err, attempt = p.attempt, "query subrequest failed; retrying");
                        backoff_for = backoff_for.max(p.attempt);
                        pending.push(Pending {
                            attempt: p.attempt + 1,
                            ..p
                        });
                    } else {
                        return Err(err);
                    }
                }
            }
            // Keep each query's pages in order: a query has at most one pending request.
            pending.sort_by_key(|p| p.index);
            if backoff_for > 0 {
                tokio::time::sleep(self.inner.cfg.retry.backoff.jittered(backoff_for)).await;
            }
        }
        Ok(results)
    }
}
