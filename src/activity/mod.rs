//! Activities for mail sent outside the CRM (seed point 10).
//!
//! After Sent Items is synced, every cached message there that the library did not send
//! itself (its internet message id is in neither the outbox nor the sent log) and that was
//! sent while booking was on (`sent_at >= settings.book_external_sent_since`) becomes one
//! `activity` event: type "E-Mail – Ausgang", marker "Externer E-Mail-Versand", the
//! mailbox's main user (at booking time) responsible.
//!
//! Exactly once: the event id is derived from mailbox + internet message id, events are
//! inserted "or ignore" and acked events stay as tombstones, and a row in `activities`
//! records the decision. The event is written before that row, so a crash between the two
//! is repaired by the next pass without a second event. Cache clears, expired delta tokens,
//! moves out of and back into Sent Items, and several processes syncing at once all meet the
//! same id. The pass reads the cache only; it makes no request to Microsoft.

use crate::error::Result;
use crate::mailbox::Settings;
use crate::service::Client;
use crate::store::MailboxRecord;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const ACTIVITY_TYPE: &str = "E-Mail – Ausgang";
pub const ACTIVITY_MARKER: &str = "Externer E-Mail-Versand";

/// A Sent Items message that may need an activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub graph_id: String,
    pub internet_message_id: String,
    pub subject: Option<String>,
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub recipients_json: Option<String>,
    pub sent_at: Option<i64>,
    pub body_preview: Option<String>,
    pub has_attachments: bool,
}

pub trait ActivityStore {
    /// Sent Items messages sent at or after `since` that are neither the library's own
    /// (outbox, sent log) nor already decided.
    fn activity_candidates(
        &self,
        mailbox_id: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<Candidate>>;
    /// Records the decision; false when it was recorded before.
    fn record_activity(
        &self,
        mailbox_id: &str,
        internet_message_id: &str,
        event_id: &str,
        graph_id: &str,
        now: i64,
    ) -> Result<bool>;
}

/// The stable event id of the activity for one mail.
pub fn activity_id(mailbox_id: &str, internet_message_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(mailbox_id.as_bytes());
    h.update(b"\n");
    h.update(internet_message_id.trim().to_ascii_lowercase().as_bytes());
    let d = h.finalize();
    format!(
        "act_{}",
        d[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn addresses(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.clone()),
        _ => json!([]),
    }
}

impl Client {
    /// Books the external sends of a mailbox that are not booked yet. Returns how many
    /// activity events were published by this call.
    pub fn book_external_sent(&self, mailbox_id: &str) -> Result<usize> {
        let m = self.find_mailbox(mailbox_id)?;
        let settings = Settings::from_record(&m);
        if !settings.book_external_sent {
            return Ok(0);
        }
        let Some(since) = settings.booking_since_ms() else {
            return Ok(0);
        };
        let mut published = 0;
        loop {
            let batch = self.store().activity_candidates(&m.id, since, 500)?;
            if batch.is_empty() {
                break;
            }
            for c in batch {
                if self.book_one(&m, &c)? {
                    published += 1;
                }
            }
        }
        Ok(published)
    }

    /// [`Client::book_external_sent`] after a sync; failures are logged, never fatal.
    pub(crate) fn book_external_sent_after_sync(&self, mailbox_id: &str) {
        if let Err(e) = self.book_external_sent(mailbox_id) {
            tracing::warn!(mailbox = %mailbox_id, "booking external sends failed: {e}");
        }
    }

    fn book_one(&self, m: &MailboxRecord, c: &Candidate) -> Result<bool> {
        let id = activity_id(&m.id, &c.internet_message_id);
        let r: Value = c
            .recipients_json
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        let payload = json!({
            "activity_type": ACTIVITY_TYPE,
            "marker": ACTIVITY_MARKER,
            "responsible_user": m.main_user,
            "mailbox_address": m.address,
            "internet_message_id": c.internet_message_id,
            "subject": c.subject,
            "from": {"name": c.from_name, "address": c.from_address},
            "to": addresses(&r["to"]),
            "cc": addresses(&r["cc"]),
            "bcc": addresses(&r["bcc"]),
            "sent_at": c.sent_at.map(crate::clock::rfc3339),
            "body_preview": c.body_preview,
            "has_attachments": c.has_attachments,
            "graph_id": c.graph_id,
        });
        // Event first (idempotent by id), then the decision row.
        let (_, fresh) = self.publish("activity", Some(&m.id), Some(id.clone()), payload)?;
        self.store().record_activity(
            &m.id,
            &c.internet_message_id,
            &id,
            &c.graph_id,
            self.now_ms(),
        )?;
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = activity_id("m1", "<x@y>");
        assert_eq!(a, activity_id("m1", " <X@Y> "));
        assert_ne!(a, activity_id("m2", "<x@y>"));
        assert_ne!(a, activity_id("m1", "<z@y>"));
        assert!(a.starts_with("act_") && a.len() == 36);
    }
}
