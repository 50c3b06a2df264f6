//! Folder and message cache, delta state, move jobs (see [`crate::store::cache`]).

use super::SqliteStore;
use crate::error::Result;
use crate::store::cache::columns::{FOLDER_COLS, MESSAGE_COLS, MOVE_COLS, STATE_COLS};
use crate::store::cache::{
    CachedMessage, DeltaLink, FolderCache, FolderPage, FolderRow, IdleRound, MessageCache,
    MessageOrder, MessagePage, MessageQuery, MessageRow, MoveJob, MoveJobStore, PageOutcome,
    PageWrite, SyncState, SyncStateStore,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashSet;

/// New message row; `?20` is the generation, `?21` the time, `?22` the [`message_key`].
const INSERT_MESSAGE: &str = "INSERT INTO messages (mailbox_id, id, folder_id, \
     internet_message_id, conversation_id, subject, from_name, from_address, recipients_json, \
     received_at, sent_at, is_read, is_draft, has_attachments, importance, flag, categories_json, \
     body_preview, change_key, seen_gen, updated_at, id_key) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, COALESCE(?10, 0), ?11, COALESCE(?12, 0), COALESCE(?13, 0), \
             COALESCE(?14, 0), ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)";

/// Update of a stored message, same parameters as [`INSERT_MESSAGE`]. Absent (NULL) values
/// keep what is stored; a new change key drops a cached body (it may be stale). (SET
/// expressions see the row as it was, so `change_key` below is the stored one.)
const UPDATE_MESSAGE: &str = "UPDATE messages SET \
       folder_id = ?3, \
       internet_message_id = COALESCE(?4, internet_message_id), \
       conversation_id = COALESCE(?5, conversation_id), \
       subject = COALESCE(?6, subject), \
       from_name = COALESCE(?7, from_name), \
       from_address = COALESCE(?8, from_address), \
       recipients_json = COALESCE(?9, recipients_json), \
       received_at = COALESCE(?10, received_at), \
       sent_at = COALESCE(?11, sent_at), \
       is_read = COALESCE(?12, is_read), \
       is_draft = COALESCE(?13, is_draft), \
       has_attachments = COALESCE(?14, has_attachments), \
       importance = COALESCE(?15, importance), \
       flag = COALESCE(?16, flag), \
       categories_json = COALESCE(?17, categories_json), \
       body_preview = COALESCE(?18, body_preview), \
       body = CASE WHEN ?19 IS NOT NULL AND ?19 IS NOT change_key THEN NULL ELSE body END, \
       body_type = CASE WHEN ?19 IS NOT NULL AND ?19 IS NOT change_key THEN NULL ELSE body_type END, \
       attachments_json = CASE WHEN ?19 IS NOT NULL AND ?19 IS NOT change_key \
                   THEN NULL ELSE attachments_json END, \
       change_key = COALESCE(?19, change_key), \
       seen_gen = ?20, \
       updated_at = ?21 \
     WHERE id_key = ?22 AND mailbox_id = ?1 AND id = ?2";

/// The compact lookup key of a cached message: FNV-1a (64 bit) over mailbox id and message
/// id. Graph ids are about 150 characters of random base64; as a primary-key index they
/// made every stored page touch about a thousand random index pages (`make bench`: 5x the
/// write time). The key is only an index: every lookup also compares mailbox id and id, so
/// a collision costs one more row comparison, never a wrong row. Stable across versions
/// (it is stored); do not change it without a migration.
pub(crate) fn message_key(mailbox_id: &str, id: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in mailbox_id.bytes().chain([0u8]).chain(id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

fn folder_from(r: &Row<'_>) -> rusqlite::Result<FolderRow> {
    Ok(FolderRow {
        id: r.get(0)?,
        parent_id: r.get(1)?,
        display_name: r.get(2)?,
        well_known: r.get(3)?,
        unread_count: r.get(4)?,
        total_count: r.get(5)?,
        child_count: r.get(6)?,
        hidden: r.get(7)?,
    })
}

fn message_from(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        folder_id: r.get(1)?,
        internet_message_id: r.get(2)?,
        conversation_id: r.get(3)?,
        subject: r.get(4)?,
        from_name: r.get(5)?,
        from_address: r.get(6)?,
        recipients_json: r.get(7)?,
        received_at: r.get(8)?,
        sent_at: r.get(9)?,
        is_read: Some(r.get(10)?),
        is_draft: Some(r.get(11)?),
        has_attachments: Some(r.get(12)?),
        importance: r.get(13)?,
        flag: r.get(14)?,
        categories_json: r.get(15)?,
        body_preview: r.get(16)?,
        change_key: r.get(17)?,
    })
}

fn state_from(r: &Row<'_>) -> rusqlite::Result<SyncState> {
    Ok(SyncState {
        scope: r.get(0)?,
        delta_link: r.get(1)?,
        next_link: r.get(2)?,
        round_gen: r.get(3)?,
        round_full: r.get(4)?,
        round_items: r.get(5)?,
        last_success_at: r.get(6)?,
        last_error: r.get(7)?,
        last_error_kind: r.get(8)?,
        last_error_at: r.get(9)?,
    })
}

fn move_from(r: &Row<'_>) -> rusqlite::Result<MoveJob> {
    Ok(MoveJob {
        id: r.get(0)?,
        from_id: r.get(1)?,
        from_name: r.get(2)?,
        to_id: r.get(3)?,
        to_name: r.get(4)?,
        state: r.get(5)?,
        moved: r.get(6)?,
        total: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// Bumps the mailbox's change counter (see migration 4, `cache_versions`): call it inside every write
/// transaction that changes what a cached list answer shows.
pub(crate) fn bump_version(c: &Connection, mailbox_id: &str) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO cache_versions (mailbox_id, version) VALUES (?1, 1) \
         ON CONFLICT(mailbox_id) DO UPDATE SET version = version + 1",
    )?
    .execute([mailbox_id])?;
    Ok(())
}

fn ensure_state(c: &Connection, mailbox_id: &str, scope: &str) -> Result<()> {
    c.prepare_cached("INSERT OR IGNORE INTO sync_state (mailbox_id, scope) VALUES (?1, ?2)")?
        .execute(params![mailbox_id, scope])?;
    Ok(())
}

fn read_state(c: &Connection, mailbox_id: &str, scope: &str) -> Result<Option<SyncState>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {STATE_COLS} FROM sync_state WHERE mailbox_id = ?1 AND scope = ?2"
    ))?
    .query_row(params![mailbox_id, scope], state_from)
    .optional()?)
}

