//! `TokenStore`: sealed token sets with a generation guard, and single-use sign-in states.

use crate::fixtures::*;
use o365::store::{Store, TakeState, TokenRow};

pub fn put_and_get_with_generation_compare_and_set(s: &dyn Store) {
    add_mailbox(s, "m1");
    assert_eq!(s.get_token("m1").unwrap(), None);
    // First write: expected None (no row yet).
    let g1 = s.put_token("m1", b"v1", 5_000, 1_000, None, false).unwrap();
    assert_eq!(g1, Some(1));
    assert_eq!(
        s.get_token("m1").unwrap(),
        Some(TokenRow {
            sealed: b"v1".to_vec(),
            access_expires_at: 5_000,
            refreshed_at: 1_000,
            generation: 1,
        })
    );
    // A second "first write" (someone else signed in meanwhile) is refused.
    assert_eq!(
        s.put_token("m1", b"other", 9_000, 1_100, None, false)
            .unwrap(),
        None
    );
    // Refresh from generation 1: ok, and the generation grows by one.
    let g2 = s.put_token("m1", b"v2", 6_000, 2_000, g1, false).unwrap();
    assert_eq!(g2, Some(2));
    // Two refreshers that both read generation 1: the slower one loses, nothing is lost.
    assert_eq!(
        s.put_token("m1", b"stale", 7_000, 2_100, g1, false)
            .unwrap(),
        None
    );
    assert_eq!(
        s.put_token("m1", b"future", 7_000, 2_100, Some(3), false)
            .unwrap(),
        None
    );
    let now = s.get_token("m1").unwrap().unwrap();
    assert_eq!((now.sealed.as_slice(), now.generation), (&b"v2"[..], 2));
    assert_eq!((now.access_expires_at, now.refreshed_at), (6_000, 2_000));
    // Mailboxes are independent.
    add_mailbox(s, "m2");
    assert_eq!(
        s.put_token("m2", b"w1", 5_000, 1_000, None, false).unwrap(),
        Some(1)
    );
    assert_eq!(s.get_token("m1").unwrap().unwrap().generation, 2);
}

pub fn force_overwrites_whatever_generation(s: &dyn Store) {
    add_mailbox(s, "m1");
    assert_eq!(
        s.put_token("m1", b"v1", 5_000, 1_000, None, false).unwrap(),
        Some(1)
    );
    assert_eq!(
        s.put_token("m1", b"v2", 5_000, 1_000, Some(1), false)
            .unwrap(),
        Some(2)
    );
    // A new sign-in overwrites whatever is stored, and still moves the generation on, so a
    // refresher holding generation 2 cannot overwrite the new sign-in.
    let g = s
        .put_token("m1", b"signin", 8_000, 3_000, None, true)
        .unwrap();
    assert_eq!(g, Some(3));
    assert_eq!(
        s.put_token("m1", b"late refresh", 8_000, 3_000, Some(2), false)
            .unwrap(),
        None
    );
    assert_eq!(s.get_token("m1").unwrap().unwrap().sealed, b"signin");
    // force on a mailbox without a row writes the first one.
    add_mailbox(s, "m2");
    assert_eq!(
        s.put_token("m2", b"x", 1, 1, Some(41), true).unwrap(),
        Some(1)
    );
}

pub fn delete_and_expiry(s: &dyn Store) {
    add_mailbox(s, "m1");
    assert_eq!(s.token_expiry("m1").unwrap(), None);
    assert!(!s.delete_token("m1").unwrap(), "nothing to delete");
    let g = s.put_token("m1", b"v1", 5_000, 1_000, None, false).unwrap();
    assert_eq!(s.token_expiry("m1").unwrap(), Some(5_000));
    s.put_token("m1", b"v2", 9_000, 2_000, g, false).unwrap();
    assert_eq!(s.token_expiry("m1").unwrap(), Some(9_000));
    assert!(s.delete_token("m1").unwrap());
    assert!(!s.delete_token("m1").unwrap());
    assert_eq!(s.get_token("m1").unwrap(), None);
    assert_eq!(s.token_expiry("m1").unwrap(), None);
    // After sign-out the next sign-in is a first write again.
    assert!(s
        .put_token("m1", b"v3", 9_000, 3_000, None, false)
        .unwrap()
        .is_some());
}

