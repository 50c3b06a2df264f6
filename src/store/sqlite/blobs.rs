//! Blobs in chunks (the contract of `store::blobs`; SQLite clients keep their files beside
//! the store, so this serves the shared contract and its tests).

use super::SqliteStore;
use crate::error::Result;
use crate::store::blobs::{blob_exists, check_complete, no_blob, BlobInfo, BlobStore, BlobSummary};
use rusqlite::{params, Connection, OptionalExtension};

fn unfinished(c: &Connection, id: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM blobs WHERE id = ?1 AND finished = 0")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

impl BlobStore for SqliteStore {
    fn create_blob(&self, id: &str, owner: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "INSERT INTO blobs (id, owner, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![id, owner, now])?;
            if n == 0 {
                return Err(blob_exists(id));
            }
            Ok(())
        })
    }

    fn put_blob_chunks(&self, id: &str, first: i64, chunks: &[Vec<u8>]) -> Result<()> {
        self.write(|tx| {
            if !unfinished(tx, id)? {
                return Err(no_blob(id));
            }
            let mut st = tx.prepare_cached(
                "INSERT INTO blob_chunks (blob_id, idx, data) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (blob_id, idx) DO UPDATE SET data = excluded.data",
            )?;
            for (i, data) in chunks.iter().enumerate() {
                st.execute(params![id, first + i as i64, data])?;
            }
            Ok(())
        })
    }

    fn finish_blob(&self, id: &str, s: &BlobSummary) -> Result<()> {
        self.write(|tx| {
            if !unfinished(tx, id)? {
                return Err(no_blob(id));
            }
            let (n, lo, hi): (i64, i64, i64) = tx
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(MIN(idx), 0), COALESCE(MAX(idx), -1) \
                 FROM blob_chunks WHERE blob_id = ?1",
                )?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            check_complete(id, s, (n, lo, hi))?;
            tx.prepare_cached(
                "UPDATE blobs SET size = ?2, sha256 = ?3, chunks = ?4, finished = 1 WHERE id = ?1",
            )?
            .execute(params![id, s.size, s.sha256, s.chunks])?;
            Ok(())
        })
    }

    fn get_blob(&self, id: &str) -> Result<Option<BlobInfo>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, owner, created_at, size, sha256, chunks, finished FROM blobs \
                 WHERE id = ?1",
            )?
            .query_row([id], |r| {
                let finished: bool = r.get(6)?;
                Ok(BlobInfo {
                    id: r.get(0)?,
                    owner: r.get(1)?,
                    created_at: r.get(2)?,
                    finished: if finished {
                        Some(BlobSummary {
                            size: r.get(3)?,
                            sha256: r.get(4)?,
                            chunks: r.get(5)?,
                        })
                    } else {
                        None
                    },
                })
            })
            .optional()?)
        })
    }

    fn blob_chunks(&self, id: &str, first: i64, limit: usize) -> Result<Vec<Vec<u8>>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT data FROM blob_chunks WHERE blob_id = ?1 AND idx >= ?2 \
                 ORDER BY idx LIMIT ?3",
            )?;
            let rows = st.query_map(params![id, first, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn delete_blob(&self, id: &str) -> Result<bool> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM blob_chunks WHERE blob_id = ?1")?
                .execute([id])?;
            Ok(tx
                .prepare_cached("DELETE FROM blobs WHERE id = ?1")?
                .execute([id])?
                == 1)
        })
    }

    fn delete_blobs(&self, owner: &str) -> Result<usize> {
        self.write(|tx| {
            tx.prepare_cached(
                "DELETE FROM blob_chunks WHERE blob_id IN (SELECT id FROM blobs WHERE owner = ?1)",
            )?
            .execute([owner])?;
            Ok(tx
                .prepare_cached("DELETE FROM blobs WHERE owner = ?1")?
                .execute([owner])?)
        })
    }

    fn blob_owners(&self, after: &str, limit: usize) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT owner, MAX(created_at) FROM blobs WHERE owner > ?1 \
                 GROUP BY owner ORDER BY owner LIMIT ?2",
            )?;
            let rows =
                st.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn delete_unfinished_blobs(&self, before: i64) -> Result<usize> {
        self.write(|tx| {
            tx.prepare_cached(
                "DELETE FROM blob_chunks WHERE blob_id IN \
                 (SELECT id FROM blobs WHERE finished = 0 AND created_at < ?1)",
            )?
            .execute([before])?;
            Ok(tx
                .prepare_cached("DELETE FROM blobs WHERE finished = 0 AND created_at < ?1")?
                .execute([before])?)
        })
    }
}