/// Stores one message: an update of the stored row, else a new row. Uniqueness of
/// (mailbox, id) rests on this being the only insert, always inside a write transaction.
fn upsert_one(c: &Connection, mailbox_id: &str, m: &MessageRow, gen: i64, now: i64) -> Result<()> {
    let values = params![
        mailbox_id,
        m.id,
        m.folder_id,
        m.internet_message_id,
        m.conversation_id,
        m.subject,
        m.from_name,
        m.from_address,
        m.recipients_json,
        m.received_at,
        m.sent_at,
        m.is_read,
        m.is_draft,
        m.has_attachments,
        m.importance,
        m.flag,
        m.categories_json,
        m.body_preview,
        m.change_key,
        gen,
        now,
        message_key(mailbox_id, &m.id),
    ];
    if c.prepare_cached(UPDATE_MESSAGE)?.execute(values)? == 0 {
        c.prepare_cached(INSERT_MESSAGE)?.execute(values)?;
    }
    Ok(())
}

/// The generation a folder's rows are written with outside of a full round.
fn folder_gen(c: &Connection, mailbox_id: &str, folder_id: &str) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT round_gen FROM sync_state WHERE mailbox_id = ?1 AND scope = ?2")?
            .query_row(params![mailbox_id, folder_id], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
    )
}

