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

use crate::core::Core;
use crate::error::{Error, Result};
use crate::store::cache::{DeltaLink, MessagePage, PageOutcome, PageWrite};
use crate::store::Store;
use std::collections::VecDeque;
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

struct Slot {
    id: u64,
    /// `None` until the page is parsed; an error when it could not be.
    job: Option<Result<PageJob>>,
    done: oneshot::Sender<Result<PageOutcome>>,
}

#[derive(Default)]
struct Queue {
    slots: VecDeque<Slot>,
    next_id: u64,
    draining: bool,
}

/// The queue of one client.
#[derive(Default)]
pub struct PageWriter {
    queue: Mutex<Queue>,
}

/// A place in the queue, taken in fetch order (so a folder's pages are stored in order even
/// though they are parsed in parallel). Dropped unfilled, it gives its place up with an error.
pub struct Reserved {
    client: Core,
    id: u64,
    filled: bool,
}

impl Reserved {
    /// Puts the parsed page (or the reason there is none) in its place. Call from a blocking
    /// thread: when nobody is draining the queue, this thread drains it.
    pub fn fill(mut self, job: Result<PageJob>) {
        self.filled = true;
        self.client.page_writer().fill(&self.client, self.id, job);
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if !self.filled {
            let c = self.client.clone();
            c.page_writer().fill(
                &c,
                self.id,
                Err(Error::internal(
                    "a fetched page was dropped before it was stored",
                )),
            );
        }
    }
}

impl PageWriter {
    /// Takes the next place in the queue; the receiver answers once the page is stored (or
    /// refused).
    pub fn reserve(client: &Core) -> (Reserved, oneshot::Receiver<Result<PageOutcome>>) {
        let (tx, rx) = oneshot::channel();
        let mut q = client
            .page_writer()
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let id = q.next_id;
        q.next_id += 1;
        q.slots.push_back(Slot {
            id,
            job: None,
            done: tx,
        });
        let r = Reserved {
            client: client.clone(),
            id,
            filled: false,
        };
        (r, rx)
    }

    fn fill(&self, client: &Core, id: u64, job: Result<PageJob>) {
        {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = q.slots.iter_mut().find(|s| s.id == id) {
                s.job = Some(job);
            }
            if q.draining {
                return;
            }
            q.draining = true;
        }
        self.drain(client.store());
    }

    /// Stores the filled pages at the head of the queue, a transaction at a time, until the
    /// head is empty or waits for a page still being parsed (whose filler drains next).
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
            let mut batch: Vec<(PageJob, oneshot::Sender<Result<PageOutcome>>)> = Vec::new();
            {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                while batch.len() < MAX_PAGES_PER_TX
                    && q.slots.front().is_some_and(|s| s.job.is_some())
                {
                    let s = q.slots.pop_front().expect("front exists");
                    match s.job.expect("filled") {
                        Ok(job) => batch.push((job, s.done)),
                        Err(e) => {
                            let _ = s.done.send(Err(e));
                        }
                    }
                }
                if batch.is_empty() {
                    if q.slots.front().is_some_and(|s| s.job.is_some()) {
                        continue;
                    }
                    q.draining = false;
                    return;
                }
            }
            let writes: Vec<PageWrite<'_>> = batch
                .iter()
                .map(|(j, _)| PageWrite {
                    mailbox_id: &j.mailbox_id,
                    folder_id: &j.folder_id,
                    fetched_from: j.fetched_from.as_deref(),
                    page: &j.page,
                    link: &j.link,
                    now: j.now,
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
                    for ((_, done), r) in batch.into_iter().zip(rs) {
                        let _ = done.send(r);
                    }
                }
                Err(e) => {
                    for (_, done) in batch {
                        let _ = done.send(Err(e.clone()));
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
