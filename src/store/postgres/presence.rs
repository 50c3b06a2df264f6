//! Presence: how processes on other hosts learn that a lease holder is gone, and how they
//! learn of new events without polling.
//!
//! Every process that opens a PostgreSQL store keeps one dedicated connection (per database,
//! schema and host id) that holds a session-level advisory lock on a key derived from its
//! process key `HOST|PID` (see [`crate::store::leases::process_key`]). PostgreSQL releases
//! the lock when that session ends: the process exited or was killed, its host vanished
//! (the session's TCP keepalives are short), or the connection broke. Another process asks
//! `pg_locks` whether a holder's key is still locked ([`Presence::alive`]).
//!
//! The same connection `LISTEN`s on the schema's event channel (`push_event` notifies it in
//! its transaction) and calls the registered wake-ups, so a consumer waiting in
//! `o365_next_event` on any host wakes when an event is committed anywhere. A broken
//! connection is opened again (lock and `LISTEN` included) and every waiter is woken, in
//! case a notification was missed meanwhile.

use super::Connector;
use crate::error::{Error, Result};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use crate::store::events::Wake;

/// The wake-ups of a presence, weak: each is kept alive by the store it was registered with.
type Watchers = Mutex<Vec<Weak<dyn Fn() + Send + Sync>>>;

/// How long the presence thread waits for a notification before it looks whether it
/// should stop.
const TICK: Duration = Duration::from_millis(500);
/// How long opening a store waits for its presence lock (a killed predecessor with the same
/// host id and pid whose session the server has not closed yet).
const LOCK_WAIT: &str = "30s";

/// One process's presence in one schema. Shared by the stores of the process that name the
/// same database, schema and host id; ends (and releases the lock) with the last of them.
pub struct Presence {
    stop: Arc<AtomicBool>,
    watchers: Arc<Watchers>,
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The advisory-lock key text of a process key in a schema (hashed by PostgreSQL).
pub fn lock_text(schema: &str, process_key: &str) -> String {
    format!("o365.presence.{schema}|{process_key}")
}

/// The notification channel of a schema's event queue.
pub fn channel(schema: &str) -> String {
    let mut c = format!("o365_events.{schema}");
    c.truncate(63);
    c
}

fn registry() -> &'static Mutex<HashMap<String, Weak<Presence>>> {
    static R: OnceLock<Mutex<HashMap<String, Weak<Presence>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

impl Presence {
    /// This process's presence for `store` (`HOST` = the store's host id): the one already
    /// running in this process, or a new one whose lock is held when this returns.
    pub fn join(connector: &Connector, schema: &str, process_key: &str) -> Result<Arc<Presence>> {
        let key = format!("{}\u{0}{schema}\u{0}{process_key}", connector.target());
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        reg.retain(|_, p| p.strong_count() > 0);
        if let Some(p) = reg.get(&key).and_then(Weak::upgrade) {
            return Ok(p);
        }
        let lock = lock_text(schema, process_key);
        let chan = channel(schema);
        let client = establish(connector, &lock, &chan)?;
        let presence = Arc::new(Presence {
            stop: Arc::new(AtomicBool::new(false)),
            watchers: Default::default(),
        });
        let (stop, watchers) = (presence.stop.clone(), presence.watchers.clone());
        let connector = connector.clone();
        std::thread::Builder::new()
            .name("o365-pg-presence".into())
            .spawn(move || watch_loop(client, connector, &lock, &chan, &stop, &watchers))
            .map_err(|e| Error::store(format!("cannot start the presence thread: {e}")))?;
        reg.insert(key, Arc::downgrade(&presence));
        Ok(presence)
    }

    /// Adds a wake-up, called on every notification while `wake` is alive elsewhere.
    pub fn watch(&self, wake: &Wake) {
        let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|w| w.strong_count() > 0);
        w.push(Arc::downgrade(wake));
    }

    /// Whether the process `process_key` holds its presence lock in `schema`.
    pub fn alive(c: &mut Client, schema: &str, process_key: &str) -> Result<bool> {
        Ok(c.query_one(
            "WITH k AS (SELECT hashtextextended($1, 0) AS v) \
             SELECT EXISTS (SELECT 1 FROM pg_locks l, k WHERE l.locktype = 'advisory' \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND l.classid::int8 = ((k.v >> 32) & 4294967295) \
               AND l.objid::int8 = (k.v & 4294967295) AND l.objsubid = 1 AND l.granted)",
            &[&lock_text(schema, process_key)],
        )?
        .get(0))
    }
}

/// A connection that holds the presence lock and listens on the event channel.
fn establish(connector: &Connector, lock: &str, chan: &str) -> Result<Client> {
    let mut c = connector.connect()?;
    // The server notices a vanished host within about 20 s (on TCP; ignored on a socket).
    c.batch_execute(&format!(
        "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 5; \
         SET tcp_keepalives_count = 3; SET lock_timeout = '{LOCK_WAIT}'"
    ))?;
    c.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&lock])
        .map_err(|e| {
            Error::store(format!(
                "cannot take this process's presence lock ('{lock}'): {}",
                super::describe(&e)
            ))
            .with_hint(
                "another process with the same host_id and pid holds it: give every host its own host_id",
            )
        })?;
    c.batch_execute(&format!("SET lock_timeout = 0; LISTEN \"{chan}\""))?;
    Ok(c)
}

fn wake_all(watchers: &Watchers) {
    let live: Vec<Wake> = watchers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for w in live {
        w();
    }
}

fn watch_loop(
    mut client: Client,
    connector: Connector,
    lock: &str,
    chan: &str,
    stop: &AtomicBool,
    watchers: &Watchers,
) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::SeqCst) {
        let broken = {
            let mut n = client.notifications();
            let mut it = n.timeout_iter(TICK);
            loop {
                match it.next() {
                    Ok(Some(_)) => wake_all(watchers),
                    Ok(None) => break false,
                    Err(_) => break true,
                }
                if stop.load(Ordering::SeqCst) {
                    break false;
                }
            }
        };
        if !broken && !client.is_closed() {
            continue;
        }
        tracing::warn!("the PostgreSQL presence connection broke; opening it again");
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match establish(&connector, lock, chan) {
                Ok(c) => {
                    client = c;
                    backoff = Duration::from_millis(100);
                    // Events committed meanwhile were not notified to us.
                    wake_all(watchers);
                    break;
                }
                Err(e) => {
                    tracing::warn!("cannot open the presence connection again: {e}");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
