//! Folders, messages, sync, cache clear and folder-contents moves (issue 5).
//!
//! Reads come from the store's cache and refresh it through Graph when it is older than
//! `max_age_ms`; writes go to Graph first and then to the cache (and folder counts), so the
//! CRM sees its own changes at once and the next delta round confirms them.

use super::contract::ErrorBody;
use super::mail_view::{
    Attachment, AttachmentContent, BackgroundHealth, CacheCleared, Folder, FolderHealth,
    FolderList, FolderMove, FolderMoveResult, HealthError, MailboxHealth, MarkReadFailure,
    MarkReadResult, MessageBody, MessageDeleted, MessageDetail, MessagePage, MessageSummary,
    MovedMessage, SyncReport,
};
use super::Client;
use crate::error::{Error, Result};
use crate::graph::Priority;
use crate::store::cache::{FolderRow, MessageOrder, MessageQuery, MoveJob};
use crate::store::MailboxRecord;
use crate::sync::api::{self, BatchItem, MailApi};
use crate::sync::engine::{self, SyncOptions};
use crate::sync::model::{self, path_segment, MESSAGE_SELECT};
use base64::Engine;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

mod changes;
mod health;
mod moves;
mod reads;
mod rounds;

#[cfg(test)]
use reads::{decode_cursor, encode_cursor};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFolders {
    pub mailbox: String,
    pub user: String,
    /// Answer from the cache when the tree was refreshed at most this long ago.
    #[serde(default)]
    pub max_age_ms: Option<u64>,
    #[serde(default)]
    pub include_hidden: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMessages {
    pub mailbox: String,
    pub user: String,
    /// Folder id, well-known role (`inbox`) or display name.
    pub folder: String,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// `newest` (default) or `oldest`.
    #[serde(default)]
    pub sort: Option<String>,
    #[serde(default)]
    pub unread_only: bool,
    /// Substring of the subject or the sender's name or address (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub max_age_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetMessage {
    pub mailbox: String,
    pub user: String,
    pub id: String,
    /// Fetch again even when the body is cached.
    #[serde(default)]
    pub refresh: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetAttachment {
    pub mailbox: String,
    pub user: String,
    pub message: String,
    pub attachment: String,
    /// Write the bytes to this file instead of returning base64.
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    pub mailbox: String,
    pub user: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub read: bool,
}

pub(super) fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveMessage {
    pub mailbox: String,
    pub user: String,
    pub id: String,
    /// Folder id, well-known role or display name.
    pub to: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMessage {
    pub mailbox: String,
    pub user: String,
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncMailbox {
    pub mailbox: String,
    pub user: String,
    /// Folder ids, roles or display names; all visible folders when absent.
    #[serde(default)]
    pub folders: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheClear {
    pub mailbox: String,
    pub user: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveFolderContents {
    pub mailbox: String,
    pub user: String,
    /// Folder id, role or display name ("Gesendete Objekte").
    pub from: String,
    /// Folder id, role or display name ("sentitems").
    pub to: String,
}

const MAX_LIST: usize = 500;
const DEFAULT_LIST: usize = 50;

/// Finds a folder by id, then role, then display name (case-insensitive; must be unique).
pub fn find_folder<'a>(folders: &'a [FolderRow], key: &str, field: &str) -> Result<&'a FolderRow> {
    if let Some(f) = folders.iter().find(|f| f.id == key) {
        return Ok(f);
    }
    let lower = key.to_lowercase();
    if let Some(f) = folders
        .iter()
        .find(|f| f.well_known.as_deref() == Some(lower.as_str()))
    {
        return Ok(f);
    }
    let by_name: Vec<&FolderRow> = folders
        .iter()
        .filter(|f| f.display_name.to_lowercase() == lower)
        .collect();
    match by_name.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::NotFound(crate::error::Fault::new(
            "folder_not_found",
            format!("no folder '{key}' in this mailbox"),
        ))
        .with_hint("name a folder by id, by role (inbox, sentitems, ...) or by its display name")
        .with_detail("field", field)),
        _ => Err(Error::invalid_field(
            field,
            format!("several folders are called '{key}'; name the folder by its id"),
        )),
    }
}

pub(super) fn check_id(field: &str, id: &str) -> Result<()> {
    if id.trim().is_empty() || id.len() > 1024 {
        return Err(Error::invalid_field(
            field,
            format!("{field} must be a Graph id"),
        ));
    }
    Ok(())
}

/// Graph's 404 as the library's `not_found` naming what was missing.
pub(super) fn not_found_as(what: &'static str, key: &str, e: Error) -> Error {
    if e.status() == crate::error::status::NOT_FOUND {
        let mut n = Error::not_found(what, key);
        for (k, v) in &e.fault().details {
            n = n.with_detail(k, v.clone());
        }
        n
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn cursor_round_trips_and_rejects_junk() {
        let c = encode_cursor(1_700_000_000_000, "AAkALg=x:y");
        assert_eq!(
            decode_cursor(&c).unwrap(),
            (1_700_000_000_000, "AAkALg=x:y".to_owned())
        );
        assert_eq!(decode_cursor("%%%").unwrap_err().status(), 1);
    }

    #[test]
    pub(super) fn folders_are_found_by_id_role_or_unique_name() {
        let mk = |id: &str, name: &str, wk: Option<&str>| FolderRow {
            id: id.into(),
            parent_id: None,
            display_name: name.into(),
            well_known: wk.map(Into::into),
            unread_count: 0,
            total_count: 0,
            child_count: 0,
            hidden: false,
        };
        let f = vec![
            mk("1", "Gesendete Elemente", Some("sentitems")),
            mk("2", "Gesendete Objekte", None),
            mk("3", "Projekte", None),
            mk("4", "Projekte", None),
        ];
        assert_eq!(find_folder(&f, "sentitems", "to").unwrap().id, "1");
        assert_eq!(find_folder(&f, "SentItems", "to").unwrap().id, "1");
        assert_eq!(
            find_folder(&f, "gesendete objekte", "from").unwrap().id,
            "2"
        );
        assert_eq!(find_folder(&f, "2", "from").unwrap().id, "2");
        assert_eq!(find_folder(&f, "Projekte", "x").unwrap_err().status(), 1);
        assert_eq!(find_folder(&f, "Nope", "x").unwrap_err().status(), 2);
    }
}
