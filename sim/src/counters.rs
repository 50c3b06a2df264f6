//! Counters the test bench reads: requests per route, 429s, refreshes, codes, sends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

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

    pub fn snapshot(&self, max_concurrency: impl serde::Serialize) -> Value {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "requests": l(&self.requests),
            "httpRequests": l(&self.http_requests),
            "requestsPerRoute": *self.routes.lock().unwrap(),
            "maxConcurrencyPerMailbox": max_concurrency,
            "throttled429": l(&self.throttled),
            "refreshes": l(&self.refreshes),
            "codesRedeemed": l(&self.codes_redeemed),
            "deviceCodesRedeemed": l(&self.device_codes_redeemed),
            "clientCredentials": l(&self.client_credentials),
            "tokensIssued": l(&self.tokens_issued),
            "messagesSent": l(&self.messages_sent),
            "faultsInjected": l(&self.faults_injected),
            "connectionsDropped": l(&self.connections_dropped),
        })
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
