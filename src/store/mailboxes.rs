//! Mailboxes: the imported addresses, their CRM users and sign-in state.

use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A mailbox as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MailboxRecord {
    pub id: String,
    pub address: String,
    /// `user`, `alias` or `shared`.
    pub kind: String,
    pub alias_of: Option<String>,
    pub users: Vec<String>,
    pub main_user: String,
    /// `not_authenticated`, `authenticated`, `reauth_required`.
    pub auth_state: String,
    pub settings: Value,
    /// The signed-in Microsoft account (no secrets), once authenticated.
    pub account: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub trait MailboxStore {
    /// Inserts a new mailbox; `already_exists` when the address is taken.
    fn insert_mailbox(&self, m: &MailboxRecord) -> Result<()>;
    /// Looks a mailbox up by id or (case-insensitive) address.
    fn find_mailbox(&self, id_or_address: &str) -> Result<Option<MailboxRecord>>;
    /// All mailboxes, or those the user is assigned to.
    fn list_mailboxes(&self, user: Option<&str>) -> Result<Vec<MailboxRecord>>;
    /// The records whose mail lives in the Microsoft mailbox `address`: the record of that
    /// address (unless it is an alias) and the aliases imported with `alias_of = address`
    /// (both case-insensitive). One query, whatever the number of mailboxes in the store.
    fn mailboxes_of_graph_mailbox(&self, address: &str) -> Result<Vec<MailboxRecord>>;
    /// Replaces users, main user, settings, auth state and account of an existing mailbox.
    fn update_mailbox(&self, m: &MailboxRecord) -> Result<()>;
    /// Deletes the mailbox with everything that hangs on it (users, tokens, cache, ...).
    fn delete_mailbox(&self, id: &str) -> Result<bool>;
}
