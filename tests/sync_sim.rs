//! Folders, messages and sync (issue 5) against o365-sim, through the C ABI.
//!
//! Outlook-side changes are made directly in the sim's world (as Outlook or a phone would),
//! and the library's cache is compared with the sim's state afterwards.

mod common;
use common::*;
use o365::ffi::*;
use o365_sim::faults::FaultSpec;
use o365_sim::state::{Addr, Mailbox, Message};
use o365_sim::RunningSim;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

const EVE: &str = "eve@fabrikam.example";

/// The demo sim, with every tenant's consent given (Fabrikam asks for admin consent, which
/// is the sign-in tests' business, not this file's).
fn open_sim() -> RunningSim {
    let sim = sim();
    for t in sim.sim().world.lock().unwrap().tenants.iter_mut() {
        t.admin_consent_required = false;
    }
    sim
}

/// Outlook's side of one mailbox: direct changes to the sim's world.
struct Outlook<'a> {
    sim: &'a RunningSim,
    owner: String,
}

impl<'a> Outlook<'a> {
    fn new(sim: &'a RunningSim, address: &str) -> Self {
        let w = sim.sim().world.lock().unwrap();
        let owner = w.user(address).expect("sim user").id.clone();
        Outlook { sim, owner }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Mailbox, i64) -> R) -> R {
        let now = self.sim.sim().clock.now();
        let mut w = self.sim.sim().world.lock().unwrap();
        f(w.mailboxes.get_mut(&self.owner).unwrap(), now)
    }

    fn folder(&self, name: &str) -> u32 {
        self.with(|mb, _| mb.folder_lookup(name).expect("sim folder"))
    }

    /// New mail arrives in `folder`; returns its immutable id.
    fn deliver(&self, folder: &str, subject: &str) -> String {
        let f = self.folder(folder);
        self.with(|mb, now| {
            let mut m = Message::blank(now);
            m.subject = subject.into();
            m.from = Some(Addr::new("Kunde", "kunde@extern.example"));
            m.body = format!("<p>{subject}</p>");
            m.body_html = true;
            let k = mb.insert(m, f);
            mb.messages[&k].immutable_id.clone()
        })
    }

    fn key(&self, immutable_id: &str) -> u64 {
        self.with(|mb, _| mb.lookup(immutable_id).expect("sim message"))
    }

    fn mark_read(&self, id: &str) {
        let k = self.key(id);
        self.with(|mb, now| mb.update(k, now, |m| m.is_read = true));
    }

    fn move_to(&self, id: &str, folder: &str) {
        let (k, f) = (self.key(id), self.folder(folder));
        self.with(|mb, _| mb.move_to(k, f));
    }

    fn delete(&self, id: &str) {
        let k = self.key(id);
        self.with(|mb, _| mb.delete(k));
    }

    /// Immutable ids of the first `n` messages (newest first) of a folder.
    fn ids(&self, folder: &str, n: usize) -> Vec<String> {
        let f = self.folder(folder);
        self.with(|mb, _| {
            mb.folders[f as usize]
                .items
                .iter()
                .take(n)
                .map(|(_, k)| mb.messages[k].immutable_id.clone())
                .collect()
        })
    }

    /// Folder id → (immutable ids, unread count) for every visible folder.
    fn state(&self) -> BTreeMap<String, (BTreeSet<String>, usize)> {
        self.with(|mb, _| {
            mb.folders
                .iter()
                .filter(|f| f.key != 0 && !f.deleted && !f.hidden)
                .map(|f| {
                    let ids: BTreeSet<String> = f
                        .items
                        .iter()
                        .map(|(_, k)| mb.messages[k].immutable_id.clone())
                        .collect();
                    (f.id.clone(), (ids, f.unread as usize))
                })
                .collect()
        })
    }

    fn invalidate_delta_tokens(&self) {
        self.with(|mb, _| mb.sync_epoch += 1);
    }
}

/// Every cached message id of a folder, paging through o365_list_messages.
fn cached_ids(lib: &Lib, mbx: &str, folder: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut req = json!({"mailbox": mbx, "user": "u1", "folder": folder, "limit": 500,
                             "max_age_ms": 3_600_000});
        if !cursor.is_null() {
            req["cursor"] = cursor.clone();
        }
        let page = lib.ok(o365_list_messages, req);
        for m in page["messages"].as_array().unwrap() {
            ids.push(m["id"].as_str().unwrap().to_owned());
        }
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            return ids;
        }
    }
}

