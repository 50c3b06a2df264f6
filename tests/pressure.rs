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
/// This test binary run again as a child that executes only the `#[test]` `name`, with `env`.
fn child(name: &str, env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

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
    let out = child(
        "throttled_worker",
        &[
            ("O365_TEST_THROTTLE_CONFIG", &cfg.to_string()),
            ("O365_TEST_THROTTLE_MAILBOX", &id),
        ],
    )
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

/// Child of `a_process_killed_while_refreshing_does_not_stall_the_others`: refreshes (the
/// sim holds its token request) until it is killed.
#[test]
fn refresh_holder() {
    let Ok(cfg) = std::env::var("O365_TEST_REFRESH_CONFIG") else {
        return;
    };
    let id = std::env::var("O365_TEST_REFRESH_MAILBOX").unwrap();
    let lib = Lib::open(serde_json::from_str(&cfg).unwrap());
    let _ = lib.call(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
}

#[test]
fn a_process_killed_while_refreshing_does_not_stall_the_others() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, id) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    drop(lib);
    let log = dir.path().join("o365.log");
    let mut cfg = config(&sim, dir.path());
    cfg["debug"]["clock_offset_ms"] = json!(2 * 3600 * 1000); // the access token expired
    cfg["log"] = json!({"level": "info", "file": log.to_str().unwrap()});
    cfg["sync"] = json!({"scheduler": false});
    let refreshes = || sim.sim().counters.refreshes.load(Ordering::SeqCst);
    let before = refreshes();
    // The token endpoint holds the first refresh for ten minutes: the child holds the lease.
    let hold = sim.sim().faults.add(FaultSpec {
        path: "/*/oauth2/v2.0/token".into(),
        latency_ms: Some(600_000),
        count: Some(1),
        ..Default::default()
    });
    let mut child = child(
        "refresh_holder",
        &[
            ("O365_TEST_REFRESH_CONFIG", &cfg.to_string()),
            ("O365_TEST_REFRESH_MAILBOX", &id),
        ],
    )
    .spawn()
    .unwrap();
    // Wait for the event "the child's refresh reached the token endpoint".
    while sim
        .sim()
        .faults
        .list()
        .iter()
        .all(|r| r.id != hold.id || r.applied == 0)
    {
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        std::thread::sleep(std::time::Duration::from_millis(5)); // polling a counter
    }
    child.kill().unwrap(); // SIGKILL while it holds the refresh lease
    child.wait().unwrap();

    let other = Lib::open(cfg);
    let v = other.ok(o365_authenticate, json!({"mailbox": id, "user": "u2"}));
    assert_eq!(v["status"], "authenticated", "{v}");
    assert_eq!(refreshes() - before, 1, "exactly one refresh in total");
    // It took the dead holder's lease over instead of waiting for its 30 s expiry.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("taking over the lease of a process that is gone")
            && text.contains("refresh:"),
        "{text}"
    );
}

/// Child of `files_are_private_under_umask_000_and_the_store_holds_no_link_token`: runs with
/// umask 000, prints the link token and the mailbox's path.
#[test]
fn umask_worker() {
    let Ok(cfg) = std::env::var("O365_TEST_UMASK_CONFIG") else {
        return;
    };
    unsafe { libc::umask(0) };
    let sim = sim();
    let mut cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    let fresh = config(&sim, std::path::Path::new("/"));
    for k in ["endpoints", "ca_file"] {
        cfg[k] = fresh[k].clone();
    }
    let dir = std::path::PathBuf::from(cfg["store"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_owned();
    let lib = Lib::open(cfg);
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    lib.ok(o365_list_folders, json!({"mailbox": id, "user": "u1"}));
    let plan = dir.join("grundriss.pdf");
    std::fs::write(&plan, b"%PDF-1.4 Grundriss").unwrap();
    // A mail with an attachment (spooled) and one with a download link.
    let a = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "queue": true,
               "message": {"to": ["kunde@kunden.example"], "subject": "Anhang", "body_text": "x",
                           "attachments": [{"name": "a.pdf", "path": plan.to_str().unwrap()}]}}),
    );
    assert_eq!(a["state"], "queued", "{a}");
    let l = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1",
               "message": {"to": ["kunde@kunden.example"], "subject": "Link",
                           "body_html": "<p>_downloadLink(Unterlagen)</p>",
                           "attachments": [{"name": "g.pdf", "path": plan.to_str().unwrap()}]}}),
    );
    assert_eq!(l["state"], "sent", "{l}");
    let token = l["link"]["token"].as_str().unwrap();
    let out = sim.sim().world.lock().unwrap().outbound.clone();
    let sent = out.iter().find(|m| m.subject == "Link").unwrap();
    assert!(
        format!("{sent:?}").contains(token),
        "the mail itself carries the link"
    );
    println!("TOKEN={token}");
    // Leave the store open (as a crashed worker would): -wal and -shm stay for the checks.
    std::mem::forget(lib);
}

