//! Strings with U+0000 (and U+0001, the PostgreSQL backend's escape character) round-trip
//! exactly through every area that stores host- or Graph-supplied strings: PostgreSQL TEXT
//! cannot hold U+0000 and JSONB refuses `\u0000`, so that backend escapes them
//! (src/store/postgres/text.rs); SQLite stores them as they are. Also: a message page that
//! names one message twice ends as if written row by row (the PostgreSQL backend writes a
//! page in batches).

use crate::fixtures::*;
use o365::store::cache::{DeltaLink, FolderPage, MessagePage, MessageQuery, MessageRow};
use o365::store::links::LinkAccess;
use o365::store::outbox::{Insert, OutboxUpdate};
use o365::store::{AuditEntry, Store};
use serde_json::json;

/// A string with NUL at the start, inside and at the end, and the escape characters.
fn nul(s: &str) -> String {
    format!("\0{s}\0mit\u{1}NUL\u{1}\u{1}\u{2}\0")
}

fn nul_message(id: &str, folder: &str, received_at: i64) -> MessageRow {
    MessageRow {
        id: id.to_owned(),
        folder_id: folder.to_owned(),
        internet_message_id: Some(format!("<{id}\0@fabrikam.example>")),
        conversation_id: Some(nul("conv")),
        subject: Some(format!("Angebot {id}{}", nul(""))),
        from_name: Some(nul("Kunde")),
        from_address: Some(nul("kunde@fabrikam.example")),
        recipients_json: Some(json!({"to": [nul("a@contoso.example")]}).to_string()),
        importance: Some(nul("normal")),
        flag: Some(nul("flagged")),
        categories_json: Some(format!("[\"{}\"]", nul("Rot"))),
        body_preview: Some(nul("Vorschau")),
        change_key: Some(nul("ck")),
        ..message(id, folder, received_at)
    }
}

fn folder_page(ids: &[(&str, Option<&str>)]) -> FolderPage {
    FolderPage {
        upserts: ids
            .iter()
            .map(|(id, wk)| o365::store::cache::FolderRow {
                display_name: nul(&format!("Ordner {id}")),
                parent_id: Some(nul("root")),
                ..folder(id, *wk)
            })
            .collect(),
        removed: vec![],
    }
}

