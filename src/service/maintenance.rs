//! Housekeeping a host runs from time to time (cron), and the background scheduler hourly.

use super::Client;
use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Refresh tokens not refreshed for this many days (default 30; Microsoft drops refresh
    /// tokens unused for 90 days).
    #[serde(default)]
    pub idle_refresh_days: Option<u32>,
    /// Forget acked events older than this many days (default 30).
    #[serde(default)]
    pub keep_acked_events_days: Option<u32>,
}

/// `o365_maintenance`: what was done.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MaintenanceResult {
    /// Acked events older than `keep_acked_events_days` forgotten.
    pub events_purged: usize,
    /// Expired links whose files were deleted.
    pub links_purged: usize,
    /// Mailboxes whose idle tokens were refreshed.
    pub tokens_refreshed: usize,
}

impl Client {
    /// `o365_maintenance`: keeps idle mailboxes signed in and trims the event log.
    pub async fn maintenance(&self, req: Maintenance) -> Result<MaintenanceResult> {
        let idle_days = req.idle_refresh_days.unwrap_or(30);
        if idle_days == 0 || idle_days > 80 {
            return Err(Error::invalid_field(
                "idle_refresh_days",
                "idle_refresh_days must be between 1 and 80 (Microsoft's limit is 90 days)",
            ));
        }
        let refreshed = self.refresh_idle_tokens(idle_days as i64 * DAY_MS).await?;
        let keep = req.keep_acked_events_days.unwrap_or(30).max(1) as i64;
        let purged = self
            .store()
            .purge_acked_events(self.now_ms() - keep * DAY_MS)?;
        let links_purged = crate::links::purge(self)?;
        if !crate::core::files::store_is_local(self.config()) {
            // Kept files in a shared store whose link or outbox entry is gone.
            crate::core::files::sweep(self, |owner| {
                Ok(crate::links::blob_owner_gone(self, owner)?
                    .or(crate::core::spool::blob_owner_gone(self, owner)?)
                    .unwrap_or(false))
            })?;
        }
        Ok(MaintenanceResult {
            events_purged: purged,
            links_purged,
            tokens_refreshed: refreshed,
        })
    }
}
