//! The SOQL subset the emulated org understands: parsing, checking against the org's
//! metadata, and evaluating against records. Pure: no store, no I/O.
//!
//! Supported (salesforce-api.md §4): `SELECT` of fields, parent-relationship fields
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

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::schema::{FieldType, ObjectDef};

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
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A quoted string; `like` keeps `\%`/`\_` as escaped wildcards.
    Str(Vec<SChar>),
    /// An unquoted number, date or datetime, classified when used.
    Bare(String),
    LParen,
    RParen,
    Comma,
    Op(CmpOp),
    End,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SChar {
    C(char),
    EscPercent,
    EscUnderscore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

struct Lexer<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, SoqlError> {
    let mut lx = Lexer {
        src,
        chars: src.char_indices().collect(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        let (tok, pos) = lx.next()?;
        let end = tok == Tok::End;
        out.push((tok, pos));
        if end {
            return Ok(out);
        }
    }
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).map(|(_, c)| *c)
    }
    fn pos(&self) -> usize {
        self.chars.get(self.i).map_or(self.src.len(), |(p, _)| *p)
    }

    fn next(&mut self) -> Result<(Tok, usize), SoqlError> {
        while self.peek(0).is_some_and(char::is_whitespace) {
            self.i += 1;
        }
        let pos = self.pos();
        let Some(c) = self.peek(0) else {
            return Ok((Tok::End, pos));
        };
        let two = |s: &Self, a: char| s.peek(1) == Some(a);
        let tok = match c {
            '(' => {
                self.i += 1;
                Tok::LParen
            }
            ')' => {
                self.i += 1;
                Tok::RParen
            }
            ',' => {
                self.i += 1;
                Tok::Comma
            }
            '=' => {
                self.i += 1;
                Tok::Op(CmpOp::Eq)
            }
            '!' if two(self, '=') => {
                self.i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' if two(self, '>') => {
                self.i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' if two(self, '=') => {
                self.i += 2;
                Tok::Op(CmpOp::Le)
            }
            '>' if two(self, '=') => {
                self.i += 2;
                Tok::Op(CmpOp::Ge)
            }
            '<' => {
                self.i += 1;
                Tok::Op(CmpOp::Lt)
            }
            '>' => {
                self.i += 1;
                Tok::Op(CmpOp::Gt)
            }
            '\'' => self.string(pos)?,
            '"' => {
                return Err(err_at(
                    ErrorCode::MalformedQuery,
                    self.src,
                    pos,
                    "line 1:0 no viable alternative at character '\"'",
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.i;
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                {
                    self.i += 1;
                }
                Tok::Ident(self.chars[start..self.i].iter().map(|(_, c)| *c).collect())
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && self.peek(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = self.i;
                self.i += 1;
                while self.peek(0).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '+' | '-')
                }) {
                    self.i += 1;
                }
                Tok::Bare(self.chars[start..self.i].iter().map(|(_, c)| *c).collect())
            }
            other => {
                return Err(err_at(
                    ErrorCode::MalformedQuery,
                    self.src,
                    pos,
                    &format!(
                        "line 1:{} no viable alternative at character '{other}'",
                        pos
                    ),
                ));
            }
        };
        Ok((tok, pos))
    }

    /// A single-quoted literal with Salesforce's escapes ([SOQL] quoted string escape
    /// sequences); anything else after a backslash is an error.
    fn string(&mut self, pos: usize) -> Result<Tok, SoqlError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err(err_at(
                    ErrorCode::MalformedQuery,
                    self.src,
                    pos,
                    "line 1:0 mismatched character '<EOF>' expecting '''",
                ));
            };
            self.i += 1;
            match c {
                '\'' => return Ok(Tok::Str(out)),
                '\\' => {
                    let esc_pos = self.pos();
                    let e = self.peek(0).unwrap_or(' ');
                    self.i += 1;
                    let ch = match e {
                        'n' | 'N' => SChar::C('\n'),
                        'r' | 'R' => SChar::C('\r'),
                        't' | 'T' => SChar::C('\t'),
                        'b' | 'B' => SChar::C('\u{8}'),
                        'f' | 'F' => SChar::C('\u{c}'),
                        '"' => SChar::C('"'),
                        '\'' => SChar::C('\''),
                        '\\' => SChar::C('\\'),
                        '%' => SChar::EscPercent,
                        '_' => SChar::EscUnderscore,
                        'u' => {
                            let hex: String = (0..4).filter_map(|k| self.peek(k)).collect();
                            let cp = (hex.len() == 4)
                                .then(|| u32::from_str_radix(&hex, 16).ok())
                                .flatten()
                                .and_then(char::from_u32);
                            match cp {
                                Some(ch) => {
                                    self.i += 4;
                                    SChar::C(ch)
                                }
                                None => {
                                    return Err(err_at(
                                        ErrorCode::MalformedQuery,
                                        self.src,
                                        esc_pos,
                                        "Invalid string literal: invalid unicode escape sequence",
                                    ));
                                }
                            }
                        }
                        other => {
                            return Err(err_at(
                                ErrorCode::MalformedQuery,
                                self.src,
                                esc_pos,
                                &format!(
                                    "Invalid string literal '\\{other}'. Illegal character sequence '\\{other}' in string literal."
                                ),
                            ));
                        }
                    };
                    out.push(ch);
                }
                c => out.push(SChar::C(c)),
            }
        }
    }
}

