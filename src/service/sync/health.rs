//! A mailbox's health: sync per scope, token expiry, throttling, moves, background jobs.

use super::*;

impl Client {
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
