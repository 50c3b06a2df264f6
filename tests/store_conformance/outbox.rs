//! `OutboxStore`: one durable row per idempotency key, the state machine's writes, pacing
//! slots and the sent log.

use crate::fixtures::*;
use o365::store::outbox::{Insert, OutboxUpdate, SerialRule};
use o365::store::Store;
use serde_json::json;

pub fn one_row_per_idempotency_key(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    let first = outbox("s1", "m1", "crm-42", 1_000);
    assert_eq!(s.insert_outbox(&first, None).unwrap(), Insert::Inserted);
    assert_eq!(
        s.get_outbox("s1").unwrap().as_ref(),
        Some(&first),
        "stored whole"
    );
    assert_eq!(
        s.find_outbox("m1", "crm-42").unwrap().as_ref(),
        Some(&first)
    );
    // The same key again (a retried call, another process): the first row wins, whole.
    let mut second = outbox("s2", "m1", "crm-42", 2_000);
    second.request = json!({"subject": "anders"});
    match s.insert_outbox(&second, None).unwrap() {
        Insert::Existing(r) => assert_eq!(*r, first),
        other => panic!("same key: {other:?}"),
    }
    // Even when the serial rule would refuse it: the key answers first.
    let strict = SerialRule {
        since: 0,
        max_other_copies: -1,
    };
    assert!(matches!(
        s.insert_outbox(&second, Some(strict)).unwrap(),
        Insert::Existing(_)
    ));
    assert_eq!(s.get_outbox("s2").unwrap(), None, "no second row");
    assert_eq!(s.unfinished_outbox().unwrap(), 1);
    // Keys are per mailbox.
    let other = outbox("s3", "m2", "crm-42", 2_000);
    assert_eq!(s.insert_outbox(&other, None).unwrap(), Insert::Inserted);
    assert_eq!(s.find_outbox("m2", "crm-42").unwrap(), Some(other));
    assert_eq!(s.find_outbox("m1", "crm-43").unwrap(), None);
    assert_eq!(s.get_outbox("nope").unwrap(), None);
}

pub fn serial_rule_refuses_mass_mailing(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    let rule = SerialRule {
        since: 500,
        max_other_copies: 1,
    };
    let row = |send_id: &str, key: &str, rcpt: &str, at: i64| {
        let mut r = outbox(send_id, "m1", key, at);
        r.recipients_hash = rcpt.to_owned();
        r
    };
    // An old copy (before the window) does not count.
    let old = row("s0", "k0", "rcpt-old", 100);
    assert_eq!(s.insert_outbox(&old, None).unwrap(), Insert::Inserted);
    assert_eq!(
        s.insert_outbox(&row("s1", "k1", "rcpt-a", 1_000), Some(rule))
            .unwrap(),
        Insert::Inserted
    );
    assert_eq!(
        s.insert_outbox(&row("s2", "k2", "rcpt-b", 1_100), Some(rule))
            .unwrap(),
        Insert::Inserted
    );
    // A third recipient set with the same content: two others in the window, one allowed.
    assert_eq!(
        s.insert_outbox(&row("s3", "k3", "rcpt-c", 1_200), Some(rule))
            .unwrap(),
        Insert::Serial { copies: 2 }
    );
    assert_eq!(
        s.get_outbox("s3").unwrap(),
        None,
        "refused rows are not stored"
    );
    assert_eq!(s.find_outbox("m1", "k3").unwrap(), None);
    // The same recipients again are not another copy (a follow-up to the same people).
    assert_eq!(
        s.insert_outbox(&row("s4", "k4", "rcpt-a", 1_300), Some(rule))
            .unwrap(),
        Insert::Inserted
    );
    // Other content, or another mailbox, is not counted.
    let mut other_content = row("s5", "k5", "rcpt-d", 1_400);
    other_content.fingerprint = "fp-other".into();
    assert_eq!(
        s.insert_outbox(&other_content, Some(rule)).unwrap(),
        Insert::Inserted
    );
    let mut other_mailbox = outbox("s6", "m2", "k6", 1_400);
    other_mailbox.recipients_hash = "rcpt-e".into();
    assert_eq!(
        s.insert_outbox(&other_mailbox, Some(rule)).unwrap(),
        Insert::Inserted
    );
    // Without a rule, nothing is refused.
    assert_eq!(
        s.insert_outbox(&row("s7", "k7", "rcpt-f", 1_500), None)
            .unwrap(),
        Insert::Inserted
    );
}