pub fn messages_and_folders_with_nul_round_trip(s: &dyn Store) {
    add_mailbox(s, "m1");
    let folders = folder_page(&[("inbox", Some("inbox")), ("sent", Some("sentitems"))]);
    s.apply_folder_delta("m1", &folders, &nul("https://graph/f?d=1"), true, 1_000)
        .unwrap();
    let mut got = s.cached_folders("m1").unwrap();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(got, folders.upserts);

    let a = nul_message("a", "inbox", 100);
    let b = nul_message("b", "inbox", 200);
    let link = DeltaLink::Delta(nul("https://graph/inbox?d=1"));
    let page = MessagePage {
        upserts: vec![a.clone(), b.clone()],
        removed: vec![],
    };
    let out = s
        .apply_message_page("m1", "inbox", &page, &link, 1_000)
        .unwrap();
    assert_eq!(out.upserted, 2);
    let st = s.sync_state("m1", "inbox").unwrap().unwrap();
    assert_eq!(st.delta_link, Some(nul("https://graph/inbox?d=1")));
    let listed = s
        .list_cached_messages(
            "m1",
            &MessageQuery {
                folder_id: "inbox".into(),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(listed, vec![b.clone(), a.clone()], "newest first, exact");
    // A search term matches a subject that holds NUL.
    let found = s
        .list_cached_messages(
            "m1",
            &MessageQuery {
                folder_id: "inbox".into(),
                search: Some("angebot a".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(found, vec![a.clone()]);
    let body = nul("<p>Hallo</p>");
    let attachments = json!([{"name": nul("a.pdf")}]).to_string();
    s.store_message_body("m1", "a", &body, "html", &attachments)
        .unwrap();
    let got = s.cached_message("m1", "a").unwrap().unwrap();
    assert_eq!(got.meta, a);
    assert_eq!(got.body, Some(body));
    assert_eq!(got.attachments_json, Some(attachments));

    // A partial update keeps the stored NUL values; the error text of a failed round too.
    let partial = MessageRow {
        id: "a".into(),
        folder_id: "inbox".into(),
        is_read: Some(true),
        ..Default::default()
    };
    s.upsert_message("m1", &partial, 2_000).unwrap();
    let got = s.cached_message("m1", "a").unwrap().unwrap().meta;
    assert_eq!(got.subject, a.subject);
    assert_eq!(got.is_read, Some(true));
    s.record_sync_error("m1", "inbox", "graph", &nul("kaputt"), 3_000)
        .unwrap();
    let st = s.sync_state("m1", "inbox").unwrap().unwrap();
    assert_eq!(st.last_error, Some(nul("kaputt")));

    // Sent Items mail with NUL becomes an activity candidate as it is, and is decided once.
    let sent = nul_message("s1", "sent", 5_010);
    s.apply_message_page(
        "m1",
        "sent",
        &MessagePage {
            upserts: vec![sent.clone()],
            removed: vec![],
        },
        &DeltaLink::Delta("https://graph/sent?d=1".into()),
        1_000,
    )
    .unwrap();
    let cands = s.activity_candidates("m1", 0, 10).unwrap();
    assert_eq!(cands, vec![candidate_of(&sent)]);
    let imid = sent.internet_message_id.clone().unwrap();
    assert!(s
        .record_activity("m1", &imid, &nul("evt"), "s1", 6_000)
        .unwrap());
    assert!(!s
        .record_activity("m1", &imid, &nul("evt"), "s1", 6_001)
        .unwrap());
    assert!(s.activity_candidates("m1", 0, 10).unwrap().is_empty());
}

pub fn a_page_naming_a_message_twice_ends_as_row_by_row(s: &dyn Store) {
    add_mailbox(s, "m1");
    let first = message("a", "inbox", 100);
    let mut later = message("a", "inbox", 300);
    later.subject = Some("second".into());
    later.conversation_id = None;
    let b = message("b", "inbox", 200);
    let page = MessagePage {
        upserts: vec![first.clone(), b.clone(), later.clone()],
        removed: vec!["b".into(), "b".into()],
    };
    let out = s
        .apply_message_page("m1", "inbox", &page, &DeltaLink::Delta("d".into()), 1_000)
        .unwrap();
    assert_eq!((out.upserted, out.removed), (3, 1));
    let got = s.cached_message("m1", "a").unwrap().unwrap().meta;
    // The later row wins; what it leaves out keeps the first row's value.
    assert_eq!(
        got,
        MessageRow {
            conversation_id: first.conversation_id,
            ..later
        }
    );
    assert_eq!(s.cached_message("m1", "b").unwrap(), None);
    assert_eq!(s.message_count("m1", Some("inbox")).unwrap(), 1);
}

pub fn events_outbox_and_audit_with_nul_round_trip(s: &dyn Store) {
    add_mailbox(s, "m1");
    // Event payload: NUL in keys and values, nested.
    let mut ev = event("e1", "bench", Some("m1"), 100);
    ev.payload = json!({"subject": nul("Betreff"), nul("key"): [nul("x"), {"n": 1}]});
    assert!(s.push_event(&ev).unwrap());
    let got = s
        .claim_event("c1", 200, 30_000, &Default::default())
        .unwrap()
        .unwrap();
    assert_eq!(got.payload, ev.payload);

    // Outbox: request, error, the Graph-supplied draft id and sender, the host's key.
    let mut o = outbox("s1", "m1", &nul("key"), 100);
    o.request = json!({"subject": nul("Angebot"), "to": [nul("kunde@fabrikam.example")]});
    o.internet_message_id = "<s1\0@o365.contoso.example>".to_owned();
    assert_eq!(s.insert_outbox(&o, None).unwrap(), Insert::Inserted);
    assert_eq!(s.get_outbox("s1").unwrap().unwrap(), o);
    let u = OutboxUpdate {
        draft_id: Some(Some(nul("draft"))),
        error: Some(json!({"message": nul("Graph sagt nein")})),
        sent_from: Some(nul("alias@contoso.example")),
        ..Default::default()
    };
    s.update_outbox("s1", &u, 200).unwrap();
    let got = s.find_outbox("m1", &nul("key")).unwrap().unwrap();
    assert_eq!(got.draft_id, Some(nul("draft")));
    assert_eq!(got.error, Some(json!({"message": nul("Graph sagt nein")})));
    assert_eq!(got.sent_from, Some(nul("alias@contoso.example")));
    assert_eq!(got.request, o.request);
    s.mark_sent("s1", 300).unwrap();
    assert!(s.sent_by_library("m1", &o.internet_message_id).unwrap());

    // Audit entries.
    let e = AuditEntry {
        at: 100,
        mailbox_id: Some("m1".into()),
        user: Some(nul("u1")),
        action: nul("send"),
        outcome: "ok".into(),
        detail: Some(nul("detail")),
    };
    s.record_audit(&e).unwrap();
    assert_eq!(s.list_audit("m1", 10).unwrap(), vec![e]);
}

pub fn mailboxes_tokens_and_links_with_nul_round_trip(s: &dyn Store) {
    let mut m = mailbox("m1", "nul@contoso.example", &["u1"]);
    m.users = vec![nul("u1"), "u2".into()];
    m.main_user = nul("u1");
    m.settings = json!({"signature": nul("Grüße")});
    m.account = Some(json!({"displayName": nul("Vertrieb")}));
    s.insert_mailbox(&m).unwrap();
    assert_eq!(s.find_mailbox("m1").unwrap().unwrap(), m);
    assert_eq!(s.list_mailboxes(Some(&nul("u1"))).unwrap(), vec![m.clone()]);
    m.settings = json!({"signature": nul("Tschüss")});
    s.update_mailbox(&m).unwrap();
    assert_eq!(s.find_mailbox("nul@contoso.example").unwrap().unwrap(), m);
    assert_eq!(s.find_mailbox(&nul("m1")).unwrap(), None, "no such mailbox");

    let mut st = auth_state("h1", "m1", "code", 1_000);
    st.user = nul("u1");
    s.insert_auth_state(&st).unwrap();
    match s.take_auth_state("h1", 1_001).unwrap() {
        o365::store::tokens::TakeState::Taken(row) => assert_eq!(row, st),
        other => panic!("not taken: {other:?}"),
    }

    let mut l = link("l1", "m1", 10_000, false);
    l.agreement_text = Some(nul("Ich stimme zu"));
    l.subject = Some(nul("Vertrag"));
    l.files[0].name = nul("datei.pdf");
    l.files[1].content_type = nul("application/pdf");
    s.insert_link(&l).unwrap();
    assert_eq!(s.get_link("l1").unwrap().unwrap(), l);
    let a = LinkAccess {
        link_id: "l1".into(),
        action: "open".into(),
        at: 2_000,
        client_address: Some(nul("192.0.2.7")),
        user_agent: Some(nul("Mozilla/5.0")),
        file_index: None,
    };
    s.record_link_access(&a).unwrap();
    assert_eq!(s.link_accesses("l1").unwrap(), vec![a]);
}
