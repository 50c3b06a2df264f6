//! Download and agreement links (seed point 11): issue, verify, serve, expire, purge.
//!
//! A mail that uses `_downloadLink(Text)` or `_agreementLink` gets one link. Its files are
//! copied into the links directory (`links.directory`, default `<store>.links/`), or into the
//! database when the store is shared (PostgreSQL) and no `links.directory` is configured
//! ([`crate::core::files`]), and kept until the link expires (`links.ttl_days`, default 14), then purged. The host's web server
//! serves the link page through `o365_link_page` + `o365_link_read` (or the older
//! `o365_link_open` / `o365_link_accept` / `o365_link_download`).
//!
//! The files are sealed at rest ([`seal`]) with a random key per link; the key is kept in the
//! store sealed by the vault and destroyed when the link is purged after expiry.

pub mod page;
pub mod seal;
pub mod token;

use crate::core::files::{self, BlobReader, BlobWriter, Place};
use crate::core::spool;
use crate::core::spool::AttachmentInput;
use crate::core::Core;
use crate::error::{Error, Fault, Result};
use crate::store::links::{LinkFile, LinkRecord};
use rand::RngCore;
use std::path::{Path, PathBuf};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The folder where link files are kept: `links.directory`, else beside a SQLite store;
/// `None` when they are kept in the database (a shared store without `links.directory`).
pub fn directory(c: &Core) -> Option<PathBuf> {
    match files::links_place(c.config()) {
        Place::Dir(d) => Some(d),
        Place::Database => None,
    }
}

/// The owner of a link's blobs in the store.
fn blob_owner(link_id: &str) -> String {
    format!("link:{link_id}")
}

/// The key that signs link tokens: from the config, else a random key kept in the store,
/// sealed with the store's encryption key.
pub fn signing_key(c: &Core) -> Result<Vec<u8>> {
    if let Some(k) = &c.config().links.signing_key {
        let key = crate::config::decode_key(k)
            .map_err(|m| Error::invalid_field("links.signing_key", m))?;
        return Ok(key.to_vec());
    }
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    let sealed = c.vault().seal("link-key", &fresh)?;
    let stored = c.store().link_signing_key(&sealed)?;
    c.vault().open("link-key", &stored)
}

/// The URL of the host's link page for a token.
pub fn url(c: &Core, token: &str) -> Result<String> {
    let base = c.config().links.base_url.as_deref().ok_or_else(|| {
        Error::invalid(
            "links_not_configured",
            "the mail uses _downloadLink or _agreementLink, but the client config has no links.base_url",
        )
        .with_detail("field", "links.base_url")
        .with_hint("set links.base_url to the CRM's link page, e.g. https://crm.example.com/o365/link?t={token}")
    })?;
    Ok(if base.contains("{token}") {
        base.replace("{token}", token)
    } else if base.ends_with('/') {
        format!("{base}{token}")
    } else {
        format!("{base}/{token}")
    })
}

fn file_key_aad(link_id: &str) -> String {
    format!("link-file-key:{link_id}")
}

/// The key a link's files are sealed with; `link_expired` once it was destroyed.
pub fn file_key(c: &Core, l: &LinkRecord) -> Result<[u8; 32]> {
    let sealed = l.file_key.as_deref().ok_or_else(gone)?;
    let plain = c.vault().open(&file_key_aad(&l.id), sealed)?;
    plain
        .as_slice()
        .try_into()
        .map_err(|_| Error::store("a link's file key is damaged"))
}

fn gone() -> Error {
    Error::NotFound(Fault::new(
        "link_expired",
        "the files of this link are no longer kept",
    ))
}

/// Copies one attachment into a sealed file at `dest`; returns (size, sha256, content type).
fn seal_attachment(
    key: &[u8; 32],
    link_id: &str,
    index: i64,
    a: &AttachmentInput,
    field: &str,
    dest: &Path,
) -> Result<(u64, String, String)> {
    let mut s = seal::Sealer::create(key, link_id, index, dest)?;
    let made = spool::read_source(a, field, &mut |b| s.write(b))?;
    s.finish()?;
    Ok(made)
}

