//! SQLite backend: WAL, a busy timeout, immediate write transactions on one write
//! connection per process, a small pool of read connections, WAL checkpoints on a thread of
//! their own (`checkpoint`). Safe for many threads and several processes on one machine (the
//! PHP-FPM case).

mod activity;
mod blobs;
mod cache;
mod checkpoint;
mod events;
mod links;
mod mailboxes;
pub mod migrations;
mod misc;
mod outbox;
mod tokens;

use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept open per store.
const MAX_IDLE: usize = 8;
/// Page size of new stores, in bytes.
const PAGE_SIZE: i64 = 16 * 1024;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;
/// Page cache of the write connection, in KiB (SQLite's default is 2 MiB per connection).
const WRITER_CACHE_KIB: i64 = 16 * 1024;

pub struct SqliteStore {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The connection every write of this process goes through. One writer at a time is
    /// all SQLite allows anyway; keeping it to one connection means in-process writers queue
    /// on this mutex instead of sleeping in SQLite's busy handler, and its page cache stays
    /// valid from one write to the next (a connection drops its whole cache when it sees
    /// that another connection wrote in between).
    writer: Mutex<Option<checkpoint::Writer>>,
    /// Runs the WAL checkpoints of this process's writes on a thread of its own.
    checkpointer: std::sync::Arc<checkpoint::Checkpointer>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpointer.stop();
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                return Err(Error::store(format!(
                    "the store's folder '{}' does not exist",
                    dir.display()
                ))
                .with_detail("field", "store"));
            }
        }
        // 0600 whatever the umask; SQLite gives -wal and -shm the database file's mode.
        if !path.as_os_str().is_empty() && !path.to_string_lossy().starts_with(':') {
            crate::files::touch_private(path).map_err(|e| {
                Error::store(format!("cannot create store '{}': {e}", path.display()))
                    .with_detail("field", "store")
            })?;
        }
        let store = SqliteStore {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
            checkpointer: checkpoint::Checkpointer::new(path.to_owned()),
        };
        let mut conn = store.connect()?;
        migrate(&mut conn)?;
        store
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> Result<Connection> {
        open_connection(&self.path)
    }

    fn take(&self) -> Result<Pooled<'_>> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        Ok(Pooled {
            store: self,
            conn: Some(conn),
        })
    }

    /// Runs `f` on a pooled connection (reads, or single statements), through the bridge
    /// off the async worker threads ([`crate::runtime::off_worker`]).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        crate::runtime::off_worker(|| {
            let c = self.take()?;
            f(c.conn.as_ref().expect("pooled connection"))
        })
    }

    /// Runs `f` in an IMMEDIATE transaction (takes the write lock up front, so concurrent
    /// writers queue on the busy timeout instead of failing on lock upgrade) and commits.
    /// Also through the bridge off the async worker threads.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        crate::runtime::off_worker(|| {
            let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                let c = self.connect()?;
                c.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
                *slot = Some(checkpoint::Writer::new(c, &self.checkpointer));
            }
            let conn = &mut slot.as_mut().expect("writer connection").conn;
            let out = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })();
            if !conn.is_autocommit() {
                // A commit that failed half-way: start the next write on a fresh connection.
                *slot = None;
            }
            out
        })
    }
}

/// A connection to the store at `path` with the store's settings.
fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| {
        Error::store(format!("cannot open store '{}': {e}", path.display()))
            .with_detail("field", "store")
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // A new store is laid out in 16 KiB pages (SQLite's default is 4 KiB): a cached message
    // is about 1 KiB, and with four times fewer pages per row a page of 1,000 messages costs
    // about a third less to write (fewer b-tree splits, WAL frames and system calls;
    // `examples/bench_store`). Must come before the first write; existing stores keep theirs.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // Statements are prepared once per connection (rusqlite keeps 16 by default, fewer
    // than the store's hot statements).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted or overwritten content (e.g. a shredded link key) is zeroed in its page.
    conn.pragma_update(None, "secure_delete", "FAST")?;
    // Unicode lower case, for comparisons NOCASE cannot make (non-ASCII addresses).
    conn.create_scalar_function(
        "o365_lower",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8
            | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_lowercase())),
    )?;
    Ok(conn)
}

