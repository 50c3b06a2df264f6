//! Folders, messages and sync: the cached folder tree with counts, per-folder message delta
//! rounds with durable links, the background scheduler and folder-contents moves.
//!
//! - **Folders**: one `mailFolders/delta` round at a time (trees are small), applied with its
//!   delta link in one transaction. Roles come from Graph's well-known folder names, asked
//!   for by name in one `$batch`, never from display names.
//! - **Messages**: `mailFolders/{id}/messages/delta` per folder, pages of up to 1,000 streamed
//!   into the store (page and next/delta link in one transaction), up to four folders at once
//!   (the Graph client keeps at most four requests in flight per mailbox). An expired token
//!   (410 `SyncStateNotFound`) restarts that folder with a full round that ends by sweeping
//!   what the round did not see: no duplicates, no leftovers.
//! - A folder is synced by one task at a time across processes: a lease in the store.

pub mod api;
pub mod engine;
pub mod model;
pub mod moves;
pub mod scheduler;

pub use api::MailApi;
pub use engine::{SyncOptions, SyncReport};

#[cfg(test)]
mod tests;
