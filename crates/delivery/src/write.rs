//! Write: planned record writes → sObject Collections (≤ 200 records) packed 5 per
//! Composite request (≤ 1,000 records per API call). A create that carries the person key
//! travels in an upsert collection of its object, by that key (docs/product.md#the-person-key). Records of one family (a parent Account
//! and its Contacts) always travel in the same Composite request, where Salesforce runs the
//! subrequests one after another, so two concurrent requests never fight over the Account's
//! row lock (UNABLE_TO_LOCK_ROW). Composite requests run with bounded concurrency.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use serde_json::{Map, Value};

use domain::{FailureKind, ReportError, WriteAction, hints};
use salesforce::{
    COLLECTION_MAX_RECORDS, COMPOSITE_MAX_HEAVY_SUBREQUESTS, Client, CollectionWrite, Failure,
    Record, SaveResult, WriteOptions,
};

use crate::guard::LeaseGuard;
use crate::meta::{PERSON_KEY_FIELD, SObject};
use crate::plan::PlannedWrite;

/// Records one Composite request can carry: 5 collections of 200.
pub const COMPOSITE_MAX_RECORDS: usize = COLLECTION_MAX_RECORDS * COMPOSITE_MAX_HEAVY_SUBREQUESTS;

/// One Composite request's worth of collections; each op lists the plan indices of its
/// records in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub ops: Vec<(CollectionWrite, Vec<usize>)>,
}

/// The Composite requests of one write phase: `parallel` ones may run concurrently; the
/// `sequential` ones (chunks of a family larger than one request) run one after another.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub parallel: Vec<Group>,
    pub sequential: Vec<Group>,
}

/// The collections record body: `attributes.type`, `Id` for updates, then the fields.
pub fn record_body(w: &PlannedWrite) -> Record {
    let mut r = Map::new();
    r.insert(
        "attributes".into(),
        serde_json::json!({"type": w.object.as_str()}),
    );
    if let (WriteAction::Update, Some(id)) = (w.action, w.id.as_ref()) {
        r.insert("Id".into(), Value::String(id.clone()));
    }
    for (k, v) in &w.fields {
        r.insert(k.clone(), v.clone());
    }
    r
}

/// The collection a write travels in: updates, creates (of any object), or upserts of one
/// object by its person key; in this order within a Composite request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Collection {
    Update,
    Create,
    Upsert(SObject),
}

/// The person-key field a create carries (its name as planned), if any.
fn upsert_key(w: &PlannedWrite) -> Option<&str> {
    (w.action == WriteAction::Create)
        .then(|| {
            w.fields
                .keys()
                .find(|k| k.eq_ignore_ascii_case(PERSON_KEY_FIELD))
        })
        .flatten()
        .map(String::as_str)
}

fn collection_of(w: &PlannedWrite) -> Collection {
    match (w.action, upsert_key(w)) {
        (WriteAction::Update, _) => Collection::Update,
        (WriteAction::Create, None) => Collection::Create,
        (WriteAction::Create, Some(_)) => Collection::Upsert(w.object),
    }
}

/// Records per collection kind.
type Counts = BTreeMap<Collection, usize>;

fn counts(writes: &[PlannedWrite], members: &[usize]) -> Counts {
    let mut c = Counts::new();
    for &i in members {
        *c.entry(collection_of(&writes[i])).or_default() += 1;
    }
    c
}

/// Collections needed for these records (one kind per collection).
fn collections_for(c: &Counts) -> usize {
    c.values().map(|n| n.div_ceil(COLLECTION_MAX_RECORDS)).sum()
}

/// `a` and `b` together.
fn sum(a: &Counts, b: &Counts) -> Counts {
    let mut s = a.clone();
    for (k, n) in b {
        *s.entry(*k).or_default() += n;
    }
    s
}

