//! Storage trouble on SQLite: the database file is private to its owner, and after write
//! errors (a full disk) the store recovers by itself once writes succeed again, losing
//! nothing it had accepted.
//!
//! A full disk is simulated faithfully for the store: `RLIMIT_FSIZE` at 0 makes every
//! write(2) to a regular file fail (EFBIG, with SIGXFSZ ignored), exactly where a full disk
//! fails it (ENOSPC); SQLite then reports an I/O error as it would for the full disk. Each
//! test runs in its own process (nextest), so the limit touches no other test.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Harness, TempDir, eval};

#[tokio::test]
async fn the_sqlite_file_and_its_wal_and_shm_are_private() {
    let dir = TempDir::new();
    let db = dir.0.join("data").join("trailspark.db");
    let store = store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store.ingest(vec![eval("ev-1", 1)]).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db.display());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{p}: {mode:o}");
    }
}

/// Sets the soft file-size limit (bytes; `None`: unlimited).
fn file_size_limit(bytes: Option<u64>) {
    // SAFETY: plain libc calls on this process's own signal disposition and limits.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes.unwrap_or(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_full_disk_writes_recover_by_themselves() {
    let h = Harness::sqlite().await;
    h.store.ingest(vec![eval("ev-1", 1)]).await.unwrap();
    h.store.ready().await.unwrap();

    file_size_limit(Some(0));
    for i in 2..5 {
        let err = h.store.ingest(vec![eval(&format!("ev-{i}"), i)]).await;
        assert!(err.is_err(), "a write on a full disk fails");
    }
    assert!(
        h.store.ready().await.is_err(),
        "not ready while writes fail"
    );
    assert!(h.lease_err().await, "leasing is a write too");

    file_size_limit(None);
    // Space is back: the next write goes through, without reopening the store.
    h.store
        .ready()
        .await
        .expect("ready again once writes succeed");
    h.store.ingest(vec![eval("ev-5", 5)]).await.unwrap();
    for id in ["ev-1", "ev-5"] {
        assert!(h.store.get_evaluation(id).await.unwrap().is_some(), "{id}");
    }
    assert_eq!(h.lease(10, "w").await.len(), 2, "nothing accepted was lost");
}