fn folders(lib: &Lib, mbx: &str, max_age_ms: u64) -> Vec<Value> {
    lib.ok(
        o365_list_folders,
        json!({"mailbox": mbx, "user": "u1", "max_age_ms": max_age_ms}),
    )["folders"]
        .as_array()
        .unwrap()
        .clone()
}

/// The cache equals the sim: same messages per folder (no duplicate, none missing), same
/// unread and total counts.
fn assert_cache_matches(lib: &Lib, mbx: &str, outlook: &Outlook) {
    let sim = outlook.state();
    let cached = folders(lib, mbx, 3_600_000);
    assert_eq!(cached.len(), sim.len(), "folder count: {cached:?}");
    for f in &cached {
        let id = f["id"].as_str().unwrap();
        let (want, unread) = sim
            .get(id)
            .unwrap_or_else(|| panic!("folder {f} not in sim"));
        let got = cached_ids(lib, mbx, id);
        let set: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(set.len(), got.len(), "duplicates in {}", f["display_name"]);
        assert_eq!(&set, want, "messages of {}", f["display_name"]);
        assert_eq!(
            f["total_count"],
            want.len(),
            "total of {}",
            f["display_name"]
        );
        assert_eq!(
            f["unread_count"], *unread,
            "unread of {}",
            f["display_name"]
        );
    }
}

fn sync(lib: &Lib, mbx: &str) -> Value {
    lib.ok(o365_sync, json!({"mailbox": mbx, "user": "u1"}))
}

fn roles(list: &[Value]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|f| {
            Some((
                f["well_known"].as_str()?.to_owned(),
                f["display_name"].as_str().unwrap().to_owned(),
            ))
        })
        .collect()
}

#[test]
fn german_and_english_mailboxes_get_the_same_roles_and_the_sims_counts() {
    let sim = open_sim();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (anna, anna_id) = signed_in(&sim, da.path(), ANNA, ANNA, json!({}));
    let (eve, eve_id) = signed_in(&sim, db.path(), EVE, EVE, json!({}));
    let de = roles(&folders(&anna, &anna_id, 0));
    let en = roles(&folders(&eve, &eve_id, 0));
    assert_eq!(
        de.keys().collect::<Vec<_>>(),
        en.keys().collect::<Vec<_>>(),
        "same roles"
    );
    for r in [
        "inbox",
        "sentitems",
        "drafts",
        "deleteditems",
        "junkemail",
        "archive",
    ] {
        assert!(de.contains_key(r), "{r} missing in {de:?}");
    }
    assert_eq!(de["inbox"], "Posteingang");
    assert_eq!(de["sentitems"], "Gesendete Elemente");
    assert_eq!(en["inbox"], "Inbox");
    let list = folders(&anna, &anna_id, 3_600_000);
    let objekte = list
        .iter()
        .find(|f| f["display_name"] == "Gesendete Objekte")
        .unwrap();
    assert_eq!(
        objekte["well_known"],
        Value::Null,
        "a look-alike name has no role"
    );
    let kunden = list.iter().find(|f| f["display_name"] == "Kunden").unwrap();
    let inbox = list.iter().find(|f| f["well_known"] == "inbox").unwrap();
    assert_eq!(
        kunden["parent_id"], inbox["id"],
        "tree: Kunden below Posteingang"
    );
    assert_eq!(inbox["child_count"], 1);
    assert!(
        list.iter().all(|f| f["hidden"] == false),
        "hidden folders only on request"
    );
    let with_hidden = anna.ok(
        o365_list_folders,
        json!({"mailbox": anna_id, "user": "u1", "include_hidden": true, "max_age_ms": 3_600_000}),
    );
    assert!(with_hidden["folders"].as_array().unwrap().len() > list.len());
    // Counts straight from the folder tree equal the sim's.
    let state = Outlook::new(&sim, ANNA).state();
    for f in &list {
        let (ids, unread) = &state[f["id"].as_str().unwrap()];
        assert_eq!(f["total_count"], ids.len(), "{f}");
        assert_eq!(f["unread_count"], *unread, "{f}");
    }
    // An unassigned CRM user gets nothing.
    let (st, e) = anna.call(
        o365_list_folders,
        json!({"mailbox": anna_id, "user": "intruder"}),
    );
    assert_eq!(st, O365_FORBIDDEN, "{e}");
}

