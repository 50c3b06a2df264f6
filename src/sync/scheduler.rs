//! Pacing for the background scheduler (its job lives in `service::jobs`): rounds spread
//! over the interval, sleeps that end when the client is freed. The scheduler runs one task
//! per client on the library's runtime, started when the config enables it
//! (`sync.scheduler`), gone when the client is dropped. Every
//! `sync.interval_ms` it syncs each authenticated mailbox whose `background_sync` setting is
//! on, and resumes unfinished folder-contents moves. Work on a folder is claimed through
//! leases in the store, so many processes running schedulers never sync one folder twice at
//! once; a folder another process is syncing is skipped, not waited for.

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Mailboxes of one client synced at the same time by the scheduler.
pub const PARALLEL_MAILBOXES: usize = 32;

/// Runs `work` for each item, item `i` of `n` starting at `i * over / n` (or later, when
/// `parallel` are already running), and waits for all of them. Starts no more once `alive`
/// says no.
pub async fn spread<T, F, Fut>(
    items: Vec<T>,
    over: Duration,
    parallel: usize,
    alive: impl Fn() -> bool,
    work: F,
) where
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()>,
{
    let n = items.len().max(1) as u32;
    let step = over / n;
    let start = Instant::now();
    let mut running = FuturesUnordered::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = start + step * i as u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => break,
                Some(()) = running.next(), if !running.is_empty() => {}
            }
        }
        while running.len() >= parallel.max(1) {
            running.next().await;
        }
        if !alive() {
            break;
        }
        running.push(work(item));
    }
    while running.next().await.is_some() {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Virtual time (the runtime's clock is paused and jumps ahead): no test waits for real.
    #[tokio::test(start_paused = true)]
    async fn a_round_spreads_mailboxes_over_the_interval() {
        let t0 = Instant::now();
        let starts = Mutex::new(Vec::new());
        let interval = Duration::from_secs(300);
        spread(
            (0..100).collect(),
            interval,
            32,
            || true,
            |i: u32| {
                let starts = &starts;
                async move {
                    starts.lock().unwrap().push((i, t0.elapsed()));
                    // Each sync takes a while (virtual time).
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            },
        )
        .await;
        let starts = starts.into_inner().unwrap();
        assert_eq!(starts.len(), 100);
        for (i, at) in &starts {
            assert_eq!(
                *at,
                Duration::from_secs(3) * *i,
                "mailbox {i} starts at its slot"
            );
        }
        // No burst: never more than one start per slot of the interval.
        let in_first_tenth = starts.iter().filter(|(_, at)| *at < interval / 10).count();
        assert_eq!(in_first_tenth, 10);
        assert!(t0.elapsed() < interval + Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_mailboxes_hold_at_most_parallel_slots() {
        let t0 = Instant::now();
        let live = Mutex::new((0usize, 0usize));
        spread(
            (0..10).collect(),
            Duration::from_secs(10),
            3,
            || true,
            |_: u32| {
                let live = &live;
                async move {
                    {
                        let mut l = live.lock().unwrap();
                        l.0 += 1;
                        l.1 = l.1.max(l.0);
                    }
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    live.lock().unwrap().0 -= 1;
                }
            },
        )
        .await;
        assert_eq!(live.into_inner().unwrap().1, 3);
        // 10 syncs of 60 s, 3 at a time: 4 waves.
        assert!(t0.elapsed() >= Duration::from_secs(240));
    }
}
