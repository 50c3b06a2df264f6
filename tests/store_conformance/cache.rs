//! `CacheStore`: folder tree, message pages with their delta links, listing, local changes,
//! the change counter, sync health, idle rounds and move jobs.

use crate::fixtures::*;
use o365::store::cache::{
    DeltaLink, FolderPage, IdleRound, MessageOrder, MessagePage, MessageQuery, MessageRow,
    PageWrite,
};
use o365::store::Store;

fn page(upserts: Vec<MessageRow>, removed: &[&str]) -> MessagePage {
    MessagePage {
        upserts,
        removed: removed.iter().map(|r| r.to_string()).collect(),
    }
}

fn next(url: &str) -> DeltaLink {
    DeltaLink::Next(url.to_owned())
}

fn delta(url: &str) -> DeltaLink {
    DeltaLink::Delta(url.to_owned())
}

fn ids_in(s: &dyn Store, m: &str, folder: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .list_cached_messages(
            m,
            &MessageQuery {
                folder_id: folder.to_owned(),
                limit: 1_000,
                ..Default::default()
            },
        )
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    v.sort();
    v
}

fn folders_sorted(s: &dyn Store, m: &str) -> Vec<o365::store::cache::FolderRow> {
    let mut v = s.cached_folders(m).unwrap();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// The scope's round is complete: `delta` stored, no next link, success recorded `at`.
fn assert_round_done(s: &dyn Store, m: &str, scope: &str, delta: &str, at: i64) {
    let st = s.sync_state(m, scope).unwrap().unwrap();
    assert_eq!(
        (st.delta_link.as_deref(), st.next_link.as_deref()),
        (Some(delta), None),
        "{scope}"
    );
    assert_eq!(st.last_success_at, Some(at), "{scope}: success recorded");
}

pub fn folder_delta_applies_and_replaces(s: &dyn Store) {
    add_mailbox(s, "m1");
    assert!(s.cached_folders("m1").unwrap().is_empty());
    let inbox = folder("inbox", Some("inbox"));
    let sent = folder("sent", Some("sentitems"));
    let x = folder("x", None);
    s.apply_folder_delta(
        "m1",
        &FolderPage {
            upserts: vec![inbox.clone(), sent.clone(), x.clone()],
            removed: vec![],
        },
        "https://graph/folders?d=1",
        true,
        1_000,
    )
    .unwrap();
    assert_eq!(
        folders_sorted(s, "m1"),
        vec![inbox.clone(), sent.clone(), x.clone()]
    );
    assert_round_done(s, "m1", "folders", "https://graph/folders?d=1", 1_000);
    // Messages of a folder that goes away must not linger under it.
    s.apply_message_page(
        "m1",
        "sent",
        &page(vec![message("s1", "sent", 10)], &[]),
        &delta("https://graph/sent?d=1"),
        1_000,
    )
    .unwrap();
    // An incremental round: changes and removals only; the rest stays.
    let mut x2 = x.clone();
    x2.display_name = "Renamed".into();
    x2.unread_count = 7;
    s.apply_folder_delta(
        "m1",
        &FolderPage {
            upserts: vec![x2.clone()],
            removed: vec!["sent".into()],
        },
        "https://graph/folders?d=2",
        false,
        2_000,
    )
    .unwrap();
    assert_eq!(folders_sorted(s, "m1"), vec![inbox.clone(), x2.clone()]);
    assert_eq!(s.message_count("m1", Some("sent")).unwrap(), 0);
    assert_eq!(
        s.sync_state("m1", "folders")
            .unwrap()
            .unwrap()
            .delta_link
            .as_deref(),
        Some("https://graph/folders?d=2")
    );
    // A full round drops what it did not list; a kept folder keeps its role even when the
    // round does not carry it (delta rounds have no wellKnownName).
    let mut inbox_again = inbox.clone();
    inbox_again.well_known = None;
    inbox_again.total_count = 9;
    let y = folder("y", None);
    s.apply_folder_delta(
        "m1",
        &FolderPage {
            upserts: vec![inbox_again, y.clone()],
            removed: vec![],
        },
        "https://graph/folders?d=3",
        true,
        3_000,
    )
    .unwrap();
    let mut inbox_kept = inbox.clone();
    inbox_kept.total_count = 9;
    assert_eq!(folders_sorted(s, "m1"), vec![inbox_kept, y]);
    // Another mailbox's tree is its own.
    add_mailbox(s, "m2");
    assert!(s.cached_folders("m2").unwrap().is_empty());
}

pub fn folder_roles_and_counts(s: &dyn Store) {
    add_mailbox(s, "m1");
    s.apply_folder_delta(
        "m1",
        &FolderPage {
            upserts: vec![
                folder("a", Some("inbox")),
                folder("b", None),
                folder("c", Some("archive")),
            ],
            removed: vec![],
        },
        "https://graph/folders?d=1",
        true,
        1_000,
    )
    .unwrap();
    s.set_folder_roles(
        "m1",
        &[
            ("b".into(), "inbox".into()),
            ("c".into(), "sentitems".into()),
        ],
    )
    .unwrap();
    let roles: Vec<(String, Option<String>)> = folders_sorted(s, "m1")
        .into_iter()
        .map(|f| (f.id, f.well_known))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("a".to_owned(), None),
            ("b".to_owned(), Some("inbox".to_owned())),
            ("c".to_owned(), Some("sentitems".to_owned())),
        ],
        "roles are set, and cleared elsewhere"
    );
    // folder() has unread 2, total 5.
    s.adjust_folder_counts("m1", "b", -1, 0).unwrap();
    s.adjust_folder_counts("m1", "c", 1, 1).unwrap();
    let counts: Vec<(i64, i64)> = folders_sorted(s, "m1")
        .into_iter()
        .map(|f| (f.unread_count, f.total_count))
        .collect();
    assert_eq!(counts, [(2, 5), (1, 5), (3, 6)]);
    s.adjust_folder_counts("m1", "nope", 1, 1).unwrap();
}