/// Lays out writes: families packed whole into Composite requests (first-fit, largest
/// family first) so that at most 5 collections of 200 go in one request; within a request,
/// the update collections come before the create collections, then the upserts.
pub fn layout(writes: &[PlannedWrite], indices: &[usize]) -> Layout {
    let mut families: Vec<(String, Vec<usize>)> = Vec::new();
    let mut pos: HashMap<&str, usize> = HashMap::new();
    for &i in indices {
        let fam = writes[i].family.as_str();
        match pos.get(fam) {
            Some(&p) => families[p].1.push(i),
            None => {
                pos.insert(fam, families.len());
                families.push((fam.to_string(), vec![i]));
            }
        }
    }
    // Largest first; the sort is stable so equal sizes keep their batch order.
    families.sort_by_key(|f| std::cmp::Reverse(f.1.len()));

    let mut bins: Vec<(Vec<usize>, Counts)> = Vec::new();
    let mut sequential: Vec<Vec<usize>> = Vec::new();
    for (_, members) in families {
        let c = counts(writes, &members);
        if collections_for(&c) > COMPOSITE_MAX_HEAVY_SUBREQUESTS {
            // One family larger than a request: its requests run one after another.
            for kind in c.keys() {
                let of: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&i| collection_of(&writes[i]) == *kind)
                    .collect();
                sequential.extend(of.chunks(COMPOSITE_MAX_RECORDS).map(<[usize]>::to_vec));
            }
            continue;
        }
        match bins
            .iter_mut()
            .find(|(_, bc)| collections_for(&sum(bc, &c)) <= COMPOSITE_MAX_HEAVY_SUBREQUESTS)
        {
            Some(b) => {
                b.0.extend(members);
                b.1 = sum(&b.1, &c);
            }
            None => bins.push((members, c)),
        }
    }
    let to_group = |bin: Vec<usize>| {
        let mut ops = Vec::new();
        for kind in counts(writes, &bin).into_keys() {
            let of: Vec<usize> = bin
                .iter()
                .copied()
                .filter(|&i| collection_of(&writes[i]) == kind)
                .collect();
            for chunk in of.chunks(COLLECTION_MAX_RECORDS) {
                let action = match kind {
                    Collection::Update => salesforce::WriteAction::Update,
                    Collection::Create => salesforce::WriteAction::Create,
                    Collection::Upsert(object) => salesforce::WriteAction::Upsert {
                        object: object.as_str().to_owned(),
                        external_id: upsert_key(&writes[chunk[0]])
                            .unwrap_or(PERSON_KEY_FIELD)
                            .to_owned(),
                    },
                };
                ops.push((
                    CollectionWrite {
                        action,
                        records: chunk.iter().map(|&i| record_body(&writes[i])).collect(),
                    },
                    chunk.to_vec(),
                ));
            }
        }
        Group { ops }
    };
    Layout {
        parallel: bins.into_iter().map(|b| to_group(b.0)).collect(),
        sequential: sequential.into_iter().map(to_group).collect(),
    }
}

/// What one Composite request's `write_many` call answered.
type GroupAnswer = Result<Vec<Result<Vec<SaveResult>, salesforce::Error>>, salesforce::Error>;

/// The result of one planned write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteResult {
    /// Written; the record id (the new id for creates).
    Ok(Option<String>),
    Failed(ReportError),
}

/// Runs every planned write, `concurrency` Composite requests at a time. The duplicate-rule
/// header (`allow_duplicate_save`) is sent on requests that create records. Each request is
/// sent only while `lease` holds; the writes of requests not sent fail with `LEASE_LOST`.
pub async fn execute(
    client: &Client,
    writes: &[PlannedWrite],
    concurrency: usize,
    allow_duplicate_save: bool,
    lease: Option<&LeaseGuard>,
) -> Vec<WriteResult> {
    let mut results: Vec<Option<WriteResult>> = vec![None; writes.len()];
    let idx: Vec<usize> = (0..writes.len()).collect();
    let lay = layout(writes, &idx);
    let opts_for = |g: &Group| WriteOptions {
        allow_duplicate_save: allow_duplicate_save
            && g.ops.iter().any(|(op, _)| op.action.may_create()),
    };
    let mut done: Vec<(Group, Option<GroupAnswer>)> =
        futures::stream::iter(lay.parallel.into_iter().map(|g| {
            let opts = opts_for(&g);
            run_group(client, g, opts, lease)
        }))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for g in lay.sequential {
        let opts = opts_for(&g);
        done.push(run_group(client, g, opts, lease).await);
    }
    for (group, outcome) in done {
        match outcome {
            Some(answer) => apply_group(&group, answer, &mut results),
            None => {
                let err = lease_lost();
                for (_, idx) in &group.ops {
                    for &i in idx {
                        results[i] = Some(WriteResult::Failed(err.clone()));
                    }
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                WriteResult::Failed(ReportError::from_code(
                    hints::NO_RESULT,
                    "no result for this record",
                ))
            })
        })
        .collect()
}

