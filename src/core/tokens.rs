//! The access tokens this client has decrypted, and its per-mailbox refresh locks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// In-memory state of this client: decrypted access tokens by mailbox (keyed by row
/// generation, so a change by another process is seen) and per-mailbox refresh locks.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (i64, String, i64)>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenCache {
    pub(crate) fn lock_for(&self, mailbox_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(mailbox_id.to_owned())
            .or_default()
            .clone()
    }

    pub(crate) fn get(&self, mailbox_id: &str, generation: i64) -> Option<(String, i64)> {
        let map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.get(mailbox_id)
            .filter(|(g, _, _)| *g == generation)
            .map(|(_, t, e)| (t.clone(), *e))
    }

    pub(crate) fn put(&self, mailbox_id: &str, generation: i64, token: &str, expires_at: i64) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                mailbox_id.to_owned(),
                (generation, token.to_owned(), expires_at),
            );
    }

    pub fn forget(&self, mailbox_id: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(mailbox_id);
    }
}