pub fn message_pages_are_idempotent_and_removals_name_the_folder(s: &dyn Store) {
    add_mailbox(s, "m1");
    let p1 = page(
        vec![message("a", "inbox", 100), message("b", "inbox", 200)],
        &[],
    );
    let out = s
        .apply_message_page("m1", "inbox", &p1, &next("https://graph/inbox?n=1"), 1_000)
        .unwrap();
    assert_eq!((out.upserted, out.removed, out.round_items), (2, 0, 2));
    assert_eq!(
        s.sync_state("m1", "inbox").unwrap().unwrap().resume_link(),
        Some("https://graph/inbox?n=1"),
        "the link is stored with the page"
    );
    // The same page again (a crash before the caller saw the answer): no doubles.
    s.apply_message_page("m1", "inbox", &p1, &next("https://graph/inbox?n=1"), 1_001)
        .unwrap();
    assert_eq!(s.message_count("m1", Some("inbox")).unwrap(), 2);
    assert_eq!(s.message_count("m1", None).unwrap(), 2);
    // b moved to archive, and archive's page came first.
    s.apply_message_page(
        "m1",
        "archive",
        &page(vec![message("b", "archive", 200)], &[]),
        &delta("https://graph/archive?d=1"),
        1_100,
    )
    .unwrap();
    assert_eq!(s.message_count("m1", None).unwrap(), 2, "moved, not copied");
    // Then inbox reports b (and a) removed: only a, still filed under inbox, goes.
    let out = s
        .apply_message_page(
            "m1",
            "inbox",
            &page(vec![], &["a", "b", "never-seen"]),
            &delta("https://graph/inbox?d=1"),
            1_200,
        )
        .unwrap();
    assert_eq!(out.removed, 1);
    assert_eq!(ids_in(s, "m1", "inbox"), Vec::<String>::new());
    assert_eq!(ids_in(s, "m1", "archive"), ["b"]);
    // The last page of a round records success.
    assert_round_done(s, "m1", "inbox", "https://graph/inbox?d=1", 1_200);
    // The same message id in another mailbox is another message.
    add_mailbox(s, "m2");
    s.apply_message_page(
        "m2",
        "inbox",
        &page(vec![message("b", "inbox", 300)], &[]),
        &delta("https://graph/m2?d=1"),
        1_300,
    )
    .unwrap();
    assert_eq!(ids_in(s, "m1", "archive"), ["b"]);
    assert_eq!(s.message_count("m2", None).unwrap(), 1);
}

