//! The JSON-tree walker: typed getters that record a problem (file, full key, what was
//! expected) instead of stopping at the first one, so a bad file is reported whole.

use serde_json::{Map, Value};

use super::error::{ConfigError, ConfigProblem};

/// Salesforce field API names (with namespace and `__c`) stay well under this.
const FIELD_NAME_MAX_CHARS: usize = 100;

/// Collects problems while reading a JSON tree; each getter records what it could not read.
pub(super) struct Walker {
    origin: String,
    problems: Vec<ConfigProblem>,
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn quoted_list(options: &[&str]) -> String {
    let q: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} or {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

impl Walker {
    pub(super) fn new(origin: &str) -> Walker {
        Walker {
            origin: origin.to_string(),
            problems: Vec::new(),
        }
    }

    pub(super) fn problem(&mut self, key: &str, problem: impl Into<String>) {
        self.problems.push(ConfigProblem {
            origin: self.origin.clone(),
            key: key.to_string(),
            problem: problem.into(),
        });
    }

    pub(super) fn finish<T>(self, parsed: Option<T>) -> Result<T, ConfigError> {
        match parsed {
            Some(t) if self.problems.is_empty() => Ok(t),
            _ => Err(ConfigError {
                problems: if self.problems.is_empty() {
                    vec![ConfigProblem {
                        origin: self.origin,
                        key: String::new(),
                        problem: "invalid configuration".into(),
                    }]
                } else {
                    self.problems
                },
            }),
        }
    }

    pub(super) fn table<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => {
                for k in m.keys() {
                    if !allowed.contains(&k.as_str()) {
                        self.problem(
                            &join(path, k),
                            format!("unknown key; expected one of: {}", allowed.join(", ")),
                        );
                    }
                }
                Some(m)
            }
            other => {
                self.problem(path, format!("expected a table, got {}", kind(other)));
                None
            }
        }
    }

    pub(super) fn opt_str(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(
                    &join(path, key),
                    format!("expected a string, got {}", kind(other)),
                );
                None
            }
        }
    }

    pub(super) fn req_str(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let s = self.opt_str(m, path, key);
        match s {
            Some(s) if s.trim().is_empty() => {
                self.problem(&join(path, key), "must not be empty");
                None
            }
            Some(s) => Some(s),
            None => {
                if !m.contains_key(key) {
                    self.problem(&join(path, key), "is required");
                }
                None
            }
        }
    }

    pub(super) fn bool_or(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        key: &str,
        default: bool,
    ) -> bool {
        match m.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problem(
                    &join(path, key),
                    format!("expected true or false, got {}", kind(other)),
                );
                default
            }
        }
    }

    pub(super) fn uint_or(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> u64 {
        match m.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(x) if (min..=max).contains(&x) => x,
                _ => {
                    self.problem(
                        &join(path, key),
                        format!("expected a whole number from {min} to {max}, got {n}"),
                    );
                    default
                }
            },
            Some(other) => {
                self.problem(
                    &join(path, key),
                    format!("expected a whole number, got {}", kind(other)),
                );
                default
            }
        }
    }

    pub(super) fn choice<T: Copy>(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        key: &str,
        options: &[(&str, T)],
        default: T,
    ) -> T {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        match m.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::String(s)) => match options.iter().find(|(n, _)| n == s) {
                Some((_, t)) => *t,
                None => {
                    self.problem(
                        &join(path, key),
                        format!("expected {}, got {s:?}", quoted_list(&names)),
                    );
                    default
                }
            },
            Some(other) => {
                self.problem(
                    &join(path, key),
                    format!("expected {}, got {}", quoted_list(&names), kind(other)),
                );
                default
            }
        }
    }

    /// A Salesforce field API name; checked so it can be placed in SOQL SELECT lists safely.
    pub(super) fn field_name(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let s = self.opt_str(m, path, key)?;
        let s = s.trim().to_string();
        if s.is_empty() {
            return None;
        }
        let valid = s.len() <= FIELD_NAME_MAX_CHARS
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Some(s)
        } else {
            self.problem(
                &join(path, key),
                format!("{s:?} is not a Salesforce field API name (letters, digits and underscores, starting with a letter, e.g. \"TrailSpark_Score__c\")"),
            );
            None
        }
    }
}
