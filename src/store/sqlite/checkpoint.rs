//! WAL checkpoints off the write path. SQLite's default copies the WAL back into the
//! database inside the commit that crosses 1,000 frames: that commit then also reads the WAL,
//! writes the database and waits for two fsyncs, while every other writer of the process
//! queues behind it. Here the write connection's WAL hook only wakes a thread of the store,
//! which runs a PASSIVE checkpoint on its own connection (concurrent with writers and
//! readers; it copies what no reader still needs). Should that thread fall far behind, the
//! committing writer checkpoints inline as SQLite would.

use rusqlite::{ffi, Connection};
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

/// WAL frames after a commit that wake the checkpoint thread (SQLite's autocheckpoint).
const WAKE_FRAMES: c_int = 1000;
/// WAL frames at which the committing writer checkpoints itself.
const INLINE_FRAMES: c_int = 20_000;

#[derive(Default)]
struct State {
    requested: bool,
    stop: bool,
    started: bool,
    /// The thread could not be started: writers checkpoint inline.
    failed: bool,
}

/// One per store; shared by its write connection's hook and its thread.
pub(super) struct Checkpointer {
    /// Itself, for the thread it starts.
    me: std::sync::Weak<Checkpointer>,
    path: PathBuf,
    state: Mutex<State>,
    wake: Condvar,
    /// Checkpoints the thread ran, and a signal after each.
    runs: Mutex<u64>,
    ran: Condvar,
}

impl Checkpointer {
    pub(super) fn new(path: PathBuf) -> Arc<Checkpointer> {
        Arc::new_cyclic(|me| Checkpointer {
            me: me.clone(),
            path,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            runs: Mutex::new(0),
            ran: Condvar::new(),
        })
    }

    /// Asks the thread for a checkpoint; false when there is no thread to ask.
    fn request(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.failed || st.stop {
            return false;
        }
        st.requested = true;
        if !st.started {
            st.started = true;
            let Some(me) = self.me.upgrade() else {
                return false;
            };
            let spawned = std::thread::Builder::new()
                .name("o365-checkpoint".into())
                .spawn(move || me.run());
            if spawned.is_err() {
                st.failed = true;
                return false;
            }
        }
        self.wake.notify_one();
        true
    }

    fn run(self: Arc<Checkpointer>) {
        let conn = match super::open_connection(&self.path) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("sqlite: no checkpoint thread ({e}); writers checkpoint inline");
                self.state.lock().unwrap_or_else(|p| p.into_inner()).failed = true;
                return;
            }
        };
        loop {
            {
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                while !st.requested && !st.stop {
                    st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                if st.stop {
                    return;
                }
                st.requested = false;
            }
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::debug!("sqlite: checkpoint: {e}");
            }
            *self.runs.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            self.ran.notify_all();
        }
    }

    /// Waits until the thread has run `n` checkpoints in all; false after `limit`.
    #[cfg(test)]
    pub(super) fn wait_runs(&self, n: u64, limit: std::time::Duration) -> bool {
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let (runs, _) = self
            .ran
            .wait_timeout_while(runs, limit, |r| *r < n)
            .unwrap_or_else(|p| p.into_inner());
        *runs >= n
    }

    /// Ends the thread (it finishes a checkpoint under way first).
    pub(super) fn stop(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        self.wake.notify_all();
    }
}

/// SQLite calls this after every commit of the write connection, with the WAL's size.
unsafe extern "C" fn on_commit(
    arg: *mut c_void,
    db: *mut ffi::sqlite3,
    name: *const c_char,
    frames: c_int,
) -> c_int {
    // SAFETY: `arg` is the Checkpointer the `Writer` owning the connection keeps alive.
    let ck = unsafe { &*(arg as *const Checkpointer) };
    let inline = if frames >= INLINE_FRAMES {
        true
    } else if frames >= WAKE_FRAMES {
        // No panic may unwind into SQLite.
        !std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ck.request())).unwrap_or(false)
    } else {
        false
    };
    if inline {
        // SAFETY: the connection and schema name SQLite handed to this hook.
        unsafe {
            ffi::sqlite3_wal_checkpoint_v2(
                db,
                name,
                ffi::SQLITE_CHECKPOINT_PASSIVE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }
    ffi::SQLITE_OK
}

/// The write connection with the checkpointer its WAL hook points to. Field order matters:
/// the connection (and with it the hook) goes before the checkpointer.
pub(super) struct Writer {
    pub(super) conn: Connection,
    hook_arg: Arc<Checkpointer>,
}

impl Writer {
    pub(super) fn new(conn: Connection, ck: &Arc<Checkpointer>) -> Writer {
        let hook_arg = ck.clone();
        // SAFETY: the argument stays alive as long as this Writer, which drops the connection
        // first; the handle is only used to register the hook.
        unsafe {
            ffi::sqlite3_wal_hook(
                conn.handle(),
                Some(on_commit),
                Arc::as_ptr(&hook_arg) as *mut c_void,
            );
        }
        Writer { conn, hook_arg }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // SAFETY: as in `new`; no hook is left pointing at `hook_arg` once it is freed.
        unsafe {
            ffi::sqlite3_wal_hook(self.conn.handle(), None, std::ptr::null_mut());
        }
        let _ = &self.hook_arg;
    }
}
