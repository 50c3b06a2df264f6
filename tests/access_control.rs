//! Every mailbox operation takes the acting CRM user: an unassigned user gets `forbidden`
//! on every one of them (and nothing happens), the attempt is audited, and an unknown
//! mailbox is `not_found` (issue 4, seed point 6). Through the C ABI, against o365-sim.

mod common;
use common::*;
use o365::ffi::*;
use serde_json::{json, Value};

fn mailbox_calls(id: &str, user: &str) -> Vec<(&'static str, Export, Value)> {
    let m = |extra: Value| {
        let mut v = json!({"mailbox": id, "user": user});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    vec![
        ("authenticate", o365_authenticate as Export, m(json!({}))),
        ("sign_out", o365_sign_out, m(json!({}))),
        ("audit_log", o365_audit_log, m(json!({}))),
        ("get_mailbox", o365_get_mailbox, m(json!({}))),
        (
            "update_mailbox",
            o365_update_mailbox,
            m(json!({"settings": {"book_external_sent": false}})),
        ),
        ("list_folders", o365_list_folders, m(json!({}))),
        (
            "list_messages",
            o365_list_messages,
            m(json!({"folder": "inbox"})),
        ),
        ("get_message", o365_get_message, m(json!({"id": "AAMkAD"}))),
        (
            "get_attachment",
            o365_get_attachment,
            m(json!({"message": "AAMkAD", "attachment": "AAMkAE"})),
        ),
        ("mark_read", o365_mark_read, m(json!({"id": "AAMkAD"}))),
        (
            "move_message",
            o365_move_message,
            m(json!({"id": "AAMkAD", "to": "archive"})),
        ),
        (
            "delete_message",
            o365_delete_message,
            m(json!({"id": "AAMkAD"})),
        ),
        ("sync", o365_sync, m(json!({}))),
        ("cache_clear", o365_cache_clear, m(json!({}))),
        (
            "move_folder_contents",
            o365_move_folder_contents,
            m(json!({"from": "Gesendete Objekte", "to": "sentitems"})),
        ),
        (
            "send",
            o365_send,
            m(
                json!({"message": {"to": ["kunde@kunden.example"], "subject": "x", "body_text": "y"}}),
            ),
        ),
        (
            "send_status",
            o365_send_status,
            m(json!({"send_id": "snd_x"})),
        ),
        ("remove_mailbox", o365_remove_mailbox, m(json!({}))),
    ]
}

#[test]
fn unassigned_user_is_forbidden_on_every_mailbox_call() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, id) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let sent_before = sim
        .sim()
        .counters
        .messages_sent
        .load(std::sync::atomic::Ordering::SeqCst);
    for (verb, f, req) in mailbox_calls(&id, "intruder") {
        let (st, v) = lib.call(f, req);
        assert_eq!(st, O365_FORBIDDEN, "{verb}: {v}");
        assert_eq!(v["error"], "user_not_assigned", "{verb}: {v}");
    }
    // Nothing happened: still signed in, nothing sent, mailbox still there.
    let m = lib.ok(o365_get_mailbox, json!({"mailbox": id, "user": "u1"}));
    assert_eq!(m["auth_state"], "authenticated");
    assert_eq!(
        sim.sim()
            .counters
            .messages_sent
            .load(std::sync::atomic::Ordering::SeqCst),
        sent_before
    );
    let log = lib.ok(
        o365_audit_log,
        json!({"mailbox": id, "user": "u1", "limit": 1000}),
    );
    let denied = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["user"] == "intruder" && e["outcome"] == "denied")
        .count();
    assert_eq!(denied, mailbox_calls(&id, "intruder").len(), "{log}");
}

#[test]
fn unknown_mailbox_is_not_found_on_every_mailbox_call() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(json!({"store": dir.path().join("o.db").to_str().unwrap(),
        "encryption_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "app": {"client_id": APP_ID, "redirect_uri": REDIRECT}}));
    for (verb, f, req) in mailbox_calls("ghost@contoso.example", "u1") {
        let (st, v) = lib.call(f, req);
        assert_eq!(st, O365_NOT_FOUND, "{verb}: {v}");
        assert_eq!(v["error"], "mailbox_not_found", "{verb}: {v}");
    }
}
