//! Folder and message cache, delta state, move jobs (see [`crate::store::cache`]).

use super::text::{enc, enc_opt, opt_text, text};
use super::PgStore;
use crate::error::Result;
use crate::store::cache::columns::{FOLDER_COLS, MESSAGE_COLS, MOVE_COLS, STATE_COLS};
use crate::store::cache::{
    CachedMessage, DeltaLink, FolderCache, FolderPage, FolderRow, IdleRound, MessageCache,
    MessageOrder, MessagePage, MessageQuery, MessageRow, MoveJob, MoveJobStore, PageOutcome,
    PageWrite, SyncState, SyncStateStore,
};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};
use std::borrow::Cow;
use std::collections::HashSet;

/// A batch of messages with distinct ids as column arrays: `$4` ids ... `$21` change keys
/// (`$1` is the mailbox, `$2` the generation, `$3` the time).
macro_rules! batch {
    () => {
        "UNNEST($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
       $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::boolean[], \
       $15::boolean[], $16::boolean[], $17::text[], $18::text[], $19::text[], $20::text[], \
       $21::text[]) AS u(id, folder_id, internet_message_id, conversation_id, subject, \
       from_name, from_address, recipients_json, received_at, sent_at, is_read, is_draft, \
       has_attachments, importance, flag, categories_json, body_preview, change_key)"
    };
}

/// Update of stored messages from a `batch!()`: an absent (NULL) value keeps what is stored;
/// a new change key drops a cached body (it may be stale; SET expressions see the row as it
/// was, so `m.change_key` is the stored one).
const UPDATE_MESSAGES: &str = concat!(
    "UPDATE messages m SET \
       folder_id = u.folder_id, \
       internet_message_id = COALESCE(u.internet_message_id, m.internet_message_id), \
       conversation_id = COALESCE(u.conversation_id, m.conversation_id), \
       subject = COALESCE(u.subject, m.subject), \
       from_name = COALESCE(u.from_name, m.from_name), \
       from_address = COALESCE(u.from_address, m.from_address), \
       recipients_json = COALESCE(u.recipients_json, m.recipients_json), \
       received_at = COALESCE(u.received_at, m.received_at), \
       sent_at = COALESCE(u.sent_at, m.sent_at), \
       is_read = COALESCE(u.is_read, m.is_read), \
       is_draft = COALESCE(u.is_draft, m.is_draft), \
       has_attachments = COALESCE(u.has_attachments, m.has_attachments), \
       importance = COALESCE(u.importance, m.importance), \
       flag = COALESCE(u.flag, m.flag), \
       categories_json = COALESCE(u.categories_json, m.categories_json), \
       body_preview = COALESCE(u.body_preview, m.body_preview), \
       body = CASE WHEN u.change_key IS NOT NULL AND u.change_key IS DISTINCT FROM m.change_key \
              THEN NULL ELSE m.body END, \
       body_type = CASE WHEN u.change_key IS NOT NULL AND u.change_key IS DISTINCT FROM m.change_key \
              THEN NULL ELSE m.body_type END, \
       attachments_json = CASE WHEN u.change_key IS NOT NULL \
              AND u.change_key IS DISTINCT FROM m.change_key THEN NULL ELSE m.attachments_json END, \
       change_key = COALESCE(u.change_key, m.change_key), \
       seen_gen = $2, \
       updated_at = $3 \
     FROM ",
    batch!(),
    " WHERE m.mailbox_id = $1 AND m.id = u.id"
);

