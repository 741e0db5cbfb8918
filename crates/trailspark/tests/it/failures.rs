//! The failure model end to end on a real `trailspark serve`: an org outage and an org
//! that throttles pause the destination as a whole (visible in `GET /api/v1/integrations`)
//! without spending any delivery's attempt, and a revoked refresh token makes the
//! deliveries wait for a reconnect. Short fault windows keep each case to seconds; nothing
//! here asserts on speed.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::connect::{bare, connected_owner, settings_for};
use crate::service::{Opts, Setup, contacts, evaluation, eventually, setup};

/// Probes while paused from 100 ms up to 400 ms, so a short window ends a case quickly.
fn fast_probes() -> Opts {
    Opts {
        env: vec![
            ("TRAILSPARK_PROBE_FIRST_MS".into(), "100".into()),
            ("TRAILSPARK_PROBE_MAX_MS".into(), "400".into()),
        ],
        ..Opts::default()
    }
}

/// Delivers one evaluation so the client is signed in and has the org's field metadata
/// before the trouble starts; returns the people left for the case.
async fn warmed_up(t: &Setup, n: usize) -> Vec<(String, String)> {
    let mut people = contacts(&t.org, n + 1);
    let (email, _) = people.remove(0);
    t.svc
        .ingest(&t.owner, &evaluation("warmup", &email, "warm"))
        .await;
    t.svc
        .wait_outcome(&t.owner, "warmup", Duration::from_secs(20), "updated")
        .await;
    people
}

