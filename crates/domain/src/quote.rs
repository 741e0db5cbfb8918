//! Quoting input in error messages: a value is echoed only up to a bound, so an error
//! answer never grows with the input that caused it (a 16 MiB string is not sent back).

/// Most characters of an input value an error message quotes; longer ones end in `…`.
pub const QUOTE_MAX_CHARS: usize = 64;

/// `s` Debug-quoted (`"abc"`), cut after [`QUOTE_MAX_CHARS`] characters with an ellipsis
/// after the closing quote (`"abc…"…`), so the echo is bounded whatever `s` holds.
pub fn quoted(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX_CHARS) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole() {
        assert_eq!(quoted("hot"), "\"hot\"");
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "é".repeat(10_000);
        let q = quoted(&long);
        assert!(q.ends_with('…'), "{q}");
        assert_eq!(q.chars().filter(|c| *c == 'é').count(), QUOTE_MAX_CHARS);
        // Even escaped control characters stay bounded.
        let ctrl = "\u{1b}".repeat(1_000_000);
        assert!(quoted(&ctrl).len() < 10 * QUOTE_MAX_CHARS, "bounded");
    }
}
