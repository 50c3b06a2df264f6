//! Nothing local on a host with a PostgreSQL store (issue 11, point 2): the files behind links
//! and the outbox's spooled attachments live in the database, sealed in chunks, so a second
//! host (its own temporary directory, the first host's deleted) serves the link of a mail the
//! first one sent and finishes a send the first one started.
//!
//! Runs against the server named by `O365_TEST_PG_URL` (`scripts/pg_cluster.sh run cargo test
//! --test postgres_files`), each test in a schema of its own; `O365_TEST_PG_SKIP=1` skips.

mod common;
use common::*;
use o365::ffi::*;
use o365_sim::faults::FaultSpec;
use o365_sim::RunningSim;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

const DAY_MS: i64 = 24 * 3600 * 1000;
const BASE: &str = "https://crm.example/o365/link?t={token}";

/// A schema of its own on the test server, dropped at the end.
struct Schema {
    url: String,
    store: String,
    name: String,
}

impl Schema {
    fn new() -> Option<Schema> {
        let Ok(url) = std::env::var("O365_TEST_PG_URL") else {
            if std::env::var("O365_TEST_PG_SKIP").as_deref() == Ok("1") {
                eprintln!("skipped: O365_TEST_PG_SKIP=1 (the PostgreSQL store is not tested)");
                return None;
            }
            panic!(
                "O365_TEST_PG_URL is not set: run `scripts/pg_cluster.sh run cargo test --test \
                 postgres_files`, or set O365_TEST_PG_SKIP=1 to skip"
            );
        };
        let name = format!("files_{}_{:08x}", std::process::id(), rand::random::<u32>());
        let sep = if url.contains('?') { '&' } else { '?' };
        Some(Schema {
            store: format!("{url}{sep}schema={name}"),
            url,
            name,
        })
    }

    fn client(&self) -> postgres::Client {
        let url = self.url.replacen("postgres://", "postgresql://", 1);
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        c.batch_execute(&format!("SET search_path TO {}", self.name))
            .unwrap();
        c
    }

    fn count(&self, table: &str) -> i64 {
        self.client()
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .unwrap()
            .get(0)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(
            &self.url.replacen("postgres://", "postgresql://", 1),
            postgres::NoTls,
        ) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// One host: a client on the shared store with a temporary directory of its own.
fn host(sim: &RunningSim, pg: &Schema, dir: &Path, clock_offset_ms: i64, send: Value) -> Lib {
    let mut cfg = config(sim, dir);
    cfg["store"] = json!(pg.store);
    cfg["links"] = json!({"base_url": BASE});
    cfg["send"] = send;
    cfg["debug"]["clock_offset_ms"] = json!(clock_offset_ms);
    Lib::open(cfg)
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Bytes that look random, with NULs.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 97 == 0 {
                0
            } else {
                x as u8
            }
        })
        .collect()
}

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn sha_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

