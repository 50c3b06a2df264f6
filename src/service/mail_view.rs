//! Folders, messages, attachments, syncs and folder moves as the host sees them: the response
//! types of `o365_list_folders`, `o365_list_messages`, `o365_get_message`, `o365_sync`, ...
//! and of `o365_get_mailbox`'s `health`, built from the cache rows and the sync reports.

use super::contract::{stored, ErrorBody};
use crate::store::cache::{FolderRow, MessageRow, MoveJob};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

fn rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(crate::clock::rfc3339)
}

/// A mail folder.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Folder {
    pub child_count: i64,
    pub display_name: String,
    pub hidden: bool,
    pub id: String,
    /// `null` for a top-level folder.
    pub parent_id: Option<String>,
    pub total_count: i64,
    pub unread_count: i64,
    /// The folder's role (`inbox`, `sentitems`, `drafts`, ...); `null` for other folders.
    pub well_known: Option<String>,
}

impl Folder {
    pub fn from_row(f: &FolderRow, top_level: bool) -> Folder {
        Folder {
            child_count: f.child_count,
            display_name: f.display_name.clone(),
            hidden: f.hidden,
            id: f.id.clone(),
            parent_id: if top_level { None } else { f.parent_id.clone() },
            total_count: f.total_count,
            unread_count: f.unread_count,
            well_known: f.well_known.clone(),
        }
    }

    /// The folder tree: the mail root is left out (its children are the top level), hidden
    /// folders only on request.
    pub fn tree(rows: &[FolderRow], include_hidden: bool) -> Vec<Folder> {
        let root = rows
            .iter()
            .find(|f| f.well_known.as_deref() == Some("msgfolderroot"));
        let known: std::collections::HashSet<&str> = rows.iter().map(|f| f.id.as_str()).collect();
        rows.iter()
            .filter(|f| f.well_known.as_deref() != Some("msgfolderroot"))
            .filter(|f| include_hidden || !f.hidden)
            .map(|f| {
                let top = match (&f.parent_id, root) {
                    (None, _) => true,
                    (Some(p), Some(r)) if *p == r.id => true,
                    (Some(p), _) => !known.contains(p.as_str()),
                };
                Folder::from_row(f, top)
            })
            .collect()
    }
}

/// `o365_list_folders`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct FolderList {
    pub folders: Vec<Folder>,
    pub mailbox: String,
    /// Why the cached tree could not be refreshed (with `stale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_error: Option<ErrorBody>,
    /// Present (`true`) when the answer comes from a cache that could not be refreshed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<bool>,
    /// When the tree was last refreshed from Microsoft.
    pub synced_at: Option<String>,
}

/// A sender or recipient.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct EmailAddress {
    pub address: String,
    pub name: String,
}

/// A message's metadata (no body).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MessageSummary {
    pub bcc: Vec<EmailAddress>,
    pub body_preview: Option<String>,
    pub categories: Vec<String>,
    pub cc: Vec<EmailAddress>,
    pub conversation_id: Option<String>,
    /// Graph's flag status (`notFlagged`, `flagged`, `complete`).
    pub flag: Option<String>,
    pub folder_id: String,
    pub from: Option<EmailAddress>,
    pub has_attachments: bool,
    /// Graph's immutable id.
    pub id: String,
    pub importance: Option<String>,
    pub internet_message_id: Option<String>,
    pub is_draft: bool,
    pub is_read: bool,
    pub received_at: Option<String>,
    pub reply_to: Vec<EmailAddress>,
    pub sent_at: Option<String>,
    pub subject: Option<String>,
    pub to: Vec<EmailAddress>,
}

impl From<&MessageRow> for MessageSummary {
    fn from(m: &MessageRow) -> MessageSummary {
        #[derive(Deserialize, Default)]
        struct Stored {
            #[serde(default)]
            to: Vec<EmailAddress>,
            #[serde(default)]
            cc: Vec<EmailAddress>,
            #[serde(default)]
            bcc: Vec<EmailAddress>,
            #[serde(default)]
            reply_to: Vec<EmailAddress>,
        }
        let r: Stored = m
            .recipients_json
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        MessageSummary {
            bcc: r.bcc,
            body_preview: m.body_preview.clone(),
            categories: m
                .categories_json
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
            cc: r.cc,
            conversation_id: m.conversation_id.clone(),
            flag: m.flag.clone(),
            folder_id: m.folder_id.clone(),
            from: m.from_address.as_ref().map(|a| EmailAddress {
                address: a.clone(),
                name: m.from_name.clone().unwrap_or_default(),
            }),
            has_attachments: m.has_attachments.unwrap_or(false),
            id: m.id.clone(),
            importance: m.importance.clone(),
            internet_message_id: m.internet_message_id.clone(),
            is_draft: m.is_draft.unwrap_or(false),
            is_read: m.is_read.unwrap_or(false),
            received_at: rfc3339(m.received_at),
            reply_to: r.reply_to,
            sent_at: rfc3339(m.sent_at),
            subject: m.subject.clone(),
            to: r.to,
        }
    }
}