#[test]
fn files_are_private_under_umask_000_and_the_store_holds_no_link_token() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("o365.db");
    let log = dir.path().join("o365.log");
    // No encryption_key: the key file beside the store is created.
    let cfg = json!({
        "store": store.to_str().unwrap(),
        "app": {"client_id": "11111111-2222-3333-4444-555555555555", "redirect_uri": REDIRECT},
        "log": {"level": "debug", "file": log.to_str().unwrap()},
        "links": {"base_url": "https://crm.example/o365/link?t={token}"},
        "sync": {"scheduler": false},
        "send": {"background": false},
        "debug": {"test_hooks": true},
    });
    let out = child(
        "umask_worker",
        &[("O365_TEST_UMASK_CONFIG", &cfg.to_string())],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = stdout
        .split("TOKEN=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("the child printed no token: {stdout}"))
        .to_owned();
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for f in [
        "o365.db",
        "o365.db-wal",
        "o365.db-shm",
        "o365.log",
        "o365.db.key",
    ] {
        assert_eq!(mode(&dir.path().join(f)), 0o600, "{f}");
    }
    let spool = dir.path().join("o365.db.outbox");
    assert_eq!(mode(&spool), 0o700, "the outbox spool folder");
    let mut spooled = 0;
    for e in walk(&spool) {
        let want = if e.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&e), want, "{}", e.display());
        spooled += e.is_file() as usize;
    }
    assert!(spooled > 0, "the queued mail's attachment is spooled");
    // No store file holds the link token in plain text (the outbox keeps the macros).
    for f in ["o365.db", "o365.db-wal", "o365.db-shm", "o365.log"] {
        let bytes = std::fs::read(dir.path().join(f)).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{f} holds the link token"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all.extend(walk(&p));
        }
        all.push(p);
    }
    all
}

/// Polls `o365_get_mailbox` until `done(health)` (a state change made by the library's
/// background jobs); fails after a generous safety limit instead of hanging.
fn wait_for_health(
    lib: &Lib,
    id: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..60_000 {
        let h = lib.ok(o365_get_mailbox, json!({"mailbox": id}))["health"].clone();
        if done(&h) {
            return h;
        }
        std::thread::sleep(std::time::Duration::from_millis(10)); // polling a state
    }
    panic!("the background job never got there");
}

#[test]
fn panicking_send_worker_and_scheduler_are_restarted_and_counted() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"scheduler": true, "interval_ms": 100});
    let lib = Lib::open(cfg);
    let id = import(&lib, ANNA, &["u1"], json!({}));
    // The scheduler's next pass panics (before the mailbox is even signed in).
    let armed = lib.ok(o365_debug_panic, json!({"job": "scheduler"}));
    assert_eq!(armed["armed"], "scheduler");
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let h = wait_for_health(&lib, &id, |h| {
        let panicked = h["background"]["jobs"]["scheduler"]["last_panic_at"].as_str();
        // A sync the restarted scheduler made after the panic.
        panicked.is_some() && h["last_success_at"].as_str() > panicked
    });
    assert_eq!(h["background"]["jobs"]["scheduler"]["panics"], 1, "{h}");
    assert!(h["background"]["jobs"]["scheduler"]["last_panic"]
        .as_str()
        .unwrap()
        .contains("scheduler"));

    // The worker's next iteration panics; the queued mail still goes out, once.
    lib.ok(o365_debug_panic, json!({"job": "send_worker"}));
    let q = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "queue": true,
               "message": {"to": ["kunde@kunden.example"], "subject": "Nach dem Absturz",
                           "body_text": "x"}}),
    );
    assert_eq!(q["state"], "queued");
    let completed = loop {
        let e = lib.next_event(60_000).expect("an event");
        lib.ack(e["id"].as_str().unwrap());
        if e["type"] == "send_completed" || e["type"] == "send_failed" {
            break e;
        }
    };
    assert_eq!(completed["type"], "send_completed", "{completed}");
    assert_eq!(completed["send_id"], q["send_id"]);
    assert_eq!(sent_with_subject(&sim, "Nach dem Absturz"), 1);
    let h = lib.ok(o365_get_mailbox, json!({"mailbox": id}))["health"].clone();
    assert_eq!(h["background"]["jobs"]["send_worker"]["panics"], 1, "{h}");
    assert_eq!(h["background"]["panics"], 2, "{h}");
    let (st, e) = lib.call(o365_debug_panic, json!({"job": "nope"}));
    assert_eq!(st, O365_INVALID_ARGUMENT, "{e}");
}

