//! Under pressure (issue 12): a long throttling window never hangs a call, a process killed
//! while refreshing never stalls the others, files are private, background work survives
//! panics. Through the C ABI, against o365-sim; time is driven by the sim and the library's
//! `debug.clock_offset_ms`, never by sleeping.

mod common;
use common::*;
use o365::ffi::*;
use o365_sim::faults::FaultSpec;
use o365_sim::RunningSim;
use serde_json::json;
use std::sync::atomic::Ordering;

/// Every non-admin request the sim received (Graph and sign-in).
fn requests(sim: &RunningSim) -> u64 {
    sim.sim().counters.requests.load(Ordering::SeqCst)
}

fn sent_with_subject(sim: &RunningSim, subject: &str) -> usize {
    sim.sim()
        .world
        .lock()
        .unwrap()
        .outbound
        .iter()
        .filter(|m| m.subject == subject)
        .count()
}

/// The reads and sends of a throttled mailbox, from this process or another one: nothing
/// waits, reads are stale or throttled, a send is queued or (queue: false) throttled.
fn throttled_calls(lib: &Lib, id: &str, tag: &str) -> String {
    let f = lib.ok(
        o365_list_folders,
        json!({"mailbox": id, "user": "u1", "max_age_ms": 0}),
    );
    assert_eq!(f["stale"], true, "{f}");
    assert_eq!(f["refresh_error"]["status"], O365_THROTTLED, "{f}");
    assert!(f["folders"].as_array().unwrap().len() > 3, "{f}");
    let inbox = lib.ok(
        o365_list_messages,
        json!({"mailbox": id, "user": "u1", "folder": "inbox", "max_age_ms": 0}),
    );
    assert_eq!(inbox["stale"], true, "{inbox}");
    assert!(!inbox["messages"].as_array().unwrap().is_empty());
    // Nothing cached for Drafts: the error, at once, with the time left.
    let (st, e) = lib.call(
        o365_list_messages,
        json!({"mailbox": id, "user": "u1", "folder": "drafts", "max_age_ms": 0}),
    );
    assert_eq!(st, O365_THROTTLED, "{e}");
    let left = e["details"]["retry_after_ms"].as_u64().unwrap();
    assert!(left > 200_000 && left <= 300_000, "{e}");
    // A send is queued; with queue: false it is refused and nothing is kept.
    let subject = format!("Exposé {tag}");
    let q = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "idempotency_key": format!("q-{tag}"),
               "message": {"to": ["kunde@kunden.example"], "subject": subject,
                           "body_text": format!("Guten Tag {tag}")}}),
    );
    assert_eq!(q["state"], "queued", "{q}");
    let (st, e) = lib.call(
        o365_send,
        json!({"mailbox": id, "user": "u1", "idempotency_key": format!("nq-{tag}"), "queue": false,
               "message": {"to": ["kunde@kunden.example"], "subject": format!("Nie {tag}"),
                           "body_text": "x"}}),
    );
    assert_eq!(st, O365_THROTTLED, "{e}");
    assert!(
        e["details"]["retry_after_ms"].as_u64().unwrap() > 200_000,
        "{e}"
    );
    let h = lib.ok(o365_get_mailbox, json!({"mailbox": id}));
    assert!(h["health"]["throttled_until"].is_string(), "{h}");
    subject
}

/// Second process of `long_throttling_answers_at_once_in_every_process_and_nothing_is_lost`.
#[test]
fn throttled_worker() {
    let Ok(cfg) = std::env::var("O365_TEST_THROTTLE_CONFIG") else {
        return;
    };
    let id = std::env::var("O365_TEST_THROTTLE_MAILBOX").unwrap();
    let lib = Lib::open(serde_json::from_str(&cfg).unwrap());
    let subject = throttled_calls(&lib, &id, "child");
    println!("queued {subject}");
}

#[test]
fn long_throttling_answers_at_once_in_every_process_and_nothing_is_lost() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    // A call that waited out Retry-After: 300 would hang for ten minutes: it must not wait.
    cfg["timeouts"] = json!({"call_ms": 600_000});
    cfg["graph"]["retry_max_ms"] = json!(60_000);
    cfg["sync"] = json!({"scheduler": false});
    cfg["send"] = json!({"background": false});
    let lib = Lib::open(cfg.clone());
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    lib.ok(o365_list_folders, json!({"mailbox": id, "user": "u1"}));
    lib.ok(
        o365_list_messages,
        json!({"mailbox": id, "user": "u1", "folder": "inbox"}),
    );

    // The mailbox used up its requests: every Graph path answers 429, Retry-After 300 s.
    let rule = sim.sim().faults.add(FaultSpec {
        path: "/v1.0/*".into(),
        status: Some(429),
        retry_after: Some(300),
        ..Default::default()
    });
    let first = throttled_calls(&lib, &id, "parent");
    // One 429 taught the process (and the store) the window: no request went out after it.
    let faulted = sim
        .sim()
        .faults
        .list()
        .into_iter()
        .find(|r| r.id == rule.id)
        .unwrap()
        .applied;
    assert_eq!(
        faulted, 1,
        "one request met the 429, the others were never sent"
    );

    // Another process on the store learns the window and sends nothing at all.
    let before = requests(&sim);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "throttled_worker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("O365_TEST_THROTTLE_CONFIG", cfg.to_string())
        .env("O365_TEST_THROTTLE_MAILBOX", &id)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("queued Exposé child"), "{stdout}");
    assert_eq!(requests(&sim), before, "the second process made no request");
    assert_eq!(sent_with_subject(&sim, &first), 0);
    drop(lib);

    // Five minutes later Microsoft answers again: the queued mails go out exactly once.
    sim.sim().faults.clear();
    sim.sim().clock.advance(301);
    let mut later_cfg = cfg.clone();
    later_cfg["debug"]["clock_offset_ms"] = json!(301_000);
    let later = Lib::open(later_cfg);
    let f = later.ok(
        o365_list_folders,
        json!({"mailbox": id, "user": "u1", "max_age_ms": 0}),
    );
    assert!(f.get("stale").is_none(), "{f}");
    let p = later.ok(o365_outbox_process, json!({"wait_ms": 30_000}));
    assert_eq!(p["sent"], 2, "{p}");
    later.ok(o365_outbox_process, json!({}));
    assert_eq!(sent_with_subject(&sim, &first), 1);
    assert_eq!(sent_with_subject(&sim, "Exposé child"), 1);
    assert_eq!(sent_with_subject(&sim, "Nie parent"), 0);
    assert_eq!(sent_with_subject(&sim, "Nie child"), 0);
    for key in ["q-parent", "q-child"] {
        let s = later.ok(
            o365_send_status,
            json!({"mailbox": id, "user": "u1", "idempotency_key": key}),
        );
        assert_eq!(s["state"], "sent", "{s}");
    }
    let h = later.ok(o365_get_mailbox, json!({"mailbox": id}));
    assert!(h["health"]["throttled_until"].is_null(), "{h}");
}