/// New messages from a `batch!()`, stored ones left alone; returns the ids inserted (inside
/// a serializable transaction, so of two writers of one new message the second fails and is
/// retried).
const INSERT_MESSAGES: &str = concat!(
    "INSERT INTO messages (mailbox_id, id, folder_id, internet_message_id, conversation_id, \
       subject, from_name, from_address, recipients_json, received_at, sent_at, is_read, \
       is_draft, has_attachments, importance, flag, categories_json, body_preview, change_key, \
       seen_gen, updated_at) \
     SELECT $1, u.id, u.folder_id, u.internet_message_id, u.conversation_id, u.subject, \
       u.from_name, u.from_address, u.recipients_json, COALESCE(u.received_at, 0), u.sent_at, \
       COALESCE(u.is_read, false), COALESCE(u.is_draft, false), \
       COALESCE(u.has_attachments, false), u.importance, u.flag, u.categories_json, \
       u.body_preview, u.change_key, $2, $3 FROM ",
    batch!(),
    " ON CONFLICT (mailbox_id, id) DO NOTHING RETURNING id"
);

fn folder_from(r: &Row) -> FolderRow {
    FolderRow {
        id: text(r, 0),
        parent_id: opt_text(r, 1),
        display_name: text(r, 2),
        well_known: opt_text(r, 3),
        unread_count: r.get(4),
        total_count: r.get(5),
        child_count: r.get(6),
        hidden: r.get(7),
    }
}

fn message_from(r: &Row) -> MessageRow {
    MessageRow {
        id: text(r, 0),
        folder_id: text(r, 1),
        internet_message_id: opt_text(r, 2),
        conversation_id: opt_text(r, 3),
        subject: opt_text(r, 4),
        from_name: opt_text(r, 5),
        from_address: opt_text(r, 6),
        recipients_json: opt_text(r, 7),
        received_at: r.get(8),
        sent_at: r.get(9),
        is_read: Some(r.get(10)),
        is_draft: Some(r.get(11)),
        has_attachments: Some(r.get(12)),
        importance: opt_text(r, 13),
        flag: opt_text(r, 14),
        categories_json: opt_text(r, 15),
        body_preview: opt_text(r, 16),
        change_key: opt_text(r, 17),
    }
}

fn state_from(r: &Row) -> SyncState {
    SyncState {
        scope: text(r, 0),
        delta_link: opt_text(r, 1),
        next_link: opt_text(r, 2),
        round_gen: r.get(3),
        round_full: r.get(4),
        round_items: r.get(5),
        last_success_at: r.get(6),
        last_error: opt_text(r, 7),
        last_error_kind: opt_text(r, 8),
        last_error_at: r.get(9),
    }
}

fn move_from(r: &Row) -> MoveJob {
    MoveJob {
        id: text(r, 0),
        from_id: text(r, 1),
        from_name: text(r, 2),
        to_id: text(r, 3),
        to_name: text(r, 4),
        state: text(r, 5),
        moved: r.get(6),
        total: r.get(7),
        last_error: opt_text(r, 8),
        created_at: r.get(9),
        updated_at: r.get(10),
    }
}

/// Bumps the mailbox's change counter (see migration 4, `cache_versions`): call it inside
/// every write transaction that changes what a cached list answer shows.
pub(crate) fn bump_version(c: &mut impl GenericClient, mailbox_id: &str) -> Result<()> {
    bump_scope(c, mailbox_id, "")
}

/// [`bump_version`] for a write that touches one folder's messages only: its own counter
/// (migration 8), so writers of different folders never update the same row.
fn bump_scope(c: &mut impl GenericClient, mailbox_id: &str, scope: &str) -> Result<()> {
    c.execute(
        "INSERT INTO cache_versions (mailbox_id, scope, version) VALUES ($1, $2, 1) \
         ON CONFLICT (mailbox_id, scope) DO UPDATE SET version = cache_versions.version + 1",
        &[&mailbox_id, &enc(scope)],
    )?;
    Ok(())
}

fn ensure_state(c: &mut impl GenericClient, mailbox_id: &str, scope: &str) -> Result<()> {
    c.execute(
        "INSERT INTO sync_state (mailbox_id, scope) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&mailbox_id, &enc(scope)],
    )?;
    Ok(())
}

fn read_state(
    c: &mut impl GenericClient,
    mailbox_id: &str,
    scope: &str,
) -> Result<Option<SyncState>> {
    Ok(c.query_opt(
        &format!("SELECT {STATE_COLS} FROM sync_state WHERE mailbox_id = $1 AND scope = $2"),
        &[&mailbox_id, &enc(scope)],
    )?
    .as_ref()
    .map(state_from))
}

