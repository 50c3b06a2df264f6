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

fn yes() -> bool {
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

fn encode_cursor(received_at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{received_at}:{id}"))
}

fn decode_cursor(c: &str) -> Result<(i64, String)> {
    let bad = || {
        Error::invalid_field(
            "cursor",
            "cursor is not one this library returned (pass next_cursor unchanged)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.trim())
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

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

impl Client {
    fn default_max_age(&self) -> u64 {
        self.config().sync.max_age_ms
    }

    /// The cached tree when it is fresh enough, without touching the network or the runtime
    /// (the C ABI answers warm `o365_list_folders` calls from here).
    pub fn list_folders_cached(&self, req: &ListFolders) -> Result<Option<FolderList>> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "list_folders")?;
        let max_age = req.max_age_ms.unwrap_or_else(|| self.default_max_age()) as i64;
        let Some(state) = self.store().sync_state(&m.id, "folders")? else {
            return Ok(None);
        };
        match state.last_success_at {
            Some(at) if self.now_ms() - at <= max_age => {}
            _ => return Ok(None),
        }
        let rows = self.store().cached_folders(&m.id)?;
        Ok(Some(folders_result(
            &m,
            &rows,
            req.include_hidden,
            state.last_success_at,
            None,
        )))
    }

    /// The folder tree with roles and counts (cache, refreshed by `mailFolders/delta` when
    /// older than `max_age_ms`).
    pub async fn list_folders(&self, req: ListFolders) -> Result<FolderList> {
        if let Some(v) = self.list_folders_cached(&req)? {
            return Ok(v);
        }
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "list_folders")?;
        let gr = self.mailbox_graph(&m)?;
        match engine::refresh_folders(self, &gr, &m.id, Priority::Interactive).await {
            Ok(rows) => {
                let at = self
                    .store()
                    .sync_state(&m.id, "folders")?
                    .and_then(|s| s.last_success_at);
                Ok(folders_result(&m, &rows, req.include_hidden, at, None))
            }
            Err(e) => {
                // Serve what we have, saying it is stale and why; nothing cached → the error.
                let rows = self.store().cached_folders(&m.id)?;
                if rows.is_empty() || matches!(e, Error::AuthRequired(_) | Error::Forbidden(_)) {
                    return Err(e);
                }
                let at = self
                    .store()
                    .sync_state(&m.id, "folders")?
                    .and_then(|s| s.last_success_at);
                Ok(folders_result(&m, &rows, req.include_hidden, at, Some(&e)))
            }
        }
    }

    /// The cached folders, refreshed first when older than `max_age_ms` (or absent).
    async fn folders_for<A: MailApi>(
        &self,
        api: &A,
        m: &MailboxRecord,
        max_age_ms: u64,
    ) -> Result<Vec<FolderRow>> {
        let fresh = self
            .store()
            .sync_state(&m.id, "folders")?
            .and_then(|s| s.last_success_at)
            .is_some_and(|at| self.now_ms() - at <= max_age_ms as i64);
        let rows = self.store().cached_folders(&m.id)?;
        if fresh && !rows.is_empty() {
            return Ok(rows);
        }
        match engine::refresh_folders(self, api, &m.id, Priority::Interactive).await {
            // Throttled: the cached tree serves (the folder read then says stale).
            Err(Error::Throttled(_)) if !rows.is_empty() => Ok(rows),
            r => r,
        }
    }

    /// A page of a folder's messages from the cache (the folder is delta-synced first when
    /// its last round is older than `max_age_ms`). Keyset paging with `next_cursor`.
    pub async fn list_messages(&self, req: ListMessages) -> Result<MessagePage> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "list_messages")?;
        let gr = self.mailbox_graph(&m)?;
        // A first page is kept serialized for warm calls (read the counter before the page).
        let keep = Client::messages_warm_key(&req);
        let version = match keep {
            Some(_) => self.store().cache_version(&m.id)?,
            None => None,
        };
        let page = self.list_messages_with(&gr, &m, req).await?;
        self.keep_messages_page(keep, &m.id, version, &page)?;
        Ok(page)
    }

    pub(crate) async fn list_messages_with<A: MailApi>(
        &self,
        api: &A,
        m: &MailboxRecord,
        req: ListMessages,
    ) -> Result<MessagePage> {
        let limit = req.limit.unwrap_or(DEFAULT_LIST);
        if limit == 0 || limit > MAX_LIST {
            return Err(Error::invalid_field(
                "limit",
                format!("limit must be between 1 and {MAX_LIST}"),
            ));
        }
        let order = match req.sort.as_deref() {
            None | Some("newest") => MessageOrder::NewestFirst,
            Some("oldest") => MessageOrder::OldestFirst,
            Some(other) => {
                return Err(Error::invalid_field(
                    "sort",
                    format!("unknown sort '{other}': use 'newest' or 'oldest'"),
                ))
            }
        };
        let after = req.cursor.as_deref().map(decode_cursor).transpose()?;
        let max_age = req.max_age_ms.unwrap_or_else(|| self.default_max_age());
        let folders = self.folders_for(api, m, max_age).await?;
        let folder = find_folder(&folders, &req.folder, "folder")?.clone();
        let fresh = self
            .store()
            .sync_state(&m.id, &folder.id)?
            .and_then(|s| {
                if s.next_link.is_none() {
                    s.last_success_at
                } else {
                    None
                }
            })
            .is_some_and(|at| self.now_ms() - at <= max_age as i64);
        let mut stale_error = None;
        if !fresh {
            let opts = SyncOptions {
                priority: Priority::Interactive,
                folders: Some(vec![folder.id.clone()]),
                wait_for_lease: true,
                always_report: false,
            };
            let run = uuid::Uuid::new_v4().simple().to_string();
            let r = engine::sync_folder(self, api, &m.id, &folder, &opts, &run).await;
            if let Some(e) = r.cause {
                if self
                    .store()
                    .sync_state(&m.id, &folder.id)?
                    .and_then(|s| s.last_success_at)
                    .is_none()
                {
                    return Err(e);
                }
                stale_error = Some(ErrorBody::from(&e));
            }
        }
        let q = MessageQuery {
            folder_id: folder.id.clone(),
            order,
            unread_only: req.unread_only,
            search: req.search.filter(|s| !s.trim().is_empty()),
            after,
            limit: limit + 1,
        };
        let mut rows = self.store().list_cached_messages(&m.id, &q)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more {
            rows.last()
                .map(|r| encode_cursor(r.received_at.unwrap_or(0), &r.id))
        } else {
            None
        };
        Ok(MessagePage {
            folder: Folder::from_row(&folder, false),
            mailbox: m.id.clone(),
            messages: rows.iter().map(MessageSummary::from).collect(),
            next_cursor: next,
            stale: stale_error.as_ref().map(|_| true),
            refresh_error: stale_error,
        })
    }

    /// One message with body and attachment list (body fetched once, then cached).
    pub async fn get_message(&self, req: GetMessage) -> Result<MessageDetail> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "get_message")?;
        let gr = self.mailbox_graph(&m)?;
        self.get_message_with(&gr, &m, req).await
    }

    pub(crate) async fn get_message_with<A: MailApi>(
        &self,
        api: &A,
        m: &MailboxRecord,
        req: GetMessage,
    ) -> Result<MessageDetail> {
        check_id("id", &req.id)?;
        if !req.refresh {
            if let Some(c) = self.store().cached_message(&m.id, &req.id)? {
                if let (Some(body), Some(kind), Some(att)) =
                    (&c.body, &c.body_type, &c.attachments_json)
                {
                    return Ok(MessageDetail {
                        message: MessageSummary::from(&c.meta),
                        attachments: serde_json::from_str(att).unwrap_or_default(),
                        body: MessageBody {
                            content: body.clone(),
                            content_type: kind.clone(),
                        },
                        from_cache: true,
                    });
                }
            }
        }
        let seg = path_segment(&req.id);
        let msg = api::get_json(
            api,
            &format!("/messages/{seg}?$select={MESSAGE_SELECT},body"),
            Priority::Interactive,
            &[],
        )
        .await
        .map_err(|e| not_found_as("message", &req.id, e))?;
        let has_att = msg
            .get("hasAttachments")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let attachments: Vec<Attachment> = if has_att {
            let a = api::get_json(
                api,
                &format!("/messages/{seg}/attachments?$select=id,name,contentType,size,isInline,contentId"),
                Priority::Interactive,
                &[],
            )
            .await?;
            a.get("value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(Attachment::from_graph)
                .collect()
        } else {
            Vec::new()
        };
        let folder = msg
            .get("parentFolderId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let row = model::message_row(&msg, &folder)
            .ok_or_else(|| Error::internal("Graph returned a message without id"))?;
        let body = msg.get("body").cloned().unwrap_or(Value::Null);
        let content = body.get("content").and_then(Value::as_str).unwrap_or("");
        let kind = body
            .get("contentType")
            .and_then(Value::as_str)
            .unwrap_or("text")
            .to_lowercase();
        let att_json = serde_json::to_string(&attachments)?;
        // Cache only messages of folders we know (others would never be swept).
        if !folder.is_empty()
            && self
                .store()
                .cached_folders(&m.id)?
                .iter()
                .any(|f| f.id == folder)
        {
            self.store().upsert_message(&m.id, &row, self.now_ms())?;
            self.store()
                .store_message_body(&m.id, &row.id, content, &kind, &att_json)?;
        }
        Ok(MessageDetail {
            message: MessageSummary::from(&row),
            attachments,
            body: MessageBody {
                content: content.to_owned(),
                content_type: kind,
            },
            from_cache: false,
        })
    }

    /// An attachment's bytes, as base64 or written to `path`.
    pub async fn get_attachment(&self, req: GetAttachment) -> Result<AttachmentContent> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "get_attachment")?;
        check_id("message", &req.message)?;
        check_id("attachment", &req.attachment)?;
        let gr = self.mailbox_graph(&m)?;
        let a = api::get_json(
            &gr,
            &format!(
                "/messages/{}/attachments/{}",
                path_segment(&req.message),
                path_segment(&req.attachment)
            ),
            Priority::Interactive,
            &[],
        )
        .await
        .map_err(|e| not_found_as("attachment", &req.attachment, e))?;
        attachment_result(&a, req.path.as_deref())
    }

    /// Marks messages read or unread (Graph first, then cache and folder counts).
    pub async fn mark_read(&self, req: MarkRead) -> Result<MarkReadResult> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "mark_read")?;
        let gr = self.mailbox_graph(&m)?;
        self.mark_read_with(&gr, &m, req).await
    }

    pub(crate) async fn mark_read_with<A: MailApi>(
        &self,
        api: &A,
        m: &MailboxRecord,
        req: MarkRead,
    ) -> Result<MarkReadResult> {
        let ids: Vec<String> = match (req.id, req.ids) {
            (Some(id), None) => vec![id],
            (None, Some(ids)) if !ids.is_empty() && ids.len() <= 1000 => ids,
            _ => {
                return Err(Error::invalid_field(
                    "id",
                    "give either 'id' or 'ids' (1 to 1000 message ids)",
                ))
            }
        };
        for id in &ids {
            check_id("id", id)?;
        }
        let mut changed = Vec::new();
        let mut failed = Vec::new();
        if ids.len() == 1 {
            api::send_json(
                api,
                reqwest::Method::PATCH,
                &format!("/messages/{}", path_segment(&ids[0])),
                Some(json!({"isRead": req.read})),
                Priority::Interactive,
            )
            .await
            .map_err(|e| not_found_as("message", &ids[0], e))?;
            changed.push(ids[0].clone());
        } else {
            // Several: `$batch` saves round trips (20 per batch).
            for chunk in ids.chunks(20) {
                let items: Vec<BatchItem> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, id)| BatchItem {
                        id: i.to_string(),
                        method: "PATCH",
                        url: format!("/messages/{}", path_segment(id)),
                        body: Some(json!({"isRead": req.read})),
                    })
                    .collect();
                let answers = api::batch_retrying(api, &items, Priority::Interactive, 4).await?;
                for (k, (status, body)) in answers {
                    let id = chunk[k.parse::<usize>().unwrap_or(0).min(chunk.len() - 1)].clone();
                    if (200..300).contains(&status) {
                        changed.push(id);
                    } else {
                        failed.push(MarkReadFailure {
                            error: body.get("error").cloned(),
                            id,
                            status,
                        });
                    }
                }
            }
        }
        for id in &changed {
            if let Some((folder, was)) = self.store().set_message_read(&m.id, id, req.read)? {
                if was != req.read {
                    let d = if req.read { -1 } else { 1 };
                    self.store().adjust_folder_counts(&m.id, &folder, d, 0)?;
                }
            }
        }
        Ok(MarkReadResult {
            changed,
            failed,
            read: req.read,
        })
    }

    /// Moves a message to another folder; the id stays (immutable ids).
    pub async fn move_message(&self, req: MoveMessage) -> Result<MovedMessage> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "move_message")?;
        let gr = self.mailbox_graph(&m)?;
        self.move_message_with(&gr, &m, req).await
    }

    pub(crate) async fn move_message_with<A: MailApi>(
        &self,
        api: &A,
        m: &MailboxRecord,
        req: MoveMessage,
    ) -> Result<MovedMessage> {
        check_id("id", &req.id)?;
        let folders = self.folders_for(api, m, self.default_max_age()).await?;
        let dest = find_folder(&folders, &req.to, "to")?.clone();
        let moved = api::send_json(
            api,
            reqwest::Method::POST,
            &format!("/messages/{}/move", path_segment(&req.id)),
            Some(json!({"destinationId": dest.id})),
            Priority::Interactive,
        )
        .await
        .map_err(|e| not_found_as("message", &req.id, e))?;
        let row = model::message_row(&moved, &dest.id)
            .ok_or_else(|| Error::internal("Graph returned a moved message without id"))?;
        if let Some((old_folder, was_read)) = self.store().remove_message(&m.id, &req.id)? {
            self.store().adjust_folder_counts(
                &m.id,
                &old_folder,
                if was_read { 0 } else { -1 },
                -1,
            )?;
        }
        if row.id != req.id {
            let _ = self.store().remove_message(&m.id, &row.id)?;
        }
        self.store().upsert_message(&m.id, &row, self.now_ms())?;
        let unread = if row.is_read.unwrap_or(true) { 0 } else { 1 };
        self.store()
            .adjust_folder_counts(&m.id, &dest.id, unread, 1)?;
        Ok(MovedMessage {
            message: MessageSummary::from(&row),
            previous_id: req.id,
        })
    }

    /// Deletes a message (Graph `DELETE`: Exchange keeps it recoverable).
    pub async fn delete_message(&self, req: DeleteMessage) -> Result<MessageDeleted> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "delete_message")?;
        let gr = self.mailbox_graph(&m)?;
        check_id("id", &req.id)?;
        api::send_json(
            &gr,
            reqwest::Method::DELETE,
            &format!("/messages/{}", path_segment(&req.id)),
            None,
            Priority::Interactive,
        )
        .await
        .map_err(|e| not_found_as("message", &req.id, e))?;
        if let Some((folder, was_read)) = self.store().remove_message(&m.id, &req.id)? {
            self.store()
                .adjust_folder_counts(&m.id, &folder, if was_read { 0 } else { -1 }, -1)?;
        }
        Ok(MessageDeleted {
            deleted: true,
            id: req.id,
        })
    }

    /// Brings the cache up to date (all visible folders, or the named ones).
    pub async fn sync(&self, req: SyncMailbox) -> Result<SyncReport> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "sync")?;
        let gr = self.mailbox_graph(&m)?;
        self.sync_with(&gr, &m, req.folders, Priority::Background)
            .await
    }

    pub(crate) async fn sync_with<A: MailApi>(
        &self,
        api: &A,
        m: &MailboxRecord,
        folders: Option<Vec<String>>,
        priority: Priority,
    ) -> Result<SyncReport> {
        let ids = match folders {
            None => None,
            Some(keys) => {
                let rows = self.folders_for(api, m, 0).await?;
                let mut ids = Vec::new();
                for k in &keys {
                    ids.push(find_folder(&rows, k, "folders")?.id.clone());
                }
                Some(ids)
            }
        };
        let opts = SyncOptions {
            priority,
            folders: ids,
            wait_for_lease: true,
            always_report: true,
        };
        let report = self.sync_round(api, &m.id, opts).await;
        // Mail sent from Outlook shows up in Sent Items: book it (issue 7), even when
        // another folder failed.
        self.book_external_sent_after_sync(&m.id);
        SyncReport::from_engine(&report?)
    }

    /// Scheduler work for one mailbox: resume unfinished moves, then a background sync that
    /// skips folders another process is syncing.
    pub(crate) async fn background_sync(&self, m: &MailboxRecord) -> Result<()> {
        let gr = self.mailbox_graph(m)?;
        for job in self.store().running_move_jobs(&m.id)? {
            crate::sync::moves::run_job(self, &gr, &m.id, job, Priority::Background).await?;
        }
        let opts = SyncOptions {
            priority: Priority::Background,
            folders: None,
            wait_for_lease: false,
            always_report: false,
        };
        let r = self.sync_round(&gr, &m.id, opts).await;
        self.book_external_sent_after_sync(&m.id);
        r.map(|_| ())
    }

    /// One mailbox sync round, logged and counted.
    async fn sync_round<A: MailApi>(
        &self,
        api: &A,
        mailbox_id: &str,
        opts: SyncOptions,
    ) -> Result<engine::SyncReport> {
        let t = std::time::Instant::now();
        let r = engine::sync_mailbox(self, api, mailbox_id, opts).await;
        crate::telemetry::log::sync_round(self, mailbox_id, &r, t.elapsed());
        r
    }

    /// Wipes the mailbox's cached folders, messages and delta links (seed point 9).
    pub async fn cache_clear(&self, req: CacheClear) -> Result<CacheCleared> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "cache_clear")?;
        self.store().clear_cache(&m.id)?;
        self.audit(Some(&m.id), Some(&req.user), "cache_clear", "ok", None);
        Ok(CacheCleared {
            cleared: true,
            mailbox: m.id,
        })
    }

    /// Moves every message of `from` to `to` (resumable), then clears the cache.
    pub async fn move_folder_contents(&self, req: MoveFolderContents) -> Result<FolderMoveResult> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "move_folder_contents")?;
        let gr = self.mailbox_graph(&m)?;
        self.move_folder_contents_with(&gr, &m, req).await
    }

    pub(crate) async fn move_folder_contents_with<A: MailApi>(
        &self,
        api: &A,
        m: &MailboxRecord,
        req: MoveFolderContents,
    ) -> Result<FolderMoveResult> {
        let folders = self.folders_for(api, m, 0).await?;
        let from = find_folder(&folders, &req.from, "from")?.clone();
        let to = find_folder(&folders, &req.to, "to")?.clone();
        if from.id == to.id {
            return Err(Error::invalid_field(
                "to",
                "'from' and 'to' name the same folder",
            ));
        }
        let now = self.now_ms();
        let job = self.store().open_move_job(
            &m.id,
            &MoveJob {
                id: format!("mv_{}", uuid::Uuid::new_v4().simple()),
                from_id: from.id.clone(),
                from_name: from.display_name.clone(),
                to_id: to.id.clone(),
                to_name: to.display_name.clone(),
                state: "running".into(),
                moved: 0,
                total: from.total_count,
                last_error: None,
                created_at: now,
                updated_at: now,
            },
        )?;
        self.audit(
            Some(&m.id),
            Some(&req.user),
            "move_folder_contents",
            "started",
            Some(format!("{} -> {}", from.display_name, to.display_name)),
        );
        let (job, ran) =
            crate::sync::moves::run_job(self, api, &m.id, job, Priority::Background).await?;
        Ok(FolderMoveResult {
            busy: (!ran).then_some(true),
            hint: (!ran).then(|| {
                "another process is running this move; call again to see its progress".to_owned()
            }),
            job: FolderMove::from(&job),
        })
    }

    /// The `health` object of `o365_get_mailbox`: last success per folder, last error, token
    /// expiry.
    pub(crate) fn mailbox_health(&self, mailbox_id: &str) -> Result<MailboxHealth> {
        let states = self.store().sync_states(mailbox_id)?;
        let folders = self.store().cached_folders(mailbox_id)?;
        let folder = |scope: &str| folders.iter().find(|f| f.id == scope);
        let name = |scope: &str| folder(scope).map(|f| f.display_name.clone());
        let ts = |v: Option<i64>| v.map(crate::clock::rfc3339);
        let per_folder = states
            .iter()
            .filter(|s| s.scope != "folders")
            .map(|s| FolderHealth {
                display_name: name(&s.scope),
                folder: s.scope.clone(),
                in_progress: s.next_link.is_some(),
                last_error: s.last_error.clone(),
                last_error_at: ts(s.last_error_at),
                last_success_at: ts(s.last_success_at),
                well_known: folder(&s.scope).and_then(|f| f.well_known.clone()),
            })
            .collect();
        let last_error = states
            .iter()
            .filter(|s| s.last_error.is_some())
            .max_by_key(|s| s.last_error_at.unwrap_or(0))
            .map(|s| HealthError {
                at: ts(s.last_error_at),
                error: s.last_error_kind.clone(),
                folder_name: name(&s.scope),
                message: s.last_error.clone(),
                scope: s.scope.clone(),
            });
        let folder_tree = states.iter().find(|s| s.scope == "folders");
        let last_success = states.iter().filter_map(|s| s.last_success_at).max();
        let jobs = self.store().running_move_jobs(mailbox_id)?;
        let background: BackgroundHealth = serde_json::from_value(self.jobs().health())
            .map_err(|e| Error::internal(format!("background health does not fit: {e}")))?;
        Ok(MailboxHealth {
            background,
            folders: per_folder,
            folders_synced_at: ts(folder_tree.and_then(|s| s.last_success_at)),
            last_error,
            last_success_at: ts(last_success),
            move_jobs: jobs.iter().map(FolderMove::from).collect(),
            // Microsoft throttled the mailbox for longer than a call waits: until then no
            // request goes out, reads answer from the cache (stale) and sends are queued.
            throttled_until: ts(self
                .store()
                .lease_holder(&format!("throttle:{mailbox_id}"))?
                .map(|(_, until)| until)
                .filter(|until| *until > self.now_ms())),
            token_expires_at: ts(self.store().token_expiry(mailbox_id)?),
        })
    }
}