/// Sends one Composite request, unless the lease dropped (`None`: not sent). The check runs
/// when the request is about to leave, not when the batch started.
async fn run_group(
    client: &Client,
    group: Group,
    opts: WriteOptions,
    lease: Option<&LeaseGuard>,
) -> (Group, Option<GroupAnswer>) {
    if lease.is_some_and(|l| !l.held()) {
        return (group, None);
    }
    let ops: Vec<CollectionWrite> = group.ops.iter().map(|(op, _)| op.clone()).collect();
    let r = client.write_many(ops, opts).await;
    (group, Some(r))
}

/// A write not sent because the worker's lease dropped: another worker owns the delivery now
/// (or will once the lease runs out), so this one hands it back.
fn lease_lost() -> ReportError {
    ReportError::from_code(
        hints::LEASE_LOST,
        "not sent: the worker's lease on this delivery ran out or could not be extended",
    )
    .with_kind(FailureKind::LeaseLost)
}

/// Maps one Composite request's answer onto the planned writes it carried.
pub fn apply_group(group: &Group, outcome: GroupAnswer, results: &mut [Option<WriteResult>]) {
    match outcome {
        Err(e) => {
            let mut err = report_error(&e);
            // A create whose answer was lost may exist already: the next attempt must look
            // it up again rather than resend (the client never resends it blindly), and
            // knows, from the kind, that a record it finds in place may be this create's.
            // An upsert by the person key is such a create too, though one the client may
            // have resent already (sent again, it matches).
            let creates = group.ops.iter().any(|(op, _)| op.action.may_create());
            if creates && e.is_ambiguous() {
                err = err.with_kind(FailureKind::AmbiguousCreate);
            }
            for (_, idx) in &group.ops {
                for &i in idx {
                    results[i] = Some(WriteResult::Failed(err.clone()));
                }
            }
        }
        Ok(per_op) => {
            for (k, (_, idx)) in group.ops.iter().enumerate() {
                match per_op.get(k) {
                    Some(Ok(saves)) => {
                        for (j, &i) in idx.iter().enumerate() {
                            results[i] = Some(match saves.get(j) {
                                Some(s) => save_result(s),
                                None => WriteResult::Failed(ReportError::from_code(
                                    hints::NO_RESULT,
                                    "Salesforce returned fewer results than records sent",
                                )),
                            });
                        }
                    }
                    Some(Err(e)) => {
                        let err = report_error(e);
                        for &i in idx {
                            results[i] = Some(WriteResult::Failed(err.clone()));
                        }
                    }
                    None => {
                        for &i in idx {
                            results[i] = Some(WriteResult::Failed(ReportError::from_code(
                                hints::NO_RESULT,
                                "Salesforce returned no result for this collection",
                            )));
                        }
                    }
                }
            }
        }
    }
}

/// One record's save result.
pub fn save_result(s: &SaveResult) -> WriteResult {
    if s.success {
        return WriteResult::Ok(s.id.clone());
    }
    match s.errors.first() {
        Some(e) => {
            let mut err = ReportError::from_code(&e.status_code, &e.message);
            err.ids = e.duplicate_ids.clone();
            WriteResult::Failed(err)
        }
        None => WriteResult::Failed(ReportError::from_code(
            hints::UNEXPECTED_RESPONSE,
            "Salesforce reported a failure without an error",
        )),
    }
}

