//! The SOQL subset the emulated org understands: parsing, checking against the org's
//! metadata, and evaluating against records. Pure: no store, no I/O.
//!
//! Supported (docs/salesforce.md#query): `SELECT` of fields, parent-relationship fields
//! (`Account.Name`) and `COUNT()`; `FROM` one object; `WHERE` with `= != <> < > <= >=`,
//! `IN`, `NOT IN`, `LIKE`, `AND`, `OR`, `NOT`, parentheses, `null`, `TRUE`/`FALSE`,
//! numbers, quoted strings and unquoted date / datetime literals; `ORDER BY` with
//! `ASC`/`DESC` and `NULLS FIRST`/`NULLS LAST`; `LIMIT`; `OFFSET`.
//!
//! Like Salesforce: string comparisons are case-insensitive; only single quotes delimit
//! literals (double quotes are an error); the escapes `\\ \' \" \n \r \t \b \f \uXXXX`
//! (and `\_ \%` in LIKE patterns) are the only backslash sequences allowed; statements are
//! at most [`MAX_SOQL_CHARS`] characters.
//!
//! Values are `serde_json::Value`s in the org's wire formats. Datetimes are kept as
//! `YYYY-MM-DDTHH:MM:SS.sss+0000` (always UTC) and dates as `YYYY-MM-DD`, so comparing the
//! strings compares the instants; literals are converted to the same form.
//!
//! This module holds the errors and the syntax tree; the stages are `lexer` (text to
//! tokens), `parser` (tokens to a [`Query`]), `check` (names against the org), `eval`
//! (filters and ordering over records), and `dates` (the wire's date/datetime forms).

mod check;
mod dates;
mod eval;
mod lexer;
mod parser;

pub use check::check;
pub use dates::{format_date, format_datetime, parse_date, parse_datetime};
pub use eval::{compare_values, eval, order_rows, pinned_strings};
pub use parser::parse;

use std::collections::HashSet;

use crate::schema::FieldType;

/// Longest SOQL statement Salesforce accepts (Salesforce limits cheat sheet: SOQL statement ≤ 100,000 chars).
pub const MAX_SOQL_CHARS: usize = 100_000;

/// Which of Salesforce's query error codes applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    MalformedQuery,
    InvalidField,
    InvalidType,
    QueryTooComplicated,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedQuery => "MALFORMED_QUERY",
            ErrorCode::InvalidField => "INVALID_FIELD",
            ErrorCode::InvalidType => "INVALID_TYPE",
            ErrorCode::QueryTooComplicated => "QUERY_TOO_COMPLICATED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct SoqlError {
    pub code: ErrorCode,
    pub message: String,
}

/// Builds the message the way Salesforce does: the statement, a caret line, the position.
fn err_at(code: ErrorCode, src: &str, pos: usize, what: &str) -> SoqlError {
    // Salesforce reports 1-based row and column of the offending token.
    let before = &src[..pos.min(src.len())];
    let row = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let line = src.lines().nth(row - 1).unwrap_or("");
    let excerpt: String = line.chars().take(200).collect();
    SoqlError {
        code,
        message: format!(
            "\n{excerpt}\n{caret:>width$}\nERROR at Row:{row}:Column:{col}\n{what}",
            caret = "^",
            width = col
        ),
    }
}

// ------------------------------------------------------------------------------------
// Syntax tree

/// A comparison operator of a filter (`!=` and `<>` are both `Ne`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// A literal value in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Str(String),
    Num(f64),
    /// `YYYY-MM-DD`
    Date(String),
    /// Canonical UTC `YYYY-MM-DDTHH:MM:SS.sss+0000`
    DateTime(String),
}

/// A field reference: one name, or a relationship name and a field of the parent.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRef {
    /// Canonical names after [`check`]; as written before.
    pub path: Vec<String>,
    pub ftype: FieldType,
    pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: FieldRef,
        op: CmpOp,
        value: Literal,
    },
    In {
        field: FieldRef,
        negated: bool,
        values: Vec<Literal>,
        /// Lowercased string values, for O(1) membership with thousands of values.
        set: HashSet<String>,
    },
    Like {
        field: FieldRef,
        /// Lowercased pattern.
        pattern: Vec<SCharPub>,
        /// For `%text%` patterns, the lowercased text: a plain substring test.
        contains: Option<String>,
    },
}

/// One character of a LIKE pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SCharPub {
    Lit(char),
    AnyOne,
    AnyMany,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    Field(FieldRef),
    Count,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub field: FieldRef,
    pub desc: bool,
    pub nulls_first: bool,
}

/// A parsed (and, after [`check`], resolved) query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    pub from: String,
    pub filter: Option<Expr>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

impl Query {
    pub fn is_count(&self) -> bool {
        self.select.iter().any(|s| matches!(s, SelectItem::Count))
    }

