//! The background scheduler: one task per client on the library's runtime, started when the
//! config enables it (`sync.scheduler`), gone when the client is dropped. Every
//! `sync.interval_ms` it syncs each authenticated mailbox whose `background_sync` setting is
//! on, and resumes unfinished folder-contents moves. Work on a folder is claimed through
//! leases in the store, so many processes running schedulers never sync one folder twice at
//! once; a folder another process is syncing is skipped, not waited for.

use crate::mailbox::Settings;
use crate::service::Client;
use std::time::Duration;

/// One pass over all mailboxes.
pub async fn tick(client: &Client) {
    let mailboxes = match client.store().list_mailboxes(None) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("scheduler: cannot list mailboxes: {e}");
            return;
        }
    };
    for m in mailboxes {
        let signed_in =
            m.auth_state == "authenticated" || matches!(client.signed_in_owner(&m), Ok(Some(_)));
        if !signed_in || !Settings::from_record(&m).background_sync {
            continue;
        }
        if let Err(e) = client.background_sync(&m).await {
            tracing::info!(mailbox = %m.id, "scheduler: sync failed: {e}");
        }
    }
}

/// Sleeps `total` in slices, stopping early (false) once the client is gone.
pub async fn sleep_while_alive(total: Duration, alive: impl Fn() -> bool) -> bool {
    let slice = Duration::from_millis(250);
    let mut left = total;
    while left > Duration::ZERO {
        if !alive() {
            return false;
        }
        let step = left.min(slice);
        tokio::time::sleep(step).await;
        left -= step;
    }
    alive()
}