/// Copies the attachments of link `id` into its folder under `root`, sealed.
fn keep_in_dir(
    root: &Path,
    id: &str,
    file_key: &[u8; 32],
    files: &[AttachmentInput],
) -> Result<Vec<LinkFile>> {
    seal::private_dir(root)?;
    let dir = root.join(id);
    seal::private_dir(&dir)?;
    let mut out = Vec::with_capacity(files.len());
    for (i, a) in files.iter().enumerate() {
        let field = format!("message.attachments[{i}]");
        let made = seal_attachment(file_key, id, i as i64, a, &field, &dir.join(i.to_string()));
        let (size, sha256, content_type) = match made {
            Ok(x) => x,
            Err(e) => {
                spool::remove_dir(&dir);
                return Err(e);
            }
        };
        out.push(link_file(
            i,
            a,
            size,
            sha256,
            content_type,
            format!("{id}/{i}"),
        ));
    }
    Ok(out)
}

/// Copies the attachments of link `id` into blobs in the store, sealed chunk by chunk with
/// the link's key as they stream in.
fn keep_in_store(
    c: &Core,
    id: &str,
    file_key: &[u8; 32],
    files: &[AttachmentInput],
) -> Result<Vec<LinkFile>> {
    let owner = blob_owner(id);
    let mut out = Vec::with_capacity(files.len());
    for (i, a) in files.iter().enumerate() {
        let field = format!("message.attachments[{i}]");
        let blob = format!("link/{id}/{i}");
        let made = (|| {
            let seal = seal::LinkChunks::new(file_key, id, i as i64);
            let mut w = BlobWriter::create(c, &blob, &owner, seal)?;
            let made = spool::read_source(a, &field, &mut |b| w.write(b))?;
            w.finish(made.0, &made.1)?;
            Ok(made)
        })();
        let (size, sha256, content_type) = match made {
            Ok(x) => x,
            Err(e) => {
                files::delete_owned(c, &owner);
                return Err(e);
            }
        };
        out.push(link_file(
            i,
            a,
            size,
            sha256,
            content_type,
            files::blob_path(&blob),
        ));
    }
    Ok(out)
}

fn link_file(
    i: usize,
    a: &AttachmentInput,
    size: u64,
    sha256: String,
    content_type: String,
    path: String,
) -> LinkFile {
    LinkFile {
        index: i as i64,
        name: a.name.clone(),
        content_type,
        size: size as i64,
        sha256,
        path,
        sealed: true,
    }
}

/// Whether the link keeps (some of) its files in the store.
fn in_store(l: &LinkRecord) -> bool {
    l.files.iter().any(|f| files::path_blob(&f.path).is_some())
}

/// Deletes the kept files of link `id`: its blobs when `blobs`, its folder when there is a
/// links directory.
fn remove_files(c: &Core, id: &str, blobs: bool) {
    if blobs {
        files::delete_owned(c, &blob_owner(id));
    } else if let Some(root) = directory(c) {
        spool::remove_dir(&root.join(id));
    }
}

