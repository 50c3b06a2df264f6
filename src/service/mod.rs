//! The Rust API of the library: one [`Client`] with one async method per capability. Each
//! method checks the acting user's access, then composes the domain modules beneath it
//! (which share a [`Core`]). The FFI layer is a thin shell around this.

mod auth;
pub mod contract;
mod events;
pub(crate) mod jobs;
mod link_page;
mod links;
mod mail_view;
mod mailboxes;
mod maintenance;
mod observe;
mod send;
mod setup;
mod sync;
mod warm;

pub use auth::{
    Account, AuditLog, AuditLogEntry, AuditLogResponse, Authenticate, AuthenticateResponse,
    Authenticated, AuthorizationRequired, DeviceCodePending, DeviceSignInCompleted,
    DeviceSignInFailed, SignOut, SignOutResponse,
};
pub use events::{Event, NextEventFilter, EVENT_TYPES};
pub use link_page::{LinkPage, PageAnswer, StreamAnswer};
pub use links::{LinkAccept, LinkDownload, LinkOpen, LinksPurge};
pub use mailboxes::{GetMailbox, ImportMailbox, ListMailboxes, RemoveMailbox, UpdateMailbox};
pub use maintenance::{Maintenance, MaintenanceResult};
pub use observe::{MetricsResult, TakeLogs, TakenLogs};
pub use send::{OutboxProcess, SendMail, SendStatus};
pub use setup::CheckSetup;
pub use sync::{
    CacheClear, DeleteMessage, GetAttachment, GetMessage, ListFolders, ListMessages, MarkRead,
    MoveFolderContents, MoveMessage, SyncMailbox,
};

use crate::config::Config;
use crate::core::{Core, WeakCore};
use crate::error::{Error, Result};
use crate::store::MailboxRecord;
use std::sync::{Arc, Weak};

/// A handle on one store with one configuration: the Rust API of the library. Cheap to
/// clone; thread-safe. It derefs to the [`Core`] the domain modules share.
#[derive(Clone)]
pub struct Client {
    core: Core,
    /// Serialized warm answers (see [`warm`]).
    warm: Arc<warm::WarmCache>,
}

/// A handle for background jobs: it does not keep the client alive.
#[derive(Clone)]
pub(crate) struct WeakClient {
    core: WeakCore,
    warm: Weak<warm::WarmCache>,
}

impl WeakClient {
    pub(crate) fn upgrade(&self) -> Option<Client> {
        Some(Client {
            core: Core::upgrade(&self.core)?,
            warm: self.warm.upgrade()?,
        })
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.core.strong_count() > 0
    }
}

pub use crate::core::LIVE_CLIENTS;

impl std::ops::Deref for Client {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl Client {
    /// Opens the store (creating and migrating it as needed) and loads the encryption key.
    pub fn new(config: Config) -> Result<Client> {
        let client = Client {
            core: Core::open(config)?,
            warm: Default::default(),
        };
        jobs::start_scheduler(&client);
        Ok(client)
    }

    /// Parses the config JSON and opens the client.
    pub fn from_json(config_json: &str) -> Result<Client> {
        Client::new(Config::from_json(config_json)?)
    }

    /// The shared core beneath the domain modules.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// A weak handle for background tasks: they end when the host frees the client.
    pub(crate) fn downgrade_client(&self) -> WeakClient {
        WeakClient {
            core: self.core.downgrade(),
            warm: Arc::downgrade(&self.warm),
        }
    }

    /// The mailbox named by id or address, if the acting `user` is assigned to it.
    /// Unknown → `not_found`; unassigned → `forbidden`, and the attempt is recorded.
    pub fn mailbox_for_user(&self, key: &str, user: &str, action: &str) -> Result<MailboxRecord> {
        crate::mailbox::check_user("user", user)?;
        let m = self.find_mailbox(key)?;
        if m.users.iter().any(|u| u == user) {
            return Ok(m);
        }
        self.audit(Some(&m.id), Some(user), action, "denied", None);
        Err(Error::forbidden(
            "user_not_assigned",
            format!(
                "CRM user '{user}' is not assigned to mailbox '{}'",
                m.address
            ),
        )
        .with_hint("an administrator can assign the user to the mailbox (o365_update_mailbox)")
        .with_detail("mailbox", m.id.as_str())
        .with_detail("user", user))
    }
}

impl crate::telemetry::log::Observed for Client {
    fn telemetry(&self) -> &Arc<crate::telemetry::Telemetry> {
        self.core.telemetry()
    }
}
