//! Copies attachments out of the host's hands: into the outbox spool (to be attached) or the
//! links directory (to be downloaded), checking sizes and computing SHA-256 on the way.
//!
//! The spool is a folder beside a SQLite store (`<store>.outbox/<send id>/`); with a shared
//! store it is blobs in the database, sealed by the vault (or `links.directory/.outbox` when
//! that shared folder is configured), so any host resumes any send ([`super::files`]).

use super::files::{self, BlobReader, BlobWriter, Place, VaultChunks};
use super::Core;
use crate::error::{Error, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// An attachment: a file by `path` (read during the call) or inline `base64`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    pub name: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub base64: Option<String>,
    /// For images referenced as `cid:` from the HTML body.
    #[serde(default)]
    pub content_id: Option<String>,
}

/// The outbox spool of a store: `<store>.outbox/`.
pub fn spool_dir(store: &Path) -> PathBuf {
    super::files::beside_store(store, ".outbox")
}

/// The owner of an outbox entry's spooled blobs.
fn blob_owner(send_id: &str) -> String {
    format!("outbox:{send_id}")
}

/// One spooled copy: where it is (`path`, or `blob` in the store) and what it holds.
#[derive(Debug, Clone)]
pub struct Kept {
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
    /// The file, when spooled to a folder (empty for a blob).
    pub path: PathBuf,
    /// The blob in the store, when spooled to the database.
    pub blob: Option<String>,
}

/// Where one attempt to queue a send spools its attachments.
pub struct SpoolTarget {
    send_id: String,
    /// The attempt's own folder, or `None` for blobs in the store.
    dir: Option<PathBuf>,
    /// Distinguishes this attempt's blobs from a concurrent retry's.
    attempt: String,
    made: Vec<String>,
}

impl SpoolTarget {
    /// The spool of `send_id`; `own_folder` gives this attempt a folder of its own (a retry:
    /// a concurrent retry of the same key that loses the race removes only its own copies).
    pub fn new(c: &Core, send_id: &str, own_folder: bool) -> SpoolTarget {
        let attempt = uuid::Uuid::new_v4().simple().to_string();
        let dir = match files::spool_place(c.config()) {
            Place::Dir(root) if own_folder => Some(root.join(send_id).join(&attempt)),
            Place::Dir(root) => Some(root.join(send_id)),
            Place::Database => None,
        };
        SpoolTarget {
            send_id: send_id.to_owned(),
            dir,
            attempt,
            made: Vec::new(),
        }
    }

    /// Copies attachment `index` into the spool.
    pub fn keep(
        &mut self,
        c: &Core,
        a: &AttachmentInput,
        field: &str,
        index: usize,
    ) -> Result<Kept> {
        if let Some(dir) = &self.dir {
            let path = dir.join(index.to_string());
            let (size, sha256, content_type) = materialize(a, field, &path)?;
            return Ok(Kept {
                size,
                sha256,
                content_type,
                path,
                blob: None,
            });
        }
        let blob = format!("outbox/{}/{}/{index}", self.send_id, self.attempt);
        let mut w = BlobWriter::create(
            c,
            &blob,
            &blob_owner(&self.send_id),
            VaultChunks::new(c.vault(), &blob),
        )?;
        self.made.push(blob.clone());
        let (size, sha256, content_type) = read_source(a, field, &mut |b| w.write(b))?;
        w.finish(size, &sha256)?;
        Ok(Kept {
            size,
            sha256,
            content_type,
            path: PathBuf::new(),
            blob: Some(blob),
        })
    }

    /// Removes this attempt's copies (the send was refused or lost a race).
    pub fn discard(&self, c: &Core) {
        if let Some(dir) = &self.dir {
            remove_dir(dir);
        }
        for b in &self.made {
            if let Err(e) = c.store().delete_blob(b) {
                tracing::warn!("spooled blob {b} not deleted: {e}");
            }
        }
    }
}

