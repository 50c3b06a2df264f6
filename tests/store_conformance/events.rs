//! `EventStore`: the durable event queue (stored once per id, handed out under a
//! reservation, kept until acked, acked ids stay as tombstones).

use crate::fixtures::*;
use o365::store::{EventFilter, Store};
use serde_json::json;

fn all() -> EventFilter {
    EventFilter::default()
}

fn claim_id(s: &dyn Store, owner: &str, now: i64, filter: &EventFilter) -> Option<String> {
    s.claim_event(owner, now, 60_000, filter)
        .unwrap()
        .map(|e| e.id)
}

pub fn push_is_idempotent_per_id_even_after_ack(s: &dyn Store) {
    let first = event("ev1", "mail_received", Some("m1"), 100);
    assert!(s.push_event(&first).unwrap(), "new");
    let mut twin = first.clone();
    twin.payload = json!({"cause": "a second publisher"});
    twin.created_at = 200;
    assert!(!s.push_event(&twin).unwrap(), "same id again: not new");
    assert_eq!(s.pending_events().unwrap(), 1, "stored once");
    let got = s.claim_event("a", 1_000, 60_000, &all()).unwrap().unwrap();
    assert_eq!(got, first, "the first one is kept, whole");
    assert!(s.ack_event("ev1", 1_100).unwrap());
    // Acked ids are tombstones: publishing the same cause again must not deliver it twice.
    assert!(!s.push_event(&first).unwrap(), "acked id: not new");
    assert_eq!(s.pending_events().unwrap(), 0);
    assert_eq!(s.claim_event("b", 1_000_000, 60_000, &all()).unwrap(), None);
}

pub fn claim_hands_out_oldest_first_and_counts_deliveries(s: &dyn Store) {
    for (i, id) in ["e1", "e2", "e3"].iter().enumerate() {
        s.push_event(&event(id, "mail_received", Some("m1"), 100 + i as i64))
            .unwrap();
    }
    let e1 = s.claim_event("a", 1_000, 100, &all()).unwrap().unwrap();
    assert_eq!((e1.id.as_str(), e1.deliveries), ("e1", 0));
    // The holder's own reservation counts too: the next claim takes the next event.
    let e2 = s.claim_event("a", 1_000, 100, &all()).unwrap().unwrap();
    assert_eq!((e2.id.as_str(), e2.deliveries), ("e2", 0));
    assert_eq!(claim_id(s, "a", 1_000, &all()).as_deref(), Some("e3"));
    assert_eq!(claim_id(s, "a", 1_000, &all()), None, "all reserved");
    assert_eq!(s.pending_events().unwrap(), 3, "reserved is still pending");
    // After the leases ran out, they come again, oldest first, with their delivery count.
    let again = s.claim_event("b", 5_000, 100, &all()).unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.deliveries), ("e1", 1));
    let third = s.claim_event("c", 10_000, 100, &all()).unwrap().unwrap();
    assert_eq!((third.id.as_str(), third.deliveries), ("e1", 2));
}

pub fn a_reserved_event_waits_for_its_lease(s: &dyn Store) {
    s.push_event(&event("e1", "send_completed", Some("m1"), 100))
        .unwrap();
    let got = s.claim_event("a", 1_000, 500, &all()).unwrap().unwrap();
    assert_eq!(got.deliveries, 0);
    assert_eq!(claim_id(s, "b", 1_001, &all()), None, "reserved by a");
    assert_eq!(claim_id(s, "b", 1_499, &all()), None, "lease still live");
    let redelivered = s.claim_event("b", 1_501, 500, &all()).unwrap().unwrap();
    assert_eq!(redelivered.id, "e1");
    assert_eq!(redelivered.deliveries, 1, "redelivery is counted");
    // b holds it now; a cannot take it back before b's lease ends.
    assert_eq!(claim_id(s, "a", 1_600, &all()), None);
    // Either consumer's ack settles it for good.
    assert!(s.ack_event("e1", 1_700).unwrap());
    assert_eq!(claim_id(s, "a", 100_000, &all()), None);
}

