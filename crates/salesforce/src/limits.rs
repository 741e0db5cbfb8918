//! API-usage tracking: the `Sforce-Limit-Info` header Salesforce adds to every REST
//! response, and the `/limits` resource.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Calls used in the rolling 24 h window and the org's allocation, from
/// `Sforce-Limit-Info: api-usage=used/max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

impl ApiUsage {
    /// Calls left before `REQUEST_LIMIT_EXCEEDED` (0 once used ≥ max).
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }
}

/// Parses `api-usage=18/5000`, tolerating other `;`-separated segments in any order
/// (`api-usage=10018/100000; api-bursts=1/750`, `per-app-api-usage=17/250(appName=x)`)
/// ([REST] headers_api_usage). `None` when no well-formed `api-usage` segment is present.
pub fn parse_limit_info(header: &str) -> Option<ApiUsage> {
    header.split(';').find_map(|segment| {
        let (key, value) = segment.trim().split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("api-usage") {
            return None;
        }
        let (used, max) = value.trim().split_once('/')?;
        Some(ApiUsage {
            used: used.trim().parse().ok()?,
            max: max.trim().parse().ok()?,
        })
    })
}

/// One entry of `/limits`: `{"Max":15000,"Remaining":14998}` (per-app sub-entries ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct LimitValue {
    #[serde(rename = "Max")]
    pub max: i64,
    #[serde(rename = "Remaining")]
    pub remaining: i64,
}

/// `GET /services/data/vXX.X/limits`: every limit by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    pub all: BTreeMap<String, LimitValue>,
}

impl Limits {
    /// The daily API request allocation (`DailyApiRequests`).
    pub fn daily_api_requests(&self) -> Option<LimitValue> {
        self.all.get("DailyApiRequests").copied()
    }

    /// Keeps entries shaped `{Max, Remaining}`; ignores anything else a newer org adds.
    pub(crate) fn from_json(v: &serde_json::Value) -> Option<Limits> {
        let obj = v.as_object()?;
        let all = obj
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), LimitValue::deserialize(v).ok()?)))
            .collect();
        Some(Limits { all })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_segmented_headers() {
        assert_eq!(
            parse_limit_info("api-usage=18/5000"),
            Some(ApiUsage {
                used: 18,
                max: 5000
            })
        );
        assert_eq!(
            parse_limit_info("api-usage=10018/100000; api-bursts=1/750"),
            Some(ApiUsage {
                used: 10018,
                max: 100000
            })
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=17/250(appName=sample-app); api-usage=25/5000"),
            Some(ApiUsage {
                used: 25,
                max: 5000
            })
        );
        assert_eq!(
            parse_limit_info(" API-Usage = 3 / 10 "),
            Some(ApiUsage { used: 3, max: 10 })
        );
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(parse_limit_info(""), None);
        assert_eq!(parse_limit_info("api-usage=18"), None);
        assert_eq!(parse_limit_info("api-usage=x/5000"), None);
        assert_eq!(parse_limit_info("per-app-api-usage=17/250"), None);
    }

    #[test]
    fn remaining_saturates() {
        assert_eq!(ApiUsage { used: 10, max: 8 }.remaining(), 0);
        assert_eq!(ApiUsage { used: 3, max: 8 }.remaining(), 5);
    }

    #[test]
    fn limits_keep_max_remaining_entries() {
        let v = serde_json::json!({
            "DailyApiRequests": {"Max": 15000, "Remaining": 14998, "Ant Migration Tool": {"Max": 0, "Remaining": 0}},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "Weird": 3
        });
        let l = Limits::from_json(&v).unwrap();
        assert_eq!(
            l.daily_api_requests(),
            Some(LimitValue {
                max: 15000,
                remaining: 14998
            })
        );
        assert_eq!(l.all.len(), 2);
    }
}
