//! `MailboxStore`: imported addresses, their users, and what hangs on a mailbox.

use crate::fixtures::*;
use o365::store::cache::{DeltaLink, FolderPage, MessagePage};
use o365::store::Store;
use serde_json::json;

pub fn insert_and_find_by_id_or_address_case_insensitively(s: &dyn Store) {
    let m = mailbox("m1", "Vertrieb@Contoso.example", &["u1", "u2"]);
    s.insert_mailbox(&m).unwrap();
    assert_eq!(s.find_mailbox("m1").unwrap().as_ref(), Some(&m), "by id");
    for key in [
        "Vertrieb@Contoso.example",
        "vertrieb@contoso.example",
        "VERTRIEB@CONTOSO.EXAMPLE",
    ] {
        assert_eq!(
            s.find_mailbox(key).unwrap().as_ref(),
            Some(&m),
            "by address {key}"
        );
    }
    assert_eq!(s.find_mailbox("m2").unwrap(), None);
    assert_eq!(s.find_mailbox("other@contoso.example").unwrap(), None);
}

pub fn duplicate_address_is_already_exists(s: &dyn Store) {
    let first = mailbox("m1", "info@contoso.example", &["u1"]);
    s.insert_mailbox(&first).unwrap();
    let again = mailbox("m2", "INFO@contoso.example", &["u2"]);
    let e = s.insert_mailbox(&again).unwrap_err();
    assert_eq!(e.status(), o365::status::O365_ALREADY_EXISTS, "{e}");
    // The first one wins and is unchanged; the second left nothing behind.
    assert_eq!(s.find_mailbox("info@contoso.example").unwrap(), Some(first));
    assert_eq!(s.find_mailbox("m2").unwrap(), None);
    assert!(s.list_mailboxes(Some("u2")).unwrap().is_empty());
    assert_eq!(s.list_mailboxes(None).unwrap().len(), 1);
}

pub fn list_by_user(s: &dyn Store) {
    let a = mailbox("ma", "a@contoso.example", &["u1", "u2"]);
    let b = mailbox("mb", "b@contoso.example", &["u2"]);
    let c = mailbox("mc", "c@contoso.example", &["u3"]);
    for m in [&c, &a, &b] {
        s.insert_mailbox(m).unwrap();
    }
    let ids = |user| -> Vec<String> {
        let mut v: Vec<String> = s
            .list_mailboxes(user)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(None), ["ma", "mb", "mc"]);
    assert_eq!(ids(Some("u1")), ["ma"]);
    assert_eq!(ids(Some("u2")), ["ma", "mb"]);
    assert!(ids(Some("nobody")).is_empty());
    // The records come back whole (users included, in their order).
    let listed = s.list_mailboxes(Some("u1")).unwrap();
    assert_eq!(listed, vec![a]);
}

pub fn graph_mailbox_lists_the_record_and_its_aliases(s: &dyn Store) {
    let main = mailbox("m1", "Team@contoso.example", &["u1"]);
    let al1 = alias("a1", "sales@contoso.example", "team@contoso.example");
    let al2 = alias("a2", "support@contoso.example", "TEAM@CONTOSO.EXAMPLE");
    let other = mailbox("m2", "other@contoso.example", &["u1"]);
    let other_alias = alias("a3", "x@contoso.example", "other@contoso.example");
    for m in [&main, &al1, &al2, &other, &other_alias] {
        s.insert_mailbox(m).unwrap();
    }
    let mut ids: Vec<String> = s
        .mailboxes_of_graph_mailbox("team@CONTOSO.example")
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["a1", "a2", "m1"]);
    // An alias's own address is not a Microsoft mailbox: asking for it finds nobody's mail.
    assert!(s
        .mailboxes_of_graph_mailbox("sales@contoso.example")
        .unwrap()
        .is_empty());
    // Aliases imported without their main mailbox still belong to it.
    let lone = alias("a4", "lone@contoso.example", "absent@contoso.example");
    s.insert_mailbox(&lone).unwrap();
    assert_eq!(
        s.mailboxes_of_graph_mailbox("absent@contoso.example")
            .unwrap(),
        vec![lone]
    );
    assert!(s
        .mailboxes_of_graph_mailbox("nobody@contoso.example")
        .unwrap()
        .is_empty());
}

pub fn update_replaces_users_settings_and_state(s: &dyn Store) {
    let m = mailbox("m1", "a@contoso.example", &["u1", "u2"]);
    s.insert_mailbox(&m).unwrap();
    let changed = o365::store::MailboxRecord {
        users: vec!["u3".into(), "u1".into()],
        main_user: "u3".into(),
        auth_state: "authenticated".into(),
        settings: json!({"signature": "neu", "sync": {"folders": ["inbox"]}}),
        account: Some(json!({"upn": "a@contoso.example", "tenant": "t1"})),
        updated_at: 2_000,
        ..m.clone()
    };
    // Address, kind, alias and creation time are not what an update replaces.
    let attempt = o365::store::MailboxRecord {
        address: "b@contoso.example".into(),
        kind: "shared".into(),
        alias_of: Some("c@contoso.example".into()),
        created_at: 9_999,
        ..changed.clone()
    };
    s.update_mailbox(&attempt).unwrap();
    assert_eq!(s.find_mailbox("m1").unwrap(), Some(changed.clone()));
    assert_eq!(s.find_mailbox("b@contoso.example").unwrap(), None);
    assert!(s.list_mailboxes(Some("u2")).unwrap().is_empty(), "u2 left");
    assert_eq!(s.list_mailboxes(Some("u3")).unwrap(), vec![changed.clone()]);
    // Signing out again: account and state go back.
    let signed_out = o365::store::MailboxRecord {
        auth_state: "reauth_required".into(),
        account: None,
        updated_at: 3_000,
        ..changed
    };
    s.update_mailbox(&signed_out).unwrap();
    assert_eq!(s.find_mailbox("m1").unwrap(), Some(signed_out));
}

