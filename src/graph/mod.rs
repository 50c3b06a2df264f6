//! The Microsoft Graph HTTP client core, shared by sync, send and sign-in.
//!
//! - One connection pool per client (HTTP/2 where offered, gzip), the extra CA from config.
//! - Per mailbox: at most [`MAX_IN_FLIGHT`] requests at once, interactive calls ahead of
//!   background work (background may use all but one slot), a 10,000-per-10-minutes budget,
//!   and a shared pause after a 429 so one throttled request does not become a retry storm.
//! - Bounded retries with jitter on 429/503/504 and connection failures, honouring
//!   `Retry-After`. A request marked [`Replay::NotAfterSend`] is never re-sent once it may
//!   have reached the server: the caller gets `outcome_unknown` and decides (the outbox looks
//!   for its Message-ID first).
//! - Graph error bodies become [`Error`]s with Microsoft's `code` and `request-id` in details.

mod limits;
mod mailbox;
pub mod wire;

pub use limits::{MailboxLimiter, MAX_IN_FLIGHT};
pub use mailbox::{throttled_until, MailboxGraph};

use crate::config::{Config, ProxyConfig};
use crate::error::{Error, Fault, Result};
use crate::telemetry::{GraphAttempt, Telemetry};
use bytes::Bytes;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Who is waiting for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A person in the CRM is waiting (list folders, open a message, send).
    Interactive,
    /// Sync, scheduler, watchers.
    Background,
}

/// Whether a request may be sent again after it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Reads and idempotent writes: re-send after a lost answer.
    Safe,
    /// Not idempotent (sending mail): re-send only when the server certainly did not act
    /// (a 429/503/504 answer, or the connection was never made).
    NotAfterSend,
}

#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Bytes { content_type: String, data: Bytes },
}

/// One Graph request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// A path below the mailbox root (`/mailFolders/inbox`), a path below the Graph base
    /// starting with `//` (`//me`), or an absolute URL (`@odata.nextLink`, upload session).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
    pub priority: Priority,
    pub replay: Replay,
    /// Send the bearer token (false for upload-session URLs, which carry their own auth).
    pub auth: bool,
    /// How many of the mailbox's concurrent requests this one occupies at the server
    /// (a `$batch`: one per item, up to four).
    pub slots: u32,
    /// Work waiting behind this request (see [`limits::MailboxLimiter::acquire_slots`]).
    pub rank: u64,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            priority: Priority::Interactive,
            replay: Replay::Safe,
            auth: true,
            slots: 1,
            rank: 0,
        }
    }

    pub fn get(url: impl Into<String>) -> Request {
        Request::new(Method::GET, url)
    }

    pub fn json(mut self, body: Value) -> Request {
        self.body = Some(Body::Json(body));
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn priority(mut self, p: Priority) -> Request {
        self.priority = p;
        self
    }

    pub fn replay(mut self, r: Replay) -> Request {
        self.replay = r;
        self
    }

    /// A `$batch` of `items` requests: Outlook runs up to four of them at once, each
    /// counting against the mailbox's concurrency.
    pub fn batch_of(mut self, items: usize) -> Request {
        self.slots = items.clamp(1, MAX_IN_FLIGHT) as u32;
        self
    }

    /// How much work waits behind this request: among waiting background requests of a
    /// mailbox, higher ranks go first.
    pub fn rank(mut self, rank: u64) -> Request {
        self.rank = rank;
        self
    }

    pub fn without_auth(mut self) -> Request {
        self.auth = false;
        self
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Remote(Fault::new(
                "unexpected_response",
                format!("Graph answered with JSON this library does not understand: {e}"),
            ))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Retry settings (config `graph`).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// Supplies bearer tokens for one mailbox (implemented by the auth module).
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    /// A valid access token; `rejected` is a token Graph just refused (401).
    async fn access_token(&self, rejected: Option<&str>) -> Result<String>;

    /// The mailbox id the tokens belong to (for logs), if any.
    fn mailbox(&self) -> Option<&str> {
        None
    }
}

/// Where a long throttling window of a mailbox is kept so that every process on the store
/// learns it (implemented on the store by the service layer). Times are the library's clock
/// (ms since the epoch, `debug.clock_offset_ms` applied).
pub trait ThrottleBook: Send + Sync {
    fn now_ms(&self) -> i64;
    /// The end of the mailbox's window, if one was recorded.
    fn window_until(&self, mailbox_key: &str) -> Option<i64>;
    /// Records (or extends) the window.
    fn record_window(&self, mailbox_key: &str, until_ms: i64);
}

/// The process's Graph client for one [`crate::Client`].
pub struct Graph {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    request_timeout: Duration,
    limiters: Mutex<HashMap<String, Arc<MailboxLimiter>>>,
    budget_per_10min: u32,
    /// The configured proxy (without credentials), named in network errors.
    proxy: Option<String>,
    /// The longest a C call may block (`timeouts.call_ms`): a 429 whose `Retry-After` does
    /// not fit is answered at once instead of waited out.
    call_budget: Duration,
    telemetry: Arc<Telemetry>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("base", &self.base).finish()
    }
}

