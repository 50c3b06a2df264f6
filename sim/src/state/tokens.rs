//! What the identity platform hands out and remembers: authorization codes, refresh
//! tokens, device codes, sign-ins in progress at the HTML pages, and token lifetimes.

use serde::{Deserialize, Serialize};

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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