/// One message delta page of `folder_id` with its link, inside the caller's transaction.
fn apply_page(
    tx: &Connection,
    mailbox_id: &str,
    folder_id: &str,
    page: &MessagePage,
    link: &DeltaLink,
    now: i64,
) -> Result<PageOutcome> {
    ensure_state(tx, mailbox_id, folder_id)?;
    let state = read_state(tx, mailbox_id, folder_id)?.unwrap_or_default();
    let mut out = PageOutcome::default();
    for m in &page.upserts {
        upsert_one(tx, mailbox_id, m, state.round_gen, now)?;
        out.upserted += 1;
    }
    for id in &page.removed {
        // Only if it is still filed under this folder: a message that moved on was
        // already stored under its new folder and must stay.
        out.removed += tx
            .prepare_cached(
                "DELETE FROM messages WHERE id_key = ?4 AND mailbox_id = ?1 AND id = ?2 \
                     AND folder_id = ?3",
            )?
            .execute(params![
                mailbox_id,
                id,
                folder_id,
                message_key(mailbox_id, id)
            ])?;
    }
    out.round_items = state.round_items + (page.upserts.len() + page.removed.len()) as i64;
    match link {
        DeltaLink::Next(url) => {
            tx.prepare_cached(
                "UPDATE sync_state SET next_link = ?3, round_items = ?4 \
                     WHERE mailbox_id = ?1 AND scope = ?2",
            )?
            .execute(params![mailbox_id, folder_id, url, out.round_items])?;
        }
        DeltaLink::Delta(url) => {
            if state.round_full {
                out.swept = tx
                    .prepare_cached(
                        "DELETE FROM messages WHERE mailbox_id = ?1 AND folder_id = ?2 \
                             AND seen_gen < ?3",
                    )?
                    .execute(params![mailbox_id, folder_id, state.round_gen])?;
            }
            tx.prepare_cached(
                "UPDATE sync_state SET delta_link = ?3, next_link = NULL, round_full = 0, \
                     round_items = 0, last_success_at = ?4, last_error = NULL, \
                     last_error_kind = NULL, last_error_at = NULL \
                     WHERE mailbox_id = ?1 AND scope = ?2",
            )?
            .execute(params![mailbox_id, folder_id, url, now])?;
        }
    }
    Ok(out)
}