pub fn update_changes_only_named_fields(s: &dyn Store) {
    add_mailbox(s, "m1");
    let r = outbox("s1", "m1", "k1", 1_000);
    s.insert_outbox(&r, None).unwrap();
    s.update_outbox(
        "s1",
        &OutboxUpdate {
            state: Some("sending".into()),
            draft_id: Some(Some("draft-1".into())),
            draft_ready: Some(true),
            next_attempt_at: Some(5_000),
            add_attempt: true,
            submitted_at: Some(Some(1_900)),
            ..Default::default()
        },
        2_000,
    )
    .unwrap();
    let mut want = r.clone();
    want.state = "sending".into();
    want.draft_id = Some("draft-1".into());
    want.draft_ready = true;
    want.next_attempt_at = 5_000;
    want.attempts = 1;
    want.submitted_at = Some(1_900);
    want.updated_at = 2_000;
    assert_eq!(s.get_outbox("s1").unwrap().as_ref(), Some(&want));
    // An empty update only touches updated_at.
    s.update_outbox("s1", &OutboxUpdate::default(), 2_500)
        .unwrap();
    want.updated_at = 2_500;
    assert_eq!(s.get_outbox("s1").unwrap().as_ref(), Some(&want));
    // Clearing optional fields, and the rest.
    s.update_outbox(
        "s1",
        &OutboxUpdate {
            state: Some("failed".into()),
            draft_id: Some(None),
            error: Some(json!({"kind": "remote", "message": "ErrorQuotaExceeded"})),
            add_attempt: true,
            notify: Some(false),
            submitted_at: Some(None),
            sent_from: Some("alias@contoso.example".into()),
            ..Default::default()
        },
        3_000,
    )
    .unwrap();
    want.state = "failed".into();
    want.draft_id = None;
    want.error = Some(json!({"kind": "remote", "message": "ErrorQuotaExceeded"}));
    want.attempts = 2;
    want.notify = false;
    want.submitted_at = None;
    want.sent_from = Some("alias@contoso.example".into());
    want.updated_at = 3_000;
    assert_eq!(s.get_outbox("s1").unwrap(), Some(want));
}

pub fn mark_sent_records_the_sent_log_once(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    let r = outbox("s1", "m1", "k1", 1_000);
    s.insert_outbox(&r, None).unwrap();
    s.update_outbox(
        "s1",
        &OutboxUpdate {
            state: Some("sending".into()),
            error: Some(json!({"kind": "network"})),
            ..Default::default()
        },
        1_500,
    )
    .unwrap();
    assert!(!s.sent_by_library("m1", &r.internet_message_id).unwrap());
    s.mark_sent("s1", 2_000).unwrap();
    let sent = s.get_outbox("s1").unwrap().unwrap();
    assert_eq!(sent.state, "sent");
    assert_eq!(sent.sent_at, Some(2_000));
    assert_eq!(sent.error, None, "a sent row carries no error");
    assert!(s.sent_by_library("m1", &r.internet_message_id).unwrap());
    assert!(
        !s.sent_by_library("m2", &r.internet_message_id).unwrap(),
        "per mailbox"
    );
    assert!(!s
        .sent_by_library("m1", "<other@o365.contoso.example>")
        .unwrap());
    // Marking it again (a crash between the two steps of a caller) does no harm.
    s.mark_sent("s1", 3_000).unwrap();
    assert_eq!(s.get_outbox("s1").unwrap().unwrap().state, "sent");
    assert!(s.sent_by_library("m1", &r.internet_message_id).unwrap());
    assert_eq!(s.unfinished_outbox().unwrap(), 0);
    assert!(s.due_outbox(i64::MAX, 10).unwrap().is_empty());
}

