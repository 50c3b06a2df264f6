//! The client's background jobs that compose services: the sync scheduler (with the hourly
//! maintenance). Every background job (this one, the outbox worker of [`crate::send`], the
//! device-code poller of the sign-in) starts through [`crate::core::supervisor::spawn`]: a
//! panic is caught, logged, counted in `health.background`, and the job restarts with
//! back-off; each ends when its client is freed.

use super::{Client, WeakClient};
use crate::mailbox::Settings;
use crate::sync::scheduler::{sleep_while_alive, spread, PARALLEL_MAILBOXES};
use std::time::Duration;

/// How often the scheduler runs `o365_maintenance` work.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the background scheduler of `client` when the config says so (`sync.scheduler`).
/// It holds the client weakly: freeing the client ends it.
pub(crate) fn start_scheduler(client: &Client) {
    let cfg = &client.config().sync;
    if !cfg.scheduler {
        return;
    }
    let weak = client.downgrade_client();
    let interval = Duration::from_millis(cfg.interval_ms);
    crate::core::supervisor::spawn(client, "scheduler", move || {
        scheduler_loop(weak.clone(), interval)
    });
}

async fn scheduler_loop(weak: WeakClient, interval: Duration) {
    let mut last_maintenance: Option<tokio::time::Instant> = None;
    let mut pause = interval;
    loop {
        let alive = || weak.is_alive();
        if !sleep_while_alive(pause, alive).await {
            break;
        }
        match weak.upgrade() {
            Some(c) => c.jobs().checkpoint("scheduler"),
            None => break,
        }
        // The round spreads the mailboxes over the interval; the next one starts an
        // interval after this one started.
        let started = tokio::time::Instant::now();
        tick(&weak, interval).await;
        pause = interval.saturating_sub(started.elapsed());
        let Some(c) = weak.upgrade() else {
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

impl Client {
    /// One scheduler round now, as the background scheduler runs it every `sync.interval_ms`
    /// (the benchmark drives it directly).
    pub async fn scheduler_round(&self, over: Duration) {
        tick(&self.downgrade_client(), over).await
    }
}

/// One round over all mailboxes, spread evenly over `over` (the interval) rather than in one
/// burst: mailbox `i` of `n` starts at `i * over / n`. Returns when the last one finished.
/// Holds the client only while a mailbox is synced: freeing the client ends the round.
async fn tick(client: &WeakClient, over: Duration) {
    let Some(c) = client.upgrade() else {
        return;
    };
    let mailboxes = match c.store().list_mailboxes(None) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("scheduler: cannot list mailboxes: {e}");
            return;
        }
    };
    let due: Vec<_> = mailboxes
        .into_iter()
        .filter(|m| {
            let signed_in =
                m.auth_state == "authenticated" || matches!(c.signed_in_owner(m), Ok(Some(_)));
            signed_in && Settings::from_record(m).background_sync
        })
        .collect();
    drop(c);
    let alive = || client.is_alive();
    spread(due, over, PARALLEL_MAILBOXES, alive, |m| async move {
        let Some(c) = client.upgrade() else {
            return;
        };
        if let Err(e) = c.background_sync(&m).await {
            tracing::info!(mailbox = %m.id, "scheduler: sync failed: {e}");
        }
    })
    .await;
}
