//! Salesforce record ids: 15 case-sensitive characters (3-char key prefix + 12) plus the
//! 3-character case checksum that makes the 18-character form case-insensitive
//! (docs/salesforce.md#conventions; for each group of 5 characters, bit i is set when character i
//! is `A`–`Z`; the 5-bit number indexes `ABCDEFGHIJKLMNOPQRSTUVWXYZ012345`).
//!
//! Ids are minted from a counter in base 62 with digits ordered as in ASCII, so for one
//! key prefix lexicographic order of ids is creation order — the store relies on that to
//! keep records in a stable, realistic order without a separate sequence column.

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The "pod" part real ids carry after the key prefix (instance + reserved characters).
const POD: &str = "5g0000";

/// The 3-character checksum of a 15-character id.
pub fn checksum(id15: &str) -> Option<String> {
    let bytes = id15.as_bytes();
    if bytes.len() != 15 || !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut out = String::with_capacity(3);
    for chunk in bytes.chunks(5) {
        let mut bits = 0usize;
        for (i, c) in chunk.iter().enumerate() {
            if c.is_ascii_uppercase() {
                bits |= 1 << i;
            }
        }
        out.push(char::from(CHECKSUM_ALPHABET[bits]));
    }
    Some(out)
}

/// Normalises a 15- or 18-character id to its 18-character form; `None` when the text
/// cannot be an id. An 18-character id whose suffix does not match is rejected.
pub fn to_18(id: &str) -> Option<String> {
    match id.len() {
        15 => checksum(id).map(|c| format!("{id}{c}")),
        18 => {
            let (head, tail) = id.split_at(15);
            let expected = checksum(head)?;
            // The checksum part is compared case-insensitively: 18-char ids are meant to
            // survive case-insensitive systems.
            expected
                .eq_ignore_ascii_case(tail)
                .then(|| format!("{head}{expected}"))
        }
        _ => None,
    }
}

/// Mints the `n`-th id for a key prefix (`00Q`, `003`, ...).
pub fn mint(prefix: &str, n: u64) -> String {
    let mut digits = [b'0'; 6];
    let mut rest = n;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    let body = String::from_utf8_lossy(&digits).into_owned();
    let id15 = format!("{prefix}{POD}{body}");
    let sum = checksum(&id15).unwrap_or_else(|| "AAA".to_owned());
    format!("{id15}{sum}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_checksums() {
        // Salesforce's documented example ids: 15 -> 18.
        assert_eq!(
            to_18("001M000001FgVKl").as_deref(),
            Some("001M000001FgVKlIAN")
        );
        assert_eq!(
            to_18("0038M0000016Wv8").as_deref(),
            Some("0038M0000016Wv8QAE")
        );
        assert_eq!(
            to_18("0038M0000016Wv8qae").as_deref(),
            Some("0038M0000016Wv8QAE")
        );
        assert_eq!(to_18("0038M0000016Wv8QAA"), None);
        assert_eq!(to_18("short"), None);
    }

    #[test]
    fn minted_ids_are_valid_and_ordered() {
        let a = mint("00Q", 61);
        let b = mint("00Q", 62);
        assert!(a < b);
        assert_eq!(to_18(&a[..15]).as_deref(), Some(a.as_str()));
        assert_eq!(a.len(), 18);
    }
}
