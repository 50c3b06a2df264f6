//! Download and agreement links: one link per sent mail, its files, and the log of what
//! recipients did with it.

use crate::error::Result;

/// A link as stored. The token handed out is `id` plus a signature; only `id` is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkRecord {
    /// At least 128 random bits, URL-safe base64.
    pub id: String,
    pub mailbox_id: String,
    pub send_id: String,
    /// `download` or `agreement`.
    pub kind: String,
    pub agreement_text: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when the files were deleted after expiry.
    pub purged_at: Option<i64>,
    /// The subject of the mail the link was sent in.
    pub subject: Option<String>,
    /// The key the files are sealed with, itself sealed by the vault; `None` once shredded
    /// (expiry) or for links kept before files were sealed.
    pub file_key: Option<Vec<u8>>,
    pub files: Vec<LinkFile>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinkFile {
    pub index: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// Path of the kept copy, relative to the links directory.
    pub path: String,
    /// Whether the kept copy is sealed (`links::seal`); plaintext only before migration 6.
    pub sealed: bool,
}

/// One thing a recipient did with a link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkAccess {
    pub link_id: String,
    /// `accept` or `download`.
    pub action: String,
    pub at: i64,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub file_index: Option<i64>,
}

pub trait LinkStore {
    fn insert_link(&self, l: &LinkRecord) -> Result<()>;
    fn get_link(&self, id: &str) -> Result<Option<LinkRecord>>;
    /// Deletes a link that was never handed out (its outbox row lost the insert race).
    fn delete_link(&self, id: &str) -> Result<()>;
    /// Records an access; returns its sequence number.
    fn record_link_access(&self, a: &LinkAccess) -> Result<i64>;
    /// The accesses of a link, oldest first.
    fn link_accesses(&self, id: &str) -> Result<Vec<LinkAccess>>;
    /// Links expired before `now` whose files are still kept.
    fn expired_links(&self, now: i64, limit: usize) -> Result<Vec<LinkRecord>>;
    /// Marks the link purged and destroys its file key (crypto-shredding): the key is
    /// overwritten in the store file and the write-ahead log is checkpointed away.
    fn mark_link_purged(&self, id: &str, now: i64) -> Result<()>;
    /// Unpurged links that still have plaintext files (kept before files were sealed).
    fn unsealed_links(&self, limit: usize) -> Result<Vec<LinkRecord>>;
    /// Records that the files of a link are now sealed with `file_key` at the given paths
    /// (`(index, path)`), in one transaction, if those files are still unsealed; false when
    /// another process sealed them first.
    fn set_link_sealed(&self, id: &str, file_key: &[u8], paths: &[(i64, String)]) -> Result<bool>;
    /// The signing key, sealed; stored once (the first writer wins) and returned.
    fn link_signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>>;
}
