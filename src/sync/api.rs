//! The slice of the Graph client sync needs, as a trait: the real per-mailbox client
//! implements it, and tests drive the engine with scripted answers.

use crate::error::{Error, Fault, Result};
use crate::graph::{Priority, Request, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;

pub trait MailApi: Send + Sync {
    /// `/me` or `/users/{address}`: what `$batch` item URLs start with.
    fn root(&self) -> &str;
    /// Sends one request (limits, token, retries and error mapping included).
    fn call(&self, req: Request) -> impl Future<Output = Result<Response>> + Send;
    /// A link Graph gave (`@odata.deltaLink`) as a `$batch` item URL (below the Graph base),
    /// or `None` when it does not lie below this client's Graph base.
    fn batch_path(&self, _link: &str) -> Option<String> {
        None
    }
}

/// GET returning JSON.
pub async fn get_json<A: MailApi>(
    api: &A,
    url: &str,
    priority: Priority,
    headers: &[(&str, &str)],
) -> Result<Value> {
    let mut req = Request::get(url).priority(priority);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    api.call(req).await?.json()
}

/// Any method with an optional JSON body; an empty answer (204) is `null`.
pub async fn send_json<A: MailApi>(
    api: &A,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
    priority: Priority,
) -> Result<Value> {
    let mut req = Request::new(method, url).priority(priority);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = api.call(req).await?;
    if resp.body.is_empty() {
        return Ok(Value::Null);
    }
    resp.json()
}

/// One item of a `$batch` (URL below the mailbox root).
#[derive(Debug, Clone)]
pub struct BatchItem {
    pub id: String,
    pub method: &'static str,
    pub url: String,
    pub body: Option<Value>,
}

/// Sends up to 20 requests in one `$batch` round trip; answers by item id as
/// `(status, body)`. Items that came back 429/503/504 are the caller's to retry.
pub async fn batch<A: MailApi>(
    api: &A,
    items: &[BatchItem],
    priority: Priority,
) -> Result<HashMap<String, (u16, Value)>> {
    use crate::graph::wire::{BatchHeaders, BatchRequest, BatchRequestItem};
    let requests = items
        .iter()
        .map(|it| BatchRequestItem {
            id: it.id.clone(),
            method: it.method,
            url: format!("{}{}", api.root(), it.url),
            body: it.body.clone(),
            headers: it.body.as_ref().map(|_| BatchHeaders::JSON),
        })
        .collect();
    let resp: Value = api
        .call(
            Request::new(reqwest::Method::POST, "//$batch")
                .json(crate::graph::wire::to_body(&BatchRequest { requests })?)
                .priority(priority)
                .batch_of(items.len()),
        )
        .await?
        .json()?;
    let mut out = HashMap::new();
    for r in resp
        .get("responses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = r.get("id").and_then(Value::as_str) else {
            continue;
        };
        let status = r.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
        out.insert(
            id.to_owned(),
            (status, r.get("body").cloned().unwrap_or(Value::Null)),
        );
    }
    if out.len() != items.len() {
        return Err(Error::Remote(Fault::new(
            "unexpected_response",
            format!("$batch answered {} of {} requests", out.len(), items.len()),
        )));
    }
    Ok(out)
}

/// [`batch`], sending items that came back 429/503/504 again (up to `attempts` rounds, with a
/// growing pause; Outlook throttles batch items one by one). Items still refused keep their
/// last answer.
pub async fn batch_retrying<A: MailApi>(
    api: &A,
    items: &[BatchItem],
    priority: Priority,
    attempts: u32,
) -> Result<HashMap<String, (u16, Value)>> {
    let mut done = HashMap::new();
    let mut todo: Vec<BatchItem> = items.to_vec();
    for attempt in 0..attempts.max(1) {
        let answers = batch(api, &todo, priority).await?;
        let mut again = Vec::new();
        for it in todo {
            let a = answers.get(&it.id).cloned().unwrap_or((0, Value::Null));
            if matches!(a.0, 429 | 503 | 504) && attempt + 1 < attempts {
                again.push(it.clone());
            }
            done.insert(it.id.clone(), a);
        }
        if again.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250 << attempt.min(5))).await;
        todo = again;
    }
    Ok(done)
}

/// True for the error Graph gives when a delta or skip token expired (410).
pub fn is_expired_token(e: &Error) -> bool {
    let code = e
        .fault()
        .details
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let status = e
        .fault()
        .details
        .get("http_status")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    status == 410
        || code.eq_ignore_ascii_case("SyncStateNotFound")
        || code.eq_ignore_ascii_case("resyncRequired")
        || code.eq_ignore_ascii_case("SyncStateInvalid")
}

/// True for failures worth another attempt later in the same sync (throttling, network,
/// server-side 5xx, timeouts).
pub fn is_transient(e: &Error) -> bool {
    match e {
        Error::Throttled(_) | Error::Network(_) | Error::Timeout(_) => true,
        Error::Remote(f) => f
            .details
            .get("http_status")
            .and_then(Value::as_u64)
            .is_some_and(|s| s >= 500),
        _ => false,
    }
}

impl MailApi for crate::graph::MailboxGraph {
    fn root(&self) -> &str {
        crate::graph::MailboxGraph::root(self)
    }

    fn call(&self, req: Request) -> impl Future<Output = Result<Response>> + Send {
        crate::graph::MailboxGraph::call(self, req)
    }

    fn batch_path(&self, link: &str) -> Option<String> {
        let rest = link.strip_prefix(self.graph().base())?;
        rest.starts_with('/').then(|| rest.to_owned())
    }
}
