//! Secrets at rest: refresh tokens, client secrets and PKCE verifiers are sealed with
//! XChaCha20-Poly1305 before they reach the database, so a copy of the database file (or a
//! backup, or a read-only SQL user) reveals nothing usable.
//!
//! The 32-byte key comes from `TRAILSPARK_SECRET_KEY` (base64), or from a key file created
//! on first start with owner-only permissions (`TRAILSPARK_SECRET_KEY_FILE`, default beside
//! the SQLite database). Every process sharing one database must use the same key.
//!
//! Each sealed value is bound to its purpose (the associated data, e.g.
//! `connection:production:refresh_token`), so a value copied into another row or column
//! does not open there.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};

/// The environment variable holding the key (base64 of 32 bytes).
pub const KEY_ENV: &str = "TRAILSPARK_SECRET_KEY";
/// The environment variable naming the key file.
pub const KEY_FILE_ENV: &str = "TRAILSPARK_SECRET_KEY_FILE";
/// The key file's name when neither variable is set.
pub const DEFAULT_KEY_FILE: &str = "trailspark.key";

/// Marks the format of a sealed value, so a later format can coexist.
const VERSION: &str = "v1:";
const NONCE_LEN: usize = 24;

/// Seals and opens secrets with one key.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A box with a fresh random key (tests, and a demo whose database is thrown away).
    pub fn random() -> SecretBox {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        SecretBox::from_key(&key)
    }

    /// The key from `TRAILSPARK_SECRET_KEY`, else from the key file (`TRAILSPARK_SECRET_KEY_FILE`,
    /// else `default_file`), creating that file with a new key when it does not exist.
    pub fn load(default_file: &Path) -> anyhow::Result<SecretBox> {
        if let Ok(v) = std::env::var(KEY_ENV) {
            return parse_key(&v)
                .with_context(|| format!("{KEY_ENV} must be the base64 of 32 random bytes"))
                .map(|k| SecretBox::from_key(&k));
        }
        let path = std::env::var_os(KEY_FILE_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| default_file.to_path_buf());
        load_or_create_key_file(&path).map(|k| SecretBox::from_key(&k))
    }

    /// `v1:` + base64(nonce ‖ ciphertext), bound to `purpose`.
    pub fn seal(&self, purpose: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            // Encryption only fails for messages beyond the AEAD's size limit (256 GiB).
            .expect("XChaCha20-Poly1305 encrypts any secret we hold");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{VERSION}{}", STANDARD.encode(out))
    }

    /// Opens a value sealed for `purpose`; fails for another key, another purpose, or a
    /// damaged value (the error never contains the value).
    pub fn open(&self, purpose: &str, sealed: &str) -> anyhow::Result<SecretString> {
        let body = sealed
            .strip_prefix(VERSION)
            .ok_or_else(|| anyhow!("a stored secret has an unknown format"))?;
        let raw = STANDARD
            .decode(body)
            .map_err(|_| anyhow!("a stored secret is not valid base64"))?;
        if raw.len() < NONCE_LEN {
            bail!("a stored secret is too short");
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let pt = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow!(
                    "a stored secret cannot be decrypted: the key ({KEY_ENV} or the key file) is not the one it was sealed with"
                )
            })?;
        String::from_utf8(pt)
            .map(SecretString::from)
            .map_err(|_| anyhow!("a stored secret is not text"))
    }

    /// Convenience for `Option` columns.
    pub fn open_opt(
        &self,
        purpose: &str,
        sealed: Option<&str>,
    ) -> anyhow::Result<Option<SecretString>> {
        sealed.map(|s| self.open(purpose, s)).transpose()
    }
}

/// Seals a secret: the `SecretString` form, so callers never hold it as a plain `String`.
pub fn seal_secret(b: &SecretBox, purpose: &str, secret: &SecretString) -> String {
    b.seal(purpose, secret.expose_secret())
}

fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let raw = STANDARD
        .decode(text.trim())
        .map_err(|_| anyhow!("not base64"))?;
    raw.try_into()
        .map_err(|v: Vec<u8>| anyhow!("{} bytes instead of 32", v.len()))
}

fn load_or_create_key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_shared(path);
            return parse_key(&text)
                .with_context(|| format!("the key file {} is damaged", path.display()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(STANDARD.encode(key).as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("cannot write the key file {}", path.display()))?;
            tracing::info!(file = %path.display(), "created a new secret key file (owner-only); back it up with the database");
            Ok(key)
        }
        // Another process created it between our read and our create: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key_file(path),
        Err(e) => Err(e).with_context(|| format!("cannot create the key file {}", path.display())),
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(file = %path.display(), "the secret key file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_purpose_and_key() {
        let b = SecretBox::random();
        let sealed = b.seal("connection:prod:refresh_token", "5Aep861secret");
        assert!(!sealed.contains("5Aep861secret"));
        assert_eq!(
            b.open("connection:prod:refresh_token", &sealed)
                .unwrap()
                .expose_secret(),
            "5Aep861secret"
        );
        assert!(b.open("connection:other:refresh_token", &sealed).is_err());
        assert!(
            SecretBox::random()
                .open("connection:prod:refresh_token", &sealed)
                .is_err()
        );
    }

    #[test]
    fn the_same_secret_seals_differently_each_time() {
        let b = SecretBox::random();
        assert_ne!(b.seal("p", "x"), b.seal("p", "x"));
    }

    #[test]
    fn a_key_file_is_created_owner_only_and_reused() {
        let dir = std::env::temp_dir().join(format!("ts-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        let k1 = load_or_create_key_file(&path).unwrap();
        let k2 = load_or_create_key_file(&path).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors_never_echo_the_value() {
        let b = SecretBox::random();
        let err = b
            .open("p", "v1:bm90LWEtc2VjcmV0LWF0LWFsbC1qdXN0LWJ5dGVz")
            .unwrap_err();
        assert!(!format!("{err:#}").contains("bm90"));
    }
}
