//! Web sessions: a random cookie whose SHA-256 is the session's key in the store (the
//! cookie value itself is never stored), with an idle and an absolute expiry, a CSRF
//! token per session, the same-origin rule for state-changing requests, and the slowdown
//! of repeated failed sign-ins. The decisions here are pure; the middleware in
//! [`crate::auth`] and the handlers in [`crate::handlers::session`] do the I/O.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use rand::RngCore as _;
use time::OffsetDateTime;

/// The session cookie's name.
pub const COOKIE: &str = "trailspark_session";
/// The header a cookie-authenticated state-changing request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field HTML forms carry it in.
pub const CSRF_FIELD: &str = "csrf_token";

/// A session ends after this long without a request…
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// …and in any case this long after sign-in.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);
/// A session's last-seen time is written at most this often (one write per minute, not
/// one per request).
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Failed sign-ins for one email allowed before each further try must wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait imposed between tries.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// 32 random bytes, URL-safe base64: session cookies, CSRF tokens, OAuth `state`.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// The `Set-Cookie` value for a new session: HttpOnly, SameSite=Lax, `Secure` when the
/// service is reached over https.
pub fn set_cookie(value: &str, secure: bool) -> HeaderValue {
    let c = Cookie::build((COOKIE, value.to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(
            ABSOLUTE_TIMEOUT.as_secs() as i64
        ))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("a cookie of URL-safe characters is a header")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let c = Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&c.to_string()).expect("an empty cookie is a header")
}

/// The session cookie's value, if the request carries one.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

/// Methods that change nothing (and so need no CSRF token).
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Why a cookie-authenticated state-changing request is refused, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfRefusal {
    /// No `Origin` header (every current browser sends one on such requests).
    MissingOrigin,
    /// `Origin` is another site.
    ForeignOrigin,
    /// No CSRF token, or not this session's.
    BadToken,
}

impl CsrfRefusal {
    pub fn message(self) -> &'static str {
        match self {
            CsrfRefusal::MissingOrigin => {
                "a request authenticated by the session cookie must carry an Origin header"
            }
            CsrfRefusal::ForeignOrigin => {
                "the request comes from another site (its Origin is not this service's)"
            }
            CsrfRefusal::BadToken => {
                "missing or wrong CSRF token: send the session's csrf_token (GET /api/v1/session) in the X-CSRF-Token header"
            }
        }
    }
}

/// The same-origin and CSRF rule for a cookie-authenticated request that changes state.
/// `public_origin` is the service's own origin (`scheme://host[:port]` of `public_url`).
pub fn check_csrf(
    origin: Option<&str>,
    token: Option<&str>,
    expected_token: &str,
    public_origin: &str,
) -> Result<(), CsrfRefusal> {
    let origin = origin.ok_or(CsrfRefusal::MissingOrigin)?;
    if !same_origin(origin, public_origin) {
        return Err(CsrfRefusal::ForeignOrigin);
    }
    match token {
        Some(t) if constant_time_eq(t.as_bytes(), expected_token.as_bytes()) => Ok(()),
        _ => Err(CsrfRefusal::BadToken),
    }
}

/// Do two origins name the same scheme, host and port (default ports made explicit)?
pub fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin() && a.origin().is_tuple(),
        _ => false,
    }
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(u: &str) -> String {
    url::Url::parse(u)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How long the next sign-in try for an email must wait, given its recent failures and the
/// time of the last one: free for the first [`FREE_FAILURES`], then 1 s, 2 s, 4 s … after the
/// last failure, at most [`MAX_WAIT`].
pub fn sign_in_wait(
    failures: u32,
    last_failure: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let last = last_failure?;
    let exp = (failures - FREE_FAILURES).min(20);
    let wait = Duration::from_secs(1u64 << exp).min(MAX_WAIT);
    let elapsed = now - last;
    let elapsed = Duration::try_from(elapsed).unwrap_or(Duration::ZERO);
    wait.checked_sub(elapsed).filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const ORIGIN: &str = "https://trailspark.example.com";

    #[test]
    fn the_session_cookie_is_http_only_lax_and_secure_over_https() {
        let c = set_cookie("abc", true).to_str().unwrap().to_string();
        assert!(c.starts_with("trailspark_session=abc"), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        let plain = set_cookie("abc", false).to_str().unwrap().to_string();
        assert!(!plain.contains("Secure"), "{plain}");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; trailspark_session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&h).as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&HeaderMap::new()), None);
    }

    #[test]
    fn state_changes_need_the_same_origin_and_the_session_token() {
        assert_eq!(check_csrf(Some(ORIGIN), Some("t"), "t", ORIGIN), Ok(()));
        assert_eq!(
            check_csrf(
                Some("https://trailspark.example.com:443"),
                Some("t"),
                "t",
                ORIGIN
            ),
            Ok(())
        );
        assert_eq!(
            check_csrf(None, Some("t"), "t", ORIGIN),
            Err(CsrfRefusal::MissingOrigin)
        );
        assert_eq!(
            check_csrf(Some("https://evil.example"), Some("t"), "t", ORIGIN),
            Err(CsrfRefusal::ForeignOrigin)
        );
        assert_eq!(
            check_csrf(Some("null"), Some("t"), "t", ORIGIN),
            Err(CsrfRefusal::ForeignOrigin)
        );
        assert_eq!(
            check_csrf(Some(ORIGIN), Some("u"), "t", ORIGIN),
            Err(CsrfRefusal::BadToken)
        );
        assert_eq!(
            check_csrf(Some(ORIGIN), None, "t", ORIGIN),
            Err(CsrfRefusal::BadToken)
        );
    }

    #[test]
    fn repeated_failed_sign_ins_wait_longer_each_time() {
        let t = datetime!(2026-12-01 10:00:00 UTC);
        assert_eq!(sign_in_wait(4, Some(t), t), None);
        assert_eq!(sign_in_wait(5, Some(t), t), Some(Duration::from_secs(1)));
        assert_eq!(sign_in_wait(7, Some(t), t), Some(Duration::from_secs(4)));
        assert_eq!(
            sign_in_wait(7, Some(t), t + time::Duration::seconds(3)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            sign_in_wait(7, Some(t), t + time::Duration::seconds(4)),
            None
        );
        assert_eq!(sign_in_wait(40, Some(t), t), Some(MAX_WAIT));
    }
}