mod folders;
mod messages;
mod moves;
mod states;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize, folder: &str) -> MessageRow {
        MessageRow {
            id: format!("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A{i:08}xyzxyzxyzxyzxyz="),
            folder_id: folder.into(),
            internet_message_id: Some(format!("<{i}.abc@contoso.example>")),
            conversation_id: Some("AAQkADconv".into()),
            subject: Some(format!("Angebot Nummer {i} für das Projekt")),
            from_name: Some("Kunde".into()),
            from_address: Some("kunde@extern.example".into()),
            recipients_json: Some(
                r#"{"to":[{"name":"Anna","address":"anna@contoso.example"}],"cc":[]}"#.into(),
            ),
            received_at: Some(1_700_000_000_000 + i as i64),
            sent_at: Some(1_700_000_000_000 + i as i64),
            is_read: Some(i % 3 == 0),
            is_draft: Some(false),
            has_attachments: Some(false),
            importance: Some("normal".into()),
            flag: Some("notFlagged".into()),
            categories_json: Some("[]".into()),
            body_preview: Some("x".repeat(200)),
            change_key: Some(format!("CQAAABYAAA{i}")),
        }
    }

    /// `cargo test --release --lib store_50_pages -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn store_50_pages() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        s.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO mailboxes (id, address, kind, main_user, created_at, updated_at) \
                 VALUES ('m', 'a@b.example', 'user', 'u', 0, 0)",
            )?
            .execute([])?;
            Ok(())
        })
        .unwrap();
        let mut times = vec![];
        for p in 0..50 {
            let page = MessagePage {
                upserts: (0..1000)
                    .map(|i| {
                        let mut r = row(p * 1000 + i, &format!("F{}", p % 12));
                        r.id = format!(
                            "AAkALg{:016x}{:016x}=",
                            rand::random::<u64>(),
                            rand::random::<u64>()
                        );
                        r
                    })
                    .collect(),
                removed: vec![],
            };
            let t = std::time::Instant::now();
            s.apply_message_page(
                "m",
                &format!("F{}", p % 12),
                &page,
                &DeltaLink::Next("n".into()),
                1,
            )
            .unwrap();
            times.push(t.elapsed().as_millis());
        }
        eprintln!("ms per page: {times:?}");
    }

    #[test]
    fn pages_apply_idempotently_and_removals_respect_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        s.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO mailboxes (id, address, kind, main_user, created_at, updated_at) \
                 VALUES ('m', 'a@b.example', 'user', 'u', 0, 0)",
            )?
            .execute([])?;
            Ok(())
        })
        .unwrap();
        s.begin_full_round("m", "F").unwrap();
        let page = MessagePage {
            upserts: (0..1000).map(|i| row(i, "F")).collect(),
            removed: vec![],
        };
        let t = std::time::Instant::now();
        for _ in 0..2 {
            s.apply_message_page("m", "F", &page, &DeltaLink::Next("n".into()), 1)
                .unwrap();
        }
        eprintln!("2 pages of 1000 rows: {:?}", t.elapsed());
        assert_eq!(
            s.message_count("m", Some("F")).unwrap(),
            1000,
            "no duplicates"
        );
        // A removal reported by another folder leaves the row alone.
        let gone = MessagePage {
            upserts: vec![],
            removed: vec![row(1, "F").id],
        };
        let out = s
            .apply_message_page("m", "G", &gone, &DeltaLink::Delta("d".into()), 2)
            .unwrap();
        assert_eq!(out.removed, 0);
        let out = s
            .apply_message_page("m", "F", &gone, &DeltaLink::Delta("d".into()), 2)
            .unwrap();
        assert_eq!((out.removed, out.swept), (1, 0));
        let st = s.sync_state("m", "F").unwrap().unwrap();
        assert_eq!(st.delta_link.as_deref(), Some("d"));
        assert!(st.next_link.is_none() && !st.round_full);
    }

    #[test]
    fn a_key_collision_never_touches_the_other_message() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let a = row(1, "F");
        s.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO mailboxes (id, address, kind, main_user, created_at, updated_at) \
                 VALUES ('m', 'a@b.example', 'user', 'u', 0, 0)",
            )?
            .execute([])?;
            // Another message that happens to share a's key.
            tx.prepare_cached(
                "INSERT INTO messages (mailbox_id, id, folder_id, subject, updated_at, id_key) \
                 VALUES ('m', 'other', 'F', 'unberuehrt', 0, ?1)",
            )?
            .execute([message_key("m", &a.id)])?;
            Ok(())
        })
        .unwrap();
        for _ in 0..2 {
            s.upsert_message("m", &a, 1).unwrap();
        }
        assert_eq!(s.message_count("m", Some("F")).unwrap(), 2);
        let other = || {
            s.read(|c| {
                Ok(
                    c.prepare_cached("SELECT subject, is_read FROM messages WHERE id = 'other'")?
                        .query_row([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?,
                )
            })
            .unwrap()
        };
        assert_eq!(other(), ("unberuehrt".to_owned(), false));
        let got = s.cached_message("m", &a.id).unwrap().unwrap();
        assert_eq!(got.meta.subject, a.subject);
        assert!(s.set_message_read("m", &a.id, true).unwrap().is_some());
        assert_eq!(other(), ("unberuehrt".to_owned(), false));
        assert!(s.remove_message("m", &a.id).unwrap().is_some());
        assert_eq!(other(), ("unberuehrt".to_owned(), false));
        // Stable: the stored keys depend on it.
        assert_eq!(message_key("m", "x"), message_key("m", "x"));
        assert_ne!(message_key("m", "x"), message_key("m2", "x"));
        assert_ne!(message_key("mx", ""), message_key("m", "x"));
    }
}
