//! Many hosts, one state (issue 11, point 5): the library in three (or more) processes that
//! share nothing but the PostgreSQL URL — each its own temporary directory as working
//! directory, its own `host_id`, its own client — against o365-sim:
//!
//! a. a sign-in started on host A completes on host B, and the mailbox is signed in for all;
//! b. host C serves the link (the files) of a mail sent on host A, after A has gone;
//! c. 100 Outlook-sent mails give exactly 100 activities while three hosts sync and one is
//!    killed (SIGKILL) mid-round;
//! d. 300 keyed sends spread over the hosts, 10% of Graph's answers lost and one host killed
//!    mid-send: each goes out exactly once, every accepted one goes out;
//! e. 3 hosts x 16 threads on an expired access token: exactly one refresh;
//! f. a host killed while it holds the refresh lease (hanging in the token request) does not
//!    stop the others: another host takes the lease over (through PostgreSQL) and refreshes,
//!    with no clock moved;
//! g. a host whose clock runs ahead waits for a live holder's refresh instead of taking its
//!    lease as expired (leases are judged by the database's clock).
//!
//! The hosts are this test binary run again (`host_process`, see tests/multihost/host.rs),
//! driven over stdin/stdout by the parent (tests/multihost/harness.rs). Needs PostgreSQL:
//! `scripts/pg_cluster.sh run cargo test --test multihost` (`make test` does it);
//! `O365_TEST_PG_SKIP=1` skips on purpose. Nothing here waits for the library with a sleep or
//! bounds a duration: it waits for answers, the sim's counters and the store's rows, with
//! generous safety limits. The scenarios run one at a time (each starts several processes;
//! CI is a busy 2-core machine).

mod common;
#[path = "multihost/harness.rs"]
mod harness;
#[path = "multihost/host.rs"]
mod host;

use common::{ANNA, PASSWORD};
use harness::{sign_in_across, wait_until, Cluster, Host};
use o365_sim::faults::FaultSpec;
use o365_sim::SimOptions;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// One scenario at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Not a test: a host process, run by the scenarios (with the config in the environment).
#[test]
#[ignore = "a host process of the multi-host scenarios, started by them"]
fn host_process() {
    if let Ok(cfg) = std::env::var(host::CONFIG_VAR) {
        host::serve(&cfg);
    }
}

fn fast_sim() -> SimOptions {
    let mut opts = SimOptions::demo();
    opts.limits.sends_per_minute = 1_000_000;
    opts.limits.requests_per_window = 1_000_000;
    opts
}

