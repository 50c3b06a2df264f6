//! Coordination across hosts on the PostgreSQL store: leases judged by the database's clock,
//! dead holders on other hosts taken over at once (presence), event wake-ups through
//! LISTEN/NOTIFY, connections the server closed replaced.
//!
//! A "host" here is a store opened with its own host id (and, for dead holders, a process
//! of its own: a re-run of this test binary that the test kills with SIGKILL). Run with
//! `scripts/pg_cluster.sh run cargo test --test pg_coord` (or O365_TEST_PG_URL set; set
//! O365_TEST_PG_SKIP=1 to skip). No test sleeps for the library or bounds a wall time: they
//! wait on conditions, with generous safety limits.

use o365::store::postgres::PgStore;
use o365::store::{EventRecord, EventStore, LeaseStore, Store};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// How long a condition may take before the test fails (a busy CI machine).
const SAFETY: Duration = Duration::from_secs(60);
/// The environment variable that turns a run of this binary into a child "host".
const CHILD_VAR: &str = "O365_PG_COORD_CHILD";

fn server() -> Option<String> {
    match std::env::var("O365_TEST_PG_URL") {
        Ok(u) => Some(u),
        Err(_) if std::env::var("O365_TEST_PG_SKIP").as_deref() == Ok("1") => {
            eprintln!("skipped: O365_TEST_PG_SKIP=1");
            None
        }
        Err(_) => panic!(
            "O365_TEST_PG_URL is not set: run `scripts/pg_cluster.sh run cargo test --test pg_coord`, \
             or set O365_TEST_PG_SKIP=1"
        ),
    }
}

/// A fresh schema on the test server, dropped at the end.
struct Schema {
    server: String,
    url: String,
    name: String,
}

