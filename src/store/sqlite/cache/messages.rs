//! Cached messages, stored page by page with their delta links.

use super::*;

impl MessageCache for SqliteStore {
    fn apply_message_page(
        &self,
        mailbox_id: &str,
        folder_id: &str,
        page: &MessagePage,
        link: &DeltaLink,
        now: i64,
    ) -> Result<PageOutcome> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            apply_page(tx, mailbox_id, folder_id, page, link, now)
        })
    }

    fn apply_message_pages(&self, pages: &[PageWrite<'_>]) -> Result<Vec<Result<PageOutcome>>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(pages.len());
            let mut bumped: HashSet<&str> = HashSet::new();
            for p in pages {
                // Each page in its own savepoint: a page that cannot be applied (its folder
                // moved on meanwhile) is undone alone, the others of the batch still commit.
                tx.execute_batch("SAVEPOINT page")?;
                let applied = (|| {
                    let state = read_state(tx, p.mailbox_id, p.folder_id)?.unwrap_or_default();
                    if state.resume_link() != p.fetched_from {
                        return Err(crate::error::Error::conflict(
                            "sync_state_moved",
                            "the folder's delta state changed while this page was fetched; \
                             the next round resumes from the stored link",
                        ));
                    }
                    if bumped.insert(p.mailbox_id) {
                        bump_version(tx, p.mailbox_id)?;
                    }
                    apply_page(tx, p.mailbox_id, p.folder_id, p.page, p.link, p.now)
                })();
                match &applied {
                    Ok(_) => tx.execute_batch("RELEASE page")?,
                    Err(_) => {
                        bumped.remove(p.mailbox_id);
                        tx.execute_batch("ROLLBACK TO page; RELEASE page")?
                    }
                }
                out.push(applied);
            }
            Ok(out)
        })
    }

    fn cache_version(&self, mailbox_id: &str) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT version FROM cache_versions WHERE mailbox_id = ?1")?
                    .query_row([mailbox_id], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn list_cached_messages(&self, mailbox_id: &str, q: &MessageQuery) -> Result<Vec<MessageRow>> {
        self.read(|c| {
            let (cmp, dir) = match q.order {
                MessageOrder::NewestFirst => ("<", "DESC"),
                MessageOrder::OldestFirst => (">", "ASC"),
            };
            let mut sql = format!(
                "SELECT {MESSAGE_COLS} FROM messages WHERE mailbox_id = ?1 AND folder_id = ?2"
            );
            if q.unread_only {
                sql.push_str(" AND is_read = 0");
            }
            if q.search.is_some() {
                sql.push_str(
                    " AND (instr(lower(COALESCE(subject, '')), ?3) > 0 \
                     OR instr(lower(COALESCE(from_name, '')), ?3) > 0 \
                     OR instr(lower(COALESCE(from_address, '')), ?3) > 0)",
                );
            }
            if q.after.is_some() {
                sql.push_str(&format!(" AND (received_at, id) {cmp} (?4, ?5)"));
            }
            sql.push_str(&format!(" ORDER BY received_at {dir}, id {dir} LIMIT ?6"));
            let search = q.search.as_ref().map(|s| s.to_lowercase());
            let (after_at, after_id) = match &q.after {
                Some((at, id)) => (Some(*at), Some(id.as_str())),
                None => (None, None),
            };
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(
                params![
                    mailbox_id,
                    q.folder_id,
                    search,
                    after_at,
                    after_id,
                    q.limit as i64
                ],
                message_from,
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn cached_message(&self, mailbox_id: &str, id: &str) -> Result<Option<CachedMessage>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLS}, body, body_type, attachments_json FROM messages \
                 WHERE id_key = ?3 AND mailbox_id = ?1 AND id = ?2"
            ))?
            .query_row(params![mailbox_id, id, message_key(mailbox_id, id)], |r| {
                Ok(CachedMessage {
                    meta: message_from(r)?,
                    body: r.get(18)?,
                    body_type: r.get(19)?,
                    attachments_json: r.get(20)?,
                })
            })
            .optional()?)
        })
    }

    fn upsert_message(&self, mailbox_id: &str, row: &MessageRow, now: i64) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            let gen = folder_gen(tx, mailbox_id, &row.folder_id)?;
            upsert_one(tx, mailbox_id, row, gen, now)
        })
    }

    fn store_message_body(
        &self,
        mailbox_id: &str,
        id: &str,
        body: &str,
        body_type: &str,
        attachments_json: &str,
    ) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE messages SET body = ?3, body_type = ?4, attachments_json = ?5 \
                 WHERE id_key = ?6 AND mailbox_id = ?1 AND id = ?2",
            )?
            .execute(params![
                mailbox_id,
                id,
                body,
                body_type,
                attachments_json,
                message_key(mailbox_id, id)
            ])?;
            Ok(())
        })
    }

    fn set_message_read(
        &self,
        mailbox_id: &str,
        id: &str,
        read: bool,
    ) -> Result<Option<(String, bool)>> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            let before: Option<(String, bool)> = tx
                .prepare_cached(
                    "SELECT folder_id, is_read FROM messages \
                     WHERE id_key = ?3 AND mailbox_id = ?1 AND id = ?2",
                )?
                .query_row(params![mailbox_id, id, message_key(mailbox_id, id)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if before.is_some() {
                tx.prepare_cached(
                    "UPDATE messages SET is_read = ?3 \
                     WHERE id_key = ?4 AND mailbox_id = ?1 AND id = ?2",
                )?
                .execute(params![
                    mailbox_id,
                    id,
                    read,
                    message_key(mailbox_id, id)
                ])?;
            }
            Ok(before)
        })
    }

    fn remove_message(&self, mailbox_id: &str, id: &str) -> Result<Option<(String, bool)>> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            Ok(tx
                .prepare_cached(
                    "DELETE FROM messages WHERE id_key = ?3 AND mailbox_id = ?1 AND id = ?2 \
                     RETURNING folder_id, is_read",
                )?
                .query_row(params![mailbox_id, id, message_key(mailbox_id, id)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?)
        })
    }

    fn message_count(&self, mailbox_id: &str, folder_id: Option<&str>) -> Result<i64> {
        self.read(|c| {
            Ok(match folder_id {
                Some(f) => c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM messages WHERE mailbox_id = ?1 AND folder_id = ?2",
                    )?
                    .query_row(params![mailbox_id, f], |r| r.get(0))?,
                None => c
                    .prepare_cached("SELECT COUNT(*) FROM messages WHERE mailbox_id = ?1")?
                    .query_row([mailbox_id], |r| r.get(0))?,
            })
        })
    }

    fn clear_cache(&self, mailbox_id: &str) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            for sql in [
                "DELETE FROM messages WHERE mailbox_id = ?1",
                "DELETE FROM folders WHERE mailbox_id = ?1",
                "DELETE FROM sync_state WHERE mailbox_id = ?1",
            ] {
                tx.prepare_cached(sql)?.execute([mailbox_id])?;
            }
            Ok(())
        })
    }
}
