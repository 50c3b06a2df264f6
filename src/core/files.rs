//! Where kept files live: the files behind links and the outbox's spooled attachments.
//!
//! - A SQLite store keeps them in folders beside the store file (`<store>.links/`,
//!   `<store>.outbox/`), or the links in `links.directory` when configured: nothing changes.
//! - A shared store (PostgreSQL) keeps them in the database, as blobs in sealed chunks
//!   ([`BlobWriter`], [`BlobReader`]), so any host serves any link and resumes any send with
//!   nothing on its own disk; or, when `links.directory` is configured, in that folder, which
//!   must then be shared by every host (a network filesystem).
//!
//! Chunks are sealed here, in the core, before they reach the store: the store never sees a
//! plaintext file byte. Each chunk is sealed with AES-256-GCM by a [`ChunkSeal`]: link files
//! with their link's key (destroyed at expiry), spooled attachments by the vault
//! ([`VaultChunks`]); the associated data binds a chunk to its blob, position and whether it
//! is the last one, so chunks cannot be swapped, reordered or cut off unnoticed.

use super::vault::Vault;
use super::Core;
use crate::config::Config;
use crate::error::{Error, Fault, Result};
use crate::store::blobs::BlobSummary;
use std::path::{Path, PathBuf};

/// Plaintext bytes per chunk (the same as the sealed link files on disk).
pub const CHUNK: usize = 64 * 1024;
/// Chunks per store round trip when writing or reading in sequence (1 MiB).
const BATCH: usize = 16;
/// A path in a record (`LinkFile::path`) that names a blob instead of a file.
const BLOB_SCHEME: &str = "blob:";

/// Where a kind of kept file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A folder on this host (or a shared filesystem).
    Dir(PathBuf),
    /// Blobs in the store.
    Database,
}

/// Whether the store is a SQLite file on this host (a plain path or `sqlite://`).
pub fn store_is_local(config: &Config) -> bool {
    match config.store.split_once("://") {
        Some((scheme, _)) => scheme.eq_ignore_ascii_case("sqlite"),
        None => true,
    }
}

/// The folder `<store><suffix>` beside a SQLite store file.
pub fn beside_store(store: &Path, suffix: &str) -> PathBuf {
    let mut name = store
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "o365.db".into());
    name.push(suffix);
    store.with_file_name(name)
}

/// Where the files behind links go: `links.directory` when configured, else beside a SQLite
/// store, else the database.
pub fn links_place(config: &Config) -> Place {
    if let Some(d) = &config.links.directory {
        return Place::Dir(d.clone());
    }
    if store_is_local(config) {
        return Place::Dir(beside_store(&config.store_path(), ".links"));
    }
    Place::Database
}

/// Where the outbox spools attachments: beside a SQLite store (as always), else in
/// `links.directory/.outbox` when that shared folder is configured, else the database.
/// (`.` never starts a link id, so the spool never meets a link's folder.)
pub fn spool_place(config: &Config) -> Place {
    if store_is_local(config) {
        return Place::Dir(super::spool::spool_dir(&config.store_path()));
    }
    match &config.links.directory {
        Some(d) => Place::Dir(d.join(".outbox")),
        None => Place::Database,
    }
}

/// The path to record for a blob (`LinkFile::path`).
pub fn blob_path(id: &str) -> String {
    format!("{BLOB_SCHEME}{id}")
}

/// The blob a recorded path names, if it names one.
pub fn path_blob(path: &str) -> Option<&str> {
    path.strip_prefix(BLOB_SCHEME)
}

/// Seals and opens the chunks of one blob.
pub trait ChunkSeal {
    fn seal(&self, chunk: u64, last: bool, plain: &[u8]) -> Result<Vec<u8>>;
    fn open(&self, chunk: u64, last: bool, sealed: &[u8]) -> Result<Vec<u8>>;
}

/// Chunks sealed by the vault (the key tokens are sealed with), bound to their blob.
pub struct VaultChunks<'a> {
    vault: &'a Vault,
    blob: String,
}

impl<'a> VaultChunks<'a> {
    pub fn new(vault: &'a Vault, blob: &str) -> Self {
        VaultChunks {
            vault,
            blob: blob.to_owned(),
        }
    }

    fn aad(&self, chunk: u64, last: bool) -> String {
        format!("blob-chunk\0{}\0{chunk}\0{}", self.blob, last as u8)
    }
}

impl ChunkSeal for VaultChunks<'_> {
    fn seal(&self, chunk: u64, last: bool, plain: &[u8]) -> Result<Vec<u8>> {
        self.vault.seal(&self.aad(chunk, last), plain)
    }

    fn open(&self, chunk: u64, last: bool, sealed: &[u8]) -> Result<Vec<u8>> {
        self.vault
            .open(&self.aad(chunk, last), sealed)
            .map_err(|_| damaged(&self.blob))
    }
}

