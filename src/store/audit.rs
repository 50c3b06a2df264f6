//! The audit log: who did what to which mailbox, with the outcome.

use crate::error::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEntry {
    pub at: i64,
    pub mailbox_id: Option<String>,
    pub user: Option<String>,
    pub action: String,
    /// `ok`, `denied`, `failed`.
    pub outcome: String,
    pub detail: Option<String>,
}

pub trait AuditStore {
    fn record_audit(&self, e: &AuditEntry) -> Result<()>;
    /// Newest first.
    fn list_audit(&self, mailbox_id: &str, limit: usize) -> Result<Vec<AuditEntry>>;
}
