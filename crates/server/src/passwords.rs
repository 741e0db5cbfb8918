//! Web sign-in passwords: Argon2id (the `argon2` crate's defaults, which follow OWASP's
//! recommended parameters), stored as PHC strings that carry their own salt and parameters.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted for a web user.
pub const MIN_LENGTH: usize = 12;
/// Longest accepted (hashing cost grows with length; nobody types more).
pub const MAX_LENGTH: usize = 1024;

/// Why a new password is refused.
pub fn check_new(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err(format!(
            "the password must have at least {MIN_LENGTH} characters (it has {n})"
        ));
    }
    if n > MAX_LENGTH {
        return Err(format!(
            "the password must have at most {MAX_LENGTH} characters"
        ));
    }
    Ok(())
}

/// The PHC string of a new password.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Does `password` match the stored hash? A damaged hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the time of one verification, so an unknown email answers as slowly as a wrong
/// password and sign-in does not reveal which emails have accounts.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("not a password anyone has").unwrap_or_default());
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapler", &h));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_new("short").is_err());
        assert!(check_new("long enough password").is_ok());
    }
}