pub fn damaged(blob: &str) -> Error {
    Error::Store(Fault::new(
        "blob_damaged",
        format!("the kept copy '{blob}' in the store cannot be decrypted (damaged, or its key was destroyed)"),
    ))
}

fn gone(blob: &str) -> Error {
    Error::Store(Fault::new(
        "blob_damaged",
        format!("the kept copy '{blob}' is no longer (or not completely) in the store"),
    ))
}

/// Cuts a stream of bytes into [`CHUNK`]-sized pieces. A full piece is handed on only once
/// more data follows, so whoever seals it knows whether it is the last one.
#[derive(Default)]
pub struct Chunker {
    buf: Vec<u8>,
}

impl Chunker {
    /// Takes `data`, handing each full piece that is not the last to `full`.
    pub fn write(
        &mut self,
        mut data: &[u8],
        full: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        while !data.is_empty() {
            if self.buf.len() == CHUNK {
                full(&self.buf)?;
                self.buf.clear();
            }
            let n = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        Ok(())
    }

    /// The last piece (empty for an empty stream).
    pub fn last(&self) -> &[u8] {
        &self.buf
    }
}

/// Writes one blob as its bytes stream in: sealed chunk by chunk, stored [`BATCH`] chunks at
/// a time, so memory stays bounded whatever the file's size. Unfinished (and invisible to
/// readers) until [`BlobWriter::finish`].
pub struct BlobWriter<'a, S: ChunkSeal> {
    core: &'a Core,
    id: String,
    seal: S,
    chunker: Chunker,
    pending: Vec<Vec<u8>>,
    /// Index of the first chunk in `pending`.
    first: i64,
}

/// Chunks sealed but not stored yet, of one blob.
struct Pending<'p> {
    core: &'p Core,
    id: &'p str,
    chunks: &'p mut Vec<Vec<u8>>,
    first: &'p mut i64,
}

impl Pending<'_> {
    fn push(&mut self, seal: &dyn ChunkSeal, plain: &[u8], last: bool) -> Result<()> {
        let index = *self.first as u64 + self.chunks.len() as u64;
        self.chunks.push(seal.seal(index, last, plain)?);
        if self.chunks.len() == BATCH || last {
            self.core
                .store()
                .put_blob_chunks(self.id, *self.first, self.chunks)?;
            *self.first += self.chunks.len() as i64;
            self.chunks.clear();
        }
        Ok(())
    }
}

impl<'a, S: ChunkSeal> BlobWriter<'a, S> {
    /// Starts blob `id` belonging to `owner`.
    pub fn create(core: &'a Core, id: &str, owner: &str, seal: S) -> Result<Self> {
        core.store().create_blob(id, owner, core.now_ms())?;
        Ok(BlobWriter {
            core,
            id: id.to_owned(),
            seal,
            chunker: Chunker::default(),
            pending: Vec::with_capacity(BATCH),
            first: 0,
        })
    }

    fn pending(&mut self) -> (Pending<'_>, &S, &mut Chunker) {
        (
            Pending {
                core: self.core,
                id: &self.id,
                chunks: &mut self.pending,
                first: &mut self.first,
            },
            &self.seal,
            &mut self.chunker,
        )
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let (mut pending, seal, chunker) = self.pending();
        chunker.write(data, &mut |plain| pending.push(seal, plain, false))
    }

    /// Seals the last chunk (empty for an empty file) and finishes the blob with the
    /// plaintext's size and SHA-256 (computed by whoever read the source).
    pub fn finish(mut self, size: u64, sha256: &str) -> Result<()> {
        let (mut pending, seal, chunker) = self.pending();
        pending.push(seal, chunker.last(), true)?;
        let summary = BlobSummary {
            size: size as i64,
            sha256: sha256.to_owned(),
            chunks: self.first,
        };
        self.core.store().finish_blob(&self.id, &summary)
    }
}

/// Reads a finished blob: any byte range ([`BlobReader::read_at`], for downloads) or in
/// sequence ([`BlobReader::read`], for uploads), holding at most [`BATCH`] chunks.
pub struct BlobReader<'a, S: ChunkSeal> {
    core: &'a Core,
    id: String,
    seal: S,
    size: u64,
    chunks: u64,
    /// Decrypted chunks from `have_first` on, for reads in sequence.
    have: std::collections::VecDeque<Vec<u8>>,
    have_first: u64,
    pos: u64,
}

