//! `BlobStore`: blobs in chunks (link files and spooled attachments of a shared store).

use o365::store::blobs::BlobSummary;
use o365::store::Store;

/// A chunk of `len` bytes that covers every byte value, NUL included.
fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn summary(chunks: i64) -> BlobSummary {
    BlobSummary {
        size: 1234,
        sha256: "ab".repeat(32),
        chunks,
    }
}

pub fn written_in_batches_finished_and_read_back(s: &dyn Store) {
    s.create_blob("b1", "link:L1", 1_000).unwrap();
    let b = s.get_blob("b1").unwrap().expect("created");
    assert_eq!((b.id.as_str(), b.owner.as_str()), ("b1", "link:L1"));
    assert_eq!((b.created_at, b.finished), (1_000, None), "unfinished");
    let chunks: Vec<Vec<u8>> = (0..5).map(|i| bytes(i, 65_536 + 16)).collect();
    s.put_blob_chunks("b1", 0, &chunks[..3]).unwrap();
    s.put_blob_chunks("b1", 3, &chunks[3..4]).unwrap();
    let e = s.finish_blob("b1", &summary(5)).unwrap_err();
    assert_eq!(e.kind(), "blob_incomplete", "a missing chunk refuses: {e}");
    assert_eq!(s.get_blob("b1").unwrap().unwrap().finished, None);
    let e = s.finish_blob("b1", &summary(3)).unwrap_err();
    assert_eq!(e.kind(), "blob_incomplete", "an extra chunk refuses too");
    s.put_blob_chunks("b1", 4, &chunks[4..]).unwrap();
    s.finish_blob("b1", &summary(5)).unwrap();
    assert_eq!(
        s.get_blob("b1").unwrap().unwrap().finished,
        Some(summary(5))
    );
    assert_eq!(
        s.blob_chunks("b1", 0, 100).unwrap(),
        chunks,
        "byte-exact, in order"
    );
    assert_eq!(s.blob_chunks("b1", 1, 2).unwrap(), chunks[1..3].to_vec());
    assert_eq!(s.blob_chunks("b1", 4, 2).unwrap(), chunks[4..].to_vec());
    assert!(
        s.blob_chunks("b1", 5, 2).unwrap().is_empty(),
        "past the end"
    );
    assert!(s.blob_chunks("nope", 0, 2).unwrap().is_empty());
    assert_eq!(s.get_blob("nope").unwrap(), None);
    // Finished is final.
    let e = s.put_blob_chunks("b1", 5, &chunks[..1]).unwrap_err();
    assert_eq!(e.kind(), "blob_not_found", "{e}");
    assert_eq!(
        s.finish_blob("b1", &summary(5)).unwrap_err().kind(),
        "blob_not_found"
    );
    assert_eq!(
        s.put_blob_chunks("nope", 0, &chunks[..1])
            .unwrap_err()
            .kind(),
        "blob_not_found"
    );
    assert_eq!(
        s.create_blob("b1", "link:L2", 2_000).unwrap_err().kind(),
        "blob_exists",
        "an id is never stored twice"
    );
    assert_eq!(s.get_blob("b1").unwrap().unwrap().owner, "link:L1");
}

pub fn an_empty_blob_has_one_chunk_and_rewrites_replace(s: &dyn Store) {
    s.create_blob("e", "outbox:s1", 1).unwrap();
    s.put_blob_chunks("e", 0, &[b"first".to_vec()]).unwrap();
    s.put_blob_chunks("e", 0, &[Vec::new()]).unwrap();
    s.finish_blob(
        "e",
        &BlobSummary {
            size: 0,
            sha256: "e3b0".into(),
            chunks: 1,
        },
    )
    .unwrap();
    assert_eq!(s.blob_chunks("e", 0, 10).unwrap(), vec![Vec::<u8>::new()]);
}

pub fn deleted_one_by_one_or_by_owner(s: &dyn Store) {
    for (id, owner) in [("a1", "link:A"), ("a2", "link:A"), ("b1", "link:B")] {
        s.create_blob(id, owner, 1).unwrap();
        s.put_blob_chunks(id, 0, &[bytes(1, 10)]).unwrap();
    }
    s.finish_blob("a1", &summary(1)).unwrap();
    assert!(s.delete_blob("a2").unwrap());
    assert!(!s.delete_blob("a2").unwrap(), "gone already");
    assert_eq!(s.get_blob("a2").unwrap(), None);
    assert!(s.blob_chunks("a2", 0, 10).unwrap().is_empty(), "chunks too");
    s.create_blob("a3", "link:A", 1).unwrap();
    assert_eq!(s.delete_blobs("link:A").unwrap(), 2, "finished or not");
    assert_eq!(s.delete_blobs("link:A").unwrap(), 0);
    assert!(s.blob_chunks("a1", 0, 10).unwrap().is_empty());
    assert_eq!(s.get_blob("a1").unwrap(), None);
    assert_eq!(
        s.blob_chunks("b1", 0, 10).unwrap(),
        vec![bytes(1, 10)],
        "other owners untouched"
    );
    // A deleted id can be used again.
    s.create_blob("a1", "link:A", 5).unwrap();
    assert!(s.blob_chunks("a1", 0, 10).unwrap().is_empty());
}

pub fn owners_page_in_order_and_unfinished_are_swept(s: &dyn Store) {
    for (id, owner, at) in [
        ("x1", "outbox:s2", 300),
        ("x2", "link:Z", 100),
        ("x3", "link:Z", 250),
        ("x4", "link:A", 50),
        ("x5", "outbox:s1", 400),
    ] {
        s.create_blob(id, owner, at).unwrap();
        s.put_blob_chunks(id, 0, &[bytes(2, 3)]).unwrap();
    }
    s.finish_blob("x2", &summary(1)).unwrap();
    s.finish_blob("x5", &summary(1)).unwrap();
    assert_eq!(
        s.blob_owners("", 2).unwrap(),
        vec![("link:A".to_owned(), 50), ("link:Z".to_owned(), 250)],
        "by owner, each with its newest blob"
    );
    assert_eq!(
        s.blob_owners("link:Z", 10).unwrap(),
        vec![("outbox:s1".to_owned(), 400), ("outbox:s2".to_owned(), 300)]
    );
    assert!(s.blob_owners("outbox:s2", 10).unwrap().is_empty());
    // Unfinished before 300: x3 (250) and x4 (50); x1 (300) is not before; x2 is finished.
    assert_eq!(s.delete_unfinished_blobs(300).unwrap(), 2);
    assert_eq!(s.get_blob("x3").unwrap(), None);
    assert_eq!(s.get_blob("x4").unwrap(), None);
    assert!(s.blob_chunks("x4", 0, 10).unwrap().is_empty());
    for kept in ["x1", "x2", "x5"] {
        assert!(s.get_blob(kept).unwrap().is_some(), "{kept} kept");
    }
    assert_eq!(s.delete_unfinished_blobs(300).unwrap(), 0);
}