impl Schema {
    fn new(server: &str, tag: &str) -> Schema {
        let name = format!(
            "coord_{tag}_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let sep = if server.contains('?') { '&' } else { '?' };
        Schema {
            server: server.to_owned(),
            url: format!("{server}{sep}schema={name}"),
            name,
        }
    }

    fn open(&self, host: &str) -> PgStore {
        PgStore::open_as(&self.url, host).expect("open the store")
    }

    fn admin(&self) -> postgres::Client {
        postgres::Client::connect(
            &self.server.replacen("postgres://", "postgresql://", 1),
            postgres::NoTls,
        )
        .expect("admin connection")
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(
            &self.server.replacen("postgres://", "postgresql://", 1),
            postgres::NoTls,
        ) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Waits until `done` holds, failing after [`SAFETY`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < SAFETY, "{what}: not within {SAFETY:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

const MINUTES_10: i64 = 10 * 60 * 1000;

#[test]
fn a_host_with_a_skewed_clock_neither_steals_a_live_lease_nor_is_locked_out() {
    let Some(server) = server() else { return };
    let schema = Schema::new(&server, "skew");
    let right = schema.open("right");
    let fast = schema.open("fast");
    let slow = schema.open("slow");
    // The fast host's clock is 10 minutes ahead, the slow one's 10 minutes behind; each
    // passes a `now` read from its own clock, as the library does.
    fast.debug_skew_wall_clock(MINUTES_10);
    slow.debug_skew_wall_clock(-MINUTES_10);
    let now_fast = || wall_ms() + MINUTES_10;
    let now_slow = || wall_ms() - MINUTES_10;

    // A live lease (one minute) of the host with the right clock: on the fast host's clock it
    // ran out nine minutes ago, yet the fast host does not get it.
    assert!(right
        .try_lease("refresh:m1", "right|1|a", wall_ms(), 60_000)
        .unwrap());
    assert!(!fast
        .try_lease("refresh:m1", "fast|2|b", now_fast(), 60_000)
        .unwrap());
    // Each host sees the expiry on its own clock: about a minute away.
    let (holder, until) = fast.lease_holder("refresh:m1").unwrap().unwrap();
    assert_eq!(holder, "right|1|a");
    let left = until - now_fast();
    assert!((50_000..=61_000).contains(&left), "{left} ms left");

    // The fast host's lease (one minute): the slow host, whose clock reads 20 minutes
    // earlier, waits one minute like everyone else, not 21. Time moves on for it by the
    // library's debug offset (what `debug.clock_offset_ms` adds to its `now`).
    assert!(fast
        .try_lease("sync:m1:inbox", "fast|2|b", now_fast(), 60_000)
        .unwrap());
    assert!(!slow
        .try_lease("sync:m1:inbox", "slow|3|c", now_slow() + 50_000, 60_000)
        .unwrap());
    assert!(slow
        .try_lease("sync:m1:inbox", "slow|3|c", now_slow() + 70_000, 60_000)
        .unwrap());
    assert_eq!(
        right.lease_holder("sync:m1:inbox").unwrap().unwrap().0,
        "slow|3|c"
    );

    // Event reservations likewise: the fast host does not take an event reserved for a
    // minute; the slow one takes it when the minute is over.
    let all = o365::store::EventFilter::default();
    assert!(right.push_event(&event("skew-1")).unwrap());
    let got = right
        .claim_event("right-c", wall_ms(), 60_000, &all)
        .unwrap();
    assert_eq!(got.map(|e| e.id).as_deref(), Some("skew-1"));
    assert!(fast
        .claim_event("fast-c", now_fast(), 60_000, &all)
        .unwrap()
        .is_none());
    assert!(slow
        .claim_event("slow-c", now_slow() + 50_000, 60_000, &all)
        .unwrap()
        .is_none());
    let again = slow
        .claim_event("slow-c", now_slow() + 70_000, 60_000, &all)
        .unwrap();
    assert_eq!(again.map(|e| e.deliveries), Some(1));
}

/// The child "host": opens the store as `host`, takes the lease `name` for an hour, says so
/// on stdout and waits to be killed. Only runs when started by a test below.
#[test]
fn child_host_holding_a_lease() {
    let Ok(spec) = std::env::var(CHILD_VAR) else {
        return;
    };
    let mut parts = spec.splitn(3, '\n');
    let (url, host, name) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let store = PgStore::open_as(url, host).unwrap();
    let owner = format!("{host}|{}|child:task", std::process::id());
    assert!(store.try_lease(name, &owner, wall_ms(), 3_600_000).unwrap());
    println!("HELD {owner}");
    // Until the parent kills this process (stdin stays open until then).
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    panic!("the child host was not killed");
}

/// Starts a child host holding `name`; returns it and the lease's owner.
fn child_holding(url: &str, host: &str, name: &str) -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_host_holding_a_lease",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, format!("{url}\n{host}\n{name}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child host");
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        let line = line.expect("the child's output");
        // libtest writes "test NAME ... " before it, on the same line.
        if let Some((_, owner)) = line.split_once("HELD ") {
            return (child, owner.trim().to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the child host ended without taking the lease");
}

/// A client of host `host` on the schema, without background jobs.
fn client(schema: &Schema, host: &str, poll_ms: u64) -> o365::Client {
    o365::Client::from_json(
        &serde_json::json!({
            "store": schema.url,
            "encryption_key": KEY,
            "host_id": host,
            "events": {"poll_ms": poll_ms},
            "sync": {"scheduler": false},
            "send": {"background": false},
        })
        .to_string(),
    )
    .expect("client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The holder killed, the lease is taken over through the library's own lease path
/// (`core::lease::acquire`) as soon as PostgreSQL has ended the holder's session: no clock
/// moves, the hour-long lease is far from expiry.
fn killed_holder_is_taken_over(holder_host: &str, taker_host: &str) {
    let Some(server) = server() else { return };
    let schema = Schema::new(&server, "dead");
    let taker = client(&schema, taker_host, 200);
    let core = taker.core().clone();
    assert_eq!(core.host_id(), taker_host);
    let name = "refresh:m1";
    let (mut child, holder) = child_holding(&schema.url, holder_host, name);
    assert!(holder.starts_with(&format!("{holder_host}|{}|", child.id())));
    let rt = runtime();
    let mine = o365::core::lease::owner(&core, "refresh");
    assert!(mine.starts_with(&format!("{taker_host}|{}|", std::process::id())));
    let acquire = || {
        rt.block_on(o365::core::lease::acquire(&core, name, &mine, 30_000))
            .unwrap()
    };
    // Alive: neither taken nor judged gone.
    assert_eq!(core.store().holder_alive(&holder).unwrap(), Some(true));
    assert!(!acquire(), "a live holder's lease was taken");
    assert_eq!(core.store().lease_holder(name).unwrap().unwrap().0, holder);

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    wait_until("the killed holder's lease taken over", acquire);
    assert_eq!(core.store().lease_holder(name).unwrap().unwrap().0, mine);
    assert_eq!(core.store().holder_alive(&holder).unwrap(), Some(false));
    // The taker itself is alive to every host.
    assert_eq!(core.store().holder_alive(&mine).unwrap(), Some(true));
}

#[test]
fn a_killed_holder_on_another_host_is_taken_over_at_once() {
    // Different host ids: the local pid check does not apply, only presence tells.
    killed_holder_is_taken_over("web-b", "web-a");
}

#[test]
fn a_killed_holder_on_the_same_host_is_taken_over_at_once() {
    killed_holder_is_taken_over("web-a", "web-a");
}

#[test]
fn owners_of_another_form_are_not_judged() {
    let Some(server) = server() else { return };
    let schema = Schema::new(&server, "form");
    let s = schema.open("h1");
    assert_eq!(s.holder_alive("graph-throttle").unwrap(), None);
    assert_eq!(s.holder_alive("h1|x|y").unwrap(), None);
    // A well-formed owner of a process that never opened the store is not present.
    assert_eq!(s.holder_alive("h9|4242|task").unwrap(), Some(false));
    assert_eq!(
        s.holder_alive(&format!("h1|{}|task", std::process::id()))
            .unwrap(),
        Some(true)
    );
}

fn event(id: &str) -> EventRecord {
    EventRecord {
        id: id.into(),
        kind: "sync.completed".into(),
        mailbox_id: None,
        payload: serde_json::json!({"n": 1}),
        created_at: wall_ms(),
        deliveries: 0,
    }
}

#[test]
fn a_waiting_consumer_on_another_host_wakes_on_a_pushed_event_without_polling() {
    let Some(server) = server() else { return };
    let schema = Schema::new(&server, "wake");
    // The consumer polls once an hour: only the notification can wake it in time.
    let consumer = client(&schema, "consumer-host", 3_600_000);
    let producer = schema.open("producer-host");
    let rt = runtime();
    for round in 0..3 {
        // It would wait ten minutes; the safety limit below is one.
        let mut waiting = Box::pin(consumer.next_event(Duration::from_secs(600)));
        // Poll once: it finds nothing and waits.
        let first = rt.block_on(std::future::poll_fn(|cx| {
            std::task::Poll::Ready(waiting.as_mut().poll(cx))
        }));
        assert!(first.is_pending(), "round {round}: the queue was not empty");
        let id = format!("ev-{round}");
        assert!(producer.push_event(&event(&id)).unwrap());
        let got = rt
            .block_on(async { tokio::time::timeout(SAFETY, waiting).await })
            .unwrap_or_else(|_| panic!("round {round}: not woken within {SAFETY:?}"))
            .expect("the event, woken by NOTIFY");
        let got = serde_json::to_value(&got).unwrap();
        assert_eq!(got["id"], id.as_str(), "round {round}: {got}");
        consumer.ack_event(&id).unwrap();
    }
}

#[test]
fn connections_the_server_closed_are_replaced() {
    let Some(server) = server() else { return };
    let mut schema = Schema::new(&server, "term");
    // Its own application name: the test ends its sessions only, not other tests'.
    let app = format!("o365_{}", schema.name);
    schema.url = format!("{}&application_name={app}", schema.url);
    let store = schema.open("h1");
    let waiter = schema.open("h2");
    // Several pooled connections.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| store.pending_events().unwrap());
        }
    });
    let store: &dyn Store = &store;
    for round in 0..2 {
        // The server ends every session of the test database but the admin's own (the
        // pooled ones and both presence connections).
        let n: i64 = schema
            .admin()
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0);
        assert!(n >= 3, "round {round}: {n} sessions ended");
        // Reads and writes go on, on new connections.
        assert_eq!(store.pending_events().unwrap(), round);
        assert!(store.push_event(&event(&format!("t-{round}"))).unwrap());
        assert_eq!(store.pending_events().unwrap(), round + 1);
        // Presence comes back too: each host sees the other alive again.
        let other = format!("h2|{}|x", std::process::id());
        wait_until("presence back", || {
            store.holder_alive(&other).unwrap() == Some(true)
        });
    }
    drop(waiter);
}

/// The test server's CA (`scripts/pg_cluster.sh` makes one and `run` exports it).
fn server_ca() -> Option<(String, String)> {
    let server = server()?;
    let ca = std::env::var("O365_TEST_PG_CA").unwrap_or_else(|_| {
        panic!(
            "O365_TEST_PG_CA is not set: the test server needs TLS (`scripts/pg_cluster.sh run` \
             starts one with ssl=on and sets it; by hand: `scripts/pg_cluster.sh ca DIR`), \
             or set O365_TEST_PG_SKIP=1"
        )
    });
    Some((server, ca))
}

/// The server's URL with `params` for TLS instead of `sslmode=disable`, a password (the
/// server trusts loopback, so any password does; it must never be shown), and `host`.
fn tls_url(server: &str, host: &str, params: &str, schema: &str) -> String {
    assert!(server.contains("sslmode=disable") && server.contains("@127.0.0.1:"));
    server
        .replace("sslmode=disable", &format!("{params}&schema={schema}"))
        .replace(
            "postgres@127.0.0.1:",
            &format!("postgres:s3cret-pw@{host}:"),
        )
}

/// Whether the store's connections are encrypted (PostgreSQL's own view).
fn encrypted(store: &PgStore) -> bool {
    store
        .read(|c| {
            Ok(c.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )?
            .get(0))
        })
        .unwrap()
}

#[test]
fn tls_modes_connect_and_check_what_they_promise() {
    let Some((server, ca)) = server_ca() else {
        return;
    };
    let other_ca = std::path::Path::new(&ca).with_file_name("other-ca.pem");
    let schema = Schema::new(&server, "tls");
    let open = |host: &str, params: &str| {
        PgStore::open_as(&tls_url(&server, host, params, &schema.name), "tls-host")
    };
    let refused = |host: &str, params: &str, why: &str| {
        let e = open(host, params).expect_err(params);
        assert_eq!(e.status(), o365::error::status::STORE, "{params}: {e}");
        let text = format!("{} {}", e.message(), e.hint().unwrap_or_default());
        assert!(text.contains(why), "{params}: {text}");
        assert!(!text.contains("s3cret-pw"), "the password shown: {text}");
        text
    };

    // verify-full with the CA that signed the server's certificate (for 127.0.0.1).
    let full = open(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    )
    .expect("verify-full with the right CA");
    assert!(encrypted(&full));
    // ... and the whole store works over it (presence included).
    assert!(full.push_event(&event("tls-1")).unwrap());
    assert_eq!(
        full.holder_alive(&format!("tls-host|{}|x", std::process::id()))
            .unwrap(),
        Some(true)
    );
    drop(full);

    // Another CA: the chain does not verify.
    let text = refused(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", other_ca.display()),
        "certificate",
    );
    assert!(
        text.contains("sslrootcert"),
        "the hint names the CA option: {text}"
    );
    assert!(
        text.contains("postgres:***@127.0.0.1"),
        "the URL, masked: {text}"
    );
    refused(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", other_ca.display()),
        "certificate",
    );
    // The public web CAs do not know the test CA either.
    refused("127.0.0.1", "sslmode=verify-full", "certificate");

    // The certificate names 127.0.0.1, not localhost: verify-full refuses the name,
    // verify-ca (chain only) accepts it.
    refused(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
        "certificate",
    );
    let ca_only = open("localhost", &format!("sslmode=verify-ca&sslrootcert={ca}"))
        .expect("verify-ca checks the chain only");
    assert!(encrypted(&ca_only));
    drop(ca_only);

    // require: encrypted, whatever the certificate.
    let required = open("localhost", "sslmode=require").expect("require");
    assert!(encrypted(&required));
    assert_eq!(required.pending_events().unwrap(), 1);
    drop(required);

    // disable: still plain.
    let plain = open("127.0.0.1", "sslmode=disable").expect("disable");
    assert!(!encrypted(&plain));
    drop(plain);

    // A CA file that is missing or not PEM is a clear configuration error.
    refused(
        "127.0.0.1",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        "/nonexistent/ca.pem",
    );
}