/// One column of a message batch, in its stored form.
fn column<'a>(
    rows: &'a [MessageRow],
    f: impl Fn(&'a MessageRow) -> &'a Option<String>,
) -> Vec<Option<Cow<'a, str>>> {
    rows.iter().map(|m| enc_opt(f(m))).collect()
}

/// Stores messages in order, as many at once as the statements allow: a batch is inserted
/// with [`INSERT_MESSAGES`], which leaves stored ids alone and returns the ids it inserted;
/// the others are updated with [`UPDATE_MESSAGES`]. (No read of the table before: a scan's
/// SERIALIZABLE read lock would fail the page writes of other folders.)
fn upsert_messages(
    c: &mut impl GenericClient,
    mailbox_id: &str,
    rows: &[MessageRow],
    gen: i64,
    now: i64,
) -> Result<()> {
    let head: [&(dyn ToSql + Sync); 3] = [&mailbox_id, &gen, &now];
    for batch in batches(rows) {
        let inserted: HashSet<String> = c
            .query(INSERT_MESSAGES, &batch_values(&head, batch).as_params())?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let stored: Vec<MessageRow> = batch
            .iter()
            .filter(|m| !inserted.contains(enc(&m.id).as_ref()))
            .cloned()
            .collect();
        if !stored.is_empty() {
            c.execute(UPDATE_MESSAGES, &batch_values(&head, &stored).as_params())?;
        }
    }
    Ok(())
}

/// `rows` cut into runs of distinct ids: a run ends before an id it already holds, so a page
/// naming one message twice ends as if written row by row (the later one wins).
fn batches(rows: &[MessageRow]) -> Vec<&[MessageRow]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let mut ids = HashSet::new();
        let len = rows[start..]
            .iter()
            .take_while(|m| ids.insert(m.id.as_str()))
            .count();
        out.push(&rows[start..start + len]);
        start += len;
    }
    out
}

/// The column arrays of a batch, in their stored form.
struct BatchValues<'a> {
    head: &'a [&'a (dyn ToSql + Sync); 3],
    text: [Vec<Option<Cow<'a, str>>>; 11],
    ids: [Vec<Cow<'a, str>>; 2],
    times: [Vec<Option<i64>>; 2],
    flags: [Vec<Option<bool>>; 3],
}

fn batch_values<'a>(
    head: &'a [&'a (dyn ToSql + Sync); 3],
    rows: &'a [MessageRow],
) -> BatchValues<'a> {
    let t = |f: fn(&MessageRow) -> &Option<String>| column(rows, f);
    BatchValues {
        head,
        ids: [
            rows.iter().map(|m| enc(&m.id)).collect(),
            rows.iter().map(|m| enc(&m.folder_id)).collect(),
        ],
        text: [
            t(|m| &m.internet_message_id),
            t(|m| &m.conversation_id),
            t(|m| &m.subject),
            t(|m| &m.from_name),
            t(|m| &m.from_address),
            t(|m| &m.recipients_json),
            t(|m| &m.importance),
            t(|m| &m.flag),
            t(|m| &m.categories_json),
            t(|m| &m.body_preview),
            t(|m| &m.change_key),
        ],
        times: [
            rows.iter().map(|m| m.received_at).collect(),
            rows.iter().map(|m| m.sent_at).collect(),
        ],
        flags: [
            rows.iter().map(|m| m.is_read).collect(),
            rows.iter().map(|m| m.is_draft).collect(),
            rows.iter().map(|m| m.has_attachments).collect(),
        ],
    }
}