/// `o365_list_messages`: one page, newest (or oldest) first.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MessagePage {
    pub folder: Folder,
    pub mailbox: String,
    pub messages: Vec<MessageSummary>,
    /// Pass it as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Why the folder could not be refreshed (with `stale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_error: Option<ErrorBody>,
    /// Present (`true`) when the page comes from a cache that could not be refreshed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<bool>,
}

/// An attachment's metadata (no content).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Attachment {
    pub content_id: Option<String>,
    pub content_type: Option<String>,
    pub id: Option<String>,
    pub is_inline: bool,
    /// `file`, `item` or `reference`.
    pub kind: String,
    pub name: Option<String>,
    pub size: Option<i64>,
}

impl Attachment {
    /// From a Graph attachment object.
    pub fn from_graph(a: &Value) -> Attachment {
        let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
        let kind = a
            .get("@odata.type")
            .and_then(Value::as_str)
            .unwrap_or("#microsoft.graph.fileAttachment")
            .trim_start_matches("#microsoft.graph.")
            .trim_end_matches("Attachment");
        Attachment {
            content_id: text("contentId"),
            content_type: text("contentType"),
            id: text("id"),
            is_inline: a.get("isInline").and_then(Value::as_bool).unwrap_or(false),
            kind: kind.to_owned(),
            name: text("name"),
            size: a.get("size").and_then(Value::as_i64),
        }
    }
}

/// A message body.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MessageBody {
    pub content: String,
    /// `text` or `html`.
    pub content_type: String,
}

/// `o365_get_message`: metadata, body and attachment list.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, transform = super::contract::strict)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub message: MessageSummary,
    pub attachments: Vec<Attachment>,
    pub body: MessageBody,
    /// True when body and attachments came from the cache.
    pub from_cache: bool,
}

/// `o365_get_attachment`: the metadata with the bytes (base64) or where they were written.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, transform = super::contract::strict)]
pub struct AttachmentContent {
    #[serde(flatten)]
    pub attachment: Attachment,
    /// With `path`: how many bytes were written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<usize>,
    /// Without `path`: the content, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    /// With `path`: the file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One message `o365_mark_read` could not change.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MarkReadFailure {
    /// Microsoft's error object for this message (`{"code", "message", ...}`), if any.
    pub error: Option<Value>,
    pub id: String,
    /// The HTTP status Microsoft answered for this message.
    pub status: u16,
}

/// `o365_mark_read`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MarkReadResult {
    pub changed: Vec<String>,
    pub failed: Vec<MarkReadFailure>,
    pub read: bool,
}

/// `o365_move_message`: the message in its new folder.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, transform = super::contract::strict)]
pub struct MovedMessage {
    #[serde(flatten)]
    pub message: MessageSummary,
    /// The id the request named (immutable ids: normally the same as `id`).
    pub previous_id: String,
}

/// `o365_delete_message`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MessageDeleted {
    pub deleted: bool,
    pub id: String,
}

/// `o365_cache_clear`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CacheCleared {
    pub cleared: bool,
    pub mailbox: String,
}

/// The error document of a sync (`o365_sync` folders, `sync_failed`): an [`ErrorBody`] with
/// `transient` for folder rounds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Map<String, Value>>,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub message: String,
    #[schemars(range(min = 1, max = 16))]
    pub status: i32,
    /// True when the next round may well succeed by itself (network, throttling, a busy
    /// service); absent when the folder tree could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient: Option<bool>,
}

/// One folder's round of an `o365_sync`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct FolderSyncReport {
    pub display_name: String,
    /// Why the folder failed (`status` `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SyncError>,
    pub folder_id: String,
    /// True when the round started from scratch (first sync, cache clear, expired token).
    pub full: bool,
    pub pages: usize,
    /// True when an expired delta token (410) forced a full round.
    pub recovered_expired_token: bool,
    pub removed: usize,
    /// `ok`, `busy` (another process was syncing it) or `failed`.
    pub status: String,
    /// Left-overs removed at the end of a full round.
    pub swept: usize,
    pub upserted: usize,
    pub well_known: Option<String>,
}

/// `o365_sync`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SyncReport {
    pub duration_ms: u64,
    pub folders: Vec<FolderSyncReport>,
    pub removed: usize,
    /// The same as `sync_id`.
    pub run: String,
    /// `ok`, `partial` (some folders failed) or `failed`.
    pub status: String,
    /// The `sync_id` of this sync's events.
    pub sync_id: String,
    pub upserted: usize,
}

impl SyncReport {
    pub fn from_engine(r: &crate::sync::engine::SyncReport) -> crate::error::Result<SyncReport> {
        let mut folders = Vec::with_capacity(r.folders.len());
        for f in &r.folders {
            folders.push(FolderSyncReport {
                display_name: f.display_name.clone(),
                error: f.error.as_ref().map(stored).transpose()?,
                folder_id: f.folder_id.clone(),
                full: f.full,
                pages: f.pages,
                recovered_expired_token: f.recovered_expired_token,
                removed: f.removed,
                status: f.status.clone(),
                swept: f.swept,
                upserted: f.upserted,
                well_known: f.well_known.clone(),
            });
        }
        Ok(SyncReport {
            duration_ms: r.duration_ms,
            folders,
            removed: r.removed,
            run: r.run.clone(),
            status: r.status.clone(),
            sync_id: r.sync_id.clone(),
            upserted: r.upserted,
        })
    }
}

