//! The planner: a pure function from (batch, lookup result, settings, field metadata) to the
//! record writes and a provisional report per evaluation. Every delivery rule of
//! docs/product.md#delivery-rules lives here and nowhere else; it does no I/O, so each rule has a
//! fast unit test named after it.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use domain::{
    CreateAs, DestinationSettings, DuplicatePolicy, Evaluation, ObjectMapping, Outcome,
    PersonMatch, Reason, Report, ReportError, Warning, WriteAction, WriteReport,
    parse_salesforce_datetime,
};

use crate::meta::{FieldKind, Metadata, ObjectMeta, SObject};
use crate::rows::{AccountRow, ContactRow, LeadRow, Lookup, Values};
use person_key::{create_key, update_key};

/// Salesforce's own convention for required fields an import cannot fill
/// (docs/product.md#creating-records).
pub const NOT_PROVIDED: &str = "[not provided]";
/// Appended to reasoning cut to fit its field.
pub const ELLIPSIS: char = '…';

/// One record to write.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWrite {
    pub object: SObject,
    pub action: WriteAction,
    /// The record id for updates; `None` for creates.
    pub id: Option<String>,
    /// Field API name → value, in mapping order.
    pub fields: Map<String, Value>,
    /// Records of one family must not be written concurrently: Salesforce locks the parent
    /// Account while it saves a Contact (UNABLE_TO_LOCK_ROW otherwise). The parent Account id
    /// for Contacts and Accounts, the record's own id (or a placeholder) for the rest.
    pub family: String,
    /// Index of the evaluation whose report carries this write.
    pub evaluation: usize,
}

/// What to write and, per evaluation (batch order), what will have happened if it all works.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub writes: Vec<PlannedWrite>,
    pub reports: Vec<Report>,
    /// Per evaluation: indices into `writes`, aligned with `reports[i].writes`.
    pub report_writes: Vec<Vec<usize>>,
}

/// What one record needs, seen from one evaluation.
enum RecordPlan {
    NotMapped,
    Failed(ReportError),
    SupersededInSalesforce,
    Unchanged,
    Write(Map<String, Value>, Vec<Warning>),
}

/// The people an evaluation resolves to.
enum Resolution<'a> {
    Records {
        contacts: Vec<&'a ContactRow>,
        leads: Vec<&'a LeadRow>,
        warnings: Vec<Warning>,
    },
    Skip(Reason, Vec<Warning>),
    Create(Vec<Warning>),
}

/// Per-evaluation tallies, turned into the outcome at the end.
#[derive(Default)]
struct Tally {
    wrote: bool,
    created: bool,
    unchanged: bool,
    superseded_in_salesforce: bool,
    claimed_by_newer: bool,
    skip: Option<Reason>,
    failed: Option<ReportError>,
}

/// What planning one evaluation has produced so far: its writes, warnings and tallies.
struct Draft {
    /// Index of the evaluation in the batch.
    evaluation: usize,
    pending: Vec<PlannedWrite>,
    warnings: Vec<Warning>,
    tally: Tally,
}