/// How often the scheduler runs `o365_maintenance` work.
const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Starts the background scheduler of `client` on the library runtime when the config says
/// so (`sync.scheduler`). It holds the client weakly: freeing the client ends it.
pub(crate) fn start_scheduler(client: &Client) {
    let cfg = &client.config().sync;
    if !cfg.scheduler {
        return;
    }
    let rt = match crate::runtime::get(client.worker_threads()) {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!("sync scheduler not started: {e}");
            return;
        }
    };
    let weak = client.downgrade();
    let interval = std::time::Duration::from_millis(cfg.interval_ms);
    let job = move || scheduler_loop(weak.clone(), interval);
    let weak = client.downgrade();
    let span = client.span().clone();
    rt.spawn(tracing::Instrument::instrument(
        super::supervisor::supervise(weak, "scheduler", job),
        span,
    ));
}

async fn scheduler_loop(weak: std::sync::Weak<super::Inner>, interval: std::time::Duration) {
    let mut last_maintenance: Option<tokio::time::Instant> = None;
    let mut pause = interval;
    loop {
        let alive = || weak.strong_count() > 0;
        if !crate::sync::scheduler::sleep_while_alive(pause, alive).await {
            break;
        }
        match Client::upgrade(&weak) {
            Some(c) => c.jobs().checkpoint("scheduler"),
            None => break,
        }
        // The round spreads the mailboxes over the interval; the next one starts an
        // interval after this one started.
        let started = tokio::time::Instant::now();
        crate::sync::scheduler::tick(&weak, interval).await;
        pause = interval.saturating_sub(started.elapsed());
        let Some(c) = Client::upgrade(&weak) else {
            break;
        };
        // Hourly: keep idle mailboxes signed in, trim acked events, purge expired links.
        if !matches!(last_maintenance, Some(t) if t.elapsed() < MAINTENANCE_EVERY) {
            last_maintenance = Some(tokio::time::Instant::now());
            if let Err(e) = c.maintenance(Default::default()).await {
                tracing::warn!("scheduler: maintenance failed: {e}");
            }
        }
    }
}