/// A resumable folder-contents move (`o365_move_folder_contents`, `health.move_jobs`, the
/// `move_completed` event). Times are milliseconds since the epoch.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderMove {
    pub created_at: i64,
    pub from_id: String,
    pub from_name: String,
    pub id: String,
    pub last_error: Option<String>,
    pub moved: i64,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub to_id: String,
    pub to_name: String,
    pub total: i64,
    pub updated_at: i64,
}

impl From<&MoveJob> for FolderMove {
    fn from(j: &MoveJob) -> FolderMove {
        FolderMove {
            created_at: j.created_at,
            from_id: j.from_id.clone(),
            from_name: j.from_name.clone(),
            id: j.id.clone(),
            last_error: j.last_error.clone(),
            moved: j.moved,
            state: j.state.clone(),
            to_id: j.to_id.clone(),
            to_name: j.to_name.clone(),
            total: j.total,
            updated_at: j.updated_at,
        }
    }
}

/// `o365_move_folder_contents`: the move's state.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, transform = super::contract::strict)]
pub struct FolderMoveResult {
    /// Present (`true`) when another process is running this move.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(flatten)]
    pub job: FolderMove,
}

/// `health.folders[]` of `o365_get_mailbox`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct FolderHealth {
    pub display_name: Option<String>,
    pub folder: String,
    /// A delta round is under way (resumed where it stopped).
    pub in_progress: bool,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub last_success_at: Option<String>,
    pub well_known: Option<String>,
}

/// `health.last_error` of `o365_get_mailbox`: the newest sync error of any scope.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HealthError {
    pub at: Option<String>,
    /// The error kind.
    pub error: Option<String>,
    pub folder_name: Option<String>,
    pub message: Option<String>,
    /// A folder id, or `folders` for the folder tree.
    pub scope: String,
}

/// One supervised background job of this client.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobHealth {
    pub last_panic: Option<String>,
    pub last_panic_at: Option<String>,
    pub panics: u64,
}

/// `health.background`: panics caught in this client's background jobs.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackgroundHealth {
    /// By job: `scheduler`, `send_worker`, `device_code`.
    pub jobs: BTreeMap<String, JobHealth>,
    pub panics: u64,
}

/// `health` of `o365_get_mailbox`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MailboxHealth {
    pub background: BackgroundHealth,
    pub folders: Vec<FolderHealth>,
    pub folders_synced_at: Option<String>,
    pub last_error: Option<HealthError>,
    pub last_success_at: Option<String>,
    pub move_jobs: Vec<FolderMove>,
    /// The end of Microsoft's throttling window for the mailbox, while it lasts.
    pub throttled_until: Option<String>,
    pub token_expires_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_hides_root_and_hidden_folders() {
        let mk = |id: &str, parent: Option<&str>, wk: Option<&str>, hidden: bool| FolderRow {
            id: id.into(),
            parent_id: parent.map(Into::into),
            display_name: id.into(),
            well_known: wk.map(Into::into),
            unread_count: 0,
            total_count: 0,
            child_count: 0,
            hidden,
        };
        let rows = vec![
            mk("root", None, Some("msgfolderroot"), false),
            mk("in", Some("root"), Some("inbox"), false),
            mk("sub", Some("in"), None, false),
            mk("clutter", Some("root"), Some("clutter"), true),
        ];
        let v = Folder::tree(&rows, false);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].parent_id, None);
        assert_eq!(v[1].parent_id.as_deref(), Some("in"));
        assert_eq!(Folder::tree(&rows, true).len(), 3);
    }

    #[test]
    fn a_message_row_shows_its_recipients_and_defaults() {
        let page = serde_json::json!({"value": [{"id": "B", "subject": "Hallo",
            "from": {"emailAddress": {"name": "Dana", "address": "dana@x.example"}},
            "toRecipients": [{"emailAddress": {"address": "a@x.example"}}],
            "receivedDateTime": "2024-01-02T03:04:05Z"}]});
        let (p, _) = crate::sync::model::message_page(&page, "F1");
        let j = serde_json::to_value(MessageSummary::from(&p.upserts[0])).unwrap();
        assert_eq!(j["to"][0]["address"], "a@x.example");
        assert_eq!(j["to"][0]["name"], "");
        assert_eq!(j["cc"], serde_json::json!([]));
        assert_eq!(j["from"]["name"], "Dana");
        assert_eq!(j["received_at"], "2024-01-02T03:04:05.000Z");
        assert_eq!(j["is_read"], false);
        assert_eq!(j["categories"], serde_json::json!([]));
        assert_eq!(j["flag"], Value::Null);
    }
}