#[test]
fn a_link_sent_on_one_host_is_served_by_another_from_the_database() {
    let Some(pg) = Schema::new() else { return };
    let sim = sim();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let big = pseudo_random(300_000, 7);
    let small = b"%PDF-1.4 Expose Lindenstrasse".to_vec();

    // Host A sends a mail with a download link.
    let a = host(&sim, &pg, dir_a.path(), 0, json!({}));
    let id = import(&a, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &a, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let r = a.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "message": {
            "to": ["kunde@kunden.example"], "subject": "Exposé",
            "body_text": "Hier: _downloadLink(Unterlagen)",
            "attachments": [{"name": "exposé.pdf", "base64": b64(&small)},
                            {"name": "plan.bin", "base64": b64(&big)}]}}),
    );
    assert_eq!(r["state"], "sent", "{r}");
    let token = r["link"]["token"].as_str().unwrap().to_owned();
    assert!(
        files_under(dir_a.path()).is_empty(),
        "nothing on host A's disk: {:?}",
        files_under(dir_a.path())
    );

    // The database holds the files: sizes and SHA-256 kept, chunks sealed.
    let mut db = pg.client();
    let blobs = db
        .query(
            "SELECT size, sha256, chunks FROM blobs WHERE finished ORDER BY id",
            &[],
        )
        .unwrap();
    let kept: Vec<(i64, String, i64)> = blobs
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        kept,
        vec![
            (small.len() as i64, sha_hex(&small), 1),
            (big.len() as i64, sha_hex(&big), 5)
        ]
    );
    let chunks: Vec<Vec<u8>> = db
        .query("SELECT data FROM blob_chunks", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(chunks.len(), 6);
    for c in &chunks {
        assert!(
            !c.windows(32).any(|w| w == &big[1000..1032]),
            "no plaintext in the store"
        );
        assert!(!c.windows(16).any(|w| w == &small[..16]));
    }
    drop(a);
    drop(dir_a);

    // Host B, its own directory, host A's gone: the page and the file, whole and in ranges.
    let b = host(&sim, &pg, dir_b.path(), 0, json!({}));
    let p = b.ok(o365_link_page, json!({"method": "GET", "token": token}));
    assert_eq!(p["status"], 200, "{p}");
    assert!(p["body"].as_str().unwrap().contains("plan.bin"));
    let whole = b.ok(
        o365_link_page,
        json!({"method": "GET", "token": token, "query": {"f": "1"}}),
    );
    assert_eq!(whole["status"], 200, "{whole}");
    assert_eq!(whole["headers"]["Content-Length"], "300000");
    assert_eq!(
        b.read_stream(&whole["stream"], 10_000),
        big,
        "identical bytes"
    );
    let part = b.ok(
        o365_link_page,
        json!({"method": "GET", "token": token, "query": {"f": "1"},
               "range": "bytes=65530-200000"}),
    );
    assert_eq!(part["status"], 206, "{part}");
    assert_eq!(
        b.read_stream(&part["stream"], 70_000),
        &big[65_530..=200_000],
        "a range across chunk edges"
    );
    let first = b.ok(
        o365_link_page,
        json!({"method": "GET", "token": token, "query": {"f": "0"}}),
    );
    assert_eq!(b.read_stream(&first["stream"], 7), small);
    // Copied out through the older call too.
    let out = dir_b.path().join("plan.copy");
    b.ok(
        o365_link_download,
        json!({"token": token, "file": 1, "path": out}),
    );
    assert_eq!(std::fs::read(&out).unwrap(), big);
    std::fs::remove_file(&out).unwrap();
    assert!(
        files_under(dir_b.path()).is_empty(),
        "nothing on host B's disk"
    );
    drop(b);

    // Day 15: expired; the purge deletes the blobs with the key.
    let later = host(&sim, &pg, dir_b.path(), 15 * DAY_MS, json!({}));
    let p = later.ok(
        o365_link_page,
        json!({"method": "GET", "token": token, "query": {"f": "1"}}),
    );
    assert_eq!(p["status"], 410, "{p}");
    assert_eq!(pg.count("blobs"), 0, "blobs deleted at expiry");
    assert_eq!(pg.count("blob_chunks"), 0);
    assert_eq!(later.ok(o365_links_purge, json!({}))["purged"], 0, "once");
}

