//! Leases and the audit log.

use super::SqliteStore;
use crate::error::Result;
use crate::store::{AuditEntry, AuditStore, LeaseStore};
use rusqlite::params;
use rusqlite::OptionalExtension;

impl LeaseStore for SqliteStore {
    fn try_lease(&self, name: &str, owner: &str, now: i64, ttl_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx.prepare_cached("INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE leases.owner = excluded.owner OR leases.expires_at <= ?4")?.execute(params![name, owner, now + ttl_ms, now],
            )?;
            Ok(n == 1)
        })
    }

    fn schema_version(&self) -> Result<(i64, i64)> {
        let have = self.read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))?;
        let want = super::migrations::MIGRATIONS
            .last()
            .map(|m| m.0)
            .unwrap_or(0);
        Ok((have, want))
    }

    fn release_lease(&self, name: &str, owner: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM leases WHERE name = ?1 AND owner = ?2")?
                .execute(params![name, owner])?;
            Ok(())
        })
    }

    fn lease_holder(&self, name: &str) -> Result<Option<(String, i64)>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT owner, expires_at FROM leases WHERE name = ?1")?
                    .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?,
            )
        })
    }

    fn take_over_lease(
        &self,
        name: &str,
        from: &str,
        to: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE leases SET owner = ?3, expires_at = ?4 WHERE name = ?1 AND owner = ?2",
                )?
                .execute(params![name, from, to, now + ttl_ms])?;
            Ok(n == 1)
        })
    }
}

impl AuditStore for SqliteStore {
    fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO audit (at, mailbox_id, user_id, action, outcome, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                e.at,
                e.mailbox_id,
                e.user,
                e.action,
                e.outcome,
                e.detail
            ])?;
            Ok(())
        })
    }

    fn list_audit(&self, mailbox_id: &str, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT at, mailbox_id, user_id, action, outcome, detail FROM audit \
                 WHERE mailbox_id = ?1 ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![mailbox_id, limit as i64], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    mailbox_id: r.get(1)?,
                    user: r.get(2)?,
                    action: r.get(3)?,
                    outcome: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_is_exclusive_until_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        assert!(s.try_lease("refresh:m1", "a", 1000, 100).unwrap());
        assert!(!s.try_lease("refresh:m1", "b", 1050, 100).unwrap());
        assert!(
            s.try_lease("refresh:m1", "a", 1050, 100).unwrap(),
            "holder renews"
        );
        assert!(
            s.try_lease("refresh:m1", "b", 1200, 100).unwrap(),
            "expired lease is taken"
        );
        s.release_lease("refresh:m1", "a").unwrap();
        assert!(
            !s.try_lease("refresh:m1", "a", 1210, 100).unwrap(),
            "only holder releases"
        );
        s.release_lease("refresh:m1", "b").unwrap();
        assert!(s.try_lease("refresh:m1", "a", 1210, 100).unwrap());
    }
}
