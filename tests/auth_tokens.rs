//! Token vault, single-flight refresh, revocation, device flow (issue 4), through the C ABI.

mod common;
use common::*;
use o365::ffi::*;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

fn refreshes(sim: &o365_sim::RunningSim) -> u64 {
    sim.sim().counters.refreshes.load(Ordering::SeqCst)
}

/// Worker process for `expired_token_is_refreshed_once_by_50_threads_in_4_processes`.
#[test]
fn refresh_worker() {
    let Ok(cfg) = std::env::var("O365_TEST_WORKER_CONFIG") else {
        return;
    };
    let mailbox = std::env::var("O365_TEST_WORKER_MAILBOX").unwrap();
    let mut cfg: Value = serde_json::from_str(&cfg).unwrap();
    // Two hours later: the stored access token has expired for this process.
    cfg["debug"]["clock_offset_ms"] = json!(2 * 3600 * 1000);
    let lib = std::sync::Arc::new(Lib::open(cfg));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let lib = lib.clone();
            let mailbox = mailbox.clone();
            std::thread::spawn(move || {
                let user = if i % 2 == 0 { "u1" } else { "u2" };
                lib.ok(o365_authenticate, json!({"mailbox": mailbox, "user": user}))
            })
        })
        .collect();
    for t in threads {
        let v = t.join().expect("no thread failed");
        assert_eq!(v["status"], "authenticated", "{v}");
    }
}

#[test]
fn expired_token_is_refreshed_once_by_50_threads_in_4_processes() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, id) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let before = refreshes(&sim);
    let cfg = config(&sim, dir.path()).to_string();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "refresh_worker",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("O365_TEST_WORKER_CONFIG", &cfg)
                .env("O365_TEST_WORKER_MAILBOX", &id)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a worker process failed");
    }
    assert_eq!(
        refreshes(&sim) - before,
        1,
        "exactly one refresh across 200 callers"
    );
    drop(lib);
}

#[test]
fn revoked_refresh_token_needs_reauth_once_without_retry_storm() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (_lib, id) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    {
        let now = sim.sim().clock.now_ms();
        let mut w = sim.sim().world.lock().unwrap();
        w.user_mut(ANNA).unwrap().revoked_before = now + 1;
    }
    sim.sim().clock.advance(1); // later sign-ins are issued after the revocation
    let mut cfg = config(&sim, dir.path());
    cfg["debug"]["clock_offset_ms"] = json!(2 * 3600 * 1000);
    let later = Lib::open(cfg);
    let token_calls = || {
        sim.sim().counters.snapshot(json!(null))["requestsPerRoute"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains("token"))
            .map(|(_, v)| v.as_u64().unwrap())
            .sum::<u64>()
    };
    let (st, v) = later.call(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    // The first call finds the token dead and asks for a new sign-in.
    assert_eq!(st, O365_OK, "{v}");
    assert_eq!(v["status"], "authorization_required", "{v}");
    let after_first = token_calls();
    let m = later.ok(o365_get_mailbox, json!({"mailbox": id}));
    assert_eq!(m["auth_state"], "reauth_required");
    for _ in 0..20 {
        let (st, _) = later.call(o365_authenticate, json!({"mailbox": id, "user": "u2"}));
        assert_eq!(st, O365_OK);
    }
    assert_eq!(
        token_calls(),
        after_first,
        "no further token requests: no retry storm"
    );
    let events: Vec<Value> = later
        .drain_events(300)
        .into_iter()
        .filter(|e| e["type"] == "reauth_required")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["mailbox"], id.as_str());
}