#[test]
fn an_outbox_entry_started_on_one_host_is_finished_by_another() {
    let Some(pg) = Schema::new() else { return };
    let sim = sim();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    // Upload-session chunks that do not line up with the store's; the big file goes through
    // an upload session (from 3 MB), the small one inline.
    let send = json!({"background": false, "chunk_bytes": 16 * 65_536 + 7});
    let big = pseudo_random(3_300_000, 11);
    let small = pseudo_random(20_000, 13);

    let a = host(&sim, &pg, dir_a.path(), 0, send.clone());
    let id = import(&a, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &a, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let src = dir_a.path().join("grundriss.bin");
    std::fs::write(&src, &big).unwrap();
    let r = a.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "queue": true, "idempotency_key": "k1",
               "message": {"to": ["kunde@kunden.example"], "subject": "Grundriss",
               "attachments": [{"name": "grundriss.bin", "path": src},
                               {"name": "notiz.bin", "base64": b64(&small)}]}}),
    );
    assert_eq!(r["state"], "queued", "{r}");
    let send_id = r["send_id"].as_str().unwrap().to_owned();
    std::fs::remove_file(&src).unwrap();
    assert!(
        files_under(dir_a.path()).is_empty(),
        "the spool is not on host A's disk"
    );
    assert_eq!(pg.count("blobs WHERE finished"), 2, "spooled in the store");

    // Host A starts: the draft is made, then the upload session fails; A goes away.
    let s = sim.sim().clone();
    s.faults.add(FaultSpec {
        method: Some("POST".into()),
        path: "/v1.0/*/createUploadSession".into(),
        status: Some(503),
        code: Some("ServiceUnavailable".into()),
        ..Default::default()
    });
    let p = a.ok(o365_outbox_process, json!({"wait_ms": 5_000}));
    let state = a.ok(
        o365_send_status,
        json!({"mailbox": id, "user": "u1", "send_id": send_id}),
    );
    assert_eq!(
        (p["sent"].as_u64(), p["pending"].as_u64()),
        (Some(0), Some(1)),
        "{p} {state}"
    );
    assert_eq!(state["state"], "queued", "{state}");
    assert!(state["attempts"].as_i64().unwrap() >= 1, "{state}");
    assert!(s.world.lock().unwrap().outbound.is_empty());
    drop(a);
    drop(dir_a);
    s.faults.clear();

    // Host B, an hour later (past the retry delay), finishes the send from the store's copy.
    let b = host(&sim, &pg, dir_b.path(), 3_600_000, send);
    let p = b.ok(o365_outbox_process, json!({"wait_ms": 20_000}));
    let state = b.ok(
        o365_send_status,
        json!({"mailbox": id, "user": "u1", "send_id": send_id}),
    );
    assert_eq!(
        (p["sent"].as_u64(), p["pending"].as_u64()),
        (Some(1), Some(0)),
        "{p} {state}"
    );
    let out = s.world.lock().unwrap().outbound.clone();
    assert_eq!(out.len(), 1, "sent once");
    let got: Vec<(String, usize, String)> = out[0]
        .attachments
        .iter()
        .map(|a| (a.name.clone(), a.size, a.sha256.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("grundriss.bin".into(), big.len(), sha_hex(&big)),
            ("notiz.bin".into(), small.len(), sha_hex(&small)),
        ],
        "identical bytes from the other host"
    );
    assert_eq!(pg.count("blobs"), 0, "spool deleted once sent");
    assert_eq!(pg.count("blob_chunks"), 0);
    assert!(
        files_under(dir_b.path()).is_empty(),
        "nothing on host B's disk"
    );
}

/// Signs Anna in on `lib` and sends a mail with a download link to `data`; returns the
/// mailbox id and the link's token.
fn send_link(sim: &RunningSim, lib: &Lib, data: &[u8]) -> (String, String) {
    let id = import(lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(sim, lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let r = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "message": {
            "to": ["kunde@kunden.example"], "subject": "Plan",
            "body_text": "Hier: _downloadLink(Plan)",
            "attachments": [{"name": "plan.bin", "base64": b64(data)}]}}),
    );
    assert_eq!(r["state"], "sent", "{r}");
    (id, r["link"]["token"].as_str().unwrap().to_owned())
}