impl BatchValues<'_> {
    /// `$1` ... `$21` in the order of `batch!()`.
    fn as_params(&self) -> [&(dyn ToSql + Sync); 21] {
        let [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10] = &self.text;
        [
            self.head[0],
            self.head[1],
            self.head[2],
            &self.ids[0],
            &self.ids[1],
            t0,
            t1,
            t2,
            t3,
            t4,
            t5,
            &self.times[0],
            &self.times[1],
            &self.flags[0],
            &self.flags[1],
            &self.flags[2],
            t6,
            t7,
            t8,
            t9,
            t10,
        ]
    }
}

/// The generation a folder's rows are written with outside of a full round.
fn folder_gen(c: &mut impl GenericClient, mailbox_id: &str, folder_id: &str) -> Result<i64> {
    Ok(c.query_opt(
        "SELECT round_gen FROM sync_state WHERE mailbox_id = $1 AND scope = $2",
        &[&mailbox_id, &enc(folder_id)],
    )?
    .map(|r| r.get(0))
    .unwrap_or(0))
}

/// One message delta page of `folder_id` with its link, inside the caller's transaction.
fn apply_page(
    tx: &mut impl GenericClient,
    mailbox_id: &str,
    folder_id: &str,
    page: &MessagePage,
    link: &DeltaLink,
    now: i64,
) -> Result<PageOutcome> {
    ensure_state(tx, mailbox_id, folder_id)?;
    let state = read_state(tx, mailbox_id, folder_id)?.unwrap_or_default();
    let mut out = PageOutcome::default();
    upsert_messages(tx, mailbox_id, &page.upserts, state.round_gen, now)?;
    out.upserted = page.upserts.len();
    if !page.removed.is_empty() {
        // Only if it is still filed under this folder: a message that moved on was
        // already stored under its new folder and must stay.
        let ids: Vec<Cow<str>> = page.removed.iter().map(|id| enc(id)).collect();
        out.removed = tx.execute(
            "DELETE FROM messages WHERE mailbox_id = $1 AND id = ANY($2) AND folder_id = $3",
            &[&mailbox_id, &ids, &enc(folder_id)],
        )? as usize;
    }
    out.round_items = state.round_items + (page.upserts.len() + page.removed.len()) as i64;
    match link {
        DeltaLink::Next(url) => {
            tx.execute(
                "UPDATE sync_state SET next_link = $3, round_items = $4 \
                 WHERE mailbox_id = $1 AND scope = $2",
                &[&mailbox_id, &enc(folder_id), &enc(url), &out.round_items],
            )?;
        }
        DeltaLink::Delta(url) => {
            if state.round_full {
                out.swept = tx.execute(
                    "DELETE FROM messages WHERE mailbox_id = $1 AND folder_id = $2 \
                     AND seen_gen < $3",
                    &[&mailbox_id, &enc(folder_id), &state.round_gen],
                )? as usize;
            }
            tx.execute(
                "UPDATE sync_state SET delta_link = $3, next_link = NULL, round_full = false, \
                 round_items = 0, last_success_at = $4, last_error = NULL, \
                 last_error_kind = NULL, last_error_at = NULL \
                 WHERE mailbox_id = $1 AND scope = $2",
                &[&mailbox_id, &enc(folder_id), &enc(url), &now],
            )?;
        }
    }
    Ok(out)
}

