//! API tokens, settings documents, readiness.

use std::time::Duration;

use serde_json::json;
use store::{StoreError, TokenRole, hash_token};

use crate::support::{Harness, both_backends};

both_backends!(
    tokens_are_found_by_hash_until_revoked,
    settings_are_saved_and_replaced,
    ready_after_migrations_and_migrate_is_idempotent,
);

async fn tokens_are_found_by_hash_until_revoked(h: Harness) {
    let created = h.store.create_token("ci", TokenRole::Ingest).await.unwrap();
    assert!(created.secret.starts_with(store::TOKEN_PREFIX));
    assert!(
        !format!("{created:?}").contains(&created.secret),
        "Debug hides the secret"
    );
    let other = h
        .store
        .create_token("alice", TokenRole::Admin)
        .await
        .unwrap();

    let found = h
        .store
        .find_token_by_hash(&hash_token(&created.secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, created.token.id);
    assert_eq!(found.role, TokenRole::Ingest);
    assert_eq!(found.name, "ci");
    assert_eq!(found.last_used_at, Some(h.now()));
    assert!(
        h.store
            .find_token_by_hash(&created.secret)
            .await
            .unwrap()
            .is_none(),
        "plaintext is not stored"
    );
    assert!(
        h.store
            .find_token_by_hash(&hash_token("ts_wrong"))
            .await
            .unwrap()
            .is_none()
    );

    // Use is noted at most once a minute.
    h.advance(Duration::from_secs(30));
    let t = h
        .store
        .find_token_by_hash(&hash_token(&created.secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.last_used_at, found.last_used_at);
    h.advance(Duration::from_secs(31));
    let t = h
        .store
        .find_token_by_hash(&hash_token(&created.secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.last_used_at, Some(h.now()));

    assert!(h.store.revoke_token(&created.token.id).await.unwrap());
    assert!(!h.store.revoke_token(&created.token.id).await.unwrap());
    assert!(!h.store.revoke_token("no-such-token").await.unwrap());
    assert!(
        h.store
            .find_token_by_hash(&hash_token(&created.secret))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.store
            .find_token_by_hash(&hash_token(&other.secret))
            .await
            .unwrap()
            .is_some()
    );

    let list = h.store.list_tokens().await.unwrap();
    assert_eq!(list.len(), 2);
    let ci = list.iter().find(|t| t.id == created.token.id).unwrap();
    assert_eq!(ci.revoked_at, Some(h.now()));
    let alice = list.iter().find(|t| t.id == other.token.id).unwrap();
    assert!(alice.revoked_at.is_none());
}

async fn settings_are_saved_and_replaced(h: Harness) {
    assert!(
        h.store
            .get_setting("destination.salesforce")
            .await
            .unwrap()
            .is_none()
    );
    h.store
        .put_setting("destination.salesforce", &json!({"enabled": true}))
        .await
        .unwrap();
    h.store
        .put_setting("destination.salesforce", &json!({"enabled": false, "n": 2}))
        .await
        .unwrap();
    assert_eq!(
        h.store.get_setting("destination.salesforce").await.unwrap(),
        Some(json!({"enabled": false, "n": 2}))
    );
}

async fn ready_after_migrations_and_migrate_is_idempotent(h: Harness) {
    h.store.ready().await.unwrap();
    h.store.migrate().await.unwrap();
    h.store.ready().await.unwrap();
}

#[tokio::test]
async fn unknown_database_scheme_is_refused_without_echoing_the_url() {
    let err = match store::open("mysql://user:secret@host/db").await {
        Err(e) => e,
        Ok(_) => panic!("mysql is not supported"),
    };
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }));
    assert!(!err.to_string().contains("secret"));
}

#[tokio::test]
async fn in_memory_sqlite_works_for_quick_runs() {
    let s = store::open("sqlite::memory:").await.unwrap();
    s.ingest(vec![crate::support::eval("ev-1", 1)])
        .await
        .unwrap();
    assert!(s.get_evaluation("ev-1").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_file_and_its_folder_are_created_on_first_start() {
    let dir = crate::support::TempDir::new();
    let path = dir.0.join("nested/deeper/trailspark.db");
    let url = format!("sqlite://{}", path.display());
    let s = store::open(&url).await.unwrap();
    s.ready().await.unwrap();
    assert!(path.exists());
}
