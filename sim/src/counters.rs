//! Counters the test bench reads: requests per route, 429s, refreshes, codes, sends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

#[derive(Default)]
pub struct Counters {
    routes: Mutex<BTreeMap<String, u64>>,
    pub throttled: AtomicU64,
    pub refreshes: AtomicU64,
    pub codes_redeemed: AtomicU64,
    pub device_codes_redeemed: AtomicU64,
    pub client_credentials: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub messages_sent: AtomicU64,
    pub faults_injected: AtomicU64,
    pub connections_dropped: AtomicU64,
    pub requests: AtomicU64,
    /// Requests as they came over the wire: a `$batch` counts once here (and once per item,
    /// plus once for itself, in `requests`).
    pub http_requests: AtomicU64,
}

/// The counters at one moment (`GET /_sim/counters`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountersView<M> {
    pub requests: u64,
    pub http_requests: u64,
    /// `"GET /v1.0/me/mailFolders/{id}/messages"` -> count.
    pub requests_per_route: BTreeMap<String, u64>,
    /// The most requests in flight at once per mailbox (user id -> n).
    pub max_concurrency_per_mailbox: M,
    #[serde(rename = "throttled429")]
    pub throttled_429: u64,
    pub refreshes: u64,
    pub codes_redeemed: u64,
    pub device_codes_redeemed: u64,
    pub client_credentials: u64,
    pub tokens_issued: u64,
    pub messages_sent: u64,
    pub faults_injected: u64,
    pub connections_dropped: u64,
}

pub fn inc(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub fn route(&self, label: &str) {
        inc(&self.requests);
        let mut g = self.routes.lock().unwrap();
        if let Some(n) = g.get_mut(label) {
            *n += 1;
        } else {
            g.insert(label.to_string(), 1);
        }
    }

    /// The counters now, with `max_concurrency` (from the throttle) as
    /// `maxConcurrencyPerMailbox`.
    pub fn view<M>(&self, max_concurrency: M) -> CountersView<M> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountersView {
            requests: l(&self.requests),
            http_requests: l(&self.http_requests),
            requests_per_route: self.routes.lock().unwrap().clone(),
            max_concurrency_per_mailbox: max_concurrency,
            throttled_429: l(&self.throttled),
            refreshes: l(&self.refreshes),
            codes_redeemed: l(&self.codes_redeemed),
            device_codes_redeemed: l(&self.device_codes_redeemed),
            client_credentials: l(&self.client_credentials),
            tokens_issued: l(&self.tokens_issued),
            messages_sent: l(&self.messages_sent),
            faults_injected: l(&self.faults_injected),
            connections_dropped: l(&self.connections_dropped),
        }
    }

    /// [`Counters::view`] as JSON (for in-process tests that index it by name).
    pub fn snapshot(&self, max_concurrency: impl Serialize) -> serde_json::Value {
        serde_json::to_value(self.view(max_concurrency)).expect("counters serialize")
    }

    pub fn reset(&self) {
        self.routes.lock().unwrap().clear();
        for a in [
            &self.throttled,
            &self.refreshes,
            &self.codes_redeemed,
            &self.device_codes_redeemed,
            &self.client_credentials,
            &self.tokens_issued,
            &self.messages_sent,
            &self.faults_injected,
            &self.connections_dropped,
            &self.requests,
            &self.http_requests,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}
