//! The SOQL lexer: statement text to tokens with their byte positions. Quoted strings
//! are decoded here with Salesforce's escapes (anything else after a backslash is an
//! error), keeping `\%` and `\_` apart for LIKE patterns.

use super::{CmpOp, ErrorCode, SoqlError, err_at};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) enum SChar {
    C(char),
    EscPercent,
    EscUnderscore,
}

struct Lexer<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
}

pub(super) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, SoqlError> {
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

pub(super) fn plain(s: &[SChar]) -> String {
    s.iter()
        .map(|c| match c {
            SChar::C(c) => *c,
            SChar::EscPercent => '%',
            SChar::EscUnderscore => '_',
        })
        .collect()
}
