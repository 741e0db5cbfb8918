//! Delivery: lookup → plan → write → outcomes (architecture.md).
//!
//! [`plan()`] is a pure function holding every delivery rule of product.md; [`lookup`],
//! [`write`] and [`Destination`] are the imperative shell around it that talks to
//! Salesforce; [`check()`] is the preflight of the settings against the org's metadata;
//! [`setup`] plans and applies the org's setup (TrailSpark's fields and field access).

pub mod check;
pub mod destination;
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
    DEFAULT_CONCURRENCY, DeliverOptions, DeliveryError, Destination, object_meta, outcomes,
};
pub use meta::{
    FieldKind, FieldMeta, FieldOption, Metadata, ObjectMeta, SObject, compatible, compatible_types,
    field_options,
};
pub use plan::{Plan, PlannedWrite, plan};
pub use rows::{AccountRow, ContactRow, LeadRow, Lookup, Values};