struct Pooled<'a> {
    store: &'a SqliteStore,
    conn: Option<Connection>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut idle = self.store.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE && c.is_autocommit() {
                idle.push(c);
            }
        }
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let newest = migrations::MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > newest {
        return Err(Error::store(format!(
            "the store was written by a newer library (schema {current}, this library knows {newest})"
        ))
        .with_hint("upgrade the library, or point it at another store"));
    }
    for (version, sql) in migrations::MIGRATIONS {
        if *version > current {
            tx.execute_batch(sql)
                .map_err(|e| Error::store(format!("migration {version} failed: {e}")))?;
            tx.pragma_update(None, "user_version", version)?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        let s = SqliteStore::open(&p).unwrap();
        let v: i64 = s
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, migrations::MIGRATIONS.last().unwrap().0);
        let mode: String = s
            .read(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(s);
        SqliteStore::open(&p).unwrap();
    }

    #[test]
    fn upgrade_to_message_keys_empties_only_the_message_cache() {
        // A store written by schema 2 (before message keys), with a cached message, a delta
        // link, an activity decision and a queued send.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        {
            let mut c = Connection::open(&p).unwrap();
            let tx = c.transaction().unwrap();
            for (v, sql) in &migrations::MIGRATIONS[..2] {
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", v).unwrap();
            }
            tx.execute_batch(
                "INSERT INTO mailboxes (id, address, kind, main_user, created_at, updated_at) \
                   VALUES ('m1', 'a@b.example', 'user', 'u1', 1, 1); \
                 INSERT INTO messages (mailbox_id, id, folder_id, updated_at) VALUES ('m1', 'x', 'f', 1); \
                 INSERT INTO sync_state (mailbox_id, scope, delta_link) VALUES ('m1', 'f', 'https://d'); \
                 INSERT INTO sync_state (mailbox_id, scope, delta_link) VALUES ('m1', 'folders', 'https://t'); \
                 INSERT INTO activities (mailbox_id, internet_message_id, event_id, booked_at) \
                   VALUES ('m1', '<i@d>', 'act_1', 1);",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let s = SqliteStore::open(&p).unwrap();
        let (messages, links, activities): (i64, Vec<Option<String>>, i64) = s
            .read(|c| {
                Ok((
                    c.prepare_cached("SELECT COUNT(*) FROM messages")?
                        .query_row([], |r| r.get(0))?,
                    c.prepare_cached("SELECT delta_link FROM sync_state ORDER BY scope")?
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?,
                    c.prepare_cached("SELECT COUNT(*) FROM activities")?
                        .query_row([], |r| r.get(0))?,
                ))
            })
            .unwrap();
        assert_eq!(messages, 0, "the message cache is rebuilt");
        assert_eq!(
            links,
            vec![None, Some("https://t".to_owned())],
            "folders resync fully"
        );
        assert_eq!(activities, 1, "activity decisions stay");
    }

    #[test]
    fn generations_stay_above_those_stored_before_migration_8() {
        // A schema-7 store whose change counter is below the generations its rows carry.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        {
            let mut c = Connection::open(&p).unwrap();
            let tx = c.transaction().unwrap();
            for (v, sql) in &migrations::MIGRATIONS[..7] {
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", v).unwrap();
            }
            tx.execute_batch(
                "INSERT INTO mailboxes (id, address, kind, main_user, created_at, updated_at) \
                   VALUES ('m1', 'a@b.example', 'user', 'u1', 1, 1), \
                          ('m2', 'c@b.example', 'user', 'u1', 1, 1); \
                 INSERT INTO messages (mailbox_id, id, folder_id, seen_gen, updated_at, id_key) \
                   VALUES ('m1', 'x', 'f', 41, 1, 1), ('m2', 'y', 'f', 7, 1, 2); \
                 INSERT INTO sync_state (mailbox_id, scope, round_gen) VALUES ('m2', 'f', 9); \
                 INSERT INTO cache_versions (mailbox_id, version) VALUES ('m1', 3);",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let s = SqliteStore::open(&p).unwrap();
        use crate::store::cache::SyncStateStore;
        assert!(s.begin_full_round("m1", "g").unwrap().round_gen > 41);
        assert!(s.begin_full_round("m2", "g").unwrap().round_gen > 9);
        // And the next round of a mailbox is above the one before.
        let a = s.begin_full_round("m1", "f").unwrap().round_gen;
        assert!(s.begin_full_round("m1", "g").unwrap().round_gen > a);
    }

    #[test]
    fn checkpoints_run_on_their_own_thread() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        // About 1,300 WAL frames in one commit: the hook wakes the checkpoint thread.
        let chunk = vec![7u8; 1300 * PAGE_SIZE as usize];
        s.write(|tx| {
            tx.prepare_cached("INSERT INTO blobs (id, owner, created_at) VALUES ('b', 'o', 1)")?
                .execute([])?;
            tx.prepare_cached("INSERT INTO blob_chunks (blob_id, idx, data) VALUES ('b', 0, ?1)")?
                .execute([&chunk])?;
            Ok(())
        })
        .unwrap();
        assert!(
            s.checkpointer
                .wait_runs(1, std::time::Duration::from_secs(120)),
            "no checkpoint ran"
        );
        // The database file now holds the chunk (the WAL was copied back).
        assert!(std::fs::metadata(dir.path().join("s.db")).unwrap().len() > chunk.len() as u64);
        let n: i64 = s
            .read(|c| {
                Ok(c.prepare_cached("SELECT length(data) FROM blob_chunks")?
                    .query_row([], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(n, chunk.len() as i64);
    }

    #[test]
    fn new_stores_use_16_kib_pages_and_old_ones_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |s: &SqliteStore| -> i64 {
            s.read(|c| Ok(c.query_row("PRAGMA page_size", [], |r| r.get(0))?))
                .unwrap()
        };
        let fresh = SqliteStore::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(page_size(&fresh), PAGE_SIZE);
        let old = dir.path().join("old.db");
        {
            let c = Connection::open(&old).unwrap();
            c.execute_batch(
                "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x);",
            )
            .unwrap();
        }
        let s = SqliteStore::open(&old).unwrap();
        assert_eq!(page_size(&s), 4096);
    }

    #[test]
    fn missing_folder_is_a_clear_error() {
        let e = SqliteStore::open(Path::new("/nonexistent/dir/s.db")).unwrap_err();
        assert_eq!(e.status(), crate::error::status::STORE);
        assert!(e.message().contains("does not exist"));
    }
}
