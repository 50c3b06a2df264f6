//! Activities for mail sent outside the CRM (issue 7), through the C ABI against o365-sim:
//! exactly one activity per Outlook send, none for the library's own sends, stable through
//! cache clears, expired delta tokens, a killed process and two processes syncing at once;
//! the setting and the main user at booking time.

mod common;
use common::*;
use o365::ffi::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// A person sends a mail from Outlook; returns its internet message id.
fn outlook_send(sim: &o365_sim::RunningSim, subject: &str) -> String {
    let v = sim_admin(
        sim,
        &format!("/mailboxes/{ANNA}/outlook-send"),
        json!({"subject": subject, "body": format!("Body of {subject}"),
               "to": ["kunde@kunden.example"], "cc": ["chef@kunden.example"]}),
    );
    v["internetMessageId"].as_str().unwrap().to_owned()
}

fn crm_send(lib: &Lib, id: &str, subject: &str) -> String {
    let r = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "message": {
            "to": ["kunde@kunden.example"], "subject": subject, "body_text": format!("CRM body {subject}")}}),
    );
    assert_eq!(r["state"], "sent", "{r}");
    r["internet_message_id"].as_str().unwrap().to_owned()
}

fn sync(lib: &Lib, id: &str) {
    lib.ok(o365_sync, json!({"mailbox": id, "user": "u1"}));
}

fn activities(lib: &Lib) -> Vec<Value> {
    lib.drain_events(200)
        .into_iter()
        .filter(|e| e["type"] == "activity")
        .collect()
}

