//! A mailbox from the server side: its state and messages, folders, bulk seeding, the
//! submission delay and sync invalidation (`/_sim/mailboxes/{u}...`; what Outlook does to it
//! is in `outlook.rs`).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::extract::{Body, NoFields, Params};
use super::owner_id;
use super::reply::{created, ok, AdminErr, Created, Reply};
use crate::graph::json::parent_folder_id;
use crate::server::AppState;
use crate::state::{Addr, Folder, Mailbox, Message, ROOT};

/// A folder as the admin API shows it: Graph's mailFolder properties, its well-known name
/// and its path of display names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderState {
    pub id: String,
    pub display_name: String,
    pub parent_folder_id: String,
    pub child_folder_count: usize,
    pub unread_item_count: u32,
    pub total_item_count: usize,
    pub is_hidden: bool,
    pub well_known_name: Option<String>,
    pub path: String,
}

impl FolderState {
    fn of(mb: &Mailbox, f: &Folder) -> FolderState {
        FolderState {
            id: f.id.clone(),
            display_name: f.display_name.clone(),
            parent_folder_id: parent_folder_id(mb, f),
            child_folder_count: mb.child_count(f.key),
            unread_item_count: f.unread,
            total_item_count: f.items.len(),
            is_hidden: f.hidden,
            well_known_name: f.well_known.clone(),
            path: mb.folder_path(f.key),
        }
    }
}

/// `{"minMs", "maxMs"}`: the submission delay (sim-clock milliseconds).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delay {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl From<(u64, u64)> for Delay {
    fn from((min_ms, max_ms): (u64, u64)) -> Delay {
        Delay { min_ms, max_ms }
    }
}

/// `GET /_sim/mailboxes/{u}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MailboxState {
    pub id: String,
    pub user_principal_name: String,
    pub message_count: usize,
    pub unread_count: usize,
    pub sync_epoch: u32,
    pub submission_delay: Delay,
    pub pending_submissions: usize,
    pub folders: Vec<FolderState>,
}

pub async fn state(State(sim): State<AppState>, Path(u): Path<String>) -> Reply<MailboxState> {
    let w = sim.w();
    let id = owner_id(&w, &u)?;
    let user = w.user_by_id(&id).unwrap();
    let mb = &w.mailboxes[&id];
    ok(MailboxState {
        user_principal_name: user.upn.clone(),
        message_count: mb.messages.len(),
        unread_count: mb.messages.values().filter(|m| !m.is_read).count(),
        sync_epoch: mb.sync_epoch,
        submission_delay: mb.submission_delay_ms.into(),
        pending_submissions: w
            .pending_submissions
            .iter()
            .filter(|p| p.mailbox == id)
            .count(),
        folders: mb
            .folders
            .iter()
            .filter(|f| !f.deleted)
            .map(|f| FolderState::of(mb, f))
            .collect(),
        id,
    })
}

/// `GET /_sim/mailboxes/{u}/messages?folder=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessagesQuery {
    /// A folder id, well-known name or display name; all folders when absent.
    pub folder: Option<String>,
    pub limit: Option<usize>,
}

/// A message in `GET /_sim/mailboxes/{u}/messages`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSummary {
    pub id: String,
    pub immutable_id: String,
    pub internet_message_id: String,
    pub parent_folder_id: String,
    /// The folder's display name.
    pub folder: String,
    pub subject: String,
    /// The From address.
    pub from: Option<String>,
    pub is_read: bool,
    pub is_draft: bool,
    pub has_attachments: bool,
    pub received_date_time: String,
    pub headers: Vec<(String, String)>,
}