impl FolderCache for PgStore {
    fn cached_folders(&self, mailbox_id: &str) -> Result<Vec<FolderRow>> {
        self.read(|c| {
            Ok(c.query(
                &format!("SELECT {FOLDER_COLS} FROM folders WHERE mailbox_id = $1 ORDER BY seq"),
                &[&mailbox_id],
            )?
            .iter()
            .map(folder_from)
            .collect())
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
                let keep: Vec<Cow<str>> = page.upserts.iter().map(|f| enc(&f.id)).collect();
                tx.execute(
                    "DELETE FROM folders WHERE mailbox_id = $1 AND NOT (id = ANY($2))",
                    &[&mailbox_id, &keep],
                )?;
            }
            if !page.upserts.is_empty() {
                let st = tx.prepare(
                    "INSERT INTO folders (mailbox_id, id, parent_id, display_name, well_known, \
                     unread_count, total_count, child_count, hidden, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (mailbox_id, id) DO UPDATE SET parent_id = excluded.parent_id, \
                     display_name = excluded.display_name, \
                     well_known = COALESCE(excluded.well_known, folders.well_known), \
                     unread_count = excluded.unread_count, total_count = excluded.total_count, \
                     child_count = excluded.child_count, hidden = excluded.hidden, \
                     updated_at = excluded.updated_at",
                )?;
                for f in &page.upserts {
                    tx.execute(
                        &st,
                        &[
                            &mailbox_id,
                            &enc(&f.id),
                            &enc_opt(&f.parent_id),
                            &enc(&f.display_name),
                            &enc_opt(&f.well_known),
                            &f.unread_count,
                            &f.total_count,
                            &f.child_count,
                            &f.hidden,
                            &now,
                        ],
                    )?;
                }
            }
            for id in &page.removed {
                // Its messages and delta state go with it.
                for sql in [
                    "DELETE FROM folders WHERE mailbox_id = $1 AND id = $2",
                    "DELETE FROM messages WHERE mailbox_id = $1 AND folder_id = $2",
                    "DELETE FROM sync_state WHERE mailbox_id = $1 AND scope = $2",
                ] {
                    tx.execute(sql, &[&mailbox_id, &enc(id)])?;
                }
            }
            ensure_state(tx, mailbox_id, "folders")?;
            tx.execute(
                "UPDATE sync_state SET delta_link = $3, next_link = NULL, round_full = false, \
                 last_success_at = $4, last_error = NULL, last_error_kind = NULL, last_error_at = NULL \
                 WHERE mailbox_id = $1 AND scope = $2",
                &[&mailbox_id, &"folders", &enc(delta_link), &now],
            )?;
            Ok(())
        })
    }

    fn set_folder_roles(&self, mailbox_id: &str, roles: &[(String, String)]) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            tx.execute(
                "UPDATE folders SET well_known = NULL WHERE mailbox_id = $1",
                &[&mailbox_id],
            )?;
            for (id, role) in roles {
                tx.execute(
                    "UPDATE folders SET well_known = $3 WHERE mailbox_id = $1 AND id = $2",
                    &[&mailbox_id, &enc(id), &enc(role)],
                )?;
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
            tx.execute(
                "UPDATE folders SET unread_count = GREATEST(0, unread_count + $3), \
                 total_count = GREATEST(0, total_count + $4) WHERE mailbox_id = $1 AND id = $2",
                &[&mailbox_id, &enc(folder_id), &unread, &total],
            )?;
            Ok(())
        })
    }
}

impl SyncStateStore for PgStore {
    fn sync_state(&self, mailbox_id: &str, scope: &str) -> Result<Option<SyncState>> {
        self.read(|c| read_state(c, mailbox_id, scope))
    }

