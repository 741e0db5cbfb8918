//! Verification of JWT bearer assertions (docs/salesforce.md#jwt-bearer-grant).
//!
//! Order of checks: the issuer names the connected app (whose certificate is needed to
//! check the signature), then the RS256 signature, then audience, expiry and subject.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::token::{INVALID_CLIENT_ID, OAuthError};
use super::{AuthConfig, JWT_AUDIENCES, JWT_EXP_SKEW, now_secs};

/// Malformed assertion, wrong algorithm or bad signature.
pub(super) const INVALID_ASSERTION: OAuthError =
    OAuthError::new("invalid_grant", "invalid assertion");
pub(super) const BAD_AUDIENCE: OAuthError =
    OAuthError::new("invalid_grant", "Audience validation failed");
/// Salesforce answers an expired assertion with this (observed on salesforce.stackexchange
/// q/282513 and q/18039), not with a JWT-specific message.
pub(super) const EXPIRED: OAuthError =
    OAuthError::new("invalid_grant", "expired authorization code");
/// Unknown subject: the user has not been pre-authorised for the app
/// (docs/salesforce.md#jwt-bearer-grant).
pub(super) const NOT_APPROVED: OAuthError =
    OAuthError::new("invalid_grant", "user hasn't approved this consumer");

/// Checks an assertion against the app's certificate and the org's users.
pub(super) fn verify(
    cfg: &AuthConfig,
    cert_pem: Option<&str>,
    instance_url: &str,
    assertion: &str,
) -> Result<(), OAuthError> {
    // Only RS256 is supported (docs/salesforce.md#jwt-bearer-grant).
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| INVALID_ASSERTION)?;
    if header.alg != Algorithm::RS256 {
        return Err(INVALID_ASSERTION);
    }
    let unverified: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
        .map_err(|_| INVALID_ASSERTION)?
        .claims;
    if unverified.get("iss").and_then(Value::as_str) != Some(cfg.client_id.as_str()) {
        return Err(INVALID_CLIENT_ID);
    }
    let cert = cert_pem.ok_or(INVALID_ASSERTION)?;
    let key = DecodingKey::from_rsa_pem(cert.as_bytes()).map_err(|_| INVALID_ASSERTION)?;
    // Claims are checked below with Salesforce's own rules and messages; the library only
    // checks the signature.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims: Value = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map_err(|_| INVALID_ASSERTION)?
        .claims;

    if !audience_ok(claims.get("aud"), instance_url) {
        return Err(BAD_AUDIENCE);
    }
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .ok_or(INVALID_ASSERTION)?;
    if exp.saturating_add(JWT_EXP_SKEW.as_secs()) <= now_secs() {
        return Err(EXPIRED);
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !sub.eq_ignore_ascii_case(&cfg.username) {
        return Err(NOT_APPROVED);
    }
    Ok(())
}

/// `aud` may be a string or an array (RFC 7519); one value must be the org's own URL or a
/// Salesforce login host.
fn audience_ok(aud: Option<&Value>, instance_url: &str) -> bool {
    let ok = |s: &str| {
        let s = s.trim_end_matches('/');
        JWT_AUDIENCES.contains(&s) || (!instance_url.is_empty() && s == instance_url)
    };
    match aud {
        Some(Value::String(s)) => ok(s),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(ok),
        _ => false,
    }
}

/// `exp` as seconds since the epoch; the documentation's examples send it as a string,
/// libraries as a number, so both are read.
fn numeric_date(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exp_is_read_from_numbers_and_strings() {
        assert_eq!(numeric_date(&json!(1333685628)), Some(1333685628));
        assert_eq!(numeric_date(&json!("1333685628")), Some(1333685628));
        assert_eq!(numeric_date(&json!("soon")), None);
    }

    #[test]
    fn audience_accepts_login_hosts_and_the_org_url() {
        let org = "https://localhost:8443";
        assert!(audience_ok(
            Some(&json!("https://login.salesforce.com")),
            org
        ));
        assert!(audience_ok(
            Some(&json!("https://test.salesforce.com/")),
            org
        ));
        assert!(audience_ok(Some(&json!(["x", org])), org));
        assert!(!audience_ok(Some(&json!("https://evil.example")), org));
        assert!(!audience_ok(None, org));
    }
}