#[test]
fn maintenance_removes_blobs_a_dead_host_left_behind() {
    let Some(pg) = Schema::new() else { return };
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let data = pseudo_random(100_000, 3);
    let a = host(&sim, &pg, dir.path(), 0, json!({}));
    let (_, token) = send_link(&sim, &a, &data);
    assert_eq!(pg.count("blobs"), 1);

    // What a host killed between its store writes leaves: a blob never finished, blobs of a
    // link or an outbox entry that were never recorded. One of them is fresh.
    let cfg = o365::Config::from_json(
        &json!({"store": pg.store, "encryption_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="})
            .to_string(),
    )
    .unwrap();
    let store = o365::store::open(&cfg).unwrap();
    let now = o365::clock::Clock::with_offset(0).now_ms();
    for (id, owner, at, finish) in [
        ("x/unfinished", "link:gone1", now, false),
        ("x/link", "link:gone2", now, true),
        ("x/outbox", "outbox:snd_gone", now, true),
        ("x/fresh", "link:gone3", now + 2 * DAY_MS, true),
    ] {
        store.create_blob(id, owner, at).unwrap();
        store.put_blob_chunks(id, 0, &[vec![1, 2, 3]]).unwrap();
        if finish {
            let summary = o365::store::BlobSummary {
                size: 3,
                sha256: "00".into(),
                chunks: 1,
            };
            store.finish_blob(id, &summary).unwrap();
        }
    }
    assert_eq!(pg.count("blobs"), 5);
    drop(a);

    // Two days later (the link has 12 to go): only what nobody needs is gone.
    let later = host(&sim, &pg, dir.path(), 2 * DAY_MS, json!({}));
    later.ok(o365_maintenance, json!({}));
    let mut left: Vec<String> = pg
        .client()
        .query("SELECT owner FROM blobs ORDER BY owner", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    let at = left.iter().position(|o| o == "link:gone3");
    left.remove(at.expect("a fresh blob may still be recorded"));
    assert!(
        left[0].starts_with("link:") && !left[0].starts_with("link:gone"),
        "the live link's blob stays: {left:?}"
    );
    let file = later.ok(
        o365_link_page,
        json!({"method": "GET", "token": token, "query": {"f": "0"}}),
    );
    assert_eq!(later.read_stream(&file["stream"], 65_536), data);
}

#[test]
fn a_configured_shared_folder_keeps_the_files_instead() {
    let Some(pg) = Schema::new() else { return };
    let sim = sim();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let shared = tempfile::tempdir().unwrap();
    let data = pseudo_random(150_000, 5);
    let in_shared = |base: &Path| {
        let mut cfg = config(&sim, base);
        cfg["store"] = json!(pg.store);
        cfg["links"] = json!({"base_url": BASE, "directory": shared.path()});
        cfg["send"] = json!({"background": false});
        Lib::open(cfg)
    };
    let a = in_shared(dir_a.path());
    let (id, token) = send_link(&sim, &a, &data);
    let r = a.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "queue": true, "message": {
            "to": ["kunde@kunden.example"], "subject": "Notiz",
            "attachments": [{"name": "notiz.txt", "base64": b64(b"Notiz")}]}}),
    );
    assert_eq!(r["state"], "queued", "{r}");
    let send_id = r["send_id"].as_str().unwrap().to_owned();
    assert_eq!(pg.count("blobs"), 0, "nothing in the database");
    let spool = shared.path().join(".outbox");
    assert_eq!(
        std::fs::read(spool.join(&send_id).join("0")).unwrap(),
        b"Notiz",
        "spooled in the shared folder"
    );
    let sealed: Vec<_> = files_under(shared.path())
        .into_iter()
        .filter(|p| !p.starts_with(&spool))
        .collect();
    assert_eq!(sealed.len(), 1, "the link's file: {sealed:?}");
    drop(a);

    let b = in_shared(dir_b.path());
    let file = b.ok(
        o365_link_page,
        json!({"method": "GET", "token": token, "query": {"f": "0"}}),
    );
    assert_eq!(b.read_stream(&file["stream"], 65_536), data);
    let p = b.ok(o365_outbox_process, json!({"wait_ms": 20_000}));
    assert_eq!(p["sent"], 1, "{p}");
    assert!(!spool.join(&send_id).exists(), "spool removed once sent");
}
