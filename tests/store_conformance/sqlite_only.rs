//! SQLite-only behaviour: the store factory's URL handling, and the bridge that keeps a
//! store call waiting on the SQLite write lock off the async worker threads.

use crate::fixtures::*;
use crate::{open_sqlite, TEST_KEY};
use o365::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

fn config(store: &str) -> o365::Config {
    o365::Config::from_json(
        &serde_json::json!({"store": store, "encryption_key": TEST_KEY}).to_string(),
    )
    .expect("config")
}

/// A plain path and a `sqlite://` URL name the same file, and what was stored survives
/// closing and opening the store again.
#[test]
fn plain_path_and_sqlite_url_open_the_same_durable_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let plain = o365::store::open(&config(&path.display().to_string())).unwrap();
    assert!(plain
        .push_event(&event("e1", "mail_received", None, 1))
        .unwrap());
    add_mailbox(&*plain, "m1");
    drop(plain);
    let url = o365::store::open(&config(&format!("sqlite://{}", path.display()))).unwrap();
    assert_eq!(url.pending_events().unwrap(), 1);
    assert!(url.find_mailbox("m1").unwrap().is_some());
    assert!(!url
        .push_event(&event("e1", "mail_received", None, 2))
        .unwrap());
}

/// URL schemes are case-insensitive (RFC 3986 3.1), and the factory lowercases the scheme
/// to pick the backend; the backend must then open the path after it, not a file named
/// `SQLITE:/...`.
#[test]
fn scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let s = o365::store::open(&config(&format!("SQLITE://{}", path.display())))
        .unwrap_or_else(|e| panic!("{e}"));
    add_mailbox(&*s, "m1");
    drop(s);
    let again = o365::store::open(&config(&path.display().to_string())).unwrap();
    assert!(again.find_mailbox("m1").unwrap().is_some(), "the same file");
}

#[test]
fn unknown_scheme_is_a_clear_invalid_argument() {
    let e = match o365::store::open(&config("mysql://db.example/o365")) {
        Ok(_) => panic!("a mysql:// store opened"),
        Err(e) => e,
    };
    assert_eq!(e.status(), o365::status::O365_INVALID_ARGUMENT, "{e}");
    assert!(e.message().contains("mysql://"), "{e}");
    assert!(
        e.message().contains("sqlite://"),
        "names what is supported: {e}"
    );
}

/// On a multi-thread runtime with ONE worker, a task whose store write waits for the SQLite
/// write lock (held by another connection, as by another PHP-FPM process) must not stop the
/// runtime's other tasks: the second task runs while the first still waits.
#[test]
fn a_store_write_waiting_for_the_lock_does_not_stall_the_runtime() {
    let backend = open_sqlite();
    let path = backend.config.store_path();
    // Another writer holds the write lock.
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let first_done = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let first = {
        let store: Arc<dyn Store> = backend.store.clone();
        let done = first_done.clone();
        rt.spawn(async move {
            started_tx.send(()).unwrap();
            let pushed = store.push_event(&event("e1", "mail_received", None, 1));
            done.store(true, Ordering::SeqCst);
            pushed
        })
    };
    // The first task has the only worker; only now is the second one spawned.
    started_rx.recv().unwrap();
    let (report_tx, report_rx) = mpsc::channel();
    {
        let done = first_done.clone();
        rt.spawn(async move {
            report_tx.send(done.load(Ordering::SeqCst)).unwrap();
        });
    }
    let first_had_finished = report_rx.recv().unwrap();
    // Only after the second task reported is the lock released.
    holder.execute_batch("COMMIT").unwrap();
    let pushed = rt.block_on(first).unwrap();
    assert!(
        !first_had_finished,
        "the second task ran only after the blocked store write finished: \
         the write blocked the runtime's only worker"
    );
    assert!(
        pushed.unwrap(),
        "the write went through once the lock was free"
    );
    assert_eq!(backend.store.pending_events().unwrap(), 1);
}

/// Crypto-shredding: once a link is purged its file key is gone from the bytes on disk (the
/// database file and its write-ahead log), not only from query answers.
#[test]
fn a_purged_link_key_is_gone_from_the_files() {
    let backend = open_sqlite();
    let s = &*backend.store;
    let path = backend.config.store_path();
    let key: Vec<u8> = (0..48u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let mut l = link("L1", "m1", 1_000, true);
    l.file_key = Some(key.clone());
    s.insert_link(&l).unwrap();
    s.insert_link(&link("L2", "m1", 100_000, true)).unwrap();
    let on_disk = || -> bool {
        ["", "-wal"].iter().any(|suffix| {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            std::fs::read(&p)
                .map(|bytes| bytes.windows(key.len()).any(|w| w == key.as_slice()))
                .unwrap_or(false)
        })
    };
    assert!(
        on_disk(),
        "the key is stored (else this test shows nothing)"
    );
    s.mark_link_purged("L1", 2_000).unwrap();
    assert_eq!(s.get_link("L1").unwrap().unwrap().file_key, None);
    assert!(!on_disk(), "the purged key is still in the store's files");
    assert!(s.get_link("L2").unwrap().unwrap().file_key.is_some());
}
