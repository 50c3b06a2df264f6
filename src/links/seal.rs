//! Link files sealed at rest: AES-256-GCM in 64 KiB chunks under a random key per link.
//!
//! A sealed file is `MAGIC (8 bytes)` followed by the chunks; chunk `i` holds plaintext bytes
//! `[i * CHUNK, (i + 1) * CHUNK)` as ciphertext + 16-byte tag, so any byte range is decrypted
//! by reading only the chunks it touches. Each chunk has its own nonce (`file index || chunk
//! index`: unique, because every key seals one link and each chunk is written once); the
//! associated data binds a chunk to its link, file, position and whether it is the last one,
//! so chunks cannot be swapped, reordered or cut off unnoticed.
//!
//! The per-link key is kept in the store, sealed by the vault, and destroyed when the link
//! expires (crypto-shredding): a copy of the file taken before that cannot be opened after.
//! Files are created 0600 and folders 0700 whatever the process umask.

use crate::core::files::{ChunkSeal, Chunker};
use crate::error::{Error, Fault, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = crate::core::files::CHUNK;
const TAG: usize = 16;
const MAGIC: &[u8; 8] = b"O365LK01";

/// A fresh random file key for one link.
pub fn new_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

fn nonce(file: i64, chunk: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&(file as u32).to_be_bytes());
    n[4..].copy_from_slice(&chunk.to_be_bytes());
    n
}

fn aad(link_id: &str, file: i64, chunk: u64, last: bool) -> Vec<u8> {
    format!("o365-link-file\0{link_id}\0{file}\0{chunk}\0{}", last as u8).into_bytes()
}

fn damaged(path: &Path) -> Error {
    Error::Store(Fault::new(
        "link_file_damaged",
        format!(
            "the kept copy '{}' cannot be decrypted (damaged, or its key was destroyed)",
            path.display()
        ),
    ))
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::store(format!("cannot access '{}': {e}", path.display()))
}

/// Creates `dir` and its missing parents with mode 0700, and makes `dir` itself 0700 even if
/// it existed (folders made before files were sealed were 0755).
pub fn private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_err(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io_err(dir, e))
}

/// The chunks of one link file kept as a blob in the store: sealed exactly like the chunks
/// of a sealed file on disk (same key, nonce and associated data).
pub struct LinkChunks {
    cipher: Aes256Gcm,
    link_id: String,
    file: i64,
}

impl LinkChunks {
    pub fn new(key: &[u8; 32], link_id: &str, file: i64) -> Self {
        LinkChunks {
            cipher: Aes256Gcm::new(key.into()),
            link_id: link_id.to_owned(),
            file,
        }
    }
}

impl ChunkSeal for LinkChunks {
    fn seal(&self, chunk: u64, last: bool, plain: &[u8]) -> Result<Vec<u8>> {
        self.cipher
            .encrypt(
                Nonce::from_slice(&nonce(self.file, chunk)),
                Payload {
                    msg: plain,
                    aad: &aad(&self.link_id, self.file, chunk, last),
                },
            )
            .map_err(|_| Error::internal("encryption failed"))
    }

    fn open(&self, chunk: u64, last: bool, sealed: &[u8]) -> Result<Vec<u8>> {
        self.cipher
            .decrypt(
                Nonce::from_slice(&nonce(self.file, chunk)),
                Payload {
                    msg: sealed,
                    aad: &aad(&self.link_id, self.file, chunk, last),
                },
            )
            .map_err(|_| {
                crate::core::files::damaged(&format!("link {} file {}", self.link_id, self.file))
            })
    }
}

/// Writes one sealed file; feed it with [`Sealer::write`], end with [`Sealer::finish`].
pub struct Sealer {
    chunks: LinkChunks,
    chunk: u64,
    chunker: Chunker,
    out: File,
    path: PathBuf,
}

impl Sealer {
    /// Creates `dest` (mode 0600, must not exist).
    pub fn create(key: &[u8; 32], link_id: &str, file: i64, dest: &Path) -> Result<Sealer> {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .map_err(|e| io_err(dest, e))?;
        out.write_all(MAGIC).map_err(|e| io_err(dest, e))?;
        Ok(Sealer {
            chunks: LinkChunks::new(key, link_id, file),
            chunk: 0,
            chunker: Chunker::default(),
            out,
            path: dest.to_owned(),
        })
    }

    fn put(&mut self, plain: &[u8], last: bool) -> Result<()> {
        let ct = self.chunks.seal(self.chunk, last, plain)?;
        self.out.write_all(&ct).map_err(|e| io_err(&self.path, e))?;
        self.chunk += 1;
        Ok(())
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        // A full chunk is written only once more data follows: the last one is marked.
        let mut chunker = std::mem::take(&mut self.chunker);
        let done = chunker.write(data, &mut |plain| self.put(plain, false));
        self.chunker = chunker;
        done
    }

