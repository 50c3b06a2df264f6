//! Reads: the folder tree, message pages (keyset cursor), one message, an attachment,
//! from the cache, refreshed through Graph when older than `max_age_ms`.

use super::*;

impl Client {
    pub(super) fn default_max_age(&self) -> u64 {
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
    pub(super) async fn folders_for<A: MailApi>(
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
}

pub(super) fn encode_cursor(received_at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{received_at}:{id}"))
}

pub(super) fn decode_cursor(c: &str) -> Result<(i64, String)> {
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

pub(super) fn folders_result(
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

pub(super) fn attachment_result(a: &Value, path: Option<&str>) -> Result<AttachmentContent> {
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
