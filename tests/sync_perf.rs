//! Issue 13 through the C ABI against o365-sim: an idle round costs at most two HTTP
//! requests; warm list answers kept in memory still see a change made by another client
//! (another process) on the same store at the next call.

mod common;
use common::*;
use o365::ffi::*;
use o365_sim::state::{Addr, Message};
use o365_sim::RunningSim;
use serde_json::{json, Value};

/// Anna's mailbox with at least `n` visible folders (created in the sim's world).
fn with_folders(sim: &RunningSim, n: usize) {
    let mut w = sim.sim().world.lock().unwrap();
    let owner = w.user(ANNA).expect("sim user").id.clone();
    let mb = w.mailboxes.get_mut(&owner).unwrap();
    let visible = |mb: &o365_sim::state::Mailbox| {
        mb.folders
            .iter()
            .filter(|f| f.key != 0 && !f.deleted && !f.hidden)
            .count()
    };
    let mut i = 0;
    while visible(mb) < n {
        i += 1;
        mb.add_folder(&format!("Projekt {i}"), 0, false).unwrap();
    }
}

fn deliver(sim: &RunningSim, subject: &str) -> String {
    let now = sim.sim().clock.now();
    let mut w = sim.sim().world.lock().unwrap();
    let owner = w.user(ANNA).expect("sim user").id.clone();
    let mb = w.mailboxes.get_mut(&owner).unwrap();
    let inbox = mb.folder_lookup("inbox").unwrap();
    let mut m = Message::blank(now);
    m.subject = subject.into();
    m.from = Some(Addr::new("Kunde", "kunde@extern.example"));
    let k = mb.insert(m, inbox);
    mb.messages[&k].immutable_id.clone()
}

fn counters(sim: &RunningSim) -> Value {
    sim.sim().counters.snapshot(Value::Null)
}

fn visible_folders(lib: &Lib, mbx: &str) -> Vec<Value> {
    lib.ok(
        o365_list_folders,
        json!({"mailbox": mbx, "user": "u1", "max_age_ms": 3_600_000}),
    )["folders"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn an_idle_round_of_a_twelve_folder_mailbox_costs_two_requests() {
    let sim = sim();
    with_folders(&sim, 12);
    let dir = tempfile::tempdir().unwrap();
    let (lib, mbx) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let first = lib.ok(o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["folders"].as_array().unwrap().len(), 12, "{first}");

    // Nothing changed: the folder tree (one request) and one $batch of the 12 delta links.
    sim.sim().counters.reset();
    let idle = lib.ok(o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    let c = counters(&sim);
    assert_eq!(idle["status"], "ok", "{idle}");
    assert_eq!(idle["upserted"], 0, "{idle}");
    assert_eq!(idle["folders"].as_array().unwrap().len(), 12, "{idle}");
    assert!(c["httpRequests"].as_u64().unwrap() <= 2, "{c}");
    assert_eq!(c["requestsPerRoute"]["POST /v1.0/$batch"], 1, "{c}");
    assert_eq!(c["throttled429"], 0, "{c}");

    // A second idle round goes on from the delta links the first one stored.
    sim.sim().counters.reset();
    lib.ok(o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    assert!(counters(&sim)["httpRequests"].as_u64().unwrap() <= 2);

    // The unchanged folder tree is stored with the idle folders (one transaction after the
    // batch): a client a minute later on the same store records its tree round too.
    let health = |lib: &Lib| lib.ok(o365_get_mailbox, json!({"mailbox": mbx}))["health"].clone();
    let at = |h: &Value, k: &str| {
        chrono::DateTime::parse_from_rfc3339(h[k].as_str().unwrap_or_else(|| panic!("{k}: {h}")))
            .unwrap()
            .timestamp_millis()
    };
    let before = health(&lib);
    let mut later = config(&sim, dir.path());
    later["debug"]["clock_offset_ms"] = json!(60_000);
    let later = Lib::open(later);
    sim.sim().counters.reset();
    let idle = later.ok(o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    assert_eq!(idle["upserted"], 0, "{idle}");
    assert!(counters(&sim)["httpRequests"].as_u64().unwrap() <= 2);
    let after = health(&later);
    assert!(
        at(&after, "folders_synced_at") >= at(&before, "folders_synced_at") + 60_000,
        "{before} / {after}"
    );
    assert!(
        at(&after, "last_success_at") >= at(&before, "last_success_at") + 60_000,
        "{before} / {after}"
    );
    drop(later);

    // New mail: its folder's answer in the batch is stored as the first page of its round.
    let id = deliver(&sim, "Neue Anfrage");
    let busy = lib.ok(o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    assert_eq!(busy["upserted"], 1, "{busy}");
    let page = lib.ok(
        o365_list_messages,
        json!({"mailbox": mbx, "user": "u1", "folder": "inbox", "max_age_ms": 3_600_000}),
    );
    assert!(
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == id.as_str()),
        "{page}"
    );
    // And the round after that is idle again.
    sim.sim().counters.reset();
    let again = lib.ok(o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    assert_eq!(again["upserted"], 0, "{again}");
    assert!(counters(&sim)["httpRequests"].as_u64().unwrap() <= 2);
}

#[test]
fn warm_lists_see_a_change_made_by_another_client_at_the_next_call() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (a, mbx) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    a.ok(o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    // Another client on the same store: its own memory, like another process or host.
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"scheduler": false});
    let b = Lib::open(cfg);

    let inbox = |lib: &Lib| {
        visible_folders(lib, &mbx)
            .into_iter()
            .find(|f| f["well_known"] == "inbox")
            .unwrap()
    };
    let first_page = |lib: &Lib| {
        lib.ok(
            o365_list_messages,
            json!({"mailbox": mbx, "user": "u1", "folder": "inbox", "limit": 20,
                   "max_age_ms": 3_600_000}),
        )
    };
    // Warm: the same answers twice, the second without Graph.
    let before = inbox(&a);
    let page = first_page(&a);
    sim.sim().counters.reset();
    assert_eq!(inbox(&a), before);
    assert_eq!(first_page(&a), page);
    assert_eq!(counters(&sim)["httpRequests"], 0);

    // B marks an unread message read (Graph, then the shared cache and counts).
    let unread = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["is_read"] == false)
        .expect("an unread message on the first page")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.ok(
        o365_mark_read,
        json!({"mailbox": mbx, "user": "u1", "id": unread}),
    );

    // A's next calls see it.
    let after = inbox(&a);
    assert_eq!(
        after["unread_count"].as_i64().unwrap(),
        before["unread_count"].as_i64().unwrap() - 1
    );
    let page = first_page(&a);
    let m = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == unread.as_str())
        .unwrap()
        .clone();
    assert_eq!(m["is_read"], true, "{m}");

    // A user unassigned by B is refused by A at once (the kept answer is not handed out).
    let u2 = json!({"mailbox": mbx, "user": "u2", "max_age_ms": 3_600_000});
    a.ok(o365_list_folders, u2.clone());
    a.ok(o365_list_folders, u2.clone());
    b.ok(
        o365_update_mailbox,
        json!({"mailbox": mbx, "users": ["u1"]}),
    );
    let (st, _) = a.call(o365_list_folders, u2);
    assert_eq!(st, O365_FORBIDDEN);
}
