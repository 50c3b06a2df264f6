//! A Graph handle bound to one mailbox: its root path, its limiter, its tokens.

use super::{Graph, MailboxLimiter, Priority, Replay, Request, Response, TokenSource};
use crate::error::Result;
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
    ) -> MailboxGraph {
        MailboxGraph {
            graph,
            limiter,
            root,
            tokens,
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
        self.graph
            .call(&self.limiter, &*self.tokens, &self.root, req)
            .await
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
