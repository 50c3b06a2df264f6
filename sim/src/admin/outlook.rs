//! The other side of the mailbox: mail arrives (`deliver`), a person sends from Outlook
//! (`outlook-send`) or changes a message in Outlook (`messages/{id}/outlook`).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::extract::Body;
use super::message_input::MessageInput;
use super::owner_id;
use super::reply::{created, ok, AdminErr, Created, Reply};
use crate::graph::send::{submit, Submission};
use crate::server::AppState;
use crate::state::{Addr, Mailbox, OutboundMail};

/// `POST /_sim/mailboxes/{u}/deliver`: incoming mail.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deliver {
    /// A folder id, well-known name or display name; the inbox when absent.
    pub folder: Option<String>,
    #[serde(flatten)]
    pub message: MessageInput,
}

/// `POST /_sim/mailboxes/{u}/outlook-send`: a person sends from Outlook.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlookSend {
    /// Default true.
    pub save_to_sent_items: Option<bool>,
    #[serde(flatten)]
    pub message: MessageInput,
}

/// What Outlook does to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    MarkRead,
    MarkUnread,
    Flag,
    Move,
    Delete,
}

/// `POST /_sim/mailboxes/{u}/messages/{id}/outlook`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlookAction {
    pub action: Action,
    /// The destination of `move`.
    pub folder: Option<String>,
}

/// Where a message is now.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRef {
    pub id: String,
    pub immutable_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internet_message_id: Option<String>,
    pub parent_folder_id: String,
}

impl MessageRef {
    fn of(mb: &Mailbox, key: u64) -> MessageRef {
        let m = &mb.messages[&key];
        MessageRef {
            id: m.rest_id.clone(),
            immutable_id: m.immutable_id.clone(),
            internet_message_id: None,
            parent_folder_id: mb.folders[m.folder as usize].id.clone(),
        }
    }
}

/// The answer of an Outlook action: where the message is now, or that it is gone.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ActionDone {
    Changed(MessageRef),
    Deleted { deleted: bool },
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlookSent {
    pub internet_message_id: String,
    /// The copy in Sent Items (absent with `saveToSentItems: false`).
    pub id: Option<String>,
    pub immutable_id: Option<String>,
    /// As the recipients receive it (also in `GET /_sim/outbound`).
    pub outbound: OutboundMail,
}

pub async fn deliver(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Body(r): Body<Deliver>,
) -> Created<MessageRef> {
    let now = sim.clock.now();
    let mut m = r.message.into_message(now)?;
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let owner = w.user_by_id(&id).unwrap().clone();
    if m.to.is_empty() {
        m.to = vec![Addr::new(&owner.display_name, &owner.mail)];
    }
    if m.from.is_none() {
        let a = Addr::new("External Sender", "sender@external.example");
        m.from = Some(a.clone());
        m.sender = Some(a);
    }
    let mb = w.mailboxes.get_mut(&id).unwrap();
    let folder = mb
        .folder_lookup(r.folder.as_deref().unwrap_or("inbox"))
        .ok_or_else(|| AdminErr::bad("no such folder"))?;
    let k = mb.insert(m, folder);
    created(MessageRef {
        internet_message_id: Some(mb.messages[&k].internet_message_id.clone()),
        ..MessageRef::of(mb, k)
    })
}

pub async fn send(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Body(r): Body<OutlookSend>,
) -> Created<OutlookSent> {
    let now = sim.clock.now();
    let m = r.message.into_message(now)?;
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let out = submit(
        &sim,
        &mut w,
        Submission {
            via: "outlook",
            mailbox: id.clone(),
            actor: None,
            app_only: false,
            msg: m,
            save: r.save_to_sent_items.unwrap_or(true),
            draft: None,
        },
    )
    .map_err(|e| AdminErr::new(e.status, format!("{}: {}", e.code, e.message)))?;
    let mb = &w.mailboxes[&id];
    let sent = mb.well_known("sentitems");
    let copy = mb.folders[sent as usize]
        .items
        .iter()
        .map(|x| &mb.messages[&x.1])
        .find(|m| m.internet_message_id == out.internet_message_id);
    created(OutlookSent {
        internet_message_id: out.internet_message_id.clone(),
        id: copy.map(|m| m.rest_id.clone()),
        immutable_id: copy.map(|m| m.immutable_id.clone()),
        outbound: out,
    })
}

pub async fn action(
    State(sim): State<AppState>,
    Path((u, mid)): Path<(String, String)>,
    Body(r): Body<OutlookAction>,
) -> Reply<ActionDone> {
    let now = sim.clock.now();
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let mb = w.mailboxes.get_mut(&id).unwrap();
    let k = mb
        .lookup(&mid)
        .ok_or_else(|| AdminErr::not_found("no such message"))?;
    let nk = match r.action {
        Action::MarkRead | Action::MarkUnread => {
            mb.update(k, now, |m| m.is_read = r.action == Action::MarkRead);
            k
        }
        Action::Flag => {
            mb.update(k, now, |m| m.flag = "flagged".into());
            k
        }
        Action::Move => {
            let f = mb
                .folder_lookup(r.folder.as_deref().unwrap_or_default())
                .ok_or_else(|| AdminErr::bad("no such folder"))?;
            mb.move_to(k, f).unwrap()
        }
        Action::Delete => {
            mb.delete(k);
            crate::graph::send::cancel_pending(&mut w, &id, k);
            return ok(ActionDone::Deleted { deleted: true });
        }
    };
    ok(ActionDone::Changed(MessageRef::of(mb, nk)))
}