    /// The selected fields, in SELECT order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldRef> {
        self.select.iter().filter_map(|s| match s {
            SelectItem::Field(f) => Some(f),
            SelectItem::Count => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::schema::{FieldDef, ObjectDef};

    fn lead() -> ObjectDef {
        ObjectDef {
            name: "Lead".into(),
            label: "Lead".into(),
            label_plural: "Leads".into(),
            key_prefix: "00Q".into(),
            fields: vec![
                FieldDef::new("Id", "Lead ID", FieldType::Id, 18),
                FieldDef::new("Email", "Email", FieldType::Email, 80),
                FieldDef::new("IsConverted", "Converted", FieldType::Boolean, 0),
                FieldDef::new(
                    "LastModifiedDate",
                    "Last Modified Date",
                    FieldType::Datetime,
                    0,
                ),
                FieldDef::new("AnnualRevenue", "Annual Revenue", FieldType::Currency, 0),
                FieldDef::new("AccountId", "Account", FieldType::Reference, 18)
                    .reference(&["Account"], "Account"),
            ],
        }
    }
    fn account() -> ObjectDef {
        ObjectDef {
            name: "Account".into(),
            label: "Account".into(),
            label_plural: "Accounts".into(),
            key_prefix: "001".into(),
            fields: vec![FieldDef::new(
                "Name",
                "Account Name",
                FieldType::String,
                255,
            )],
        }
    }

    fn checked(src: &str) -> Result<Query, SoqlError> {
        let (l, a) = (lead(), account());
        let q = parse(src)?;
        let objs = [l, a];
        check(q, src, |n| {
            objs.iter().find(|o| o.name.eq_ignore_ascii_case(n))
        })
        .map(|(q, _)| q)
    }

    fn row<'a>(pairs: &'a [(&'a str, Value)]) -> impl Fn(&[String]) -> Value + 'a {
        move |p: &[String]| {
            let key = p.join(".");
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(Value::Null, |(_, v)| v.clone())
        }
    }

    #[test]
    fn parses_full_statement() {
        let q = checked("select id, email, Account.Name from lead where (Email = 'A@b.com' or email in ('x','y')) and not IsConverted = true and LastModifiedDate > 2024-01-15T10:30:00Z order by Email desc nulls last, Id limit 10 offset 5").unwrap();
        assert_eq!(q.from, "Lead");
        let names: Vec<String> = q.fields().map(|f| f.path.join(".")).collect();
        assert_eq!(names, ["Id", "Email", "Account.Name"]);
        assert_eq!(q.limit, Some(10));
        assert_eq!(q.offset, Some(5));
        assert!(q.order_by[0].desc && !q.order_by[0].nulls_first);
        assert!(!q.order_by[1].desc && q.order_by[1].nulls_first);
        let f = q.filter.unwrap();
        let r = [
            ("Email", json_str("a@B.COM")),
            ("IsConverted", Value::Bool(false)),
            ("LastModifiedDate", json_str("2024-02-01T00:00:00.000+0000")),
        ];
        assert!(eval(&f, &row(&r)));
        let r2 = [
            ("Email", json_str("a@b.com")),
            ("IsConverted", Value::Bool(true)),
            ("LastModifiedDate", json_str("2024-02-01T00:00:00.000+0000")),
        ];
        assert!(!eval(&f, &row(&r2)));
    }

    fn json_str(s: &str) -> Value {
        Value::String(s.into())
    }

    #[test]
    fn count_and_nulls() {
        let q = checked("SELECT COUNT() FROM Lead WHERE Email = null").unwrap();
        assert!(q.is_count());
        assert!(eval(q.filter.as_ref().unwrap(), &row(&[])));
        let q = checked("SELECT Id FROM Lead WHERE Email != null").unwrap();
        assert!(!eval(q.filter.as_ref().unwrap(), &row(&[])));
        assert!(checked("SELECT COUNT(), Id FROM Lead").is_err());
    }

    #[test]
    fn escapes() {
        let q = checked(r"SELECT Id FROM Lead WHERE Email = 'o\'brien\\x\u0041\n'").unwrap();
        match q.filter.unwrap() {
            Expr::Cmp { value, .. } => assert_eq!(value, Literal::Str("o'brien\\xA\n".into())),
            other => panic!("{other:?}"),
        }
        let e = checked(r"SELECT Id FROM Lead WHERE Email = 'a\qb'").unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedQuery);
        let e = checked(r#"SELECT Id FROM Lead WHERE Email = "a""#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedQuery);
        let e = checked("SELECT Id FROM Lead WHERE Email = 'unterminated").unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedQuery);
    }

    #[test]
    fn like_patterns() {
        let q = checked(r"SELECT Id FROM Lead WHERE Email LIKE '%\_x@%.COM'").unwrap();
        let f = q.filter.unwrap();
        assert!(eval(&f, &row(&[("Email", json_str("ab_X@acme.com"))])));
        assert!(!eval(&f, &row(&[("Email", json_str("abyx@acme.com"))])));
        let q = checked("SELECT Id FROM Lead WHERE Email LIKE 'a_c'").unwrap();
        let f = q.filter.unwrap();
        assert!(eval(&f, &row(&[("Email", json_str("ABC"))])));
        assert!(!eval(&f, &row(&[("Email", json_str("abbc"))])));
    }

    #[test]
    fn or_of_likes_on_one_field() {
        let q = checked("SELECT Id FROM Lead WHERE Email LIKE '%ACME.com%' OR Email LIKE '%globex.COM%' OR Email LIKE 'z_'").unwrap();
        let f = q.filter.unwrap();
        assert!(eval(&f, &row(&[("Email", json_str("x@www.Globex.com"))])));
        assert!(eval(&f, &row(&[("Email", json_str("ZA"))])));
        assert!(!eval(&f, &row(&[("Email", json_str("x@initech.com"))])));
        assert!(!eval(&f, &row(&[])));
    }

    #[test]
    fn fifteen_char_ids_match_stored_ids() {
        let q = checked(
            "SELECT Id FROM Lead WHERE Id IN ('001M000001FgVKl') OR AccountId = '001M000001FgVKl'",
        )
        .unwrap();
        let f = q.filter.unwrap();
        assert!(eval(&f, &row(&[("Id", json_str("001M000001FgVKlIAN"))])));
        assert!(eval(
            &f,
            &row(&[("AccountId", json_str("001M000001FgVKlIAN"))])
        ));
    }

    #[test]
    fn not_in_and_numbers() {
        let q =
            checked("SELECT Id FROM Lead WHERE Email NOT IN ('a@b.com') AND AnnualRevenue >= 10.5")
                .unwrap();
        let f = q.filter.unwrap();
        assert!(eval(
            &f,
            &row(&[
                ("Email", json_str("c@d.com")),
                ("AnnualRevenue", serde_json::json!(11))
            ])
        ));
        assert!(!eval(
            &f,
            &row(&[
                ("Email", json_str("A@B.com")),
                ("AnnualRevenue", serde_json::json!(11))
            ])
        ));
        assert!(!eval(
            &f,
            &row(&[
                ("Email", json_str("c@d.com")),
                ("AnnualRevenue", serde_json::json!(1))
            ])
        ));
    }

    #[test]
    fn name_errors() {
        assert_eq!(
            checked("SELECT Foo FROM Lead").unwrap_err().code,
            ErrorCode::InvalidField
        );
        let e = checked("SELECT Id FROM Leed").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidType);
        assert!(e.message.contains("sObject type 'Leed' is not supported"));
        assert_eq!(
            checked("SELECT Owner.Name FROM Lead").unwrap_err().code,
            ErrorCode::InvalidField
        );
        assert_eq!(
            checked("SELECT Account.Nope FROM Lead").unwrap_err().code,
            ErrorCode::InvalidField
        );
        // Datetime compared with a quoted string.
        let e = checked("SELECT Id FROM Lead WHERE LastModifiedDate > '2024-01-01'").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidField);
        assert!(e.message.contains("should not be enclosed in quotes"));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "SELECT FROM Lead",
            "SELECT Id Lead",
            "SELECT Id FROM Lead WHERE",
            "SELECT Id FROM Lead WHERE Email = ",
            "SELECT Id FROM Lead LIMIT x",
            "SELECT Id FROM Lead WHERE (Email = 'a'",
            "SELECT Id FROM Lead trailing",
            "SELECT Id FROM Lead WHERE Email = :bind",
        ] {
            let e = checked(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::MalformedQuery, "{bad}");
            assert!(
                e.message.contains("ERROR at Row:1:Column:"),
                "{bad}: {}",
                e.message
            );
        }
        let long = format!(
            "SELECT Id FROM Lead WHERE Email = '{}'",
            "a".repeat(MAX_SOQL_CHARS)
        );
        assert_eq!(checked(&long).unwrap_err().code, ErrorCode::MalformedQuery);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!(
            "SELECT Id FROM Lead WHERE {}Email = 'a'{}",
            "(".repeat(20_000),
            ")".repeat(20_000)
        );
        assert_eq!(
            checked(&deep).unwrap_err().code,
            ErrorCode::QueryTooComplicated
        );
        let nots = format!(
            "SELECT Id FROM Lead WHERE {}Email = 'a'",
            "NOT ".repeat(20_000)
        );
        assert_eq!(
            checked(&nots).unwrap_err().code,
            ErrorCode::QueryTooComplicated
        );
        let ok = format!(
            "SELECT Id FROM Lead WHERE {}Email = 'a'{}",
            "(".repeat(10),
            ")".repeat(10)
        );
        assert!(checked(&ok).is_ok());
    }

    #[test]
    fn pinned_email_values() {
        let q = checked(
            "SELECT Id FROM Lead WHERE IsConverted = false AND Email IN ('A@x.com','b@y.com')",
        )
        .unwrap();
        let mut v = pinned_strings(q.filter.as_ref().unwrap(), "Email").unwrap();
        v.sort();
        assert_eq!(v, ["a@x.com", "b@y.com"]);
        let q = checked("SELECT Id FROM Lead WHERE IsConverted = false OR Email = 'a'").unwrap();
        assert!(pinned_strings(q.filter.as_ref().unwrap(), "Email").is_none());
    }
}