/// A client error as a report error: Salesforce's code when it sent one, ours otherwise,
/// and the kind the client decided ([`salesforce::Failure`], mapped one to one).
pub fn report_error(e: &salesforce::Error) -> ReportError {
    use salesforce::Error as E;
    let message = e.to_string();
    let err = match e {
        E::Api { errors, status } => match errors.first() {
            Some(first) if !first.error_code.is_empty() => {
                let mut r = ReportError::from_code(&first.error_code, &first.message);
                r.message = first.message.clone();
                r
            }
            _ => ReportError::from_code(&format!("HTTP_{status}"), &message),
        },
        E::Auth { .. } => ReportError::from_code(hints::AUTH_FAILED, &message),
        E::Throttled { status, .. } => ReportError::from_code(&format!("HTTP_{status}"), &message),
        E::UnexpectedResponse { status, .. } if *status >= 500 => {
            ReportError::from_code(&format!("HTTP_{status}"), &message)
        }
        E::UnexpectedResponse { .. } | E::Decode(_) => {
            ReportError::from_code(hints::UNEXPECTED_RESPONSE, &message)
        }
        E::Transport {
            kind: salesforce::TransportKind::Timeout,
            ..
        } => ReportError::from_code(hints::TIMEOUT, &message),
        E::Transport { .. } => ReportError::from_code(hints::CONNECTION_ERROR, &message),
        E::CannotRefresh => ReportError::from_code("INVALID_SESSION_ID", &message),
        _ => ReportError::from_code(hints::UNEXPECTED_RESPONSE, &message),
    };
    let failure = e.failure();
    let mut err = err.with_kind(kind_of(failure));
    if let Failure::Throttled {
        retry_after: Some(d),
    } = failure
    {
        err.retry_after_ms = Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }
    err
}

