//! The durable event queue the host pulls from (progress, activities, re-authentication
//! needs). Events are stored with the change that causes them, handed out with a lease, and
//! kept until acked: a crash or restart before the ack delivers them again.

use super::Client;
use crate::error::{Error, Result};
use crate::store::{EventFilter, EventRecord};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// How often a waiting `next_event` looks at the store for events other processes wrote.
const POLL: Duration = Duration::from_millis(200);

/// An event ready for the host.
pub type Event = Value;

/// Every event type the library publishes (README "Events").
pub const EVENT_TYPES: &[&str] = &[
    "auth_completed",
    "auth_failed",
    "reauth_required",
    "sync_progress",
    "sync_completed",
    "sync_failed",
    "send_completed",
    "send_failed",
    "link_downloaded",
    "link_accepted",
    "activity",
    "move_completed",
];

/// `o365_next_event_filtered` filter: `{"types"?: [...], "mailbox"?: "<id or address>"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextEventFilter {
    #[serde(default)]
    pub types: Option<Vec<String>>,
    #[serde(default)]
    pub mailbox: Option<String>,
}

impl Client {
    /// The next event, waiting up to `timeout`; `timeout` status when none came.
    pub async fn next_event(&self, timeout: Duration) -> Result<Event> {
        self.next_event_matching(timeout, &EventFilter::default())
            .await
    }

    /// The next event matching the request's filter (types, mailbox id or address); events
    /// that do not match are left for other consumers.
    pub async fn next_event_filtered(
        &self,
        timeout: Duration,
        req: NextEventFilter,
    ) -> Result<Event> {
        let mut types = Vec::new();
        for t in req.types.unwrap_or_default() {
            if !EVENT_TYPES.contains(&t.as_str()) {
                return Err(Error::invalid_field(
                    "types",
                    format!(
                        "unknown event type '{t}'; known: {}",
                        EVENT_TYPES.join(", ")
                    ),
                ));
            }
            types.push(t);
        }
        let mailbox_id = match req.mailbox.as_deref() {
            Some(k) => Some(self.find_mailbox(k)?.id),
            None => None,
        };
        let filter = EventFilter { types, mailbox_id };
        self.next_event_matching(timeout, &filter).await
    }

    async fn next_event_matching(&self, timeout: Duration, filter: &EventFilter) -> Result<Event> {
        let deadline = tokio::time::Instant::now() + timeout;
        let lease = self.config().events.lease_ms as i64;
        loop {
            let notified = self.events_changed().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(ev) =
                self.store()
                    .claim_event(self.instance(), self.now_ms(), lease, filter)?
            {
                return Ok(render(ev));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(crate::error::Fault::new(
                    "no_event",
                    format!("no event within {} ms", timeout.as_millis()),
                )));
            }
            let wait = (deadline - now).min(POLL);
            let _ = tokio::time::timeout(wait, notified).await;
        }
    }

    /// Confirms an event; it is never handed out again.
    pub fn ack_event(&self, id: &str) -> Result<Value> {
        if id.is_empty() {
            return Err(Error::invalid_field(
                "event_id",
                "event id must not be empty",
            ));
        }
        if self.store().ack_event(id, self.now_ms())? {
            Ok(serde_json::json!({ "acked": id }))
        } else {
            Err(Error::not_found("event", id))
        }
    }
}

fn render(ev: EventRecord) -> Value {
    let mut out = Map::new();
    if let Value::Object(p) = ev.payload {
        out.extend(p);
    } else if !ev.payload.is_null() {
        out.insert("payload".into(), ev.payload);
    }
    out.insert("id".into(), Value::String(ev.id));
    out.insert("type".into(), Value::String(ev.kind));
    out.insert(
        "mailbox".into(),
        ev.mailbox_id.map(Value::String).unwrap_or(Value::Null),
    );
    out.insert(
        "created_at".into(),
        crate::clock::rfc3339(ev.created_at).into(),
    );
    out.insert("redelivered".into(), Value::Bool(ev.deliveries > 0));
    Value::Object(out)
}
