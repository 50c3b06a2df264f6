//! Racing callers (threads sharing one store, as the runtime's workers and the host's
//! threads do): what must happen once happens once.

use crate::fixtures::*;
use o365::store::outbox::Insert;
use o365::store::{EventFilter, Store, TakeState};
use std::collections::HashSet;
use std::sync::Barrier;

const RACERS: usize = 4;

/// Runs `f(i)` on `RACERS` threads released together; the results in thread order.
fn race<T: Send>(f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(RACERS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let (f, start) = (&f, &start);
                scope.spawn(move || {
                    start.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

pub fn racing_consumers_never_get_one_event_twice(s: &dyn Store) {
    const EVENTS: usize = 24;
    for i in 0..EVENTS {
        s.push_event(&event(&format!("e{i:02}"), "mail_received", None, i as i64))
            .unwrap();
    }
    let taken = race(|i| {
        let mut mine = Vec::new();
        while let Some(e) = s
            .claim_event(
                &format!("consumer-{i}"),
                1_000,
                60_000,
                &EventFilter::default(),
            )
            .unwrap()
        {
            assert_eq!(e.deliveries, 0, "{} handed out before", e.id);
            mine.push(e.id);
        }
        mine
    });
    let all: Vec<&String> = taken.iter().flatten().collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), EVENTS, "every event handed out once: {taken:?}");
    assert_eq!(unique.len(), EVENTS);
}

pub fn racing_inserts_of_one_key_store_one_row(s: &dyn Store) {
    add_mailbox(s, "m1");
    let results = race(|i| {
        s.insert_outbox(&outbox(&format!("s{i}"), "m1", "crm-1", 1_000), None)
            .unwrap()
    });
    let winners: Vec<usize> = (0..RACERS)
        .filter(|i| results[*i] == Insert::Inserted)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = format!("s{}", winners[0]);
    for r in &results {
        if let Insert::Existing(row) = r {
            assert_eq!(row.send_id, winner, "every loser sees the winner's row");
        }
    }
    assert_eq!(s.unfinished_outbox().unwrap(), 1);
    assert_eq!(
        s.find_outbox("m1", "crm-1").unwrap().unwrap().send_id,
        winner
    );
}

pub fn racing_token_refreshes_have_one_winner(s: &dyn Store) {
    add_mailbox(s, "m1");
    let g = s.put_token("m1", b"v1", 5_000, 1_000, None, false).unwrap();
    let results = race(|i| {
        s.put_token(
            "m1",
            format!("refresh-{i}").as_bytes(),
            9_000,
            2_000,
            g,
            false,
        )
        .unwrap()
    });
    let won: Vec<usize> = (0..RACERS).filter(|i| results[*i].is_some()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert_eq!(results[won[0]], Some(2));
    let stored = s.get_token("m1").unwrap().unwrap();
    assert_eq!(
        stored.sealed,
        format!("refresh-{}", won[0]).into_bytes(),
        "the winner's write stays"
    );
    assert_eq!(stored.generation, 2);
}

pub fn racing_takes_of_one_state_have_one_winner(s: &dyn Store) {
    add_mailbox(s, "m1");
    s.insert_auth_state(&auth_state("h1", "m1", "code", 1_000))
        .unwrap();
    let results = race(|_| s.take_auth_state("h1", 1_500).unwrap());
    let taken = results
        .iter()
        .filter(|r| matches!(r, TakeState::Taken(_)))
        .count();
    let used = results
        .iter()
        .filter(|r| matches!(r, TakeState::AlreadyUsed(_)))
        .count();
    assert_eq!((taken, used), (1, RACERS - 1), "{results:?}");
}

pub fn racing_lease_takers_have_one_holder(s: &dyn Store) {
    let results = race(|i| {
        s.try_lease("refresh:m1", &format!("p{i}"), 1_000, 30_000)
            .unwrap()
    });
    let holders: Vec<usize> = (0..RACERS).filter(|i| results[*i]).collect();
    assert_eq!(holders.len(), 1, "{results:?}");
    assert_eq!(
        s.lease_holder("refresh:m1").unwrap(),
        Some((format!("p{}", holders[0]), 31_000))
    );
    // And the same when the lease has expired and everyone sees it at once.
    let results = race(|i| {
        s.try_lease("refresh:m1", &format!("q{i}"), 40_000, 30_000)
            .unwrap()
    });
    assert_eq!(results.iter().filter(|r| **r).count(), 1, "{results:?}");
}

pub fn racing_senders_share_the_slots(s: &dyn Store) {
    let results = race(|_| s.reserve_send_slot("m1", 1_000, 1_000 - 60_000, 2).unwrap());
    let reserved = results.iter().filter(|r| r.is_none()).count();
    assert_eq!(reserved, 2, "exactly max slots: {results:?}");
}