#[test]
fn outlook_side_changes_are_reflected_after_sync() {
    let sim = open_sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, mbx) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let outlook = Outlook::new(&sim, ANNA);
    let first = sync(&lib, &mbx);
    assert_eq!(first["status"], "ok", "{first}");
    assert!(first["upserted"].as_u64().unwrap() > 300, "{first}");
    assert_cache_matches(&lib, &mbx, &outlook);

    // Changes made in Outlook and on a phone.
    let inbox = outlook.ids("inbox", 8);
    let new_mail = outlook.deliver("inbox", "Neue Anfrage");
    outlook.deliver("Kunden", "Angebot");
    outlook.mark_read(&inbox[0]);
    outlook.mark_read(&inbox[1]);
    outlook.move_to(&inbox[2], "Kunden");
    outlook.move_to(&inbox[3], "archive");
    outlook.delete(&inbox[4]);
    outlook.delete(&inbox[5]);

    let second = sync(&lib, &mbx);
    assert_eq!(second["status"], "ok", "{second}");
    assert!(
        second["folders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["full"] == false),
        "incremental rounds from stored delta links: {second}"
    );
    assert_cache_matches(&lib, &mbx, &outlook);
    // The moved message keeps its id (immutable ids).
    let archive = folders(&lib, &mbx, 3_600_000)
        .into_iter()
        .find(|f| f["well_known"] == "archive")
        .unwrap();
    assert!(cached_ids(&lib, &mbx, archive["id"].as_str().unwrap()).contains(&inbox[3]));
    assert!(cached_ids(&lib, &mbx, "inbox").contains(&new_mail));

    let events = lib.drain_events(200);
    assert!(
        events.iter().any(|e| e["type"] == "sync_completed"),
        "{events:?}"
    );
    let health = lib.ok(o365_get_mailbox, json!({"mailbox": mbx, "user": "u1"}))["health"].clone();
    assert!(health["last_success_at"].is_string(), "{health}");
    assert!(health["token_expires_at"].is_string(), "{health}");
    assert_eq!(health["last_error"], Value::Null, "{health}");
    assert!(health["folders"].as_array().unwrap().len() >= 8, "{health}");
}

#[test]
fn expired_delta_tokens_recover_by_full_resync_without_duplicates() {
    let sim = open_sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, mbx) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let outlook = Outlook::new(&sim, ANNA);
    sync(&lib, &mbx);
    let inbox = outlook.ids("inbox", 3);
    outlook.delete(&inbox[0]);
    outlook.mark_read(&inbox[1]);
    outlook.move_to(&inbox[2], "Kunden");
    outlook.deliver("inbox", "nach dem Ablauf");
    outlook.invalidate_delta_tokens();
    let r = sync(&lib, &mbx);
    assert_eq!(r["status"], "ok", "{r}");
    let recovered: Vec<&Value> = r["folders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["recovered_expired_token"] == true)
        .collect();
    assert!(recovered.len() >= 8, "every folder's token expired: {r}");
    assert!(
        recovered.iter().any(|f| f["swept"].as_u64().unwrap() >= 1),
        "the deleted message was swept: {r}"
    );
    assert_cache_matches(&lib, &mbx, &outlook);
}

