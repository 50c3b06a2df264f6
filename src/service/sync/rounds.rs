//! Sync rounds (explicit and from the scheduler) and cache clears.

use super::*;

impl Client {
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
    pub(super) async fn sync_round<A: MailApi>(
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
}
