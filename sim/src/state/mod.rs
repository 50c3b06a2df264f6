//! The sim's world: tenants, users, mailboxes (folders and messages), and the identity
//! platform's grants. Everything lives behind one `std::sync::Mutex<World>` in [`crate::Sim`];
//! handlers lock it, do their work synchronously and unlock before any `.await`.
//!
//! One module per part of the world; everything is re-exported here, so `crate::state::X`
//! names every type.

mod apps;
mod directory;
mod folders;
mod ids;
mod mailboxes;
mod messages;
mod outbound;
mod tokens;
mod uploads;
mod world;

pub use apps::{App, Platform};
pub use directory::{AliasSendMode, Grant, Tenant, User, UserKind, CONSUMERS_TENANT_ID};
pub use folders::{is_german, Folder, ROOT, WELL_KNOWN};
pub use ids::{b64std, b64url, exchange_id, new_guid, new_message_id, random_bytes, random_token};
pub use mailboxes::{Mailbox, Tombstone};
pub use messages::{Addr, Attachment, Message, CHANGE_KEY_PREFIX};
pub use outbound::{OutboundAttachment, OutboundMail, PendingSubmission};
pub use tokens::{CodeGrant, DeviceGrant, DeviceState, Flow, FlowKind, Lifetimes, RefreshGrant};
pub use uploads::UploadSession;
pub use world::World;
