//! The Overview, where a person lands after signing in: evaluations and outcomes over the
//! last 24 hours (a server-rendered SVG chart from the store's counts per hour and
//! outcome), the queue's depth and oldest wait (the figures [`crate::stats`] keeps), each
//! org's API usage against its daily limit, and a banner with the fix whenever delivery is
//! not happening.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use store::{DeliveryOutcome, DeliveryState};
use time::OffsetDateTime;

use super::view::{Layout, When, age, number, when};
use super::{error_page, render};
use crate::AppState;
use crate::auth::Caller;
use crate::integrations::Status;
use crate::worker::SALESFORCE;

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
    outcomes: Vec<(String, String)>,
    pending: String,
    due: String,
    oldest: String,
    /// When the queue's figures were read.
    queue_at: Option<When>,
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
    // Deliveries changed in the last 24 hours, counted by the store per hour and outcome.
    let counts = state
        .store
        .outcome_counts(Some(SALESFORCE), since, now + time::Duration::SECOND)
        .await?;
    let mut per_hour = [(0u64, 0u64); HOURS];
    let mut outcomes: BTreeMap<DeliveryOutcome, u64> = BTreeMap::new();
    let mut seen = 0u64;
    for c in &counts {
        let slot = (c.hour as usize).min(HOURS - 1);
        per_hour[slot].0 += c.count;
        if matches!(c.outcome.as_str(), "failed" | "rejected") {
            per_hour[slot].1 += c.count;
        }
        *outcomes.entry(c.outcome).or_default() += c.count;
        seen += c.count;
    }
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
    // The queue as last read in the background (a count over every delivery is too slow
    // to run for each page view on a large queue).
    let snapshot = state.stats.latest();
    let queue = snapshot.as_ref().map(|s| &s.queue);
    let unknown = || "—".to_string();
    let pending = queue
        .and_then(|q| q.by_state.get(&DeliveryState::Pending).copied())
        .map_or_else(unknown, number);
    let due = queue.map_or_else(unknown, |q| number(q.due));
    let oldest = queue
        .and_then(|q| q.oldest_due_age)
        .map_or_else(unknown, age);
    let queue_at = snapshot.as_ref().map(|s| when(s.at, now));
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
        total: number(seen),
        outcomes: outcomes
            .into_iter()
            .map(|(o, n)| (o.as_str().to_string(), number(n)))
            .collect(),
        pending,
        due,
        oldest,
        queue_at,
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