pub fn idle_tokens_are_those_refreshed_before(s: &dyn Store) {
    for (id, refreshed) in [("m1", 1_000), ("m2", 2_000), ("m3", 3_000)] {
        add_mailbox(s, id);
        s.put_token(id, b"t", refreshed + 3_600_000, refreshed, None, false)
            .unwrap();
    }
    let mut idle = s.idle_tokens(2_500).unwrap();
    idle.sort();
    assert_eq!(idle, ["m1", "m2"]);
    assert!(s.idle_tokens(1_000).unwrap().is_empty(), "strictly before");
    // A refresh takes the mailbox off the list.
    s.put_token("m1", b"t2", 9_000_000, 2_600, Some(1), false)
        .unwrap();
    assert_eq!(s.idle_tokens(2_500).unwrap(), ["m2"]);
}

pub fn auth_state_is_taken_once(s: &dyn Store) {
    add_mailbox(s, "m1");
    let row = auth_state("hash-1", "m1", "code", 1_000);
    s.insert_auth_state(&row).unwrap();
    match s.take_auth_state("hash-1", 1_500).unwrap() {
        TakeState::Taken(r) => assert_eq!(r, row),
        other => panic!("first take: {other:?}"),
    }
    // The redirect replayed (a reload, a second tab, an attacker): refused.
    match s.take_auth_state("hash-1", 1_600).unwrap() {
        TakeState::AlreadyUsed(r) => {
            assert_eq!(r.state_hash, "hash-1");
            assert_eq!(r.used_at, Some(1_500));
        }
        other => panic!("second take: {other:?}"),
    }
}

pub fn expired_and_unknown_auth_states(s: &dyn Store) {
    add_mailbox(s, "m1");
    assert_eq!(
        s.take_auth_state("nope", 1_000).unwrap(),
        TakeState::Unknown
    );
    let row = auth_state("hash-old", "m1", "code", 1_000);
    s.insert_auth_state(&row).unwrap();
    match s.take_auth_state("hash-old", row.expires_at + 1).unwrap() {
        TakeState::Expired(r) => assert_eq!(r.state_hash, "hash-old"),
        other => panic!("expired take: {other:?}"),
    }
    // An expired state is used up too: it never turns valid again.
    assert!(matches!(
        s.take_auth_state("hash-old", 1_100).unwrap(),
        TakeState::AlreadyUsed(_)
    ));
}

pub fn pending_device_flow_is_the_newest_open_one(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    assert_eq!(s.pending_device_flow("m1", 1_000).unwrap(), None);
    let older = auth_state("dev-1", "m1", "device", 1_000);
    let newer = auth_state("dev-2", "m1", "device", 2_000);
    let code = auth_state("code-1", "m1", "code", 3_000);
    let other = auth_state("dev-3", "m2", "device", 4_000);
    for r in [&older, &newer, &code, &other] {
        s.insert_auth_state(r).unwrap();
    }
    assert_eq!(
        s.pending_device_flow("m1", 2_500).unwrap().as_ref(),
        Some(&newer)
    );
    // Used ones do not count.
    assert!(matches!(
        s.take_auth_state("dev-2", 2_600).unwrap(),
        TakeState::Taken(_)
    ));
    assert_eq!(
        s.pending_device_flow("m1", 2_700).unwrap().as_ref(),
        Some(&older)
    );
    // Expired ones neither.
    assert_eq!(s.pending_device_flow("m1", older.expires_at).unwrap(), None);
    assert_eq!(s.pending_device_flow("m2", 4_000).unwrap(), Some(other));
}

pub fn close_auth_states_ends_one_flow(s: &dyn Store) {
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    for r in [
        auth_state("dev-1", "m1", "device", 1_000),
        auth_state("dev-2", "m1", "device", 1_100),
        auth_state("code-1", "m1", "code", 1_200),
        auth_state("dev-3", "m2", "device", 1_300),
    ] {
        s.insert_auth_state(&r).unwrap();
    }
    s.close_auth_states("m1", "device", 2_000).unwrap();
    assert_eq!(s.pending_device_flow("m1", 2_100).unwrap(), None);
    for h in ["dev-1", "dev-2"] {
        match s.take_auth_state(h, 2_100).unwrap() {
            TakeState::AlreadyUsed(r) => assert_eq!(r.used_at, Some(2_000)),
            other => panic!("{h}: {other:?}"),
        }
    }
    // Other flows and mailboxes stay open.
    assert!(matches!(
        s.take_auth_state("code-1", 2_100).unwrap(),
        TakeState::Taken(_)
    ));
    assert!(s.pending_device_flow("m2", 2_100).unwrap().is_some());
}
