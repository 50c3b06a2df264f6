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
            if let Err(e) = c.scheduled_maintenance().await {
                tracing::warn!("scheduler: maintenance failed: {e}");
            }
        }
    }
}

/// The lease of the scheduler's hourly maintenance: held for nine tenths of
/// [`MAINTENANCE_EVERY`] by the process that ran it, so every other scheduler on the store
/// skips it until then (it marks work done, and is never taken over).
const MAINTENANCE_LEASE: &str = "maintenance:hourly";

impl Client {
    /// The scheduler's hourly maintenance: runs [`Client::maintenance`] unless another
    /// process on the store ran it within the hour. `None` when it was skipped.
    pub async fn scheduled_maintenance(
        &self,
    ) -> crate::error::Result<Option<super::maintenance::MaintenanceResult>> {
        let ttl = i64::try_from(MAINTENANCE_EVERY.as_millis() * 9 / 10).unwrap_or(i64::MAX);
        let owner = crate::core::lease::owner(
            self.core(),
            &format!("maintenance.{:08x}", rand::random::<u32>()),
        );
        let now = self.now_ms();
        let taken = self
            .core()
            .blocking(move |c| c.store().try_lease(MAINTENANCE_LEASE, &owner, now, ttl))
            .await?;
        if !taken {
            tracing::debug!("scheduler: maintenance ran on another host this hour");
            return Ok(None);
        }
        self.maintenance(Default::default()).await.map(Some)
    }

    /// One scheduler round now, as the background scheduler runs it every `sync.interval_ms`
    /// (the benchmark drives it directly).
    pub async fn scheduler_round(&self, over: Duration) {
        tick(&self.downgrade_client(), over).await
    }
}

/// The lease a scheduler round takes on a mailbox for one interval (`sync.interval_ms`).
fn round_lease(mailbox_id: &str) -> String {
    format!("sched:{mailbox_id}")
}

/// How long a round lease is held: nine tenths of the interval, so that the next round of
/// the same host (an interval later, give or take the timers' jitter) finds it expired.
fn round_lease_ttl(interval_ms: u64) -> i64 {
    i64::try_from(interval_ms - interval_ms / 10).unwrap_or(i64::MAX)
}

/// One round over all mailboxes, spread evenly over `over` (the interval) rather than in one
/// burst: mailbox `i` of `n` starts at `i * over / n`. Returns when the last one finished.
/// A mailbox is synced only by the round that takes its round lease ([`round_lease`], held
/// for 0.9 x `sync.interval_ms`): with many processes on one store, each mailbox once per
/// interval.
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
    // The owner names this round, not just this client: a lease the previous round of this
    // same client took is not renewed but skipped until it expires.
    let round = rand::random::<u32>();
    let owner = crate::core::lease::owner(c.core(), &format!("scheduler.{round:08x}"));
    let ttl_ms = round_lease_ttl(c.config().sync.interval_ms);
    drop(c);
    let alive = || client.is_alive();
    let owner = &owner;
    spread(due, over, PARALLEL_MAILBOXES, alive, |m| async move {
        let Some(c) = client.upgrade() else {
            return;
        };
        // Once per interval across every process on the store: the round lease is kept
        // after the sync (not released), so every scheduler (this one's next round too)
        // skips the mailbox until it expires, nine tenths of an interval later. It marks
        // a round as done, not work in progress: it is never taken over from a holder
        // that is gone (a process that synced and exited, or died mid-sync: the folder
        // leases guard the data, and the next interval's round syncs the mailbox).
        let (name, holder, now) = (round_lease(&m.id), owner.clone(), c.now_ms());
        let taken = c
            .core()
            .blocking(move |c| c.store().try_lease(&name, &holder, now, ttl_ms))
            .await;
        match taken {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(mailbox = %m.id, "scheduler: synced by another host this interval");
                return;
            }
            Err(e) => {
                tracing::info!(mailbox = %m.id, "scheduler: cannot take the round lease: {e}");
                return;
            }
        }
        if let Err(e) = c.background_sync(&m).await {
            tracing::info!(mailbox = %m.id, "scheduler: sync failed: {e}");
        }
    })
    .await;
}
