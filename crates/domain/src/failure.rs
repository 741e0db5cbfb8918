//! The kinds of trouble a delivery attempt can meet, decided once where Salesforce's answer
//! is read (`salesforce::classify`, mapped one to one in `delivery::write::report_error`)
//! and carried on the report's error, so the service and `trailspark sync` act on the kind
//! and never re-read codes or messages.

use serde::{Deserialize, Serialize};

/// What kind of trouble a failure is; serialized as the report error's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The record's own problem (validation, field, value): final until something changes.
    #[default]
    Record,
    /// Contention on the record (a row lock): retry that record, with backoff.
    RecordTransient,
    /// The org does not answer (503, connection refused, timeout).
    OrgUnavailable,
    /// HTTP 429: no call before `Retry-After`.
    Throttled,
    /// The daily request limit (`REQUEST_LIMIT_EXCEEDED`), or the usage share passed.
    RequestLimit,
    /// The concurrent long-running request limit: short-lived, not a daily-limit pause.
    ConcurrentLimit,
    /// The sign-in was refused (refresh token revoked or expired): wait for a reconnect.
    SignedOut,
    /// A create's outcome is unknown (its answer was lost): look up again before any
    /// resend, never resend blindly.
    AmbiguousCreate,
    /// Not sent: the worker's lease on the delivery dropped before the write. The delivery
    /// belongs to whichever worker holds it now; this attempt changes nothing.
    LeaseLost,
}

impl FailureKind {
    pub const ALL: [FailureKind; 9] = [
        FailureKind::Record,
        FailureKind::RecordTransient,
        FailureKind::OrgUnavailable,
        FailureKind::Throttled,
        FailureKind::RequestLimit,
        FailureKind::ConcurrentLimit,
        FailureKind::SignedOut,
        FailureKind::AmbiguousCreate,
        FailureKind::LeaseLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Record => "record",
            FailureKind::RecordTransient => "record_transient",
            FailureKind::OrgUnavailable => "org_unavailable",
            FailureKind::Throttled => "throttled",
            FailureKind::RequestLimit => "request_limit",
            FailureKind::ConcurrentLimit => "concurrent_limit",
            FailureKind::SignedOut => "signed_out",
            FailureKind::AmbiguousCreate => "ambiguous_create",
            FailureKind::LeaseLost => "lease_lost",
        }
    }

    /// Trouble of the whole destination: every other delivery sent now would meet it too,
    /// so the destination pauses as a whole and the delivery spends no attempt.
    pub fn is_org_wide(self) -> bool {
        matches!(
            self,
            FailureKind::OrgUnavailable
                | FailureKind::Throttled
                | FailureKind::RequestLimit
                | FailureKind::ConcurrentLimit
                | FailureKind::SignedOut
        )
    }

    /// Whether a later attempt may succeed without anyone changing anything.
    pub fn is_transient(self) -> bool {
        !matches!(self, FailureKind::Record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_stable_snake_case() {
        for k in FailureKind::ALL {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().into())
            );
        }
    }

    #[test]
    fn only_org_trouble_pauses_the_destination() {
        use FailureKind::*;
        let org: Vec<_> = FailureKind::ALL
            .into_iter()
            .filter(|k| k.is_org_wide())
            .collect();
        assert_eq!(
            org,
            [
                OrgUnavailable,
                Throttled,
                RequestLimit,
                ConcurrentLimit,
                SignedOut
            ]
        );
        assert!(!Record.is_transient());
        assert!(RecordTransient.is_transient() && AmbiguousCreate.is_transient());
    }
}