#[test]
fn store_and_log_hold_no_secret_in_plain_text() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("o365.log");
    let mut cfg = config(&sim, dir.path());
    cfg["log"] = json!({"level": "trace", "file": log.to_str().unwrap(), "buffer": 10000});
    let lib = Lib::open(cfg);
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let start = lib.ok(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    let state = start["state"].as_str().unwrap().to_owned();
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        start["authorize_url"].as_str().unwrap(),
        ANNA,
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .unwrap();
    let code = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    lib.ok(o365_authenticate, json!({"callback_url": redirect}));
    // The pull buffer (PSR-3 bridge) is a sink too: its records join the haystack.
    let pulled = lib.ok(o365_take_logs, json!({"max": 10000}));
    drop(lib);
    let written = std::fs::read_to_string(&log).unwrap();
    for m in ["sign-in started", "sign-in completed", "graph: request"] {
        assert!(written.contains(m), "the log is not empty: {m} missing");
    }
    let mut haystack = pulled.to_string().into_bytes();
    assert!(pulled["records"].as_array().unwrap().len() >= 3);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() && !p.to_string_lossy().ends_with(".key") {
            haystack.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(!haystack.is_empty());
    let contains = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);

    assert!(
        !contains(b"eyJ"),
        "a JWT (access or id token) is stored in plain text"
    );
    assert!(
        !contains(code.as_bytes()),
        "the authorization code is stored in plain text"
    );
    assert!(
        !contains(state.as_bytes()),
        "the state is stored in plain text"
    );
    let issued: Vec<String> = {
        let w = sim.sim().world.lock().unwrap();
        w.refresh.keys().cloned().collect()
    };
    assert!(!issued.is_empty());
    for rt in issued {
        assert!(
            !contains(rt.as_bytes()),
            "a refresh token is stored in plain text"
        );
    }
}

#[test]
fn device_code_flow_completes_and_reports_events() {
    let sim = sim();
    sim.sim()
        .world
        .lock()
        .unwrap()
        .lifetimes
        .device_code_interval = 1;
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let start = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "flow": "device_code"}),
    );
    assert_eq!(start["status"], "device_code_pending", "{start}");
    let code = start["user_code"].as_str().unwrap();
    assert!(o365_sim::browser::device_sign_in_with_ca(
        Some(sim.ca_pem()),
        sim.url(),
        code,
        ANNA,
        PASSWORD,
        o365_sim::Consent::Accept
    )
    .unwrap());
    let ev = wait_for(&lib, "auth_completed", 30_000);
    assert_eq!(ev["mailbox"], id.as_str());
    let m = lib.ok(o365_get_mailbox, json!({"mailbox": id}));
    assert_eq!(m["auth_state"], "authenticated");

    // Declined on the device page: auth_failed.
    let id2 = import(&lib, BEN, &["u1"], json!({}));
    let start = lib.ok(
        o365_authenticate,
        json!({"mailbox": id2, "user": "u1", "flow": "device_code"}),
    );
    let code = start["user_code"].as_str().unwrap();
    let _ = o365_sim::browser::device_sign_in_with_ca(
        Some(sim.ca_pem()),
        sim.url(),
        code,
        BEN,
        PASSWORD,
        o365_sim::Consent::Decline,
    );
    let ev = wait_for(&lib, "auth_failed", 30_000);
    assert_eq!(ev["mailbox"], id2.as_str());
    assert_eq!(ev["error"], "access_denied", "{ev}");
}

fn wait_for(lib: &Lib, kind: &str, ms: u64) -> Value {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < until {
        if let Some(e) = lib.next_event(500) {
            lib.ack(e["id"].as_str().unwrap());
            if e["type"] == kind {
                return e;
            }
        }
    }
    panic!("no {kind} event within {ms} ms");
}

#[test]
fn idle_mailboxes_are_refreshed_before_microsofts_90_day_limit() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, _id) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let before = refreshes(&sim);
    // Today: nothing is idle.
    let r = lib.ok(o365_maintenance, json!({}));
    assert_eq!(r["tokens_refreshed"], 0, "{r}");
    // 31 days later (library clock): the token is refreshed once, then not again.
    let mut cfg = config(&sim, dir.path());
    cfg["debug"]["clock_offset_ms"] = json!(31i64 * 24 * 3600 * 1000);
    let later = Lib::open(cfg);
    let r = later.ok(o365_maintenance, json!({}));
    assert_eq!(r["tokens_refreshed"], 1, "{r}");
    let r = later.ok(o365_maintenance, json!({}));
    assert_eq!(r["tokens_refreshed"], 0, "{r}");
    assert_eq!(refreshes(&sim) - before, 1);
    let (st, e) = later.call(o365_maintenance, json!({"idle_refresh_days": 95}));
    assert_eq!(st, O365_INVALID_ARGUMENT, "{e}");
}
