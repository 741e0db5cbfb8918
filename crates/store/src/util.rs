//! Conversions between the database's plain columns and the store's types, shared by both
//! backends. Times are stored as microseconds since the Unix epoch (UTC).

use std::time::Duration;

use time::OffsetDateTime;

use crate::{DeliveryOutcome, DeliveryState, Result, StoreError, TokenRole};

/// Rows per multi-row INSERT: 6 parameters each stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters per statement.
pub(crate) const INSERT_CHUNK: usize = 500;

/// Ids per `IN (...)` list, for the same reason.
pub(crate) const IN_CHUNK: usize = 1000;

/// Most rows one page of the delivery listing returns.
pub(crate) const MAX_PAGE: usize = 1000;

/// `last_used_at` of a token is refreshed at most this often, so authenticating a request
/// is not a database write each time.
pub(crate) const TOKEN_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) fn to_us(t: OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos() / 1000;
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn from_us(us: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| StoreError::Corrupt(format!("time {us}µs out of range: {e}")))
}

pub(crate) fn to_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

pub(crate) fn parse_state(s: &str) -> Result<DeliveryState> {
    DeliveryState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown state {s:?}")))
}

pub(crate) fn parse_outcome(s: &str) -> Result<DeliveryOutcome> {
    DeliveryOutcome::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown outcome {s:?}")))
}

pub(crate) fn parse_role(s: &str) -> Result<TokenRole> {
    TokenRole::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown token role {s:?}")))
}

/// The opaque listing cursor: the last row's (updated_at, id), in hex.
pub(crate) fn encode_cursor(updated_us: i64, id: i64) -> String {
    format!("{updated_us:x}.{id:x}")
}

pub(crate) fn decode_cursor(s: &str) -> Result<(i64, i64)> {
    let (a, b) = s.split_once('.').ok_or(StoreError::InvalidCursor)?;
    let a = i64::from_str_radix(a, 16).map_err(|_| StoreError::InvalidCursor)?;
    let b = i64::from_str_radix(b, 16).map_err(|_| StoreError::InvalidCursor)?;
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_at_microsecond_precision() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_764_321_300_123_456_000).unwrap();
        assert_eq!(from_us(to_us(t)).unwrap(), t);
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = encode_cursor(1_764_321_300_123_456, 42);
        assert_eq!(decode_cursor(&c).unwrap(), (1_764_321_300_123_456, 42));
        assert!(matches!(
            decode_cursor("nope"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor("zz.1"),
            Err(StoreError::InvalidCursor)
        ));
    }
}
