//! The person key in a plan (docs/product.md#the-person-key): which creates carry it (and
//! so travel as upserts by it) and which updates set it along with their write.

use domain::Evaluation;

use super::Index;
use crate::meta::{Metadata, SObject};
use crate::rows::Values;

/// The person key of an evaluation's person for a create of `object` (field, value):
/// when the object has the key field (docs/product.md#the-person-key) and the normalized
/// email fits it. Not when a record of the object found for this email holds a key
/// already (a converted Lead keeps its key and cannot be updated, so an upsert matching it
/// would fail): that create stays a plain create.
pub(super) fn create_key<'m>(
    ev: &'m Evaluation,
    object: SObject,
    idx: &Index<'_>,
    meta: &'m Metadata,
) -> Option<(&'m str, &'m str)> {
    let k = meta.person_key(object)?;
    let email = ev.email.normalized();
    let fits = k.length == 0 || email.chars().count() <= k.length as usize;
    (fits && !key_taken(object, email, &k.name, idx)).then_some((k.name.as_str(), email))
}

/// The person key to set on a found record of `object` that is written anyway (no extra
/// call), when the record's key is empty: only when this evaluation writes one record of
/// the object (a unique key fits one record; duplicates written under `duplicates = "all"`
/// get none) and no record of the object found for this email holds a key.
pub(super) fn update_key<'m>(
    ev: &'m Evaluation,
    object: SObject,
    written: usize,
    idx: &Index<'_>,
    meta: &'m Metadata,
) -> Option<(&'m str, &'m str)> {
    if written != 1 {
        return None;
    }
    create_key(ev, object, idx, meta)
}

/// Whether a record of `object` found for `email` holds a person key.
fn key_taken(object: SObject, email: &str, key: &str, idx: &Index<'_>) -> bool {
    let has = |v: &Values| v.str(key).is_some_and(|s| !s.is_empty());
    match object {
        SObject::Lead => idx
            .leads_by_email
            .get(email)
            .is_some_and(|ls| ls.iter().any(|l| has(&l.values))),
        SObject::Contact => idx
            .contacts_by_email
            .get(email)
            .is_some_and(|cs| cs.iter().any(|c| has(&c.values))),
        SObject::Account => true,
    }
}
