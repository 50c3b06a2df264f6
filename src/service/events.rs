//! The durable event queue the host pulls from (progress, activities, re-authentication
//! needs). Events are stored with the change that causes them, handed out with a lease, and
//! kept until acked: a crash or restart before the ack delivers them again.

use super::contract::ErrorBody;
use super::mail_view::{EmailAddress, FolderMove, SyncError};
use super::Client;
use crate::error::{Error, Result};
use crate::store::{EventFilter, EventRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

macro_rules! events {
    ($($(#[$m:meta])* $name:ident($payload:ident) = $tag:literal {
        $($(#[$fm:meta])* $field:ident: $ty:ty,)*
    })*) => {
        $(
            /// The fields of the event that publishes it (the envelope is added when it is
            /// handed out).
            #[derive(Debug, Clone, Serialize, JsonSchema)]
            pub struct $payload {
                $($(#[$fm])* pub $field: $ty,)*
            }

            impl EventPayload for $payload {
                const TYPE: &'static str = $tag;
            }

            $(#[$m])*
            #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
            #[serde(deny_unknown_fields)]
            pub struct $name {
                /// When the event was published (RFC 3339).
                pub created_at: String,
                /// The id to pass to `o365_ack_event`.
                pub id: String,
                /// The mailbox the event is about.
                pub mailbox: Option<String>,
                /// True when the event was handed out before and not acked in time.
                pub redelivered: bool,
                #[serde(rename = "type")]
                #[schemars(extend("const" = $tag))]
                pub kind: String,
                $($(#[$fm])* pub $field: $ty,)*
            }
        )*

        /// An event of `o365_next_event`, by its `type`.
        #[derive(Debug, Serialize, JsonSchema)]
        #[serde(untagged)]
        pub enum Event {
            $($name($name),)*
            /// An event of a type the library does not publish itself (the test hook
            /// `o365_debug_emit_event`).
            Other(OtherEvent),
        }

        /// Every event type the library publishes (README "Events").
        pub const EVENT_TYPES: &[&str] = &[$($tag),*];

        /// The typed event for a known type.
        fn typed(kind: &str, v: Value) -> Option<serde_json::Result<Event>> {
            match kind {
                $($tag => Some(serde_json::from_value(v).map(Event::$name)),)*
                _ => None,
            }
        }
    };
}

events! {
    /// A device-code sign-in ended well.
    AuthCompletedEvent(AuthCompletedPayload) = "auth_completed" {
        #[schemars(with = "Option<super::mailboxes::MailboxAccount>")]
        account: Option<Value>,
        /// `device_code`.
        flow: String,
        user: String,
    }
    /// A device-code sign-in failed.
    AuthFailedEvent(AuthFailedPayload) = "auth_failed" {
        /// The error kind.
        error: String,
        flow: String,
        message: String,
        user: String,
    }
    /// Microsoft no longer accepts the mailbox's refresh token (once per token).
    ReauthRequiredEvent(ReauthRequiredPayload) = "reauth_required" {
        address: String,
        main_user: String,
        reason: String,
    }
    /// A long sync stored another page of a folder.
    SyncProgressEvent(SyncProgressPayload) = "sync_progress" {
        /// Messages of the folder stored in this round so far.
        done: i64,
        /// The folder id.
        folder: String,
        folder_name: String,
        /// The `sync_id` `o365_sync` returned.
        sync_id: String,
        /// The folder's total count.
        total: i64,
        well_known: Option<String>,
    }
    /// A sync ended with changes (or was asked for explicitly).
    SyncCompletedEvent(SyncCompletedPayload) = "sync_completed" {
        duration_ms: u64,
        /// How many folders were synced.
        folders: usize,
        removed: usize,
        run: String,
        sync_id: String,
        upserted: usize,
    }
    /// A sync failed (all or some folders).
    SyncFailedEvent(SyncFailedPayload) = "sync_failed" {
        /// `folders` when the folder tree could not be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder: Option<String>,
        /// The folders that failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folders: Option<Vec<FailedFolder>>,
        /// The (first) error.
        reason: Option<SyncError>,
        run: String,
        sync_id: String,
    }
    /// A queued send went out.
    SendCompletedEvent(SendCompletedPayload) = "send_completed" {
        /// The mailbox's address.
        address: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
        idempotency_key: String,
        internet_message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_from: Option<String>,
        send_id: String,
        sent_as_requested: bool,
        sent_from: String,
    }
    /// A queued send failed for good.
    SendFailedEvent(SendFailedPayload) = "send_failed" {
        error: ErrorBody,
        idempotency_key: String,
        internet_message_id: String,
        send_id: String,
    }
    /// A recipient downloaded a whole file of a link.
    LinkDownloadedEvent(LinkDownloadedPayload) = "link_downloaded" {
        client_address: Option<String>,
        downloaded_at: String,
        /// The file's name.
        file: String,
        file_index: i64,
        link: String,
        /// True when the download was resumed (ranges).
        resumed: bool,
        send_id: String,
        size: i64,
        user_agent: Option<String>,
    }
    /// A recipient accepted a link's agreement.
    LinkAcceptedEvent(LinkAcceptedPayload) = "link_accepted" {
        accepted_at: String,
        agreement_text: Option<String>,
        client_address: Option<String>,
        link: String,
        send_id: String,
        user_agent: Option<String>,
    }
    /// Mail sent from Outlook, outside the CRM, booked as an activity.
    ActivityEvent(ActivityPayload) = "activity" {
        /// "E-Mail – Ausgang".
        activity_type: String,
        bcc: Vec<EmailAddress>,
        body_preview: Option<String>,
        cc: Vec<EmailAddress>,
        from: ActivitySender,
        graph_id: String,
        has_attachments: bool,
        internet_message_id: String,
        mailbox_address: String,
        /// "Externer E-Mail-Versand".
        marker: String,
        /// The mailbox's main user at booking time.
        responsible_user: String,
        sent_at: Option<String>,
        subject: Option<String>,
        to: Vec<EmailAddress>,
    }
    /// A folder-contents move finished.
    MoveCompletedEvent(MoveCompletedPayload) = "move_completed" {
        job: FolderMove,
    }
}

/// The payload of an event type: what [`Client::publish_event`] stores.
pub trait EventPayload: Serialize {
    /// The event's `type`.
    const TYPE: &'static str;
}

/// A folder of a `sync_failed` event.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedFolder {
    pub error: Option<SyncError>,
    pub folder: String,
    pub folder_name: String,
}

/// The sender of an `activity`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivitySender {
    pub address: Option<String>,
    pub name: Option<String>,
}

/// An event of another type: `{"id", "type", "mailbox", "created_at", "redelivered", ...}`
/// with the payload it was published with.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct OtherEvent(pub Map<String, Value>);

impl JsonSchema for OtherEvent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OtherEvent".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An event of a type the library does not publish itself (test hook o365_debug_emit_event): the envelope plus the payload it was emitted with.",
            "type": "object",
            "properties": {
                "created_at": {"type": "string"},
                "id": {"type": "string"},
                "mailbox": {"type": ["string", "null"]},
                "redelivered": {"type": "boolean"},
                "type": {"type": "string", "not": {"enum": EVENT_TYPES}},
            },
            "required": ["created_at", "id", "mailbox", "redelivered", "type"],
        })
    }
}

/// `o365_ack_event`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AckedEvent {
    /// The event id acked.
    pub acked: String,
}

/// `o365_next_event_filtered` filter: `{"types"?: [...], "mailbox"?: "<id or address>"}`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NextEventFilter {
    #[serde(default)]
    pub types: Option<Vec<String>>,
    #[serde(default)]
    pub mailbox: Option<String>,
}