pub fn partial_updates_keep_stored_values(s: &dyn Store) {
    add_mailbox(s, "m1");
    let full = message("a", "inbox", 100);
    s.apply_message_page(
        "m1",
        "inbox",
        &page(vec![full.clone()], &[]),
        &delta("https://graph/d1"),
        1_000,
    )
    .unwrap();
    s.store_message_body("m1", "a", "<p>Hallo</p>", "html", "[]")
        .unwrap();
    // A delta update carrying only the read flag (and the same change key).
    let partial = MessageRow {
        id: "a".into(),
        folder_id: "inbox".into(),
        is_read: Some(true),
        change_key: full.change_key.clone(),
        ..Default::default()
    };
    s.apply_message_page(
        "m1",
        "inbox",
        &page(vec![partial], &[]),
        &delta("https://graph/d2"),
        2_000,
    )
    .unwrap();
    let got = s.cached_message("m1", "a").unwrap().unwrap();
    let mut want = full.clone();
    want.is_read = Some(true);
    assert_eq!(got.meta, want, "absent properties keep their stored values");
    assert_eq!(
        got.body.as_deref(),
        Some("<p>Hallo</p>"),
        "same change key: the body stays"
    );
    // A new change key means the message changed: the cached body may be stale.
    let changed = MessageRow {
        id: "a".into(),
        folder_id: "inbox".into(),
        subject: Some("Neu".into()),
        change_key: Some("ck-a-2".into()),
        ..Default::default()
    };
    s.upsert_message("m1", &changed, 3_000).unwrap();
    let got = s.cached_message("m1", "a").unwrap().unwrap();
    assert_eq!(got.meta.subject.as_deref(), Some("Neu"));
    assert_eq!(got.meta.from_address, full.from_address);
    assert_eq!(
        (got.body, got.body_type, got.attachments_json),
        (None, None, None)
    );
}

pub fn full_round_sweeps_what_it_did_not_see(s: &dyn Store) {
    add_mailbox(s, "m1");
    s.apply_message_page(
        "m1",
        "inbox",
        &page(
            vec![
                message("a", "inbox", 1),
                message("b", "inbox", 2),
                message("c", "inbox", 3),
            ],
            &[],
        ),
        &delta("https://graph/inbox?d=1"),
        1_000,
    )
    .unwrap();
    s.apply_message_page(
        "m1",
        "archive",
        &page(vec![message("z", "archive", 4)], &[]),
        &delta("https://graph/archive?d=1"),
        1_000,
    )
    .unwrap();
    // The delta token expired: a full round, with the old rows kept until it ends.
    let st = s.begin_full_round("m1", "inbox").unwrap();
    assert!(st.round_full);
    assert_eq!(
        (st.delta_link, st.next_link, st.round_items),
        (None, None, 0)
    );
    assert_eq!(
        s.sync_state("m1", "inbox").unwrap().unwrap().resume_link(),
        None
    );
    let out = s
        .apply_message_page(
            "m1",
            "inbox",
            &page(vec![message("a", "inbox", 1)], &[]),
            &next("https://graph/inbox?n=1"),
            2_000,
        )
        .unwrap();
    assert_eq!((out.swept, out.round_items), (0, 1));
    assert_eq!(
        s.message_count("m1", Some("inbox")).unwrap(),
        3,
        "nothing swept mid-round"
    );
    let out = s
        .apply_message_page(
            "m1",
            "inbox",
            &page(
                vec![message("c", "inbox", 3), message("d", "inbox", 5)],
                &[],
            ),
            &delta("https://graph/inbox?d=2"),
            3_000,
        )
        .unwrap();
    assert_eq!((out.upserted, out.swept, out.round_items), (2, 1, 3));
    assert_eq!(
        ids_in(s, "m1", "inbox"),
        ["a", "c", "d"],
        "b was not seen: gone; none doubled"
    );
    assert_eq!(
        ids_in(s, "m1", "archive"),
        ["z"],
        "other folders are not swept"
    );
    let st = s.sync_state("m1", "inbox").unwrap().unwrap();
    assert!(!st.round_full);
    assert_eq!(
        (st.delta_link.as_deref(), st.next_link, st.round_items),
        (Some("https://graph/inbox?d=2"), None, 0)
    );
    assert_eq!(st.last_success_at, Some(3_000));
    // An incremental round after it sweeps nothing.
    let out = s
        .apply_message_page(
            "m1",
            "inbox",
            &page(vec![], &[]),
            &delta("https://graph/inbox?d=3"),
            4_000,
        )
        .unwrap();
    assert_eq!(out.swept, 0);
    assert_eq!(s.message_count("m1", Some("inbox")).unwrap(), 3);
}

