//! The link page behind `_downloadLink(Text)` / `_agreementLink`, served by the host's web
//! server: `o365_link_open`, `o365_link_accept`, `o365_link_download`, `o365_links_purge`.
//! These calls act for an anonymous recipient: they take the token, not a CRM user.

use super::Client;
use crate::error::{Error, Fault, Result};
use crate::links;
use crate::store::links::{LinkFile, LinkRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkOpen {
    pub token: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkAccept {
    pub token: String,
    /// The recipient's IP address as the web server saw it.
    pub client_address: String,
    #[serde(default)]
    pub user_agent: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkDownload {
    pub token: String,
    /// Index of the file in the list `o365_link_open` returned.
    pub file: i64,
    /// Where to write the file (the host streams it to the recipient from there).
    pub path: PathBuf,
    /// The receipt `o365_link_accept` returned (agreement links only).
    #[serde(default)]
    pub acceptance: Option<String>,
    #[serde(default)]
    pub client_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinksPurge {}

/// A file behind a link.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LinkFileInfo {
    pub content_type: String,
    /// The `file` to pass to `o365_link_download`.
    pub index: i64,
    pub name: String,
    pub sha256: String,
    pub size: i64,
}

/// `o365_link_open`: what the link page shows.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LinkOpened {
    /// The text to accept (agreement links), else `null`.
    pub agreement_text: Option<String>,
    pub expires_at: String,
    pub files: Vec<LinkFileInfo>,
    /// `download` or `agreement`.
    pub kind: String,
    /// The sending mailbox's address.
    pub sender: String,
    pub sender_name: Option<String>,
    /// `ready` or `agreement_required`.
    pub state: String,
    pub subject: Option<String>,
}

/// `o365_link_accept`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LinkAccepted {
    /// The receipt that unlocks `o365_link_download`.
    pub acceptance: String,
    pub accepted: bool,
    pub accepted_at: String,
    pub files: Vec<LinkFileInfo>,
}

/// `o365_link_download`: the file written to `path`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LinkDownloaded {
    pub content_type: String,
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// `o365_links_purge`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LinksPurged {
    /// Expired links whose files were deleted now.
    pub purged: usize,
}

fn files_json(l: &LinkRecord) -> Vec<LinkFileInfo> {
    l.files
        .iter()
        .map(|f| LinkFileInfo {
            content_type: f.content_type.clone(),
            index: f.index,
            name: f.name.clone(),
            sha256: f.sha256.clone(),
            size: f.size,
        })
        .collect()
}

/// Decrypts one file of a link into `dest` (created 0600); returns its size.
fn copy_out(c: &Client, l: &LinkRecord, f: &LinkFile, dest: &Path) -> Result<u64> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut buf = vec![0u8; 1 << 20];
    // Read the first piece before creating the destination: an expired link writes nothing.
    let mut n = links::read_file(c, l, f, 0, &mut buf)?;
    let werr = |e: std::io::Error| {
        Error::invalid_field("path", format!("cannot write '{}': {e}", dest.display()))
    };
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(dest)
        .map_err(werr)?;
    let mut pos = 0u64;
    while n > 0 {
        out.write_all(&buf[..n]).map_err(werr)?;
        pos += n as u64;
        n = links::read_file(c, l, f, pos, &mut buf)?;
    }
    out.sync_all().map_err(werr)?;
    Ok(pos)
}

fn check_text(field: &str, v: &str, max: usize) -> Result<()> {
    if v.len() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            field,
            format!("{field} must be at most {max} characters without control characters"),
        ));
    }
    Ok(())
}