/// The client's classification in the report's terms. A session that could not be
/// refreshed by the client is a refused sign-in.
pub fn kind_of(f: Failure) -> FailureKind {
    match f {
        Failure::Record => FailureKind::Record,
        Failure::RecordTransient => FailureKind::RecordTransient,
        Failure::OrgUnavailable => FailureKind::OrgUnavailable,
        Failure::Throttled { .. } => FailureKind::Throttled,
        Failure::RequestLimit => FailureKind::RequestLimit,
        Failure::ConcurrentLimit => FailureKind::ConcurrentLimit,
        Failure::SessionExpired | Failure::SignedOut => FailureKind::SignedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::SObject;
    use std::collections::HashSet;

    fn w(family: &str, n: usize) -> PlannedWrite {
        let mut fields = Map::new();
        fields.insert("S__c".into(), Value::String("hot".into()));
        PlannedWrite {
            object: SObject::Contact,
            action: WriteAction::Update,
            id: Some(format!("003{n:015}")),
            fields,
            family: family.into(),
            evaluation: n,
        }
    }

    #[test]
    fn families_are_never_split_across_composite_requests() {
        // 7 families of 300 records interleaved: 2,100 records.
        let writes: Vec<PlannedWrite> =
            (0..2100).map(|n| w(&format!("001F{}", n % 7), n)).collect();
        let idx: Vec<usize> = (0..writes.len()).collect();
        let lay = layout(&writes, &idx);
        assert!(lay.sequential.is_empty());
        let mut seen_in: std::collections::HashMap<String, usize> = Default::default();
        let mut total = 0;
        for (g, group) in lay.parallel.iter().enumerate() {
            assert!(group.ops.len() <= COMPOSITE_MAX_HEAVY_SUBREQUESTS);
            for (op, members) in &group.ops {
                assert!(op.records.len() <= COLLECTION_MAX_RECORDS);
                assert_eq!(op.records.len(), members.len());
                total += members.len();
                for &i in members {
                    let prev = seen_in.insert(writes[i].family.clone(), g);
                    assert!(
                        prev.is_none() || prev == Some(g),
                        "family split across requests"
                    );
                }
            }
        }
        assert_eq!(total, 2100);
        // 3 families of 300 fit one request (900), so 7 families need 3 requests.
        assert_eq!(lay.parallel.len(), 3);
    }

    #[test]
    fn many_small_families_fill_requests_to_1000_records() {
        let writes: Vec<PlannedWrite> = (0..2500).map(|n| w(&format!("00Q{n}"), n)).collect();
        let idx: Vec<usize> = (0..writes.len()).collect();
        let lay = layout(&writes, &idx);
        assert_eq!(lay.parallel.len(), 3, "⌈2500 / 1000⌉ API calls");
        let ids: HashSet<usize> = lay
            .parallel
            .iter()
            .flat_map(|g| g.ops.iter().flat_map(|(_, m)| m.clone()))
            .collect();
        assert_eq!(ids.len(), 2500);
    }

    #[test]
    fn oversized_family_runs_sequentially() {
        let writes: Vec<PlannedWrite> = (0..1200)
            .map(|n| w("001BIG", n))
            .chain((1200..1210).map(|n| w("00Qx", n)))
            .collect();
        let idx: Vec<usize> = (0..writes.len()).collect();
        let lay = layout(&writes, &idx);
        assert_eq!(lay.sequential.len(), 2);
        assert_eq!(lay.parallel.len(), 1);
    }

    #[test]
    fn updates_and_creates_share_a_request_within_five_collections() {
        let mut writes: Vec<PlannedWrite> = (0..700).map(|n| w(&format!("00Q{n}"), n)).collect();
        for n in 700..1000 {
            let mut c = w(&format!("new:{n}"), n);
            c.action = WriteAction::Create;
            c.id = None;
            writes.push(c);
        }
        let idx: Vec<usize> = (0..writes.len()).collect();
        let lay = layout(&writes, &idx);
        // 700 updates (4 collections) + 300 creates (2) need 6 collections: two requests.
        assert_eq!(lay.parallel.len(), 2);
        for g in &lay.parallel {
            assert!(g.ops.len() <= COMPOSITE_MAX_HEAVY_SUBREQUESTS);
            let kinds: Vec<_> = g.ops.iter().map(|(op, _)| op.action.clone()).collect();
            let first_create = kinds
                .iter()
                .position(|a| *a == salesforce::WriteAction::Create)
                .unwrap_or(kinds.len());
            assert!(
                kinds[first_create..]
                    .iter()
                    .all(|a| *a == salesforce::WriteAction::Create),
                "updates before creates"
            );
        }
        let creates = writes
            .iter()
            .filter(|w| w.action == WriteAction::Create)
            .count();
        let in_create_ops: usize = lay
            .parallel
            .iter()
            .flat_map(|g| g.ops.iter())
            .filter(|(op, _)| op.action == salesforce::WriteAction::Create)
            .map(|(op, _)| op.records.len())
            .sum();
        assert_eq!(in_create_ops, creates);
        assert!(
            lay.parallel
                .iter()
                .flat_map(|g| g.ops.iter())
                .filter(|(op, _)| op.action == salesforce::WriteAction::Create)
                .all(|(op, _)| op.records.iter().all(|r| !r.contains_key("Id")))
        );
    }

    #[test]
    fn keyed_creates_travel_as_upserts_per_object_by_the_key() {
        let create = |object: SObject, n: usize, keyed: bool| {
            let mut fields = Map::new();
            fields.insert("Email".into(), Value::String(format!("p{n}@x.com")));
            if keyed {
                fields.insert(
                    PERSON_KEY_FIELD.into(),
                    Value::String(format!("p{n}@x.com")),
                );
            }
            PlannedWrite {
                object,
                action: WriteAction::Create,
                id: None,
                fields,
                family: format!("new:{n}"),
                evaluation: n,
            }
        };
        let mut writes = vec![w("001A", 0)];
        writes.extend((1..=250).map(|n| create(SObject::Lead, n, true)));
        writes.extend((251..=260).map(|n| create(SObject::Contact, n, true)));
        writes.push(create(SObject::Lead, 261, false));
        let idx: Vec<usize> = (0..writes.len()).collect();
        let lay = layout(&writes, &idx);
        let ops: Vec<(salesforce::WriteAction, usize)> = lay
            .parallel
            .iter()
            .flat_map(|g| g.ops.iter().map(|(op, m)| (op.action.clone(), m.len())))
            .collect();
        let upsert = |object: &str| salesforce::WriteAction::Upsert {
            object: object.into(),
            external_id: PERSON_KEY_FIELD.into(),
        };
        assert_eq!(
            ops,
            [
                (salesforce::WriteAction::Update, 1),
                (salesforce::WriteAction::Create, 1),
                (upsert("Lead"), 200),
                (upsert("Lead"), 50),
                (upsert("Contact"), 10),
            ],
            "five collections, one Composite request"
        );
        let body = &lay.parallel[0].ops[2].0.records[0];
        assert_eq!(body[PERSON_KEY_FIELD], "p1@x.com");
        assert!(body.get("Id").is_none());
    }

    mod layout_invariants {
        use super::*;
        use proptest::prelude::*;

        prop_compose! {
            /// (family, kind): 0 update, 1 plain create, 2 keyed Lead create, 3 keyed Contact create.
            fn planned()(spec in proptest::collection::vec((0usize..40, 0usize..4), 0..1500)) -> Vec<PlannedWrite> {
                spec.into_iter().enumerate().map(|(n, (fam, kind))| {
                    let mut p = w(&format!("001F{fam}"), n);
                    if kind > 0 {
                        p.action = WriteAction::Create;
                        p.id = None;
                        p.object = if kind == 3 { SObject::Contact } else { SObject::Lead };
                    }
                    if kind >= 2 {
                        p.fields.insert(PERSON_KEY_FIELD.into(), Value::String(format!("p{n}@x.com")));
                    }
                    p
                }).collect()
            }
        }

        proptest! {
            #[test]
            fn every_write_goes_once_in_at_most_five_homogeneous_collections_per_request(writes in planned()) {
                let idx: Vec<usize> = (0..writes.len()).collect();
                let lay = layout(&writes, &idx);
                let mut seen = vec![0u32; writes.len()];
                for g in lay.parallel.iter().chain(&lay.sequential) {
                    prop_assert!(g.ops.len() <= COMPOSITE_MAX_HEAVY_SUBREQUESTS);
                    for (op, members) in &g.ops {
                        prop_assert!(!members.is_empty() && members.len() <= COLLECTION_MAX_RECORDS);
                        for &i in members {
                            seen[i] += 1;
                            let want = match collection_of(&writes[i]) {
                                Collection::Update => salesforce::WriteAction::Update,
                                Collection::Create => salesforce::WriteAction::Create,
                                Collection::Upsert(o) => salesforce::WriteAction::Upsert {
                                    object: o.as_str().into(),
                                    external_id: PERSON_KEY_FIELD.into(),
                                },
                            };
                            prop_assert_eq!(&op.action, &want);
                        }
                    }
                }
                prop_assert!(seen.iter().all(|&n| n == 1));
            }
        }
    }

    #[test]
    fn record_bodies_carry_type_and_id() {
        let body = record_body(&w("f", 1));
        assert_eq!(
            serde_json::Value::Object(body).to_string(),
            r#"{"attributes":{"type":"Contact"},"Id":"003000000000000001","S__c":"hot"}"#
        );
    }

    #[test]
    fn save_results_map_to_outcomes_with_hints() {
        let ok: SaveResult = serde_json::from_value(
            serde_json::json!({"id": "00Qnew", "success": true, "errors": []}),
        )
        .unwrap();
        assert_eq!(save_result(&ok), WriteResult::Ok(Some("00Qnew".into())));
        let lock: SaveResult = serde_json::from_value(serde_json::json!({"success": false, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access to this record", "fields": []}]})).unwrap();
        let WriteResult::Failed(e) = save_result(&lock) else {
            panic!()
        };
        assert!(e.transient);
        let dup: SaveResult = serde_json::from_value(serde_json::json!({"success": false, "errors": [{"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?",
            "duplicateResult": {"matchResults": [{"matchRecords": [{"record": {"Id": "00Qdup"}}]}]}}]})).unwrap();
        let WriteResult::Failed(e) = save_result(&dup) else {
            panic!()
        };
        assert_eq!(e.ids, vec!["00Qdup"]);
        assert!(!e.transient);
        assert!(e.hint.contains("allow_duplicate_save"));
    }

    #[test]
    fn client_errors_map_to_codes_and_transience() {
        let e = salesforce::Error::Api {
            status: 503,
            errors: vec![salesforce::ApiError {
                error_code: "SERVER_UNAVAILABLE".into(),
                message: "server too busy".into(),
                fields: vec![],
            }],
        };
        let r = report_error(&e);
        assert_eq!((r.code.as_str(), r.transient), ("SERVER_UNAVAILABLE", true));
        let e = salesforce::Error::Transport {
            kind: salesforce::TransportKind::Connect,
            message: "refused".into(),
        };
        assert_eq!(report_error(&e).code, hints::CONNECTION_ERROR);
        assert!(report_error(&e).transient);
        let e = salesforce::Error::Api {
            status: 403,
            errors: vec![salesforce::ApiError {
                error_code: "REQUEST_LIMIT_EXCEEDED".into(),
                message: "TotalRequests Limit exceeded.".into(),
                fields: vec![],
            }],
        };
        assert!(report_error(&e).transient);
        let e = salesforce::Error::Api {
            status: 400,
            errors: vec![salesforce::ApiError {
                error_code: "INVALID_FIELD".into(),
                message: "No such column".into(),
                fields: vec![],
            }],
        };
        assert!(!report_error(&e).transient);
    }

    #[test]
    fn the_kind_is_the_clients_classification() {
        let api = |status: u16, code: &str, message: &str| salesforce::Error::Api {
            status,
            errors: vec![salesforce::ApiError {
                error_code: code.into(),
                message: message.into(),
                fields: vec![],
            }],
        };
        let table = [
            (
                api(503, "SERVER_UNAVAILABLE", "busy"),
                FailureKind::OrgUnavailable,
            ),
            (
                api(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "TotalRequests Limit exceeded.",
                ),
                FailureKind::RequestLimit,
            ),
            (
                api(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.",
                ),
                FailureKind::ConcurrentLimit,
            ),
            (
                api(400, "UNABLE_TO_LOCK_ROW", "locked"),
                FailureKind::RecordTransient,
            ),
            (
                api(400, "INVALID_FIELD", "No such column"),
                FailureKind::Record,
            ),
            (
                salesforce::Error::Auth {
                    status: 400,
                    error: "invalid_grant".into(),
                    description: "expired access/refresh token".into(),
                },
                FailureKind::SignedOut,
            ),
            (salesforce::Error::CannotRefresh, FailureKind::SignedOut),
        ];
        for (e, want) in table {
            assert_eq!(report_error(&e).kind, want, "{e}");
        }
        // A 429 without a body is throttling, and carries the org's wait.
        let e = salesforce::Error::Throttled {
            status: 429,
            retry_after: Some(std::time::Duration::from_secs(5)),
            message: String::new(),
        };
        let r = report_error(&e);
        assert_eq!(
            (r.code.as_str(), r.kind),
            ("HTTP_429", FailureKind::Throttled)
        );
        assert_eq!(r.retry_after_ms, Some(5000));
        assert!(r.transient);
    }

    #[test]
    fn a_lost_answer_to_a_create_is_an_ambiguous_create() {
        let group = Group {
            ops: vec![(
                CollectionWrite {
                    action: salesforce::WriteAction::Create,
                    records: vec![Map::new()],
                },
                vec![0],
            )],
        };
        let mut results = vec![None];
        let lost = salesforce::Error::Transport {
            kind: salesforce::TransportKind::Timeout,
            message: "timed out".into(),
        };
        apply_group(&group, Err(lost), &mut results);
        let Some(WriteResult::Failed(e)) = &results[0] else {
            panic!()
        };
        assert_eq!(e.kind, FailureKind::AmbiguousCreate);
    }
}
