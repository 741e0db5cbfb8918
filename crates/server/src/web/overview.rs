//! The Overview, where a person lands after signing in: evaluations and outcomes over the
//! last 24 hours (a server-rendered SVG chart), the queue's depth and oldest wait, each
//! org's API usage against its daily limit, and a banner with the fix whenever delivery is
//! not happening.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use store::{DeliveryFilter, DeliveryState};
use time::OffsetDateTime;

use super::view::{Layout, age, number};
use super::{error_page, render};
use crate::AppState;
use crate::auth::Caller;
use crate::integrations::Status;
use crate::worker::SALESFORCE;

/// At most this many log entries are read for the chart (a page of 500 at a time).
const CHART_LIMIT: usize = 20_000;
const HOURS: usize = 24;

struct Banner {
    text: String,
    href: &'static str,
    action: &'static str,
}

struct Bar {
    x: u32,
    y: u32,
    h: u32,
    fy: u32,
    fh: u32,
    label: String,
}

struct Usage {
    name: String,
    text: String,
    percent: u32,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    l: Layout,
    banners: Vec<Banner>,
    bars: Vec<Bar>,
    max: u64,
    total: String,
    capped: bool,
    outcomes: Vec<(String, String)>,
    pending: String,
    due: String,
    oldest: String,
    usage: Vec<Usage>,
}

pub async fn page(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Response {
    match build(&state, &caller).await {
        Ok(p) => render(&p),
        Err(e) => error_page(&e),
    }
}

async fn build(state: &AppState, caller: &Caller) -> Result<OverviewPage, crate::ApiError> {
    let now = OffsetDateTime::now_utc();
    let since = now - time::Duration::hours(HOURS as i64);
    // Deliveries changed in the last 24 hours, a keyset page at a time.
    let filter = DeliveryFilter {
        since: Some(since),
        destination: Some(SALESFORCE.to_string()),
        ..DeliveryFilter::default()
    };
    let mut per_hour = [(0u64, 0u64); HOURS];
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    let mut seen = 0usize;
    loop {
        let page = state
            .store
            .list_deliveries(&filter, cursor.as_deref(), 500)
            .await?;
        for v in &page.items {
            let d = &v.delivery;
            let back = ((now - d.updated_at).whole_hours().max(0) as usize).min(HOURS - 1);
            let slot = HOURS - 1 - back;
            per_hour[slot].0 += 1;
            if matches!(d.outcome.as_str(), "failed" | "rejected") {
                per_hour[slot].1 += 1;
            }
            *outcomes.entry(d.outcome.as_str().to_string()).or_default() += 1;
        }
        seen += page.items.len();
        match page.next_cursor {
            Some(c) if seen < CHART_LIMIT => cursor = Some(c),
            _ => break,
        }
    }
    let capped = seen >= CHART_LIMIT;
    let max = per_hour.iter().map(|h| h.0).max().unwrap_or(0).max(1);
    let height = 120u64;
    let bars = per_hour
        .iter()
        .enumerate()
        .map(|(i, (all, failed))| {
            let h = (all * height / max) as u32;
            let fh = (failed * height / max) as u32;
            Bar {
                x: 40 + i as u32 * 26,
                y: 10 + height as u32 - h,
                h,
                fy: 10 + height as u32 - fh,
                fh,
                label: format!(
                    "{} h ago: {all} evaluations, {failed} failed",
                    HOURS - 1 - i
                ),
            }
        })
        .collect();
    let stats = state.store.queue_stats(Some(SALESFORCE)).await?;
    let pending = stats
        .by_state
        .get(&DeliveryState::Pending)
        .copied()
        .unwrap_or(0);
    state.integrations.sync_stored(state.store.as_ref()).await?;
    let usage = state
        .integrations
        .all()
        .iter()
        .map(|i| {
            let j = i.to_json();
            let (used, max) = (
                j["api_usage"]["used"].as_u64(),
                j["api_usage"]["max"].as_u64(),
            );
            match (used, max) {
                (Some(u), Some(m)) if m > 0 => Usage {
                    name: i.name.clone(),
                    text: format!("{} of {} requests today", number(u), number(m)),
                    percent: (u * 100 / m) as u32,
                },
                _ => Usage {
                    name: i.name.clone(),
                    text: "no API call made yet".into(),
                    percent: 0,
                },
            }
        })
        .collect();
    Ok(OverviewPage {
        l: Layout::new(caller, "overview"),
        banners: banners(state).await?,
        bars,
        max,
        total: number(seen as u64),
        capped,
        outcomes: outcomes.into_iter().map(|(o, n)| (o, number(n))).collect(),
        pending: number(pending),
        due: number(stats.due),
        oldest: stats.oldest_due_age.map(age).unwrap_or_else(|| "—".into()),
        usage,
    })
}

/// Why delivery is not happening, each with the page that fixes it.
async fn banners(state: &AppState) -> Result<Vec<Banner>, crate::ApiError> {
    let mut out = Vec::new();
    let connect = "/settings/crm-integration";
    let dest = "/settings/crm-integration/destinations";
    let (settings, current) = crate::handlers::settings::in_force(state).await?;
    if state.integrations.all().is_empty() {
        out.push(Banner {
            text: "No Salesforce org is connected: evaluations are kept but not delivered.".into(),
            href: connect,
            action: "Connect an org",
        });
    }
    if current.is_none() {
        out.push(Banner {
            text: "No destination settings are saved yet: evaluations wait until they are.".into(),
            href: dest,
            action: "Map your fields and save",
        });
        return Ok(out);
    }
    if !settings.enabled {
        out.push(Banner {
            text: "Sending evaluations to Salesforce is turned off: evaluations are kept and can be replayed.".into(),
            href: dest,
            action: "Turn on Send Evaluations to Salesforce",
        });
    }
    match state.integrations.get(&settings.integration) {
        None => out.push(Banner {
            text: format!(
                "The destination writes to {:?}, which is not connected.",
                settings.integration
            ),
            href: connect,
            action: "Connect it",
        }),
        Some(i) => match i.status() {
            _ if i.is_disconnected() => out.push(Banner {
                text: format!(
                    "{} is disconnected: evaluations wait, queued, until it is connected again.",
                    i.name
                ),
                href: connect,
                action: "Connect it again",
            }),
            Status::Paused { reason, .. } => out.push(Banner {
                text: format!(
                    "Delivery to {} is paused: {reason}. Evaluations wait, queued, and leave once the org answers again.",
                    i.name
                ),
                href: connect,
                action: "See its API usage",
            }),
            Status::SignedOut { message } => out.push(Banner {
                text: format!("{} is signed out: {message}", i.name),
                href: connect,
                action: "Connect it again",
            }),
            Status::Error { message } => out.push(Banner {
                text: format!("{} cannot sign in: {message}", i.name),
                href: connect,
                action: "Test the connection",
            }),
            _ => {}
        },
    }
    Ok(out)
}
