//! The page writer: fetched delta pages of every folder and mailbox of a client meet in one
//! queue, and whichever store task finds nobody draining it stores everything queued in one
//! transaction (SQLite takes one writer at a time anyway; few large transactions cost far
//! less than one per page, and nobody waits on a process-wide lock per page).
//!
//! Order: the queue is first in, first out, and each folder submits its pages in order, so a
//! folder's pages are stored in the order they were fetched. Each page carries the link it
//! was fetched from and is applied only if that is still the folder's stored resume link
//! ([`crate::store::cache::PageWrite::fetched_from`]): a page never lands after a page of its
//! round that failed.

use crate::error::{Error, Result};
use crate::store::cache::{DeltaLink, MessagePage, PageOutcome, PageWrite};
use crate::store::Store;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// At most this many pages go into one transaction (a transaction of a few thousand rows
/// keeps readers' snapshots short and the WAL small).
const MAX_PAGES_PER_TX: usize = 8;

/// One page waiting to be stored.
pub struct PageJob {
    pub mailbox_id: String,
    pub folder_id: String,
    pub fetched_from: Option<String>,
    pub page: MessagePage,
    pub link: DeltaLink,
    pub now: i64,
}

struct Queued {
    job: PageJob,
    done: oneshot::Sender<Result<PageOutcome>>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Queued>,
    draining: bool,
}

/// The queue of one client.
#[derive(Default)]
pub struct PageWriter {
    queue: Mutex<Queue>,
}

impl PageWriter {
    /// Queues a page. Call from a blocking thread: when no other thread is draining the
    /// queue, this one drains it (this page and whatever others queued meanwhile) before it
    /// returns. The receiver answers once the page is stored (or refused).
    pub fn submit(
        &self,
        store: &dyn Store,
        job: PageJob,
    ) -> oneshot::Receiver<Result<PageOutcome>> {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.jobs.push(Queued { job, done: tx });
            if q.draining {
                return rx;
            }
            q.draining = true;
        }
        self.drain(store);
        rx
    }

    fn drain(&self, store: &dyn Store) {
        // Should a store call panic, the queue must not stay marked as drained by nobody.
        struct Reset<'a>(&'a PageWriter);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut q = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
                    q.draining = false;
                }
            }
        }
        let _reset = Reset(self);
        loop {
            let batch: Vec<Queued> = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.jobs.is_empty() {
                    q.draining = false;
                    return;
                }
                let n = q.jobs.len().min(MAX_PAGES_PER_TX);
                q.jobs.drain(..n).collect()
            };
            let writes: Vec<PageWrite<'_>> = batch
                .iter()
                .map(|b| PageWrite {
                    mailbox_id: &b.job.mailbox_id,
                    folder_id: &b.job.folder_id,
                    fetched_from: b.job.fetched_from.as_deref(),
                    page: &b.job.page,
                    link: &b.job.link,
                    now: b.job.now,
                })
                .collect();
            let started = std::time::Instant::now();
            let results = store.apply_message_pages(&writes);
            tracing::debug!(
                pages = writes.len(),
                store_ms = started.elapsed().as_millis() as u64,
                "sync: pages stored"
            );
            drop(writes);
            match results {
                Ok(rs) => {
                    for (b, r) in batch.into_iter().zip(rs) {
                        let _ = b.done.send(r);
                    }
                }
                Err(e) => {
                    for b in batch {
                        let _ = b.done.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// Awaits a submitted page's outcome.
pub async fn outcome(rx: oneshot::Receiver<Result<PageOutcome>>) -> Result<PageOutcome> {
    rx.await
        .map_err(|_| Error::internal("the page writer stopped before storing a page"))?
}
