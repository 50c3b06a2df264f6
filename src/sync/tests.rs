//! The engine against a small scripted Graph mailbox (no HTTP): delta rounds, `@removed`,
//! moves between folders, expired tokens, resuming after a failure mid-round.

use super::api::MailApi;
use super::engine::{self, SyncOptions};
use crate::error::Result;
use crate::graph::{map_error, Request, Response};
use crate::service::Client;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Clone)]
struct Msg {
    folder: String,
    subject: String,
    read: bool,
    seq: u64,
}

#[derive(Default)]
struct World {
    /// id → (display name, role)
    folders: BTreeMap<String, (String, Option<String>)>,
    msgs: BTreeMap<String, Msg>,
    /// (seq, folder, id)
    tombs: Vec<(u64, String, String)>,
    seq: u64,
    page: usize,
    /// Links issued in an older epoch answer 410.
    epoch: u64,
    /// Fail the n-th request for a next page from now (1 = the next one) with a 400.
    fail_at: Option<usize>,
    calls: Vec<String>,
    next_id: u64,
}

pub(crate) struct Fake {
    w: Mutex<World>,
}

fn ok(v: Value) -> Result<Response> {
    Ok(Response {
        status: 200,
        headers: HeaderMap::new(),
        body: bytes::Bytes::from(v.to_string()),
    })
}

