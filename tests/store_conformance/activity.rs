//! `ActivityStore`: Sent Items mail sent outside the CRM, decided once.

use crate::fixtures::*;
use o365::store::cache::{DeltaLink, FolderPage, MessagePage, MessageRow};
use o365::store::Store;

/// m1 with an inbox and a Sent Items folder holding `sent`.
fn sent_items(s: &dyn Store, m: &str, sent: Vec<MessageRow>) {
    s.apply_folder_delta(
        m,
        &FolderPage {
            upserts: vec![
                folder("inbox", Some("inbox")),
                folder("sent", Some("sentitems")),
            ],
            removed: vec![],
        },
        "https://graph/folders?d=1",
        true,
        1_000,
    )
    .unwrap();
    s.apply_message_page(
        m,
        "sent",
        &MessagePage {
            upserts: sent,
            removed: vec![],
        },
        &DeltaLink::Delta("https://graph/sent?d=1".into()),
        1_000,
    )
    .unwrap();
}

fn ids(s: &dyn Store, m: &str, since: i64, limit: usize) -> Vec<String> {
    let mut v: Vec<String> = s
        .activity_candidates(m, since, limit)
        .unwrap()
        .into_iter()
        .map(|c| c.graph_id)
        .collect();
    v.sort();
    v
}

pub fn candidates_exclude_own_sends_and_decided(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    // message(id, folder, received_at) is sent at received_at - 10.
    let external = message("ext", "sent", 5_010);
    let mut queued_here = message("own-outbox", "sent", 5_010);
    let mut sent_by_alias = message("own-log", "sent", 5_010);
    let decided = message("decided", "sent", 5_010);
    let old = message("old", "sent", 1_010);
    // The library's own sends, identified by our Message-ID.
    let o1 = outbox("s1", "m1", "k1", 100);
    queued_here.internet_message_id = Some(o1.internet_message_id.clone());
    s.insert_outbox(&o1, None).unwrap();
    // Sent through another mailbox of the store (an alias shares its mailbox's Sent Items).
    let o2 = outbox("s2", "m2", "k2", 100);
    sent_by_alias.internet_message_id = Some(o2.internet_message_id.clone());
    s.insert_outbox(&o2, None).unwrap();
    s.mark_sent("s2", 200).unwrap();
    sent_items(
        s,
        "m1",
        vec![
            external.clone(),
            queued_here,
            sent_by_alias,
            decided.clone(),
            old,
        ],
    );
    // Inbox mail is never a candidate.
    s.apply_message_page(
        "m1",
        "inbox",
        &MessagePage {
            upserts: vec![message("in", "inbox", 5_010)],
            removed: vec![],
        },
        &DeltaLink::Delta("https://graph/inbox?d=1".into()),
        1_000,
    )
    .unwrap();
    assert!(s
        .record_activity(
            "m1",
            decided.internet_message_id.as_deref().unwrap(),
            "act_1",
            "decided",
            2_000
        )
        .unwrap());
    assert_eq!(ids(s, "m1", 5_000, 10), ["ext"]);
    assert_eq!(
        s.activity_candidates("m1", 5_000, 10).unwrap(),
        vec![candidate_of(&external)],
        "whole candidates"
    );
    assert_eq!(
        ids(s, "m1", 1_000, 10),
        ["ext", "old"],
        "since bounds by sent time"
    );
    assert_eq!(ids(s, "m1", 1_000, 1).len(), 1, "limit");
    assert!(
        ids(s, "m2", 0, 10).is_empty(),
        "m2 has no Sent Items cached"
    );
}

pub fn record_activity_once(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    let a = message("a", "sent", 5_010);
    sent_items(s, "m1", vec![a.clone()]);
    sent_items(s, "m2", vec![a.clone()]);
    let imid = a.internet_message_id.as_deref().unwrap();
    assert!(
        s.record_activity("m1", imid, "act_1", "a", 6_000).unwrap(),
        "first decision"
    );
    assert!(
        !s.record_activity("m1", imid, "act_2", "a", 6_100).unwrap(),
        "decided before"
    );
    assert!(ids(s, "m1", 0, 10).is_empty());
    // Decisions are per mailbox.
    assert_eq!(ids(s, "m2", 0, 10), ["a"]);
    assert!(s.record_activity("m2", imid, "act_3", "a", 6_200).unwrap());
    assert!(ids(s, "m2", 0, 10).is_empty());
}
