//! The one place background jobs start: [`spawn`] runs each on the library's runtime under
//! supervision. Supervision of the client's background jobs (the sync scheduler, the outbox worker, the
//! device-code poller): a panic in a job is caught, logged, counted (shown in
//! `o365_get_mailbox` `health.background`) and the job starts again after a back-off. Jobs
//! end when their client is freed.

use super::{Core, WeakCore};
use futures_util::FutureExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::Duration;

/// The supervised jobs, by the name used in health and in the test hook.
pub const JOBS: [&str; 3] = ["scheduler", "send_worker", "device_code"];
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Default)]
struct JobStats {
    panics: u64,
    last_panic: Option<String>,
    last_panic_at: Option<i64>,
}

/// Per client: panics per job, and jobs armed to panic (test hook).
#[derive(Default)]
pub struct Jobs {
    stats: Mutex<BTreeMap<&'static str, JobStats>>,
    armed: Mutex<HashSet<String>>,
}

impl Jobs {
    fn record(&self, job: &'static str, at: i64, message: String) {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let e = s.entry(job).or_default();
        e.panics += 1;
        e.last_panic = Some(message);
        e.last_panic_at = Some(at);
    }

    /// Test hook (`o365_debug_panic` with `job`): the job's next iteration panics.
    pub fn arm(&self, job: &str) {
        self.armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.to_owned());
    }

    /// Called by a job at the start of each iteration: panics once when armed.
    pub fn checkpoint(&self, job: &str) {
        let hit = self
            .armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job);
        if hit {
            panic!("test hook: the {job} job panics");
        }
    }

    /// `health.background`: `{"panics": total, "jobs": {"<job>": {"panics", "last_panic",
    /// "last_panic_at"}}}`.
    pub fn health(&self) -> Value {
        let s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let jobs: serde_json::Map<String, Value> = JOBS
            .iter()
            .map(|j| {
                let st = s.get(j);
                (
                    j.to_string(),
                    json!({
                        "panics": st.map(|x| x.panics).unwrap_or(0),
                        "last_panic": st.and_then(|x| x.last_panic.clone()),
                        "last_panic_at": st.and_then(|x| x.last_panic_at).map(crate::clock::rfc3339),
                    }),
                )
            })
            .collect();
        json!({"panics": s.values().map(|x| x.panics).sum::<u64>(), "jobs": jobs})
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without message".into())
}

/// Runs `make()`'s job until it ends; after a panic, records it and starts it again (back-off
/// 0.1 s doubling to 30 s) while the client lives.
pub(crate) async fn supervise<F, Fut>(weak: WeakCore, job: &'static str, mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    // The job keeps its client's log sinks (not the client) open until it has logged its
    // end, which comes after the client was freed.
    let _sinks = Core::upgrade(&weak).map(|c| c.telemetry().clone());
    let mut backoff = FIRST_BACKOFF;
    loop {
        let Err(p) = AssertUnwindSafe(make()).catch_unwind().await else {
            tracing::info!(job, "background job ended");
            return;
        };
        let text = panic_text(&*p);
        let Some(c) = Core::upgrade(&weak) else {
            return;
        };
        c.jobs().record(job, c.now_ms(), text.clone());
        tracing::error!(
            job,
            "background job panicked: {text}; restarting in {backoff:?}"
        );
        drop(c);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        if weak.strong_count() == 0 {
            return;
        }
    }
}

/// Starts a background job of `core`'s client on the library's runtime, supervised (see
/// [`supervise`]), inside the client's span. `make` builds one run of the job; it gets a
/// weak handle and must let go of the client between steps so freeing the client ends it.
/// Returns false when the runtime cannot be had (logged).
pub(crate) fn spawn<F, Fut>(core: &Core, job: &'static str, make: F) -> bool
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let rt = match crate::runtime::get(core.worker_threads()) {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(job, "background job not started: {e}");
            return false;
        }
    };
    rt.spawn(tracing::Instrument::instrument(
        supervise(core.downgrade(), job, make),
        core.span().clone(),
    ));
    true
}
