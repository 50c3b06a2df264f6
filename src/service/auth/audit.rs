//! The audit list of a mailbox: who signed in, out, or was refused.

use super::{AuditLog, AuditLogEntry, AuditLogResponse};
use crate::error::Result;
use crate::service::Client;

impl Client {
    /// `o365_audit_log`: who signed in, out, or was refused, newest first.
    pub async fn audit_log(&self, req: AuditLog) -> Result<AuditLogResponse> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "audit_log")?;
        let entries = self
            .store()
            .list_audit(&m.id, req.limit.unwrap_or(100).min(10_000))?;
        Ok(AuditLogResponse {
            entries: entries
                .into_iter()
                .map(|e| AuditLogEntry {
                    at: crate::clock::rfc3339(e.at),
                    user: e.user,
                    action: e.action,
                    outcome: e.outcome,
                    detail: e.detail,
                })
                .collect(),
        })
    }
}
