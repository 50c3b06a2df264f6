//! The process-wide Tokio runtime: private, built lazily on first use, fork-aware.
//!
//! - Nothing is started at load time: loading the library (PHP-FPM master, preload) creates
//!   no thread. The runtime is built on the first call that needs it.
//! - Tagged with the pid that built it. After `fork()` the child has the parent's runtime
//!   object but none of its threads; the first use in the child leaks that object (dropping it
//!   could hang joining threads that do not exist) and builds a fresh one.
//! - Blocking on the runtime from one of its own threads would panic inside Tokio; callers get
//!   [`Error::WrongThread`] instead.

use crate::error::{Error, Fault, Result};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

struct Slot {
    pid: u32,
    runtime: &'static Runtime,
}

static RUNTIME: Mutex<Option<Slot>> = Mutex::new(None);

/// The runtime of this process, built on first use with `workers` threads (later callers'
/// worker counts are ignored: one runtime per process).
pub fn get(workers: usize) -> Result<&'static Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = slot.as_ref() {
        if s.pid == pid {
            return Ok(s.runtime);
        }
        // Forked child: the parent's runtime is a `&'static` (leaked Box); never drop it.
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("o365-worker")
        .on_thread_start(|| {
            // Our threads never take SIGPIPE: a write to a connection the peer closed
            // returns EPIPE instead of killing the host process (hosts written in C do not
            // ignore SIGPIPE the way Rust programs do).
            SigpipeBlock::block_this_thread();
            LIBRARY_THREAD.with(|f| f.set(true));
        })
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the runtime: {e}")))?;
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *slot = Some(Slot { pid, runtime: rt });
    Ok(rt)
}

thread_local! {
    static LIBRARY_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True on the library's own runtime threads (a panic there is logged, never printed).
pub fn on_library_thread() -> bool {
    LIBRARY_THREAD.try_with(|f| f.get()).unwrap_or(false)
}

/// The store's bridge off the async worker threads: every store call goes through here, so
/// no store call blocks a runtime worker. On a worker thread of a multi-thread runtime the
/// worker's other tasks are handed to another thread first (`block_in_place`); on the host's
/// thread inside an FFI call, on the blocking pool, or outside any runtime it just runs.
pub fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// True when the current thread belongs to a Tokio runtime (ours or the host's).
pub fn on_runtime_thread() -> bool {
    Handle::try_current().is_ok()
}

/// Runs `fut` to completion on the process runtime, blocking the calling (host) thread for
/// at most `timeout`.
pub fn block_on<T>(
    workers: usize,
    timeout: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    if on_runtime_thread() {
        return Err(Error::WrongThread(Fault::new(
            "wrong_thread",
            "a blocking o365 call was made from inside an async runtime thread",
        ))
        .with_hint(
            "call the library from the host's own threads, not from runtime worker threads",
        ));
    }
    let rt = get(workers)?;
    // The future is polled on this (host) thread too: no SIGPIPE while it runs.
    let _sigpipe = SigpipeBlock::for_call();
    rt.block_on(async move {
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(format!(
                "the call did not finish within {} ms",
                timeout.as_millis()
            ))
            .with_hint("raise timeouts.call_ms in the client config, or retry later")),
        }
    })
}

/// SIGPIPE blocked on the current thread; restored on drop, after discarding a SIGPIPE
/// that became pending meanwhile (as libcurl does), so the host's own disposition is kept.
struct SigpipeBlock {
    old: libc::sigset_t,
}

impl SigpipeBlock {
    fn sigpipe_set() -> libc::sigset_t {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            set
        }
    }

    fn block_this_thread() {
        let set = Self::sigpipe_set();
        // SAFETY: valid set pointer; the old mask is not needed.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    }

    fn for_call() -> SigpipeBlock {
        let set = Self::sigpipe_set();
        // SAFETY: valid pointers; `old` is filled by pthread_sigmask.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SigpipeBlock { old }
        }
    }
}

impl Drop for SigpipeBlock {
    fn drop(&mut self) {
        // SAFETY: plain libc signal-mask calls on this thread with valid pointers.
        unsafe {
            if libc::sigismember(&self.old, libc::SIGPIPE) == 0 {
                let set = Self::sigpipe_set();
                let mut pending: libc::sigset_t = std::mem::zeroed();
                libc::sigpending(&mut pending);
                if libc::sigismember(&pending, libc::SIGPIPE) == 1 {
                    let zero = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
                }
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_runtime_for_the_same_process() {
        let a = get(2).unwrap() as *const Runtime;
        let b = get(4).unwrap() as *const Runtime;
        assert_eq!(a, b);
    }

    #[test]
    fn sigpipe_during_a_call_does_not_kill_the_process() {
        // A host that has SIGPIPE at its default (terminate): a broken pipe written to inside
        // a call and on a worker thread must only give EPIPE.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let r: Result<(i32, i32)> = block_on(2, Duration::from_secs(5), async {
            let on_caller = broken_pipe_write();
            let on_worker = tokio::spawn(async { broken_pipe_write() }).await.unwrap();
            Ok((on_caller, on_worker))
        });
        assert_eq!(r.unwrap(), (libc::EPIPE, libc::EPIPE));
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    }

    fn broken_pipe_write() -> i32 {
        unsafe {
            let mut fds = [0i32; 2];
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            libc::close(fds[0]);
            let n = libc::write(fds[1], b"x".as_ptr() as *const libc::c_void, 1);
            let err = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            libc::close(fds[1]);
            assert_eq!(n, -1);
            err
        }
    }

    #[test]
    fn timeout_is_reported() {
        let r: Result<()> = block_on(2, Duration::from_millis(20), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        });
        assert_eq!(r.unwrap_err().status(), crate::error::status::TIMEOUT);
    }

    #[test]
    fn nested_block_on_is_refused_not_panicking() {
        let r: Result<Result<()>> = block_on(2, Duration::from_secs(5), async {
            Ok(block_on(2, Duration::from_secs(1), async { Ok(()) }))
        });
        let inner = r.unwrap().unwrap_err();
        assert_eq!(inner.status(), crate::error::status::WRONG_THREAD);
    }
}