    /// Writes the last chunk (empty for an empty file) and syncs the file to disk.
    pub fn finish(mut self) -> Result<()> {
        let chunker = std::mem::take(&mut self.chunker);
        self.put(chunker.last(), true)?;
        self.out.sync_all().map_err(|e| io_err(&self.path, e))
    }
}

/// Reads plaintext bytes `[offset, offset + out.len())` of a sealed file whose plaintext is
/// `size` bytes long; returns how many were read (0 at or past the end).
pub fn read_at(
    key: &[u8; 32],
    link_id: &str,
    file: i64,
    path: &Path,
    size: u64,
    offset: u64,
    out: &mut [u8],
) -> Result<usize> {
    if offset >= size || out.is_empty() {
        return Ok(0);
    }
    let want = (out.len() as u64).min(size - offset) as usize;
    let chunks = size.div_ceil(CHUNK as u64).max(1);
    let chunks_of = LinkChunks::new(key, link_id, file);
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut done = 0usize;
    let mut ct = vec![0u8; CHUNK + TAG];
    while done < want {
        let pos = offset + done as u64;
        let i = pos / CHUNK as u64;
        let plain_len = (size - i * CHUNK as u64).min(CHUNK as u64) as usize;
        let at = MAGIC.len() as u64 + i * (CHUNK + TAG) as u64;
        f.seek(SeekFrom::Start(at)).map_err(|e| io_err(path, e))?;
        let ct = &mut ct[..plain_len + TAG];
        f.read_exact(ct).map_err(|_| damaged(path))?;
        let plain = chunks_of
            .open(i, i + 1 == chunks, ct)
            .map_err(|_| damaged(path))?;
        let from = (pos - i * CHUNK as u64) as usize;
        let n = (plain.len() - from).min(want - done);
        out[done..done + n].copy_from_slice(&plain[from..from + n]);
        done += n;
    }
    Ok(done)
}

/// Checks the file's header: a sealed file starts with the magic bytes.
pub fn is_sealed_file(path: &Path) -> bool {
    let mut head = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head == MAGIC)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &[u8; 32], data: &[u8], pieces: usize, path: &Path) {
        let mut s = Sealer::create(key, "L1", 3, path).unwrap();
        for part in data.chunks(pieces.max(1)) {
            s.write(part).unwrap();
        }
        s.finish().unwrap();
    }

    #[test]
    fn ranges_round_trip_across_chunk_edges() {
        let d = tempfile::tempdir().unwrap();
        let key = new_key();
        for size in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let p = d.path().join(format!("f{size}"));
            seal(&key, &data, 10_000, &p);
            assert!(is_sealed_file(&p));
            let on_disk = std::fs::read(&p).unwrap();
            if size > 64 {
                assert!(
                    !on_disk.windows(64).any(|w| w == &data[..64]),
                    "no plaintext"
                );
            }
            for (off, len) in [
                (0, size),
                (1, 5),
                (CHUNK - 2, 4),
                (size / 2, size),
                (size, 3),
            ] {
                let mut buf = vec![0u8; len];
                let n = read_at(&key, "L1", 3, &p, size as u64, off as u64, &mut buf).unwrap();
                let end = (off + len).min(size);
                let expect = if off >= size {
                    &[][..]
                } else {
                    &data[off..end]
                };
                assert_eq!(&buf[..n], expect, "size {size} off {off} len {len}");
            }
        }
    }

    #[test]
    fn wrong_key_link_or_truncation_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let key = new_key();
        let data = vec![9u8; 2 * CHUNK + 5];
        let p = d.path().join("f");
        seal(&key, &data, CHUNK, &p);
        let mut buf = vec![0u8; 10];
        let size = data.len() as u64;
        assert!(read_at(&new_key(), "L1", 3, &p, size, 0, &mut buf).is_err());
        assert!(read_at(&key, "L2", 3, &p, size, 0, &mut buf).is_err());
        assert!(read_at(&key, "L1", 4, &p, size, 0, &mut buf).is_err());
        // cut after the first two chunks and claim that was all: the last-chunk mark fails
        let cut = d.path().join("cut");
        std::fs::write(&cut, &std::fs::read(&p).unwrap()[..8 + 2 * (CHUNK + TAG)]).unwrap();
        assert!(read_at(
            &key,
            "L1",
            3,
            &cut,
            2 * CHUNK as u64,
            CHUNK as u64,
            &mut buf
        )
        .is_err());
    }

    #[test]
    fn files_0600_and_folders_0700_whatever_the_umask() {
        let d = tempfile::tempdir().unwrap();
        let old = unsafe { libc::umask(0) };
        let dir = d.path().join("a/b");
        private_dir(&dir).unwrap();
        let p = dir.join("f");
        seal(&new_key(), b"x", 1, &p);
        unsafe { libc::umask(old) };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&d.path().join("a")), 0o700);
        assert_eq!(mode(&p), 0o600);
    }
}