pub fn update_of_unknown_mailbox_is_not_found(s: &dyn Store) {
    let e = s
        .update_mailbox(&mailbox("ghost", "ghost@contoso.example", &["u1"]))
        .unwrap_err();
    assert_eq!(e.status(), o365::status::O365_NOT_FOUND, "{e}");
    assert_eq!(s.find_mailbox("ghost").unwrap(), None, "no row was created");
}

pub fn delete_removes_everything_that_hangs_on_it(s: &dyn Store) {
    let m = add_mailbox(s, "m1");
    let keep = add_mailbox(s, "m2");
    // Things hanging on both mailboxes.
    for id in ["m1", "m2"] {
        s.put_token(id, b"sealed", 5_000, 1_000, None, false)
            .unwrap();
        s.insert_auth_state(&auth_state(&format!("dev-{id}"), id, "device", 1_000))
            .unwrap();
        s.apply_folder_delta(
            id,
            &FolderPage {
                upserts: vec![folder("inbox", Some("inbox"))],
                removed: vec![],
            },
            "https://graph/folders?delta=1",
            true,
            1_000,
        )
        .unwrap();
        s.apply_message_page(
            id,
            "inbox",
            &MessagePage {
                upserts: vec![message("msg1", "inbox", 900)],
                removed: vec![],
            },
            &DeltaLink::Delta("https://graph/inbox?delta=1".into()),
            1_000,
        )
        .unwrap();
        let o = outbox(&format!("s-{id}"), id, "k1", 1_000);
        s.insert_outbox(&o, None).unwrap();
        s.mark_sent(&o.send_id, 1_100).unwrap();
        s.open_move_job(id, &move_job("job1", "inbox", "archive", 1_000))
            .unwrap();
        assert!(s
            .record_activity(id, "<ext@contoso.example>", "act", "g1", 1_000)
            .unwrap());
        s.push_event(&event(
            &format!("ev-{id}"),
            "send_completed",
            Some(id),
            1_000,
        ))
        .unwrap();
    }
    assert!(s.delete_mailbox("m1").unwrap());
    assert_eq!(s.find_mailbox("m1").unwrap(), None);
    assert_eq!(s.find_mailbox(&m.address).unwrap(), None);
    assert!(s
        .list_mailboxes(Some("u1"))
        .unwrap()
        .iter()
        .all(|x| x.id != "m1"));
    assert!(!s.delete_mailbox("m1").unwrap(), "deleting twice: false");

    // Its state is gone, so a mailbox imported again under the same id starts clean.
    let gone = |id: &str| {
        assert_eq!(s.get_token(id).unwrap(), None, "token of {id}");
        assert_eq!(s.token_expiry(id).unwrap(), None);
        assert_eq!(s.pending_device_flow(id, 1_000).unwrap(), None);
        assert!(s.cached_folders(id).unwrap().is_empty());
        assert_eq!(s.message_count(id, None).unwrap(), 0);
        assert!(s.sync_states(id).unwrap().is_empty());
        assert_eq!(s.find_outbox(id, "k1").unwrap(), None);
        assert_eq!(s.get_outbox(&format!("s-{id}")).unwrap(), None);
        assert!(!s
            .sent_by_library(id, &format!("<s-{id}@o365.contoso.example>"))
            .unwrap());
        assert_eq!(s.move_job(id, "job1").unwrap(), None);
        assert_eq!(s.cache_version(id).unwrap(), None);
    };
    // Events are delivered until acked (design.md), also those of a removed mailbox.
    assert_eq!(s.pending_events().unwrap(), 2);
    gone("m1");
    s.insert_mailbox(&m).unwrap();
    gone("m1");
    assert!(
        s.record_activity("m1", "<ext@contoso.example>", "act", "g1", 2_000)
            .unwrap(),
        "its activity decisions went with it"
    );

    // The other mailbox kept everything.
    assert_eq!(s.find_mailbox("m2").unwrap(), Some(keep));
    assert!(s.get_token("m2").unwrap().is_some());
    assert!(s.pending_device_flow("m2", 1_000).unwrap().is_some());
    assert_eq!(s.cached_folders("m2").unwrap().len(), 1);
    assert_eq!(s.message_count("m2", None).unwrap(), 1);
    assert!(s.find_outbox("m2", "k1").unwrap().is_some());
    assert!(s
        .sent_by_library("m2", "<s-m2@o365.contoso.example>")
        .unwrap());
    assert!(s.move_job("m2", "job1").unwrap().is_some());
    assert!(s.cache_version("m2").unwrap().is_some());
    assert!(!s
        .record_activity("m2", "<ext@contoso.example>", "act", "g1", 2_000)
        .unwrap());
}

pub fn non_ascii_addresses_are_case_insensitive_too(s: &dyn Store) {
    // Exchange Online accepts internationalized (EAI) addresses; the address rule is the
    // same for them: one mailbox per address, whatever the case.
    let m = mailbox("m1", "Jürgen.Öztürk@contoso.example", &["u1"]);
    s.insert_mailbox(&m).unwrap();
    assert_eq!(
        s.find_mailbox("JÜRGEN.ÖZTÜRK@contoso.example").unwrap(),
        Some(m.clone())
    );
    let e = s
        .insert_mailbox(&mailbox("m2", "jürgen.öztürk@contoso.example", &["u1"]))
        .unwrap_err();
    assert_eq!(e.status(), o365::status::O365_ALREADY_EXISTS, "{e}");
}