fn setup(sim: &o365_sim::RunningSim, dir: &std::path::Path) -> (Lib, String, Value) {
    let mut cfg = config(sim, dir);
    cfg["send"] = json!({"pace_max": 1_000_000});
    cfg["events"] = json!({"lease_ms": 300});
    let lib = Lib::open(cfg.clone());
    let id = import(&lib, ANNA, &["u1", "u2"], json!({"main_user": "u1"}));
    let (st, v) = sign_in_as(sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    // Baseline: what is in the mailbox already is never booked.
    sync(&lib, &id);
    assert!(activities(&lib).is_empty());
    (lib, id, cfg)
}

fn fast_sim() -> o365_sim::RunningSim {
    let mut opts = o365_sim::SimOptions::demo();
    opts.limits.sends_per_minute = 1_000_000;
    sim_with(opts)
}

/// Child process: sync, take events without acking, die.
#[test]
fn activity_worker() {
    let Ok(cfg) = std::env::var("O365_TEST_ACTIVITY_CONFIG") else {
        return;
    };
    let id = std::env::var("O365_TEST_ACTIVITY_MAILBOX").unwrap();
    let lib = Lib::open(serde_json::from_str(&cfg).unwrap());
    sync(&lib, &id);
    if std::env::var("O365_TEST_ACTIVITY_DIE").is_ok() {
        for _ in 0..3 {
            lib.next_event(1000);
        }
        std::process::abort(); // killed before acking
    }
}

fn run_workers(cfg: &Value, id: &str, n: usize, die: bool) {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..n)
        .map(|_| {
            let mut c = std::process::Command::new(&exe);
            c.args([
                "--exact",
                "activity_worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("O365_TEST_ACTIVITY_CONFIG", cfg.to_string())
            .env("O365_TEST_ACTIVITY_MAILBOX", id)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
            if die {
                c.env("O365_TEST_ACTIVITY_DIE", "1");
            }
            c.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        let status = c.wait().unwrap();
        assert_eq!(status.success(), !die, "worker exit: {status:?}");
    }
}

#[test]
fn one_activity_per_outlook_mail_and_none_for_crm_mail_exactly_once() {
    let sim = fast_sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, id, cfg) = setup(&sim, dir.path());
    let mut outlook = BTreeSet::new();
    let mut crm = BTreeSet::new();
    for i in 0..50 {
        outlook.insert(outlook_send(&sim, &format!("Outlook {i}")));
        crm.insert(crm_send(&lib, &id, &format!("CRM {i}")));
    }
    sync(&lib, &id);
    let acts = activities(&lib);
    assert_eq!(acts.len(), 50);
    let booked: BTreeSet<String> = acts
        .iter()
        .map(|a| a["internet_message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(booked, outlook, "exactly the Outlook mails");
    assert!(booked.is_disjoint(&crm));
    for a in &acts {
        assert_eq!(a["activity_type"], "E-Mail – Ausgang");
        assert_eq!(a["marker"], "Externer E-Mail-Versand");
        assert_eq!(a["responsible_user"], "u1");
        assert_eq!(a["mailbox"], id.as_str());
        assert_eq!(a["to"][0]["address"], "kunde@kunden.example", "{a}");
        assert!(a["subject"].as_str().unwrap().starts_with("Outlook "));
        assert!(a["sent_at"].is_string() && a["graph_id"].is_string());
    }

    // Cache clear, then sync again: nothing new.
    lib.ok(o365_cache_clear, json!({"mailbox": id, "user": "u1"}));
    sync(&lib, &id);
    assert!(
        activities(&lib).is_empty(),
        "cache clear books nothing twice"
    );

    // Expired delta tokens (410): full resync, nothing new.
    sim_admin(
        &sim,
        &format!("/mailboxes/{ANNA}/invalidate-sync"),
        json!({}),
    );
    sync(&lib, &id);
    assert!(
        activities(&lib).is_empty(),
        "410 resync books nothing twice"
    );

    // A process syncs 10 new Outlook mails, takes events and is killed before acking:
    // the events come again, once.
    let mut later = BTreeSet::new();
    for i in 0..10 {
        later.insert(outlook_send(&sim, &format!("Later {i}")));
    }
    run_workers(&cfg, &id, 1, true);
    // The dead worker's reservations (events.lease_ms 300) have ended for a client whose
    // clock is 10 s later: no sleeping.
    let mut later_cfg = cfg.clone();
    later_cfg["debug"]["clock_offset_ms"] = json!(10_000);
    let later_lib = Lib::open(later_cfg);
    let acts = activities(&later_lib);
    drop(later_lib);
    let got: BTreeSet<String> = acts
        .iter()
        .map(|a| a["internet_message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(acts.len(), 10, "{acts:?}");
    assert_eq!(got, later);

    // Two processes syncing at once: 10 more mails, 10 more activities.
    let mut last = BTreeSet::new();
    for i in 0..10 {
        last.insert(outlook_send(&sim, &format!("Last {i}")));
    }
    run_workers(&cfg, &id, 2, false);
    let acts = activities(&lib);
    let got: BTreeSet<String> = acts
        .iter()
        .map(|a| a["internet_message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(acts.len(), 10, "{acts:?}");
    assert_eq!(got, last);

    // A message moved out of Sent Items and back (in Outlook): still no second activity.
    let sent = sim_admin(
        &sim,
        &format!("/mailboxes/{ANNA}/outlook-send"),
        json!({"subject": "Moved", "body": "x", "to": ["kunde@kunden.example"]}),
    );
    sync(&lib, &id);
    let acts = activities(&lib);
    assert_eq!(acts.len(), 1, "booked once in Sent Items: {acts:?}");
    let moved = sim_admin(
        &sim,
        &format!(
            "/mailboxes/{ANNA}/messages/{}/outlook",
            sent["immutableId"].as_str().unwrap()
        ),
        json!({"action": "move", "folder": "inbox"}),
    );
    sync(&lib, &id);
    assert!(activities(&lib).is_empty(), "moved out: nothing");
    sim_admin(
        &sim,
        &format!(
            "/mailboxes/{ANNA}/messages/{}/outlook",
            moved["immutableId"].as_str().unwrap()
        ),
        json!({"action": "move", "folder": "sentitems"}),
    );
    sync(&lib, &id);
    assert!(
        activities(&lib).is_empty(),
        "back in Sent Items: not booked again"
    );
}

#[test]
fn setting_off_books_nothing_and_main_user_at_booking_time() {
    let sim = fast_sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, id, _) = setup(&sim, dir.path());
    lib.ok(
        o365_update_mailbox,
        json!({"mailbox": id, "settings": {"book_external_sent": false}}),
    );
    for i in 0..10 {
        outlook_send(&sim, &format!("Off {i}"));
    }
    sync(&lib, &id);
    assert!(activities(&lib).is_empty(), "setting off: nothing booked");
    lib.ok(
        o365_update_mailbox,
        json!({"mailbox": id, "settings": {"book_external_sent": true}}),
    );
    // Booking restarts at the next whole second (Graph's sentDateTime has whole seconds):
    // Outlook's next mails are sent two seconds later on the sim's clock.
    sim.sim().clock.advance(2);
    let mut on = BTreeSet::new();
    for i in 0..10 {
        on.insert(outlook_send(&sim, &format!("On {i}")));
    }
    sync(&lib, &id);
    let acts = activities(&lib);
    assert_eq!(acts.len(), 10, "only mail sent while on");
    let got: BTreeSet<String> = acts
        .iter()
        .map(|a| a["internet_message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, on);

    // The main user changes: later activities carry the new one.
    lib.ok(
        o365_update_mailbox,
        json!({"mailbox": id, "main_user": "u2"}),
    );
    for i in 0..5 {
        outlook_send(&sim, &format!("New main {i}"));
    }
    sync(&lib, &id);
    let acts = activities(&lib);
    assert_eq!(acts.len(), 5);
    assert!(
        acts.iter().all(|a| a["responsible_user"] == "u2"),
        "{acts:?}"
    );
}

#[test]
fn an_alias_and_its_mailbox_share_sent_items_but_book_each_mail_once() {
    // info@ is an alias of Anna's mailbox: both records sync the same Sent Items. CRM mail
    // from either record is never an activity; Outlook mail is booked once, for the record
    // whose address sent it.
    let sim = fast_sim();
    set_send_from_alias(&sim, "contoso.example", true);
    let dir = tempfile::tempdir().unwrap();
    let (lib, anna, _) = setup(&sim, dir.path());
    let info = import(
        &lib,
        "info@contoso.example",
        &["u1", "u3"],
        json!({"kind": "alias", "alias_of": ANNA, "main_user": "u3"}),
    );
    // Anna's mailbox is signed in with the account that has info@: the alias uses it.
    let v = lib.ok(o365_authenticate, json!({"mailbox": info, "user": "u1"}));
    assert_eq!(v["status"], "authenticated", "{v}");
    assert_eq!(v["signed_in_via"], anna.as_str(), "{v}");
    sync(&lib, &info);
    assert!(
        activities(&lib).is_empty(),
        "what was there before is not booked"
    );

    let crm_anna = crm_send(&lib, &anna, "CRM von Anna");
    let crm_info = crm_send(&lib, &info, "CRM von info@");
    let from_anna = outlook_send(&sim, "Outlook von Anna");
    let from_info = sim_admin(
        &sim,
        &format!("/mailboxes/{ANNA}/outlook-send"),
        json!({"subject": "Outlook von info@", "body": "x", "to": ["kunde@kunden.example"],
               "from": "info@contoso.example"}),
    )["internetMessageId"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        sync(&lib, &anna);
        sync(&lib, &info);
    }
    let mut booked: Vec<(String, String, String)> = activities(&lib)
        .iter()
        .map(|a| {
            (
                a["internet_message_id"].as_str().unwrap().to_owned(),
                a["mailbox"].as_str().unwrap().to_owned(),
                a["responsible_user"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    booked.sort();
    let mut want = vec![
        (from_anna, anna.clone(), "u1".to_owned()),
        (from_info, info.clone(), "u3".to_owned()),
    ];
    want.sort();
    assert_eq!(
        booked, want,
        "CRM mails {crm_anna} and {crm_info} are not activities"
    );
}
