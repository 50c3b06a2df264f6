//! Sealed token sets and pending sign-ins.

use crate::error::Result;

/// A mailbox's sealed token set (the vault encrypts; the store never sees plain text).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub sealed: Vec<u8>,
    pub access_expires_at: i64,
    pub refreshed_at: i64,
    /// Grows by one on every write; compare-and-set guard against lost updates.
    pub generation: i64,
}

/// A pending sign-in (code flow, device flow or admin consent).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthStateRow {
    /// SHA-256 (hex) of the state value (or of the device code): the value itself is never stored.
    pub state_hash: String,
    pub mailbox_id: String,
    pub user: String,
    /// `code`, `device`, `admin_consent`.
    pub flow: String,
    /// Sealed JSON with the PKCE verifier, redirect URI, tenant, device code ...
    pub sealed: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Why a state could not be taken.
#[derive(Debug, Clone, PartialEq)]
pub enum TakeState {
    Taken(AuthStateRow),
    Unknown,
    AlreadyUsed(AuthStateRow),
    Expired(AuthStateRow),
}

pub trait TokenStore {
    fn get_token(&self, mailbox_id: &str) -> Result<Option<TokenRow>>;
    /// When the mailbox's access token expires (ms), if it has one (health; no secret read).
    fn token_expiry(&self, mailbox_id: &str) -> Result<Option<i64>>;
    /// Writes a token set if the stored generation still equals `expected` (None: no row
    /// yet, or overwrite unconditionally when `force`). Returns the new generation, or None
    /// when someone else wrote first.
    fn put_token(
        &self,
        mailbox_id: &str,
        sealed: &[u8],
        access_expires_at: i64,
        now: i64,
        expected: Option<i64>,
        force: bool,
    ) -> Result<Option<i64>>;
    fn delete_token(&self, mailbox_id: &str) -> Result<bool>;
    /// Mailboxes whose token was last refreshed before `before` (idle keep-alive).
    fn idle_tokens(&self, before: i64) -> Result<Vec<String>>;

    fn insert_auth_state(&self, row: &AuthStateRow) -> Result<()>;
    /// Marks the state used, once, across processes.
    fn take_auth_state(&self, state_hash: &str, now: i64) -> Result<TakeState>;
    /// The newest unexpired, unused device flow of a mailbox.
    fn pending_device_flow(&self, mailbox_id: &str, now: i64) -> Result<Option<AuthStateRow>>;
    /// Ends every pending sign-in of a mailbox of one flow (e.g. after success).
    fn close_auth_states(&self, mailbox_id: &str, flow: &str, now: i64) -> Result<()>;
}