impl Draft {
    fn new(evaluation: usize) -> Self {
        Draft {
            evaluation,
            pending: Vec::new(),
            warnings: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// A warning that several records of one evaluation may raise is reported once.
    fn warn_once(&mut self, w: Warning) {
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Plans one write on behalf of this evaluation.
    fn write(
        &mut self,
        object: SObject,
        action: WriteAction,
        id: Option<String>,
        fields: Map<String, Value>,
        family: String,
    ) {
        self.tally.wrote = true;
        self.pending.push(PlannedWrite {
            object,
            action,
            id,
            fields,
            family,
            evaluation: self.evaluation,
        });
    }
}

/// Plans a batch. See the module doc and docs/product.md#delivery-rules.
pub fn plan(
    batch: &[Evaluation],
    lookup: &Lookup,
    settings: &DestinationSettings,
    meta: &Metadata,
) -> Plan {
    let mut p = Plan {
        writes: Vec::new(),
        reports: batch
            .iter()
            .map(|e| Report::new(e.id.as_str(), e.email.normalized(), Outcome::Skipped))
            .collect(),
        report_writes: vec![Vec::new(); batch.len()],
    };
    if !settings.enabled {
        for r in &mut p.reports {
            r.reason = Some(Reason::DestinationDisabled);
        }
        return p;
    }

    let idx = Index::new(lookup);

    // Coalescing: newest evaluation of each person wins (ties: the later line). Processing the
    // winners newest-first also makes the first claim on a record or Account the newest one.
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| (batch[b].evaluated_at, b).cmp(&(batch[a].evaluated_at, a)));
    let mut seen_email: HashSet<&str> = HashSet::new();
    let mut claimed_records: HashSet<(SObject, String)> = HashSet::new();
    let mut claimed_accounts: HashSet<String> = HashSet::new();
    let mut per_eval: Vec<Vec<PlannedWrite>> = vec![Vec::new(); batch.len()];

    for i in order {
        let ev = &batch[i];
        if !seen_email.insert(ev.email.normalized()) {
            set_outcome(
                &mut p.reports[i],
                Outcome::Superseded,
                Some(Reason::NewerEvaluationInBatch),
            );
            continue;
        }
        let mut d = Draft::new(i);

        match resolve(ev, &idx, settings) {
            Resolution::Skip(reason, w) => {
                p.reports[i].warnings = w;
                set_outcome(&mut p.reports[i], Outcome::Skipped, Some(reason));
                continue;
            }
            Resolution::Create(w) => {
                d.warnings.extend(w);
                plan_create(ev, &idx, settings, meta, &mut claimed_accounts, &mut d);
            }
            Resolution::Records {
                contacts,
                leads,
                warnings: w,
            } => {
                d.warnings.extend(w);
                let contact_key = update_key(ev, SObject::Contact, contacts.len(), &idx, meta);
                let lead_key = update_key(ev, SObject::Lead, leads.len(), &idx, meta);
                for c in contacts {
                    if !claimed_records.insert((SObject::Contact, c.id.clone())) {
                        d.tally.claimed_by_newer = true;
                        continue;
                    }
                    let rp = record_plan(
                        ev,
                        SObject::Contact,
                        &c.values,
                        &settings.contact,
                        None,
                        &meta.contact,
                    );
                    let key =
                        contact_key.filter(|(f, _)| c.values.str(f).is_none_or(str::is_empty));
                    let live = apply_record(
                        rp,
                        SObject::Contact,
                        &c.id,
                        c.account_id.as_deref(),
                        key,
                        &mut d,
                    );
                    if live {
                        plan_account_propensity(
                            ev,
                            c.account_id.as_deref(),
                            &c.account_values,
                            settings,
                            meta,
                            &mut claimed_accounts,
                            &mut d,
                        );
                    }
                }
                for l in leads {
                    if !claimed_records.insert((SObject::Lead, l.id.clone())) {
                        d.tally.claimed_by_newer = true;
                        continue;
                    }
                    let prop = settings.propensity.lead_field.as_deref();
                    let rp = record_plan(
                        ev,
                        SObject::Lead,
                        &l.values,
                        &settings.lead,
                        prop,
                        &meta.lead,
                    );
                    let key = lead_key.filter(|(f, _)| l.values.str(f).is_none_or(str::is_empty));
                    apply_record(rp, SObject::Lead, &l.id, None, key, &mut d);
                }
            }
        }

        let Draft {
            pending,
            warnings,
            tally,
            ..
        } = d;
        let report = &mut p.reports[i];
        report.warnings = warnings;
        if let Some(err) = tally.failed {
            report.outcome = Outcome::Failed;
            report.error = Some(err);
            continue;
        }
        per_eval[i] = pending;
        let (outcome, reason) = if tally.created {
            (Outcome::Created, None)
        } else if tally.wrote {
            (Outcome::Updated, None)
        } else if tally.unchanged {
            (Outcome::Unchanged, None)
        } else if tally.superseded_in_salesforce {
            (
                Outcome::Superseded,
                Some(Reason::NewerEvaluationInSalesforce),
            )
        } else if tally.claimed_by_newer {
            (Outcome::Superseded, Some(Reason::NewerEvaluationInBatch))
        } else if let Some(reason) = tally.skip {
            (Outcome::Skipped, Some(reason))
        } else {
            (Outcome::Skipped, Some(Reason::ObjectNotMapped))
        };
        set_outcome(report, outcome, reason);
    }
    // Writes in batch order (deterministic request bodies), each listed on its report.
    for (i, pending) in per_eval.into_iter().enumerate() {
        for w in pending {
            p.reports[i].writes.push(WriteReport {
                object: w.object.as_str().to_string(),
                id: w.id.clone(),
                action: w.action,
                fields: w.fields.clone(),
                failed: false,
            });
            p.report_writes[i].push(p.writes.len());
            p.writes.push(w);
        }
    }
    p
}

fn set_outcome(r: &mut Report, outcome: Outcome, reason: Option<Reason>) {
    r.outcome = outcome;
    r.reason = reason;
}

/// Lookup rows indexed by email, id and domain.
struct Index<'a> {
    contacts_by_email: HashMap<&'a str, Vec<&'a ContactRow>>,
    contacts_by_id: HashMap<&'a str, &'a ContactRow>,
    leads_by_email: HashMap<&'a str, Vec<&'a LeadRow>>,
    accounts_by_domain: HashMap<&'a str, Vec<&'a AccountRow>>,
}

impl<'a> Index<'a> {
    fn new(l: &'a Lookup) -> Index<'a> {
        let mut ix = Index {
            contacts_by_email: HashMap::new(),
            contacts_by_id: HashMap::new(),
            leads_by_email: HashMap::new(),
            accounts_by_domain: HashMap::new(),
        };
        for c in &l.contacts {
            if ix.contacts_by_id.insert(c.id.as_str(), c).is_some() {
                continue; // found twice (by email and by id): keep one
            }
            if let Some(e) = c.email.as_deref() {
                ix.contacts_by_email.entry(e).or_default().push(c);
            }
        }
        let mut seen_leads = HashSet::new();
        for ld in &l.leads {
            if let Some(e) = ld.email.as_deref()
                && seen_leads.insert(ld.id.as_str())
            {
                ix.leads_by_email.entry(e).or_default().push(ld);
            }
        }
        for a in &l.accounts {
            if let Some(d) = a.domain.as_deref() {
                ix.accounts_by_domain.entry(d).or_default().push(a);
            }
        }
        ix
    }
}

/// Matching a person: Contact-over-Lead (or both), converted Leads followed to their
/// Contact, then the duplicate policy per object.
fn resolve<'a>(ev: &Evaluation, idx: &Index<'a>, s: &DestinationSettings) -> Resolution<'a> {
    let email = ev.email.normalized();
    let contacts: Vec<&ContactRow> = idx
        .contacts_by_email
        .get(email)
        .cloned()
        .unwrap_or_default();
    let all_leads: Vec<&LeadRow> = idx.leads_by_email.get(email).cloned().unwrap_or_default();
    let open: Vec<&LeadRow> = all_leads
        .iter()
        .copied()
        .filter(|l| !l.is_converted)
        .collect();
    let mut warnings = Vec::new();