/// Removes every spooled copy of an outbox entry (it was sent or failed). With a shared
/// store, blobs too whatever this host's config says: the host that spooled them may have
/// had another.
pub fn remove(c: &Core, send_id: &str) {
    if let Place::Dir(root) = files::spool_place(c.config()) {
        remove_dir(&root.join(send_id));
    }
    if !files::store_is_local(c.config()) {
        files::delete_owned(c, &blob_owner(send_id));
    }
}

/// Whether the blobs of `owner` belong to an outbox entry that is gone or finished (a
/// process died before its cleanup). `None` when `owner` is not an outbox entry's.
pub fn blob_owner_gone(c: &Core, owner: &str) -> Result<Option<bool>> {
    let Some(send_id) = owner.strip_prefix("outbox:") else {
        return Ok(None);
    };
    Ok(Some(!c.store().get_outbox(send_id)?.is_some_and(|r| {
        matches!(r.state.as_str(), "queued" | "sending")
    })))
}

fn spool_gone(what: &str, e: impl std::fmt::Display) -> Error {
    Error::store(format!(
        "the outbox copy of an attachment ('{what}') cannot be read: {e}"
    ))
}

/// Reads a spooled copy in sequence, from its file or its blob in the store.
pub enum SpoolReader<'a> {
    File(tokio::fs::File, PathBuf),
    Blob(Box<BlobReader<'a, VaultChunks<'a>>>),
}

impl<'a> SpoolReader<'a> {
    pub async fn open(c: &'a Core, path: &Path, blob: Option<&str>) -> Result<SpoolReader<'a>> {
        match blob {
            Some(b) => Ok(SpoolReader::Blob(Box::new(
                BlobReader::open(c, b, VaultChunks::new(c.vault(), b))
                    .map_err(|e| spool_gone(b, e))?,
            ))),
            None => Ok(SpoolReader::File(
                tokio::fs::File::open(path)
                    .await
                    .map_err(|e| spool_gone(&path.display().to_string(), e))?,
                path.to_owned(),
            )),
        }
    }

    /// Fills `buf` from the current position.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        match self {
            SpoolReader::File(f, path) => {
                use tokio::io::AsyncReadExt;
                f.read_exact(buf)
                    .await
                    .map(|_| ())
                    .map_err(|e| spool_gone(&path.display().to_string(), e))
            }
            SpoolReader::Blob(r) => r.read_exact(buf),
        }
    }
}

/// The whole spooled copy of `size` bytes (small attachments, sent inline).
pub async fn read_all(c: &Core, path: &Path, blob: Option<&str>, size: u64) -> Result<Vec<u8>> {
    if blob.is_none() {
        return tokio::fs::read(path)
            .await
            .map_err(|e| spool_gone(&path.display().to_string(), e));
    }
    let mut r = SpoolReader::open(c, path, blob).await?;
    let mut data = vec![0u8; size as usize];
    r.read_exact(&mut data).await?;
    Ok(data)
}

/// The size an attachment will have, known before copying.
pub fn size_of(a: &AttachmentInput, field: &str) -> Result<u64> {
    if let Some(p) = &a.path {
        let md = std::fs::metadata(p).map_err(|e| {
            Error::invalid_field(
                field,
                format!("cannot read attachment file '{}': {e}", p.display()),
            )
        })?;
        if !md.is_file() {
            return Err(Error::invalid_field(
                field,
                format!("attachment '{}' is not a file", p.display()),
            ));
        }
        return Ok(md.len());
    }
    let b = a.base64.as_deref().unwrap_or("");
    let t = b.trim_end_matches('=');
    Ok((t.len() as u64 * 3) / 4)
}

pub fn too_large(field: &str, size: u64, limit: u64, what: &str) -> Error {
    Error::invalid(
        "message_too_large",
        format!("{what} has {size} bytes; Microsoft 365 takes at most {limit}"),
    )
    .with_detail("field", field)
    .with_detail("size_bytes", size)
    .with_detail("limit_bytes", limit)
    .with_hint("send large files as a download link: put _downloadLink(Text) in the body")
}

