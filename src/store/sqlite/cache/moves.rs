//! Folder-contents move jobs.

use super::*;

impl MoveJobStore for SqliteStore {
    fn open_move_job(&self, mailbox_id: &str, job: &MoveJob) -> Result<MoveJob> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO move_jobs (mailbox_id, id, from_id, from_name, to_id, to_name, \
                 state, moved, total, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', 0, ?7, ?8, ?8) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                mailbox_id,
                job.id,
                job.from_id,
                job.from_name,
                job.to_id,
                job.to_name,
                job.total,
                job.created_at
            ])?;
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {MOVE_COLS} FROM move_jobs WHERE mailbox_id = ?1 AND from_id = ?2 \
                     AND to_id = ?3 AND state = 'running'"
                ))?
                .query_row(params![mailbox_id, job.from_id, job.to_id], move_from)?)
        })
    }

    fn move_job(&self, mailbox_id: &str, id: &str) -> Result<Option<MoveJob>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {MOVE_COLS} FROM move_jobs WHERE mailbox_id = ?1 AND id = ?2"
            ))?
            .query_row(params![mailbox_id, id], move_from)
            .optional()?)
        })
    }

    fn running_move_jobs(&self, mailbox_id: &str) -> Result<Vec<MoveJob>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {MOVE_COLS} FROM move_jobs WHERE mailbox_id = ?1 AND state = 'running' \
                 ORDER BY created_at"
            ))?;
            let rows = st.query_map([mailbox_id], move_from)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn update_move_job(
        &self,
        mailbox_id: &str,
        id: &str,
        moved: i64,
        total: Option<i64>,
        state: Option<&str>,
        error: Option<&str>,
        now: i64,
    ) -> Result<MoveJob> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached(&format!(
                    "UPDATE move_jobs SET moved = moved + ?3, total = COALESCE(?4, total), \
                     state = COALESCE(?5, state), last_error = ?6, updated_at = ?7 \
                     WHERE mailbox_id = ?1 AND id = ?2 RETURNING {MOVE_COLS}"
                ))?
                .query_row(
                    params![mailbox_id, id, moved, total, state, error, now],
                    move_from,
                )?)
        })
    }
}