    fn sync_states(&self, mailbox_id: &str) -> Result<Vec<SyncState>> {
        self.read(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {STATE_COLS} FROM sync_state WHERE mailbox_id = $1 \
                     ORDER BY scope COLLATE \"C\""
                ),
                &[&mailbox_id],
            )?
            .iter()
            .map(state_from)
            .collect())
        })
    }

    fn begin_full_round(&self, mailbox_id: &str, scope: &str) -> Result<SyncState> {
        self.write(|tx| {
            bump_scope(tx, mailbox_id, scope)?;
            ensure_state(tx, mailbox_id, scope)?;
            // Generations grow across the whole mailbox, so every row written before this
            // round (whichever folder it came from) is older than the round.
            let next: i64 = tx
                .query_one(
                    "SELECT GREATEST( \
                       (SELECT COALESCE(MAX(round_gen), 0) + 1 FROM sync_state WHERE mailbox_id = $1), \
                       (SELECT COALESCE(MAX(seen_gen), 0) + 1 FROM messages WHERE mailbox_id = $1))",
                    &[&mailbox_id],
                )?
                .get(0);
            tx.execute(
                "UPDATE sync_state SET delta_link = NULL, next_link = NULL, round_gen = $3, \
                 round_full = true, round_items = 0 WHERE mailbox_id = $1 AND scope = $2",
                &[&mailbox_id, &enc(scope), &next],
            )?;
            Ok(read_state(tx, mailbox_id, scope)?.unwrap_or_default())
        })
    }

    fn record_sync_success(&self, mailbox_id: &str, scope: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            bump_scope(tx, mailbox_id, scope)?;
            ensure_state(tx, mailbox_id, scope)?;
            tx.execute(
                "UPDATE sync_state SET last_success_at = $3, last_error = NULL, \
                 last_error_kind = NULL, last_error_at = NULL WHERE mailbox_id = $1 AND scope = $2",
                &[&mailbox_id, &enc(scope), &now],
            )?;
            Ok(())
        })
    }

    fn record_sync_error(
        &self,
        mailbox_id: &str,
        scope: &str,
        kind: &str,
        message: &str,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            ensure_state(tx, mailbox_id, scope)?;
            tx.execute(
                "UPDATE sync_state SET last_error = $3, last_error_kind = $4, last_error_at = $5 \
                 WHERE mailbox_id = $1 AND scope = $2",
                &[&mailbox_id, &enc(scope), &enc(message), &enc(kind), &now],
            )?;
            Ok(())
        })
    }

    fn record_idle_rounds(
        &self,
        mailbox_id: &str,
        rounds: &[IdleRound],
        now: i64,
    ) -> Result<usize> {
        self.write(|tx| {
            let mut n = 0;
            for r in rounds {
                n += tx.execute(
                    "UPDATE sync_state SET delta_link = $4, last_success_at = $5, \
                     last_error = NULL, last_error_kind = NULL, last_error_at = NULL \
                     WHERE mailbox_id = $1 AND scope = $2 AND delta_link = $3 \
                     AND next_link IS NULL",
                    &[
                        &mailbox_id,
                        &enc(&r.folder_id),
                        &enc(&r.probed),
                        &enc(&r.delta_link),
                        &now,
                    ],
                )? as usize;
            }
            if n > 0 {
                bump_version(tx, mailbox_id)?;
            }
            Ok(n)
        })
    }
}

impl MessageCache for PgStore {
    fn apply_message_page(
        &self,
        mailbox_id: &str,
        folder_id: &str,
        page: &MessagePage,
        link: &DeltaLink,
        now: i64,
    ) -> Result<PageOutcome> {
        self.write(|tx| {
            bump_scope(tx, mailbox_id, folder_id)?;
            apply_page(tx, mailbox_id, folder_id, page, link, now)
        })
    }