impl MessageSummary {
    fn of(mb: &Mailbox, m: &Message) -> MessageSummary {
        let f = &mb.folders[m.folder as usize];
        MessageSummary {
            id: m.rest_id.clone(),
            immutable_id: m.immutable_id.clone(),
            internet_message_id: m.internet_message_id.clone(),
            parent_folder_id: f.id.clone(),
            folder: f.display_name.clone(),
            subject: m.subject.clone(),
            from: m.from.as_ref().map(|a| a.address.clone()),
            is_read: m.is_read,
            is_draft: m.is_draft,
            has_attachments: m.has_attachments(),
            received_date_time: crate::clock::iso(m.received),
            headers: m.headers.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct MessageList {
    /// Newest first.
    pub messages: Vec<MessageSummary>,
}

pub async fn messages(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Params(q): Params<MessagesQuery>,
) -> Reply<MessageList> {
    let w = sim.w();
    let id = owner_id(&w, &u)?;
    let mb = &w.mailboxes[&id];
    let folder = match &q.folder {
        Some(f) => Some(
            mb.folder_lookup(f)
                .ok_or_else(|| AdminErr::bad("no such folder"))?,
        ),
        None => None,
    };
    let mut v: Vec<&Message> = mb
        .messages
        .values()
        .filter(|m| folder.map(|f| m.folder == f).unwrap_or(true))
        .collect();
    v.sort_by_key(|m| (-m.received, m.key));
    ok(MessageList {
        messages: v
            .into_iter()
            .take(q.limit.unwrap_or(usize::MAX))
            .map(|m| MessageSummary::of(mb, m))
            .collect(),
    })
}

/// `PUT /_sim/mailboxes/{u}/submission-delay`: `ms` (fixed) or `minMs` and `maxMs` (random in
/// the range), on the sim clock; `{"ms": 0}` sends at once again.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetDelay {
    pub ms: Option<u64>,
    pub min_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

/// `GET /_sim/mailboxes/{u}/submission-delay`.
pub async fn get_submission_delay(
    State(sim): State<AppState>,
    Path(u): Path<String>,
) -> Reply<Delay> {
    let w = sim.w();
    let id = owner_id(&w, &u)?;
    ok(w.mailboxes[&id].submission_delay_ms.into())
}

pub async fn put_submission_delay(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Body(r): Body<SetDelay>,
) -> Reply<Delay> {
    let range = match (r.ms, r.min_ms, r.max_ms) {
        (Some(ms), None, None) => (ms, ms),
        (None, Some(lo), Some(hi)) if lo <= hi => (lo, hi),
        (None, Some(_), Some(_)) => return Err(AdminErr::bad("minMs must not exceed maxMs")),
        _ => return Err(AdminErr::bad("give either ms, or minMs and maxMs")),
    };
    if range.1 > 86_400_000 {
        return Err(AdminErr::bad("the submission delay is at most one day"));
    }
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    w.mailboxes.get_mut(&id).unwrap().submission_delay_ms = range;
    ok(range.into())
}

/// `POST /_sim/mailboxes/{u}/folders`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewFolder {
    pub display_name: String,
    /// A folder id, well-known name or display name; the top of the mailbox when absent.
    pub parent: Option<String>,
    pub is_hidden: Option<bool>,
}

pub async fn create_folder(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Body(r): Body<NewFolder>,
) -> Created<FolderState> {
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let mb = w.mailboxes.get_mut(&id).unwrap();
    let parent = match &r.parent {
        Some(p) => mb
            .folder_lookup(p)
            .ok_or_else(|| AdminErr::bad("no such parent folder"))?,
        None => ROOT,
    };
    let k = mb
        .add_folder(&r.display_name, parent, r.is_hidden.unwrap_or(false))
        .map_err(AdminErr::conflict)?;
    created(FolderState::of(mb, &mb.folders[k as usize]))
}

/// `POST /_sim/mailboxes/{u}/seed`: generated mail, round robin over the folders.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedRequest {
    pub count: usize,
    /// Folder references; the inbox when absent.
    pub folders: Option<Vec<String>>,
    /// Default 0.2.
    pub unread_ratio: Option<f64>,
    /// The random seed (default 7): the same seed gives the same mail.
    pub seed: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seeded {
    pub created: usize,
    /// Server-side time it took.
    pub millis: u64,
    pub total_messages: usize,
}

pub async fn seed(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Body(r): Body<SeedRequest>,
) -> Created<Seeded> {
    let started = std::time::Instant::now();
    let now = sim.clock.now();
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let owner = w.user_by_id(&id).unwrap().clone();
    let mb = w.mailboxes.get_mut(&id).unwrap();
    let refs = r.folders.unwrap_or_else(|| vec!["inbox".into()]);
    let mut folders = vec![];
    for f in refs {
        folders.push(
            mb.folder_lookup(&f)
                .ok_or_else(|| AdminErr::bad(format!("no such folder {f}")))?,
        );
    }
    let n = crate::seed::bulk(
        mb,
        &Addr::new(&owner.display_name, &owner.mail),
        &folders,
        r.count,
        r.unread_ratio.unwrap_or(0.2),
        now,
        r.seed.unwrap_or(7),
    );
    created(Seeded {
        created: n,
        millis: started.elapsed().as_millis() as u64,
        total_messages: mb.messages.len(),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncEpoch {
    pub sync_epoch: u32,
}

/// `POST /_sim/mailboxes/{u}/invalidate-sync`: every delta token of the mailbox answers 410
/// from now on.
pub async fn invalidate_sync(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    _: NoFields,
) -> Reply<SyncEpoch> {
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let mb = w.mailboxes.get_mut(&id).unwrap();
    mb.sync_epoch += 1;
    ok(SyncEpoch {
        sync_epoch: mb.sync_epoch,
    })
}