#[test]
fn injected_429_and_503_give_the_same_result_within_four_in_flight() {
    let sim = open_sim();
    let outlook = Outlook::new(&sim, EVE);
    // Enough mail for many pages of 100.
    for f in ["inbox", "archive", "sentitems"] {
        for i in 0..300 {
            outlook.deliver(f, &format!("{f} {i}"));
        }
    }
    let cfg_pages = |dir: &std::path::Path| {
        let mut c = config(&sim, dir);
        c["sync"] = json!({"page_size": 50, "scheduler": false});
        c
    };
    // Without faults.
    let d1 = tempfile::tempdir().unwrap();
    let lib1 = Lib::open(cfg_pages(d1.path()));
    let id1 = import(&lib1, EVE, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib1, &id1, "u1", EVE);
    assert_eq!(st, O365_OK, "{v}");
    let clean = sync(&lib1, &id1);
    assert_eq!(clean["status"], "ok");
    assert_cache_matches(&lib1, &id1, &outlook);

    // With 10% of Graph requests answered 429 or 503.
    let d2 = tempfile::tempdir().unwrap();
    let lib2 = Lib::open(cfg_pages(d2.path()));
    let id2 = import(&lib2, EVE, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib2, &id2, "u1", EVE);
    assert_eq!(st, O365_OK, "{v}");
    sim.sim().throttle.reset();
    let before = sim.sim().counters.throttled.load(Ordering::SeqCst);
    // A few certain ones first (so the test never passes without faults), then 5% + 5%.
    let sure429 = sim.sim().faults.add(FaultSpec {
        path: "/v1.0/me/*".into(),
        status: Some(429),
        retry_after: Some(0),
        skip: 3,
        count: Some(2),
        ..Default::default()
    });
    let sure503 = sim.sim().faults.add(FaultSpec {
        path: "/v1.0/me/*".into(),
        status: Some(503),
        skip: 8,
        count: Some(2),
        ..Default::default()
    });
    let r429 = sim.sim().faults.add(FaultSpec {
        path: "/v1.0/me/*".into(),
        status: Some(429),
        retry_after: Some(0),
        rate: Some(0.05),
        ..Default::default()
    });
    let r503 = sim.sim().faults.add(FaultSpec {
        path: "/v1.0/me/*".into(),
        status: Some(503),
        rate: Some(0.05),
        ..Default::default()
    });
    // Latency inside the concurrency slot makes the requests of different folders overlap
    // however busy the machine is, so the parallelism check below does not depend on timing.
    sim.sim().latency_ms.store(25, Ordering::SeqCst);
    let faulty = sync(&lib2, &id2);
    sim.sim().latency_ms.store(0, Ordering::SeqCst);
    let rules = sim.sim().faults.list();
    sim.sim().faults.clear();
    assert_eq!(faulty["status"], "ok", "{faulty}");
    assert_eq!(faulty["upserted"], clean["upserted"]);
    assert_cache_matches(&lib2, &id2, &outlook);
    let applied = |id: u64| rules.iter().find(|r| r.id == id).unwrap().applied;
    assert_eq!(applied(sure429.id) + applied(sure503.id), 4, "{rules:?}");
    let total_429 = applied(sure429.id) + applied(r429.id);
    let injected: u64 = [&sure429, &sure503, &r429, &r503]
        .iter()
        .map(|r| applied(r.id))
        .sum();
    assert!(injected >= 4, "{rules:?}");
    let throttled = sim.sim().counters.throttled.load(Ordering::SeqCst) - before;
    assert_eq!(
        throttled, total_429,
        "no 429 beyond the injected ones (no concurrency or budget overrun)"
    );
    let max = sim.sim().throttle.max_concurrency();
    assert!(max.values().all(|n| *n <= 4), "{max:?}");
    assert!(
        max.values().any(|n| *n >= 2),
        "folders were synced in parallel: {max:?}"
    );
}

#[test]
fn cache_clear_then_list_gives_fresh_data_and_restarts_delta() {
    let sim = open_sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, mbx) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let outlook = Outlook::new(&sim, ANNA);
    sync(&lib, &mbx);
    let inbox_before = folders(&lib, &mbx, 3_600_000)
        .into_iter()
        .find(|f| f["well_known"] == "inbox")
        .unwrap();
    outlook.deliver("inbox", "nach dem Leeren");
    // Still the cached (stale) count within max_age.
    let cached = folders(&lib, &mbx, 3_600_000)
        .into_iter()
        .find(|f| f["well_known"] == "inbox")
        .unwrap();
    assert_eq!(cached["total_count"], inbox_before["total_count"]);

    let v = lib.ok(o365_cache_clear, json!({"mailbox": mbx, "user": "u1"}));
    assert_eq!(v["cleared"], true);
    let health = lib.ok(o365_get_mailbox, json!({"mailbox": mbx, "user": "u1"}))["health"].clone();
    assert_eq!(health["folders"], json!([]), "delta state gone: {health}");
    let fresh = folders(&lib, &mbx, 3_600_000)
        .into_iter()
        .find(|f| f["well_known"] == "inbox")
        .unwrap();
    assert_eq!(
        fresh["total_count"].as_u64().unwrap(),
        inbox_before["total_count"].as_u64().unwrap() + 1,
        "fresh from the server after the clear"
    );
    let r = sync(&lib, &mbx);
    assert!(
        r["folders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["full"] == true),
        "every folder starts a new delta round: {r}"
    );
    assert_cache_matches(&lib, &mbx, &outlook);
}