    fn apply_message_pages(&self, pages: &[PageWrite<'_>]) -> Result<Vec<Result<PageOutcome>>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(pages.len());
            // One bump per mailbox and batch (as SQLite), on the counter of the first folder
            // applied.
            let mut bumped: HashSet<&str> = HashSet::new();
            for p in pages {
                // Each page in its own savepoint: a page that cannot be applied (its folder
                // moved on meanwhile) is undone alone, the others of the batch still commit.
                let mut sp = tx.savepoint("page")?;
                let fresh_bump = !bumped.contains(p.mailbox_id);
                let applied = (|| {
                    let state = read_state(&mut sp, p.mailbox_id, p.folder_id)?.unwrap_or_default();
                    if state.resume_link() != p.fetched_from {
                        return Err(crate::error::Error::conflict(
                            "sync_state_moved",
                            "the folder's delta state changed while this page was fetched; \
                             the next round resumes from the stored link",
                        ));
                    }
                    if fresh_bump {
                        bump_scope(&mut sp, p.mailbox_id, p.folder_id)?;
                    }
                    apply_page(&mut sp, p.mailbox_id, p.folder_id, p.page, p.link, p.now)
                })();
                match &applied {
                    Ok(_) => {
                        sp.commit()?;
                        bumped.insert(p.mailbox_id);
                    }
                    // A database failure (not a refused page) ends the whole transaction,
                    // so a serialization failure is retried by `write`.
                    Err(e)
                        if e.kind() == super::RETRY_KIND || e.kind() == super::DUPLICATE_KIND =>
                    {
                        return Err(e.clone())
                    }
                    Err(_) => sp.rollback()?,
                }
                out.push(applied);
            }
            Ok(out)
        })
    }

    fn cache_version(&self, mailbox_id: &str) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(c.query_one(
                "SELECT sum(version)::bigint FROM cache_versions WHERE mailbox_id = $1",
                &[&mailbox_id],
            )?
            .get(0))
        })
    }

    fn list_cached_messages(&self, mailbox_id: &str, q: &MessageQuery) -> Result<Vec<MessageRow>> {
        let (cmp, dir) = match q.order {
            MessageOrder::NewestFirst => ("<", "DESC NULLS LAST"),
            MessageOrder::OldestFirst => (">", "ASC NULLS FIRST"),
        };
        let search = q
            .search
            .as_ref()
            .map(|s| enc(&s.to_lowercase()).into_owned());
        let folder_id = enc(&q.folder_id);
        let after = q.after.as_ref().map(|(at, id)| (*at, enc(id)));
        let limit = q.limit as i64;
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&mailbox_id, &folder_id];
        let mut sql =
            format!("SELECT {MESSAGE_COLS} FROM messages WHERE mailbox_id = $1 AND folder_id = $2");
        if q.unread_only {
            sql.push_str(" AND NOT is_read");
        }
        if let Some(s) = &search {
            args.push(s);
            let n = args.len();
            sql.push_str(&format!(
                " AND (strpos(lower(COALESCE(subject, '')), ${n}) > 0 \
                 OR strpos(lower(COALESCE(from_name, '')), ${n}) > 0 \
                 OR strpos(lower(COALESCE(from_address, '')), ${n}) > 0)"
            ));
        }
        if let Some((at, id)) = &after {
            args.push(at);
            args.push(id);
            let n = args.len();
            sql.push_str(&format!(
                " AND (received_at, id COLLATE \"C\") {cmp} (${}, ${n} COLLATE \"C\")",
                n - 1
            ));
        }
        args.push(&limit);
        sql.push_str(&format!(
            " ORDER BY received_at {dir}, id COLLATE \"C\" {} LIMIT ${}",
            &dir[..dir.find(' ').unwrap_or(dir.len())],
            args.len()
        ));
        self.read(|c| Ok(c.query(&sql, &args)?.iter().map(message_from).collect()))
    }

    fn cached_message(&self, mailbox_id: &str, id: &str) -> Result<Option<CachedMessage>> {
        self.read(|c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {MESSAGE_COLS}, body, body_type, attachments_json FROM messages \
                         WHERE mailbox_id = $1 AND id = $2"
                ),
                &[&mailbox_id, &enc(id)],
            )?
            .map(|r| CachedMessage {
                meta: message_from(&r),
                body: opt_text(&r, 18),
                body_type: opt_text(&r, 19),
                attachments_json: opt_text(&r, 20),
            }))
        })
    }

    fn upsert_message(&self, mailbox_id: &str, row: &MessageRow, now: i64) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            let gen = folder_gen(tx, mailbox_id, &row.folder_id)?;
            upsert_messages(tx, mailbox_id, std::slice::from_ref(row), gen, now)
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
            tx.execute(
                "UPDATE messages SET body = $3, body_type = $4, attachments_json = $5 \
                 WHERE mailbox_id = $1 AND id = $2",
                &[
                    &mailbox_id,
                    &enc(id),
                    &enc(body),
                    &enc(body_type),
                    &enc(attachments_json),
                ],
            )?;
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
                .query_opt(
                    "SELECT folder_id, is_read FROM messages WHERE mailbox_id = $1 AND id = $2",
                    &[&mailbox_id, &enc(id)],
                )?
                .map(|r| (text(&r, 0), r.get(1)));
            if before.is_some() {
                tx.execute(
                    "UPDATE messages SET is_read = $3 WHERE mailbox_id = $1 AND id = $2",
                    &[&mailbox_id, &enc(id), &read],
                )?;
            }
            Ok(before)
        })
    }

    fn remove_message(&self, mailbox_id: &str, id: &str) -> Result<Option<(String, bool)>> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            Ok(tx
                .query_opt(
                    "DELETE FROM messages WHERE mailbox_id = $1 AND id = $2 \
                     RETURNING folder_id, is_read",
                    &[&mailbox_id, &enc(id)],
                )?
                .map(|r| (text(&r, 0), r.get(1))))
        })
    }

    fn message_count(&self, mailbox_id: &str, folder_id: Option<&str>) -> Result<i64> {
        self.read(|c| {
            Ok(match folder_id {
                Some(f) => c.query_one(
                    "SELECT COUNT(*) FROM messages WHERE mailbox_id = $1 AND folder_id = $2",
                    &[&mailbox_id, &enc(f)],
                )?,
                None => c.query_one(
                    "SELECT COUNT(*) FROM messages WHERE mailbox_id = $1",
                    &[&mailbox_id],
                )?,
            }
            .get(0))
        })
    }

    fn clear_cache(&self, mailbox_id: &str) -> Result<()> {
        self.write(|tx| {
            bump_version(tx, mailbox_id)?;
            for sql in [
                "DELETE FROM messages WHERE mailbox_id = $1",
                "DELETE FROM folders WHERE mailbox_id = $1",
                "DELETE FROM sync_state WHERE mailbox_id = $1",
            ] {
                tx.execute(sql, &[&mailbox_id])?;
            }
            Ok(())
        })
    }
}

