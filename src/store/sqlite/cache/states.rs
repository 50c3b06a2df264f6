//! Delta state per sync scope.

use super::*;

impl SyncStateStore for SqliteStore {
    fn sync_state(&self, mailbox_id: &str, scope: &str) -> Result<Option<SyncState>> {
        self.read(|c| read_state(c, mailbox_id, scope))
    }

    fn sync_states(&self, mailbox_id: &str) -> Result<Vec<SyncState>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {STATE_COLS} FROM sync_state WHERE mailbox_id = ?1 ORDER BY scope"
            ))?;
            let rows = st.query_map([mailbox_id], state_from)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn begin_full_round(&self, mailbox_id: &str, scope: &str) -> Result<SyncState> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            ensure_state(tx, mailbox_id, scope)?;
            // Generations grow across the whole mailbox, so every row written before this
            // round (whichever folder it came from) is older than the round. The change
            // counter, just bumped, is above every generation handed out so far (migration 8).
            let next: i64 = tx
                .prepare_cached(
                    "SELECT MAX((SELECT version FROM cache_versions WHERE mailbox_id = ?1), \
                     (SELECT COALESCE(MAX(round_gen), 0) + 1 FROM sync_state \
                      WHERE mailbox_id = ?1))",
                )?
                .query_row([mailbox_id], |r| r.get(0))?;
            tx.prepare_cached(
                "UPDATE sync_state SET delta_link = NULL, next_link = NULL, round_gen = ?3, \
                 round_full = 1, round_items = 0 WHERE mailbox_id = ?1 AND scope = ?2",
            )?
            .execute(params![mailbox_id, scope, next])?;
            Ok(read_state(tx, mailbox_id, scope)?.unwrap_or_default())
        })
    }

    fn record_sync_success(&self, mailbox_id: &str, scope: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            ensure_state(tx, mailbox_id, scope)?;
            tx.prepare_cached(
                "UPDATE sync_state SET last_success_at = ?3, last_error = NULL, \
                 last_error_kind = NULL, last_error_at = NULL WHERE mailbox_id = ?1 AND scope = ?2",
            )?
            .execute(params![mailbox_id, scope, now])?;
            Ok(())
        })
    }

    fn record_sync_error(
        &self,
        mailbox_id: &str,
        scope: &str,
        kind: &str,
        message: &str,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            ensure_state(tx, mailbox_id, scope)?;
            tx.prepare_cached(
                "UPDATE sync_state SET last_error = ?3, last_error_kind = ?4, last_error_at = ?5 \
                 WHERE mailbox_id = ?1 AND scope = ?2",
            )?
            .execute(params![mailbox_id, scope, message, kind, now])?;
            Ok(())
        })
    }

    fn record_idle_rounds(
        &self,
        mailbox_id: &str,
        rounds: &[IdleRound],
        now: i64,
    ) -> Result<usize> {
        self.write(|tx| {
            let mut n = 0;
            for r in rounds {
                n += tx
                    .prepare_cached(
                        "UPDATE sync_state SET delta_link = ?4, last_success_at = ?5, \
                         last_error = NULL, last_error_kind = NULL, last_error_at = NULL \
                         WHERE mailbox_id = ?1 AND scope = ?2 AND delta_link = ?3 \
                         AND next_link IS NULL",
                    )?
                    .execute(params![
                        mailbox_id,
                        r.folder_id,
                        r.probed,
                        r.delta_link,
                        now
                    ])?;
            }
            if n > 0 {
                bump_version(tx, mailbox_id)?;
            }
            Ok(n)
        })
    }
}