impl Client {
    /// What the link page shows: `{"kind": "download" | "agreement", "state": "ready" |
    /// "agreement_required", "agreement_text"?, "files": [...], "expires_at", "sender",
    /// "sender_name", "subject"}`.
    pub async fn link_open(&self, req: LinkOpen) -> Result<LinkOpened> {
        let _ = links::purge(self);
        let l = links::resolve(self, &req.token)?;
        let mailbox = self.store().find_mailbox(&l.mailbox_id)?;
        let sender = mailbox
            .as_ref()
            .map(|m| m.address.clone())
            .unwrap_or_default();
        tracing::info!(
            mailbox = l.mailbox_id.as_str(),
            link = l.id.as_str(),
            kind = l.kind.as_str(),
            "link opened"
        );
        let sender_name = mailbox
            .as_ref()
            .and_then(|m| m.account.as_ref())
            .and_then(|a| a["display_name"].as_str().map(str::to_owned));
        Ok(LinkOpened {
            agreement_text: l.agreement_text.clone(),
            expires_at: crate::clock::rfc3339(l.expires_at),
            files: files_json(&l),
            state: if l.kind == "agreement" {
                "agreement_required"
            } else {
                "ready"
            }
            .to_owned(),
            kind: l.kind,
            sender,
            sender_name,
            subject: l.subject,
        })
    }

    /// Records that the recipient accepted the agreement (time and client address), publishes
    /// `link_accepted`, and returns `{"accepted": true, "acceptance": "<receipt>", "files"}`;
    /// the receipt unlocks `o365_link_download`.
    pub async fn link_accept(&self, req: LinkAccept) -> Result<LinkAccepted> {
        check_text("client_address", &req.client_address, 100)?;
        if req.client_address.trim().is_empty() {
            return Err(Error::invalid_field(
                "client_address",
                "client_address (the recipient's IP address) is required to record an acceptance",
            ));
        }
        if let Some(ua) = &req.user_agent {
            check_text("user_agent", ua, 1000)?;
        }
        let l = links::resolve(self, &req.token)?;
        if l.kind != "agreement" {
            return Err(Error::invalid(
                "no_agreement",
                "this link has no agreement to accept; download directly",
            ));
        }
        let (at, receipt) =
            self.record_acceptance(&l, Some(req.client_address.clone()), req.user_agent.clone())?;
        Ok(LinkAccepted {
            acceptance: receipt,
            accepted: true,
            accepted_at: crate::clock::rfc3339(at),
            files: files_json(&l),
        })
    }

    /// Writes one file of the link to `path`, publishes `link_downloaded`, and returns
    /// `{"name", "content_type", "size", "sha256", "path"}`.
    pub async fn link_download(&self, req: LinkDownload) -> Result<LinkDownloaded> {
        if let Some(a) = &req.client_address {
            check_text("client_address", a, 100)?;
        }
        if let Some(ua) = &req.user_agent {
            check_text("user_agent", ua, 1000)?;
        }
        let l = links::resolve(self, &req.token)?;
        if l.kind == "agreement" {
            let ok = match &req.acceptance {
                Some(r) => links::receipt_ok(self, &l.id, r)?,
                None => false,
            };
            if !ok {
                return Err(Error::forbidden(
                    "agreement_required",
                    "the recipient must accept the agreement before downloading",
                )
                .with_hint("show the agreement text (o365_link_open), call o365_link_accept, and pass its 'acceptance' to o365_link_download"));
            }
        }
        let f = l
            .files
            .iter()
            .find(|f| f.index == req.file)
            .ok_or_else(|| {
                Error::NotFound(Fault::new(
                    "file_not_found",
                    format!("the link has no file number {}", req.file),
                ))
                .with_detail("field", "file")
            })?;
        let dest = req.path.clone();
        let size = copy_out(self, &l, f, &dest)?;
        self.downloaded(
            &l,
            f,
            req.client_address.clone(),
            req.user_agent.clone(),
            None,
            false,
        )?;
        Ok(LinkDownloaded {
            content_type: f.content_type.clone(),
            name: f.name.clone(),
            path: dest,
            sha256: f.sha256.clone(),
            size,
        })
    }

    /// Deletes the files of expired links now. Returns `{"purged": n}`.
    pub async fn links_purge(&self, _req: LinksPurge) -> Result<LinksPurged> {
        Ok(LinksPurged {
            purged: links::purge(self)?,
        })
    }
}
