//! The SOQL parser: tokens to a [`Query`] by recursive descent, with names as written
//! (the `check` stage resolves them). Nesting of parentheses and `NOT` is bounded so
//! hostile input is refused, not a stack overflow.

use super::dates::{format_date, format_datetime, parse_date, parse_datetime};
use super::eval::like_contains;
use super::lexer::{SChar, Tok, lex, plain};
use super::{
    ErrorCode, Expr, FieldRef, Literal, MAX_SOQL_CHARS, OrderItem, Query, SCharPub, SelectItem,
    SoqlError, err_at,
};
use crate::schema::FieldType;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