    // A converted Lead is read-only (CANNOT_UPDATE_CONVERTED_LEAD): follow it to its Contact.
    let mut followed: Vec<&ContactRow> = Vec::new();
    let mut follow_warnings = Vec::new();
    for l in all_leads.iter().filter(|l| l.is_converted) {
        if let Some(c) = l
            .converted_contact_id
            .as_deref()
            .and_then(|id| idx.contacts_by_id.get(id))
            && !followed.iter().any(|f| f.id == c.id)
        {
            followed.push(c);
            follow_warnings.push(Warning::ConvertedLeadFollowed {
                lead: l.id.clone(),
                contact: c.id.clone(),
            });
        }
    }

    let (mut use_contacts, mut use_leads, via_conversion) = match s.person_match {
        PersonMatch::ContactFirst if !contacts.is_empty() => (contacts, Vec::new(), false),
        PersonMatch::ContactFirst if !open.is_empty() => (Vec::new(), open, false),
        PersonMatch::ContactFirst => (followed, Vec::new(), true),
        PersonMatch::Both if !contacts.is_empty() => (contacts, open, false),
        PersonMatch::Both => (followed, open, true),
    };
    if via_conversion && !use_contacts.is_empty() {
        warnings.extend(follow_warnings);
    }
    if use_contacts.is_empty() && use_leads.is_empty() {
        return Resolution::Create(warnings);
    }

