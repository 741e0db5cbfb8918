//! SOQL text helpers: literal escaping and sizing `IN (...)` lists under the statement
//! length limit. Every string literal the project puts into SOQL goes through
//! [`quote_soql_literal`].

/// A SOQL statement may be at most 100,000 characters ([LIMITS] SOQL and SOSL limits).
pub const SOQL_MAX_CHARS: usize = 100_000;

/// Escapes `s` for use inside a single-quoted SOQL string literal. Backslash is the escape
/// character; the sequences below are the documented ones ([SOQL] "Quoted String Escape
/// Sequences"); any other character is kept as is (Unicode is allowed verbatim).
pub fn escape_soql_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out
}

/// `'escaped'`.
pub fn quote_soql_literal(s: &str) -> String {
    format!("'{}'", escape_soql_literal(s))
}

/// A value that cannot fit in any statement, even alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a value of {value_chars} characters cannot fit in a SOQL statement of at most {max_chars} characters with this prefix and suffix"
)]
pub struct ChunkError {
    pub value_chars: usize,
    pub max_chars: usize,
}

/// Builds `prefix + 'v1','v2',... + suffix` statements covering `values` in order, each
/// statement at most `max_chars` characters (pass [`SOQL_MAX_CHARS`] or less), using as few
/// statements as possible. Values are raw strings: they are escaped and quoted here, so
/// callers cannot forget to. Example: prefix `SELECT Id FROM Lead WHERE Email IN (`,
/// suffix `)`. No values → no statements (`IN ()` is invalid SOQL).
///
/// Greedy packing is optimal here: statements hold consecutive values, so filling each one
/// before starting the next never needs more statements than any other split.
pub fn chunk_in_clause(
    prefix: &str,
    values: &[String],
    suffix: &str,
    max_chars: usize,
) -> Result<Vec<String>, ChunkError> {
    let fixed = prefix.chars().count() + suffix.chars().count();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut current_chars = 0usize; // chars of the quoted list so far
    for v in values {
        let lit = quote_soql_literal(v);
        let lit_chars = lit.chars().count();
        if fixed + lit_chars > max_chars {
            return Err(ChunkError {
                value_chars: v.chars().count(),
                max_chars,
            });
        }
        let sep = usize::from(current_chars > 0);
        if current_chars > 0 && fixed + current_chars + sep + lit_chars > max_chars {
            out.push(format!("{prefix}{current}{suffix}"));
            current.clear();
            current_chars = 0;
        }
        if current_chars > 0 {
            current.push(',');
            current_chars += 1;
        }
        current.push_str(&lit);
        current_chars += lit_chars;
    }
    if current_chars > 0 {
        out.push(format!("{prefix}{current}{suffix}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_every_documented_sequence() {
        assert_eq!(escape_soql_literal(r"a\b"), r"a\\b");
        assert_eq!(escape_soql_literal("o'hara@x.com"), r"o\'hara@x.com");
        assert_eq!(escape_soql_literal("say \"hi\""), r#"say \"hi\""#);
        assert_eq!(
            escape_soql_literal("a\nb\rc\td\u{8}e\u{c}f"),
            r"a\nb\rc\td\be\ff"
        );
        assert_eq!(escape_soql_literal("plain é ✓"), "plain é ✓");
        assert_eq!(
            quote_soql_literal("x' OR Name != '"),
            r"'x\' OR Name != \''"
        );
    }

    #[test]
    fn chunks_small_example_exactly() {
        let values: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        // "P(" + "'a','b'" + ")" = 2 + 7 + 1 = 10
        let out = chunk_in_clause("P(", &values, ")", 10).unwrap();
        assert_eq!(out, vec!["P('a','b')", "P('c')"]);
        assert_eq!(
            chunk_in_clause("P(", &values, ")", 100).unwrap(),
            vec!["P('a','b','c')"]
        );
        assert!(chunk_in_clause("P(", &[], ")", 100).unwrap().is_empty());
        assert_eq!(
            chunk_in_clause("P(", &["toolong".to_string()], ")", 8),
            Err(ChunkError {
                value_chars: 7,
                max_chars: 8
            })
        );
    }

    /// Parses the quoted list back (inverse of the escaping) to check coverage.
    fn unquote_list(list: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = list.chars().peekable();
        while let Some(c) = chars.next() {
            if c == ',' {
                continue;
            }
            assert_eq!(c, '\'');
            let mut v = String::new();
            loop {
                match chars.next().expect("unterminated literal") {
                    '\\' => v.push(match chars.next().expect("dangling escape") {
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        other => other,
                    }),
                    '\'' => break,
                    other => v.push(other),
                }
            }
            out.push(v);
        }
        out
    }

    proptest! {
        #[test]
        fn every_value_in_exactly_one_chunk_and_every_statement_fits(
            values in proptest::collection::vec("[a-zA-Z0-9@.'\\\\\"\n\té]{0,30}", 0..120),
            max in 120usize..600,
        ) {
            let prefix = "SELECT Id FROM Lead WHERE Email IN (";
            let suffix = ")";
            let out = chunk_in_clause(prefix, &values, suffix, max).unwrap();
            let mut seen = Vec::new();
            for s in &out {
                prop_assert!(s.chars().count() <= max, "{} > {}", s.chars().count(), max);
                let list = s.strip_prefix(prefix).unwrap().strip_suffix(suffix).unwrap();
                seen.extend(unquote_list(list));
            }
            prop_assert_eq!(&seen, &values);
            // As few as possible: no two consecutive statements could have been merged.
            for pair in out.windows(2) {
                let first_of_next = unquote_list(pair[1].strip_prefix(prefix).unwrap().strip_suffix(suffix).unwrap())
                    .into_iter().next().unwrap();
                prop_assert!(pair[0].chars().count() + 1 + quote_soql_literal(&first_of_next).chars().count() > max);
            }
        }
    }
}
