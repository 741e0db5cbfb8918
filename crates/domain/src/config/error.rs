//! Why a configuration was refused: every problem found, each naming its origin (the file,
//! or `request` for JSON sent to the HTTP API), the full key and what was expected.

use std::fmt;

use serde::Serialize;

/// Every problem found in a configuration; Display gives one line per problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

/// One problem: where (`origin`, the file or `request`), which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigProblem {
    pub origin: String,
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.problem)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl ConfigError {
    pub(super) fn single(origin: &str, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![ConfigProblem {
                origin: origin.to_string(),
                key: key.to_string(),
                problem: problem.into(),
            }],
        }
    }
}