#[test]
fn message_operations_through_the_c_abi() {
    let sim = open_sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, mbx) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let outlook = Outlook::new(&sim, ANNA);
    // Paging, unread filter, search.
    let p1 = lib.ok(
        o365_list_messages,
        json!({"mailbox": mbx, "user": "u1", "folder": "inbox", "limit": 50}),
    );
    let p2 = lib.ok(
        o365_list_messages,
        json!({"mailbox": mbx, "user": "u1", "folder": "inbox", "limit": 50, "cursor": p1["next_cursor"]}),
    );
    let a: Vec<&Value> = p1["messages"].as_array().unwrap().iter().collect();
    let b: Vec<&Value> = p2["messages"].as_array().unwrap().iter().collect();
    assert_eq!((a.len(), b.len()), (50, 50));
    assert!(
        a[49]["received_at"].as_str() >= b[0]["received_at"].as_str(),
        "newest first"
    );
    assert!(a.iter().all(|m| !b.iter().any(|n| n["id"] == m["id"])));
    assert!(a[0]["internet_message_id"]
        .as_str()
        .unwrap()
        .starts_with('<'));
    let unread = lib.ok(
        o365_list_messages,
        json!({"mailbox": mbx, "user": "u1", "folder": "Posteingang", "unread_only": true, "limit": 500}),
    );
    let unread = unread["messages"].as_array().unwrap();
    assert!(!unread.is_empty() && unread.iter().all(|m| m["is_read"] == false));
    let subject = a[3]["subject"].as_str().unwrap().to_owned();
    let found = lib.ok(
        o365_list_messages,
        json!({"mailbox": mbx, "user": "u1", "folder": "inbox", "search": subject.to_uppercase()}),
    );
    assert!(found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == a[3]["id"]));
    let (st, _) = lib.call(
        o365_list_messages,
        json!({"mailbox": mbx, "user": "u1", "folder": "no such folder"}),
    );
    assert_eq!(st, O365_NOT_FOUND);

    // Body and attachments.
    let with_att = lib.ok(
        o365_list_messages,
        json!({"mailbox": mbx, "user": "u1", "folder": "inbox", "limit": 500}),
    )["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["has_attachments"] == true)
        .cloned()
        .expect("the demo seed has mail with attachments");
    let full = lib.ok(
        o365_get_message,
        json!({"mailbox": mbx, "user": "u1", "id": with_att["id"]}),
    );
    assert_eq!(full["from_cache"], false);
    assert!(!full["body"]["content"].as_str().unwrap().is_empty());
    let att = full["attachments"][0].clone();
    assert!(att["name"].is_string(), "{full}");
    let again = lib.ok(
        o365_get_message,
        json!({"mailbox": mbx, "user": "u1", "id": with_att["id"]}),
    );
    assert_eq!(again["from_cache"], true);
    assert_eq!(again["body"], full["body"]);
    let b64 = lib.ok(
        o365_get_attachment,
        json!({"mailbox": mbx, "user": "u1", "message": with_att["id"], "attachment": att["id"]}),
    );
    let path = dir.path().join("att.bin");
    let file = lib.ok(
        o365_get_attachment,
        json!({"mailbox": mbx, "user": "u1", "message": with_att["id"], "attachment": att["id"],
               "path": path.to_str().unwrap()}),
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(file["bytes_written"], bytes.len());
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64["content_base64"].as_str().unwrap())
            .unwrap(),
        bytes
    );

    // Mark read (one, then several in one $batch), move, delete: the sim changes, and so do
    // the cache and its counts.
    let targets: Vec<String> = unread
        .iter()
        .take(4)
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    lib.ok(
        o365_mark_read,
        json!({"mailbox": mbx, "user": "u1", "id": targets[0]}),
    );
    let many = lib.ok(
        o365_mark_read,
        json!({"mailbox": mbx, "user": "u1", "ids": &targets[1..]}),
    );
    assert_eq!(many["changed"].as_array().unwrap().len(), 3, "{many}");
    let moved = lib.ok(
        o365_move_message,
        json!({"mailbox": mbx, "user": "u1", "id": a[0]["id"], "to": "Kunden"}),
    );
    assert_eq!(moved["id"], a[0]["id"], "immutable id survives the move");
    lib.ok(
        o365_delete_message,
        json!({"mailbox": mbx, "user": "u1", "id": a[1]["id"]}),
    );
    let (st, _) = lib.call(
        o365_get_message,
        json!({"mailbox": mbx, "user": "u1", "id": a[1]["id"], "refresh": true}),
    );
    assert_eq!(st, O365_NOT_FOUND);
    for t in &targets {
        let k = outlook.key(t);
        assert!(outlook.with(|mb, _| mb.messages[&k].is_read));
    }
    // The cache already agrees with the sim, before any sync.
    assert_cache_matches(&lib, &mbx, &outlook);
    // And a sync after our own changes finds nothing left to fix.
    let r = sync(&lib, &mbx);
    assert_eq!(r["status"], "ok");
    assert_cache_matches(&lib, &mbx, &outlook);
}

