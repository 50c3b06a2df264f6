//! Requests and responses of the sign-in calls (`o365_authenticate`, `o365_sign_out`,
//! `o365_audit_log`) and the payloads of the device flow's events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `o365_authenticate`'s request: start a sign-in (`mailbox`, `user`) or complete one
/// (`callback_url`, or `code` + `state`).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Authenticate {
    /// Mailbox id or address (start; optional on completion, then checked against the state).
    #[serde(default)]
    pub mailbox: Option<String>,
    /// The acting CRM user (start; optional on completion, then checked against the state).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// `login`, `consent`, `select_account`, `none`.
    #[serde(default)]
    pub prompt: Option<String>,
    /// `code` (default) or `device_code`.
    #[serde(default)]
    pub flow: Option<String>,
    /// Completion: the whole redirect URL the CRM received.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Completion: code and state taken from the redirect by the host.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// Start a new sign-in even when the mailbox has a usable token.
    #[serde(default)]
    pub force: bool,
}

/// `o365_sign_out`'s request.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOut {
    pub mailbox: String,
    pub user: String,
}

/// `o365_audit_log`'s request.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditLog {
    pub mailbox: String,
    pub user: String,
    /// At most this many entries (default 100, at most 10000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `o365_authenticate`'s result, by `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AuthenticateResponse {
    /// The mailbox is signed in (a usable token, a completed sign-in, or its owner's).
    Authenticated(Authenticated),
    /// Send the user's browser to `authorize_url`.
    AuthorizationRequired(AuthorizationRequired),
    /// The user enters `user_code` at `verification_uri`; the end comes as an event.
    DeviceCodePending(DeviceCodePending),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Authenticated {
    /// The mailbox id (on completion of a sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// The signed-in Microsoft account.
    pub account: Option<Account>,
    /// An alias record served by its owner's sign-in: the owner's mailbox id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AuthorizationRequired {
    /// `code`.
    pub flow: String,
    pub authorize_url: String,
    /// Single use, bound to mailbox and user.
    pub state: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `granted` after an administrator's consent callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_consent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DeviceCodePending {
    /// `device_code`.
    pub flow: String,
    pub user_code: Option<String>,
    pub verification_uri: Option<String>,
    pub message: Option<String>,
    /// Seconds between two polls.
    pub interval: i64,
    /// RFC 3339.
    pub expires_at: String,
}

/// The Microsoft account behind a sign-in (no secrets); kept with the mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Account {
    /// The account's object id in its tenant.
    pub id: Option<String>,
    pub display_name: Option<String>,
    /// Its primary address (mail, else the user principal name).
    pub address: String,
    /// Every address of the account (mail, UPN, proxyAddresses): an alias record of one of
    /// them uses this sign-in.
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub tenant_id: String,
    /// A personal Microsoft account (outlook.com, hotmail.com, ...).
    #[serde(default)]
    pub personal: bool,
    /// RFC 3339.
    #[serde(default)]
    pub signed_in_at: String,
}

/// `o365_sign_out`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SignOutResponse {
    /// `not_authenticated`.
    pub status: String,
    /// Whether a token set was stored.
    pub tokens_removed: bool,
}

/// `o365_audit_log`'s result: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AuditLogResponse {
    pub entries: Vec<AuditLogEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AuditLogEntry {
    /// RFC 3339.
    pub at: String,
    /// The CRM user (none for the library's own actions, e.g. a token refresh).
    pub user: Option<String>,
    /// `sign_in_started`, `sign_in`, `admin_consent`, `sign_out`, `token_refresh`, ...
    pub action: String,
    /// `ok`, `denied`, `failed`.
    pub outcome: String,
    pub detail: Option<String>,
}

/// Payload of the `auth_completed` event of a device-code sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DeviceSignInCompleted {
    /// `device_code`.
    pub flow: String,
    pub user: String,
    pub account: Option<Account>,
}

/// Payload of the `auth_failed` event of a device-code sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DeviceSignInFailed {
    /// `device_code`.
    pub flow: String,
    pub user: String,
    /// The error kind, e.g. `access_denied`, `expired_token`, `account_mismatch`.
    pub error: String,
    pub message: String,
}

impl Account {
    /// The account stored with a mailbox record (`None` when absent or unreadable).
    pub fn of(stored: Option<&serde_json::Value>) -> Option<Account> {
        stored.and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

impl AuthenticateResponse {
    /// A signed-in mailbox.
    pub fn authenticated(account: Option<Account>) -> Self {
        AuthenticateResponse::Authenticated(Authenticated {
            mailbox: None,
            account,
            signed_in_via: None,
        })
    }

    /// The account of an `authenticated` result.
    pub fn account(&self) -> Option<&Account> {
        match self {
            AuthenticateResponse::Authenticated(a) => a.account.as_ref(),
            _ => None,
        }
    }
}