impl MoveJobStore for PgStore {
    fn open_move_job(&self, mailbox_id: &str, job: &MoveJob) -> Result<MoveJob> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO move_jobs (mailbox_id, id, from_id, from_name, to_id, to_name, \
                 state, moved, total, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'running', 0, $7, $8, $8) ON CONFLICT DO NOTHING",
                &[
                    &mailbox_id,
                    &enc(&job.id),
                    &enc(&job.from_id),
                    &enc(&job.from_name),
                    &enc(&job.to_id),
                    &enc(&job.to_name),
                    &job.total,
                    &job.created_at,
                ],
            )?;
            Ok(move_from(&tx.query_one(
                &format!(
                    "SELECT {MOVE_COLS} FROM move_jobs WHERE mailbox_id = $1 AND from_id = $2 \
                     AND to_id = $3 AND state = 'running'"
                ),
                &[&mailbox_id, &enc(&job.from_id), &enc(&job.to_id)],
            )?))
        })
    }

    fn move_job(&self, mailbox_id: &str, id: &str) -> Result<Option<MoveJob>> {
        self.read(|c| {
            Ok(c.query_opt(
                &format!("SELECT {MOVE_COLS} FROM move_jobs WHERE mailbox_id = $1 AND id = $2"),
                &[&mailbox_id, &enc(id)],
            )?
            .as_ref()
            .map(move_from))
        })
    }

    fn running_move_jobs(&self, mailbox_id: &str) -> Result<Vec<MoveJob>> {
        self.read(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {MOVE_COLS} FROM move_jobs WHERE mailbox_id = $1 AND state = 'running' \
                     ORDER BY created_at"
                ),
                &[&mailbox_id],
            )?
            .iter()
            .map(move_from)
            .collect())
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
            Ok(move_from(&tx.query_one(
                &format!(
                    "UPDATE move_jobs SET moved = moved + $3, total = COALESCE($4::bigint, total), \
                     state = COALESCE($5::text, state), last_error = $6, updated_at = $7 \
                     WHERE mailbox_id = $1 AND id = $2 RETURNING {MOVE_COLS}"
                ),
                &[
                    &mailbox_id,
                    &enc(id),
                    &moved,
                    &total,
                    &state.map(enc),
                    &error.map(enc),
                    &now,
                ],
            )?))
        })
    }
}
