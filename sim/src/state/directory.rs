//! The directory: tenants, users (members and shared mailboxes) and who may use whose
//! mailbox.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

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
