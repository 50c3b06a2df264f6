//! Durable state: the [`Store`] trait, split by area, and its SQLite implementation.
//!
//! The core talks to the store only through these traits, so a PostgreSQL backend can
//! follow without touching the services. Each area (mailboxes, events, leases, and later
//! tokens, cache, outbox ...) has a trait of its own in its own file.
//!
//! Everything that must happen once per mailbox across threads *and processes* (a token
//! refresh, the sync of a folder, an outbox entry) is claimed through [`LeaseStore`], never
//! through in-process locks alone: PHP-FPM runs many processes on one store.

pub mod cache;
pub mod links;
pub mod outbox;
pub mod sqlite;
pub mod tokens;

use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cache::CacheStore;
pub use links::LinkStore;
pub use outbox::OutboxStore;
pub use sqlite::SqliteStore;
pub use tokens::{AuthStateRow, TakeState, TokenRow, TokenStore};

/// All areas together: what a backend must provide.
pub trait Store:
    MailboxStore
    + EventStore
    + LeaseStore
    + AuditStore
    + TokenStore
    + CacheStore
    + OutboxStore
    + LinkStore
    + crate::activity::ActivityStore
    + MetricsStore
    + Send
    + Sync
{
}
impl<T> Store for T where
    T: MailboxStore
        + EventStore
        + LeaseStore
        + AuditStore
        + TokenStore
        + CacheStore
        + OutboxStore
        + LinkStore
        + crate::activity::ActivityStore
        + MetricsStore
        + Send
        + Sync
{
}

// ---- mailboxes ------------------------------------------------------------------------

/// A mailbox as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MailboxRecord {
    pub id: String,
    pub address: String,
    /// `user`, `alias` or `shared`.
    pub kind: String,
    pub alias_of: Option<String>,
    pub users: Vec<String>,
    pub main_user: String,
    /// `not_authenticated`, `authenticated`, `reauth_required`.
    pub auth_state: String,
    pub settings: Value,
    /// The signed-in Microsoft account (no secrets), once authenticated.
    pub account: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub trait MailboxStore {
    /// Inserts a new mailbox; `already_exists` when the address is taken.
    fn insert_mailbox(&self, m: &MailboxRecord) -> Result<()>;
    /// Looks a mailbox up by id or (case-insensitive) address.
    fn find_mailbox(&self, id_or_address: &str) -> Result<Option<MailboxRecord>>;
    /// All mailboxes, or those the user is assigned to.
    fn list_mailboxes(&self, user: Option<&str>) -> Result<Vec<MailboxRecord>>;
    /// The records whose mail lives in the Microsoft mailbox `address`: the record of that
    /// address (unless it is an alias) and the aliases imported with `alias_of = address`
    /// (both case-insensitive). One query, whatever the number of mailboxes in the store.
    fn mailboxes_of_graph_mailbox(&self, address: &str) -> Result<Vec<MailboxRecord>>;
    /// Replaces users, main user, settings, auth state and account of an existing mailbox.
    fn update_mailbox(&self, m: &MailboxRecord) -> Result<()>;
    /// Deletes the mailbox with everything that hangs on it (users, tokens, cache, ...).
    fn delete_mailbox(&self, id: &str) -> Result<bool>;
}

// ---- events ---------------------------------------------------------------------------

/// An event waiting for the host.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Stable per cause: publishing the same id twice stores one event.
    pub id: String,
    pub kind: String,
    pub mailbox_id: Option<String>,
    pub payload: Value,
    pub created_at: i64,
    /// How often it was handed out before (0 the first time).
    pub deliveries: i64,
}

/// Which events a consumer takes (`o365_next_event_filtered`); empty parts match all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Event types; empty: every type.
    pub types: Vec<String>,
    /// Mailbox id; `None`: every mailbox (and events without one).
    pub mailbox_id: Option<String>,
}

pub trait EventStore {
    /// Stores an event unless one with the same id was ever stored (acked ones included).
    /// Returns whether it was new.
    fn push_event(&self, ev: &EventRecord) -> Result<bool>;
    /// Reserves the oldest event matching `filter` that is neither acked nor reserved by a
    /// live lease. Events that do not match stay where they are, for other consumers.
    fn claim_event(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        filter: &EventFilter,
    ) -> Result<Option<EventRecord>>;
    /// Marks an event acked (idempotent). `false` when no such event exists.
    fn ack_event(&self, id: &str, now: i64) -> Result<bool>;
    /// Frees the reservations of a closing client so its events go to the next taker.
    fn release_events(&self, owner: &str) -> Result<()>;
    /// Number of events not yet acked.
    fn pending_events(&self) -> Result<i64>;
    /// Forgets events acked before `before`. Returns how many.
    fn purge_acked_events(&self, before: i64) -> Result<usize>;
}

// ---- metrics --------------------------------------------------------------------------

/// Queue depths and freshness for `o365_metrics` (shared by every process on the store).
pub trait MetricsStore {
    /// Outbox entries per state.
    fn outbox_by_state(&self) -> Result<Vec<(String, i64)>>;
    /// Per mailbox: id, address, and the last time any of its sync scopes succeeded.
    fn last_sync_success(&self) -> Result<Vec<(String, String, Option<i64>)>>;
}

// ---- leases ---------------------------------------------------------------------------

pub trait LeaseStore {
    /// Takes the named lease for `owner` until `now + ttl_ms` if it is free, expired, or
    /// already held by `owner`. Returns whether `owner` holds it now.
    fn try_lease(&self, name: &str, owner: &str, now: i64, ttl_ms: i64) -> Result<bool>;
    /// Gives the lease up if `owner` holds it.
    fn release_lease(&self, name: &str, owner: &str) -> Result<()>;
    /// (schema version of the store, schema version this library needs): a read that shows
    /// the store is reachable and migrated (`o365_check_setup`).
    fn schema_version(&self) -> Result<(i64, i64)>;
}

// ---- audit ----------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEntry {
    pub at: i64,
    pub mailbox_id: Option<String>,
    pub user: Option<String>,
    pub action: String,
    /// `ok`, `denied`, `failed`.
    pub outcome: String,
    pub detail: Option<String>,
}

pub trait AuditStore {
    fn record_audit(&self, e: &AuditEntry) -> Result<()>;
    /// Newest first.
    fn list_audit(&self, mailbox_id: &str, limit: usize) -> Result<Vec<AuditEntry>>;
}
