//! `LinkStore`: download / agreement links, their files, the access log, expiry and sealing.

use crate::fixtures::*;
use o365::store::links::LinkAccess;
use o365::store::Store;

fn access(link: &str, action: &str, at: i64, file: Option<i64>) -> LinkAccess {
    LinkAccess {
        link_id: link.to_owned(),
        action: action.to_owned(),
        at,
        client_address: Some("192.0.2.7".to_owned()),
        user_agent: Some("Mozilla/5.0".to_owned()),
        file_index: file,
    }
}

pub fn insert_get_delete(s: &dyn Store) {
    let l = link("L1", "m1", 10_000, true);
    s.insert_link(&l).unwrap();
    assert_eq!(
        s.get_link("L1").unwrap().as_ref(),
        Some(&l),
        "stored whole, files in order"
    );
    let mut plain = link("L2", "m1", 10_000, false);
    plain.kind = "download".into();
    plain.agreement_text = None;
    plain.subject = None;
    plain.files.truncate(1);
    s.insert_link(&plain).unwrap();
    assert_eq!(s.get_link("L2").unwrap().as_ref(), Some(&plain));
    assert!(s.insert_link(&l).is_err(), "an id is never stored twice");
    assert_eq!(
        s.get_link("L1").unwrap().as_ref(),
        Some(&l),
        "the first stays"
    );
    s.delete_link("L1").unwrap();
    assert_eq!(s.get_link("L1").unwrap(), None);
    s.delete_link("L1").unwrap();
    assert_eq!(s.get_link("L2").unwrap(), Some(plain), "others untouched");
    assert_eq!(s.get_link("nope").unwrap(), None);
}

pub fn access_log_in_order(s: &dyn Store) {
    s.insert_link(&link("L1", "m1", 10_000, true)).unwrap();
    s.insert_link(&link("L2", "m1", 10_000, true)).unwrap();
    let a = access("L1", "accept", 2_000, None);
    let b = access("L1", "download", 1_000, Some(1));
    let mut c = access("L2", "download", 1_500, Some(0));
    c.client_address = None;
    c.user_agent = None;
    let sa = s.record_link_access(&a).unwrap();
    let sc = s.record_link_access(&c).unwrap();
    let sb = s.record_link_access(&b).unwrap();
    assert!(sa < sc && sc < sb, "sequence numbers grow: {sa} {sc} {sb}");
    // Oldest first means in the order recorded, whatever the `at` values say.
    assert_eq!(s.link_accesses("L1").unwrap(), vec![a, b]);
    assert_eq!(s.link_accesses("L2").unwrap(), vec![c]);
    assert!(s.link_accesses("nope").unwrap().is_empty());
}

pub fn expired_links_and_purge_shreds_the_key(s: &dyn Store) {
    s.insert_link(&link("soon", "m1", 1_000, true)).unwrap();
    s.insert_link(&link("later", "m1", 5_000, true)).unwrap();
    s.insert_link(&link("never", "m1", 100_000, true)).unwrap();
    let ids = |now, limit| -> Vec<String> {
        s.expired_links(now, limit)
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect()
    };
    assert!(ids(999, 10).is_empty());
    assert_eq!(ids(6_000, 10), ["soon", "later"], "oldest expiry first");
    assert_eq!(ids(6_000, 1), ["soon"]);
    // Whole records (the purger needs the file paths).
    assert_eq!(
        s.expired_links(6_000, 1).unwrap()[0],
        link("soon", "m1", 1_000, true)
    );
    s.mark_link_purged("soon", 6_100).unwrap();
    let purged = s.get_link("soon").unwrap().unwrap();
    assert_eq!(purged.purged_at, Some(6_100));
    assert_eq!(purged.file_key, None, "the file key is destroyed");
    assert_eq!(purged.files.len(), 2, "the file list stays for the record");
    assert_eq!(ids(6_000, 10), ["later"], "purged links are done");
    // Purging again keeps the first time.
    s.mark_link_purged("soon", 7_000).unwrap();
    assert_eq!(s.get_link("soon").unwrap().unwrap().purged_at, Some(6_100));
    s.mark_link_purged("nope", 7_000).unwrap();
}

pub fn sealing_is_once(s: &dyn Store) {
    s.insert_link(&link("old", "m1", 100_000, false)).unwrap();
    s.insert_link(&link("new", "m1", 100_000, true)).unwrap();
    s.insert_link(&link("gone", "m1", 1_000, false)).unwrap();
    s.mark_link_purged("gone", 2_000).unwrap();
    let unsealed: Vec<String> = s
        .unsealed_links(10)
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(unsealed, ["old"], "sealed and purged links are not listed");
    let paths = vec![
        (0, "old/0.sealed".to_owned()),
        (1, "old/1.sealed".to_owned()),
    ];
    assert!(s
        .set_link_sealed("old", b"sealed-file-key", &paths)
        .unwrap());
    let sealed = s.get_link("old").unwrap().unwrap();
    assert_eq!(sealed.file_key.as_deref(), Some(&b"sealed-file-key"[..]));
    for (f, (i, p)) in sealed.files.iter().zip(&paths) {
        assert_eq!((f.index, &f.path, f.sealed), (*i, p, true));
    }
    assert!(s.unsealed_links(10).unwrap().is_empty());
    // A second process that sealed the same files concurrently loses, and changes nothing.
    let theirs = vec![(0, "old/0.other".to_owned()), (1, "old/1.other".to_owned())];
    assert!(!s.set_link_sealed("old", b"other-key", &theirs).unwrap());
    assert_eq!(s.get_link("old").unwrap(), Some(sealed));
    assert!(
        !s.set_link_sealed("nope", b"k", &paths).unwrap(),
        "unknown link"
    );
}

pub fn signing_key_first_candidate_wins(s: &dyn Store) {
    let first = s.link_signing_key(b"candidate-1").unwrap();
    assert_eq!(first, b"candidate-1");
    assert_eq!(s.link_signing_key(b"candidate-2").unwrap(), first, "stable");
    assert_eq!(s.link_signing_key(b"candidate-3").unwrap(), first);
}