    for ids in [
        (use_contacts.len() > 1).then(|| {
            use_contacts
                .iter()
                .map(|c| c.id.clone())
                .collect::<Vec<_>>()
        }),
        (use_leads.len() > 1).then(|| use_leads.iter().map(|l| l.id.clone()).collect::<Vec<_>>()),
    ]
    .into_iter()
    .flatten()
    {
        warnings.push(Warning::DuplicateMatch { ids });
    }
    let has_duplicates = use_contacts.len() > 1 || use_leads.len() > 1;
    match s.duplicates {
        DuplicatePolicy::All => {}
        DuplicatePolicy::Skip if has_duplicates => {
            return Resolution::Skip(Reason::DuplicateMatch, warnings);
        }
        DuplicatePolicy::Skip => {}
        DuplicatePolicy::MostRecent => {
            if use_contacts.len() > 1 {
                let best = most_recent(
                    use_contacts
                        .iter()
                        .map(|c| (c.last_modified, c.id.as_str())),
                );
                use_contacts.retain(|c| Some(c.id.as_str()) == best);
            }
            if use_leads.len() > 1 {
                let best = most_recent(use_leads.iter().map(|l| (l.last_modified, l.id.as_str())));
                use_leads.retain(|l| Some(l.id.as_str()) == best);
            }
        }
    }
    Resolution::Records {
        contacts: use_contacts,
        leads: use_leads,
        warnings,
    }
}

/// The most recently modified record (ties broken by id so the choice is stable).
fn most_recent<'a>(
    items: impl Iterator<Item = (Option<OffsetDateTime>, &'a str)>,
) -> Option<&'a str> {
    items.max_by(|a, b| a.cmp(b)).map(|(_, id)| id)
}

/// Evaluation time at the millisecond precision we write and Salesforce stores.
fn written_instant(ev: &Evaluation) -> OffsetDateTime {
    let dt = ev.evaluated_at.datetime();
    dt.replace_nanosecond(dt.millisecond() as u32 * 1_000_000)
        .unwrap_or(dt)
}

/// The values we would write on one record, compared with what it holds.
fn record_plan(
    ev: &Evaluation,
    object: SObject,
    current: &Values,
    mapping: &ObjectMapping,
    lead_propensity_field: Option<&str>,
    om: &ObjectMeta,
) -> RecordPlan {
    let mut fields = Map::new();
    let mut warnings = Vec::new();
    let mut superseded = false;
    let mut differs = false;

    let canonical = |name: &str| -> Result<String, ReportError> {
        om.field(name).map(|f| f.name.clone()).ok_or_else(|| {
            ReportError::from_code(
                "INVALID_FIELD",
                &format!("No such column '{name}' on sobject of type {} (the field is missing or not visible to the integration user)", object.as_str()),
            )
        })
    };

    if let Some(f) = mapping.score_field.as_deref() {
        let name = match canonical(f) {
            Ok(n) => n,
            Err(e) => return RecordPlan::Failed(e),
        };
        let v = ev.score.as_str();
        differs |= current.str(&name) != Some(v);
        fields.insert(name, Value::String(v.to_string()));
    }
    if let Some(f) = mapping.evaluation_date_field.as_deref() {
        let Some(fm) = om.field(f) else {
            return RecordPlan::Failed(
                canonical(f)
                    .err()
                    .unwrap_or_else(|| ReportError::from_code("INVALID_FIELD", f)),
            );
        };
        let cur = current.str(&fm.name);
        let v = if fm.kind == FieldKind::Date {
            let d = ev.evaluated_at.salesforce_date();
            // Newest wins across batches: a later day already recorded beats this evaluation.
            superseded |= cur.is_some_and(|c| c > d.as_str());
            differs |= cur != Some(d.as_str());
            d
        } else {
            let ours = written_instant(ev);
            match cur.and_then(parse_salesforce_datetime) {
                Some(theirs) => {
                    superseded |= theirs > ours;
                    differs |= theirs != ours;
                }
                None => differs = true,
            }
            ev.evaluated_at.salesforce_datetime()
        };
        fields.insert(fm.name.clone(), Value::String(v));
    }
    if let Some(f) = mapping.reasoning_field.as_deref() {
        let Some(fm) = om.field(f) else {
            return RecordPlan::Failed(
                canonical(f)
                    .err()
                    .unwrap_or_else(|| ReportError::from_code("INVALID_FIELD", f)),
            );
        };
        let (text, truncated) = fit_reasoning(&ev.reasoning, fm.length);
        if truncated {
            warnings.push(Warning::ReasoningTruncated { length: fm.length });
        }
        differs |= current.str(&fm.name) != Some(text.as_str());
        fields.insert(fm.name.clone(), Value::String(text));
    }
    if let (Some(f), Some(prop)) = (lead_propensity_field, ev.propensity) {
        let name = match canonical(f) {
            Ok(n) => n,
            Err(e) => return RecordPlan::Failed(e),
        };
        let v = prop.salesforce_value();
        differs |= current.str(&name) != Some(v);
        fields.insert(name, Value::String(v.to_string()));
    }

    if fields.is_empty() {
        RecordPlan::NotMapped
    } else if superseded {
        RecordPlan::SupersededInSalesforce
    } else if !differs {
        RecordPlan::Unchanged
    } else {
        RecordPlan::Write(fields, warnings)
    }
}

