//! Date and datetime text as the org stores and answers it (`2024-01-15`,
//! `2024-01-15T10:30:00.000+0000`, always UTC), shared by SOQL literals, record writes
//! and the seed data.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

/// Salesforce's datetime output: `2024-01-15T10:30:00.000+0000` (docs/salesforce.md#conventions).
pub fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).ok()
}

/// Accepts ISO-8601 with `Z`, `+00:00` or `+0000` offsets, with or without fraction
/// (docs/salesforce.md#conventions: all are accepted on input).
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    // `+hhmm` offset without colon: insert one and retry.
    let n = s.len();
    // `get` rather than slicing: input may be any user text, multi-byte included.
    if let (Some(head), Some(off)) = (s.get(..n.saturating_sub(5)), s.get(n.saturating_sub(5)..))
        && n > 5
    {
        let ob = off.as_bytes();
        if (ob[0] == b'+' || ob[0] == b'-') && ob[1..].iter().all(u8::is_ascii_digit) {
            let fixed = format!("{head}{}:{}", &off[..3], &off[3..]);
            return OffsetDateTime::parse(&fixed, &Rfc3339).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_parsing_never_panics_on_odd_text() {
        assert_eq!(parse_datetime("2024-01-15T10:30:00ééé"), None);
        assert_eq!(parse_datetime("é"), None);
        assert!(parse_datetime("2024-01-15T10:30:00.000+0000").is_some());
        assert!(parse_datetime("2024-01-15T10:30:00+00:00").is_some());
    }
}
