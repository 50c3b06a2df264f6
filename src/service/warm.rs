//! Warm answers: `o365_list_folders` and the first page of `o365_list_messages` are kept in
//! memory already serialized, and handed out again while the mailbox's change counter in
//! the store (one row, bumped in the same transaction as any change to the mailbox's cache,
//! record or users — by any process or host on the store) is unchanged and the answer is
//! still as fresh as the call asks. A warm call costs one indexed read of that row.

use super::mail_view::MessagePage;
use super::sync::{ListFolders, ListMessages};
use super::Client;
use crate::error::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Answers kept per client; beyond this many the cache starts over.
const MAX_ENTRIES: usize = 4096;

#[derive(Clone)]
struct Entry {
    mailbox_id: String,
    version: i64,
    /// The oldest sync time the answer rests on (checked against the call's `max_age_ms`).
    synced_at: i64,
    json: Arc<str>,
}

#[derive(Default)]
pub struct WarmCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl WarmCache {
    fn get(&self, key: &str) -> Option<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn put(&self, key: String, e: Entry) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, e);
    }
}

fn folders_key(req: &ListFolders) -> String {
    format!("f\0{}\0{}\0{}", req.mailbox, req.user, req.include_hidden)
}

/// Only first pages without a search are kept (what a CRM shows when a folder is opened).
fn messages_key(req: &ListMessages) -> Option<String> {
    if req.cursor.is_some() || req.search.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return None;
    }
    Some(format!(
        "m\0{}\0{}\0{}\0{:?}\0{:?}\0{}",
        req.mailbox, req.user, req.folder, req.limit, req.sort, req.unread_only
    ))
}

impl Client {
    fn warm_hit(&self, key: &str, max_age_ms: u64) -> Result<Option<String>> {
        let Some(e) = self.inner.warm.get(key) else {
            return Ok(None);
        };
        if self.now_ms() - e.synced_at > max_age_ms as i64 {
            return Ok(None);
        }
        if self.store().cache_version(&e.mailbox_id)? != Some(e.version) {
            return Ok(None);
        }
        Ok(Some(e.json.to_string()))
    }

    /// `o365_list_folders` without the runtime: the kept answer, else the cache's when it is
    /// fresh (kept for next time); `None` when the tree must be refreshed first.
    pub fn list_folders_warm(&self, req: &ListFolders) -> Result<Option<String>> {
        let key = folders_key(req);
        let max_age = req.max_age_ms.unwrap_or(self.config().sync.max_age_ms);
        if let Some(s) = self.warm_hit(&key, max_age)? {
            return Ok(Some(s));
        }
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "list_folders")?;
        // The counter is read before the rows: a change in between only makes the kept
        // answer look older than it is.
        let version = self.store().cache_version(&m.id)?;
        let Some(v) = self.list_folders_cached(req)? else {
            return Ok(None);
        };
        let json = serde_json::to_string(&v)?;
        let synced_at = self
            .store()
            .sync_state(&m.id, "folders")?
            .and_then(|s| s.last_success_at);
        if let (Some(version), Some(synced_at)) = (version, synced_at) {
            self.inner.warm.put(
                key,
                Entry {
                    mailbox_id: m.id,
                    version,
                    synced_at,
                    json: json.as_str().into(),
                },
            );
        }
        Ok(Some(json))
    }

    /// The kept first page of `o365_list_messages`, if it still holds.
    pub fn list_messages_warm(&self, req: &ListMessages) -> Result<Option<String>> {
        let Some(key) = messages_key(req) else {
            return Ok(None);
        };
        let max_age = req.max_age_ms.unwrap_or(self.config().sync.max_age_ms);
        self.warm_hit(&key, max_age)
    }

    /// Keeps a first page just answered (`version`: the counter read before the answer was
    /// built); pages answered from a stale cache are not kept.
    pub(crate) fn keep_messages_page(
        &self,
        req_key: Option<String>,
        mailbox_id: &str,
        version: Option<i64>,
        page: &MessagePage,
    ) -> Result<()> {
        let (Some(key), Some(version)) = (req_key, version) else {
            return Ok(());
        };
        if page.stale.is_some() {
            return Ok(());
        }
        let folder = page.folder.id.as_str();
        let tree = self.store().sync_state(mailbox_id, "folders")?;
        let state = self.store().sync_state(mailbox_id, folder)?;
        let tree_at = tree.and_then(|s| s.last_success_at);
        let folder_at = state
            .filter(|s| s.next_link.is_none())
            .and_then(|s| s.last_success_at);
        if let (Some(a), Some(b)) = (tree_at, folder_at) {
            self.inner.warm.put(
                key,
                Entry {
                    mailbox_id: mailbox_id.to_owned(),
                    version,
                    synced_at: a.min(b),
                    json: serde_json::to_string(page)?.into(),
                },
            );
        }
        Ok(())
    }

    pub(crate) fn messages_warm_key(req: &ListMessages) -> Option<String> {
        messages_key(req)
    }
}