fn w<'a>(
    mailbox_id: &'a str,
    fetched_from: Option<&'a str>,
    page: &'a MessagePage,
    link: &'a DeltaLink,
) -> PageWrite<'a> {
    PageWrite {
        mailbox_id,
        folder_id: "inbox",
        fetched_from,
        page,
        link,
        now: 1_000,
    }
}

pub fn pages_apply_only_from_the_stored_resume_link(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    let p_a = page(vec![message("a", "inbox", 1)], &[]);
    let p_b = page(vec![message("b", "inbox", 2)], &[]);
    let p_c = page(vec![message("c", "inbox", 3)], &[]);
    let p_x = page(vec![message("x", "inbox", 4)], &[]);
    let n1 = next("https://graph/inbox?n=1");
    let n2 = next("https://graph/inbox?n=2");
    let d1 = delta("https://graph/inbox?d=1");
    // First page of a first round (no stored link), and a page claiming a link never stored.
    let out = s
        .apply_message_pages(&[
            w("m1", None, &p_a, &n1),
            w("m2", Some("https://graph/bogus"), &p_x, &d1),
        ])
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].as_ref().unwrap().upserted, 1);
    assert!(out[1].is_err(), "m2 has no such link stored");
    assert_eq!(
        s.message_count("m2", None).unwrap(),
        0,
        "a refused page leaves nothing"
    );
    assert_eq!(
        s.sync_state("m2", "inbox")
            .unwrap()
            .and_then(|s| s.resume_link().map(str::to_owned)),
        None
    );
    // One batch: the next page (ok), a second fetch of the same page (stale now: refused,
    // not applied twice), and another mailbox's first page (ok, not undone by the refusal).
    let out = s
        .apply_message_pages(&[
            w("m1", Some("https://graph/inbox?n=1"), &p_b, &n2),
            w("m1", Some("https://graph/inbox?n=1"), &p_c, &d1),
            w("m2", None, &p_x, &d1),
        ])
        .unwrap();
    assert!(out[0].is_ok());
    assert!(out[1].is_err(), "the folder moved on from n=1");
    assert!(out[2].is_ok());
    assert_eq!(
        ids_in(s, "m1", "inbox"),
        ["a", "b"],
        "the refused page's message is absent"
    );
    assert_eq!(
        s.sync_state("m1", "inbox").unwrap().unwrap().resume_link(),
        Some("https://graph/inbox?n=2")
    );
    assert_eq!(ids_in(s, "m2", "inbox"), ["x"]);
    // The round goes on from the stored link; once complete, the delta link is the resume link.
    let out = s
        .apply_message_pages(&[w("m1", Some("https://graph/inbox?n=2"), &p_c, &d1)])
        .unwrap();
    assert_eq!(out[0].as_ref().unwrap().round_items, 3);
    let st = s.sync_state("m1", "inbox").unwrap().unwrap();
    assert_eq!(st.resume_link(), Some("https://graph/inbox?d=1"));
    assert_eq!(st.last_success_at, Some(1_000));
    assert!(
        s.apply_message_pages(&[w("m1", None, &p_x, &d1)]).unwrap()[0].is_err(),
        "None is only right before any link"
    );
    let out = s
        .apply_message_pages(&[w(
            "m1",
            Some("https://graph/inbox?d=1"),
            &p_x,
            &delta("https://graph/inbox?d=2"),
        )])
        .unwrap();
    assert!(out[0].is_ok());
    assert_eq!(ids_in(s, "m1", "inbox"), ["a", "b", "c", "x"]);
    assert!(s.apply_message_pages(&[]).unwrap().is_empty());
}

