//! The cached folder tree.

use super::*;

impl FolderCache for SqliteStore {
    fn cached_folders(&self, mailbox_id: &str) -> Result<Vec<FolderRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {FOLDER_COLS} FROM folders WHERE mailbox_id = ?1 ORDER BY rowid"
            ))?;
            let rows = st.query_map([mailbox_id], folder_from)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn apply_folder_delta(
        &self,
        mailbox_id: &str,
        page: &FolderPage,
        delta_link: &str,
        replace_all: bool,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            if replace_all {
                let keep: HashSet<&str> = page.upserts.iter().map(|f| f.id.as_str()).collect();
                let existing: Vec<String> = tx
                    .prepare_cached("SELECT id FROM folders WHERE mailbox_id = ?1")?
                    .query_map([mailbox_id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for id in existing.iter().filter(|id| !keep.contains(id.as_str())) {
                    tx.prepare_cached("DELETE FROM folders WHERE mailbox_id = ?1 AND id = ?2")?
                        .execute(params![mailbox_id, id])?;
                }
            }
            for f in &page.upserts {
                tx.prepare_cached(
                    "INSERT INTO folders (mailbox_id, id, parent_id, display_name, well_known, \
                     unread_count, total_count, child_count, hidden, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     ON CONFLICT(mailbox_id, id) DO UPDATE SET parent_id = excluded.parent_id, \
                     display_name = excluded.display_name, \
                     well_known = COALESCE(excluded.well_known, well_known), \
                     unread_count = excluded.unread_count, total_count = excluded.total_count, \
                     child_count = excluded.child_count, hidden = excluded.hidden, \
                     updated_at = excluded.updated_at",
                )?
                .execute(params![
                    mailbox_id,
                    f.id,
                    f.parent_id,
                    f.display_name,
                    f.well_known,
                    f.unread_count,
                    f.total_count,
                    f.child_count,
                    f.hidden,
                    now
                ])?;
            }
            for id in &page.removed {
                tx.prepare_cached("DELETE FROM folders WHERE mailbox_id = ?1 AND id = ?2")?
                    .execute(params![mailbox_id, id])?;
                // Its messages and delta state go with it.
                tx.prepare_cached("DELETE FROM messages WHERE mailbox_id = ?1 AND folder_id = ?2")?
                    .execute(params![mailbox_id, id])?;
                tx.prepare_cached("DELETE FROM sync_state WHERE mailbox_id = ?1 AND scope = ?2")?
                    .execute(params![mailbox_id, id])?;
            }
            ensure_state(tx, mailbox_id, "folders")?;
            tx.prepare_cached(
                "UPDATE sync_state SET delta_link = ?3, next_link = NULL, round_full = 0, \
                 last_success_at = ?4, last_error = NULL, last_error_kind = NULL, last_error_at = NULL \
                 WHERE mailbox_id = ?1 AND scope = ?2",
            )?
            .execute(params![mailbox_id, "folders", delta_link, now])?;
            Ok(())
        })
    }

    fn set_folder_roles(&self, mailbox_id: &str, roles: &[(String, String)]) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            tx.prepare_cached("UPDATE folders SET well_known = NULL WHERE mailbox_id = ?1")?
                .execute([mailbox_id])?;
            for (id, role) in roles {
                tx.prepare_cached(
                    "UPDATE folders SET well_known = ?3 WHERE mailbox_id = ?1 AND id = ?2",
                )?
                .execute(params![mailbox_id, id, role])?;
            }
            Ok(())
        })
    }

    fn adjust_folder_counts(
        &self,
        mailbox_id: &str,
        folder_id: &str,
        unread: i64,
        total: i64,
    ) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            tx.prepare_cached(
                "UPDATE folders SET unread_count = MAX(0, unread_count + ?3), \
                 total_count = MAX(0, total_count + ?4) WHERE mailbox_id = ?1 AND id = ?2",
            )?
            .execute(params![mailbox_id, folder_id, unread, total])?;
            Ok(())
        })
    }
}
