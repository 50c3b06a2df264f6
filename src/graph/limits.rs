//! Per-mailbox request limits (Outlook's: 4 concurrent, 10,000 per 10 minutes).

use crate::graph::Priority;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Requests in flight per mailbox, as Outlook allows.
pub const MAX_IN_FLIGHT: usize = 4;
const WINDOW: Duration = Duration::from_secs(600);

/// Limits for one mailbox within this process.
pub struct MailboxLimiter {
    all: Semaphore,
    /// Background work may use all but one slot, so a waiting person always gets through.
    background: Semaphore,
    budget: u32,
    /// Request start times in the current 10-minute window, one entry per second with count.
    window: Mutex<VecDeque<(Instant, u32)>>,
    paused_until: Mutex<Option<Instant>>,
    /// End of a long throttling window (library clock, ms since the epoch; 0 = none):
    /// until then no request to this mailbox is sent (see [`crate::graph::ThrottleBook`]).
    window_until_ms: AtomicI64,
}

/// Held while a request is in flight.
pub struct Permit<'a> {
    _all: SemaphorePermit<'a>,
    _background: Option<SemaphorePermit<'a>>,
}

impl MailboxLimiter {
    pub fn new(budget_per_10min: u32) -> MailboxLimiter {
        MailboxLimiter {
            all: Semaphore::new(MAX_IN_FLIGHT),
            background: Semaphore::new(MAX_IN_FLIGHT - 1),
            budget: budget_per_10min.max(1),
            window: Mutex::new(VecDeque::new()),
            paused_until: Mutex::new(None),
            window_until_ms: AtomicI64::new(0),
        }
    }

    /// Waits for a slot, for the end of a throttling pause, and for budget.
    pub async fn acquire(&self, priority: Priority) -> Permit<'_> {
        self.acquire_slots(priority, 1).await
    }

    /// Like [`acquire`](Self::acquire) for a request that occupies `slots` of the mailbox's
    /// concurrency at the server (a `$batch`, whose items Outlook runs up to four at a time).
    pub async fn acquire_slots(&self, priority: Priority, slots: u32) -> Permit<'_> {
        let background = match priority {
            Priority::Background => Some(
                self.background
                    .acquire_many(slots.clamp(1, MAX_IN_FLIGHT as u32 - 1))
                    .await
                    .expect("never closed"),
            ),
            Priority::Interactive => None,
        };
        loop {
            let pause = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(until) = pause {
                if until > Instant::now() {
                    tokio::time::sleep_until(until).await;
                    continue;
                }
            }
            match self.take_budget() {
                None => break,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
        let cap = match priority {
            Priority::Interactive => MAX_IN_FLIGHT as u32,
            Priority::Background => MAX_IN_FLIGHT as u32 - 1,
        };
        let all = self
            .all
            .acquire_many(slots.clamp(1, cap))
            .await
            .expect("never closed");
        Permit {
            _all: all,
            _background: background,
        }
    }

    /// Counts one request; `Some(wait)` when the budget is spent.
    fn take_budget(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((t, _)) = w.front() {
            if now.duration_since(*t) >= WINDOW {
                w.pop_front();
            } else {
                break;
            }
        }
        let used: u32 = w.iter().map(|(_, n)| n).sum();
        if used >= self.budget {
            let oldest = w.front().map(|(t, _)| *t).unwrap_or(now);
            return Some(
                (oldest + WINDOW).saturating_duration_since(now) + Duration::from_millis(5),
            );
        }
        match w.back_mut() {
            Some((t, n)) if now.duration_since(*t) < Duration::from_secs(1) => *n += 1,
            _ => w.push_back((now, 1)),
        }
        None
    }

    /// After a 429: every request to this mailbox waits `d` (no retry storm).
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut p = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if p.map(|x| x < until).unwrap_or(true) {
            *p = Some(until);
        }
    }

    /// The end of the long throttling window known in this process (0 = none).
    pub fn window_until_ms(&self) -> i64 {
        self.window_until_ms.load(Ordering::SeqCst)
    }

    /// Extends the long throttling window to `until_ms` (never shortens it).
    pub fn extend_window(&self, until_ms: i64) {
        self.window_until_ms.fetch_max(until_ms, Ordering::SeqCst);
    }

    /// Requests counted in the current window.
    pub fn used(&self) -> u32 {
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_four_in_flight_and_one_slot_for_people() {
        let l = Arc::new(MailboxLimiter::new(10_000));
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (l, now, peak) = (l.clone(), now.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let prio = if i % 2 == 0 {
                    Priority::Background
                } else {
                    Priority::Interactive
                };
                let _p = l.acquire(prio).await;
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                now.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= MAX_IN_FLIGHT);
        assert_eq!(l.used(), 40);
        // Three background permits held: an interactive request still gets a slot.
        let b: Vec<_> =
            futures_util::future::join_all((0..3).map(|_| l.acquire(Priority::Background))).await;
        let fast =
            tokio::time::timeout(Duration::from_millis(100), l.acquire(Priority::Interactive))
                .await;
        assert!(fast.is_ok());
        drop(b);
    }

    #[tokio::test]
    async fn a_batch_takes_one_slot_per_item() {
        let l = MailboxLimiter::new(10_000);
        let batch = l.acquire_slots(Priority::Interactive, 4).await;
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), l.acquire(Priority::Interactive)).await;
        assert!(blocked.is_err(), "four batch items leave no slot");
        drop(batch);
        let bg = l.acquire_slots(Priority::Background, 20).await; // capped at 3 for background
        let fast =
            tokio::time::timeout(Duration::from_millis(50), l.acquire(Priority::Interactive)).await;
        assert!(
            fast.is_ok(),
            "a background batch still leaves the interactive slot"
        );
        drop(bg);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_makes_requests_wait() {
        let l = MailboxLimiter::new(3);
        for _ in 0..3 {
            drop(l.acquire(Priority::Background).await);
        }
        let started = Instant::now();
        drop(l.acquire(Priority::Background).await);
        assert!(started.elapsed() >= Duration::from_secs(599));
    }
}