#[test]
fn a_failing_folder_is_reported_in_health_and_events() {
    let sim = open_sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, mbx) = signed_in(&sim, dir.path(), EVE, EVE, json!({}));
    let junk = folders(&lib, &mbx, 0)
        .into_iter()
        .find(|f| f["well_known"] == "junkemail")
        .unwrap();
    let jid = junk["id"].as_str().unwrap().to_owned();
    lib.drain_events(50);
    sim.sim().faults.add(FaultSpec {
        path: format!("/v1.0/me/mailFolders/{jid}/messages/delta"),
        status: Some(500),
        ..Default::default()
    });
    let r = sync(&lib, &mbx);
    sim.sim().faults.clear();
    assert_eq!(r["status"], "partial", "{r}");
    let failed: Vec<&Value> = r["folders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{r}");
    assert_eq!(failed[0]["folder_id"], jid.as_str());
    let events = lib.drain_events(200);
    let ev = events
        .iter()
        .find(|e| e["type"] == "sync_failed")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(ev.to_string().contains(&jid), "{ev}");
    let health = lib.ok(o365_get_mailbox, json!({"mailbox": mbx, "user": "u1"}))["health"].clone();
    assert_eq!(health["last_error"]["scope"], jid.as_str(), "{health}");
    assert!(
        health["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{health}"
    );
    // Once the folder syncs again, the error is gone.
    assert_eq!(sync(&lib, &mbx)["status"], "ok");
    let health = lib.ok(o365_get_mailbox, json!({"mailbox": mbx, "user": "u1"}))["health"].clone();
    assert_eq!(health["last_error"], Value::Null, "{health}");
}

#[test]
fn long_syncs_publish_progress() {
    let sim = open_sim();
    let outlook = Outlook::new(&sim, EVE);
    for i in 0..250 {
        outlook.deliver("inbox", &format!("m{i}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"page_size": 100});
    let lib = Lib::open(cfg);
    let mbx = import(&lib, EVE, &["u1"], json!({}));
    assert_eq!(sign_in_as(&sim, &lib, &mbx, "u1", EVE).0, O365_OK);
    lib.drain_events(50);
    sync(&lib, &mbx);
    let events = lib.drain_events(200);
    let progress: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "sync_progress")
        .collect();
    assert!(progress.len() >= 2, "{events:?}");
    let p = &progress[0];
    let payload = if p["payload"].is_object() {
        &p["payload"]
    } else {
        p
    };
    assert!(payload["done"].as_u64().unwrap() >= 100, "{p}");
    assert!(payload["total"].as_u64().unwrap() >= 250, "{p}");
    assert!(payload["folder"].is_string(), "{p}");
}

#[test]
fn the_scheduler_keeps_the_cache_fresh_and_stops_with_the_client() {
    let sim = open_sim();
    let outlook = Outlook::new(&sim, EVE);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"scheduler": true, "interval_ms": 200});
    // The only client of this test binary with a log file: it receives the library's log.
    let log = dir.path().join("o365.log");
    cfg["log"] = json!({"level": "info", "file": log.to_str().unwrap()});
    let lib = Lib::open(cfg);
    let mbx = import(&lib, EVE, &["u1"], json!({}));
    assert_eq!(sign_in_as(&sim, &lib, &mbx, "u1", EVE).0, O365_OK);
    let id = outlook.deliver("inbox", "vom Scheduler");
    loop {
        let health =
            lib.ok(o365_get_mailbox, json!({"mailbox": mbx, "user": "u1"}))["health"].clone();
        let synced = !health["folders"].as_array().unwrap().is_empty();
        if synced && cached_ids(&lib, &mbx, "inbox").contains(&id) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50)); // polling the cache
    }
    drop(lib);
    // Freeing the client ends its scheduler (the event: its log line); then nothing is sent.
    let ended = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("background job ended") && l.contains("scheduler"))
    };
    while !ended() {
        std::thread::sleep(std::time::Duration::from_millis(20)); // polling the log
    }
    let before = sim.sim().counters.requests.load(Ordering::SeqCst);
    let outlook_more = outlook.deliver("inbox", "nach dem Ende");
    assert!(!outlook_more.is_empty());
    assert_eq!(
        sim.sim().counters.requests.load(Ordering::SeqCst),
        before,
        "no request after the client was freed"
    );
}

