//! Exchange Online / Graph limits: per-mailbox concurrency, requests per window, sends per
//! minute, body size and recipients. All values can be lowered for tests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    /// Concurrent requests per app and mailbox (Outlook: 4); more get 429 MailboxConcurrency.
    pub concurrency_per_mailbox: usize,
    /// Requests per app and mailbox in `window_secs` (Outlook: 10,000 in 10 minutes).
    pub requests_per_window: usize,
    pub window_secs: i64,
    /// Messages sent per mailbox per minute (Exchange Online: 30).
    pub sends_per_minute: usize,
    /// Request body limit in bytes (Graph: 4 MB); 413 above it.
    pub max_body_bytes: usize,
    /// Recipients (To + Cc + Bcc) per message (Exchange Online: 500).
    pub max_recipients: usize,
    /// Requests per JSON batch (Graph: 20).
    pub batch_max: usize,
    /// Largest `$top` (Graph: 1000).
    pub max_top: usize,
    /// Largest attachment added inline with `POST .../attachments` (3 MB; above it 413). The
    /// request body limit applies as well, so base64 can make a smaller file fail too.
    pub inline_max_bytes: u64,
    /// Upload-session attachments: smallest and largest size. Microsoft documents "3 MB to
    /// 150 MB" but refuses sessions only below 2 MiB (ErrorAttachmentSizeShouldNotBeLessThanMinimumSize;
    /// measured in microsoftgraph/msgraph-sdk-java#52), so files between 2 and 3 MB can take either path.
    pub upload_min_bytes: u64,
    pub upload_max_bytes: u64,
    /// Largest chunk of an upload session PUT (4 MB).
    pub upload_chunk_max: usize,
    /// Seconds put in Retry-After of 429 responses.
    pub retry_after_secs: u64,
    /// Delta tokens older than this answer 410 SyncStateNotFound (0: never expire).
    pub delta_token_lifetime_secs: i64,
    /// Default page size of delta responses (without `Prefer: odata.maxpagesize`).
    pub delta_page_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency_per_mailbox: 4,
            requests_per_window: 10_000,
            window_secs: 600,
            sends_per_minute: 30,
            max_body_bytes: 4 * 1024 * 1024,
            max_recipients: 500,
            batch_max: 20,
            max_top: 1000,
            inline_max_bytes: 3 * 1024 * 1024,
            upload_min_bytes: 2 * 1024 * 1024,
            upload_max_bytes: 150 * 1024 * 1024,
            upload_chunk_max: 4 * 1024 * 1024,
            retry_after_secs: 2,
            delta_token_lifetime_secs: 0,
            delta_page_size: 10,
        }
    }
}

#[derive(Default)]
struct ThrottleState {
    in_flight: HashMap<String, usize>,
    max_seen: HashMap<String, usize>,
    windows: HashMap<String, VecDeque<i64>>,
    sends: HashMap<String, VecDeque<i64>>,
}

/// Per-mailbox bookkeeping. Keys are `clientId|mailbox` for request limits and the mailbox
/// for send limits.
#[derive(Default, Clone)]
pub struct Throttle {
    inner: Arc<Mutex<ThrottleState>>,
}

pub enum Refused {
    Concurrency,
    /// Seconds until the oldest request in the window leaves it.
    Rate(u64),
}

/// Releases the in-flight slot when dropped.
pub struct Slot {
    throttle: Throttle,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.throttle.inner.lock().unwrap();
        if let Some(n) = st.in_flight.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Throttle {
    /// Takes an in-flight slot for (app, mailbox) and counts the request in the window.
    pub fn enter(
        &self,
        app: &str,
        mailbox: &str,
        now_ms: i64,
        limits: &Limits,
    ) -> Result<Slot, Refused> {
        let key = format!("{app}|{mailbox}");
        let mut st = self.inner.lock().unwrap();
        let cur = *st.in_flight.get(&key).unwrap_or(&0);
        if cur >= limits.concurrency_per_mailbox {
            return Err(Refused::Concurrency);
        }
        let w = st.windows.entry(key.clone()).or_default();
        let horizon = now_ms - limits.window_secs * 1000;
        while w.front().is_some_and(|t| *t <= horizon) {
            w.pop_front();
        }
        if w.len() >= limits.requests_per_window {
            let oldest = w.front().copied().unwrap_or(now_ms);
            let wait_ms = (oldest - horizon).max(0);
            return Err(Refused::Rate((wait_ms as u64).div_ceil(1000).max(1)));
        }
        w.push_back(now_ms);
        st.in_flight.insert(key.clone(), cur + 1);
        let m = st.max_seen.entry(mailbox.to_string()).or_default();
        *m = (*m).max(cur + 1);
        drop(st);
        Ok(Slot {
            throttle: self.clone(),
            key,
        })
    }

    /// Counts one sent message for `mailbox`; false when the per-minute limit is reached.
    pub fn try_send(&self, mailbox: &str, now_ms: i64, limits: &Limits) -> bool {
        let mut st = self.inner.lock().unwrap();
        let q = st.sends.entry(mailbox.to_string()).or_default();
        while q.front().is_some_and(|t| *t <= now_ms - 60_000) {
            q.pop_front();
        }
        if q.len() >= limits.sends_per_minute {
            return false;
        }
        q.push_back(now_ms);
        true
    }

    pub fn max_concurrency(&self) -> HashMap<String, usize> {
        self.inner.lock().unwrap().max_seen.clone()
    }

    pub fn reset(&self) {
        let mut st = self.inner.lock().unwrap();
        st.max_seen.clear();
        st.windows.clear();
        st.sends.clear();
    }
}