impl Client {
    /// Stores an event from its typed payload (see [`Core::publish`]).
    pub fn publish_event<P: EventPayload>(
        &self,
        mailbox_id: Option<&str>,
        id: Option<String>,
        payload: &P,
    ) -> Result<(String, bool)> {
        self.publish(P::TYPE, mailbox_id, id, serde_json::to_value(payload)?)
    }

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
            // Wake-ups come from this process, and on PostgreSQL from every host (LISTEN);
            // the poll (`events.poll_ms`) catches what no wake-up reports (SQLite, other
            // processes).
            let poll = Duration::from_millis(self.config().events.poll_ms);
            let wait = (deadline - now).min(poll);
            let _ = tokio::time::timeout(wait, notified).await;
        }
    }

    /// Confirms an event; it is never handed out again.
    pub fn ack_event(&self, id: &str) -> Result<AckedEvent> {
        if id.is_empty() {
            return Err(Error::invalid_field(
                "event_id",
                "event id must not be empty",
            ));
        }
        if self.store().ack_event(id, self.now_ms())? {
            Ok(AckedEvent {
                acked: id.to_owned(),
            })
        } else {
            Err(Error::not_found("event", id))
        }
    }
}

/// Whether an event as the host got it fits its type: `Ok(true)` when it is one of
/// [`EVENT_TYPES`] and fits, `Ok(false)` for other types (the test hook), `Err` for a
/// published type whose fields do not fit (a break of the contract).
pub fn check_event(v: &Value) -> std::result::Result<bool, String> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    match typed(kind, v.clone()) {
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(format!("a '{kind}' event does not fit its type: {e}: {v}")),
        None => Ok(false),
    }
}

fn render(ev: EventRecord) -> Event {
    let mut out = Map::new();
    if let Value::Object(p) = ev.payload {
        out.extend(p);
    } else if !ev.payload.is_null() {
        out.insert("payload".into(), ev.payload);
    }
    out.insert("id".into(), Value::String(ev.id));
    out.insert("type".into(), Value::String(ev.kind.clone()));
    out.insert(
        "mailbox".into(),
        ev.mailbox_id.map(Value::String).unwrap_or(Value::Null),
    );
    out.insert(
        "created_at".into(),
        crate::clock::rfc3339(ev.created_at).into(),
    );
    out.insert("redelivered".into(), Value::Bool(ev.deliveries > 0));
    match typed(&ev.kind, Value::Object(out.clone())) {
        Some(Ok(typed)) => typed,
        Some(Err(e)) => {
            // Delivered all the same (an event is never lost), but it breaks the contract.
            tracing::warn!(
                event = out["id"].as_str().unwrap_or_default(),
                "a '{}' event does not fit its type: {e}",
                ev.kind
            );
            Event::Other(OtherEvent(out))
        }
        None => Event::Other(OtherEvent(out)),
    }
}