fn query(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

impl Fake {
    pub(crate) fn new(folders: &[(&str, &str, Option<&str>)]) -> Fake {
        let mut w = World {
            page: 3,
            ..Default::default()
        };
        for (id, name, role) in folders {
            w.folders
                .insert((*id).into(), ((*name).into(), role.map(Into::into)));
        }
        Fake { w: Mutex::new(w) }
    }

    fn add(&self, folder: &str, subject: &str) -> String {
        let mut w = self.w.lock().unwrap();
        w.seq += 1;
        w.next_id += 1;
        let id = format!("M{:04}", w.next_id);
        let seq = w.seq;
        w.msgs.insert(
            id.clone(),
            Msg {
                folder: folder.into(),
                subject: subject.into(),
                read: false,
                seq,
            },
        );
        id
    }

    fn set_read(&self, id: &str) {
        let mut w = self.w.lock().unwrap();
        w.seq += 1;
        let seq = w.seq;
        let m = w.msgs.get_mut(id).unwrap();
        m.read = true;
        m.seq = seq;
    }

    fn delete(&self, id: &str) {
        let mut w = self.w.lock().unwrap();
        w.seq += 1;
        let seq = w.seq;
        let m = w.msgs.remove(id).unwrap();
        w.tombs.push((seq, m.folder, id.into()));
    }

    fn move_to(&self, id: &str, folder: &str) {
        let mut w = self.w.lock().unwrap();
        w.seq += 1;
        let seq = w.seq;
        let m = w.msgs.get_mut(id).unwrap();
        let old = std::mem::replace(&mut m.folder, folder.into());
        m.seq = seq;
        w.tombs.push((seq, old, id.into()));
    }

    fn expire_tokens(&self) {
        let mut w = self.w.lock().unwrap();
        w.epoch += 1;
    }

    fn fail_at(&self, n: usize) {
        self.w.lock().unwrap().fail_at = Some(n);
    }

    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut self.w.lock().unwrap().calls)
    }

    /// `(id, folder, subject, read)` of every message, sorted.
    fn state(&self) -> Vec<(String, String, String, bool)> {
        let w = self.w.lock().unwrap();
        w.msgs
            .iter()
            .map(|(id, m)| (id.clone(), m.folder.clone(), m.subject.clone(), m.read))
            .collect()
    }

    fn msg_json(id: &str, m: &Msg) -> Value {
        json!({"id": id, "parentFolderId": m.folder, "subject": m.subject, "isRead": m.read,
               "receivedDateTime": "2024-05-01T10:00:00Z", "changeKey": format!("ck{}", m.seq),
               "from": {"emailAddress": {"name": "Dana", "address": "dana@x.example"}}})
    }

    fn answer(&self, req: &Request) -> Result<Response> {
        let mut w = self.w.lock().unwrap();
        w.calls.push(req.url.clone());
        if let Some(n) = w
            .fail_at
            .filter(|_| req.url.starts_with("https://fake/next"))
        {
            if n <= 1 {
                w.fail_at = None;
                return Err(map_error(
                    400,
                    &HeaderMap::new(),
                    br#"{"error":{"code":"BadRequest","message":"injected"}}"#,
                    "t",
                    None,
                ));
            }
            w.fail_at = Some(n - 1);
        }
        let url = req.url.as_str();
        if url == "//$batch" {
            let Some(crate::graph::Body::Json(body)) = &req.body else {
                panic!("batch without body")
            };
            let mut responses = Vec::new();
            for r in body["requests"].as_array().unwrap() {
                let u = r["url"].as_str().unwrap();
                let name = u
                    .trim_start_matches("/me/mailFolders/")
                    .split('?')
                    .next()
                    .unwrap();
                let hit = w
                    .folders
                    .iter()
                    .find(|(_, (_, role))| role.as_deref() == Some(name));
                responses.push(match hit {
                    Some((id, _)) => json!({"id": r["id"], "status": 200, "body": {"id": id}}),
                    None => json!({"id": r["id"], "status": 404, "body": {"error": {"code": "ErrorItemNotFound"}}}),
                });
            }
            return ok(json!({ "responses": responses }));
        }
        if let Some(name) = url
            .strip_prefix("/mailFolders/")
            .and_then(|r| r.strip_suffix("?$select=id"))
        {
            let hit = w
                .folders
                .iter()
                .find(|(_, (_, role))| role.as_deref() == Some(name));
            return match hit {
                Some((id, _)) => ok(json!({ "id": id })),
                None => Err(map_error(
                    404,
                    &HeaderMap::new(),
                    br#"{"error":{"code":"ErrorItemNotFound","message":"no"}}"#,
                    "t",
                    None,
                )),
            };
        }
        if url.starts_with("/mailFolders/delta") || url.starts_with("https://fake/folders") {
            let value: Vec<Value> = w
                .folders
                .iter()
                .map(|(id, (name, _))| {
                    let total = w.msgs.values().filter(|m| m.folder == *id).count();
                    let unread = w
                        .msgs
                        .values()
                        .filter(|m| m.folder == *id && !m.read)
                        .count();
                    json!({"id": id, "displayName": name, "parentFolderId": "ROOT",
                           "totalItemCount": total, "unreadItemCount": unread, "childFolderCount": 0})
                })
                .collect();
            return ok(
                json!({"value": value, "@odata.deltaLink": format!("https://fake/folders?s={}", w.seq)}),
            );
        }
        // messages: initial, next or delta
        let (folder, offset, since) = if let Some(rest) = url.strip_prefix("/mailFolders/") {
            let f = rest.split('/').next().unwrap().to_owned();
            (f, Some(0usize), None)
        } else if url.starts_with("https://fake/next") {
            if query(url, "g").unwrap().parse::<u64>().unwrap() < w.epoch {
                return Err(gone());
            }
            (
                query(url, "f").unwrap(),
                Some(query(url, "o").unwrap().parse().unwrap()),
                None,
            )
        } else if url.starts_with("https://fake/delta") {
            let s: u64 = query(url, "s").unwrap().parse().unwrap();
            if query(url, "g").unwrap().parse::<u64>().unwrap() < w.epoch {
                return Err(gone());
            }
            (query(url, "f").unwrap(), None, Some(s))
        } else {
            panic!("unexpected url {url}");
        };
        let seq = w.seq;
        match (offset, since) {
            (Some(o), _) => {
                let all: Vec<(&String, &Msg)> =
                    w.msgs.iter().filter(|(_, m)| m.folder == folder).collect();
                let page: Vec<Value> = all
                    .iter()
                    .skip(o)
                    .take(w.page)
                    .map(|(id, m)| Fake::msg_json(id, m))
                    .collect();
                let link = if o + w.page < all.len() {
                    json!({"@odata.nextLink": format!("https://fake/next?f={folder}&o={}&s={seq}&g={}", o + w.page, w.epoch)})
                } else {
                    json!({"@odata.deltaLink": format!("https://fake/delta?f={folder}&s={seq}&g={}", w.epoch)})
                };
                let mut v = link;
                v["value"] = Value::Array(page);
                ok(v)
            }
            (None, Some(s)) => {
                let mut value: Vec<Value> = w
                    .msgs
                    .iter()
                    .filter(|(_, m)| m.folder == folder && m.seq > s)
                    .map(|(id, m)| Fake::msg_json(id, m))
                    .collect();
                for (ts, f, id) in &w.tombs {
                    if *ts > s && *f == folder {
                        value.push(json!({"id": id, "@removed": {"reason": "deleted"}}));
                    }
                }
                ok(
                    json!({"value": value, "@odata.deltaLink": format!("https://fake/delta?f={folder}&s={seq}&g={}", w.epoch)}),
                )
            }
            _ => unreachable!(),
        }
    }
}

