//! The sim's world: tenants, users, mailboxes (folders and messages), and the identity
//! platform's grants. Everything lives behind one `std::sync::Mutex<World>` in [`crate::Sim`];
//! handlers lock it, do their work synchronously and unlock before any `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};

pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

pub fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

pub fn b64std(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill(&mut v[..]);
    v
}

/// An opaque random token (URL-safe).
pub fn random_token(bytes: usize) -> String {
    b64url(&random_bytes(bytes))
}

pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An Exchange-looking opaque id: prefix + URL-safe base64 with `=` padding.
pub fn exchange_id(prefix: &str, bytes: usize) -> String {
    let b = base64::engine::general_purpose::URL_SAFE.encode(random_bytes(bytes));
    format!("{prefix}{b}")
}

mod b64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Directory
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub display_name: String,
    pub domains: Vec<String>,
    pub locale: String,
    pub send_from_alias_enabled: bool,
    /// What Exchange does with a send from an alias while `send_from_alias_enabled` is off.
    #[serde(default)]
    pub alias_send_mode: AliasSendMode,
    pub admin_consent_required: bool,
    /// Client ids an administrator consented to for the whole tenant.
    pub consented_apps: BTreeSet<String>,
    pub consumers: bool,
}

/// A send from an alias while the tenant's SendFromAliasEnabled is off: refused with 403
/// `ErrorSendAsDenied` (`error`), or sent from the primary address (`rewrite`, as public
/// reports describe Exchange Online doing). UNVERIFIED either way.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum AliasSendMode {
    #[default]
    Error,
    Rewrite,
}

