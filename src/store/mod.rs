//! Durable state: the [`Store`] trait, split by area, and its SQLite implementation.
//!
//! The core talks to the store only through these traits, so a PostgreSQL backend can
//! follow without touching the services. Each area (mailboxes, events, leases, and later
//! tokens, cache, outbox ...) has a trait of its own in its own file.
//!
//! Everything that must happen once per mailbox across threads *and processes* (a token
//! refresh, the sync of a folder, an outbox entry) is claimed through [`LeaseStore`], never
//! through in-process locks alone: PHP-FPM runs many processes on one store.

pub mod activity;
pub mod audit;
pub mod cache;
pub mod events;
pub mod leases;
pub mod links;
pub mod mailboxes;
pub mod metrics;
pub mod outbox;
pub mod postgres;
pub mod sqlite;
pub mod tokens;

pub use activity::ActivityStore;
pub use audit::{AuditEntry, AuditStore};
pub use cache::{CacheStore, FolderCache, MessageCache, MoveJobStore, SyncStateStore};
pub use events::{EventFilter, EventRecord, EventStore};
pub use leases::LeaseStore;
pub use links::LinkStore;
pub use mailboxes::{MailboxRecord, MailboxStore};
pub use metrics::MetricsStore;
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
    + ActivityStore
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
        + ActivityStore
        + MetricsStore
        + Send
        + Sync
{
}

use crate::config::Config;
use crate::error::{Error, Result};
use std::sync::Arc;

/// The backends, by the scheme of the `store` URL. A plain path (no `scheme://`) is a
/// SQLite file. A second backend is a folder beside `sqlite/` and one row here.
const BACKENDS: &[(&str, Opener)] = &[
    ("sqlite", |c| {
        Ok(Arc::new(SqliteStore::open(&c.store_path())?))
    }),
    ("postgres", |c| {
        Ok(Arc::new(postgres::PgStore::open_as(
            &c.store,
            &c.host_id(),
        )?))
    }),
    ("postgresql", |c| {
        Ok(Arc::new(postgres::PgStore::open_as(
            &c.store,
            &c.host_id(),
        )?))
    }),
];

/// Opens one backend from the config.
type Opener = fn(&Config) -> Result<Arc<dyn Store>>;

/// Opens (creating and migrating as needed) the store the config's `store` URL names.
pub fn open(config: &Config) -> Result<Arc<dyn Store>> {
    let scheme = match config.store.split_once("://") {
        Some((scheme, _)) => scheme.to_ascii_lowercase(),
        None => "sqlite".to_owned(),
    };
    match BACKENDS.iter().find(|(s, _)| *s == scheme) {
        Some((_, open)) => open(config),
        None => Err(Error::invalid_field(
            "store",
            format!(
                "unsupported store URL scheme '{scheme}://': supported are {} (a plain path is a SQLite file)",
                BACKENDS
                    .iter()
                    .map(|(s, _)| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
