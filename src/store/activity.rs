//! Decisions about mail sent outside the CRM (one activity per mail, ever).

use crate::error::Result;

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
    /// (outbox, sent log of any mailbox in the store: an alias shares its mailbox's Sent
    /// Items) nor already decided.
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
