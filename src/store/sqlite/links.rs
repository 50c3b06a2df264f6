//! Links, their files, their access log and the signing key.

use super::SqliteStore;
use crate::error::Result;
use crate::store::links::{LinkAccess, LinkFile, LinkRecord, LinkStore};
use rusqlite::{params, Connection, OptionalExtension};

fn load(c: &Connection, id: &str) -> Result<Option<LinkRecord>> {
    let link = c
        .prepare_cached("SELECT id, mailbox_id, send_id, kind, agreement_text, created_at, expires_at, purged_at, \
             subject, file_key FROM links WHERE id = ?1")?.query_row([id],
            |r| {
                Ok(LinkRecord {
                    id: r.get(0)?,
                    mailbox_id: r.get(1)?,
                    send_id: r.get(2)?,
                    kind: r.get(3)?,
                    agreement_text: r.get(4)?,
                    created_at: r.get(5)?,
                    expires_at: r.get(6)?,
                    purged_at: r.get(7)?,
                    subject: r.get(8)?,
                    file_key: r.get(9)?,
                    files: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut link) = link else {
        return Ok(None);
    };
    let mut st = c.prepare_cached(
        "SELECT idx, name, content_type, size, sha256, path, sealed FROM link_files \
         WHERE link_id = ?1 ORDER BY idx",
    )?;
    let files = st.query_map([id], |r| {
        Ok(LinkFile {
            index: r.get(0)?,
            name: r.get(1)?,
            content_type: r.get(2)?,
            size: r.get(3)?,
            sha256: r.get(4)?,
            path: r.get(5)?,
            sealed: r.get(6)?,
        })
    })?;
    link.files = files.collect::<rusqlite::Result<_>>()?;
    Ok(Some(link))
}

/// The links with these ids (those that still exist), in order.
fn load_all(c: &Connection, ids: Vec<String>) -> Result<Vec<LinkRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(l) = load(c, &id)? {
            out.push(l);
        }
    }
    Ok(out)
}

impl LinkStore for SqliteStore {
    fn insert_link(&self, l: &LinkRecord) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("INSERT INTO links (id, mailbox_id, send_id, kind, agreement_text, created_at, \
                 expires_at, purged_at, subject, file_key) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?.execute(params![
                    l.id,
                    l.mailbox_id,
                    l.send_id,
                    l.kind,
                    l.agreement_text,
                    l.created_at,
                    l.expires_at,
                    l.purged_at,
                    l.subject,
                    l.file_key
                ],
            )?;
            for f in &l.files {
                tx.prepare_cached("INSERT INTO link_files (link_id, idx, name, content_type, size, sha256, path, \
                     sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?.execute(params![
                        l.id,
                        f.index,
                        f.name,
                        f.content_type,
                        f.size,
                        f.sha256,
                        f.path,
                        f.sealed
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn get_link(&self, id: &str) -> Result<Option<LinkRecord>> {
        self.read(|c| load(c, id))
    }

    fn delete_link(&self, id: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM links WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })
    }

    fn record_link_access(&self, a: &LinkAccess) -> Result<i64> {
        self.write(|tx| {
            tx.prepare_cached("INSERT INTO link_access (link_id, action, at, client_address, user_agent, file_idx) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![
                    a.link_id,
                    a.action,
                    a.at,
                    a.client_address,
                    a.user_agent,
                    a.file_index
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn link_accesses(&self, id: &str) -> Result<Vec<LinkAccess>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT link_id, action, at, client_address, user_agent, file_idx FROM link_access \
                 WHERE link_id = ?1 ORDER BY seq",
            )?;
            let rows = st.query_map([id], |r| {
                Ok(LinkAccess {
                    link_id: r.get(0)?,
                    action: r.get(1)?,
                    at: r.get(2)?,
                    client_address: r.get(3)?,
                    user_agent: r.get(4)?,
                    file_index: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn expired_links(&self, now: i64, limit: usize) -> Result<Vec<LinkRecord>> {
        self.read(|c| {
            let ids: Vec<String> = {
                let mut st = c.prepare_cached(
                    "SELECT id FROM links WHERE purged_at IS NULL AND expires_at <= ?1 \
                     ORDER BY expires_at LIMIT ?2",
                )?;
                let rows = st.query_map(params![now, limit as i64], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            load_all(c, ids)
        })
    }

    fn mark_link_purged(&self, id: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE links SET purged_at = ?2 WHERE id = ?1 AND purged_at IS NULL",
            )?
            .execute(params![id, now])?;
            // secure_delete (set on every connection) zeroes the old cell content.
            tx.prepare_cached("UPDATE links SET file_key = NULL WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })?;
        // Move the pages out of the write-ahead log so the old key leaves it too (best effort:
        // a busy reader postpones it to the next checkpoint).
        self.read(|c| {
            let _: rusqlite::Result<(i64, i64, i64)> =
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                });
            Ok(())
        })
    }

    fn unsealed_links(&self, limit: usize) -> Result<Vec<LinkRecord>> {
        self.read(|c| {
            let ids: Vec<String> = {
                let mut st = c.prepare_cached(
                    "SELECT DISTINCT f.link_id FROM link_files f JOIN links l ON l.id = f.link_id \
                     WHERE f.sealed = 0 AND l.purged_at IS NULL LIMIT ?1",
                )?;
                let rows = st.query_map([limit as i64], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            load_all(c, ids)
        })
    }

    fn set_link_sealed(&self, id: &str, file_key: &[u8], paths: &[(i64, String)]) -> Result<bool> {
        self.write(|tx| {
            for (idx, _) in paths {
                let sealed: Option<bool> = tx
                    .prepare_cached(
                        "SELECT sealed FROM link_files WHERE link_id = ?1 AND idx = ?2",
                    )?
                    .query_row(params![id, idx], |r| r.get(0))
                    .optional()?;
                if sealed != Some(false) {
                    return Ok(false);
                }
            }
            tx.prepare_cached("UPDATE links SET file_key = ?2 WHERE id = ?1")?
                .execute(params![id, file_key])?;
            for (idx, path) in paths {
                tx.prepare_cached(
                    "UPDATE link_files SET sealed = 1, path = ?3 WHERE link_id = ?1 AND idx = ?2",
                )?
                .execute(params![id, idx, path])?;
            }
            Ok(true)
        })
    }

    fn link_signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        self.write(|tx| {
            tx.prepare_cached("INSERT OR IGNORE INTO link_key (id, sealed) VALUES (1, ?1)")?
                .execute([candidate])?;
            Ok(tx
                .prepare_cached("SELECT sealed FROM link_key WHERE id = 1")?
                .query_row([], |r| r.get(0))?)
        })
    }
}