/// Builds the HTTP client every part of the library uses (Graph and sign-in).
pub fn http_client(cfg: &Config) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_millis(cfg.timeouts.connect_ms))
        .timeout(Duration::from_millis(cfg.timeouts.request_ms))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("o365/", env!("CARGO_PKG_VERSION")))
        .gzip(true)
        .redirect(reqwest::redirect::Policy::none());
    match &cfg.proxy {
        None => {} // reqwest follows HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY
        Some(ProxyConfig::Direct) => b = b.no_proxy(),
        Some(ProxyConfig::Url { url, no_proxy }) => {
            let p = reqwest::Proxy::all(url.as_str())
                .map_err(|_| {
                    Error::invalid_field(
                        "proxy.url",
                        format!(
                            "unusable proxy '{}'",
                            cfg.proxy
                                .as_ref()
                                .and_then(|p| p.display_url())
                                .unwrap_or_default()
                        ),
                    )
                })?
                .no_proxy(no_proxy.as_deref().and_then(reqwest::NoProxy::from_string));
            b = b.proxy(p);
        }
    }
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca).map_err(|e| {
            Error::invalid_field(
                "ca_file",
                format!("cannot read CA file '{}': {e}", ca.display()),
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::invalid_field(
                "ca_file",
                format!("CA file '{}' is not PEM: {e}", ca.display()),
            )
        })?;
        if certs.is_empty() {
            return Err(Error::invalid_field(
                "ca_file",
                format!("CA file '{}' holds no certificate", ca.display()),
            ));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))
}

impl Graph {
    pub fn new(cfg: &Config, http: reqwest::Client) -> Graph {
        Graph {
            http,
            base: cfg.endpoints.graph.trim_end_matches('/').to_owned(),
            retry: RetryPolicy {
                max_retries: cfg.graph.max_retries,
                base_delay: Duration::from_millis(cfg.graph.retry_base_ms),
                max_delay: Duration::from_millis(cfg.graph.retry_max_ms),
            },
            request_timeout: Duration::from_millis(cfg.timeouts.request_ms),
            limiters: Mutex::new(HashMap::new()),
            budget_per_10min: cfg.graph.budget_per_10min,
            proxy: cfg.proxy.as_ref().and_then(|p| p.display_url()),
            call_budget: Duration::from_millis(cfg.timeouts.call_ms),
            telemetry: Telemetry::detached(),
        }
    }

    /// The longest pause this client waits out inside one call; a throttling window longer
    /// than this is answered with `O365_THROTTLED` at once.
    pub fn longest_wait(&self) -> Duration {
        self.retry.max_delay.min(self.call_budget / 2)
    }

