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
    /// Among background requests the one with the most work behind it goes first.
    background: RankedGate,
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
    _background: Option<GatePermit<'a>>,
}

impl MailboxLimiter {
    pub fn new(budget_per_10min: u32) -> MailboxLimiter {
        MailboxLimiter {
            all: Semaphore::new(MAX_IN_FLIGHT),
            background: RankedGate::new(MAX_IN_FLIGHT as u32 - 1),
            budget: budget_per_10min.max(1),
            window: Mutex::new(VecDeque::new()),
            paused_until: Mutex::new(None),
            window_until_ms: AtomicI64::new(0),
        }
    }

    /// Waits for a slot, for the end of a throttling pause, and for budget.
    pub async fn acquire(&self, priority: Priority) -> Permit<'_> {
        self.acquire_slots(priority, 1, 0).await
    }

    /// Like [`acquire`](Self::acquire) for a request that occupies `slots` of the mailbox's
    /// concurrency at the server (a `$batch`, whose items Outlook runs up to four at a time).
    /// `rank`: how much work waits behind this request (a folder's messages still to fetch);
    /// waiting background requests go in descending rank, so the longest chain of pages (the
    /// critical path of a sync) never waits behind short ones.
    pub async fn acquire_slots(&self, priority: Priority, slots: u32, rank: u64) -> Permit<'_> {
        let background = match priority {
            Priority::Background => Some(
                self.background
                    .acquire(slots.clamp(1, MAX_IN_FLIGHT as u32 - 1), rank)
                    .await,
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

/// A counting gate that hands free slots to the waiting request of highest rank (first come
/// first served among equal ranks).
struct RankedGate {
    state: Mutex<GateState>,
}

struct GateState {
    free: u32,
    next_seq: u64,
    waiting: std::collections::BinaryHeap<Waiter>,
}

struct Waiter {
    rank: u64,
    seq: u64,
    slots: u32,
    grant: tokio::sync::oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, o: &Self) -> bool {
        (self.rank, self.seq) == (o.rank, o.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Waiter {
    /// Higher rank first, then the earlier request.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.rank.cmp(&o.rank).then_with(|| o.seq.cmp(&self.seq))
    }
}

/// Slots taken from a [`RankedGate`], given back on drop.
pub struct GatePermit<'a> {
    gate: &'a RankedGate,
    slots: u32,
}

impl Drop for GatePermit<'_> {
    fn drop(&mut self) {
        self.gate.release(self.slots);
    }
}

/// A waiting acquisition; dropped after its grant but before being polled again, it gives
/// the granted slots back.
struct Pending<'a> {
    gate: &'a RankedGate,
    slots: u32,
    rx: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release(self.slots);
            }
        }
    }
}

impl RankedGate {
    fn new(slots: u32) -> RankedGate {
        RankedGate {
            state: Mutex::new(GateState {
                free: slots,
                next_seq: 0,
                waiting: Default::default(),
            }),
        }
    }

    async fn acquire(&self, slots: u32, rank: u64) -> GatePermit<'_> {
        let rx = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.waiting.is_empty() && st.free >= slots {
                st.free -= slots;
                return GatePermit { gate: self, slots };
            }
            let (grant, rx) = tokio::sync::oneshot::channel();
            let seq = st.next_seq;
            st.next_seq += 1;
            st.waiting.push(Waiter {
                rank,
                seq,
                slots,
                grant,
            });
            // A higher rank may fit where the head of the queue did not.
            Self::dispatch(&mut st);
            rx
        };
        let mut pending = Pending {
            gate: self,
            slots,
            rx: Some(rx),
        };
        let granted = pending.rx.as_mut().expect("set above").await;
        pending.rx = None;
        // The sender lives in the gate until it grants, so the wait only ends by a grant.
        debug_assert!(granted.is_ok());
        GatePermit { gate: self, slots }
    }

    fn release(&self, slots: u32) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.free += slots;
        Self::dispatch(&mut st);
    }

    /// Grants free slots to the waiters in rank order while the first in line fits (waiters
    /// that gave up are dropped on the way). Whenever a waiter is left, some slot is taken,
    /// and its release comes back here.
    fn dispatch(st: &mut GateState) {
        while st.waiting.peek().is_some_and(|w| w.slots <= st.free) {
            let w = st.waiting.pop().expect("peeked");
            if w.grant.send(()).is_ok() {
                st.free -= w.slots;
            }
        }
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
        let batch = l.acquire_slots(Priority::Interactive, 4, 0).await;
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), l.acquire(Priority::Interactive)).await;
        assert!(blocked.is_err(), "four batch items leave no slot");
        drop(batch);
        let bg = l.acquire_slots(Priority::Background, 20, 0).await; // capped at 3 for background
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

    /// The critical path first: with the background slots taken, waiting requests are let in
    /// by rank (the folder with the most messages left), not in arrival order; a waiter that
    /// gives up keeps no slot.
    #[tokio::test(flavor = "current_thread")]
    async fn background_slots_go_to_the_highest_rank() {
        let l = Arc::new(MailboxLimiter::new(10_000));
        let held: Vec<_> = futures_util::future::join_all(
            (0..3).map(|_| l.acquire_slots(Priority::Background, 1, 0)),
        )
        .await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for rank in [1u64, 20_000, 700, 5_000] {
            let (l, order, started_tx) = (l.clone(), order.clone(), started_tx.clone());
            tasks.push(tokio::spawn(async move {
                let fut = l.acquire_slots(Priority::Background, 1, rank);
                tokio::pin!(fut);
                // Polled once (queued), then reported as waiting.
                let permit = tokio::select! {
                    biased;
                    p = &mut fut => Some(p),
                    _ = std::future::ready(()) => None,
                };
                assert!(permit.is_none(), "all background slots are taken");
                started_tx.send(()).unwrap();
                let _p = fut.await;
                order.lock().unwrap().push(rank);
            }));
        }
        for _ in 0..4 {
            started.recv().await.unwrap();
        }
        // One that queues and gives up: its grant must not be lost.
        {
            let fut = l.acquire_slots(Priority::Background, 1, 1_000_000);
            tokio::pin!(fut);
            let polled = tokio::select! {
                biased;
                p = &mut fut => Some(p),
                _ = std::future::ready(()) => None,
            };
            assert!(polled.is_none());
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![20_000, 5_000, 700, 1]);
        // Every slot came back: three background requests fit at once again.
        let again: Vec<_> = futures_util::future::join_all(
            (0..3).map(|_| l.acquire_slots(Priority::Background, 1, 0)),
        )
        .await;
        assert_eq!(again.len(), 3);
    }
}
