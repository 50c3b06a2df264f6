//! Mail on its way out: submissions waiting for transport, and the outbound log (what the
//! recipients receive).

use serde::{Deserialize, Serialize};

use super::messages::{Addr, Message};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundAttachment {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub is_inline: bool,
    pub content_id: Option<String>,
    pub sha256: String,
    pub content_bytes: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundMail {
    pub seq: u64,
    /// Mailbox whose account submitted the message.
    pub mailbox: String,
    /// How it was submitted: `sendMail`, `send` (draft), `outlook`.
    pub via: String,
    pub submitted_by: String,
    pub internet_message_id: String,
    pub from: Addr,
    pub sender: Addr,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    /// Envelope-only recipients (not in the headers the recipient sees).
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub subject: String,
    pub body_content_type: String,
    pub body: String,
    /// The header block as the recipient receives it.
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<OutboundAttachment>,
    pub sent_date_time: String,
}

/// A message accepted by `send`/`sendMail` that has not gone out yet: it sits in the
/// mailbox's Drafts folder (`draft`) until `due_ms` (sim clock).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingSubmission {
    pub due_ms: i64,
    pub mailbox: String,
    /// The item in Drafts; deleting it before `due_ms` cancels the submission.
    pub draft: u64,
    pub via: String,
    pub actor: Option<String>,
    pub app_only: bool,
    pub save: bool,
    pub msg: Message,
}