fn plain(s: &[SChar]) -> String {
    s.iter()
        .map(|c| match c {
            SChar::C(c) => *c,
            SChar::EscPercent => '%',
            SChar::EscUnderscore => '_',
        })
        .collect()
}

// ------------------------------------------------------------------------------------
// Syntax tree

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

// ------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    i: usize,
    /// Nesting of parentheses / NOT, bounded so hostile input cannot exhaust the stack.
    depth: usize,
}

/// Deepest nesting of parentheses and NOT accepted.
const MAX_NESTING: usize = 64;

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Ident(s) | Tok::Bare(s) => s.clone(),
        Tok::Str(s) => format!("'{}'", plain(s)),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Op(_) => "operator".into(),
        Tok::End => "<EOF>".into(),
    }
}

/// Parses a statement without checking names against an org.
pub fn parse(src: &str) -> Result<Query, SoqlError> {
    if src.chars().count() > MAX_SOQL_CHARS {
        // Salesforce refuses longer statements before parsing them.
        return Err(SoqlError {
            code: ErrorCode::MalformedQuery,
            message: format!("SOQL statements cannot be longer than {MAX_SOQL_CHARS} characters."),
        });
    }
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        depth: 0,
    };
    p.query()
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].0
    }
    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].1
    }
    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn unexpected(&self) -> SoqlError {
        let what = format!("unexpected token: {}", tok_text(self.peek()));
        err_at(ErrorCode::MalformedQuery, self.src, self.pos(), &what)
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn expect(&mut self, t: Tok) -> Result<(), SoqlError> {
        if *self.peek() == t {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn field(&mut self) -> Result<FieldRef, SoqlError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Ident(s) if !is_reserved(&s) => {
                self.bump();
                Ok(FieldRef {
                    path: s.split('.').map(str::to_owned).collect(),
                    ftype: FieldType::String,
                    pos,
                })
            }
            _ => Err(self.unexpected()),
        }
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_kw("SELECT")?;
        let mut select = Vec::new();
        loop {
            if self.is_kw("COUNT") && self.toks.get(self.i + 1).map(|t| &t.0) == Some(&Tok::LParen)
            {
                self.bump();
                self.bump();
                if *self.peek() != Tok::RParen {
                    // Aggregate COUNT(field) is outside the subset.
                    return Err(self.unexpected());
                }
                self.bump();
                select.push(SelectItem::Count);
            } else {
                select.push(SelectItem::Field(self.field()?));
            }
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                break;
            }
        }
        if select.iter().any(|s| matches!(s, SelectItem::Count)) && select.len() > 1 {
            return Err(err_at(
                ErrorCode::MalformedQuery,
                self.src,
                0,
                "COUNT() must be the only element in the SELECT list.",
            ));
        }
        self.expect_kw("FROM")?;
        let from = match self.bump() {
            Tok::Ident(s) if !is_reserved(&s) && !s.contains('.') => s,
            _ => {
                self.i = self.i.saturating_sub(1);
                return Err(self.unexpected());
            }
        };
        let from_pos = self.toks[self.i - 1].1;
        let mut q = Query {
            select,
            from,
            filter: None,
            order_by: Vec::new(),
            limit: None,
            offset: None,
        };
        if self.eat_kw("WHERE") {
            q.filter = Some(self.or_expr()?);
        }
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let field = self.field()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                // Salesforce's default: nulls first ascending, last descending.
                let mut nulls_first = !desc;
                if self.eat_kw("NULLS") {
                    if self.eat_kw("FIRST") {
                        nulls_first = true;
                    } else {
                        self.expect_kw("LAST")?;
                        nulls_first = false;
                    }
                }
                q.order_by.push(OrderItem {
                    field,
                    desc,
                    nulls_first,
                });
                if *self.peek() == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
        }
        if self.eat_kw("LIMIT") {
            q.limit = Some(self.count()?);
        }
        if self.eat_kw("OFFSET") {
            q.offset = Some(self.count()?);
        }
        if *self.peek() != Tok::End {
            return Err(self.unexpected());
        }
        let _ = from_pos;
        Ok(q)
    }

    fn count(&mut self) -> Result<usize, SoqlError> {
        match self.peek().clone() {
            Tok::Bare(s) => match s.parse::<usize>() {
                Ok(n) => {
                    self.bump();
                    Ok(n)
                }
                Err(_) => Err(self.unexpected()),
            },
            _ => Err(self.unexpected()),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, SoqlError> {
        let mut items = vec![self.and_expr()?];
        while self.eat_kw("OR") {
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, SoqlError> {
        let mut items = vec![self.unary()?];
        while self.eat_kw("AND") {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, SoqlError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(err_at(
                ErrorCode::QueryTooComplicated,
                self.src,
                self.pos(),
                "Query is either selecting too many fields or the filter conditions are too complicated.",
            ));
        }
        let out = if self.eat_kw("NOT") {
            self.unary().map(|e| Expr::Not(Box::new(e)))
        } else if *self.peek() == Tok::LParen {
            self.bump();
            self.or_expr()
                .and_then(|e| self.expect(Tok::RParen).map(|()| e))
        } else {
            self.condition()
        };
        self.depth -= 1;
        out
    }

    fn condition(&mut self) -> Result<Expr, SoqlError> {
        let field = self.field()?;
        if let Tok::Op(op) = *self.peek() {
            self.bump();
            let value = self.literal()?;
            return Ok(Expr::Cmp { field, op, value });
        }
        if self.eat_kw("LIKE") {
            return match self.bump() {
                Tok::Str(s) => {
                    let pattern: Vec<SCharPub> = s
                        .iter()
                        .flat_map(|c| match c {
                            SChar::C('%') => vec![SCharPub::AnyMany],
                            SChar::C('_') => vec![SCharPub::AnyOne],
                            SChar::C(c) => c.to_lowercase().map(SCharPub::Lit).collect(),
                            SChar::EscPercent => vec![SCharPub::Lit('%')],
                            SChar::EscUnderscore => vec![SCharPub::Lit('_')],
                        })
                        .collect();
                    let contains = like_contains(&pattern);
                    Ok(Expr::Like {
                        field,
                        pattern,
                        contains,
                    })
                }
                _ => {
                    self.i -= 1;
                    Err(self.unexpected())
                }
            };
        }
        let negated = if self.is_kw("NOT") {
            self.bump();
            if !self.is_kw("IN") {
                return Err(self.unexpected());
            }
            true
        } else {
            false
        };
        if self.eat_kw("IN") {
            self.expect(Tok::LParen)?;
            let mut values = Vec::new();
            loop {
                values.push(self.literal()?);
                if *self.peek() == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
            self.expect(Tok::RParen)?;
            let set = values
                .iter()
                .filter_map(|v| match v {
                    Literal::Str(s) => Some(s.to_lowercase()),
                    _ => None,
                })
                .collect();
            return Ok(Expr::In {
                field,
                negated,
                values,
                set,
            });
        }
        Err(self.unexpected())
    }

    fn literal(&mut self) -> Result<Literal, SoqlError> {
        let pos = self.pos();
        let lit = match self.peek().clone() {
            Tok::Str(s) => Literal::Str(plain(&s)),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Bare(s) => classify_bare(&s).ok_or_else(|| {
                err_at(
                    ErrorCode::MalformedQuery,
                    self.src,
                    pos,
                    &format!("line 1:{pos} no viable alternative at character '{s}'"),
                )
            })?,
            _ => return Err(self.unexpected()),
        };
        self.bump();
        Ok(lit)
    }
}

fn is_reserved(s: &str) -> bool {
    const KW: [&str; 16] = [
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT",
        "OFFSET", "NULL", "TRUE", "FALSE", "NULLS",
    ];
    KW.iter().any(|k| k.eq_ignore_ascii_case(s))
}

/// Number, date (`2024-01-15`) or datetime (`2024-01-15T10:30:00Z`, `...-08:00`,
/// `...+0000`, with optional fraction).
fn classify_bare(s: &str) -> Option<Literal> {
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit) {
        if b.len() == 10 {
            let d = parse_date(s)?;
            return Some(Literal::Date(format_date(d)));
        }
        return parse_datetime(s).map(|t| Literal::DateTime(format_datetime(t)));
    }
    s.parse::<f64>().ok().map(Literal::Num)
}

// ------------------------------------------------------------------------------------
// Date / datetime formats shared with the store

/// Salesforce's datetime output: `2024-01-15T10:30:00.000+0000` (§0).
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
/// (§9.4: all are accepted on input).
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

// ------------------------------------------------------------------------------------
// Checking names against the org

/// Resolves object and field names against the org's metadata (case-insensitively) and
/// rewrites them to their canonical spelling; type-checks literals against fields.
pub fn check<'a>(
    mut q: Query,
    src: &str,
    object: impl Fn(&str) -> Option<&'a ObjectDef>,
) -> Result<(Query, &'a ObjectDef), SoqlError> {
    let from_pos = src
        .to_ascii_lowercase()
        .find(&format!(" {}", q.from.to_ascii_lowercase()))
        .map_or(0, |p| p + 1);
    let Some(def) = object(&q.from) else {
        return Err(err_at(
            ErrorCode::InvalidType,
            src,
            from_pos,
            &format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                q.from
            ),
        ));
    };
    q.from = def.name.clone();
    let resolve = |f: &mut FieldRef| resolve_field(f, def, src, &object);
    for s in &mut q.select {
        if let SelectItem::Field(f) = s {
            resolve(f)?;
        }
    }
    for o in &mut q.order_by {
        resolve(&mut o.field)?;
    }
    if let Some(e) = &mut q.filter {
        check_expr(e, src, &|f: &mut FieldRef| {
            resolve_field(f, def, src, &object)
        })?;
    }
    Ok((q, def))
}

fn resolve_field<'a>(
    f: &mut FieldRef,
    def: &ObjectDef,
    src: &str,
    object: &impl Fn(&str) -> Option<&'a ObjectDef>,
) -> Result<(), SoqlError> {
    let no_column = |name: &str, entity: &str| {
        err_at(
            ErrorCode::InvalidField,
            src,
            f.pos,
            &format!(
                "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
            ),
        )
    };
    // `Lead.Email` on FROM Lead: the object name may prefix its own fields.
    let mut path = f.path.clone();
    if path.len() == 2
        && path[0].eq_ignore_ascii_case(&def.name)
        && def.relationship(&path[0]).is_none()
    {
        path.remove(0);
    }
    match path.as_slice() {
        [name] => {
            let fd = def.field(name).ok_or_else(|| no_column(name, &def.name))?;
            f.path = vec![fd.name.clone()];
            f.ftype = fd.ftype;
            Ok(())
        }
        [rel, name] => {
            let rf = def.relationship(rel).ok_or_else(|| {
                err_at(
                    ErrorCode::InvalidField,
                    src,
                    f.pos,
                    &format!(
                        "Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                )
            })?;
            let target = rf
                .reference_to
                .first()
                .and_then(|t| object(t))
                .ok_or_else(|| no_column(name, rf.reference_to.first().map_or("", |s| s)))?;
            let fd = target
                .field(name)
                .ok_or_else(|| no_column(name, &target.name))?;
            f.path = vec![
                rf.relationship_name.clone().unwrap_or_default(),
                fd.name.clone(),
            ];
            f.ftype = fd.ftype;
            Ok(())
        }
        _ => Err(err_at(
            ErrorCode::MalformedQuery,
            src,
            f.pos,
            "Relationship paths deeper than one level are not supported by this org.",
        )),
    }
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Datetime => "dateTime",
        FieldType::Date => "date",
        FieldType::Boolean => "boolean",
        FieldType::Double | FieldType::Currency => "double",
        FieldType::Int => "int",
        _ => "string",
    }
}

fn check_literal(field: &FieldRef, v: &Literal, src: &str) -> Result<(), SoqlError> {
    let ok = match (field.ftype, v) {
        (_, Literal::Null) => true,
        (FieldType::Datetime, Literal::DateTime(_)) => true,
        (FieldType::Date, Literal::Date(_)) => true,
        (FieldType::Boolean, Literal::Bool(_)) => true,
        (FieldType::Double | FieldType::Currency | FieldType::Int, Literal::Num(_)) => true,
        (FieldType::Datetime | FieldType::Date | FieldType::Boolean, _) => false,
        (FieldType::Double | FieldType::Currency | FieldType::Int, _) => false,
        (_, Literal::Str(_)) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let quoted = matches!(v, Literal::Str(_));
    let name = field.path.join(".");
    let what = if quoted {
        format!(
            "value of filter criterion for field '{name}' must be of type {} and should not be enclosed in quotes",
            type_name(field.ftype)
        )
    } else {
        format!(
            "value of filter criterion for field '{name}' must be of type {} and should be enclosed in quotes",
            type_name(field.ftype)
        )
    };
    Err(err_at(ErrorCode::InvalidField, src, field.pos, &what))
}

/// 15-character ids in filters on id fields match the stored 18-character ids.
fn normalise_id(field: &FieldRef, v: &mut Literal) {
    if matches!(field.ftype, FieldType::Id | FieldType::Reference) {
        if let Literal::Str(s) = v {
            if let Some(id18) = crate::ids::to_18(s) {
                *s = id18;
            }
        }
    }
}

fn check_expr(
    e: &mut Expr,
    src: &str,
    resolve: &dyn Fn(&mut FieldRef) -> Result<(), SoqlError>,
) -> Result<(), SoqlError> {
    match e {
        Expr::And(xs) | Expr::Or(xs) => {
            for x in xs {
                check_expr(x, src, resolve)?;
            }
            Ok(())
        }
        Expr::Not(x) => check_expr(x, src, resolve),
        Expr::Cmp { field, value, .. } => {
            resolve(field)?;
            normalise_id(field, value);
            check_literal(field, value, src)
        }
        Expr::In {
            field, values, set, ..
        } => {
            resolve(field)?;
            values.iter_mut().for_each(|v| normalise_id(field, v));
            if matches!(field.ftype, FieldType::Id | FieldType::Reference) {
                *set = values
                    .iter()
                    .filter_map(|v| match v {
                        Literal::Str(s) => Some(s.to_lowercase()),
                        _ => None,
                    })
                    .collect();
            }
            values.iter().try_for_each(|v| check_literal(field, v, src))
        }
        Expr::Like { field, .. } => {
            resolve(field)?;
            if field.ftype.is_text() {
                Ok(())
            } else {
                Err(err_at(
                    ErrorCode::InvalidField,
                    src,
                    field.pos,
                    &format!("invalid operator on {} field: LIKE", type_name(field.ftype)),
                ))
            }
        }
    }
}

// ------------------------------------------------------------------------------------
// Evaluation

/// Compares two field values the way SOQL does: strings case-insensitively, numbers
/// numerically, booleans false < true; `None` when not comparable (null or mixed types).
pub fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(cmp_ci(x, y)),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn cmp_ci(x: &str, y: &str) -> Ordering {
    let mut a = x.chars().flat_map(char::to_lowercase);
    let mut b = y.chars().flat_map(char::to_lowercase);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p != q => return p.cmp(&q),
            _ => {}
        }
    }
}