#[test]
fn panicking_device_code_poller_is_restarted_and_the_sign_in_completes() {
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
    // The poller's first look at the sign-in panics.
    lib.ok(o365_debug_panic, json!({"job": "device_code"}));
    let start = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "flow": "device_code"}),
    );
    assert_eq!(start["status"], "device_code_pending", "{start}");
    assert!(o365_sim::browser::device_sign_in_with_ca(
        Some(sim.ca_pem()),
        sim.url(),
        start["user_code"].as_str().unwrap(),
        ANNA,
        PASSWORD,
        o365_sim::Consent::Accept
    )
    .unwrap());
    let ev = loop {
        let e = lib.next_event(60_000).expect("an event");
        lib.ack(e["id"].as_str().unwrap());
        if e["type"] == "auth_completed" || e["type"] == "auth_failed" {
            break e;
        }
    };
    assert_eq!(ev["type"], "auth_completed", "{ev}");
    assert_eq!(ev["mailbox"], id.as_str());
    let m = lib.ok(o365_get_mailbox, json!({"mailbox": id}));
    assert_eq!(m["auth_state"], "authenticated", "{m}");
    let jobs = &m["health"]["background"]["jobs"];
    assert_eq!(jobs["device_code"]["panics"], 1, "{m}");
    assert!(jobs["device_code"]["last_panic"]
        .as_str()
        .unwrap()
        .contains("device_code"));
}

/// Signs `address` in as Anna while Graph answers `status` on `path`: the result.
fn sign_in_under_fault(
    address: &str,
    kind: &str,
    path: &str,
    status: u16,
) -> (o365_status, serde_json::Value, u64) {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["graph"]["max_retries"] = json!(2);
    cfg["sync"] = json!({"scheduler": false});
    let lib = Lib::open(cfg);
    let id = import(&lib, address, &["u1"], json!({"kind": kind}));
    let rule = sim.sim().faults.add(FaultSpec {
        path: path.into(),
        status: Some(status),
        retry_after: Some(0),
        ..Default::default()
    });
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    let matched = sim
        .sim()
        .faults
        .list()
        .into_iter()
        .find(|r| r.id == rule.id)
        .unwrap()
        .applied;
    (st, v, matched)
}

#[test]
fn sign_in_checks_retry_throttling_and_outages_and_never_call_them_a_mismatch() {
    let shared_probe = "/v1.0/users/vertrieb@contoso.example/*";
    for (address, kind, path, status, want) in [
        (
            "vertrieb@contoso.example",
            "shared",
            shared_probe,
            429,
            O365_THROTTLED,
        ),
        (
            "vertrieb@contoso.example",
            "shared",
            shared_probe,
            503,
            O365_REMOTE,
        ),
        (ANNA, "user", "/v1.0/me", 429, O365_THROTTLED),
        (ANNA, "user", "/v1.0/me", 503, O365_REMOTE),
    ] {
        let (st, v, applied) = sign_in_under_fault(address, kind, path, status);
        assert_eq!(st, want, "{path} {status}: {v}");
        assert_ne!(v["error"], "account_mismatch", "{v}");
        assert_eq!(applied, 3, "{path} {status}: first try and two retries");
    }
}

#[test]
fn an_alias_uses_its_owners_sign_in_with_one_token_set_and_one_refresh() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"scheduler": false});
    let lib = Lib::open(cfg.clone());
    let alias_json = |of: &str| json!({"kind": "alias", "alias_of": of});
    let info = import(&lib, "info@contoso.example", &["u1"], alias_json(ANNA));
    // The owner's mailbox is not in the CRM: the alias needs a sign-in of its own.
    let start = lib.ok(o365_authenticate, json!({"mailbox": info, "user": "u1"}));
    assert_eq!(start["status"], "authorization_required", "{start}");
    let (st, e) = lib.call(o365_list_folders, json!({"mailbox": info, "user": "u1"}));
    assert_eq!(st, O365_AUTH_REQUIRED, "{e}");

    // The owner signs in (Anna's account has info@ in proxyAddresses): the alias uses it.
    let anna = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &anna, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let via = lib.ok(o365_authenticate, json!({"mailbox": info, "user": "u1"}));
    assert_eq!(via["status"], "authenticated", "{via}");
    assert_eq!(via["signed_in_via"], anna.as_str(), "{via}");
    let f = lib.ok(o365_list_folders, json!({"mailbox": info, "user": "u1"}));
    assert!(f["folders"].as_array().unwrap().len() > 3, "{f}");
    let m = lib.ok(o365_get_mailbox, json!({"mailbox": info}));
    assert_eq!(m["signed_in_via"], anna.as_str(), "{m}");

    // An alias the account does not have: still its own sign-in.
    let sales = import(&lib, "sales@contoso.example", &["u1"], alias_json(ANNA));
    let start = lib.ok(o365_authenticate, json!({"mailbox": sales, "user": "u1"}));
    assert_eq!(start["status"], "authorization_required", "{start}");

    // One token set: two hours later, calls on both records refresh it once.
    let refreshes = || sim.sim().counters.refreshes.load(Ordering::SeqCst);
    let before = refreshes();
    let mut later_cfg = cfg;
    later_cfg["debug"]["clock_offset_ms"] = json!(2 * 3600 * 1000);
    let later = Lib::open(later_cfg);
    for id in [&info, &anna, &info] {
        later.ok(
            o365_list_folders,
            json!({"mailbox": id, "user": "u1", "max_age_ms": 0}),
        );
    }
    assert_eq!(refreshes() - before, 1, "one refresh for owner and alias");
}
