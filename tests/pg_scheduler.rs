//! The background scheduler across hosts on one PostgreSQL store: each mailbox is synced
//! once per interval across every process's scheduler round (the per-mailbox round lease),
//! and a host with `sync.scheduler: false` never syncs in the background.
//!
//! Needs the server in O365_TEST_PG_URL (`scripts/pg_cluster.sh run cargo test --test
//! pg_scheduler`; `make test` does it), or O365_TEST_PG_SKIP=1 to skip.

mod common;

use common::*;
use o365::ffi::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// The scheduler interval of these hosts.
const INTERVAL_MS: i64 = 600_000;

/// A fresh schema on the test server (left behind in the throwaway cluster), or None when
/// the PostgreSQL tests are skipped on purpose.
pub fn pg_url(prefix: &str) -> Option<String> {
    let Ok(url) = std::env::var("O365_TEST_PG_URL") else {
        if std::env::var("O365_TEST_PG_SKIP").as_deref() == Ok("1") {
            eprintln!("skipped: O365_TEST_PG_SKIP=1 (the PostgreSQL store is not tested)");
            return None;
        }
        panic!(
            "O365_TEST_PG_URL is not set: run this test as `scripts/pg_cluster.sh run cargo \
             test --test pg_scheduler`, or set O365_TEST_PG_SKIP=1"
        );
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{url}{sep}schema={prefix}_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// A host's config: its own temporary directory, the shared store URL.
fn host_config(sim: &o365_sim::RunningSim, dir: &Path, url: &str, extra: Value) -> Value {
    let mut cfg = config(sim, dir);
    cfg["store"] = json!(url);
    cfg["sync"] = json!({"scheduler": false, "interval_ms": INTERVAL_MS});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            cfg[k] = v;
        }
    }
    cfg
}

/// Sync rounds this client ran (every status), from its `o365_sync_rounds_total`.
fn rounds_of(metrics: &Value) -> u64 {
    metrics["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "o365_sync_rounds_total")
        .flat_map(|f| f["samples"].as_array().unwrap().iter())
        .map(|s| s["value"].as_f64().unwrap() as u64)
        .sum()
}

fn rounds(c: &o365::Client) -> u64 {
    let req = serde_json::from_value(json!({"format": "json"})).unwrap();
    rounds_of(&serde_json::to_value(c.metrics(req).unwrap()).unwrap())
}

/// Successful syncs per mailbox as the store records them (`last_success_at`).
fn last_success(lib: &Lib, mailbox: &str) -> Option<String> {
    let v = lib.ok(o365_get_mailbox, json!({"mailbox": mailbox, "user": "u1"}));
    v["health"]["last_success_at"].as_str().map(str::to_owned)
}

/// Each of `hosts` runs one scheduler round at the same time; returns the sync rounds each ran.
fn round_on_all(rt: &tokio::runtime::Runtime, hosts: &[o365::Client]) -> Vec<u64> {
    let before: Vec<u64> = hosts.iter().map(rounds).collect();
    rt.block_on(async {
        let rounds = hosts.iter().map(|h| h.scheduler_round(Duration::ZERO));
        futures_util::future::join_all(rounds).await;
    });
    hosts
        .iter()
        .zip(before)
        .map(|(h, b)| rounds(h) - b)
        .collect()
}

#[test]
fn each_mailbox_is_synced_once_per_interval_across_hosts() {
    let Some(url) = pg_url("sched") else { return };
    let sim = sim();
    let setup_dir = tempfile::tempdir().unwrap();
    let setup = Lib::open(host_config(&sim, setup_dir.path(), &url, json!({})));
    let mut mailboxes = Vec::new();
    for login in [ANNA, BEN] {
        let id = import(&setup, login, &["u1"], json!({}));
        let (st, v) = sign_in_as(&sim, &setup, &id, "u1", login);
        assert_eq!(st, O365_OK, "sign-in: {v}");
        mailboxes.push(id);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Three hosts (own directories, one store URL) run their rounds together: each mailbox
    // is synced by exactly one of them.
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let hosts = |offset: i64| -> Vec<o365::Client> {
        dirs.iter()
            .map(|d| {
                let cfg = host_config(
                    &sim,
                    d.path(),
                    &url,
                    json!({"debug": {"test_hooks": true, "clock_offset_ms": offset}}),
                );
                o365::Client::from_json(&cfg.to_string()).expect("host opens the store")
            })
            .collect()
    };
    let now = hosts(0);
    let ran = round_on_all(&rt, &now);
    assert_eq!(
        ran.iter().sum::<u64>(),
        mailboxes.len() as u64,
        "one sync per mailbox across the hosts: {ran:?}"
    );
    let synced: Vec<_> = mailboxes
        .iter()
        .map(|m| last_success(&setup, m).expect("every mailbox synced"))
        .collect();
    // Again within the same interval, on every host: nobody syncs.
    let again = round_on_all(&rt, &now);
    assert_eq!(again, vec![0, 0, 0], "no second sync within the interval");
    drop(now);

    // One interval later (the hosts' clocks moved on, and Graph's): once more each.
    let later = INTERVAL_MS + 1_000;
    sim_admin(&sim, "/clock/advance", json!({"seconds": later / 1000}));
    let next = hosts(later);
    let ran = round_on_all(&rt, &next);
    assert_eq!(
        ran.iter().sum::<u64>(),
        mailboxes.len() as u64,
        "one sync per mailbox in the next interval: {ran:?}"
    );
    for (m, before) in mailboxes.iter().zip(&synced) {
        let after = last_success(&setup, m).unwrap();
        assert_ne!(&after, before, "{m} synced again in the next interval");
    }
    let again = round_on_all(&rt, &next);
    assert_eq!(
        again,
        vec![0, 0, 0],
        "no second sync within the next interval"
    );
}

/// `sync.scheduler: false`: the host never syncs in the background, while a host with the
/// scheduler on (own store, same interval) runs three rounds in the same time.
#[test]
fn a_host_with_the_scheduler_off_never_syncs_in_the_background() {
    let Some(url) = pg_url("sched_off") else {
        return;
    };
    let sim = sim();
    let interval = json!({"interval_ms": 100});
    let off_dir = tempfile::tempdir().unwrap();
    let mut off_cfg = host_config(&sim, off_dir.path(), &url, json!({}));
    off_cfg["sync"]["interval_ms"] = interval["interval_ms"].clone();
    let off = Lib::open(off_cfg);
    let id = import(&off, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &off, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "sign-in: {v}");

    // The reference: the same mailbox on a store of its own, scheduler on.
    let on_dir = tempfile::tempdir().unwrap();
    let mut on_cfg = config(&sim, on_dir.path());
    on_cfg["sync"] = json!({"scheduler": true, "interval_ms": 100});
    let on = Lib::open(on_cfg);
    let on_id = import(&on, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &on, &on_id, "u1", ANNA);
    assert_eq!(st, O365_OK, "sign-in: {v}");

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = rounds_of(&on.ok(o365_metrics, json!({"format": "json"})));
        if done >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduler host ran {done} rounds"
        );
        std::thread::yield_now();
        let _ = on.next_event(50);
    }
    let off_rounds = rounds_of(&off.ok(o365_metrics, json!({"format": "json"})));
    assert_eq!(off_rounds, 0, "the host with the scheduler off synced");
    assert!(
        last_success(&off, &id).is_none(),
        "nobody synced the scheduler-off host's mailbox"
    );
}
