//! A mailbox's folder tree: the well-known folders (localized), creating, finding, deleting
//! and naming folders.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::ids::exchange_id;
use super::mailboxes::Mailbox;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    pub key: u32,
    pub id: String,
    pub display_name: String,
    pub parent: Option<u32>,
    pub well_known: Option<String>,
    pub hidden: bool,
    pub deleted: bool,
    pub changed_seq: u64,
    pub unread: u32,
    /// (-receivedDateTime, key): iteration order is newest first.
    #[serde(skip)]
    pub items: BTreeSet<(i64, u64)>,
}

pub const ROOT: u32 = 0;

/// Well-known folders, with their English and German display names.
pub const WELL_KNOWN: &[(&str, &str, &str, bool)] = &[
    ("inbox", "Inbox", "Posteingang", false),
    ("drafts", "Drafts", "Entwürfe", false),
    ("sentitems", "Sent Items", "Gesendete Elemente", false),
    ("deleteditems", "Deleted Items", "Gelöschte Elemente", false),
    ("junkemail", "Junk Email", "Junk-E-Mail", false),
    ("archive", "Archive", "Archiv", false),
    ("outbox", "Outbox", "Postausgang", false),
    (
        "conversationhistory",
        "Conversation History",
        "Aufgezeichnete Unterhaltungen",
        false,
    ),
    ("clutter", "Clutter", "Clutter", true),
];

pub fn is_german(locale: &str) -> bool {
    locale.to_ascii_lowercase().starts_with("de")
}

impl Mailbox {
    pub(super) fn add_folder_raw(
        &mut self,
        name: &str,
        parent: Option<u32>,
        well_known: Option<&str>,
        hidden: bool,
    ) -> u32 {
        let key = self.folders.len() as u32;
        self.seq += 1;
        let f = Folder {
            key,
            id: exchange_id("AQMkAD", 30),
            display_name: name.to_string(),
            parent,
            well_known: well_known.map(|s| s.to_string()),
            hidden,
            deleted: false,
            changed_seq: self.seq,
            unread: 0,
            items: BTreeSet::new(),
        };
        self.folders.push(f);
        if let Some(p) = parent {
            self.touch_folder(p);
        }
        key
    }

    pub fn add_folder(&mut self, name: &str, parent: u32, hidden: bool) -> Result<u32, String> {
        if self.children(parent).any(|c| {
            self.folders[c as usize]
                .display_name
                .eq_ignore_ascii_case(name)
        }) {
            return Err(format!(
                "A folder with the specified name already exists., {name}"
            ));
        }
        Ok(self.add_folder_raw(name, Some(parent), None, hidden))
    }

    pub fn touch_folder(&mut self, key: u32) {
        self.seq += 1;
        self.folders[key as usize].changed_seq = self.seq;
    }

    pub fn children(&self, parent: u32) -> impl Iterator<Item = u32> + '_ {
        self.folders
            .iter()
            .filter(move |f| !f.deleted && f.parent == Some(parent))
            .map(|f| f.key)
    }

    pub fn child_count(&self, parent: u32) -> usize {
        self.children(parent).count()
    }

    /// Resolves a folder id or well-known name.
    pub fn folder_ref(&self, r: &str) -> Option<u32> {
        let lower = r.to_ascii_lowercase();
        self.folders
            .iter()
            .find(|f| !f.deleted && (f.id == r || f.well_known.as_deref() == Some(lower.as_str())))
            .map(|f| f.key)
    }

    /// Resolves a folder id, well-known name or display name (admin API convenience).
    pub fn folder_lookup(&self, r: &str) -> Option<u32> {
        self.folder_ref(r).or_else(|| {
            self.folders
                .iter()
                .find(|f| !f.deleted && f.display_name.eq_ignore_ascii_case(r))
                .map(|f| f.key)
        })
    }

    pub fn well_known(&self, name: &str) -> u32 {
        self.folder_ref(name).unwrap_or(ROOT)
    }

    /// Deletes a folder (and its subtree) by moving it under Deleted Items, as Outlook does.
    pub fn delete_folder(&mut self, key: u32) {
        let deleted = self.well_known("deleteditems");
        self.folders[key as usize].parent = Some(deleted);
        self.touch_folder(key);
        self.touch_folder(deleted);
    }

    pub fn folder_path(&self, key: u32) -> String {
        let mut parts = vec![];
        let mut k = Some(key);
        while let Some(x) = k {
            if x == ROOT {
                break;
            }
            parts.push(self.folders[x as usize].display_name.clone());
            k = self.folders[x as usize].parent;
        }
        parts.reverse();
        parts.join("/")
    }
}
