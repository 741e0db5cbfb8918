//! Delivery: lookup → plan → write → outcomes (docs/architecture.md#the-path-of-one-evaluation).
//!
//! [`plan()`] is a pure function holding every delivery rule of docs/product.md#delivery-rules;
//! [`lookup`], [`write`] and [`Destination`] are the imperative shell around it that talks to
//! Salesforce, with field metadata kept fresh by [`freshness`]; [`check()`] is the
//! preflight of the settings against the org's metadata; [`setup`] plans and applies the
//! org's setup (TrailSpark's fields and field access).

pub mod check;
pub mod destination;
pub mod freshness;
pub mod guard;
pub mod lookup;
pub mod meta;
pub mod plan;
pub mod rows;
pub mod setup;
#[doc(hidden)]
pub mod testing;
pub mod write;

pub use check::{Problem, check, check_with_metadata};
pub use destination::{
    DEFAULT_CONCURRENCY, DeliverOptions, Destination, after_retry, object_meta, outcomes,
};
pub use freshness::{DEFAULT_METADATA_MAX_AGE, MetadataCache};
pub use guard::LeaseGuard;
pub use meta::{
    FieldKind, FieldMeta, FieldOption, Metadata, NotOffered, ObjectMeta, SObject, SlotOptions,
    compatible, compatible_types, slot_options,
};
pub use plan::{Plan, PlannedWrite, plan};
pub use rows::{AccountRow, ContactRow, LeadRow, Lookup, Values};