/// Worker process for `folder_contents_move_survives_a_killed_process`.
#[test]
fn move_worker() {
    let Ok(cfg) = std::env::var("O365_TEST_MOVE_CONFIG") else {
        return;
    };
    let mailbox = std::env::var("O365_TEST_MOVE_MAILBOX").unwrap();
    let lib = Lib::open(serde_json::from_str(&cfg).unwrap());
    lib.ok(
        o365_move_folder_contents,
        json!({"mailbox": mailbox, "user": "u1", "from": "Gesendete Objekte", "to": "sentitems"}),
    );
}

#[test]
fn folder_contents_move_survives_a_killed_process() {
    let sim = open_sim();
    let outlook = Outlook::new(&sim, ANNA);
    let src = outlook.folder("Gesendete Objekte");
    outlook.with(|mb, now| {
        let me = Addr::new("Anna Schmidt", ANNA);
        let n = 2000 - mb.folders[src as usize].items.len();
        o365_sim::seed::bulk(mb, &me, &[src], n, 0.0, now, 9);
    });
    let to_move: BTreeSet<String> = outlook
        .ids("Gesendete Objekte", usize::MAX)
        .into_iter()
        .collect();
    assert_eq!(to_move.len(), 2000);
    let sent_before: BTreeSet<String> = outlook.ids("sentitems", usize::MAX).into_iter().collect();
    // Slow enough to stop it midway.
    sim.sim().latency_ms.store(5, Ordering::SeqCst);

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"scheduler": false});
    let mbx = {
        let lib = Lib::open(cfg.clone());
        let id = import(&lib, ANNA, &["u1"], json!({}));
        assert_eq!(sign_in_as(&sim, &lib, &id, "u1", ANNA).0, O365_OK);
        id
    };
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "move_worker", "--nocapture", "--test-threads=1"])
        .env("O365_TEST_MOVE_CONFIG", cfg.to_string())
        .env("O365_TEST_MOVE_MAILBOX", &mbx)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = outlook.ids("Gesendete Objekte", usize::MAX).len();
        if left <= 1400 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the move never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the worker ended too early"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = outlook.ids("Gesendete Objekte", usize::MAX).len();
    assert!(left > 0, "killed midway");

    // The restarted process resumes the same job.
    sim.sim().latency_ms.store(0, Ordering::SeqCst);
    let lib = Lib::open(cfg);
    let health = lib.ok(o365_get_mailbox, json!({"mailbox": mbx, "user": "u1"}))["health"].clone();
    let jobs = health["move_jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "the unfinished job is durable: {health}");
    assert!(jobs[0]["moved"].as_u64().unwrap() >= 500, "{health}");
    let job = lib.ok(
        o365_move_folder_contents,
        json!({"mailbox": mbx, "user": "u1", "from": "Gesendete Objekte", "to": "sentitems"}),
    );
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["id"], jobs[0]["id"], "same job resumed");
    assert!(outlook.ids("Gesendete Objekte", usize::MAX).is_empty());
    let sent_after: Vec<String> = outlook.ids("sentitems", usize::MAX);
    let set: BTreeSet<String> = sent_after.iter().cloned().collect();
    assert_eq!(set.len(), sent_after.len(), "no duplicates");
    assert_eq!(
        set,
        sent_before.union(&to_move).cloned().collect(),
        "all moved once"
    );
    // ... then the cache was cleared, and reads start over from the server.
    let list = folders(&lib, &mbx, 3_600_000);
    let sent = list
        .iter()
        .find(|f| f["well_known"] == "sentitems")
        .unwrap();
    assert_eq!(sent["total_count"], set.len());
    let old = list
        .iter()
        .find(|f| f["display_name"] == "Gesendete Objekte")
        .unwrap();
    assert_eq!(old["total_count"], 0);
}