impl<'a, S: ChunkSeal> BlobReader<'a, S> {
    /// Opens blob `id`; `blob_damaged` when it is not (or not yet completely) stored.
    pub fn open(core: &'a Core, id: &str, seal: S) -> Result<Self> {
        let info = core.store().get_blob(id)?.ok_or_else(|| gone(id))?;
        let s = info.finished.ok_or_else(|| gone(id))?;
        Ok(BlobReader {
            core,
            id: id.to_owned(),
            seal,
            size: s.size.max(0) as u64,
            chunks: s.chunks.max(1) as u64,
            have: Default::default(),
            have_first: 0,
            pos: 0,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Loads (up to `want`) decrypted chunks from `first` on into `have`.
    fn load(&mut self, first: u64, want: usize) -> Result<()> {
        let want = want.clamp(1, BATCH);
        let rows = self
            .core
            .store()
            .blob_chunks(&self.id, first as i64, want)?;
        if rows.is_empty() {
            return Err(damaged(&self.id));
        }
        self.have.clear();
        self.have_first = first;
        for (i, sealed) in rows.iter().enumerate() {
            let index = first + i as u64;
            let plain = self.seal.open(index, index + 1 == self.chunks, sealed)?;
            let expect = (self.size - (index * CHUNK as u64).min(self.size)).min(CHUNK as u64);
            if plain.len() as u64 != expect {
                return Err(damaged(&self.id));
            }
            self.have.push_back(plain);
        }
        Ok(())
    }

    /// Reads plaintext bytes `[offset, offset + out.len())`; returns how many (0 at or past
    /// the end).
    pub fn read_at(&mut self, offset: u64, out: &mut [u8]) -> Result<usize> {
        if offset >= self.size || out.is_empty() {
            return Ok(0);
        }
        let want = (out.len() as u64).min(self.size - offset) as usize;
        let mut done = 0usize;
        while done < want {
            let pos = offset + done as u64;
            let i = pos / CHUNK as u64;
            if i < self.have_first || i >= self.have_first + self.have.len() as u64 {
                let left = (want - done).div_ceil(CHUNK) + 1;
                self.load(i, left)?;
            }
            let plain = &self.have[(i - self.have_first) as usize];
            let from = (pos - i * CHUNK as u64) as usize;
            let n = (plain.len() - from).min(want - done);
            out[done..done + n].copy_from_slice(&plain[from..from + n]);
            done += n;
        }
        Ok(done)
    }

    /// Reads the next bytes in sequence; returns how many (0 at the end).
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize> {
        if self.pos >= self.size {
            return Ok(0);
        }
        let need = self.have.is_empty()
            || self.pos / (CHUNK as u64) >= self.have_first + self.have.len() as u64;
        if need {
            self.load(self.pos / CHUNK as u64, BATCH)?;
        }
        let n = self.read_at(self.pos, out)?;
        self.pos += n as u64;
        Ok(n)
    }

    /// Fills `out` completely from the current position (`blob_damaged` if it ends first).
    pub fn read_exact(&mut self, out: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < out.len() {
            let n = self.read(&mut out[done..])?;
            if n == 0 {
                return Err(damaged(&self.id));
            }
            done += n;
        }
        Ok(())
    }
}

/// Deletes every blob of `owner`, logging (not failing on) a store error: the sweep
/// ([`sweep_unfinished`]) and the owners' own cleanups find what is left.
pub fn delete_owned(c: &Core, owner: &str) {
    if let Err(e) = c.store().delete_blobs(owner) {
        tracing::warn!("blobs of {owner} not deleted: {e}");
    }
}

/// How long an unfinished blob may stay before it counts as left by a dead writer.
pub const UNFINISHED_TTL_MS: i64 = 24 * 3600 * 1000;

/// Blobs are written before the record that names them (a link, an outbox entry): a sweep
/// leaves an owner alone while its newest blob is younger than this.
const OWNER_GRACE_MS: i64 = 3600 * 1000;

/// Deletes the blobs nobody needs any more: those whose writer died before finishing them
/// (a day old), and those whose owner `gone` says is gone (a process died between its
/// store writes). Returns how many blobs were deleted.
pub fn sweep(c: &Core, gone: impl Fn(&str) -> Result<bool>) -> Result<usize> {
    let now = c.now_ms();
    let mut n = c.store().delete_unfinished_blobs(now - UNFINISHED_TTL_MS)?;
    let mut after = String::new();
    loop {
        let owners = c.store().blob_owners(&after, 200)?;
        let Some((last, _)) = owners.last() else {
            return Ok(n);
        };
        after = last.clone();
        for (owner, newest) in &owners {
            if *newest < now - OWNER_GRACE_MS && gone(owner)? {
                n += c.store().delete_blobs(owner)?;
            }
        }
    }
}