/// A new link for the attachments of one mail. Returns the record and its token.
pub fn create(
    c: &Core,
    mailbox_id: &str,
    send_id: &str,
    subject: Option<String>,
    agreement_text: Option<String>,
    files: &[AttachmentInput],
) -> Result<(LinkRecord, String)> {
    let key = signing_key(c)?;
    let id = token::new_id();
    let file_key = seal::new_key();
    let sealed_key = c.vault().seal(&file_key_aad(&id), &file_key)?;
    let place = files::links_place(c.config());
    let out = match &place {
        Place::Dir(root) => keep_in_dir(root, &id, &file_key, files)?,
        Place::Database => keep_in_store(c, &id, &file_key, files)?,
    };
    let now = c.now_ms();
    let rec = LinkRecord {
        id: id.clone(),
        mailbox_id: mailbox_id.to_owned(),
        send_id: send_id.to_owned(),
        kind: if agreement_text.is_some() {
            "agreement"
        } else {
            "download"
        }
        .to_owned(),
        agreement_text,
        created_at: now,
        expires_at: now + c.config().links.ttl_days as i64 * DAY_MS,
        purged_at: None,
        subject,
        file_key: Some(sealed_key),
        files: out,
    };
    if let Err(e) = c.store().insert_link(&rec) {
        remove_files(c, &id, in_store(&rec));
        return Err(e);
    }
    Ok((rec, token::token(&key, &id)))
}

/// Deletes a link that was never handed out, with its files.
pub fn discard(c: &Core, id: &str) {
    let blobs = match c.store().get_link(id) {
        Ok(Some(l)) => in_store(&l),
        _ => directory(c).is_none(),
    };
    remove_files(c, id, blobs);
    if let Err(e) = c.store().delete_link(id) {
        tracing::warn!("link {id} not deleted: {e}");
    }
}

/// The link behind a token, if it is genuine, known and not expired.
pub fn resolve(c: &Core, token_text: &str) -> Result<LinkRecord> {
    let key = signing_key(c)?;
    let id = token::open(&key, token_text)?;
    let link = c.store().get_link(&id)?.ok_or_else(|| {
        Error::NotFound(Fault::new(
            "link_not_found",
            "this link does not exist (any more)",
        ))
    })?;
    let now = c.now_ms();
    if now >= link.expires_at || link.purged_at.is_some() {
        return Err(Error::NotFound(Fault::new(
            "link_expired",
            format!(
                "this link expired on {}; the files are no longer available",
                crate::clock::rfc3339(link.expires_at)
            ),
        ))
        .with_detail("expired_at", crate::clock::rfc3339(link.expires_at))
        .with_hint("links are valid for a limited time; ask the sender for the files again"));
    }
    Ok(link)
}

/// Where the kept copy of a link file is, when it is a file (not a blob in the store).
pub fn file_path(c: &Core, f: &LinkFile) -> Option<PathBuf> {
    if files::path_blob(&f.path).is_some() {
        return None;
    }
    Some(directory(c)?.join(&f.path))
}

/// Whether the kept copy of a link file is still there (on disk or in the store).
pub fn file_kept(c: &Core, f: &LinkFile) -> Result<bool> {
    if let Some(blob) = files::path_blob(&f.path) {
        return Ok(c
            .store()
            .get_blob(blob)?
            .is_some_and(|b| b.finished.is_some()));
    }
    Ok(file_path(c, f).is_some_and(|p| p.exists()))
}

/// The signed acceptance receipt for acceptance `seq` of a link.
pub fn receipt(c: &Core, link_id: &str, seq: i64) -> Result<String> {
    Ok(token::receipt(&signing_key(c)?, link_id, seq))
}

/// Whether `receipt` proves an acceptance of this link.
pub fn receipt_ok(c: &Core, link_id: &str, receipt: &str) -> Result<bool> {
    Ok(token::check_receipt(&signing_key(c)?, link_id, receipt).is_some())
}