pub fn list_cached_messages_pages_filters_and_orders(s: &dyn Store) {
    add_mailbox(s, "m1");
    let mut rows = Vec::new();
    for (id, at, read, subject, from) in [
        (
            "m-a",
            100,
            true,
            "Angebot Projekt",
            "kunde@fabrikam.example",
        ),
        (
            "m-b",
            200,
            false,
            "Rechnung",
            "buchhaltung@fabrikam.example",
        ),
        ("m-c", 200, false, "Termin", "Chef@Contoso.example"),
        ("m-d", 300, true, "ANGEBOT final", "kunde@fabrikam.example"),
        ("m-e", 400, false, "Hallo", "x@y.example"),
    ] {
        let mut r = message(id, "inbox", at);
        r.is_read = Some(read);
        r.subject = Some(subject.into());
        r.from_address = Some(from.into());
        r.from_name = Some(format!("Name {id}"));
        rows.push(r);
    }
    let mut elsewhere = message("m-z", "archive", 250);
    elsewhere.subject = Some("Angebot alt".into());
    rows.push(elsewhere);
    s.apply_message_page(
        "m1",
        "inbox",
        &page(rows, &[]),
        &delta("https://graph/d"),
        1_000,
    )
    .unwrap();
    let q = |order,
             unread_only,
             search: Option<&str>,
             after: Option<(i64, &str)>,
             limit|
     -> Vec<String> {
        s.list_cached_messages(
            "m1",
            &MessageQuery {
                folder_id: "inbox".into(),
                order,
                unread_only,
                search: search.map(str::to_owned),
                after: after.map(|(t, id)| (t, id.to_owned())),
                limit,
            },
        )
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
    };
    use MessageOrder::{NewestFirst as New, OldestFirst as Old};
    // Ties on received_at are broken by id, so paging never skips or repeats one.
    assert_eq!(
        q(New, false, None, None, 10),
        ["m-e", "m-d", "m-c", "m-b", "m-a"]
    );
    assert_eq!(
        q(Old, false, None, None, 10),
        ["m-a", "m-b", "m-c", "m-d", "m-e"]
    );
    assert_eq!(q(New, false, None, None, 2), ["m-e", "m-d"]);
    assert_eq!(q(New, false, None, Some((300, "m-d")), 2), ["m-c", "m-b"]);
    assert_eq!(q(New, false, None, Some((200, "m-c")), 2), ["m-b", "m-a"]);
    assert_eq!(
        q(Old, false, None, Some((200, "m-b")), 10),
        ["m-c", "m-d", "m-e"]
    );
    assert_eq!(q(New, true, None, None, 10), ["m-e", "m-c", "m-b"]);
    // Search: case-insensitive substring of subject, sender name or address; one folder.
    assert_eq!(q(New, false, Some("angebot"), None, 10), ["m-d", "m-a"]);
    assert_eq!(q(New, false, Some("chef@contoso"), None, 10), ["m-c"]);
    assert_eq!(q(New, false, Some("NAME M-B"), None, 10), ["m-b"]);
    assert_eq!(
        q(New, true, Some("angebot"), None, 10),
        Vec::<String>::new()
    );
    assert_eq!(
        q(New, false, Some("nothing"), None, 10),
        Vec::<String>::new()
    );
    // Whole rows come back.
    let got = s
        .list_cached_messages(
            "m1",
            &MessageQuery {
                folder_id: "archive".into(),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    let mut want = message("m-z", "archive", 250);
    want.subject = Some("Angebot alt".into());
    assert_eq!(got, vec![want]);
}

pub fn message_read_remove_and_body(s: &dyn Store) {
    add_mailbox(s, "m1");
    let m = message("a", "inbox", 100);
    s.apply_message_page(
        "m1",
        "inbox",
        &page(vec![m.clone()], &[]),
        &delta("https://graph/d"),
        1_000,
    )
    .unwrap();
    assert_eq!(s.cached_message("m1", "nope").unwrap(), None);
    assert_eq!(s.cached_message("m2", "a").unwrap(), None, "per mailbox");
    let got = s.cached_message("m1", "a").unwrap().unwrap();
    assert_eq!((got.meta, got.body), (m.clone(), None));
    s.store_message_body("m1", "a", "Hallo", "text", r#"[{"name":"a.pdf"}]"#)
        .unwrap();
    let got = s.cached_message("m1", "a").unwrap().unwrap();
    assert_eq!(got.body.as_deref(), Some("Hallo"));
    assert_eq!(got.body_type.as_deref(), Some("text"));
    assert_eq!(
        got.attachments_json.as_deref(),
        Some(r#"[{"name":"a.pdf"}]"#)
    );
    s.store_message_body("m1", "nope", "x", "text", "[]")
        .unwrap();
    assert_eq!(
        s.cached_message("m1", "nope").unwrap(),
        None,
        "no row made up"
    );
    // Read flag: returns the folder and the flag before.
    assert_eq!(
        s.set_message_read("m1", "a", true).unwrap(),
        Some(("inbox".into(), false))
    );
    assert_eq!(
        s.set_message_read("m1", "a", true).unwrap(),
        Some(("inbox".into(), true))
    );
    assert_eq!(
        s.cached_message("m1", "a").unwrap().unwrap().meta.is_read,
        Some(true)
    );
    assert_eq!(s.set_message_read("m1", "nope", true).unwrap(), None);
    // Remove: returns the folder and read flag, once.
    assert_eq!(
        s.remove_message("m1", "a").unwrap(),
        Some(("inbox".into(), true))
    );
    assert_eq!(s.remove_message("m1", "a").unwrap(), None);
    assert_eq!(s.cached_message("m1", "a").unwrap(), None);
    assert_eq!(s.message_count("m1", None).unwrap(), 0);
    // upsert_message outside a round: insert, then update in place (a move).
    s.upsert_message("m1", &m, 2_000).unwrap();
    let moved = MessageRow {
        folder_id: "archive".into(),
        ..m.clone()
    };
    s.upsert_message("m1", &moved, 2_100).unwrap();
    assert_eq!(s.message_count("m1", None).unwrap(), 1);
    assert_eq!(s.message_count("m1", Some("inbox")).unwrap(), 0);
    assert_eq!(s.cached_message("m1", "a").unwrap().unwrap().meta, moved);
}

pub fn clear_cache_keeps_move_jobs(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    for m in ["m1", "m2"] {
        s.apply_folder_delta(
            m,
            &FolderPage {
                upserts: vec![folder("inbox", Some("inbox"))],
                removed: vec![],
            },
            "https://graph/f",
            true,
            1_000,
        )
        .unwrap();
        s.apply_message_page(
            m,
            "inbox",
            &page(vec![message("a", "inbox", 1)], &[]),
            &delta("https://graph/d"),
            1_000,
        )
        .unwrap();
        s.open_move_job(m, &move_job("j1", "inbox", "archive", 1_000))
            .unwrap();
    }
    s.clear_cache("m1").unwrap();
    assert!(s.cached_folders("m1").unwrap().is_empty());
    assert_eq!(s.message_count("m1", None).unwrap(), 0);
    assert!(
        s.sync_states("m1").unwrap().is_empty(),
        "delta state gone: the next sync is full"
    );
    assert!(s.move_job("m1", "j1").unwrap().is_some(), "move jobs stay");
    assert!(s.find_mailbox("m1").unwrap().is_some(), "the mailbox stays");
    assert_eq!(
        s.cached_folders("m2").unwrap().len(),
        1,
        "other mailboxes untouched"
    );
    assert_eq!(s.message_count("m2", None).unwrap(), 1);
    assert_eq!(s.sync_states("m2").unwrap().len(), 2);
}

pub fn cache_version_bumps_on_changes(s: &dyn Store) {
    let mut m1 = add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    s.record_sync_success("m2", "folders", 1).unwrap();
    let other = s.cache_version("m2").unwrap();
    assert!(other.is_some());
    let mut last = s.cache_version("m1").unwrap();
    let mut bumped = |what: &str| {
        let now = s.cache_version("m1").unwrap();
        assert!(now.is_some() && now > last, "{what}: {last:?} -> {now:?}");
        last = now;
    };
    let fp = FolderPage {
        upserts: vec![folder("inbox", Some("inbox")), folder("b", None)],
        removed: vec![],
    };
    s.apply_folder_delta("m1", &fp, "https://graph/f", true, 1_000)
        .unwrap();
    bumped("apply_folder_delta");
    s.set_folder_roles("m1", &[("b".into(), "archive".into())])
        .unwrap();
    bumped("set_folder_roles");
    s.adjust_folder_counts("m1", "inbox", 1, 1).unwrap();
    bumped("adjust_folder_counts");
    s.apply_message_page(
        "m1",
        "inbox",
        &page(vec![message("a", "inbox", 1)], &[]),
        &delta("https://graph/d1"),
        1_000,
    )
    .unwrap();
    bumped("apply_message_page");
    let p = page(vec![message("b", "inbox", 2)], &[]);
    let link = delta("https://graph/d2");
    s.apply_message_pages(&[PageWrite {
        mailbox_id: "m1",
        folder_id: "inbox",
        fetched_from: Some("https://graph/d1"),
        page: &p,
        link: &link,
        now: 1_100,
    }])
    .unwrap()
    .remove(0)
    .unwrap();
    bumped("apply_message_pages");
    let n = s
        .record_idle_rounds(
            "m1",
            &[IdleRound {
                folder_id: "inbox".into(),
                probed: "https://graph/d2".into(),
                delta_link: "https://graph/d3".into(),
            }],
            1_200,
        )
        .unwrap();
    assert_eq!(n, 1);
    bumped("record_idle_rounds");
    s.upsert_message("m1", &message("c", "inbox", 3), 1_300)
        .unwrap();
    bumped("upsert_message");
    s.set_message_read("m1", "c", true).unwrap();
    bumped("set_message_read");
    s.remove_message("m1", "c").unwrap();
    bumped("remove_message");
    s.record_sync_success("m1", "inbox", 1_400).unwrap();
    bumped("record_sync_success");
    s.begin_full_round("m1", "inbox").unwrap();
    bumped("begin_full_round");
    m1.users.push("u9".into());
    m1.updated_at = 1_500;
    s.update_mailbox(&m1).unwrap();
    bumped("update_mailbox (users)");
    s.clear_cache("m1").unwrap();
    bumped("clear_cache");
    assert_eq!(
        s.cache_version("m2").unwrap(),
        other,
        "another mailbox's counter did not move"
    );
    assert!(s.delete_mailbox("m1").unwrap());
    assert_eq!(
        s.cache_version("m1").unwrap(),
        None,
        "removed mailbox: None"
    );
}

pub fn sync_success_and_error(s: &dyn Store) {
    add_mailbox(s, "m1");
    assert_eq!(s.sync_state("m1", "inbox").unwrap(), None);
    assert!(s.sync_states("m1").unwrap().is_empty());
    s.record_sync_success("m1", "inbox", 1_000).unwrap();
    s.record_sync_error("m1", "inbox", "throttled", "429 from Graph", 2_000)
        .unwrap();
    let st = s.sync_state("m1", "inbox").unwrap().unwrap();
    assert_eq!(st.scope, "inbox");
    assert_eq!(
        st.last_success_at,
        Some(1_000),
        "an error keeps the last success"
    );
    assert_eq!(
        (
            st.last_error.as_deref(),
            st.last_error_kind.as_deref(),
            st.last_error_at
        ),
        (Some("429 from Graph"), Some("throttled"), Some(2_000))
    );
    s.record_sync_error("m1", "folders", "network", "connection reset", 2_100)
        .unwrap();
    s.record_sync_success("m1", "inbox", 3_000).unwrap();
    let st = s.sync_state("m1", "inbox").unwrap().unwrap();
    assert_eq!(st.last_success_at, Some(3_000));
    assert_eq!(
        (st.last_error, st.last_error_kind, st.last_error_at),
        (None, None, None),
        "success clears the error"
    );
    let mut scopes: Vec<(String, Option<String>)> = s
        .sync_states("m1")
        .unwrap()
        .into_iter()
        .map(|st| (st.scope, st.last_error_kind))
        .collect();
    scopes.sort();
    assert_eq!(
        scopes,
        vec![
            ("folders".to_owned(), Some("network".to_owned())),
            ("inbox".to_owned(), None)
        ]
    );
    // A message round's last page clears an error as well.
    s.record_sync_error("m1", "inbox", "remote", "500", 3_100)
        .unwrap();
    s.apply_message_page(
        "m1",
        "inbox",
        &page(vec![], &[]),
        &delta("https://graph/d"),
        3_200,
    )
    .unwrap();
    let st = s.sync_state("m1", "inbox").unwrap().unwrap();
    assert_eq!((st.last_error, st.last_success_at), (None, Some(3_200)));
}

pub fn idle_rounds_only_move_unchanged_links(s: &dyn Store) {
    add_mailbox(s, "m1");
    for f in ["a", "b", "c"] {
        s.apply_message_page(
            "m1",
            f,
            &page(vec![], &[]),
            &delta(&format!("https://graph/{f}?d=1")),
            1_000,
        )
        .unwrap();
    }
    // c is in the middle of a round (a next link): an idle answer must not end it.
    s.apply_message_page(
        "m1",
        "c",
        &page(vec![message("x", "c", 1)], &[]),
        &next("https://graph/c?n=1"),
        1_100,
    )
    .unwrap();
    s.record_sync_error("m1", "a", "network", "reset", 1_150)
        .unwrap();
    let round = |f: &str, probed: &str, to: &str| IdleRound {
        folder_id: f.into(),
        probed: probed.into(),
        delta_link: to.into(),
    };
    let n = s
        .record_idle_rounds(
            "m1",
            &[
                round("a", "https://graph/a?d=1", "https://graph/a?d=2"),
                round("b", "https://graph/b?d=0", "https://graph/b?d=9"),
                round("c", "https://graph/c?d=1", "https://graph/c?d=2"),
                round("nope", "https://graph/nope?d=1", "https://graph/nope?d=2"),
            ],
            2_000,
        )
        .unwrap();
    assert_eq!(n, 1, "only a still had the probed link");
    let a = s.sync_state("m1", "a").unwrap().unwrap();
    assert_eq!(
        (a.delta_link.as_deref(), a.last_success_at, a.last_error),
        (Some("https://graph/a?d=2"), Some(2_000), None)
    );
    let b = s.sync_state("m1", "b").unwrap().unwrap();
    assert_eq!(
        (b.delta_link.as_deref(), b.last_success_at),
        (Some("https://graph/b?d=1"), Some(1_000)),
        "another process moved b on"
    );
    let c = s.sync_state("m1", "c").unwrap().unwrap();
    assert_eq!(
        c.resume_link(),
        Some("https://graph/c?n=1"),
        "c's round goes on"
    );
    assert_eq!(
        s.sync_state("m1", "nope").unwrap(),
        None,
        "no state made up"
    );
    assert_eq!(s.record_idle_rounds("m1", &[], 3_000).unwrap(), 0);
}

pub fn move_jobs_resume_and_count(s: &dyn Store) {
    add_mailbox(s, "m1");
    assert_eq!(s.move_job("m1", "j1").unwrap(), None);
    let j1 = s
        .open_move_job("m1", &move_job("j1", "inbox", "archive", 1_000))
        .unwrap();
    assert_eq!(j1, move_job("j1", "inbox", "archive", 1_000));
    // Asked again for the same move (a retried call, another process): the running job.
    let again = s
        .open_move_job("m1", &move_job("j2", "inbox", "archive", 1_100))
        .unwrap();
    assert_eq!(again, j1);
    assert_eq!(s.move_job("m1", "j2").unwrap(), None, "no second job");
    let other = s
        .open_move_job("m1", &move_job("j3", "inbox", "trash", 1_200))
        .unwrap();
    assert_eq!(other.id, "j3");
    let j = s
        .update_move_job("m1", "j1", 4, Some(12), None, Some("throttled"), 1_300)
        .unwrap();
    assert_eq!(
        (
            j.moved,
            j.total,
            j.state.as_str(),
            j.last_error.as_deref(),
            j.updated_at
        ),
        (4, 12, "running", Some("throttled"), 1_300)
    );
    let j = s
        .update_move_job("m1", "j1", 8, None, Some("done"), None, 1_400)
        .unwrap();
    assert_eq!(
        (j.moved, j.total, j.state.as_str(), j.last_error.as_deref()),
        (12, 12, "done", None)
    );
    assert_eq!(s.move_job("m1", "j1").unwrap(), Some(j));
    let running: Vec<String> = s
        .running_move_jobs("m1")
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(running, ["j3"]);
    // Once done, the same move may run again as a new job.
    let next_job = s
        .open_move_job("m1", &move_job("j4", "inbox", "archive", 1_500))
        .unwrap();
    assert_eq!(next_job.id, "j4");
    assert!(s
        .update_move_job("m1", "nope", 1, None, None, None, 1_600)
        .is_err());
    add_mailbox(s, "m2");
    assert!(s.running_move_jobs("m2").unwrap().is_empty());
}