/// Posts one evaluation per person as a single batch (`prefix-i`).
async fn post_all(t: &Setup, prefix: &str, people: &[(String, String)]) -> Vec<String> {
    let batch: Vec<Value> = people
        .iter()
        .enumerate()
        .map(|(i, (email, _))| evaluation(&format!("{prefix}-{i}"), email, "hot"))
        .collect();
    let (s, v) = t.svc.ingest(&t.owner, &json!(batch)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    (0..people.len()).map(|i| format!("{prefix}-{i}")).collect()
}

/// Waits until the integration is paused for `why`; returns the integration's item.
async fn paused_for(t: &Setup, why: &str) -> Value {
    let (svc, owner) = (&t.svc, &t.owner);
    eventually(
        Duration::from_secs(20),
        "the destination pauses",
        || async move {
            let item = &svc.get("/api/v1/integrations", owner).await.1["items"][0];
            item["status"] == "paused" && item["pause"]["why"] == why
        },
    )
    .await;
    t.svc.get("/api/v1/integrations", &t.owner).await.1["items"][0].clone()
}

/// No delivery failed, and every one not yet done still has all its attempts.
async fn nothing_spent(t: &Setup) {
    for d in t.svc.all_deliveries(&t.owner).await {
        assert_ne!(d["outcome"], "failed", "{d}");
        if d["state"] != "done" {
            assert_eq!(d["attempts"], 0, "org-wide trouble spends no attempt: {d}");
        }
    }
}

/// Every one of `ids` updated its Contact, on its first attempt.
async fn delivered_once(t: &Setup, ids: &[String], people: &[(String, String)]) {
    for id in ids {
        let d = t
            .svc
            .wait_outcome(&t.owner, id, Duration::from_secs(60), "updated")
            .await;
        assert_eq!(d["attempts"], 1, "{d}");
    }
    for (_, contact) in people {
        let rec = t.org.control().record(contact).expect("contact");
        assert_eq!(rec["TrailSpark_Score__c"], "hot", "{rec}");
    }
}

#[tokio::test]
async fn an_outage_pauses_the_destination_and_everything_is_delivered_after_it() {
    let t = setup("svc-outage", fast_probes()).await;
    let people = warmed_up(&t, 8).await;
    t.org.control().fail_for(503, Duration::from_secs(3), None);
    let ids = post_all(&t, "out", &people).await;

    let item = paused_for(&t, "org_unavailable").await;
    assert!(item["pause"]["since"].is_string(), "{item}");
    assert!(item["pause"]["next_probe"].is_string(), "{item}");
    nothing_spent(&t).await;

    delivered_once(&t, &ids, &people).await;
    let (svc, owner) = (&t.svc, &t.owner);
    eventually(Duration::from_secs(10), "delivering again", || async move {
        svc.get("/api/v1/integrations", owner).await.1["items"][0]["status"] == "connected"
    })
    .await;
    let metrics = t.svc.metrics().await;
    assert!(
        metrics.contains("trailspark_delivery_pauses_total{why=\"org_unavailable\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_throttled_org_is_not_called_before_retry_after_and_everything_is_delivered() {
    let t = setup("svc-throttle", fast_probes()).await;
    let people = warmed_up(&t, 8).await;
    let c = t.org.control();
    c.clear_calls();
    c.fail_for(429, Duration::from_secs(2), Some(1));
    let ids = post_all(&t, "thr", &people).await;

    paused_for(&t, "throttled").await;
    nothing_spent(&t).await;
    delivered_once(&t, &ids, &people).await;

    // The org's call log: after every 429, nothing until its Retry-After (1 s) has passed.
    let calls: Vec<_> = c.calls().into_iter().filter(|c| !c.in_composite).collect();
    let throttled: Vec<_> = calls.iter().filter(|c| c.status == 429).collect();
    assert!(!throttled.is_empty(), "the window was met: {calls:?}");
    for t429 in throttled {
        if let Some(next) = calls.iter().find(|n| n.at > t429.at) {
            assert!(
                next.at - t429.at >= time::Duration::seconds(1),
                "a call {:?} after a 429 asking for 1 s: {next:?}",
                next.at - t429.at
            );
        }
    }
}

#[tokio::test]
async fn a_revoked_refresh_token_waits_for_a_reconnect_and_then_delivers_everything() {
    let t = bare("svc-revoked", Vec::new()).await;
    let b = connected_owner(&t, "production").await;
    let (status, saved) = b
        .send(
            Method::PUT,
            "/api/v1/destinations/salesforce",
            Some(&settings_for("production")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let people = contacts(&t.org, 5);
    let (status, _) = b
        .send(
            Method::POST,
            "/api/v1/evaluations",
            Some(&evaluation("warmup", &people[0].0, "hot")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let state = |id: String| {
        let b = &b;
        async move {
            b.send(Method::GET, &format!("/api/v1/evaluations/{id}"), None)
                .await
                .1["deliveries"][0]
                .clone()
        }
    };
    eventually(Duration::from_secs(20), "the warm-up is delivered", || {
        let s = state("warmup".into());
        async move { s.await["outcome"] == "updated" }
    })
    .await;

    // The admin revokes the integration's access in the org (every refresh token it holds).
    let http = reqwest::Client::new();
    for token in t.org.auth().refresh_tokens() {
        let resp = http
            .post(format!("{}/services/oauth2/revoke", t.org.url()))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("revoke");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let ids: Vec<String> = (1..people.len()).map(|i| format!("rv-{i}")).collect();
    let batch: Vec<Value> = ids
        .iter()
        .zip(&people[1..])
        .map(|(id, (email, _))| evaluation(id, email, "warm"))
        .collect();
    let (status, v) = b
        .send(Method::POST, "/api/v1/evaluations", Some(&json!(batch)))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");

    eventually(
        Duration::from_secs(20),
        "the integration is signed out",
        || async {
            b.send(Method::GET, "/api/v1/integrations", None).await.1["items"][0]["status"]
                == "signed_out"
        },
    )
    .await;
    // Waiting, not failing: every delivery queued with all its attempts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        let d = state(id.clone()).await;
        assert_eq!(d["state"], "pending", "{d}");
        assert_eq!(d["attempts"], 0, "{d}");
    }

    let (status, v, _) = b.connect(&t.org, "production").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for id in &ids {
        let id = id.clone();
        eventually(
            Duration::from_secs(30),
            "delivered after the reconnect",
            || {
                let s = state(id.clone());
                async move { s.await["outcome"] == "updated" }
            },
        )
        .await;
        let d = state(id).await;
        assert_eq!(d["attempts"], 1, "{d}");
    }
    for (_, contact) in &people[1..] {
        let rec = t.org.control().record(contact).expect("contact");
        assert_eq!(rec["TrailSpark_Score__c"], "warm", "{rec}");
    }
}