/// Reads plaintext bytes of one file of a link from `offset` into `out`; returns how many.
pub fn read_file(
    c: &Core,
    l: &LinkRecord,
    f: &LinkFile,
    offset: u64,
    out: &mut [u8],
) -> Result<usize> {
    if let Some(blob) = files::path_blob(&f.path) {
        let key = file_key(c, l)?;
        let seal = seal::LinkChunks::new(&key, &l.id, f.index);
        let mut r = BlobReader::open(c, blob, seal).map_err(|_| gone())?;
        return r.read_at(offset, out);
    }
    let path = file_path(c, f).ok_or_else(gone)?;
    if !path.exists() {
        return Err(gone());
    }
    if !f.sealed {
        // kept before files were sealed, not yet converted by `seal_legacy`
        use std::io::{Read, Seek, SeekFrom};
        let io = |e: std::io::Error| Error::store(format!("cannot read '{}': {e}", path.display()));
        let mut file = std::fs::File::open(&path).map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let want = (out.len() as u64).min((f.size as u64).saturating_sub(offset)) as usize;
        file.read_exact(&mut out[..want]).map_err(io)?;
        return Ok(want);
    }
    let key = file_key(c, l)?;
    seal::read_at(&key, &l.id, f.index, &path, f.size as u64, offset, out)
}

/// Seals the plaintext files of links kept before files were sealed (migration 6): each file
/// is encrypted into `<index>.sealed` under a new link key, the store switched over in one
/// transaction, then the plaintext removed. Returns how many links were converted.
pub fn seal_legacy(c: &Core) -> Result<usize> {
    // Files kept before sealing are on disk; a store without a links directory has none.
    let Some(root) = directory(c) else {
        return Ok(0);
    };
    let mut n = 0;
    loop {
        let batch = c.store().unsealed_links(20)?;
        if batch.is_empty() {
            return Ok(n);
        }
        for l in batch {
            seal::private_dir(&root)?;
            let dir = root.join(&l.id);
            seal::private_dir(&dir)?;
            let key = match &l.file_key {
                Some(_) => file_key(c, &l)?,
                None => seal::new_key(),
            };
            let sealed_key = c.vault().seal(&file_key_aad(&l.id), &key)?;
            let mut paths = Vec::new();
            let mut plain = Vec::new();
            let mut made = Vec::new();
            // A name of its own: a process converting the same link at the same time never
            // touches these files; the store decides which conversion counts.
            let tag = token::nonce();
            for f in l.files.iter().filter(|f| !f.sealed) {
                let src = root.join(&f.path);
                let rel = format!("{}/{}.{tag}.sealed", l.id, f.index);
                let dest = root.join(&rel);
                if src.exists() {
                    let a = AttachmentInput {
                        name: f.name.clone(),
                        content_type: Some(f.content_type.clone()),
                        path: Some(src.clone()),
                        base64: None,
                        content_id: None,
                    };
                    made.push(dest.clone());
                    if let Err(e) = seal_attachment(&key, &l.id, f.index, &a, "link file", &dest) {
                        for p in &made {
                            let _ = std::fs::remove_file(p);
                        }
                        return Err(e);
                    }
                    plain.push(src);
                }
                paths.push((f.index, rel));
            }
            let won = c.store().set_link_sealed(&l.id, &sealed_key, &paths)?;
            for p in if won { plain } else { made } {
                let _ = std::fs::remove_file(p);
            }
            n += 1;
        }
    }
}

/// Deletes the files of expired links and destroys their keys; returns how many links were
/// purged. Also seals files kept before files were sealed.
pub fn purge(c: &Core) -> Result<usize> {
    seal_legacy(c)?;
    let now = c.now_ms();
    let mut n = 0;
    loop {
        let batch = c.store().expired_links(now, 100)?;
        if batch.is_empty() {
            return Ok(n);
        }
        for l in batch {
            remove_files(c, &l.id, in_store(&l));
            c.store().mark_link_purged(&l.id, now)?;
            n += 1;
        }
    }
}

/// Whether the blobs of `owner` belong to a link that is gone or purged (left behind by a
/// process that died between storing them and recording or purging the link). `None` when
/// `owner` is not a link's.
pub fn blob_owner_gone(c: &Core, owner: &str) -> Result<Option<bool>> {
    let Some(id) = owner.strip_prefix("link:") else {
        return Ok(None);
    };
    Ok(Some(
        c.store()
            .get_link(id)?
            .map_or(true, |l| l.purged_at.is_some()),
    ))
}