fn literal_value(l: &Literal) -> Value {
    match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Str(s) | Literal::Date(s) | Literal::DateTime(s) => Value::String(s.clone()),
        Literal::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
    }
}

/// Evaluates a filter; `get` returns a field's value for a (canonical) path.
pub fn eval(e: &Expr, get: &dyn Fn(&[String]) -> Value) -> bool {
    match e {
        Expr::And(xs) => xs.iter().all(|x| eval(x, get)),
        Expr::Or(xs) => match same_field_likes(xs) {
            // `Website LIKE '%a%' OR Website LIKE '%b%' OR ...` (thousands of clauses in
            // one lookup statement): read and lowercase the value once.
            Some(path) => match get(path) {
                Value::String(v) => {
                    let lower = v.to_lowercase();
                    xs.iter().any(|x| match x {
                        Expr::Like {
                            pattern, contains, ..
                        } => like_match(&lower, pattern, contains.as_deref()),
                        _ => false,
                    })
                }
                _ => false,
            },
            None => xs.iter().any(|x| eval(x, get)),
        },
        Expr::Not(x) => !eval(x, get),
        Expr::Cmp { field, op, value } => {
            let v = get(&field.path);
            let lit = literal_value(value);
            match (op, v.is_null(), lit.is_null()) {
                (CmpOp::Eq, true, true) => true,
                (CmpOp::Ne, true, true) => false,
                (CmpOp::Eq, _, _) if v.is_null() || lit.is_null() => false,
                (CmpOp::Ne, _, _) if v.is_null() || lit.is_null() => true,
                _ => match compare_values(&v, &lit) {
                    None => false,
                    Some(ord) => match op {
                        CmpOp::Eq => ord == Ordering::Equal,
                        CmpOp::Ne => ord != Ordering::Equal,
                        CmpOp::Lt => ord == Ordering::Less,
                        CmpOp::Gt => ord == Ordering::Greater,
                        CmpOp::Le => ord != Ordering::Greater,
                        CmpOp::Ge => ord != Ordering::Less,
                    },
                },
            }
        }
        Expr::In {
            field,
            negated,
            values,
            set,
        } => {
            let v = get(&field.path);
            let hit = match &v {
                Value::String(s) if !set.is_empty() => set.contains(&s.to_lowercase()),
                Value::Null => values.contains(&Literal::Null),
                other => values
                    .iter()
                    .any(|l| compare_values(other, &literal_value(l)) == Some(Ordering::Equal)),
            };
            hit != *negated
        }
        Expr::Like {
            field,
            pattern,
            contains,
        } => match get(&field.path) {
            Value::String(s) => like_match(&s.to_lowercase(), pattern, contains.as_deref()),
            _ => false,
        },
    }
}

