//! Leases and the audit log.

//!
//! Lease expiry is judged by the database's clock, so hosts whose clocks disagree agree on
//! who holds a lease. The `now` a caller passes is the host's clock (plus the library's
//! debug offset, `debug.clock_offset_ms`, in tests that move time); the store turns it into
//! the database's time by adding the database clock's lead over this host's wall clock,
//! measured with `clock_timestamp()` (see [`PgStore::db_lead`]). A host whose clock is
//! minutes off thus neither steals a live lease nor waits minutes for an expired one.
//! Expiries in the table are database time; [`LeaseStore::lease_holder`] gives them back on
//! the caller's clock.
//!
//! The lead is measured once and then every [`LEAD_CHECK`]; it is only replaced when it
//! moved by more than [`LEAD_STEP_MS`] (a host clock stepped by NTP, or a skew test), so
//! the round trip's jitter never moves a lease by a few milliseconds.

use super::presence::Presence;
use super::text::{enc, enc_opt, opt_text, text};
use super::PgStore;
use crate::error::Result;
use crate::store::leases::process_key;
use crate::store::{AuditEntry, AuditStore, LeaseStore};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the database clock's lead over the host's is measured again.
const LEAD_CHECK: Duration = Duration::from_secs(10);
/// How far a new measurement must be off to replace the lead.
const LEAD_STEP_MS: i64 = 500;

impl PgStore {
    /// How far the database's clock is ahead of this host's wall clock, in milliseconds.
    pub(super) fn db_lead(&self) -> Result<i64> {
        let due = {
            let checked = self.lead_checked.lock().unwrap_or_else(|p| p.into_inner());
            checked.map_or(true, |t| t.elapsed() >= LEAD_CHECK)
        };
        if due {
            let (before, db, after) = self.read(|c| {
                let before = self.wall_ms();
                let db: i64 = c
                    .query_one(
                        "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8",
                        &[],
                    )?
                    .get(0);
                Ok((before, db, self.wall_ms()))
            })?;
            let measured = db - (before + after) / 2;
            let old = self.lead_ms.load(Ordering::SeqCst);
            let mut checked = self.lead_checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.is_none() || (measured - old).abs() > LEAD_STEP_MS {
                self.lead_ms.store(measured, Ordering::SeqCst);
            }
            *checked = Some(Instant::now());
        }
        Ok(self.lead_ms.load(Ordering::SeqCst))
    }
}

impl LeaseStore for PgStore {
    fn try_lease(&self, name: &str, owner: &str, now: i64, ttl_ms: i64) -> Result<bool> {
        let now = now + self.db_lead()?;
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
        let lead = self.db_lead()?;
        self.read(|c| {
            Ok(c.query_opt(
                "SELECT owner, expires_at FROM leases WHERE name = $1",
                &[&name],
            )?
            .map(|r| (r.get(0), r.get::<_, i64>(1) - lead)))
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
        let now = now + self.db_lead()?;
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE leases SET owner = $3, expires_at = $4 WHERE name = $1 AND owner = $2",
                &[&name, &from, &to, &(now + ttl_ms)],
            )?;
            Ok(n == 1)
        })
    }

    fn holder_alive(&self, owner: &str) -> Result<Option<bool>> {
        let Some(key) = process_key(owner) else {
            return Ok(None);
        };
        self.read(|c| Presence::alive(c, &self.schema, key).map(Some))
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