/// Imports Anna's mailbox for u1 (main) and u2 on `h`; its id.
fn import_anna(h: &mut Host) -> String {
    h.ok(
        "o365_import_mailbox",
        json!({"address": ANNA, "users": ["u1", "u2"], "main_user": "u1"}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every host makes the same `o365_authenticate` calls on `threads` threads, all hosts at
/// once; every call must answer `authenticated`.
fn authenticate_everywhere(hosts: &mut [&mut Host], reqs: &[Value], threads: usize) {
    for h in hosts.iter_mut() {
        h.send(json!({"op": "par", "fn": "o365_authenticate", "reqs": reqs, "threads": threads}));
    }
    for h in hosts.iter_mut() {
        let r = h.recv();
        for res in r["results"].as_array().unwrap() {
            assert_eq!(res["st"], 0, "host {}: {res}", h.name);
            assert_eq!(res["v"]["status"], "authenticated", "{res}");
        }
    }
}

/// Three hosts; Anna's mailbox imported on A for u1 (main) and u2, signed in from A to B.
fn three_signed_in(cl: &Cluster, patch: Value) -> (Host, Host, Host, String) {
    let mut a = cl.host("a", patch.clone());
    let mut b = cl.host("b", patch.clone());
    let c = cl.host("c", patch);
    let id = import_anna(&mut a);
    let done = sign_in_across(cl, &mut a, &mut b, &id, "u1", ANNA);
    assert_eq!(done["status"], "authenticated", "{done}");
    (a, b, c, id)
}

/// The mailbox signed in by a host that then ends (its clock not shifted), so that hosts
/// started afterwards with a shifted clock find a token that has expired for them.
fn signed_in_by_setup_host(cl: &Cluster) -> String {
    let mut s = cl.host("setup", json!({}));
    let id = import_anna(&mut s);
    let mut same = cl.host("setup2", json!({}));
    let done = sign_in_across(cl, &mut s, &mut same, &id, "u1", ANNA);
    assert_eq!(done["status"], "authenticated", "{done}");
    s.exit();
    same.exit();
    id
}

// ---- a. sign-in across hosts ------------------------------------------------------------

#[test]
fn a_sign_in_started_on_one_host_completes_on_another() {
    let _one = serial();
    let Some(cl) = Cluster::new(fast_sim()) else {
        return;
    };
    let mut a = cl.host("a", json!({}));
    let mut b = cl.host("b", json!({}));
    let mut c = cl.host("c", json!({}));
    let id = import_anna(&mut a);
    // The mailbox imported on A is known to B and C.
    for h in [&mut b, &mut c] {
        let m = h.ok("o365_get_mailbox", json!({"mailbox": id}));
        assert_eq!(m["address"], ANNA, "{m}");
    }

    // A starts the code flow (PKCE); the browser comes back to B's callback.
    let begun = a.ok("o365_authenticate", json!({"mailbox": id, "user": "u1"}));
    assert_eq!(begun["status"], "authorization_required", "{begun}");
    let authorize = url::Url::parse(begun["authorize_url"].as_str().unwrap()).unwrap();
    let q: BTreeMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert!(
        q.contains_key("code_challenge") && q.contains_key("state"),
        "{authorize}"
    );
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(cl.sim.ca_pem()),
        authorize.as_str(),
        ANNA,
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .expect("the sign-in pages work");
    let back = url::Url::parse(&redirect).unwrap();
    let back_q: BTreeMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(back_q.get("state"), q.get("state"), "the state comes back");
    assert!(back_q.contains_key("code"), "{redirect}");

    let done = b.ok("o365_authenticate", json!({"callback_url": redirect}));
    assert_eq!(done["status"], "authenticated", "{done}");
    assert_eq!(
        cl.counter("codesRedeemed"),
        1,
        "the code was redeemed once, by B"
    );

    // The same callback again, on C: the state was used up (shared), nothing redeemed.
    let (st, again) = c.call("o365_authenticate", json!({"callback_url": redirect}));
    assert_ne!(st, 0, "a used state is refused on every host: {again}");
    assert_eq!(cl.counter("codesRedeemed"), 1);

    // Signed in for all hosts and both users: no new sign-in, Graph answers with the token.
    for h in [&mut a, &mut b, &mut c] {
        for user in ["u1", "u2"] {
            let s = h.ok("o365_authenticate", json!({"mailbox": id, "user": user}));
            assert_eq!(s["status"], "authenticated", "host {}: {s}", h.name);
        }
    }
    let folders = c.ok("o365_list_folders", json!({"mailbox": id, "user": "u2"}));
    assert!(
        folders.to_string().contains("\"inbox\""),
        "C reads the mailbox: {folders}"
    );
    let m = c.ok("o365_get_mailbox", json!({"mailbox": id}));
    assert_eq!(m["auth_state"], "authenticated", "{m}");
    assert_eq!(cl.counter("codesRedeemed"), 1);
    assert_eq!(
        cl.counter("refreshes"),
        0,
        "a fresh token, nothing refreshed"
    );
}

// ---- b. a link of a mail sent on A, served by C -------------------------------------------

#[test]
fn b_a_link_of_a_mail_sent_on_one_host_is_served_by_another() {
    let _one = serial();
    let Some(cl) = Cluster::new(fast_sim()) else {
        return;
    };
    let (mut a, mut b, mut c, id) = three_signed_in(&cl, json!({}));

    // 300 KB of incompressible data: several sealed chunks.
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sha = format!("{:x}", Sha256::digest(&data));
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
    let sent = a.ok(
        "o365_send",
        json!({"mailbox": id, "user": "u1", "message": {
            "to": ["kunde@kunden.example"], "subject": "Ihr Exposé",
            "body_html": "<p>Hier das _downloadLink(Exposé) zum Objekt.</p>",
            "attachments": [{"name": "expose.pdf", "base64": b64}]}}),
    );
    assert_eq!(sent["state"], "sent", "{sent}");
    let token = sent["link"]["token"].as_str().unwrap().to_owned();
    {
        let w = cl.sim.sim().world.lock().unwrap();
        let mail = w.outbound.last().expect("the mail went out");
        assert!(mail.body.contains(&token), "the link is in the mail");
        assert!(mail.attachments.is_empty(), "the file is behind the link");
    }
    // A is gone (its directory removed with it): C serves the page and the file.
    a.exit();
    drop(a);

    let page = c.ok(
        "o365_link_page",
        json!({"method": "GET", "token": token, "accept_language": "de"}),
    );
    assert_eq!(page["status"], 200, "{page}");
    assert!(
        page["body"].as_str().unwrap_or("").contains("expose.pdf"),
        "{page}"
    );
    let file = c.req(json!({"op": "link_file", "req": {
        "method": "GET", "token": token, "query": {"f": "0"}, "client_address": "203.0.113.7"}}));
    assert_eq!(file["st"], 0, "{file}");
    assert_eq!(file["page"]["status"], 200, "{file}");
    assert_eq!(file["size"], data.len() as u64, "{file}");
    assert_eq!(
        file["sha256"],
        sha.as_str(),
        "the same bytes, from another host"
    );

    // One download, one event, taken by whichever host asks (here B).
    let downloads = b.take_events("link_downloaded");
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert_eq!(downloads[0]["client_address"], "203.0.113.7");
}

// ---- c. activities: three hosts syncing, one killed mid-round ------------------------------

fn outlook_send(cl: &Cluster, i: usize) -> String {
    let v = cl.admin(
        "POST",
        &format!("/mailboxes/{ANNA}/outlook-send"),
        Some(
            json!({"subject": format!("Outlook {i}"), "body": format!("Aus Outlook {i}"),
                    "to": ["kunde@kunden.example"]}),
        ),
    );
    v["internetMessageId"].as_str().unwrap().to_owned()
}

#[test]
fn c_hundred_outlook_mails_are_exactly_hundred_activities_with_a_host_killed_mid_round() {
    let _one = serial();
    let Some(cl) = Cluster::new(fast_sim()) else {
        return;
    };
    let logs = json!({"level": "info", "buffer": 100_000});
    let (mut a, mut b, mut c, id) =
        three_signed_in(&cl, json!({"sync": {"page_size": 10}, "log": logs}));
    // Baseline: what is in Sent Items already is never booked.
    a.ok("o365_sync", json!({"mailbox": id, "user": "u1"}));
    assert_eq!(cl.sql_count("SELECT count(*) FROM activities"), 0);
    // Rounds take a while (every delta page 30 ms, a page of a folder's messages 150 ms): a
    // kill lands inside one, with a folder's lease held.
    cl.sim.sim().faults.add(FaultSpec {
        path: "/v1.0/*/messages/delta*".into(),
        latency_ms: Some(150),
        ..Default::default()
    });
    cl.sim.sim().faults.add(FaultSpec {
        path: "/v1.0/*delta*".into(),
        latency_ms: Some(30),
        ..Default::default()
    });

    let sync = json!({"mailbox": id, "user": "u1"});
    for h in [&mut a, &mut b, &mut c] {
        h.req(json!({"op": "sync_loop", "req": sync}));
    }
    // The mails go out one by one while the hosts sync. From the tenth on, C is killed as
    // soon as it is seen inside a round holding the lease of a folder it syncs (Sent Items
    // has changes, so someone syncs it); by the 90th at the latest, inside a round.
    let leases_of_c = format!(
        "SELECT name FROM leases WHERE owner LIKE '{}|%' ORDER BY name",
        c.host_id
    );
    let mut outlook = BTreeSet::new();
    let mut held: Option<Vec<String>> = None;
    for i in 0..100 {
        outlook.insert(outlook_send(&cl, i));
        if held.is_some() || i < 10 {
            continue;
        }
        // A few looks per mail (each a request to C and a query).
        let mut stats = Value::Null;
        let mut holding = false;
        for _ in 0..8 {
            stats = c.req(json!({"op": "stats"}));
            holding = stats["in_round"] == true
                && cl
                    .sql_strings(&leases_of_c)
                    .iter()
                    .any(|l| !l.ends_with(":folders"));
            if holding {
                break;
            }
        }
        if stats["in_round"] == true && (holding || i >= 90) {
            c.kill();
            let now_held = cl.sql_strings(&leases_of_c);
            eprintln!(
                "c: host C killed inside round {} after {} mails, holding {now_held:?}",
                stats["started"],
                i + 1
            );
            held = Some(now_held);
        }
    }
    let held = held.expect("C was killed inside a round");
    assert_eq!(outlook.len(), 100);

    // A and B keep syncing until every mail is booked (the store's rows, never a sleep).
    wait_until("100 activities booked", || {
        cl.sql_count("SELECT count(*) FROM activities") >= 100
    });
    for h in [&mut a, &mut b] {
        let s = h.req(json!({"op": "sync_stop"}));
        assert!(
            s["done"].as_u64().unwrap() >= 1,
            "host {} synced: {s}",
            h.name
        );
    }
    // One more full look at Sent Items after everything: still nothing new.
    wait_until("a final round over Sent Items", || {
        let r = a.ok(
            "o365_sync",
            json!({"mailbox": id, "user": "u1", "folders": ["sentitems"]}),
        );
        r["folders"][0]["status"] == "ok"
    });
    assert_eq!(cl.sql_count("SELECT count(*) FROM activities"), 100);
    // What C held was taken over from it as from a dead host (through PostgreSQL; every host
    // has its own host id), not waited out (a folder lease lasts two minutes).
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for h in [&mut a, &mut b] {
        let logs = h.ok("o365_take_logs", json!({"max": 10_000}));
        assert_eq!(
            logs["dropped"], 0,
            "host {}: the log buffer kept all",
            h.name
        );
        for r in logs["records"].as_array().unwrap() {
            let from_c = r["holder"]
                .as_str()
                .is_some_and(|o| o.starts_with(&format!("{}|", c.host_id)));
            if r["message"] == "taking over the lease of a process that is gone" && from_c {
                taken.insert(r["lease"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(
        cl.sql_strings(&leases_of_c).is_empty(),
        "no lease is left with the dead host"
    );
    for lease in &held {
        assert!(
            taken.contains(lease),
            "{lease} taken over from C: {taken:?}"
        );
    }
    assert_eq!(
        cl.sql_count("SELECT count(*) FROM events WHERE type = 'activity'"),
        100,
        "one activity event per mail"
    );
    let booked: BTreeSet<String> = cl
        .sql_strings("SELECT internet_message_id FROM activities")
        .into_iter()
        .collect();
    assert_eq!(booked, outlook, "exactly the Outlook mails");

    // The events, as a host takes them: 100, each mail once.
    let acts = b.take_events("activity");
    assert_eq!(acts.len(), 100, "100 activity events");
    let imids: BTreeSet<String> = acts
        .iter()
        .map(|e| e["internet_message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(imids, outlook, "each Outlook mail once");
    for e in &acts {
        assert_eq!(e["responsible_user"], "u1");
        assert_eq!(e["mailbox"], id.as_str());
    }
}

// ---- d. 300 keyed sends, lost answers, a host killed mid-send ------------------------------

const SENDS: usize = 300;

fn keyed(id: &str, i: usize) -> Value {
    json!({"mailbox": id, "user": "u1", "idempotency_key": format!("mh-{i}"),
           "message": {"to": [format!("kunde{}@kunden.example", i % 7)],
                       "subject": format!("Mail {i}"),
                       "body_text": format!("Nachricht Nummer {i}")}})
}

#[test]
fn d_three_hundred_keyed_sends_with_lost_answers_and_a_kill_go_out_exactly_once() {
    let _one = serial();
    let Some(cl) = Cluster::new(fast_sim()) else {
        return;
    };
    // A draft left by a lost answer is given up after 10 s of library time (not 10 minutes);
    // a queued send of a dead host is taken over after its 3 s claim.
    let patch = json!({"send": {"pace_max": 1_000_000, "lease_ms": 3000,
                                "submission_wait_ms": 10_000}});
    let (mut a, mut b, mut c, id) = three_signed_in(&cl, patch);
    // 10% of Graph's answers are lost after the request was carried out.
    let s = cl.sim.sim().clone();
    s.faults.add(FaultSpec {
        path: "/v1.0/*".into(),
        rate: Some(0.10),
        drop_connection: true,
        ..Default::default()
    });
    let sent = || s.world.lock().unwrap().outbound.len();

    let share = |h: usize| -> Vec<Value> {
        (0..SENDS)
            .filter(|i| i % 3 == h)
            .map(|i| keyed(&id, i))
            .collect()
    };
    for (n, h) in [&mut a, &mut b, &mut c].into_iter().enumerate() {
        h.send(json!({"op": "par", "fn": "o365_send", "reqs": share(n), "threads": 4}));
    }
    wait_until("60 mails out before the kill", || sent() >= 60);
    c.kill();
    let at_kill = sent();
    assert!(at_kill < SENDS, "killed mid-send ({at_kill} out)");
    for h in [&mut a, &mut b] {
        let r = h.recv();
        for (k, res) in r["results"].as_array().unwrap().iter().enumerate() {
            assert_eq!(res["st"], 0, "host {} send {k}: {res}", h.name);
            let state = res["v"]["state"].as_str().unwrap();
            assert!(state == "sent" || state == "queued", "{res}");
        }
    }

    // C's mails: those it accepted (in the shared outbox) must go out without anyone
    // sending them again; those it never took, the user sends again through A and B.
    let (mut accepted, mut retried) = (0, 0);
    for i in (0..SENDS).filter(|i| i % 3 == 2) {
        let (st, v) = a.call(
            "o365_send_status",
            json!({"mailbox": id, "user": "u1", "idempotency_key": format!("mh-{i}")}),
        );
        if st == 0 {
            accepted += 1;
            continue;
        }
        assert_eq!(st, o365::ffi::O365_NOT_FOUND, "mail {i}: {v}");
        retried += 1;
        let h = if i % 2 == 0 { &mut a } else { &mut b };
        let r = h.ok("o365_send", keyed(&id, i));
        assert!(r["state"] == "sent" || r["state"] == "queued", "{r}");
    }
    assert!(
        accepted > 0 && retried > 0,
        "accepted {accepted}, retried {retried}"
    );

    // The outbox is finished by the surviving hosts.
    wait_until("the outbox is empty", || {
        let r = a.ok("o365_outbox_process", json!({"wait_ms": 3000}));
        r["pending"] == 0
    });
    let out = s.world.lock().unwrap().outbound.clone();
    let mut by_subject: BTreeMap<String, usize> = BTreeMap::new();
    for m in &out {
        *by_subject.entry(m.subject.clone()).or_default() += 1;
    }
    let twice: Vec<_> = by_subject.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(out.len(), SENDS, "exactly {SENDS} mails");
    let imids: BTreeSet<_> = out.iter().map(|m| m.internet_message_id.clone()).collect();
    assert_eq!(imids.len(), SENDS);
    for i in 0..SENDS {
        assert_eq!(by_subject.get(&format!("Mail {i}")), Some(&1), "mail {i}");
        let st = b.ok(
            "o365_send_status",
            json!({"mailbox": id, "user": "u1", "idempotency_key": format!("mh-{i}")}),
        );
        assert_eq!(st["state"], "sent", "{st}");
        assert!(
            imids.contains(st["internet_message_id"].as_str().unwrap()),
            "{st}"
        );
    }
    let dropped = cl.counter("connectionsDropped");
    eprintln!(
        "d: {at_kill} mails out at the kill; of C's, {accepted} accepted, {retried} sent \
         again by the user; {dropped} answers lost"
    );
    assert!(dropped >= 30, "answers were lost: {dropped}");
    // No draft of ours left behind (the seed has drafts of its own).
    let w = s.world.lock().unwrap();
    let anna = w.user(ANNA).unwrap().id.clone();
    let left: Vec<_> = w.mailboxes[&anna]
        .messages
        .values()
        .filter(|m| m.is_draft && m.subject.starts_with("Mail "))
        .map(|m| m.subject.clone())
        .collect();
    assert!(left.is_empty(), "drafts left behind: {left:?}");
}

// ---- e. one refresh for 3 hosts x 16 threads ------------------------------------------------

const HOUR_MS: i64 = 3600 * 1000;

#[test]
fn e_three_hosts_with_sixteen_threads_each_refresh_an_expired_token_once() {
    let _one = serial();
    let Some(cl) = Cluster::new(fast_sim()) else {
        return;
    };
    let id = signed_in_by_setup_host(&cl);
    let before = cl.counter("refreshes");
    // Two hours later for these hosts: the stored access token has expired.
    let later = json!({"debug": {"clock_offset_ms": 2 * HOUR_MS}});
    let mut hosts: Vec<Host> = ["a", "b", "c"]
        .iter()
        .map(|n| cl.host(n, later.clone()))
        .collect();
    let reqs: Vec<Value> = (0..16)
        .map(|i| json!({"mailbox": id, "user": if i % 2 == 0 { "u1" } else { "u2" }}))
        .collect();
    authenticate_everywhere(&mut hosts.iter_mut().collect::<Vec<_>>(), &reqs, 16);
    assert_eq!(
        cl.counter("refreshes") - before,
        1,
        "exactly one refresh across 48 callers on 3 hosts"
    );
    // And the new token works from every host.
    for h in hosts.iter_mut() {
        h.ok("o365_list_folders", json!({"mailbox": id, "user": "u1"}));
    }
    assert_eq!(cl.counter("refreshes") - before, 1);
}

// ---- f. the refresh lease of a killed host -------------------------------------------------

/// Holds the answer to the next token request `ms` milliseconds at the sim, lets `start`
/// make one, and returns once it has arrived (the host that sent it holds the refresh lease).
fn token_answer_held(cl: &Cluster, ms: u64, start: impl FnOnce()) {
    let hold = cl
        .sim
        .sim()
        .faults
        .add(FaultSpec {
            method: Some("POST".into()),
            path: "/*/oauth2/v2.0/token".into(),
            latency_ms: Some(ms),
            count: Some(1),
            ..Default::default()
        })
        .id;
    start();
    wait_until("a token request held at the sim", || {
        let rules = cl.sim.sim().faults.list();
        rules.iter().any(|r| r.id == hold && r.applied == 1)
    });
}

#[test]
fn f_a_host_killed_holding_the_refresh_lease_does_not_stop_the_others() {
    let _one = serial();
    let Some(cl) = Cluster::new(fast_sim()) else {
        return;
    };
    let id = signed_in_by_setup_host(&cl);
    let clock = cl.admin("GET", "/clock", None);
    // The hosts' clocks are shifted (fixed, from their start) so that the token has expired
    // for all of them, differently: host A's lease ends, by B's and C's clocks, half an hour
    // and more from now. A lease is taken over from a dead holder, never waited out.
    let mut a = cl.host("a", json!({"debug": {"clock_offset_ms": 2 * HOUR_MS}}));
    let logs = json!({"level": "info", "buffer": 10_000});
    let mut b = cl.host(
        "b",
        json!({"debug": {"clock_offset_ms": 3 * HOUR_MS / 2}, "log": logs}),
    );
    let mut c = cl.host(
        "c",
        json!({"debug": {"clock_offset_ms": 7 * HOUR_MS / 4}, "log": logs}),
    );
    let before = cl.counter("refreshes");
    // The token endpoint holds its first answer for ten minutes: A hangs in its refresh.
    token_answer_held(&cl, 600_000, || {
        a.req(json!({"op": "spawn", "fn": "o365_authenticate",
                     "req": {"mailbox": id, "user": "u1"}}));
    });
    let holder = cl.sql_strings(&format!(
        "SELECT owner FROM leases WHERE name = 'refresh:{id}'"
    ));
    assert_eq!(holder.len(), 1, "A holds the refresh lease");
    assert!(
        holder[0].starts_with(&format!("{}|", a.host_id)),
        "the lease names A's host: {holder:?}"
    );
    a.kill();

    // B and C (8 threads each) get a token: one refresh, by one of them.
    let reqs: Vec<Value> = (0..8)
        .map(|_| json!({"mailbox": id, "user": "u2"}))
        .collect();
    authenticate_everywhere(&mut [&mut b, &mut c], &reqs, 8);
    let records: Vec<Value> = [&mut b, &mut c]
        .into_iter()
        .flat_map(|h| {
            let logs = h.ok("o365_take_logs", json!({"max": 10_000}));
            logs["records"].as_array().unwrap().clone()
        })
        .collect();
    assert_eq!(
        cl.counter("refreshes") - before,
        1,
        "one refresh completed (A's never was): {records:#?}"
    );
    let now_holder = cl.sql_strings(&format!(
        "SELECT owner FROM leases WHERE name = 'refresh:{id}'"
    ));
    assert!(
        now_holder != holder,
        "the dead host's lease was taken over: {now_holder:?}"
    );
    // Taken over from a holder known to be gone (through PostgreSQL: the hosts have their own
    // host ids), not waited out: B or C says so. A lease that merely expired is taken without
    // this record.
    let takeovers: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r.to_string().contains("taking over the lease")
                && r.to_string().contains(&format!("refresh:{id}"))
        })
        .collect();
    // (Both may try; the take-over is a compare-and-set, and one refresh was made.)
    assert!(!takeovers.is_empty(), "a host took A's lease over");
    assert!(
        takeovers
            .iter()
            .all(|r| r["holder"].as_str() == Some(holder[0].as_str())),
        "from A: {takeovers:?}"
    );
    assert_eq!(
        cl.admin("GET", "/clock", None)["offsetSeconds"],
        clock["offsetSeconds"],
        "no clock moved: the sim's clock runs as it ran"
    );
    b.ok("o365_list_folders", json!({"mailbox": id, "user": "u1"}));
}

// ---- g. a live holder keeps its lease, whatever the hosts' clocks say ---------------------

#[test]
fn g_a_live_refresh_is_waited_for_by_hosts_whose_clocks_run_ahead() {
    let _one = serial();
    let Some(cl) = Cluster::new(fast_sim()) else {
        return;
    };
    let id = signed_in_by_setup_host(&cl);
    // The token has expired for both; B's clock runs half an hour ahead of A's (so the token
    // A gets is still good for B). A lease A holds must not look expired to B: leases are
    // judged by the database's clock.
    let mut a = cl.host("a", json!({"debug": {"clock_offset_ms": 2 * HOUR_MS}}));
    let mut b = cl.host("b", json!({"debug": {"clock_offset_ms": 5 * HOUR_MS / 2}}));
    let before = cl.counter("refreshes");
    // The token endpoint takes 3 s (sim time spent answering, not a wait of the test) for
    // A's request: A holds the refresh lease meanwhile.
    token_answer_held(&cl, 3000, || {
        a.send(json!({"op": "call", "fn": "o365_authenticate",
                      "req": {"mailbox": id, "user": "u1"}}));
    });
    // B, meanwhile: waits for A's refresh and uses its token.
    let got = b.ok("o365_authenticate", json!({"mailbox": id, "user": "u2"}));
    assert_eq!(got["status"], "authenticated", "{got}");
    let mine = a.recv();
    assert_eq!(mine["st"], 0, "{mine}");
    assert_eq!(
        cl.counter("refreshes") - before,
        1,
        "B waited for A's refresh instead of taking its lease as expired"
    );
}