/// Cuts reasoning to the field's length (characters, from describe) ending with `…`.
pub fn fit_reasoning(text: &str, length: u32) -> (String, bool) {
    let max = length as usize;
    if max == 0 || text.chars().count() <= max {
        return (text.to_string(), false);
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push(ELLIPSIS);
    (cut, true)
}

/// Records the consequence of one record's plan; returns whether the record stays current
/// for this evaluation (written or unchanged), i.e. whether its Account may take propensity.
/// `key` (field, value): the person key, set along with a write that happens anyway.
fn apply_record(
    rp: RecordPlan,
    object: SObject,
    id: &str,
    parent_account: Option<&str>,
    key: Option<(&str, &str)>,
    d: &mut Draft,
) -> bool {
    match rp {
        RecordPlan::NotMapped => true,
        RecordPlan::Failed(e) => {
            d.tally.failed.get_or_insert(e);
            false
        }
        RecordPlan::SupersededInSalesforce => {
            d.tally.superseded_in_salesforce = true;
            false
        }
        RecordPlan::Unchanged => {
            d.tally.unchanged = true;
            true
        }
        RecordPlan::Write(mut fields, w) => {
            for x in w {
                d.warn_once(x);
            }
            if let Some((f, v)) = key {
                fields.insert(f.to_string(), Value::String(v.to_string()));
            }
            d.write(
                object,
                WriteAction::Update,
                Some(id.to_string()),
                fields,
                parent_account.unwrap_or(id).to_string(),
            );
            true
        }
    }
}

/// Account propensity: to the linked Account when the Account field is mapped; one write
/// per Account per batch, the newest evaluation's value (the first claim, as winners are
/// processed newest-first).
fn plan_account_propensity(
    ev: &Evaluation,
    account_id: Option<&str>,
    account_values: &Values,
    s: &DestinationSettings,
    meta: &Metadata,
    claimed: &mut HashSet<String>,
    d: &mut Draft,
) {
    let (Some(prop), Some(field)) = (ev.propensity, s.propensity.account_field.as_deref()) else {
        return;
    };
    let Some(acc) = account_id else {
        d.warn_once(Warning::PropensityNotWritten {
            why: "the Contact has no Account; the Lead propensity field applies only to Leads"
                .into(),
        });
        return;
    };
    if !claimed.insert(acc.to_string()) {
        return;
    }
    let Some(fm) = meta.account.field(field) else {
        d.tally.failed.get_or_insert(ReportError::from_code(
            "INVALID_FIELD",
            &format!("No such column '{field}' on sobject of type Account (the field is missing or not visible to the integration user)"),
        ));
        return;
    };
    let v = prop.salesforce_value();
    if account_values.str(&fm.name) == Some(v) {
        d.tally.unchanged = true;
        return;
    }
    let mut fields = Map::new();
    fields.insert(fm.name.clone(), Value::String(v.to_string()));
    d.write(
        SObject::Account,
        WriteAction::Update,
        Some(acc.to_string()),
        fields,
        acc.to_string(),
    );
}

/// Creating a record when nothing matched: gated by the setting and the score levels;
/// a Lead by default, or a Contact under the Account whose Website matches the email's
/// domain (falling back to a Lead when there is none).
fn plan_create(
    ev: &Evaluation,
    idx: &Index<'_>,
    s: &DestinationSettings,
    meta: &Metadata,
    claimed_accounts: &mut HashSet<String>,
    d: &mut Draft,
) {
    if !s.create_records.enabled {
        tally_skip(&mut d.tally, Reason::NoMatch);
        return;
    }
    if !s.create_records.score_levels.contains(&ev.score) {
        tally_skip(&mut d.tally, Reason::ScoreNotSelectedForCreation);
        return;
    }
    let person = ev.person.clone().unwrap_or_default();
    let mut object = SObject::Lead;
    let mut account: Option<&AccountRow> = None;
    if s.create_as == CreateAs::Contact {
        let domain = ev.email.domain();
        let candidates = idx
            .accounts_by_domain
            .get(domain)
            .cloned()
            .unwrap_or_default();
        let best = most_recent(candidates.iter().map(|a| (a.last_modified, a.id.as_str())));
        account = candidates.into_iter().find(|a| Some(a.id.as_str()) == best);
        if account.is_some() {
            object = SObject::Contact;
        } else {
            d.warnings.push(Warning::NoAccountForDomain {
                domain: domain.to_string(),
            });
        }
    }
    let (mapping, om) = match object {
        SObject::Contact => (&s.contact, &meta.contact),
        _ => (&s.lead, &meta.lead),
    };
    let lead_prop = (object == SObject::Lead)
        .then_some(s.propensity.lead_field.as_deref())
        .flatten();
    let mapped = match record_plan(ev, object, &Values::default(), mapping, lead_prop, om) {
        RecordPlan::Write(f, w) => {
            d.warnings.extend(w);
            f
        }
        RecordPlan::Failed(e) => {
            d.tally.failed = Some(e);
            return;
        }
        _ => return,
    };

    let fit = |name: &str, v: &str| -> String {
        match om.field(name).map(|f| f.length as usize) {
            Some(n) if n > 0 && v.chars().count() > n => v.chars().take(n).collect(),
            _ => v.to_string(),
        }
    };
    let mut fields = Map::new();
    fields.insert("Email".into(), Value::String(ev.email.as_str().to_string()));
    if let Some(first) = person.first_name.as_deref() {
        fields.insert("FirstName".into(), Value::String(fit("FirstName", first)));
    }
    // Salesforce requires LastName (and Company on Lead): `[not provided]` when we lack them.
    let last = person.last_name.as_deref().unwrap_or(NOT_PROVIDED);
    fields.insert("LastName".into(), Value::String(fit("LastName", last)));
    if object == SObject::Lead {
        let company = person
            .company
            .as_deref()
            .or(ev.account.as_ref().and_then(|a| a.name.as_deref()))
            .unwrap_or(NOT_PROVIDED);
        fields.insert("Company".into(), Value::String(fit("Company", company)));
    }
    if let Some(title) = person.title.as_deref() {
        fields.insert("Title".into(), Value::String(fit("Title", title)));
    }
    if let Some(a) = account {
        fields.insert("AccountId".into(), Value::String(a.id.clone()));
    }
    fields.extend(mapped);
    if let Some((f, v)) = create_key(ev, object, idx, meta) {
        // A create that carries the person key is sent as an upsert by it (write.rs).
        fields.insert(f.to_string(), Value::String(v.to_string()));
    }
    d.tally.created = true;
    let family = account
        .map(|a| a.id.clone())
        .unwrap_or_else(|| format!("new:{}", d.evaluation));
    d.write(object, WriteAction::Create, None, fields, family);
    if let Some(a) = account {
        plan_account_propensity(ev, Some(&a.id), &a.values, s, meta, claimed_accounts, d);
        // The new Contact is what this evaluation created, whatever happened to the Account.
        d.tally.created = true;
    }
}

fn tally_skip(tally: &mut Tally, reason: Reason) {
    tally.skip = Some(reason);
}

mod person_key;

#[cfg(test)]
mod tests;