fn gone() -> crate::error::Error {
    map_error(
        410,
        &HeaderMap::new(),
        br#"{"error":{"code":"SyncStateNotFound","message":"The sync state generation is not found"}}"#,
        "t",
        None,
    )
}

impl MailApi for Fake {
    fn root(&self) -> &str {
        "/me"
    }

    fn call(&self, req: Request) -> impl std::future::Future<Output = Result<Response>> + Send {
        let r = self.answer(&req);
        async move { r }
    }
}

fn client(dir: &tempfile::TempDir) -> (Client, String) {
    let cfg = json!({
        "store": dir.path().join("s.db").to_str().unwrap(),
        "encryption_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "sync": {"scheduler": false},
    });
    let c = Client::from_json(&cfg.to_string()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let m = rt
        .block_on(
            c.import_mailbox(
                serde_json::from_value(json!({"address": "anna@contoso.example", "users": ["u1"]}))
                    .unwrap(),
            ),
        )
        .unwrap();
    (c, m.id)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The cache as `(id, folder, subject, read)`, sorted.
fn cache(c: &Client, mbx: &str) -> Vec<(String, String, String, bool)> {
    let mut out = Vec::new();
    for f in c.store().cached_folders(mbx).unwrap() {
        let q = crate::store::cache::MessageQuery {
            folder_id: f.id.clone(),
            limit: 100_000,
            ..Default::default()
        };
        for m in c.store().list_cached_messages(mbx, &q).unwrap() {
            out.push((
                m.id,
                m.folder_id,
                m.subject.unwrap_or_default(),
                m.is_read.unwrap_or(false),
            ));
        }
    }
    out.sort();
    out
}

fn german() -> Fake {
    Fake::new(&[
        ("F-IN", "Posteingang", Some("inbox")),
        ("F-SENT", "Gesendete Elemente", Some("sentitems")),
        ("F-OLD", "Gesendete Objekte", None),
        ("F-DEL", "Gelöschte Elemente", Some("deleteditems")),
    ])
}

#[test]
fn delta_reflects_inserts_updates_deletes_and_moves() {
    let dir = tempfile::tempdir().unwrap();
    let (c, mbx) = client(&dir);
    let fake = german();
    let ids: Vec<String> = (0..10)
        .map(|i| fake.add("F-IN", &format!("m{i}")))
        .collect();
    for i in 0..4 {
        fake.add("F-OLD", &format!("old{i}"));
    }
    let rt = rt();
    let r = rt
        .block_on(engine::sync_mailbox(
            &c,
            &fake,
            &mbx,
            SyncOptions::default(),
        ))
        .unwrap();
    assert_eq!(r.status, "ok");
    assert_eq!(cache(&c, &mbx), fake.state());
    let folders = c.store().cached_folders(&mbx).unwrap();
    let inbox = folders.iter().find(|f| f.id == "F-IN").unwrap();
    assert_eq!(
        inbox.well_known.as_deref(),
        Some("inbox"),
        "role by well-known name"
    );
    assert_eq!((inbox.total_count, inbox.unread_count), (10, 10));
    assert!(folders
        .iter()
        .find(|f| f.id == "F-OLD")
        .unwrap()
        .well_known
        .is_none());

    // Outlook-side changes.
    fake.add("F-IN", "new");
    fake.set_read(&ids[0]);
    fake.delete(&ids[1]);
    fake.move_to(&ids[2], "F-SENT");
    fake.move_to(&ids[3], "F-DEL");
    fake.calls();
    let r = rt
        .block_on(engine::sync_mailbox(
            &c,
            &fake,
            &mbx,
            SyncOptions::default(),
        ))
        .unwrap();
    assert_eq!(r.status, "ok");
    assert!(
        fake.calls()
            .iter()
            .all(|u| !u.contains("/messages/delta?$select")),
        "incremental rounds start from the stored delta links"
    );
    assert_eq!(cache(&c, &mbx), fake.state());
    let inbox = c
        .store()
        .cached_folders(&mbx)
        .unwrap()
        .into_iter()
        .find(|f| f.id == "F-IN")
        .unwrap();
    assert_eq!(
        (inbox.total_count, inbox.unread_count),
        (8, 7),
        "counts refreshed"
    );
}

#[test]
fn expired_delta_token_resyncs_without_duplicates_or_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let (c, mbx) = client(&dir);
    let fake = german();
    let ids: Vec<String> = (0..8).map(|i| fake.add("F-IN", &format!("m{i}"))).collect();
    let rt = rt();
    rt.block_on(engine::sync_mailbox(
        &c,
        &fake,
        &mbx,
        SyncOptions::default(),
    ))
    .unwrap();
    fake.delete(&ids[0]);
    fake.set_read(&ids[1]);
    fake.add("F-IN", "late");
    fake.expire_tokens();
    let r = rt
        .block_on(engine::sync_mailbox(
            &c,
            &fake,
            &mbx,
            SyncOptions::default(),
        ))
        .unwrap();
    let inbox = r.folders.iter().find(|f| f.folder_id == "F-IN").unwrap();
    assert!(inbox.recovered_expired_token && inbox.full, "{inbox:?}");
    assert_eq!(
        inbox.swept, 1,
        "the deleted message was swept at the end of the round"
    );
    assert_eq!(cache(&c, &mbx), fake.state());
    assert_eq!(c.store().message_count(&mbx, Some("F-IN")).unwrap(), 8);
}

#[test]
fn failure_mid_round_resumes_at_the_stored_page() {
    let dir = tempfile::tempdir().unwrap();
    let (c, mbx) = client(&dir);
    let fake = Fake::new(&[("F-IN", "Inbox", Some("inbox"))]);
    for i in 0..10 {
        fake.add("F-IN", &format!("m{i}"));
    }
    let rt = rt();
    // The first page is stored, then the request for the second page fails.
    fake.fail_at(1);
    let e = rt
        .block_on(engine::sync_mailbox(
            &c,
            &fake,
            &mbx,
            SyncOptions::default(),
        ))
        .unwrap_err();
    assert_eq!(e.status(), crate::error::status::REMOTE);
    assert_eq!(c.store().message_count(&mbx, Some("F-IN")).unwrap(), 3);
    let st = c.store().sync_state(&mbx, "F-IN").unwrap().unwrap();
    assert!(st.next_link.is_some() && st.last_error.is_some());
    fake.calls();
    rt.block_on(engine::sync_mailbox(
        &c,
        &fake,
        &mbx,
        SyncOptions::default(),
    ))
    .unwrap();
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .any(|u| u.starts_with("https://fake/next") && u.contains("o=3")),
        "resumed at the stored next link: {calls:?}"
    );
    assert!(!calls.iter().any(|u| u.contains("/messages/delta?$select")));
    assert_eq!(cache(&c, &mbx), fake.state());
    let st = c.store().sync_state(&mbx, "F-IN").unwrap().unwrap();
    assert!(st.last_error.is_none() && st.delta_link.is_some());
}