    /// Reports every request attempt to `t` (metrics and logs of the owning client).
    pub fn observed_by(mut self, t: Arc<Telemetry>) -> Graph {
        self.telemetry = t;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The limiter of one mailbox (shared by every request to it from this process).
    pub fn limiter(&self, mailbox_key: &str) -> Arc<MailboxLimiter> {
        let mut map = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(mailbox_key.to_owned())
            .or_insert_with(|| Arc::new(MailboxLimiter::new(self.budget_per_10min)))
            .clone()
    }

    /// Resolves a request URL: absolute as is, `//x` below the Graph base, else below `root`.
    pub fn resolve(&self, root: &str, url: &str) -> String {
        if url.starts_with("https://") || url.starts_with("http://") {
            url.to_owned()
        } else if let Some(rest) = url.strip_prefix("//") {
            format!("{}/{}", self.base, rest)
        } else {
            format!("{}{}{}", self.base, root, url)
        }
    }

    /// Sends `req` for one mailbox with limits, token, retries and error mapping.
    pub async fn call(
        &self,
        limiter: &MailboxLimiter,
        tokens: &dyn TokenSource,
        root: &str,
        req: Request,
    ) -> Result<Response> {
        let url = self.resolve(root, &req.url);
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        let mut rejected: Option<String> = None;
        let started = tokio::time::Instant::now();
        loop {
            let permit = limiter
                .acquire_slots(req.priority, req.slots, req.rank)
                .await;
            let token = if req.auth {
                Some(tokens.access_token(rejected.as_deref()).await?)
            } else {
                None
            };
            let request_id = uuid::Uuid::new_v4().to_string();
            let mut rb = self
                .http
                .request(req.method.clone(), &url)
                .timeout(self.request_timeout)
                .header("client-request-id", &request_id);
            if let Some(t) = &token {
                rb = rb.bearer_auth(t);
            }
            if req.auth {
                rb = rb.header("Prefer", "IdType=\"ImmutableId\"");
            }
            for (k, v) in &req.headers {
                let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(k.as_str()),
                    HeaderValue::try_from(v.as_str()),
                ) else {
                    return Err(Error::invalid_field(
                        "headers",
                        format!("header '{k}' cannot be sent"),
                    ));
                };
                rb = rb.header(name, value);
            }
            match &req.body {
                Some(Body::Json(v)) => rb = rb.json(v),
                Some(Body::Bytes { content_type, data }) => {
                    rb = rb.header("Content-Type", content_type).body(data.clone())
                }
                None => {}
            }
            let sent_at = std::time::Instant::now();
            let sent = rb.send().await;
            let outcome = match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(body) => Ok((status, headers, body)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            drop(permit);
            self.telemetry.graph_attempt(&GraphAttempt {
                base: &self.base,
                url: &url,
                method: req.method.as_str(),
                status: outcome.as_ref().ok().map(|o| o.0),
                duration: sent_at.elapsed(),
                attempt,
                mailbox: tokens.mailbox(),
                request_id: outcome
                    .as_ref()
                    .ok()
                    .and_then(|o| o.1.get("request-id"))
                    .and_then(|v| v.to_str().ok()),
                client_request_id: &request_id,
                retry_after: outcome.as_ref().ok().and_then(|o| retry_after(&o.1)),
            });
            match outcome {
                Ok((status, headers, body)) if (200..300).contains(&status) => {
                    return Ok(Response {
                        status,
                        headers,
                        body,
                    })
                }
                Ok((401, _, _)) if req.auth && !refreshed => {
                    // The token may have been revoked or expired early: refresh once.
                    refreshed = true;
                    rejected = token;
                    continue;
                }
                Ok((status, headers, body)) => {
                    let retryable = matches!(status, 429 | 503 | 504);
                    let retry_after = retry_after(&headers);
                    if status == 429 {
                        limiter.pause_for(retry_after.unwrap_or(self.retry.base_delay));
                    }
                    // A pause longer than this client waits, or one that would end after the
                    // call's time is up: answer now (the mailbox's window is recorded by
                    // MailboxGraph), never hang the caller until timeouts.call_ms.
                    let too_long = retry_after.is_some_and(|d| {
                        d > self.longest_wait() || started.elapsed() + d > self.call_budget
                    });
                    if retryable && !too_long && attempt < self.retry.max_retries {
                        attempt += 1;
                        let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
                        self.telemetry.graph_retry(
                            tokens.mailbox(),
                            &status.to_string(),
                            attempt,
                            delay,
                        );
                        tokio::time::sleep(delay.min(self.retry.max_delay)).await;
                        continue;
                    }
                    return Err(map_error(status, &headers, &body, &request_id, retry_after));
                }
                Err(e) => {
                    let not_sent = e.is_connect();
                    if (not_sent || req.replay == Replay::Safe) && attempt < self.retry.max_retries
                    {
                        attempt += 1;
                        let delay = self.backoff(attempt);
                        self.telemetry
                            .graph_retry(tokens.mailbox(), "network", attempt, delay);
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(network_error(
                        &e,
                        not_sent,
                        req.replay,
                        &request_id,
                        self.proxy.as_deref(),
                    ));
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp =
            self.retry.base_delay.as_millis() as u64 * (1u64 << attempt.min(10).saturating_sub(1));
        let jitter = rand::thread_rng().gen_range(0..=self.retry.base_delay.as_millis() as u64);
        Duration::from_millis(exp + jitter).min(self.retry.max_delay)
    }
}

/// `users/{address}` with the address percent-encoded (everything but letters, digits,
/// `-._~@`), so `'`, `+`, `#`, `?` or `/` can never change the request's meaning.
pub fn user_path(address: &str) -> String {
    format!(
        "users/{}",
        crate::encoding::encode(address, crate::encoding::USER_ADDRESS)
    )
}

/// `Retry-After` in seconds (or an HTTP date, treated as 1 s when unparsable).
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get("retry-after")?.to_str().ok()?.trim();
    match v.parse::<f64>() {
        Ok(s) if s >= 0.0 => Some(Duration::from_millis((s * 1000.0) as u64)),
        _ => Some(Duration::from_secs(1)),
    }
}

/// A reqwest error with its causes ("error sending request ...: tcp connect error: ...").
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The hint of a request that did not reach Microsoft; names the configured proxy.
pub fn network_hint(proxy: Option<&str>) -> String {
    match proxy {
        Some(p) => format!(
            "the request went through the proxy {p} (config \"proxy\"): check that the proxy runs, \
             is reachable from this host and allows CONNECT to the Microsoft hosts; \
             then the network connection and ca_file"
        ),
        None => "check the network connection to Microsoft, the proxy (config \"proxy\", or \
                 HTTPS_PROXY in the environment) and the CA configuration (ca_file)"
            .into(),
    }
}

fn network_error(
    e: &reqwest::Error,
    not_sent: bool,
    replay: Replay,
    request_id: &str,
    proxy: Option<&str>,
) -> Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut err = if !not_sent && replay == Replay::NotAfterSend {
        Error::Network(Fault::new(
            "outcome_unknown",
            format!(
                "Graph request {what} after it was sent; it may have been carried out: {}",
                describe(e)
            ),
        ))
    } else {
        Error::Network(Fault::new(
            "network",
            format!("Microsoft Graph {what}: {}", describe(e)),
        ))
        .with_hint(network_hint(proxy))
    };
    err = err.with_detail("client_request_id", request_id);
    err
}

/// Maps a non-2xx Graph answer to an [`Error`].
pub fn map_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    client_request_id: &str,
    retry_after: Option<Duration>,
) -> Error {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err_obj = parsed.as_ref().and_then(|v| v.get("error"));
    let code = err_obj
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let message = err_obj
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    let request_id = headers
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            err_obj
                .and_then(|e| e.get("innerError").or_else(|| e.get("innererror")))
                .and_then(|i| i.get("request-id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let text = if code.is_empty() {
        format!("Microsoft Graph answered {status}: {message}")
    } else {
        format!("Microsoft Graph answered {status} {code}: {message}")
    };
    let err = match status {
        401 => Error::AuthRequired(Fault::new("token_rejected", text)).with_hint(
            "Microsoft rejected the mailbox's token; sign the mailbox in again (o365_authenticate)",
        ),
        404 => Error::NotFound(Fault::new("graph_not_found", text)),
        429 => {
            let ms = retry_after.map(|d| d.as_millis() as u64).unwrap_or(1000);
            Error::Throttled(Fault::new("throttled", text))
                .with_hint("Microsoft limits requests per mailbox; try again later")
                .with_detail("retry_after_ms", ms)
        }
        _ => Error::Remote(Fault::new("graph_error", text)),
    };
    let mut err = err
        .with_detail("http_status", status)
        .with_detail("code", code)
        .with_detail("client_request_id", client_request_id);
    if let Some(r) = request_id {
        err = err.with_detail("request_id", r);
    }
    err
}

impl Error {
    /// Microsoft's error code for errors that came from Graph (`details.code`).
    pub fn graph_code(&self) -> Option<&str> {
        self.fault().details.get("code").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_graph_error_bodies() {
        let body = br#"{"error":{"code":"ErrorSendAsDenied","message":"no","innerError":{"request-id":"r1"}}}"#;
        let e = map_error(403, &HeaderMap::new(), body, "c1", None);
        assert_eq!(e.status(), crate::error::status::REMOTE);
        assert_eq!(e.graph_code(), Some("ErrorSendAsDenied"));
        assert_eq!(e.fault().details["request_id"], "r1");
        let e = map_error(
            429,
            &HeaderMap::new(),
            b"{}",
            "c1",
            Some(Duration::from_secs(3)),
        );
        assert_eq!(e.status(), crate::error::status::THROTTLED);
        assert_eq!(e.fault().details["retry_after_ms"], 3000);
        let e = map_error(
            410,
            &HeaderMap::new(),
            br#"{"error":{"code":"SyncStateNotFound","message":"x"}}"#,
            "c",
            None,
        );
        assert_eq!(e.graph_code(), Some("SyncStateNotFound"));
    }

    #[test]
    fn user_paths_are_percent_encoded() {
        assert_eq!(
            user_path("anna@contoso.example"),
            "users/anna@contoso.example"
        );
        assert_eq!(user_path("o'brien@x.de"), "users/o%27brien@x.de");
        assert_eq!(user_path("a#b?c/d+e@x.de"), "users/a%23b%3Fc%2Fd%2Be@x.de");
    }

    #[test]
    fn resolves_urls() {
        let cfg = Config::from_json(
            r#"{"store":"x.db","endpoints":{"graph":"https://g.example/v1.0/"}}"#,
        )
        .unwrap();
        let g = Graph::new(&cfg, reqwest::Client::new());
        assert_eq!(
            g.resolve("/me", "/mailFolders"),
            "https://g.example/v1.0/me/mailFolders"
        );
        assert_eq!(
            g.resolve("/me", "//users/x"),
            "https://g.example/v1.0/users/x"
        );
        assert_eq!(g.resolve("/me", "https://o/next"), "https://o/next");
    }
}