impl AliasSendMode {
    pub fn parse(s: &str) -> Option<AliasSendMode> {
        match s {
            "error" => Some(AliasSendMode::Error),
            "rewrite" => Some(AliasSendMode::Rewrite),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum UserKind {
    Member,
    Shared,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub user_id: String,
    pub full_access: bool,
    pub send_as: bool,
    pub send_on_behalf: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub upn: String,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    /// None: cannot sign in (shared mailboxes).
    pub password: Option<String>,
    pub mail: String,
    pub aliases: Vec<String>,
    pub locale: String,
    pub kind: UserKind,
    pub is_admin: bool,
    /// Who may use this mailbox besides its owner (shared mailboxes, delegates).
    pub grants: Vec<Grant>,
    /// Apps this user consented to, with the scopes consented.
    pub consents: BTreeMap<String, BTreeSet<String>>,
    /// Tokens (refresh and access) issued before this time are revoked (password change,
    /// "revoke sessions").
    pub revoked_before: i64,
    /// Access tokens issued before this time (ms) are treated as expired.
    pub access_not_before: i64,
    /// Refresh tokens issued before this time (ms) are revoked (password change).
    #[serde(default)]
    pub rt_revoked_before: i64,
}

impl User {
    pub fn proxy_addresses(&self) -> Vec<String> {
        let mut v = vec![format!("SMTP:{}", self.mail)];
        for a in &self.aliases {
            v.push(format!("smtp:{a}"));
        }
        v
    }

    pub fn has_address(&self, addr: &str) -> bool {
        self.mail.eq_ignore_ascii_case(addr)
            || self.upn.eq_ignore_ascii_case(addr)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(addr))
    }

    pub fn grant_for(&self, user_id: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.user_id == user_id)
    }
}

// ---------------------------------------------------------------------------------------------
// Mail
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Addr {
    pub name: String,
    pub address: String,
}

impl Addr {
    pub fn new(name: &str, address: &str) -> Self {
        Addr {
            name: name.to_string(),
            address: address.to_string(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub is_inline: bool,
    pub content_id: Option<String>,
    #[serde(with = "b64_bytes")]
    pub data: Vec<u8>,
    pub last_modified: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub key: u64,
    pub rest_id: String,
    pub immutable_id: String,
    pub folder: u32,
    pub version: u32,
    pub changed_seq: u64,
    /// Change sequence at which the message arrived in its current folder.
    #[serde(default)]
    pub arrived_seq: u64,
    pub created: i64,
    pub last_modified: i64,
    pub received: i64,
    pub sent: Option<i64>,
    pub internet_message_id: String,
    pub subject: String,
    pub body_html: bool,
    pub body: String,
    pub from: Option<Addr>,
    pub sender: Option<Addr>,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub is_read: bool,
    pub is_draft: bool,
    pub importance: String,
    pub inference: String,
    pub categories: Vec<String>,
    pub flag: String,
    pub conversation_id: String,
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<Attachment>,
    pub delivery_receipt: bool,
    pub read_receipt: bool,
}

impl Message {
    /// A blank message with fresh ids (the mailbox assigns key, folder and seq on insert).
    pub fn blank(now: i64) -> Message {
        Message {
            key: 0,
            rest_id: String::new(),
            immutable_id: String::new(),
            folder: 0,
            version: 0,
            changed_seq: 0,
            arrived_seq: 0,
            created: now,
            last_modified: now,
            received: now,
            sent: None,
            internet_message_id: String::new(),
            subject: String::new(),
            body_html: false,
            body: String::new(),
            from: None,
            sender: None,
            to: vec![],
            cc: vec![],
            bcc: vec![],
            reply_to: vec![],
            is_read: false,
            is_draft: false,
            importance: "normal".into(),
            inference: "focused".into(),
            categories: vec![],
            flag: "notFlagged".into(),
            conversation_id: String::new(),
            headers: vec![],
            attachments: vec![],
            delivery_receipt: false,
            read_receipt: false,
        }
    }

    pub fn change_key(&self) -> String {
        let mut b = self.key.to_le_bytes().to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        format!("CQAAABYAAA{}", b64url(&b))
    }

    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.change_key())
    }

    pub fn has_attachments(&self) -> bool {
        self.attachments.iter().any(|a| !a.is_inline)
    }

    pub fn recipient_count(&self) -> usize {
        self.to.len() + self.cc.len() + self.bcc.len()
    }
}

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
    /// changed_seq -> message key (for delta rounds).
    #[serde(skip)]
    pub by_seq: BTreeMap<u64, u64>,
    /// Asynchronous submission: how long (ms on the sim clock, a random value in
    /// `[min, max]`) a submitted message stays in Drafts before it moves to Sent Items and
    /// goes out. `(0, 0)`: at once.
    #[serde(default)]
    pub submission_delay_ms: (u64, u64),
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
            by_seq: BTreeMap::new(),
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

