//! Changes written through: mark read, move, delete go to Graph first, then to the cache
//! and the folder counts.

use super::*;

impl Client {
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
}
