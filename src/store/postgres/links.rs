//! Links, their files, their access log and the signing key.

use super::text::{enc, enc_opt, opt_text, text};
use super::PgStore;
use crate::error::Result;
use crate::store::links::{LinkAccess, LinkFile, LinkRecord, LinkStore};
use postgres::GenericClient;

fn load(c: &mut impl GenericClient, id: &str) -> Result<Option<LinkRecord>> {
    let Some(r) = c.query_opt(
        "SELECT id, mailbox_id, send_id, kind, agreement_text, created_at, expires_at, purged_at, \
         subject, file_key FROM links WHERE id = $1",
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let files = c
        .query(
            "SELECT idx, name, content_type, size, sha256, path, sealed FROM link_files \
             WHERE link_id = $1 ORDER BY idx",
            &[&id],
        )?
        .iter()
        .map(|f| LinkFile {
            index: f.get(0),
            name: text(f, 1),
            content_type: text(f, 2),
            size: f.get(3),
            sha256: f.get(4),
            path: f.get(5),
            sealed: f.get(6),
        })
        .collect();
    Ok(Some(LinkRecord {
        id: r.get(0),
        mailbox_id: r.get(1),
        send_id: r.get(2),
        kind: r.get(3),
        agreement_text: opt_text(&r, 4),
        created_at: r.get(5),
        expires_at: r.get(6),
        purged_at: r.get(7),
        subject: opt_text(&r, 8),
        file_key: r.get(9),
        files,
    }))
}

/// The links with these ids (those that still exist), in order.
fn load_all(c: &mut impl GenericClient, ids: Vec<String>) -> Result<Vec<LinkRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(l) = load(c, &id)? {
            out.push(l);
        }
    }
    Ok(out)
}

impl LinkStore for PgStore {
    fn insert_link(&self, l: &LinkRecord) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO links (id, mailbox_id, send_id, kind, agreement_text, created_at, \
                 expires_at, purged_at, subject, file_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &l.id,
                    &l.mailbox_id,
                    &l.send_id,
                    &l.kind,
                    &enc_opt(&l.agreement_text),
                    &l.created_at,
                    &l.expires_at,
                    &l.purged_at,
                    &enc_opt(&l.subject),
                    &l.file_key,
                ],
            )?;
            for f in &l.files {
                tx.execute(
                    "INSERT INTO link_files (link_id, idx, name, content_type, size, sha256, path, \
                     sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &l.id,
                        &f.index,
                        &enc(&f.name),
                        &enc(&f.content_type),
                        &f.size,
                        &f.sha256,
                        &f.path,
                        &f.sealed,
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
            tx.execute("DELETE FROM links WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn record_link_access(&self, a: &LinkAccess) -> Result<i64> {
        self.write(|tx| {
            Ok(tx
                .query_one(
                    "INSERT INTO link_access (link_id, action, at, client_address, user_agent, file_idx) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
                    &[
                        &a.link_id,
                        &a.action,
                        &a.at,
                        &enc_opt(&a.client_address),
                        &enc_opt(&a.user_agent),
                        &a.file_index,
                    ],
                )?
                .get(0))
        })
    }

    fn link_accesses(&self, id: &str) -> Result<Vec<LinkAccess>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT link_id, action, at, client_address, user_agent, file_idx FROM link_access \
                 WHERE link_id = $1 ORDER BY seq",
                &[&id],
            )?
            .iter()
            .map(|r| LinkAccess {
                link_id: r.get(0),
                action: r.get(1),
                at: r.get(2),
                client_address: opt_text(r, 3),
                user_agent: opt_text(r, 4),
                file_index: r.get(5),
            })
            .collect())
        })
    }

    fn expired_links(&self, now: i64, limit: usize) -> Result<Vec<LinkRecord>> {
        self.read(|c| {
            let ids = c
                .query(
                    "SELECT id FROM links WHERE purged_at IS NULL AND expires_at <= $1 \
                     ORDER BY expires_at LIMIT $2",
                    &[&now, &(limit as i64)],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            load_all(c, ids)
        })
    }

    fn mark_link_purged(&self, id: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE links SET purged_at = $2 WHERE id = $1 AND purged_at IS NULL",
                &[&id, &now],
            )?;
            tx.execute("UPDATE links SET file_key = NULL WHERE id = $1", &[&id])?;
            Ok(())
        })?;
        // The old row version keeps the key until vacuumed: vacuum the (small) table now,
        // best effort (a concurrent vacuum or a long reader postpones it to autovacuum).
        // PostgreSQL's write-ahead log keeps it until its segment is recycled.
        self.read(|c| {
            let _ = c.batch_execute("VACUUM links");
            Ok(())
        })
    }

    fn unsealed_links(&self, limit: usize) -> Result<Vec<LinkRecord>> {
        self.read(|c| {
            let ids = c
                .query(
                    "SELECT DISTINCT f.link_id FROM link_files f JOIN links l ON l.id = f.link_id \
                     WHERE NOT f.sealed AND l.purged_at IS NULL LIMIT $1",
                    &[&(limit as i64)],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            load_all(c, ids)
        })
    }

    fn set_link_sealed(&self, id: &str, file_key: &[u8], paths: &[(i64, String)]) -> Result<bool> {
        self.write(|tx| {
            for (idx, _) in paths {
                let sealed: Option<bool> = tx
                    .query_opt(
                        "SELECT sealed FROM link_files WHERE link_id = $1 AND idx = $2",
                        &[&id, idx],
                    )?
                    .map(|r| r.get(0));
                if sealed != Some(false) {
                    return Ok(false);
                }
            }
            tx.execute(
                "UPDATE links SET file_key = $2 WHERE id = $1",
                &[&id, &file_key],
            )?;
            for (idx, path) in paths {
                tx.execute(
                    "UPDATE link_files SET sealed = true, path = $3 WHERE link_id = $1 AND idx = $2",
                    &[&id, idx, path],
                )?;
            }
            Ok(true)
        })
    }

    fn link_signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO link_key (id, sealed) VALUES (1, $1) ON CONFLICT DO NOTHING",
                &[&candidate],
            )?;
            Ok(tx
                .query_one("SELECT sealed FROM link_key WHERE id = 1", &[])?
                .get(0))
        })
    }
}
