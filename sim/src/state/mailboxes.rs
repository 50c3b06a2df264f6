//! A mailbox: its messages, the change sequence delta rounds read, tombstones, and the
//! indexes rebuilt on load. Folder operations are in `folders.rs`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::folders::{is_german, Folder, ROOT, WELL_KNOWN};
use super::ids::{exchange_id, new_message_id};
use super::messages::Message;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    pub seq: u64,
    pub folder: u32,
    pub rest_id: String,
    pub immutable_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mailbox {
    pub owner: String,
    pub seq: u64,
    pub next_key: u64,
    pub sync_epoch: u32,
    pub folders: Vec<Folder>,
    pub messages: HashMap<u64, Message>,
    pub tombstones: Vec<Tombstone>,
    pub folder_tombstones: Vec<(u64, String)>,
    #[serde(skip)]
    pub by_id: HashMap<String, u64>,
    /// (folder, changed_seq) -> message key, for delta rounds (a folder's page does not walk
    /// the other folders' changes).
    #[serde(skip)]
    pub by_folder_seq: BTreeMap<(u32, u64), u64>,
    /// Asynchronous submission: how long (ms on the sim clock, a random value in
    /// `[min, max]`) a submitted message stays in Drafts before it moves to Sent Items and
    /// goes out. `(0, 0)`: at once.
    #[serde(default)]
    pub submission_delay_ms: (u64, u64),
}

impl Mailbox {
    pub fn new(owner: &str, locale: &str) -> Mailbox {
        let mut mb = Mailbox {
            owner: owner.to_string(),
            seq: 0,
            next_key: 1,
            sync_epoch: 1,
            folders: vec![],
            messages: HashMap::new(),
            tombstones: vec![],
            folder_tombstones: vec![],
            by_id: HashMap::new(),
            by_folder_seq: BTreeMap::new(),
            submission_delay_ms: (0, 0),
        };
        let de = is_german(locale);
        let root_name = if de {
            "Oberste Ebene des Informationsspeichers"
        } else {
            "Top of Information Store"
        };
        mb.add_folder_raw(root_name, None, Some("msgfolderroot"), false);
        for (wk, en, de_name, hidden) in WELL_KNOWN {
            mb.add_folder_raw(if de { de_name } else { en }, Some(ROOT), Some(wk), *hidden);
        }
        mb
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn lookup(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// Inserts a message into `folder`; assigns key, ids and change sequence.
    pub fn insert(&mut self, mut m: Message, folder: u32) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        m.key = key;
        m.folder = folder;
        m.rest_id = exchange_id("AAMkAD", 36);
        m.immutable_id = exchange_id("AAkALg", 36);
        if m.internet_message_id.is_empty() {
            m.internet_message_id = new_message_id();
        }
        if m.conversation_id.is_empty() {
            m.conversation_id = exchange_id("AAQkAD", 24);
        }
        m.changed_seq = self.next_seq();
        m.arrived_seq = m.changed_seq;
        m.preview_cache.take();
        m.preview();
        self.by_id.insert(m.rest_id.clone(), key);
        self.by_id.insert(m.immutable_id.clone(), key);
        self.by_folder_seq.insert((folder, m.changed_seq), key);
        let f = &mut self.folders[folder as usize];
        f.items.insert((-m.received, key));
        if !m.is_read {
            f.unread += 1;
        }
        self.messages.insert(key, m);
        self.touch_folder(folder);
        key
    }

    fn unlink(&mut self, key: u64) -> Option<Message> {
        let m = self.messages.remove(&key)?;
        self.by_folder_seq.remove(&(m.folder, m.changed_seq));
        let f = &mut self.folders[m.folder as usize];
        f.items.remove(&(-m.received, key));
        if !m.is_read {
            f.unread = f.unread.saturating_sub(1);
        }
        self.touch_folder(m.folder);
        let seq = self.next_seq();
        self.tombstones.push(Tombstone {
            seq,
            folder: m.folder,
            rest_id: m.rest_id.clone(),
            immutable_id: m.immutable_id.clone(),
        });
        Some(m)
    }

    /// Moves a message; it gets a new REST id (its immutable id stays).
    pub fn move_to(&mut self, key: u64, dest: u32) -> Option<u64> {
        let mut m = self.unlink(key)?;
        self.by_id.remove(&m.rest_id);
        m.rest_id = exchange_id("AAMkAD", 36);
        m.folder = dest;
        m.version += 1;
        m.changed_seq = self.next_seq();
        m.arrived_seq = m.changed_seq;
        self.by_id.insert(m.rest_id.clone(), key);
        self.by_folder_seq.insert((dest, m.changed_seq), key);
        let f = &mut self.folders[dest as usize];
        f.items.insert((-m.received, key));
        if !m.is_read {
            f.unread += 1;
        }
        self.messages.insert(key, m);
        self.touch_folder(dest);
        Some(key)
    }

    pub fn copy_to(&mut self, key: u64, dest: u32, now: i64) -> Option<u64> {
        let mut m = self.messages.get(&key)?.clone();
        m.created = now;
        m.last_modified = now;
        m.version = 0;
        m.conversation_id = m.conversation_id.clone();
        for a in &mut m.attachments {
            a.id = exchange_id("AAMkAD", 40);
        }
        Some(self.insert(m, dest))
    }

    pub fn delete(&mut self, key: u64) -> Option<Message> {
        let m = self.unlink(key)?;
        self.by_id.remove(&m.rest_id);
        self.by_id.remove(&m.immutable_id);
        Some(m)
    }

    /// Applies `f` to a message, keeping folder counts and the change sequence right.
    pub fn update<R>(
        &mut self,
        key: u64,
        now: i64,
        f: impl FnOnce(&mut Message) -> R,
    ) -> Option<R> {
        let seq = self.next_seq();
        let m = self.messages.get_mut(&key)?;
        let was_read = m.is_read;
        let old_received = m.received;
        let old_seq = m.changed_seq;
        let old_folder = m.folder;
        let r = f(m);
        m.preview_cache.take();
        m.preview();
        m.version += 1;
        m.changed_seq = seq;
        m.last_modified = now;
        let (is_read, received, folder) = (m.is_read, m.received, m.folder);
        self.by_folder_seq.remove(&(old_folder, old_seq));
        self.by_folder_seq.insert((folder, seq), key);
        let fo = &mut self.folders[folder as usize];
        if was_read != is_read {
            if is_read {
                fo.unread = fo.unread.saturating_sub(1);
            } else {
                fo.unread += 1;
            }
        }
        if old_received != received {
            fo.items.remove(&(-old_received, key));
            fo.items.insert((-received, key));
        }
        if was_read != is_read {
            self.touch_folder(folder);
        }
        Some(r)
    }

    /// Rebuilds the indexes that are not persisted.
    pub fn reindex(&mut self) {
        self.by_id.clear();
        self.by_folder_seq.clear();
        for f in &mut self.folders {
            f.items.clear();
            f.unread = 0;
        }
        for m in self.messages.values() {
            self.by_id.insert(m.rest_id.clone(), m.key);
            self.by_id.insert(m.immutable_id.clone(), m.key);
            self.by_folder_seq.insert((m.folder, m.changed_seq), m.key);
            let f = &mut self.folders[m.folder as usize];
            f.items.insert((-m.received, m.key));
            if !m.is_read {
                f.unread += 1;
            }
        }
    }
}
