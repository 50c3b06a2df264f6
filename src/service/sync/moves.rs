//! Folder-contents moves that run in the background and survive restarts.

use super::*;

impl Client {
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
}
