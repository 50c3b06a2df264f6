//! Blobs in chunks (link files and spooled attachments of a shared store).

use super::PgStore;
use crate::error::Result;
use crate::store::blobs::{blob_exists, check_complete, no_blob, BlobInfo, BlobStore, BlobSummary};
use postgres::GenericClient;

/// Whether the blob exists and is unfinished; locks it against a concurrent finish or delete.
fn unfinished(c: &mut impl GenericClient, id: &str) -> Result<bool> {
    Ok(c.query_opt(
        "SELECT 1 FROM blobs WHERE id = $1 AND NOT finished FOR SHARE",
        &[&id],
    )?
    .is_some())
}

impl BlobStore for PgStore {
    fn create_blob(&self, id: &str, owner: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO blobs (id, owner, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
                &[&id, &owner, &now],
            )?;
            if n == 0 {
                return Err(blob_exists(id));
            }
            Ok(())
        })
    }

    fn put_blob_chunks(&self, id: &str, first: i64, chunks: &[Vec<u8>]) -> Result<()> {
        // READ COMMITTED: the blob row is locked above; chunks of one blob have one writer.
        self.write_committed(|tx| {
            if !unfinished(tx, id)? {
                return Err(no_blob(id));
            }
            let st = tx.prepare(
                "INSERT INTO blob_chunks (blob_id, idx, data) VALUES ($1, $2, $3) \
                 ON CONFLICT (blob_id, idx) DO UPDATE SET data = excluded.data",
            )?;
            for (i, data) in chunks.iter().enumerate() {
                tx.execute(&st, &[&id, &(first + i as i64), data])?;
            }
            Ok(())
        })
    }

    fn finish_blob(&self, id: &str, s: &BlobSummary) -> Result<()> {
        self.write_committed(|tx| {
            if !unfinished(tx, id)? {
                return Err(no_blob(id));
            }
            let r = tx.query_one(
                "SELECT COUNT(*), COALESCE(MIN(idx), 0), COALESCE(MAX(idx), -1) \
                 FROM blob_chunks WHERE blob_id = $1",
                &[&id],
            )?;
            let (n, lo, hi): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
            check_complete(id, s, (n, lo, hi))?;
            tx.execute(
                "UPDATE blobs SET size = $2, sha256 = $3, chunks = $4, \
                 finished = true WHERE id = $1",
                &[&id, &s.size, &s.sha256, &s.chunks],
            )?;
            Ok(())
        })
    }

    fn get_blob(&self, id: &str) -> Result<Option<BlobInfo>> {
        self.read(|c| {
            Ok(c.query_opt(
                "SELECT id, owner, created_at, size, sha256, chunks, finished \
                 FROM blobs WHERE id = $1",
                &[&id],
            )?
            .map(|r| BlobInfo {
                id: r.get(0),
                owner: r.get(1),
                created_at: r.get(2),
                finished: r.get::<_, bool>(6).then(|| BlobSummary {
                    size: r.get(3),
                    sha256: r.get(4),
                    chunks: r.get(5),
                }),
            }))
        })
    }

    fn blob_chunks(&self, id: &str, first: i64, limit: usize) -> Result<Vec<Vec<u8>>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT data FROM blob_chunks WHERE blob_id = $1 AND idx >= $2 \
                     ORDER BY idx LIMIT $3",
                &[&id, &first, &(limit as i64)],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn delete_blob(&self, id: &str) -> Result<bool> {
        self.write_committed(|tx| Ok(tx.execute("DELETE FROM blobs WHERE id = $1", &[&id])? == 1))
    }

    fn delete_blobs(&self, owner: &str) -> Result<usize> {
        self.write_committed(|tx| {
            // Chunks go with their blob (ON DELETE CASCADE).
            Ok(tx.execute("DELETE FROM blobs WHERE owner = $1", &[&owner])? as usize)
        })
    }

    fn blob_owners(&self, after: &str, limit: usize) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT owner, MAX(created_at) FROM blobs WHERE owner > $1 \
                     GROUP BY owner ORDER BY owner LIMIT $2",
                &[&after, &(limit as i64)],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn delete_unfinished_blobs(&self, before: i64) -> Result<usize> {
        self.write_committed(|tx| {
            Ok(tx.execute(
                "DELETE FROM blobs WHERE NOT finished AND created_at < $1",
                &[&before],
            )? as usize)
        })
    }
}