fn folders_result(
    m: &MailboxRecord,
    rows: &[FolderRow],
    include_hidden: bool,
    synced_at: Option<i64>,
    error: Option<&Error>,
) -> FolderList {
    FolderList {
        folders: Folder::tree(rows, include_hidden),
        mailbox: m.id.clone(),
        refresh_error: error.map(ErrorBody::from),
        stale: error.map(|_| true),
        synced_at: synced_at.map(crate::clock::rfc3339),
    }
}

fn check_id(field: &str, id: &str) -> Result<()> {
    if id.trim().is_empty() || id.len() > 1024 {
        return Err(Error::invalid_field(
            field,
            format!("{field} must be a Graph id"),
        ));
    }
    Ok(())
}

/// Graph's 404 as the library's `not_found` naming what was missing.
fn not_found_as(what: &'static str, key: &str, e: Error) -> Error {
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

fn attachment_result(a: &Value, path: Option<&str>) -> Result<AttachmentContent> {
    let b64 = a
        .get("contentBytes")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::invalid(
                "not_a_file_attachment",
                "this attachment has no content bytes (an item or reference attachment)",
            )
        })?;
    let mut out = AttachmentContent {
        attachment: Attachment::from_graph(a),
        bytes_written: None,
        content_base64: None,
        path: None,
    };
    match path {
        Some(p) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| Error::internal(format!("attachment content is not base64: {e}")))?;
            std::fs::write(p, &bytes)
                .map_err(|e| Error::invalid_field("path", format!("cannot write '{p}': {e}")))?;
            out.path = Some(p.to_owned());
            out.bytes_written = Some(bytes.len());
        }
        None => out.content_base64 = Some(b64.to_owned()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let c = encode_cursor(1_700_000_000_000, "AAkALg=x:y");
        assert_eq!(
            decode_cursor(&c).unwrap(),
            (1_700_000_000_000, "AAkALg=x:y".to_owned())
        );
        assert_eq!(decode_cursor("%%%").unwrap_err().status(), 1);
    }

    #[test]
    fn folders_are_found_by_id_role_or_unique_name() {
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
