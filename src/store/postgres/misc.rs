//! Leases and the audit log.

use super::text::{enc, enc_opt, opt_text, text};
use super::PgStore;
use crate::error::Result;
use crate::store::{AuditEntry, AuditStore, LeaseStore};

impl LeaseStore for PgStore {
    fn try_lease(&self, name: &str, owner: &str, now: i64, ttl_ms: i64) -> Result<bool> {
        // Expiry is judged by the `now` the caller passes (the host's clock), as with SQLite;
        // judging it by the database's clock is the next step for several hosts.
        self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE leases.owner = excluded.owner OR leases.expires_at <= $4",
                &[&name, &owner, &(now + ttl_ms), &now],
            )?;
            Ok(n == 1)
        })
    }

    fn schema_version(&self) -> Result<(i64, i64)> {
        let have = self.read(super::schema_version)?;
        Ok((have, super::migrations::newest()))
    }

    fn release_lease(&self, name: &str, owner: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM leases WHERE name = $1 AND owner = $2",
                &[&name, &owner],
            )?;
            Ok(())
        })
    }

    fn lease_holder(&self, name: &str) -> Result<Option<(String, i64)>> {
        self.read(|c| {
            Ok(c.query_opt(
                "SELECT owner, expires_at FROM leases WHERE name = $1",
                &[&name],
            )?
            .map(|r| (r.get(0), r.get(1))))
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
            let n = tx.execute(
                "UPDATE leases SET owner = $3, expires_at = $4 WHERE name = $1 AND owner = $2",
                &[&name, &from, &to, &(now + ttl_ms)],
            )?;
            Ok(n == 1)
        })
    }
}

impl AuditStore for PgStore {
    fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO audit (at, mailbox_id, user_id, action, outcome, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &e.at,
                    &e.mailbox_id,
                    &enc_opt(&e.user),
                    &enc(&e.action),
                    &enc(&e.outcome),
                    &enc_opt(&e.detail),
                ],
            )?;
            Ok(())
        })
    }

    fn list_audit(&self, mailbox_id: &str, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT at, mailbox_id, user_id, action, outcome, detail FROM audit \
                 WHERE mailbox_id = $1 ORDER BY seq DESC LIMIT $2",
                &[&mailbox_id, &(limit as i64)],
            )?
            .iter()
            .map(|r| AuditEntry {
                at: r.get(0),
                mailbox_id: r.get(1),
                user: opt_text(r, 2),
                action: text(r, 3),
                outcome: text(r, 4),
                detail: opt_text(r, 5),
            })
            .collect())
        })
    }
}