#[test]
fn removal_from_the_old_folder_keeps_a_message_already_filed_under_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (c, mbx) = client(&dir);
    let fake = german();
    let id = fake.add("F-OLD", "x");
    let rt = rt();
    rt.block_on(engine::sync_mailbox(
        &c,
        &fake,
        &mbx,
        SyncOptions::default(),
    ))
    .unwrap();
    fake.move_to(&id, "F-SENT");
    let folders = c.store().cached_folders(&mbx).unwrap();
    let by = |fid: &str| folders.iter().find(|f| f.id == fid).unwrap().clone();
    // Destination first, then the source's @removed.
    for f in ["F-SENT", "F-OLD"] {
        let r = rt.block_on(engine::sync_folder(
            &c,
            &fake,
            &mbx,
            &by(f),
            &SyncOptions::default(),
            "run",
        ));
        assert_eq!(r.status, "ok");
    }
    assert_eq!(cache(&c, &mbx), fake.state());
    assert_eq!(cache(&c, &mbx)[0].1, "F-SENT");
}

#[test]
fn another_holder_of_the_folder_lease_makes_a_background_sync_skip() {
    let dir = tempfile::tempdir().unwrap();
    let (c, mbx) = client(&dir);
    let fake = Fake::new(&[("F-IN", "Inbox", Some("inbox"))]);
    fake.add("F-IN", "a");
    let now = c.now_ms();
    assert!(c
        .store()
        .try_lease(&format!("sync:{mbx}:F-IN"), "other-process", now, 60_000)
        .unwrap());
    let rt = rt();
    let opts = SyncOptions {
        wait_for_lease: false,
        ..Default::default()
    };
    let r = rt
        .block_on(engine::sync_mailbox(&c, &fake, &mbx, opts))
        .unwrap();
    assert_eq!(r.folders[0].status, "busy");
    assert_eq!(c.store().message_count(&mbx, None).unwrap(), 0);
}