pub fn claim_respects_the_filter(s: &dyn Store) {
    s.push_event(&event("e1", "mail_received", Some("m1"), 1))
        .unwrap();
    s.push_event(&event("e2", "send_completed", Some("m1"), 2))
        .unwrap();
    s.push_event(&event("e3", "mail_received", Some("m2"), 3))
        .unwrap();
    s.push_event(&event("e4", "auth_changed", None, 4)).unwrap();
    s.push_event(&event("e5", "send_failed", Some("m2"), 5))
        .unwrap();
    let types = |t: &[&str]| EventFilter {
        types: t.iter().map(|x| x.to_string()).collect(),
        mailbox_id: None,
    };
    let mailbox = |m: &str, t: &[&str]| EventFilter {
        mailbox_id: Some(m.to_owned()),
        ..types(t)
    };
    assert_eq!(
        claim_id(s, "a", 10, &types(&["send_completed", "send_failed"])).as_deref(),
        Some("e2"),
        "oldest of the asked types; e1 stays for others"
    );
    assert_eq!(
        claim_id(s, "a", 10, &mailbox("m2", &[])).as_deref(),
        Some("e3")
    );
    assert_eq!(
        claim_id(s, "a", 10, &mailbox("m2", &["auth_changed"])),
        None,
        "both parts must match"
    );
    assert_eq!(
        claim_id(s, "a", 10, &mailbox("m1", &["mail_received"])).as_deref(),
        Some("e1")
    );
    assert_eq!(
        claim_id(s, "a", 10, &mailbox("m1", &[])),
        None,
        "a mailbox filter does not take events without a mailbox"
    );
    assert_eq!(claim_id(s, "a", 10, &types(&["nothing_like_this"])), None);
    assert_eq!(claim_id(s, "a", 10, &all()).as_deref(), Some("e4"));
    assert_eq!(claim_id(s, "a", 10, &all()).as_deref(), Some("e5"));
    assert_eq!(claim_id(s, "a", 10, &all()), None);
}

pub fn ack_is_idempotent_and_unknown_is_false(s: &dyn Store) {
    s.push_event(&event("e1", "mail_received", None, 1))
        .unwrap();
    s.push_event(&event("e2", "mail_received", None, 2))
        .unwrap();
    assert!(!s.ack_event("nope", 10).unwrap(), "unknown id");
    assert_eq!(s.pending_events().unwrap(), 2);
    // An event may be acked without having been claimed (the host saw it another way).
    assert!(s.ack_event("e2", 10).unwrap());
    assert!(s.ack_event("e2", 20).unwrap(), "again: still true");
    assert_eq!(s.pending_events().unwrap(), 1);
    // Acking a reserved one frees nothing for others: it is simply done.
    assert_eq!(claim_id(s, "a", 30, &all()).as_deref(), Some("e1"));
    assert!(s.ack_event("e1", 40).unwrap());
    assert_eq!(s.pending_events().unwrap(), 0);
    assert_eq!(claim_id(s, "b", 1_000_000, &all()), None);
}

pub fn release_frees_only_the_owners_reservations(s: &dyn Store) {
    for (i, id) in ["e1", "e2", "e3"].iter().enumerate() {
        s.push_event(&event(id, "mail_received", None, i as i64))
            .unwrap();
    }
    assert_eq!(claim_id(s, "a", 10, &all()).as_deref(), Some("e1"));
    assert_eq!(claim_id(s, "b", 10, &all()).as_deref(), Some("e2"));
    assert_eq!(claim_id(s, "a", 10, &all()).as_deref(), Some("e3"));
    assert!(s.ack_event("e3", 11).unwrap());
    s.release_events("a").unwrap();
    // At the same moment (leases far from expiry) a's unacked event goes to the next taker;
    // b's stays reserved, a's acked one stays done.
    let next = s.claim_event("c", 12, 60_000, &all()).unwrap().unwrap();
    assert_eq!((next.id.as_str(), next.deliveries), ("e1", 1));
    assert_eq!(claim_id(s, "c", 12, &all()), None);
    s.release_events("nobody").unwrap();
    assert_eq!(s.pending_events().unwrap(), 2);
}

pub fn purge_forgets_only_acked_before(s: &dyn Store) {
    for (i, id) in ["e1", "e2", "e3"].iter().enumerate() {
        s.push_event(&event(id, "mail_received", None, i as i64))
            .unwrap();
    }
    assert!(s.ack_event("e1", 100).unwrap());
    assert!(s.ack_event("e2", 200).unwrap());
    assert_eq!(s.purge_acked_events(150).unwrap(), 1, "e1 only");
    assert!(!s.ack_event("e1", 300).unwrap(), "forgotten");
    assert!(s.ack_event("e2", 300).unwrap(), "still a tombstone");
    assert_eq!(s.purge_acked_events(150).unwrap(), 0);
    assert_eq!(s.purge_acked_events(1_000).unwrap(), 1, "e2");
    assert_eq!(s.pending_events().unwrap(), 1, "unacked e3 is never purged");
    assert_eq!(claim_id(s, "a", 2_000, &all()).as_deref(), Some("e3"));
    assert_eq!(s.purge_acked_events(i64::MAX).unwrap(), 0);
}
