//! The folder and message cache, delta state per folder, and folder-contents move jobs.
//!
//! Rules (design.md "data that must never be lost or doubled"):
//! - a delta page and the link that follows it are written in one transaction, so a crash
//!   resumes exactly after the last stored page;
//! - messages are keyed by (mailbox, Graph immutable id): a page applied twice, or a full
//!   resync after an expired delta token, never doubles a message;
//! - a removal names the folder it was reported for: a message that moved on (and was already
//!   stored under its new folder) is not deleted by the old folder's `@removed`.

use crate::error::Result;
use serde::Serialize;

/// A folder as cached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderRow {
    pub id: String,
    pub parent_id: Option<String>,
    pub display_name: String,
    pub well_known: Option<String>,
    pub unread_count: i64,
    pub total_count: i64,
    pub child_count: i64,
    pub hidden: bool,
}

/// A message's metadata as delivered by Graph. `None` leaves a stored value unchanged
/// (delta updates may carry only some properties).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageRow {
    pub id: String,
    pub folder_id: String,
    pub internet_message_id: Option<String>,
    pub conversation_id: Option<String>,
    pub subject: Option<String>,
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    /// `{"to": [...], "cc": [...], "bcc": [...], "reply_to": [...]}` as JSON text.
    pub recipients_json: Option<String>,
    pub received_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub is_read: Option<bool>,
    pub is_draft: Option<bool>,
    pub has_attachments: Option<bool>,
    pub importance: Option<String>,
    pub flag: Option<String>,
    pub categories_json: Option<String>,
    pub body_preview: Option<String>,
    pub change_key: Option<String>,
}

/// A cached message with its body when fetched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CachedMessage {
    pub meta: MessageRow,
    pub body: Option<String>,
    pub body_type: Option<String>,
    pub attachments_json: Option<String>,
}

/// Where a delta round goes on after a page.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaLink {
    /// More pages in this round (`@odata.nextLink`).
    Next(String),
    /// Round complete (`@odata.deltaLink`).
    Delta(String),
}

/// One delta page of messages for one folder.
#[derive(Debug, Clone, Default)]
pub struct MessagePage {
    pub upserts: Vec<MessageRow>,
    pub removed: Vec<String>,
}

/// One delta page of the folder tree.
#[derive(Debug, Clone, Default)]
pub struct FolderPage {
    pub upserts: Vec<FolderRow>,
    pub removed: Vec<String>,
}

/// Delta state and health of one scope (`folders` or a folder id).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncState {
    pub scope: String,
    pub delta_link: Option<String>,
    pub next_link: Option<String>,
    pub round_gen: i64,
    pub round_full: bool,
    pub round_items: i64,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_kind: Option<String>,
    pub last_error_at: Option<i64>,
}

impl SyncState {
    /// The URL to call next, if a round is under way or a previous one finished.
    pub fn resume_link(&self) -> Option<&str> {
        self.next_link.as_deref().or(self.delta_link.as_deref())
    }
}

/// What a stored message page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOutcome {
    pub upserted: usize,
    pub removed: usize,
    /// Rows of older rounds swept at the end of a full round.
    pub swept: usize,
    /// Items applied in this round so far (this page included).
    pub round_items: i64,
}

/// One fetched message page to store (see [`CacheStore::apply_message_pages`]).
#[derive(Debug, Clone)]
pub struct PageWrite<'a> {
    pub mailbox_id: &'a str,
    pub folder_id: &'a str,
    /// The link the page was fetched from, as stored (`None`: the first page of a full
    /// round). The page is applied only if the folder's stored resume link still equals it,
    /// so a page never lands after a page of its round that failed, nor after another
    /// process moved the folder on.
    pub fetched_from: Option<&'a str>,
    pub page: &'a MessagePage,
    pub link: &'a DeltaLink,
    pub now: i64,
}

/// A folder whose delta round came back empty (see [`CacheStore::record_idle_rounds`]).
#[derive(Debug, Clone)]
pub struct IdleRound {
    pub folder_id: String,
    /// The delta link the round was asked with.
    pub probed: String,
    /// The delta link it answered with.
    pub delta_link: String,
}

/// Listing order for cached messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// A page request over the cached messages of one folder (keyset paging).
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub folder_id: String,
    pub order: MessageOrder,
    pub unread_only: bool,
    /// Case-insensitive substring of subject, sender name or sender address.
    pub search: Option<String>,
    /// Exclusive keyset position `(received_at, id)` to continue after.
    pub after: Option<(i64, String)>,
    pub limit: usize,
}

/// A resumable folder-contents move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveJob {
    pub id: String,
    pub from_id: String,
    pub from_name: String,
    pub to_id: String,
    pub to_name: String,
    /// `running`, `done`, `failed`.
    pub state: String,
    pub moved: i64,
    pub total: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The cached folder tree of a mailbox.
pub trait FolderCache {
    /// The cached folder tree (empty before the first folder sync).
    fn cached_folders(&self, mailbox_id: &str) -> Result<Vec<FolderRow>>;

    /// Applies a folder delta round (folder trees are small: one call per round) with its
    /// delta link, in one transaction, and records the scope's success. `replace_all` (a full
    /// round) drops cached folders the round did not list; roles of kept folders stay.
    fn apply_folder_delta(
        &self,
        mailbox_id: &str,
        page: &FolderPage,
        delta_link: &str,
        replace_all: bool,
        now: i64,
    ) -> Result<()>;

    /// Sets the well-known role of folders (`(folder id, role)`), clearing it elsewhere.
    fn set_folder_roles(&self, mailbox_id: &str, roles: &[(String, String)]) -> Result<()>;

