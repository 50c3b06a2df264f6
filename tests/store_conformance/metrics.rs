//! `MetricsStore`: queue depths and freshness for `o365_metrics`.

use crate::fixtures::*;
use o365::store::cache::{DeltaLink, MessagePage};
use o365::store::Store;

pub fn outbox_by_state_and_last_sync_success(s: &dyn Store) {
    assert!(s.outbox_by_state().unwrap().is_empty());
    assert!(s.last_sync_success().unwrap().is_empty());
    add_mailbox(s, "m1");
    add_mailbox(s, "m2");
    for (i, key) in ["k1", "k2", "k3", "k4"].iter().enumerate() {
        s.insert_outbox(&outbox(&format!("s{i}"), "m1", key, 100), None)
            .unwrap();
    }
    s.mark_sent("s0", 200).unwrap();
    set_outbox_state(s, "s1", "failed", 200);
    set_outbox_state(s, "s2", "sending", 200);
    let mut by_state = s.outbox_by_state().unwrap();
    by_state.sort();
    assert_eq!(
        by_state,
        [("failed", 1), ("queued", 1), ("sending", 1), ("sent", 1)].map(|(k, n)| (k.to_owned(), n))
    );

    // Freshness: the newest success of any scope, per mailbox; None before any.
    s.record_sync_success("m1", "folders", 1_000).unwrap();
    s.apply_message_page(
        "m1",
        "inbox",
        &MessagePage::default(),
        &DeltaLink::Delta("https://graph/d1".into()),
        3_000,
    )
    .unwrap();
    s.record_sync_success("m1", "sentitems", 2_000).unwrap();
    let mut fresh = s.last_sync_success().unwrap();
    fresh.sort();
    assert_eq!(
        fresh,
        vec![
            (
                "m1".to_owned(),
                "m1@contoso.example".to_owned(),
                Some(3_000)
            ),
            ("m2".to_owned(), "m2@contoso.example".to_owned(), None),
        ]
    );
}
