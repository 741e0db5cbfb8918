//! Users, sessions, sign-in throttling, OAuth states, connections, settings history, audit.

use std::time::Duration;

use serde_json::json;
use store::{
    Connection, NewAudit, NewSession, OAuthState, SIGN_IN_FAILURE_WINDOW, StoreError, TokenRole,
    User,
};

use crate::support::{Harness, T0, both_backends};

both_backends!(
    emails_are_unique_and_found_case_insensitively,
    the_last_owner_can_be_neither_demoted_nor_removed,
    concurrent_demotions_keep_an_owner,
    password_change_and_removal_end_sessions,
    sessions_expire_when_idle_and_absolutely,
    sign_in_failures_count_within_a_window,
    oauth_states_are_single_use,
    connections_are_replaced_and_disconnected_without_secrets,
    settings_versions_increment_and_list_newest_first,
    audit_pages_newest_first_by_id,
);

const IDLE: Duration = Duration::from_secs(30 * 60);
const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);

async fn user(h: &Harness, email: &str, role: TokenRole) -> User {
    h.store
        .create_user(email, "$argon2id$hash", role)
        .await
        .expect("create_user")
}

fn new_session(token_hash: &str, user_id: &str) -> NewSession {
    NewSession {
        token_hash: token_hash.to_string(),
        user_id: user_id.to_string(),
        csrf_token: format!("csrf-{token_hash}"),
        idle_timeout: IDLE,
        absolute_timeout: ABSOLUTE,
    }
}

fn connection(name: &str, refresh: &str) -> Connection {
    Connection {
        name: name.to_string(),
        login_url: "https://login.salesforce.com".to_string(),
        client_id: "client-1".to_string(),
        sandbox: false,
        client_secret_enc: Some("c2VjcmV0LWVuYw==".to_string()),
        refresh_token_enc: Some(refresh.to_string()),
        instance_url: Some("https://acme.my.salesforce.com".to_string()),
        username: Some("integration@acme.com".to_string()),
        user_id: Some("005xx".to_string()),
        org_id: Some("00Dxx".to_string()),
        connected_by: Some("owner@acme.com".to_string()),
        connected_at: Some(T0),
        disconnected_at: None,
        updated_at: T0,
    }
}

