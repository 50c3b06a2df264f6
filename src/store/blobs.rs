//! Blobs: large byte strings kept in the store in chunks (the files behind links and the
//! outbox's spooled attachments, when the store is shared by several hosts).
//!
//! The store keeps what it is given: the chunks arrive sealed (the core encrypts them before
//! they reach the store, see `core::files`), so the store never holds plaintext file bytes.
//! A blob is written by one writer, chunk by chunk as the file streams in, and becomes
//! readable once finished; a writer that dies leaves an unfinished blob that
//! [`BlobStore::delete_unfinished_blobs`] removes later. Every blob belongs to an `owner`
//! (a link, an outbox entry) and is deleted with it.

use crate::error::{Error, Fault, Result};

/// A blob as stored (its chunks are read separately).
#[derive(Debug, Clone, PartialEq)]
pub struct BlobInfo {
    pub id: String,
    /// What the blob belongs to (e.g. `link:<id>`); deleted together by [`BlobStore::delete_blobs`].
    pub owner: String,
    pub created_at: i64,
    /// Set when finished: the plaintext size, its SHA-256 (hex) and the number of chunks.
    pub finished: Option<BlobSummary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlobSummary {
    pub size: i64,
    pub sha256: String,
    pub chunks: i64,
}

pub trait BlobStore {
    /// Starts an empty, unfinished blob; `already_exists` if the id is taken.
    fn create_blob(&self, id: &str, owner: &str, now: i64) -> Result<()>;
    /// Stores chunks `first .. first + chunks.len()` of an unfinished blob (writing a chunk
    /// again replaces it); `not_found` when there is no such unfinished blob (it was finished,
    /// deleted or never created).
    fn put_blob_chunks(&self, id: &str, first: i64, chunks: &[Vec<u8>]) -> Result<()>;
    /// Finishes a blob. Refused (`invalid`, the blob stays unfinished) unless exactly chunks
    /// `0 .. summary.chunks` are stored; `not_found` for an unknown or finished blob.
    fn finish_blob(&self, id: &str, summary: &BlobSummary) -> Result<()>;
    fn get_blob(&self, id: &str) -> Result<Option<BlobInfo>>;
    /// Up to `limit` chunks from index `first` on, in order (fewer at the end; none past it
    /// or for an unknown blob).
    fn blob_chunks(&self, id: &str, first: i64, limit: usize) -> Result<Vec<Vec<u8>>>;
    /// Deletes one blob with its chunks; false when there was none.
    fn delete_blob(&self, id: &str) -> Result<bool>;
    /// Deletes every blob of `owner` with its chunks; returns how many blobs.
    fn delete_blobs(&self, owner: &str) -> Result<usize>;
    /// The owners that have blobs, in order, after `after` (`""`: from the start), at most
    /// `limit`, each with the `created_at` of its newest blob (sweeps walk them to find blobs
    /// whose owner is gone).
    fn blob_owners(&self, after: &str, limit: usize) -> Result<Vec<(String, i64)>>;
    /// Deletes blobs left unfinished since before `before` (their writer died); returns how
    /// many.
    fn delete_unfinished_blobs(&self, before: i64) -> Result<usize>;
}

/// What both backends answer for a blob that is not there (or no longer unfinished).
pub(crate) fn no_blob(id: &str) -> Error {
    Error::not_found("blob", id).with_hint("the blob was finished, deleted, or never created")
}

/// What both backends answer for a blob id that is taken.
pub(crate) fn blob_exists(id: &str) -> Error {
    Error::AlreadyExists(Fault::new(
        "blob_exists",
        format!("blob '{id}' exists already"),
    ))
}

/// Checks the stored chunks of a blob (their count, lowest and highest index) against the
/// summary it is finished with.
pub(crate) fn check_complete(
    id: &str,
    s: &BlobSummary,
    (n, lo, hi): (i64, i64, i64),
) -> Result<()> {
    if n != s.chunks || lo != 0 || hi != s.chunks - 1 {
        return Err(Error::invalid(
            "blob_incomplete",
            format!(
                "blob '{id}' has {n} chunks stored, not the {} it is finished with",
                s.chunks
            ),
        ));
    }
    Ok(())
}
