//! The durable event queue: stored with the change that causes them, handed out under a
//! reservation, kept until acked (acked ones stay as tombstones so an id is never reused).

use crate::error::Result;
use serde_json::Value;

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
    /// Registers `wake`, called when another process (on any host) may have pushed an
    /// event, for as long as the store lives. Backends that cannot tell (SQLite) do nothing:
    /// waiters then poll (`events.poll_ms`).
    fn watch(&self, wake: Wake) {
        let _ = wake;
    }
}

/// A wake-up for waiting consumers (see [`EventStore::watch`]).
pub type Wake = std::sync::Arc<dyn Fn() + Send + Sync>;