pub fn due_outbox_orders_by_due_time_and_skips_finished(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    // (send id, mailbox, created, due)
    for (id, m, created, due) in [
        ("late", "m1", 100, 3_000),
        ("b", "m2", 300, 1_000),
        ("a", "m1", 200, 1_000),
        ("first", "m2", 400, 500),
        ("done", "m1", 50, 100),
        ("dead", "m1", 60, 100),
    ] {
        let mut r = outbox(id, m, &format!("key-{id}"), created);
        r.next_attempt_at = due;
        s.insert_outbox(&r, None).unwrap();
    }
    s.mark_sent("done", 150).unwrap();
    set_outbox_state(s, "dead", "failed", 150);
    set_outbox_state(s, "a", "sending", 150);
    let ids = |now, limit| -> Vec<String> {
        s.due_outbox(now, limit)
            .unwrap()
            .into_iter()
            .map(|r| r.send_id)
            .collect()
    };
    assert!(ids(499, 10).is_empty(), "nothing due yet");
    assert_eq!(ids(500, 10), ["first"], "due at its time");
    // Same due time: the older row first; `sending` rows are due too (they must be checked).
    assert_eq!(ids(2_999, 10), ["first", "a", "b"]);
    assert_eq!(ids(10_000, 10), ["first", "a", "b", "late"]);
    assert_eq!(ids(10_000, 2), ["first", "a"]);
    assert_eq!(s.unfinished_outbox().unwrap(), 4);
}

pub fn retry_puts_back_only_failed_rows(s: &dyn Store) {
    add_mailbox(s, "m1");
    let r = outbox("s1", "m1", "k1", 1_000);
    s.insert_outbox(&r, None).unwrap();
    let mut again = r.clone();
    again.request = json!({"subject": "Angebot", "prepared": 2});
    again.next_attempt_at = 9_000;
    again.updated_at = 9_000;
    assert!(
        !s.retry_outbox(&again).unwrap(),
        "a queued row is not retried"
    );
    s.update_outbox(
        "s1",
        &OutboxUpdate {
            state: Some("failed".into()),
            draft_id: Some(Some("draft-1".into())),
            draft_ready: Some(true),
            error: Some(json!({"kind": "remote"})),
            add_attempt: true,
            submitted_at: Some(Some(1_500)),
            sent_from: Some("x@contoso.example".into()),
            notify: Some(false),
            ..Default::default()
        },
        2_000,
    )
    .unwrap();
    again.notify = true;
    assert!(s.retry_outbox(&again).unwrap());
    let got = s.get_outbox("s1").unwrap().unwrap();
    assert_eq!(got.state, "queued");
    assert_eq!(got.request, again.request);
    assert_eq!(got.draft_id, None, "the old draft is not reused");
    assert!(!got.draft_ready);
    assert_eq!(got.error, None);
    assert_eq!(got.submitted_at, None);
    assert_eq!(got.sent_from, None);
    assert_eq!(got.next_attempt_at, 9_000);
    assert!(got.notify);
    assert_eq!(
        (got.send_id.as_str(), got.idempotency_key.as_str()),
        ("s1", "k1")
    );
    assert_eq!(got.internet_message_id, r.internet_message_id);
    // Two callers retrying the same failed row: only the first one wins.
    assert!(!s.retry_outbox(&again).unwrap());
    assert_eq!(s.due_outbox(9_000, 10).unwrap().len(), 1);
}

pub fn send_slots_pace_per_mailbox(s: &dyn Store) {
    const WINDOW: i64 = 60_000;
    let reserve = |m: &str, now: i64| s.reserve_send_slot(m, now, now - WINDOW, 2).unwrap();
    assert_eq!(reserve("m1", 1_000), None);
    assert_eq!(reserve("m1", 1_100), None);
    assert_eq!(
        reserve("m1", 1_200),
        Some(1_000),
        "full: wait for the oldest"
    );
    assert_eq!(reserve("m1", 1_300), Some(1_000), "a refusal takes no slot");
    assert_eq!(reserve("m2", 1_200), None, "per mailbox");
    // A send that was not carried out gives its slot back.
    s.release_send_slot("m1", 1_100).unwrap();
    assert_eq!(reserve("m1", 1_400), None);
    assert_eq!(reserve("m1", 1_500), Some(1_000));
    // The oldest leaves the window: one slot frees up.
    assert_eq!(reserve("m1", 61_001), None);
    assert_eq!(reserve("m1", 61_002), Some(1_400));
    s.release_send_slot("m1", 12_345).unwrap();
}
