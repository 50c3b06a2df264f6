//! `LeaseStore`: what must happen once across threads and processes.

use o365::store::Store;

pub fn free_lease_is_taken_and_renewed_by_its_holder(s: &dyn Store) {
    assert_eq!(s.lease_holder("refresh:m1").unwrap(), None);
    assert!(s.try_lease("refresh:m1", "a", 1_000, 100).unwrap());
    assert_eq!(
        s.lease_holder("refresh:m1").unwrap(),
        Some(("a".to_owned(), 1_100))
    );
    // The holder renews (also before expiry), moving the expiry on.
    assert!(s.try_lease("refresh:m1", "a", 1_050, 100).unwrap());
    assert_eq!(
        s.lease_holder("refresh:m1").unwrap(),
        Some(("a".to_owned(), 1_150))
    );
    // Names are independent.
    assert!(s.try_lease("refresh:m2", "b", 1_050, 100).unwrap());
    assert_eq!(
        s.lease_holder("refresh:m1").unwrap(),
        Some(("a".to_owned(), 1_150))
    );
}

pub fn held_lease_is_refused_until_it_expires(s: &dyn Store) {
    assert!(s.try_lease("sync:m1:inbox", "a", 1_000, 100).unwrap());
    assert!(!s.try_lease("sync:m1:inbox", "b", 1_000, 100).unwrap());
    assert!(!s.try_lease("sync:m1:inbox", "b", 1_099, 100).unwrap());
    assert_eq!(
        s.lease_holder("sync:m1:inbox").unwrap(),
        Some(("a".to_owned(), 1_100)),
        "a refused attempt changes nothing"
    );
    assert!(
        s.try_lease("sync:m1:inbox", "b", 1_101, 100).unwrap(),
        "expired"
    );
    assert_eq!(
        s.lease_holder("sync:m1:inbox").unwrap(),
        Some(("b".to_owned(), 1_201))
    );
    assert!(
        !s.try_lease("sync:m1:inbox", "a", 1_150, 100).unwrap(),
        "a lost it"
    );
}

pub fn only_the_holder_releases(s: &dyn Store) {
    assert!(s.try_lease("outbox:s1", "a", 1_000, 10_000).unwrap());
    s.release_lease("outbox:s1", "b").unwrap();
    assert_eq!(
        s.lease_holder("outbox:s1").unwrap(),
        Some(("a".to_owned(), 11_000)),
        "b's release did nothing"
    );
    assert!(!s.try_lease("outbox:s1", "b", 1_001, 100).unwrap());
    s.release_lease("outbox:s1", "a").unwrap();
    assert_eq!(s.lease_holder("outbox:s1").unwrap(), None);
    assert!(
        s.try_lease("outbox:s1", "b", 1_002, 100).unwrap(),
        "free again"
    );
    s.release_lease("never-held", "a").unwrap();
}

pub fn take_over_is_compare_and_set(s: &dyn Store) {
    assert!(s.try_lease("scheduler", "dead", 1_000, 60_000).unwrap());
    // Only from the holder named.
    assert!(!s
        .take_over_lease("scheduler", "someone", "b", 1_001, 500)
        .unwrap());
    assert_eq!(
        s.lease_holder("scheduler").unwrap(),
        Some(("dead".to_owned(), 61_000))
    );
    // Two takers that both saw `dead` holding it: exactly one wins.
    assert!(s
        .take_over_lease("scheduler", "dead", "b", 1_002, 500)
        .unwrap());
    assert!(!s
        .take_over_lease("scheduler", "dead", "c", 1_002, 500)
        .unwrap());
    assert_eq!(
        s.lease_holder("scheduler").unwrap(),
        Some(("b".to_owned(), 1_502))
    );
    // A lease nobody holds is not taken over (there is nothing to compare with).
    assert!(!s.take_over_lease("free", "dead", "b", 1_003, 500).unwrap());
    assert_eq!(s.lease_holder("free").unwrap(), None);
}

pub fn schema_is_current(s: &dyn Store) {
    let (have, need) = s.schema_version().unwrap();
    assert!(need > 0, "the library needs some schema");
    assert_eq!(have, need, "a freshly opened store is migrated");
}

pub fn holder_alive_judges_only_owners_it_can_tell(s: &dyn Store) {
    // Owners not named HOST|PID|TASK (throttling windows, hand-made names) are never judged.
    assert_eq!(s.holder_alive("graph-throttle").unwrap(), None);
    assert_eq!(s.holder_alive("a|b|c").unwrap(), None);
    // The calling process is never judged gone (PostgreSQL: alive by its presence; SQLite:
    // cannot tell).
    let me = format!(
        "{}|{}|task",
        o365::config::machine_tag(),
        std::process::id()
    );
    assert_ne!(s.holder_alive(&me).unwrap(), Some(false));
}