/// Writes the attachment to `dest` (creating folders); returns (size, sha256 hex,
/// content type).
pub fn materialize(a: &AttachmentInput, field: &str, dest: &Path) -> Result<(u64, String, String)> {
    if let Some(dir) = dest.parent() {
        crate::files::create_dir_all(dir)
            .map_err(|e| Error::store(format!("cannot create folder '{}': {e}", dir.display())))?;
    }
    let write_err =
        |e: std::io::Error| Error::store(format!("cannot write '{}': {e}", dest.display()));
    let mut out = crate::files::create(dest).map_err(write_err)?;
    let (size, sha256, ct) = read_source(a, field, &mut |b| out.write_all(b).map_err(write_err))?;
    out.sync_all().map_err(write_err)?;
    Ok((size, sha256, ct))
}

/// Feeds the attachment's bytes (from its path or base64) to `sink` in pieces; returns
/// (size, sha256 hex, content type).
pub fn read_source(
    a: &AttachmentInput,
    field: &str,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<(u64, String, String)> {
    let mut h = Sha256::new();
    let mut size = 0u64;
    if let Some(p) = &a.path {
        let mut f = std::fs::File::open(p).map_err(|e| {
            Error::invalid_field(
                field,
                format!("cannot read attachment file '{}': {e}", p.display()),
            )
        })?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(|e| {
                Error::invalid_field(field, format!("cannot read '{}': {e}", p.display()))
            })?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            sink(&buf[..n])?;
            size += n as u64;
        }
    } else {
        let data = base64::engine::general_purpose::STANDARD
            .decode(a.base64.as_deref().unwrap_or("").trim())
            .map_err(|e| {
                Error::invalid_field(field, format!("attachment base64 is invalid: {e}"))
            })?;
        h.update(&data);
        sink(&data)?;
        size = data.len() as u64;
    }
    let ct = a
        .content_type
        .clone()
        .unwrap_or_else(|| content_type_for(&a.name).to_owned());
    Ok((size, hex::encode(h.finalize()), ct))
}

/// Removes a folder tree, ignoring what is already gone.
pub fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove '{}': {e}", dir.display());
        }
    }
}

/// Guesses a content type from a file name.
pub fn content_type_for(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("htm" | "html") => "text/html",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("zip") => "application/zip",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("csv") => "text/csv",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_by_path_and_base64() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("a.pdf");
        std::fs::write(&src, b"hello").unwrap();
        let a = AttachmentInput {
            name: "a.pdf".into(),
            content_type: None,
            path: Some(src),
            base64: None,
            content_id: None,
        };
        assert_eq!(size_of(&a, "f").unwrap(), 5);
        let (n, sha, ct) = materialize(&a, "f", &d.path().join("x/0")).unwrap();
        assert_eq!((n, ct.as_str()), (5, "application/pdf"));
        assert_eq!(
            sha,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let b = AttachmentInput {
            name: "b".into(),
            content_type: Some("text/plain".into()),
            path: None,
            base64: Some("aGVsbG8=".into()),
            content_id: None,
        };
        assert_eq!(size_of(&b, "f").unwrap(), 5);
        let (n, sha2, _) = materialize(&b, "f", &d.path().join("x/1")).unwrap();
        assert_eq!((n, &sha2), (5, &sha));
        assert_eq!(std::fs::read(d.path().join("x/1")).unwrap(), b"hello");
        let bad = AttachmentInput {
            base64: Some("***".into()),
            ..b
        };
        assert_eq!(
            materialize(&bad, "f", &d.path().join("x/2"))
                .unwrap_err()
                .kind(),
            "invalid_field"
        );
        assert_eq!(
            spool_dir(Path::new("/v/o.db")),
            PathBuf::from("/v/o.db.outbox")
        );
    }
}