    fn add_folder_raw(
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
        self.by_id.insert(m.rest_id.clone(), key);
        self.by_id.insert(m.immutable_id.clone(), key);
        self.by_seq.insert(m.changed_seq, key);
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
        self.by_seq.remove(&m.changed_seq);
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
        self.by_seq.insert(m.changed_seq, key);
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
        let r = f(m);
        m.version += 1;
        m.changed_seq = seq;
        m.last_modified = now;
        let (is_read, received, folder) = (m.is_read, m.received, m.folder);
        self.by_seq.remove(&old_seq);
        self.by_seq.insert(seq, key);
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

    /// Deletes a folder (and its subtree) by moving it under Deleted Items, as Outlook does.
    pub fn delete_folder(&mut self, key: u32) {
        let deleted = self.well_known("deleteditems");
        self.folders[key as usize].parent = Some(deleted);
        self.touch_folder(key);
        self.touch_folder(deleted);
    }

    /// Rebuilds the indexes that are not persisted.
    pub fn reindex(&mut self) {
        self.by_id.clear();
        self.by_seq.clear();
        for f in &mut self.folders {
            f.items.clear();
            f.unread = 0;
        }
        for m in self.messages.values() {
            self.by_id.insert(m.rest_id.clone(), m.key);
            self.by_id.insert(m.immutable_id.clone(), m.key);
            self.by_seq.insert(m.changed_seq, m.key);
            let f = &mut self.folders[m.folder as usize];
            f.items.insert((-m.received, m.key));
            if !m.is_read {
                f.unread += 1;
            }
        }
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

pub fn new_message_id() -> String {
    let hex: String = random_bytes(16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("<{}@EUR01.prod.outlook.example>", hex.to_uppercase())
}

// ---------------------------------------------------------------------------------------------
// Identity platform grants
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: String,
    pub nonce: Option<String>,
    pub expires: i64,
    pub redeemed: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshGrant {
    pub client_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub issued: i64,
    pub last_used: i64,
    pub expired: bool,
    pub revoked: bool,
    /// Set when this token was exchanged for a new one.
    pub rotated: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum DeviceState {
    Pending,
    Approved,
    Declined,
    ConsentRequired,
    Redeemed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceGrant {
    pub device_code: String,
    pub user_code: String,
    pub client_id: String,
    /// The tenant path segment the flow was started on (`common`, a domain, a GUID ...).
    pub tenant: String,
    pub scopes: Vec<String>,
    pub expires: i64,
    pub state: DeviceState,
    pub user_id: Option<String>,
}

/// A sign-in in progress at the HTML pages (the `ctx` hidden field).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    pub kind: FlowKind,
    pub tenant: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: String,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: String,
    pub nonce: Option<String>,
    pub login_hint: Option<String>,
    pub force_consent: bool,
    pub user_id: Option<String>,
    pub device_code: Option<String>,
    pub expires: i64,
    /// The authorize request asked for `client_info=1` (MSAL does): the redirect carries it.
    #[serde(default)]
    pub client_info: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum FlowKind {
    Authorize,
    Device,
    AdminConsent,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifetimes {
    pub access_token_secs: i64,
    pub refresh_inactivity_secs: i64,
    pub code_secs: i64,
    pub device_code_secs: i64,
    pub device_code_interval: i64,
    pub sso_session_secs: i64,
    /// Off (Entra's behaviour): a rotated refresh token stays valid until it expires.
    /// On: using an already rotated refresh token fails with AADSTS70000.
    pub strict_refresh_rotation: bool,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access_token_secs: 3599,
            refresh_inactivity_secs: 90 * 24 * 3600,
            code_secs: 600,
            device_code_secs: 900,
            device_code_interval: 5,
            sso_session_secs: 24 * 3600,
            strict_refresh_rotation: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Outbound mail and upload sessions
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundAttachment {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub is_inline: bool,
    pub content_id: Option<String>,
    pub sha256: String,
    pub content_bytes: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundMail {
    pub seq: u64,
    /// Mailbox whose account submitted the message.
    pub mailbox: String,
    /// How it was submitted: `sendMail`, `send` (draft), `outlook`.
    pub via: String,
    pub submitted_by: String,
    pub internet_message_id: String,
    pub from: Addr,
    pub sender: Addr,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    /// Envelope-only recipients (not in the headers the recipient sees).
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub subject: String,
    pub body_content_type: String,
    pub body: String,
    /// The header block as the recipient receives it.
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<OutboundAttachment>,
    pub sent_date_time: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadSession {
    pub mailbox: String,
    pub message_key: u64,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub is_inline: bool,
    pub content_id: Option<String>,
    pub expires: i64,
    #[serde(with = "b64_bytes")]
    pub data: Vec<u8>,
}

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub tenants: Vec<Tenant>,
    pub users: Vec<User>,
    pub mailboxes: HashMap<String, Mailbox>,
    pub codes: HashMap<String, CodeGrant>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub devices: HashMap<String, DeviceGrant>,
    pub flows: HashMap<String, Flow>,
    /// SSO session cookie value -> (user id, expiry).
    pub sessions: HashMap<String, (String, i64)>,
    pub revoked_utis: BTreeSet<String>,
    pub lifetimes: Lifetimes,
    pub outbound: Vec<OutboundMail>,
    pub uploads: HashMap<String, UploadSession>,
    /// The app registrations (client id -> app). An app that is not here does not exist:
    /// sign-in answers AADSTS700016.
    #[serde(default)]
    pub apps: HashMap<String, App>,
    /// Submitted messages waiting for "transport" (see `Mailbox::submission_delay_ms`).
    #[serde(default)]
    pub pending_submissions: Vec<PendingSubmission>,
}

/// A message accepted by `send`/`sendMail` that has not gone out yet: it sits in the
/// mailbox's Drafts folder (`draft`) until `due_ms` (sim clock).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingSubmission {
    pub due_ms: i64,
    pub mailbox: String,
    /// The item in Drafts; deleting it before `due_ms` cancels the submission.
    pub draft: u64,
    pub via: String,
    pub actor: Option<String>,
    pub app_only: bool,
    pub save: bool,
    pub msg: Message,
}

/// Where an app registration's redirect URIs are configured in Entra ("Authentication" >
/// platform). A `Web` app is a confidential client: it must present its secret when it redeems
/// a code or refresh token. A `Public` app ("Mobile and desktop applications") must not.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Platform {
    Web,
    Public,
}

/// An app registration as Entra keeps it (the parts sign-in looks at).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub client_id: String,
    pub display_name: String,
    /// The publisher domain shown under the app's name on the consent page (e.g.
    /// `crm.example`); `None` shows "unverified".
    pub publisher_domain: Option<String>,
    pub platform: Platform,
    /// Exact, case-sensitive redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The client secret's value (web platform).
    pub client_secret: Option<String>,
}

impl App {
    /// Exact, case-sensitive match; for loopback URIs (`http://localhost`, `127.0.0.1`,
    /// `[::1]`) the port is ignored, as Microsoft documents for localhost redirect URIs
    /// (native apps listen on an ephemeral port, RFC 8252 section 7.3): scheme, host and path
    /// still match exactly, so `localhost` and `127.0.0.1` do not stand for each other.
    pub fn redirect_registered(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|r| r == uri || same_loopback_but_port(r, uri))
    }
}

fn same_loopback_but_port(registered: &str, requested: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &url::Url| matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    loopback(&a)
        && a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.path() == b.path()
        && a.query() == b.query()
}

impl World {
    pub fn reindex(&mut self) {
        for mb in self.mailboxes.values_mut() {
            mb.reindex();
        }
    }

    /// Finds a tenant by GUID or verified domain (case-insensitive).
    pub fn tenant(&self, r: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(r) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(r))
        })
    }

    pub fn tenant_mut(&mut self, r: &str) -> Option<&mut Tenant> {
        self.tenants.iter_mut().find(|t| {
            t.id.eq_ignore_ascii_case(r) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(r))
        })
    }

    /// Finds a user by object id, UPN, primary address or alias.
    pub fn user(&self, r: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(r) || u.has_address(r))
    }

    pub fn user_mut(&mut self, r: &str) -> Option<&mut User> {
        self.users
            .iter_mut()
            .find(|u| u.id.eq_ignore_ascii_case(r) || u.has_address(r))
    }

    pub fn user_by_id(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn add_tenant(&mut self, t: Tenant) -> Result<(), String> {
        for d in &t.domains {
            if self.tenant(d).is_some() {
                return Err(format!("domain {d} already belongs to a tenant"));
            }
        }
        if self.tenant(&t.id).is_some() {
            return Err(format!("tenant {} exists", t.id));
        }
        self.tenants.push(t);
        Ok(())
    }

    /// Adds a user and creates its mailbox (folder names in the user's locale).
    pub fn add_user(&mut self, u: User) -> Result<(), String> {
        if self.user(&u.upn).is_some() || self.user(&u.mail).is_some() {
            return Err(format!("user {} exists", u.upn));
        }
        for a in &u.aliases {
            if self.user(a).is_some() {
                return Err(format!("address {a} is in use"));
            }
        }
        let mb = Mailbox::new(&u.id, &u.locale);
        self.mailboxes.insert(u.id.clone(), mb);
        self.users.push(u);
        Ok(())
    }
}
