//! The org's self-description (docs/salesforce.md#api-versions, #describe, #limits): the versions
//! list, the resources of a version, limits, the global describe and one object's describe (with
//! `If-Modified-Since`). Nothing here writes; only `DailyApiRequests` moves in limits.

use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use super::{Ctx, MAX_VERSION, MIN_VERSION, Req, Resp, unknown_object};
use crate::control::CallKind;

/// Release label of an API version: 31.0 = Summer '14, then three releases a year
/// (Winter, Spring, Summer; Winter carries the next year's number).
fn version_label(v: u32) -> String {
    let k = v.saturating_sub(31);
    let season = ["Summer", "Winter", "Spring"][(k % 3) as usize];
    let year = 14 + k.div_ceil(3);
    format!("{season} '{year:02}")
}

/// The versions list (`GET /services/data/`): unauthenticated, not counted
/// (docs/salesforce.md#api-versions).
pub(super) fn versions() -> Value {
    Value::Array(
        (MIN_VERSION..=MAX_VERSION)
            .map(|v| json!({"label": version_label(v), "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")}))
            .collect(),
    )
}

pub(super) fn resources(req: &Req) -> Resp {
    let v = &req.version;
    let mut m = Map::new();
    for k in [
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "jobs",
        "query",
        "queryAll",
        "sobjects",
        "composite",
        "limits",
        "search",
        "recent",
        "process",
        "analytics",
        "actions",
        "tabs",
        "appMenu",
        "quickActions",
        "ui-api",
        "theme",
        "connect",
        "chatter",
        "parameterizedSearch",
    ] {
        m.insert(k.into(), json!(format!("/services/data/v{v}/{k}")));
    }
    Resp::json(200, CallKind::Resources, Value::Object(m))
}

pub(super) fn limits(ctx: &Ctx<'_>) -> Resp {
    let max = ctx.shared.api_max.load(Ordering::SeqCst);
    let used = ctx.shared.api_used.load(Ordering::SeqCst);
    // Keys and values of the documented example (docs/salesforce.md#limits); only DailyApiRequests
    // moves.
    Resp::json(
        200,
        CallKind::Limits,
        json!({
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
            "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "HourlyTimeBasedWorkflow": {"Max": 50, "Remaining": 50},
            "SingleEmail": {"Max": 15, "Remaining": 15},
        }),
    )
}

pub(super) fn describe_global(ctx: &Ctx<'_>, req: &Req) -> Resp {
    let sobjects: Vec<Value> = ctx
        .st
        .org
        .objects
        .iter()
        .map(|o| o.def.describe_global_entry(&req.version))
        .collect();
    Resp::json(
        200,
        CallKind::DescribeGlobal,
        json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}),
    )
}

pub(super) fn sobject_info(ctx: &Ctx<'_>, req: &Req, obj: &str) -> Resp {
    match ctx.st.org.object(obj) {
        Some(def) => Resp::json(
            200,
            CallKind::Describe,
            json!({"objectDescribe": def.describe_global_entry(&req.version), "recentItems": []}),
        ),
        None => unknown_object(CallKind::Describe),
    }
}

const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day padding:none] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);
const HTTP_DATE_OUT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

pub(super) fn describe(ctx: &Ctx<'_>, req: &Req, obj: &str) -> Resp {
    let org = &ctx.st.org;
    let Some(def) = org.object(obj) else {
        return unknown_object(CallKind::Describe);
    };
    let modified = org.metadata_modified;
    let last_modified = modified.format(HTTP_DATE_OUT).unwrap_or_default();
    if let Some(since) = &req.if_modified_since {
        let parsed =
            time::PrimitiveDateTime::parse(since.trim(), HTTP_DATE).map(|p| p.assume_utc());
        if let Ok(since) = parsed {
            if since >= modified {
                // docs/salesforce.md#describe: unchanged metadata → 304 with an empty body.
                let mut r = Resp::empty(304, CallKind::Describe);
                r.headers.push(("Last-Modified", last_modified));
                return r;
            }
        }
    }
    let mut r = Resp::json(
        200,
        CallKind::Describe,
        def.describe(&req.version, org.child_relationships(&def.name)),
    );
    r.headers.push(("Last-Modified", last_modified));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_labels() {
        assert_eq!(version_label(31), "Summer '14");
        assert_eq!(version_label(32), "Winter '15");
        assert_eq!(version_label(60), "Spring '24");
        assert_eq!(version_label(62), "Winter '25");
        assert_eq!(version_label(67), "Summer '26");
    }
}
