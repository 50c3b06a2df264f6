//! Sign-out: the mailbox's tokens are forgotten (store and cache).

use super::{SignOut, SignOutResponse};
use crate::error::Result;
use crate::service::Client;

impl Client {
    /// `o365_sign_out`: forgets the mailbox's tokens.
    pub async fn sign_out(&self, req: SignOut) -> Result<SignOutResponse> {
        let mut m = self.mailbox_for_user(&req.mailbox, &req.user, "sign_out")?;
        let removed = self.store().delete_token(&m.id)?;
        self.token_cache().forget(&m.id);
        m.auth_state = "not_authenticated".into();
        m.account = None;
        m.updated_at = self.now_ms();
        self.store().update_mailbox(&m)?;
        self.audit(Some(&m.id), Some(&req.user), "sign_out", "ok", None);
        Ok(SignOutResponse {
            status: "not_authenticated".into(),
            tokens_removed: removed,
        })
    }
}
