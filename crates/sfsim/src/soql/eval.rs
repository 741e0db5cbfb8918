//! Evaluating a checked query over records: filters (SOQL's comparison rules, nulls,
//! case-insensitive strings, LIKE patterns), ORDER BY with null placement, and the
//! strings a filter pins a field to, so the store can use its index.

use std::cmp::Ordering;

use serde_json::Value;

use super::{CmpOp, Expr, Literal, OrderItem, SCharPub};

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
pub(super) fn like_contains(p: &[SCharPub]) -> Option<String> {
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