async fn emails_are_unique_and_found_case_insensitively(h: Harness) {
    let alice = user(&h, "  Alice@Example.COM ", TokenRole::Owner).await;
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.created_at, h.now());
    assert!(alice.last_sign_in_at.is_none());
    assert!(uuid::Uuid::parse_str(&alice.id).is_ok());

    let dup = h
        .store
        .create_user("ALICE@example.com", "h", TokenRole::Viewer)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let ingest = h
        .store
        .create_user("bot@example.com", "h", TokenRole::Ingest)
        .await;
    assert!(matches!(ingest, Err(StoreError::Invalid(_))), "{ingest:?}");

    let found = h
        .store
        .find_user_by_email("ALICE@EXAMPLE.com")
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&alice));
    assert_eq!(
        h.store.get_user(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert!(h.store.get_user("nobody").await.unwrap().is_none());
    assert!(
        h.store
            .find_user_by_email("bob@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let bob = user(&h, "bob@example.com", TokenRole::Viewer).await;
    let aaron = user(&h, "aaron@example.com", TokenRole::Editor).await;
    let emails: Vec<String> = h
        .store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(emails, [aaron.email, alice.email, bob.email]);
    assert_eq!(h.store.count_users().await.unwrap(), 3);

    h.advance(Duration::from_secs(5));
    h.store.note_sign_in(&bob.id).await.unwrap();
    let bob = h.store.get_user(&bob.id).await.unwrap().unwrap();
    assert_eq!(bob.last_sign_in_at, Some(h.now()));
}

async fn the_last_owner_can_be_neither_demoted_nor_removed(h: Harness) {
    let a = user(&h, "a@example.com", TokenRole::Owner).await;
    let viewer = user(&h, "v@example.com", TokenRole::Viewer).await;

    let r = h.store.set_user_role(&a.id, TokenRole::Admin).await;
    assert!(matches!(r, Err(StoreError::LastOwner)), "{r:?}");
    let r = h.store.remove_user(&a.id).await;
    assert!(matches!(r, Err(StoreError::LastOwner)), "{r:?}");
    // Keeping the last owner an owner is no demotion.
    let same = h
        .store
        .set_user_role(&a.id, TokenRole::Owner)
        .await
        .unwrap();
    assert_eq!(same.unwrap().role, TokenRole::Owner);
    let r = h.store.set_user_role(&a.id, TokenRole::Ingest).await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");

    // Non-owners come and go freely.
    let editor = h
        .store
        .set_user_role(&viewer.id, TokenRole::Editor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(editor.role, TokenRole::Editor);
    assert_eq!(editor.email, viewer.email);

    // A second owner makes it allowed, until that one is the last.
    let b = h
        .store
        .set_user_role(&viewer.id, TokenRole::Owner)
        .await
        .unwrap()
        .unwrap();
    let demoted = h
        .store
        .set_user_role(&a.id, TokenRole::Viewer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(demoted.role, TokenRole::Viewer);
    let r = h.store.remove_user(&b.id).await;
    assert!(matches!(r, Err(StoreError::LastOwner)), "{r:?}");
    h.store
        .set_user_role(&a.id, TokenRole::Owner)
        .await
        .unwrap()
        .unwrap();
    assert!(h.store.remove_user(&b.id).await.unwrap());
    assert!(h.store.get_user(&b.id).await.unwrap().is_none());
    assert_eq!(h.store.count_users().await.unwrap(), 1);

    assert!(!h.store.remove_user("nobody").await.unwrap());
    assert!(
        h.store
            .set_user_role("nobody", TokenRole::Admin)
            .await
            .unwrap()
            .is_none()
    );
}

async fn concurrent_demotions_keep_an_owner(h: Harness) {
    // Each round: the single owner and a new one are demoted at once; one must be refused,
    // and whoever stays owner is the single owner of the next round.
    let mut owner = user(&h, "first@example.com", TokenRole::Owner).await;
    for round in 0..5 {
        let new = user(&h, &format!("o{round}@example.com"), TokenRole::Owner).await;
        let (r_old, r_new) = tokio::join!(
            h.store.set_user_role(&owner.id, TokenRole::Admin),
            h.store.set_user_role(&new.id, TokenRole::Admin),
        );
        let owners: Vec<User> = h
            .store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == TokenRole::Owner)
            .collect();
        assert_eq!(owners.len(), 1, "round {round}: {r_old:?} {r_new:?}");
        let refused = [&r_old, &r_new]
            .into_iter()
            .filter(|r| matches!(r, Err(StoreError::LastOwner)))
            .count();
        assert_eq!(refused, 1, "round {round}: {r_old:?} {r_new:?}");
        owner = owners.into_iter().next().unwrap();
    }
}

async fn password_change_and_removal_end_sessions(h: Harness) {
    let owner = user(&h, "owner@example.com", TokenRole::Owner).await;
    let ed = user(&h, "ed@example.com", TokenRole::Editor).await;
    h.store
        .create_session(new_session("s-owner", &owner.id))
        .await
        .unwrap();
    h.store
        .create_session(new_session("s-ed-1", &ed.id))
        .await
        .unwrap();
    h.store
        .create_session(new_session("s-ed-2", &ed.id))
        .await
        .unwrap();

    assert!(h.store.set_user_password(&ed.id, "new-hash").await.unwrap());
    assert!(h.store.find_session("s-ed-1").await.unwrap().is_none());
    assert!(h.store.find_session("s-ed-2").await.unwrap().is_none());
    assert!(h.store.find_session("s-owner").await.unwrap().is_some());
    let ed_now = h.store.get_user(&ed.id).await.unwrap().unwrap();
    assert_eq!(ed_now.password_hash, "new-hash");
    assert!(!h.store.set_user_password("nobody", "x").await.unwrap());

    h.store
        .create_session(new_session("s-ed-3", &ed.id))
        .await
        .unwrap();
    assert!(h.store.remove_user(&ed.id).await.unwrap());
    assert!(h.store.find_session("s-ed-3").await.unwrap().is_none());

    let r = h.store.create_session(new_session("s-x", "nobody")).await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
}

async fn sessions_expire_when_idle_and_absolutely(h: Harness) {
    let u = user(&h, "u@example.com", TokenRole::Viewer).await;
    let s = h
        .store
        .create_session(new_session("s1", &u.id))
        .await
        .unwrap();
    assert_eq!(s.user, u);
    assert_eq!(s.csrf_token, "csrf-s1");
    assert_eq!(s.created_at, T0);
    assert_eq!(s.last_seen_at, T0);
    assert_eq!(s.idle_expires_at, T0 + IDLE);
    assert_eq!(s.absolute_expires_at, T0 + ABSOLUTE);
    assert_eq!(h.store.find_session("s1").await.unwrap(), Some(s.clone()));
    assert!(h.store.find_session("missing").await.unwrap().is_none());

    // Idle: alive just before, gone at last_seen + idle.
    h.advance(IDLE - Duration::from_secs(1));
    assert!(h.store.find_session("s1").await.unwrap().is_some());
    h.advance(Duration::from_secs(1));
    assert!(h.store.find_session("s1").await.unwrap().is_none());
    // Touching an expired session does not revive it.
    h.store.touch_session("s1").await.unwrap();
    assert!(h.store.find_session("s1").await.unwrap().is_none());

    // Touch extends the idle expiry, never past the absolute one.
    let s2 = h
        .store
        .create_session(new_session("s2", &u.id))
        .await
        .unwrap();
    let absolute = s2.absolute_expires_at;
    loop {
        h.advance(IDLE - Duration::from_secs(60));
        h.store.touch_session("s2").await.unwrap();
        let Some(found) = h.store.find_session("s2").await.unwrap() else {
            break;
        };
        assert_eq!(found.last_seen_at, h.now());
        assert_eq!(found.idle_expires_at, (h.now() + IDLE).min(absolute));
        assert!(h.now() < absolute);
    }
    assert!(h.now() >= absolute, "only the absolute expiry ended it");

    // Delete, and purge of what expired.
    let s3 = h
        .store
        .create_session(new_session("s3", &u.id))
        .await
        .unwrap();
    assert!(h.store.delete_session(&s3.token_hash).await.unwrap());
    assert!(!h.store.delete_session(&s3.token_hash).await.unwrap());
    assert!(h.store.find_session("s3").await.unwrap().is_none());
    h.store
        .create_session(new_session("s4", &u.id))
        .await
        .unwrap();
    assert_eq!(
        h.store.purge_expired_sessions().await.unwrap(),
        2,
        "s1 and s2"
    );
    assert!(h.store.find_session("s4").await.unwrap().is_some());
    assert_eq!(h.store.purge_expired_sessions().await.unwrap(), 0);
}

async fn sign_in_failures_count_within_a_window(h: Harness) {
    assert_eq!(
        h.store.sign_in_failures("x@example.com").await.unwrap(),
        (0, None)
    );
    assert_eq!(
        h.store
            .record_sign_in_failure("X@Example.com")
            .await
            .unwrap(),
        1
    );
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.store
            .record_sign_in_failure("x@example.com ")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        h.store.sign_in_failures("x@EXAMPLE.com").await.unwrap(),
        (2, Some(h.now()))
    );
    // Other emails count apart.
    assert_eq!(
        h.store
            .record_sign_in_failure("y@example.com")
            .await
            .unwrap(),
        1
    );

    // Within the window of the previous failure: counts on.
    h.advance(SIGN_IN_FAILURE_WINDOW);
    assert_eq!(
        h.store.sign_in_failures("x@example.com").await.unwrap(),
        (2, Some(h.now() - SIGN_IN_FAILURE_WINDOW))
    );
    assert_eq!(
        h.store
            .record_sign_in_failure("x@example.com")
            .await
            .unwrap(),
        3
    );
    // More than the window after the previous one: a new window.
    h.advance(SIGN_IN_FAILURE_WINDOW + Duration::from_secs(1));
    assert_eq!(
        h.store.sign_in_failures("x@example.com").await.unwrap(),
        (0, None)
    );
    assert_eq!(
        h.store
            .record_sign_in_failure("x@example.com")
            .await
            .unwrap(),
        1
    );

    h.store
        .clear_sign_in_failures("X@example.com")
        .await
        .unwrap();
    assert_eq!(
        h.store.sign_in_failures("x@example.com").await.unwrap(),
        (0, None)
    );
}

async fn oauth_states_are_single_use(h: Harness) {
    let state = |hash: &str, expires_in: Duration| OAuthState {
        state_hash: hash.to_string(),
        started_by: "token:ci".to_string(),
        integration: "salesforce".to_string(),
        client_id: "client-1".to_string(),
        login_url: "https://test.salesforce.com".to_string(),
        sandbox: true,
        code_verifier_enc: "dmVyaWZpZXI=".to_string(),
        client_secret_enc: None,
        expires_at: h.now() + expires_in,
    };
    let s1 = state("st-1", Duration::from_secs(600));
    h.store.create_oauth_state(s1.clone()).await.unwrap();
    h.store
        .create_oauth_state(state("st-old", Duration::from_secs(60)))
        .await
        .unwrap();
    h.store
        .create_oauth_state(state("st-2", Duration::from_secs(600)))
        .await
        .unwrap();

    assert_eq!(h.store.take_oauth_state("st-1").await.unwrap(), Some(s1));
    assert!(h.store.take_oauth_state("st-1").await.unwrap().is_none());
    assert!(h.store.take_oauth_state("unknown").await.unwrap().is_none());

    // An expired state is still handed over once (the caller judges it); other expired
    // ones are cleared on the way.
    h.advance(Duration::from_secs(601));
    let expired = h.store.take_oauth_state("st-2").await.unwrap().unwrap();
    assert!(expired.expires_at < h.now());
    assert!(h.store.take_oauth_state("st-old").await.unwrap().is_none());
}

async fn connections_are_replaced_and_disconnected_without_secrets(h: Harness) {
    assert!(
        h.store
            .get_connection("salesforce")
            .await
            .unwrap()
            .is_none()
    );
    assert!(!h.store.connections_changed_since(T0).await.unwrap());

    h.advance(Duration::from_secs(1));
    let stored = h
        .store
        .upsert_connection(connection("salesforce", "cmVmcmVzaC0x"))
        .await
        .unwrap();
    assert_eq!(stored.updated_at, h.now());
    assert_eq!(stored.connected_at, Some(T0));
    assert_eq!(
        h.store.get_connection("salesforce").await.unwrap(),
        Some(stored.clone())
    );
    assert!(h.store.connections_changed_since(T0).await.unwrap());
    assert!(!h.store.connections_changed_since(h.now()).await.unwrap());

    // Reconnecting replaces the tokens.
    h.advance(Duration::from_secs(1));
    let mut again = connection("salesforce", "cmVmcmVzaC0y");
    again.username = Some("other@acme.com".to_string());
    let replaced = h.store.upsert_connection(again).await.unwrap();
    assert_eq!(replaced.refresh_token_enc.as_deref(), Some("cmVmcmVzaC0y"));
    assert_eq!(replaced.username.as_deref(), Some("other@acme.com"));
    h.store
        .upsert_connection(connection("another", "cmVmcmVzaC0z"))
        .await
        .unwrap();
    let names: Vec<String> = h
        .store
        .list_connections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["another", "salesforce"]);

    // A rotated token.
    h.advance(Duration::from_secs(1));
    assert!(
        h.store
            .set_connection_refresh_token("salesforce", "cm90YXRlZA==")
            .await
            .unwrap()
    );
    let rotated = h.store.get_connection("salesforce").await.unwrap().unwrap();
    assert_eq!(rotated.refresh_token_enc.as_deref(), Some("cm90YXRlZA=="));
    assert_eq!(rotated.updated_at, h.now());
    assert!(
        !h.store
            .set_connection_refresh_token("nothing", "x")
            .await
            .unwrap()
    );

    // Disconnecting keeps the row, without secrets.
    h.advance(Duration::from_secs(1));
    let before = h.now() - Duration::from_secs(1);
    assert!(h.store.disconnect_connection("salesforce").await.unwrap());
    assert!(!h.store.disconnect_connection("nothing").await.unwrap());
    let gone = h.store.get_connection("salesforce").await.unwrap().unwrap();
    assert!(gone.refresh_token_enc.is_none());
    assert!(gone.client_secret_enc.is_none());
    assert_eq!(gone.disconnected_at, Some(h.now()));
    assert_eq!(gone.updated_at, h.now());
    assert_eq!(gone.instance_url, rotated.instance_url);
    assert!(h.store.connections_changed_since(before).await.unwrap());
    // A refresh racing the disconnect does not reconnect it.
    assert!(
        !h.store
            .set_connection_refresh_token("salesforce", "bGF0ZQ==")
            .await
            .unwrap()
    );
    assert!(
        h.store
            .get_connection("salesforce")
            .await
            .unwrap()
            .unwrap()
            .refresh_token_enc
            .is_none()
    );

    // Connecting again clears the disconnection.
    h.advance(Duration::from_secs(1));
    let back = h
        .store
        .upsert_connection(connection("salesforce", "bmV3"))
        .await
        .unwrap();
    assert!(back.disconnected_at.is_none());
    assert_eq!(back.refresh_token_enc.as_deref(), Some("bmV3"));
}

async fn settings_versions_increment_and_list_newest_first(h: Harness) {
    assert!(
        h.store
            .current_destination_settings("salesforce")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.store
            .destination_settings_history("salesforce")
            .await
            .unwrap()
            .is_empty()
    );
    let v1 = h
        .store
        .save_destination_settings("salesforce", &json!({"enabled": true}), Some("a@x.com"))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.saved_at, h.now());
    assert_eq!(v1.saved_by.as_deref(), Some("a@x.com"));
    h.advance(Duration::from_secs(1));
    let v2 = h
        .store
        .save_destination_settings("salesforce", &json!({"enabled": false}), None)
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert!(v2.saved_by.is_none());
    // Versions count per destination.
    let other = h
        .store
        .save_destination_settings("webhook", &json!({"url": "https://x"}), None)
        .await
        .unwrap();
    assert_eq!(other.version, 1);

    assert_eq!(
        h.store
            .current_destination_settings("salesforce")
            .await
            .unwrap(),
        Some(v2.clone())
    );
    assert_eq!(
        h.store
            .destination_settings_history("salesforce")
            .await
            .unwrap(),
        vec![v2, v1]
    );

    // Concurrent saves each get their own version.
    let saves = (0..6).map(|n| {
        let store = h.store.clone();
        tokio::spawn(async move {
            store
                .save_destination_settings("salesforce", &json!({"n": n}), None)
                .await
                .unwrap()
                .version
        })
    });
    let mut versions = Vec::new();
    for s in saves {
        versions.push(s.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, [3, 4, 5, 6, 7, 8]);
}

async fn audit_pages_newest_first_by_id(h: Harness) {
    assert!(h.store.list_audit(10, None).await.unwrap().is_empty());
    let mut appended = Vec::new();
    for n in 0..7 {
        h.advance(Duration::from_secs(1));
        let e = h
            .store
            .append_audit(NewAudit {
                actor: "owner@example.com".to_string(),
                action: "settings.save".to_string(),
                target: (n % 2 == 0).then(|| format!("destination:{n}")),
                details: json!({"n": n}),
            })
            .await
            .unwrap();
        assert_eq!(e.at, h.now());
        assert_eq!(e.details, json!({"n": n}));
        appended.push(e);
    }
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = h.store.list_audit(3, before).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|e| e.id);
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    let all: Vec<_> = pages.into_iter().flatten().collect();
    appended.reverse();
    assert_eq!(all, appended);
    assert!(h.store.list_audit(0, None).await.unwrap().is_empty());
}

#[test]
fn debug_output_shows_no_secret() {
    let user = User {
        id: "u1".to_string(),
        email: "a@example.com".to_string(),
        role: TokenRole::Owner,
        password_hash: "$argon2id$v=19$SECRET-HASH".to_string(),
        created_at: T0,
        last_sign_in_at: None,
    };
    let text = format!("{user:?}");
    assert!(!text.contains("SECRET-HASH"), "{text}");
    assert!(text.contains("a@example.com"));
    let json = serde_json::to_value(&user).unwrap();
    assert!(json.get("password_hash").is_none(), "{json}");
    assert_eq!(json["created_at"], "2026-11-28T10:00:00Z");

    let mut c = connection("salesforce", "REFRESH-SECRET");
    c.client_secret_enc = Some("CLIENT-SECRET".to_string());
    let text = format!("{c:?}");
    assert!(!text.contains("REFRESH-SECRET"), "{text}");
    assert!(!text.contains("CLIENT-SECRET"), "{text}");
    assert!(text.contains("acme.my.salesforce.com"));

    let s = new_session("hash", "u1");
    assert!(!format!("{s:?}").contains("csrf-hash"));
}
