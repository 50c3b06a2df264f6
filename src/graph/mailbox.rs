//! A Graph handle bound to one mailbox: its root path, its limiter, its tokens.

use super::{
    Graph, MailboxLimiter, Priority, Replay, Request, Response, ThrottleBook, TokenSource,
};
use crate::error::{Error, Fault, Result};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone)]
pub struct MailboxGraph {
    graph: Arc<Graph>,
    limiter: Arc<MailboxLimiter>,
    root: String,
    tokens: Arc<dyn TokenSource>,
    /// The mailbox's key in the throttle book (its id) and the book.
    key: String,
    book: Arc<dyn ThrottleBook>,
}

impl std::fmt::Debug for MailboxGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxGraph")
            .field("root", &self.root)
            .finish()
    }
}

impl MailboxGraph {
    pub fn new(
        graph: Arc<Graph>,
        limiter: Arc<MailboxLimiter>,
        root: String,
        tokens: Arc<dyn TokenSource>,
        key: String,
        book: Arc<dyn ThrottleBook>,
    ) -> MailboxGraph {
        MailboxGraph {
            graph,
            limiter,
            root,
            tokens,
            key,
            book,
        }
    }

    /// `/me` for the signed-in account's own mailbox (and its aliases), `/users/{address}`
    /// for a shared mailbox.
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn limiter(&self) -> &MailboxLimiter {
        &self.limiter
    }

    /// Full URL of a path below the mailbox root.
    pub fn url(&self, path: &str) -> String {
        self.graph.resolve(&self.root, path)
    }

    pub async fn call(&self, req: Request) -> Result<Response> {
        self.wait_out_window().await?;
        let r = self
            .graph
            .call(&self.limiter, &*self.tokens, &self.root, req)
            .await;
        if let Err(Error::Throttled(f)) = &r {
            let ms = f.details.get("retry_after_ms").and_then(Value::as_u64);
            if let Some(ms) = ms.filter(|ms| *ms as u128 > self.graph.longest_wait().as_millis()) {
                let until = self.book.now_ms() + ms as i64;
                self.limiter.extend_window(until);
                self.book.record_window(&self.key, until);
                tracing::warn!(mailbox = %self.key, retry_after_ms = ms, "graph: mailbox throttled");
            }
        }
        r
    }

    /// When Microsoft throttled this mailbox for longer than a call may wait (known from
    /// this process or from the store, i.e. from any process), the end of that window (ms).
    pub fn throttled_until(&self) -> Option<i64> {
        let stored = self.book.window_until(&self.key).unwrap_or(0);
        self.limiter.extend_window(stored);
        let until = self.limiter.window_until_ms();
        (until > self.book.now_ms()).then_some(until)
    }

    /// Sends nothing while a long throttling window lasts: answers `O365_THROTTLED` with
    /// `retry_after_ms` at once, or waits out the last short stretch of the window.
    async fn wait_out_window(&self) -> Result<()> {
        let Some(until) = self.throttled_until() else {
            return Ok(());
        };
        let left = (until - self.book.now_ms()).max(0) as u64;
        if left as u128 <= self.graph.longest_wait().as_millis() {
            tokio::time::sleep(std::time::Duration::from_millis(left)).await;
            return Ok(());
        }
        Err(throttled_until(until, left))
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, priority: Priority) -> Result<T> {
        self.call(Request::get(path).priority(priority))
            .await?
            .json()
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: Value,
        priority: Priority,
        replay: Replay,
    ) -> Result<Response> {
        self.call(
            Request::new(Method::POST, path)
                .json(body)
                .priority(priority)
                .replay(replay),
        )
        .await
    }

    pub async fn patch_json(
        &self,
        path: &str,
        body: Value,
        priority: Priority,
    ) -> Result<Response> {
        self.call(
            Request::new(Method::PATCH, path)
                .json(body)
                .priority(priority),
        )
        .await
    }

    pub async fn delete(&self, path: &str, priority: Priority) -> Result<Response> {
        self.call(Request::new(Method::DELETE, path).priority(priority))
            .await
    }
}

/// The error of a call refused because the mailbox's throttling window lasts.
pub fn throttled_until(until_ms: i64, left_ms: u64) -> Error {
    Error::Throttled(Fault::new(
        "throttled",
        format!(
            "Microsoft throttled this mailbox; no request is sent to it before {}",
            crate::clock::rfc3339(until_ms)
        ),
    ))
    .with_hint("Microsoft limits requests per mailbox; try again after retry_after_ms")
    .with_detail("retry_after_ms", left_ms)
    .with_detail("throttled_until", crate::clock::rfc3339(until_ms))
}