    /// Changes a folder's counts by the given amounts (local operations, until the next sync).
    fn adjust_folder_counts(
        &self,
        mailbox_id: &str,
        folder_id: &str,
        unread: i64,
        total: i64,
    ) -> Result<()>;
}

/// Delta state per sync scope (the folder tree, each folder's messages).
pub trait SyncStateStore {
    fn sync_state(&self, mailbox_id: &str, scope: &str) -> Result<Option<SyncState>>;

    fn sync_states(&self, mailbox_id: &str) -> Result<Vec<SyncState>>;

    /// Starts a full round for a scope: forgets its links and opens a new generation.
    fn begin_full_round(&self, mailbox_id: &str, scope: &str) -> Result<SyncState>;

    /// Records a round's success (clears the last error).
    fn record_sync_success(&self, mailbox_id: &str, scope: &str, now: i64) -> Result<()>;

    fn record_sync_error(
        &self,
        mailbox_id: &str,
        scope: &str,
        kind: &str,
        message: &str,
        now: i64,
    ) -> Result<()>;

    /// Records delta rounds that found nothing, in one transaction: each folder whose stored
    /// delta link is still `probed` (and no round is under way) takes the new link and a
    /// success time. Returns how many folders were updated.
    fn record_idle_rounds(&self, mailbox_id: &str, rounds: &[IdleRound], now: i64)
        -> Result<usize>;
}

/// The cached messages of a mailbox, written page by page with their delta links.
pub trait MessageCache {
    /// Applies one message delta page of `folder_id` with its link, in one transaction. The
    /// last page of a round (a delta link) also records success, and ends a full round by
    /// sweeping the folder's rows that the round did not see.
    fn apply_message_page(
        &self,
        mailbox_id: &str,
        folder_id: &str,
        page: &MessagePage,
        link: &DeltaLink,
        now: i64,
    ) -> Result<PageOutcome>;

    /// Stores several fetched pages (of any folders and mailboxes) in one transaction, each
    /// applied as by [`apply_message_page`](Self::apply_message_page) only if its folder's
    /// stored resume link is still `fetched_from`; one result per page, in order.
    fn apply_message_pages(&self, pages: &[PageWrite<'_>]) -> Result<Vec<Result<PageOutcome>>>;

    /// The mailbox's change counter (bumped with every change to its cache, record or users);
    /// `None` before the first change or after the mailbox was removed.
    fn cache_version(&self, mailbox_id: &str) -> Result<Option<i64>>;

    fn list_cached_messages(&self, mailbox_id: &str, q: &MessageQuery) -> Result<Vec<MessageRow>>;

    fn cached_message(&self, mailbox_id: &str, id: &str) -> Result<Option<CachedMessage>>;

    /// Inserts or updates one message (outside of a delta round; e.g. after a move).
    fn upsert_message(&self, mailbox_id: &str, row: &MessageRow, now: i64) -> Result<()>;

    fn store_message_body(
        &self,
        mailbox_id: &str,
        id: &str,
        body: &str,
        body_type: &str,
        attachments_json: &str,
    ) -> Result<()>;

    /// Sets the read flag; returns the folder and the previous flag when the message is cached.
    fn set_message_read(
        &self,
        mailbox_id: &str,
        id: &str,
        read: bool,
    ) -> Result<Option<(String, bool)>>;

    /// Removes a message; returns its folder and read flag when it was cached.
    fn remove_message(&self, mailbox_id: &str, id: &str) -> Result<Option<(String, bool)>>;

    fn message_count(&self, mailbox_id: &str, folder_id: Option<&str>) -> Result<i64>;

    /// Wipes the mailbox's folders, messages and delta state (not its move jobs).
    fn clear_cache(&self, mailbox_id: &str) -> Result<()>;
}

/// Folder-contents moves that run in the background and survive restarts.
pub trait MoveJobStore {
    /// The running job for (from, to), or a new one.
    fn open_move_job(&self, mailbox_id: &str, job: &MoveJob) -> Result<MoveJob>;

    fn move_job(&self, mailbox_id: &str, id: &str) -> Result<Option<MoveJob>>;

    fn running_move_jobs(&self, mailbox_id: &str) -> Result<Vec<MoveJob>>;

    /// Adds `moved` to the job's counter and sets total / state / error.
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
    ) -> Result<MoveJob>;
}

/// The message cache of a backend: every part of it.
pub trait CacheStore: FolderCache + SyncStateStore + MessageCache + MoveJobStore {}
impl<T: FolderCache + SyncStateStore + MessageCache + MoveJobStore> CacheStore for T {}

/// The column lists every backend reads the cache tables with (one schema, one order: the
/// row mappers of each backend read by position).
pub(crate) mod columns {
    pub(crate) const FOLDER_COLS: &str =
        "id, parent_id, display_name, well_known, unread_count, total_count, child_count, hidden";

    pub(crate) const MESSAGE_COLS: &str =
        "id, folder_id, internet_message_id, conversation_id, subject, \
         from_name, from_address, recipients_json, received_at, sent_at, is_read, is_draft, \
         has_attachments, importance, flag, categories_json, body_preview, change_key";

    pub(crate) const STATE_COLS: &str =
        "scope, delta_link, next_link, round_gen, round_full, round_items, \
         last_success_at, last_error, last_error_kind, last_error_at";

    pub(crate) const MOVE_COLS: &str =
        "id, from_id, from_name, to_id, to_name, state, moved, total, \
         last_error, created_at, updated_at";
}
