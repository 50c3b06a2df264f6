//! The host side: this test binary run again as a child process (`host_process`). It opens
//! its own client on the shared PostgreSQL URL (its own temporary directory as working
//! directory, its own `host_id`) and carries out the parent's commands, one JSON line each
//! on stdin, answering each with one line `MH> {json}` on stdout.
//!
//! Commands (`op`):
//! - `call` `{fn, req}`: one C ABI call; answers `{st, v}`.
//! - `par` `{fn, reqs, threads}`: the calls on `threads` threads started together (a barrier);
//!   answers `{results: [{st, v}, ...]}` in the order of `reqs`.
//! - `spawn` `{fn, req}`: the call on a thread of its own, answered at once with `{}` (its
//!   result is never reported: used for a call the parent kills the host in).
//! - `sync_loop` `{req}`: `o365_sync` again and again on a thread until `sync_stop`;
//!   `stats` / `sync_stop` answer `{started, done, in_round, failed_calls}`.
//! - `events` `{timeout_ms}`: takes and acks events until none comes within `timeout_ms`.
//! - `link_file` `{req}`: `o365_link_page` with `req`, then the whole stream through
//!   `o365_link_read` in 16 KiB pieces; answers `{page, size, sha256}`.
//! - `exit`.

use crate::common::Lib;
use o365::ffi::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

/// The environment variable carrying a host's config (set only for the child).
pub const CONFIG_VAR: &str = "O365_MULTIHOST_CONFIG";
/// The prefix of every answer line (the test harness prints its own lines too).
pub const ANSWER: &str = "MH> ";

fn export(name: &str) -> crate::common::Export {
    match name {
        "o365_authenticate" => o365_authenticate,
        "o365_import_mailbox" => o365_import_mailbox,
        "o365_get_mailbox" => o365_get_mailbox,
        "o365_list_folders" => o365_list_folders,
        "o365_sync" => o365_sync,
        "o365_send" => o365_send,
        "o365_send_status" => o365_send_status,
        "o365_outbox_process" => o365_outbox_process,
        "o365_link_page" => o365_link_page,
        "o365_link_open" => o365_link_open,
        "o365_take_logs" => o365_take_logs,
        other => panic!("host: no export {other} in the command table"),
    }
}

#[derive(Default)]
struct SyncStats {
    started: AtomicU64,
    done: AtomicU64,
    in_round: AtomicBool,
    failed_calls: AtomicU64,
    stop: AtomicBool,
}

impl SyncStats {
    fn json(&self) -> Value {
        json!({
            "started": self.started.load(Ordering::SeqCst),
            "done": self.done.load(Ordering::SeqCst),
            "in_round": self.in_round.load(Ordering::SeqCst),
            "failed_calls": self.failed_calls.load(Ordering::SeqCst),
        })
    }
}

fn answer(v: Value) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{ANSWER}{v}").unwrap();
    out.flush().unwrap();
}

fn call(lib: &Lib, f: &str, req: Value) -> Value {
    let (st, v) = lib.call(export(f), req);
    json!({"st": st, "v": v})
}

/// Streams a link page answer's file through `o365_link_read`.
fn link_file(lib: &Lib, req: Value) -> Value {
    let (st, page) = lib.call(o365_link_page, req);
    if st != O365_OK || page.get("stream").is_none() {
        return json!({"st": st, "page": page});
    }
    let id = CString::new(page["stream"]["id"].as_str().unwrap()).unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    let mut hash = Sha256::new();
    let mut size = 0u64;
    loop {
        let (st, n, err) = lib.link_read(&id, size, &mut buf);
        if st != O365_OK {
            return json!({"st": st, "page": page, "read_error": err, "size": size});
        }
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    json!({"st": O365_OK, "page": page, "size": size,
           "sha256": format!("{:x}", hash.finalize())})
}

/// The child's main loop.
pub fn serve(config: &str) {
    let lib = Arc::new(Lib::open(serde_json::from_str(config).unwrap()));
    let stats = Arc::new(SyncStats::default());
    let mut looping: Option<std::thread::JoinHandle<()>> = None;
    answer(json!({"ready": true, "pid": std::process::id()}));
    for line in std::io::stdin().lock().lines() {
        let cmd: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let reply = match cmd["op"].as_str().unwrap() {
            "call" => call(&lib, cmd["fn"].as_str().unwrap(), cmd["req"].clone()),
            "par" => {
                let f = cmd["fn"].as_str().unwrap().to_owned();
                let reqs = cmd["reqs"].as_array().unwrap().clone();
                let threads = cmd["threads"].as_u64().unwrap() as usize;
                let barrier = Barrier::new(threads);
                let mut results = vec![Value::Null; reqs.len()];
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let (lib, f, reqs, barrier) = (&lib, &f, &reqs, &barrier);
                            s.spawn(move || {
                                barrier.wait();
                                (t..reqs.len())
                                    .step_by(threads)
                                    .map(|i| (i, call(lib, f, reqs[i].clone())))
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    for h in handles {
                        for (i, r) in h.join().expect("a calling thread panicked") {
                            results[i] = r;
                        }
                    }
                });
                json!({"results": results})
            }
            "spawn" => {
                let (lib, f, req) = (
                    lib.clone(),
                    cmd["fn"].as_str().unwrap().to_owned(),
                    cmd["req"].clone(),
                );
                std::thread::spawn(move || call(&lib, &f, req));
                json!({})
            }
            "sync_loop" => {
                assert!(looping.is_none(), "one sync loop per host");
                let (lib, stats, req) = (lib.clone(), stats.clone(), cmd["req"].clone());
                looping = Some(std::thread::spawn(move || {
                    while !stats.stop.load(Ordering::SeqCst) {
                        stats.started.fetch_add(1, Ordering::SeqCst);
                        stats.in_round.store(true, Ordering::SeqCst);
                        let (st, _) = lib.call(o365_sync, req.clone());
                        if st != O365_OK {
                            stats.failed_calls.fetch_add(1, Ordering::SeqCst);
                        }
                        stats.in_round.store(false, Ordering::SeqCst);
                        stats.done.fetch_add(1, Ordering::SeqCst);
                    }
                }));
                json!({})
            }
            "stats" => stats.json(),
            "sync_stop" => {
                stats.stop.store(true, Ordering::SeqCst);
                if let Some(h) = looping.take() {
                    h.join().expect("the sync loop panicked");
                }
                stats.json()
            }
            "events" => {
                let timeout = cmd["timeout_ms"].as_u64().unwrap() as u32;
                json!({"events": lib.drain_events(timeout)})
            }
            "link_file" => link_file(&lib, cmd["req"].clone()),
            "exit" => {
                answer(json!({"bye": true}));
                return;
            }
            other => panic!("host: unknown op {other}"),
        };
        answer(reply);
    }
}
