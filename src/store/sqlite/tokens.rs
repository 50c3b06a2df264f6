use super::SqliteStore;
use crate::error::Result;
use crate::store::tokens::{AuthStateRow, TakeState, TokenRow, TokenStore};
use rusqlite::{params, OptionalExtension, Row};

const STATE_COLS: &str =
    "state_hash, mailbox_id, user_id, flow, sealed, created_at, expires_at, used_at";

fn state_row(r: &Row<'_>) -> rusqlite::Result<AuthStateRow> {
    Ok(AuthStateRow {
        state_hash: r.get(0)?,
        mailbox_id: r.get(1)?,
        user: r.get(2)?,
        flow: r.get(3)?,
        sealed: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        used_at: r.get(7)?,
    })
}

impl TokenStore for SqliteStore {
    fn get_token(&self, mailbox_id: &str) -> Result<Option<TokenRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT sealed, access_expires_at, refreshed_at, generation FROM tokens WHERE mailbox_id = ?1",
            )?;
            Ok(st
                .query_row([mailbox_id], |r| {
                    Ok(TokenRow {
                        sealed: r.get(0)?,
                        access_expires_at: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                        refreshed_at: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                        generation: r.get(3)?,
                    })
                })
                .optional()?)
        })
    }

    fn put_token(
        &self,
        mailbox_id: &str,
        sealed: &[u8],
        access_expires_at: i64,
        now: i64,
        expected: Option<i64>,
        force: bool,
    ) -> Result<Option<i64>> {
        self.write(|tx| {
            let current: Option<i64> = tx
                .prepare_cached("SELECT generation FROM tokens WHERE mailbox_id = ?1")?.query_row([mailbox_id],
                    |r| r.get(0),
                )
                .optional()?;
            if !force && current != expected {
                return Ok(None);
            }
            let next = current.unwrap_or(0) + 1;
            tx.prepare_cached("INSERT INTO tokens (mailbox_id, sealed, access_expires_at, refreshed_at, generation) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(mailbox_id) DO UPDATE SET \
                 sealed = excluded.sealed, access_expires_at = excluded.access_expires_at, \
                 refreshed_at = excluded.refreshed_at, generation = excluded.generation")?.execute(params![mailbox_id, sealed, access_expires_at, now, next],
            )?;
            Ok(Some(next))
        })
    }

    fn delete_token(&self, mailbox_id: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached("DELETE FROM tokens WHERE mailbox_id = ?1")?
                .execute([mailbox_id])?
                > 0)
        })
    }

    fn idle_tokens(&self, before: i64) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT mailbox_id FROM tokens WHERE refreshed_at < ?1 ORDER BY refreshed_at",
            )?;
            let rows = st.query_map([before], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn insert_auth_state(&self, row: &AuthStateRow) -> Result<()> {
        self.write(|tx| {
            // Old, finished or expired sign-ins are of no use any more.
            tx.prepare_cached("DELETE FROM oauth_states WHERE expires_at < ?1 - 86400000")?.execute([row.created_at],
            )?;
            tx.execute(
                &format!("INSERT INTO oauth_states ({STATE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    row.state_hash,
                    row.mailbox_id,
                    row.user,
                    row.flow,
                    row.sealed,
                    row.created_at,
                    row.expires_at,
                    row.used_at
                ],
            )?;
            Ok(())
        })
    }

    fn take_auth_state(&self, state_hash: &str, now: i64) -> Result<TakeState> {
        self.write(|tx| {
            let row = tx
                .query_row(
                    &format!("SELECT {STATE_COLS} FROM oauth_states WHERE state_hash = ?1"),
                    [state_hash],
                    state_row,
                )
                .optional()?;
            let Some(row) = row else {
                return Ok(TakeState::Unknown);
            };
            if row.used_at.is_some() {
                return Ok(TakeState::AlreadyUsed(row));
            }
            // Single use even when the state has expired: a late second try is refused too.
            tx.prepare_cached("UPDATE oauth_states SET used_at = ?2 WHERE state_hash = ?1")?
                .execute(params![state_hash, now])?;
            if row.expires_at <= now {
                return Ok(TakeState::Expired(row));
            }
            Ok(TakeState::Taken(row))
        })
    }

    fn pending_device_flow(&self, mailbox_id: &str, now: i64) -> Result<Option<AuthStateRow>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {STATE_COLS} FROM oauth_states WHERE mailbox_id = ?1 AND flow = 'device' \
                     AND used_at IS NULL AND expires_at > ?2 ORDER BY created_at DESC LIMIT 1"
                ),
                params![mailbox_id, now],
                state_row,
            )
            .optional()?)
        })
    }

    fn close_auth_states(&self, mailbox_id: &str, flow: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE oauth_states SET used_at = ?3 WHERE mailbox_id = ?1 AND flow = ?2 AND used_at IS NULL")?.execute(params![mailbox_id, flow, now],
            )?;
            Ok(())
        })
    }

    fn token_expiry(&self, mailbox_id: &str) -> Result<Option<i64>> {
        self.read(|c| {
            // The tokens table belongs to the vault; read only its public expiry column.
            let r = c
                .prepare_cached("SELECT access_expires_at FROM tokens WHERE mailbox_id = ?1")
                .and_then(|mut st| {
                    st.query_row([mailbox_id], |r| r.get::<_, Option<i64>>(0))
                        .optional()
                });
            Ok(r.ok().flatten().flatten())
        })
    }
}
