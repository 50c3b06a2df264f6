//! Admin consent: a `consent_required` refusal carries a fresh admin-consent URL whose state
//! completes like a sign-in. (The mapping of Entra's refusals, AADSTS codes included, is
//! [`crate::auth::entra::refusal_error`].)

use super::{hash, Pending};
use crate::error::{Error, Fault, Result};
use crate::service::Client;
use crate::store::MailboxRecord;
use oauth2::CsrfToken;

impl Client {
    /// `consent_required` with a fresh admin-consent URL (its state completes like a sign-in).
    pub(super) fn consent_error(
        &self,
        m: &MailboxRecord,
        user: &str,
        p: &Pending,
        desc: &str,
    ) -> Result<Error> {
        let app = self.app_registration()?;
        let state = CsrfToken::new_random_len(32);
        let h = hash(state.secret());
        let tenant = if matches!(p.tenant.as_str(), "common" | "organizations") {
            m.address
                .rsplit_once('@')
                .map(|x| x.1.to_owned())
                .unwrap_or_default()
        } else {
            p.tenant.clone()
        };
        let redirect = p.redirect_uri.clone().unwrap_or_default();
        let mut url = url::Url::parse(&format!(
            "{}/{}/v2.0/adminconsent",
            self.config().endpoints.login.trim_end_matches('/'),
            tenant
        ))
        .map_err(|e| Error::internal(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("client_id", app.client_id.as_deref().unwrap_or_default())
            .append_pair("scope", "https://graph.microsoft.com/.default")
            .append_pair("redirect_uri", &redirect)
            .append_pair("state", state.secret());
        let pending = Pending {
            tenant: p.tenant.clone(),
            redirect_uri: p.redirect_uri.clone(),
            scope: p.scope.clone(),
            ..Default::default()
        };
        // An administrator may take days to act on the consent URL.
        let ttl = 7 * 24 * 3600 * 1000;
        self.store().insert_auth_state(&self.pending_row(
            h,
            m,
            user,
            "admin_consent",
            &pending,
            ttl,
        )?)?;
        Ok(Error::ConsentRequired(Fault::new(
            "consent_required",
            format!(
                "the Microsoft 365 organisation of '{}' requires an administrator to approve the CRM's access first ({})",
                m.address,
                desc.lines().next().unwrap_or("")
            ),
        ))
        .with_hint("hand details.admin_consent_url to your Microsoft 365 administrator; after the approval, sign in again")
        .with_detail("admin_consent_url", url.to_string())
        .with_detail("mailbox", m.id.as_str()))
    }
}
