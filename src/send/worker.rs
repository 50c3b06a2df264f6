//! The background sender of one client: sends queued entries when they are due (pacing,
//! retries after throttling, entries left behind by a crashed process once their lease
//! expired). One per client instance; it stops when the outbox is empty or the client is
//! gone, and starts again with the next queued send.

use super::outbox::{process, Step};
use crate::core::{Core, WeakCore};
use futures_util::stream::{self, StreamExt};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// Client instances with a running worker.
static RUNNING: std::sync::LazyLock<Mutex<HashSet<String>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashSet::new()));

/// Entries processed at once per worker (the Graph client allows 4 requests per mailbox).
const PARALLEL: usize = 4;
/// Longest sleep between looks at the outbox.
const IDLE: Duration = Duration::from_millis(500);

/// Starts the worker of this client unless it runs already or background sending is off.
pub fn ensure(c: &Core) {
    if !c.config().send.background {
        return;
    }
    let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    if running.contains(c.instance()) {
        return;
    }
    running.insert(c.instance().to_owned());
    let weak = c.downgrade();
    let instance = c.instance().to_owned();
    let job_instance = instance.clone();
    let started = crate::core::supervisor::spawn(c, "send_worker", move || {
        let (weak, instance) = (weak.clone(), job_instance.clone());
        // The registry entry goes when the job ends (not after a panic: the supervisor
        // restarts it).
        async move {
            run(weak).await;
            RUNNING
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&instance);
        }
    });
    if !started {
        running.remove(&instance);
    }
}

async fn run(weak: WeakCore) {
    loop {
        let Some(c) = Core::upgrade(&weak) else {
            return;
        };
        c.jobs().checkpoint("send_worker");
        let now = c.now_ms();
        let due = match c.store().due_outbox(now, 32) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("outbox worker: {e}");
                Vec::new()
            }
        };
        if due.is_empty() {
            // Stop when nothing is left, deciding under the registry lock so a send that
            // queues right now either is seen here or starts a new worker.
            let running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
            if c.store().unfinished_outbox().unwrap_or(1) == 0 {
                drop(running);
                return;
            }
            drop(running);
            drop(c);
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let mut progressed = false;
        let results: Vec<_> = stream::iter(due)
            .map(|row| {
                let c = c.clone();
                async move { process(&c, &row.send_id, Duration::ZERO, false).await }
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for r in results {
            match r {
                Ok(Step::Sent) | Ok(Step::Failed(_)) => progressed = true,
                Ok(Step::Deferred(_)) | Ok(Step::Busy) => {}
                Err(e) => tracing::warn!("outbox worker: {e}"),
            }
        }
        drop(c);
        if !progressed {
            tokio::time::sleep(IDLE / 5).await;
        }
    }
}

/// Processes every due entry now, in the calling task, until none is due or `budget` is
/// spent (used by `o365_outbox_process`, e.g. from a cron job). Returns (sent, failed).
pub async fn drain(c: &Core, budget: Duration) -> (u64, u64) {
    let deadline = tokio::time::Instant::now() + budget;
    let (mut sent, mut failed) = (0, 0);
    loop {
        let due = c.store().due_outbox(c.now_ms(), 32).unwrap_or_default();
        let pending = c.store().unfinished_outbox().unwrap_or(0);
        if pending == 0 || tokio::time::Instant::now() >= deadline {
            return (sent, failed);
        }
        if due.is_empty() {
            // Nothing falls due before the budget ends (say, pacing defers the rest by a
            // minute): return now instead of idling until the deadline.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let horizon = c.now_ms() + left.as_millis() as i64;
            if c.store()
                .due_outbox(horizon, 1)
                .unwrap_or_default()
                .is_empty()
            {
                return (sent, failed);
            }
            tokio::time::sleep(IDLE / 5).await;
            continue;
        }
        let results: Vec<_> = stream::iter(due)
            .map(|row| {
                let c = c.clone();
                async move { process(&c, &row.send_id, Duration::ZERO, false).await }
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut progressed = false;
        for r in results {
            match r {
                Ok(Step::Sent) => {
                    sent += 1;
                    progressed = true
                }
                Ok(Step::Failed(_)) => {
                    failed += 1;
                    progressed = true
                }
                _ => {}
            }
        }
        if !progressed {
            tokio::time::sleep(IDLE / 5).await;
        }
    }
}
