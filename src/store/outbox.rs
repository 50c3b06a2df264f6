//! The outbox: one durable row per (mailbox, idempotency key), written before any send
//! request leaves; the pacing slots; and the record of every mail the library sent.
//!
//! States: `queued` (nothing confirmed at Microsoft) → `sending` (the send request may have
//! reached Microsoft: before trying again, look for our Message-ID) → `sent` | `failed`.

use crate::error::Result;
use serde_json::Value;

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub send_id: String,
    pub mailbox_id: String,
    pub idempotency_key: String,
    /// `queued`, `sending`, `sent`, `failed`.
    pub state: String,
    /// Our own Message-ID (`<...@...>`), generated before any request.
    pub internet_message_id: String,
    /// The prepared message (macros expanded, attachments spooled): what the outbox sends.
    pub request: Value,
    /// SHA-256 of the caller's request, to refuse a reused key with other content.
    pub request_hash: String,
    /// Serial-mail fingerprint (subject + body before macro expansion).
    pub fingerprint: String,
    /// Hash of the sorted recipient set.
    pub recipients_hash: String,
    /// The Graph id of our draft, once known.
    pub draft_id: Option<String>,
    /// All attachments are on the draft: it may be sent as is.
    pub draft_ready: bool,
    /// The error document of a failed send.
    pub error: Option<Value>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// The caller got `queued`: report the outcome with a `send_completed` / `send_failed` event.
    pub notify: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    /// When the last send request left (ms); the submission may still be pending at
    /// Microsoft while the message waits in Drafts.
    pub submitted_at: Option<i64>,
    /// The From address of the sent copy, when the library checked it (alias sends).
    pub sent_from: Option<String>,
}

/// What inserting an outbox row did.
#[derive(Debug, Clone, PartialEq)]
pub enum Insert {
    /// The row is new.
    Inserted,
    /// A row with this idempotency key exists (the first one wins).
    Existing(Box<OutboxRecord>),
    /// The same content went to `copies` other recipient sets within the serial-mail window.
    Serial { copies: i64 },
}

/// Serial-mail rule applied atomically with the insert.
#[derive(Debug, Clone, Copy)]
pub struct SerialRule {
    /// Rows older than this (ms since epoch) do not count.
    pub since: i64,
    /// How many other recipient sets may have had the same content in the window.
    pub max_other_copies: i64,
}

/// Changes to a row after a step of the state machine.
#[derive(Debug, Clone, Default)]
pub struct OutboxUpdate {
    pub state: Option<String>,
    pub draft_id: Option<Option<String>>,
    pub draft_ready: Option<bool>,
    pub error: Option<Value>,
    pub next_attempt_at: Option<i64>,
    pub add_attempt: bool,
    pub notify: Option<bool>,
    pub submitted_at: Option<Option<i64>>,
    pub sent_from: Option<String>,
}

pub trait OutboxStore {
    /// Inserts a row unless one exists for (mailbox, key), and unless the serial rule says
    /// the content is a mass mailing. One transaction, so concurrent callers agree.
    fn insert_outbox(&self, r: &OutboxRecord, serial: Option<SerialRule>) -> Result<Insert>;
    /// Puts a `failed` row back to work with a freshly prepared request (the same mail sent
    /// again under the same key). False when the row is no longer `failed` (another caller
    /// retried it first).
    fn retry_outbox(&self, r: &OutboxRecord) -> Result<bool>;
    fn get_outbox(&self, send_id: &str) -> Result<Option<OutboxRecord>>;
    fn find_outbox(&self, mailbox_id: &str, key: &str) -> Result<Option<OutboxRecord>>;
    fn update_outbox(&self, send_id: &str, u: &OutboxUpdate, now: i64) -> Result<()>;
    /// Marks a row sent and records it in the sent log, in one transaction.
    fn mark_sent(&self, send_id: &str, now: i64) -> Result<()>;
    /// Rows in `queued` or `sending` whose next attempt is due, oldest first.
    fn due_outbox(&self, now: i64, limit: usize) -> Result<Vec<OutboxRecord>>;
    /// Rows not yet finished (any mailbox).
    fn unfinished_outbox(&self) -> Result<i64>;
    /// Reserves a send slot for the mailbox if fewer than `max` were taken since `since`.
    /// Returns `None` when reserved, else the time (ms) the oldest slot in the window was
    /// taken (the caller waits until it leaves the window).
    fn reserve_send_slot(
        &self,
        mailbox_id: &str,
        now: i64,
        since: i64,
        max: i64,
    ) -> Result<Option<i64>>;
    /// Gives back the slot taken at `at` (the send was not carried out).
    fn release_send_slot(&self, mailbox_id: &str, at: i64) -> Result<()>;
    /// Whether the library sent the mail with this internet message id from this mailbox
    /// (read by the Sent Items watcher: such mail is not booked as external).
    fn sent_by_library(&self, mailbox_id: &str, internet_message_id: &str) -> Result<bool>;
}