/// The field path when every item is a LIKE on the same field.
fn same_field_likes(xs: &[Expr]) -> Option<&[String]> {
    let mut path: Option<&[String]> = None;
    for x in xs {
        match x {
            Expr::Like { field, .. } => match path {
                None => path = Some(&field.path),
                Some(p) if p == field.path.as_slice() => {}
                Some(_) => return None,
            },
            _ => return None,
        }
    }
    path
}

/// `Some(text)` when the pattern is `%text%` with no other wildcard.
fn like_contains(p: &[SCharPub]) -> Option<String> {
    let inner = p
        .strip_prefix(&[SCharPub::AnyMany])?
        .strip_suffix(&[SCharPub::AnyMany])?;
    inner
        .iter()
        .map(|c| match c {
            SCharPub::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn like_match(lower: &str, pattern: &[SCharPub], contains: Option<&str>) -> bool {
    match contains {
        Some(text) => lower.contains(text),
        None => like(&lower.chars().collect::<Vec<_>>(), pattern),
    }
}

/// LIKE matching, case-insensitive: `%` any run, `_` any one character.
fn like(s: &[char], p: &[SCharPub]) -> bool {
    // Iterative wildcard matching with backtracking to the last `%`.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(SCharPub::AnyMany) => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(SCharPub::AnyOne) => {
                si += 1;
                pi += 1;
            }
            Some(SCharPub::Lit(c))
                if c.to_lowercase().eq(std::iter::once(s[si])) || *c == s[si] =>
            {
                si += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == SCharPub::AnyMany)
}

/// Orders two rows by the ORDER BY items.
pub fn order_rows(
    order: &[OrderItem],
    a: &dyn Fn(&[String]) -> Value,
    b: &dyn Fn(&[String]) -> Value,
) -> Ordering {
    for o in order {
        let (x, y) = (a(&o.field.path), b(&o.field.path));
        let ord = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if o.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if o.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let c = compare_values(&x, &y).unwrap_or(Ordering::Equal);
                if o.desc { c.reverse() } else { c }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// When the filter pins `field` to a set of strings (`field = 'x'`, `field IN (...)`,
/// possibly as one conjunct of an AND), the lowercased values — lets the store use an
/// index instead of scanning.
pub fn pinned_strings(e: &Expr, field: &str) -> Option<Vec<String>> {
    match e {
        Expr::Cmp {
            field: f,
            op: CmpOp::Eq,
            value: Literal::Str(s),
        } if f.path.len() == 1 && f.path[0] == field => Some(vec![s.to_lowercase()]),
        Expr::In {
            field: f,
            negated: false,
            set,
            values,
        } if f.path.len() == 1 && f.path[0] == field && set.len() == values.len() => {
            Some(set.iter().cloned().collect())
        }
        Expr::And(xs) => xs.iter().find_map(|x| pinned_strings(x, field)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldDef;

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
    fn datetime_parsing_never_panics_on_odd_text() {
        assert_eq!(parse_datetime("2024-01-15T10:30:00ééé"), None);
        assert_eq!(parse_datetime("é"), None);
        assert!(parse_datetime("2024-01-15T10:30:00.000+0000").is_some());
        assert!(parse_datetime("2024-01-15T10:30:00+00:00").is_some());
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
    fn datetime_literals_normalise_to_utc() {
        assert_eq!(
            classify_bare("2011-04-26T10:00:00-08:00"),
            Some(Literal::DateTime("2011-04-26T18:00:00.000+0000".into()))
        );
        assert_eq!(
            classify_bare("2024-01-15T10:30:00.000+0000"),
            Some(Literal::DateTime("2024-01-15T10:30:00.000+0000".into()))
        );
        assert_eq!(
            classify_bare("2024-01-15"),
            Some(Literal::Date("2024-01-15".into()))
        );
        assert_eq!(classify_bare("2024-13-15"), None);
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
