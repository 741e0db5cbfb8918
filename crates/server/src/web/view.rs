//! What every page shows around its content (the top bar with the signed-in person and
//! Sign out), and the small pure helpers of presentation: relative times with the exact
//! time beside them, status pills, numbers.

use askama::Template;
use store::TokenRole;
use time::OffsetDateTime;

use crate::auth::{Caller, includes};

/// The top bar: who is signed in, their role, the CSRF token for Sign out, and which page
/// is current.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub email: String,
    pub role: String,
    pub csrf: String,
    /// `overview`, `log` or `settings`.
    pub active: &'static str,
    pub signed_in: bool,
    /// May change settings, connect orgs and retry (Admin or Owner).
    pub admin: bool,
}

impl Layout {
    pub fn new(caller: &Caller, active: &'static str) -> Layout {
        let s = caller.session();
        Layout {
            email: s.map(|s| s.user.email.clone()).unwrap_or_default(),
            role: role_name(caller.role()).to_string(),
            csrf: s.map(|s| s.csrf_token.clone()).unwrap_or_default(),
            active,
            signed_in: s.is_some(),
            admin: includes(caller.role(), TokenRole::Admin),
        }
    }
}

pub fn role_name(r: TokenRole) -> &'static str {
    match r {
        TokenRole::Owner => "Owner",
        TokenRole::Admin => "Admin",
        TokenRole::Editor => "Editor",
        TokenRole::Viewer => "Viewer",
        TokenRole::Ingest => "Ingest",
    }
}

/// A page with one message (not found, not allowed, an error).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub text: String,
}

/// A time shown relative to now, with the exact UTC time for the `title` and `datetime`.
#[derive(Debug, Clone, Default)]
pub struct When {
    pub relative: String,
    pub exact: String,
    pub iso: String,
}

pub fn when(t: OffsetDateTime, now: OffsetDateTime) -> When {
    let iso = crate::handlers::rfc3339(t);
    When {
        relative: relative(t, now),
        exact: format!(
            "{} UTC",
            iso.trim_end_matches('Z')
                .replace('T', " ")
                .split('.')
                .next()
                .unwrap_or("")
        ),
        iso,
    }
}

/// "just now", "5 min ago", "3 h ago", "2 days ago", or "in 4 min" for the future.
pub fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - t).whole_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let text = match n {
        0..=44 => return "just now".into(),
        45..=3_599 => format!("{} min", (n + 30) / 60),
        3_600..=86_399 => format!("{} h", n / 3_600),
        _ => {
            let d = n / 86_400;
            format!("{d} day{}", if d == 1 { "" } else { "s" })
        }
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A duration in words ("42 s", "3 min", "2 h").
pub fn age(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3_600, (s % 3_600) / 60),
    }
}

/// The pill class of an outcome or a status: the word is always shown too.
pub fn pill(kind: &str) -> &'static str {
    match kind {
        "updated" | "created" | "connected" => "pill ok",
        "failed" | "rejected" | "error" => "pill bad",
        "pending" | "retrying" | "paused" | "connecting" => "pill warn",
        _ => "pill neutral",
    }
}

/// A whole number with thousands separators.
pub fn number(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Capitalised first letter ("connected" → "Connected").
pub fn title_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A path segment percent-encoded (evaluation ids may hold any printable character).
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn relative_times_read_naturally() {
        let now = datetime!(2026-12-01 10:00:00 UTC);
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - time::Duration::minutes(5), now), "5 min ago");
        assert_eq!(relative(now - time::Duration::hours(3), now), "3 h ago");
        assert_eq!(relative(now - time::Duration::days(1), now), "1 day ago");
        assert_eq!(relative(now + time::Duration::minutes(4), now), "in 4 min");
        assert_eq!(when(now, now).exact, "2026-12-01 10:00:00 UTC");
    }

    #[test]
    fn numbers_have_separators() {
        assert_eq!(number(0), "0");
        assert_eq!(number(1234), "1,234");
        assert_eq!(number(1_000_000), "1,000,000");
    }
}