#[test]
fn interactive_calls_are_not_queued_behind_a_background_sync() {
    let sim = open_sim();
    let outlook = Outlook::new(&sim, EVE);
    for f in ["inbox", "archive", "sentitems", "deleteditems", "junkemail"] {
        for i in 0..60 {
            outlook.deliver(f, &format!("{f} {i}"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"page_size": 20, "scheduler": false});
    let lib = std::sync::Arc::new(Lib::open(cfg));
    let mbx = import(&lib, EVE, &["u1"], json!({}));
    assert_eq!(sign_in_as(&sim, &lib, &mbx, "u1", EVE).0, O365_OK);
    folders(&lib, &mbx, 0);
    // The background sync's first message pages hang at the sim, so its requests hold every
    // slot background work may use. A person's folder list must not wait for them: it takes
    // the slot kept for interactive calls, and so it is answered while none of the hanging
    // pages has been answered yet (counted by the sim; no clock). Were it queued behind the
    // sync (no reserved slot: the sync would hold all four), it could only start once a
    // hanging page was answered.
    const HANG_MS: u64 = 5000;
    let hang = sim.sim().faults.add(FaultSpec {
        path: "/v1.0/me/mailFolders/*/messages/delta".into(),
        latency_ms: Some(HANG_MS),
        count: Some(4),
        ..Default::default()
    });
    let message_pages_answered = || -> u64 {
        sim.sim().counters.snapshot(json!(null))["requestsPerRoute"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains("messages/delta"))
            .map(|(_, v)| v.as_u64().unwrap())
            .sum()
    };
    let pages_before = message_pages_answered();
    let bg = {
        let (lib, mbx) = (lib.clone(), mbx.clone());
        std::thread::spawn(move || sync(&lib, &mbx))
    };
    // Wait until the sync has its requests hanging at the sim (a counter, no deadline).
    while sim
        .sim()
        .faults
        .list()
        .iter()
        .find(|r| r.id == hang.id)
        .unwrap()
        .applied
        < 3
    {
        assert!(!bg.is_finished(), "the sync ended before its pages hung");
        std::thread::sleep(std::time::Duration::from_millis(20)); // polling a counter
    }
    folders(&lib, &mbx, 0);
    assert_eq!(
        message_pages_answered(),
        pages_before,
        "list_folders was answered only after a hanging background page: it queued behind the sync"
    );
    assert!(
        !bg.is_finished(),
        "the background sync was still waiting for its pages"
    );
    let r = bg.join().unwrap();
    assert_eq!(r["status"], "ok", "{r}");
    sim.sim().faults.clear();
    let max = sim.sim().throttle.max_concurrency();
    assert!(max.values().all(|n| *n <= 4), "{max:?}");
}

#[test]
fn two_clients_on_one_store_never_sync_a_folder_twice_at_once() {
    let sim = open_sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"page_size": 20, "scheduler": false});
    let a = std::sync::Arc::new(Lib::open(cfg.clone()));
    let mbx = import(&a, ANNA, &["u1"], json!({}));
    assert_eq!(sign_in_as(&sim, &a, &mbx, "u1", ANNA).0, O365_OK);
    // A second client on the same store: another owner for the leases, like another process.
    let b = std::sync::Arc::new(Lib::open(cfg));
    sim.sim().latency_ms.store(10, Ordering::SeqCst);
    let run = |lib: std::sync::Arc<Lib>, mbx: String| std::thread::spawn(move || sync(&lib, &mbx));
    let (ta, tb) = (run(a.clone(), mbx.clone()), run(b.clone(), mbx.clone()));
    let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
    let mut full_rounds: BTreeMap<String, u32> = BTreeMap::new();
    for r in [&ra, &rb] {
        assert_eq!(r["status"], "ok", "{r}");
        for f in r["folders"].as_array().unwrap() {
            if f["full"] == true {
                *full_rounds
                    .entry(f["folder_id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    assert!(full_rounds.len() >= 8, "{full_rounds:?}");
    assert!(
        full_rounds.values().all(|n| *n == 1),
        "each folder had one initial round; the other client waited for the lease and went on from the stored delta link: {full_rounds:?}"
    );
    assert_cache_matches(&a, &mbx, &Outlook::new(&sim, ANNA));
}
