//! Write health: whether the database is taking writes. A write that fails because the
//! storage itself fails (disk full, I/O error, the database unreachable) marks the store
//! unhealthy; the next write that succeeds marks it healthy again. `ready` reports it, so a
//! store that cannot write says so instead of answering ready while every write fails.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::StoreError;

/// Primary SQLite result codes that mean the storage is failing, not the request:
/// SQLITE_BUSY (5: another process held the lock past the timeout), SQLITE_READONLY (8),
/// SQLITE_IOERR (10), SQLITE_FULL (13), SQLITE_CANTOPEN (14), SQLITE_PROTOCOL (15).
const SQLITE_UNAVAILABLE: [i64; 6] = [5, 8, 10, 13, 14, 15];

/// PostgreSQL SQLSTATE classes that mean the server is failing: 08 (connection), 53
/// (insufficient resources: disk full, out of memory, too many connections), 57 (operator
/// intervention: shutting down), 58 (system error: I/O).
const POSTGRES_UNAVAILABLE: [&str; 4] = ["08", "53", "57", "58"];

impl StoreError {
    /// The storage is failing (disk full, I/O, unreachable, out of connections) rather than
    /// the request being wrong: the caller should answer 503 and try again later.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::InvalidSavePointStatement
            | sqlx::Error::BeginFailed => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                match code.parse::<i64>() {
                    Ok(n) => SQLITE_UNAVAILABLE.contains(&(n & 0xff)),
                    Err(_) => POSTGRES_UNAVAILABLE.iter().any(|c| code.starts_with(c)),
                }
            }
            _ => false,
        }
    }
}

/// Whether the last write succeeded.
#[derive(Debug, Default)]
pub(crate) struct WriteHealth {
    failing: AtomicBool,
}

impl WriteHealth {
    /// Notes a write's result (only storage failures count against it) and passes it on.
    pub(crate) fn track<T>(&self, r: crate::Result<T>) -> crate::Result<T> {
        match &r {
            Ok(_) => self.failing.store(false, Ordering::Relaxed),
            Err(e) if e.is_unavailable() => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, "database writes are failing; not ready until one succeeds");
                }
            }
            Err(_) => {}
        }
        r
    }

    pub(crate) fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_failures_mark_the_store_failing_until_a_write_succeeds() {
        let h = WriteHealth::default();
        let io = || -> crate::Result<()> {
            Err(StoreError::Database(sqlx::Error::Io(
                std::io::Error::other("disk full"),
            )))
        };
        assert!(!h.failing());
        assert!(h.track(io()).is_err());
        assert!(h.failing());
        // A request's own error says nothing about the storage.
        let _ = h.track::<()>(Err(StoreError::InvalidCursor));
        assert!(h.failing());
        h.track(Ok(())).unwrap();
        assert!(!h.failing());
    }

    #[test]
    fn only_storage_failures_are_unavailable() {
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StoreError::InvalidCursor.is_unavailable());
        assert!(!StoreError::Conflict("x".into()).is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
    }
}
