//! Completion of a browser sign-in: the redirect's state and owner checks, the code
//! exchange, and storing the checked tokens (also for the device flow).

use super::{hash, Authenticate, AuthenticateResponse, Authenticated};
use crate::auth::entra::{refusal_error, TokenOutcome, TokenResponse, CONSUMERS_TENANT_ID};
use crate::auth::tokens::TokenSet;
use crate::error::{Error, Fault, Result};
use crate::service::Client;
use crate::store::{MailboxRecord, TakeState};

impl Client {
    /// Completes a browser sign-in (or an administrator's consent) from the redirect: the
    /// single-use state, its owner checks, then the code exchange.
    pub(super) async fn complete_sign_in(&self, req: Authenticate) -> Result<AuthenticateResponse> {
        let mut params: Vec<(String, String)> = Vec::new();
        if let Some(cb) = &req.callback_url {
            let u = url::Url::parse(cb).map_err(|e| {
                Error::invalid_field("callback_url", format!("callback_url is not a URL: {e}"))
            })?;
            params.extend(
                u.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
            if let Some(f) = u.fragment() {
                params.extend(
                    url::form_urlencoded::parse(f.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned())),
                );
            }
        }
        let get = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let state = req.state.clone().or_else(|| get("state")).ok_or_else(|| {
            Error::invalid("missing_state", "the callback carries no 'state'")
                .with_hint("pass the full redirect URL the CRM received as 'callback_url'")
        })?;
        let h = hash(&state);
        let row = match self.store().take_auth_state(&h, self.now_ms())? {
            TakeState::Taken(r) => r,
            TakeState::Unknown => {
                return Err(Error::invalid(
                    "invalid_state",
                    "the sign-in state is unknown: tampered, from another installation, or the mailbox was removed",
                )
                .with_hint("start the sign-in again with o365_authenticate"))
            }
            TakeState::AlreadyUsed(_) => {
                return Err(Error::invalid("state_already_used", "this sign-in was already completed or abandoned; a state is single use")
                    .with_hint("start the sign-in again with o365_authenticate"))
            }
            TakeState::Expired(_) => {
                return Err(Error::invalid("state_expired", "the sign-in was not completed within 10 minutes")
                    .with_hint("start the sign-in again with o365_authenticate"))
            }
        };
        let m = self.find_mailbox(&row.mailbox_id)?;
        // A state belongs to one mailbox and one CRM user.
        if let Some(mb) = &req.mailbox {
            if self.find_mailbox(mb).map(|x| x.id != m.id).unwrap_or(true) {
                self.audit(
                    Some(&m.id),
                    req.user.as_deref(),
                    "sign_in",
                    "denied",
                    Some("foreign state".into()),
                );
                return Err(Error::forbidden(
                    "foreign_state",
                    "the sign-in state belongs to another mailbox",
                ));
            }
        }
        if let Some(u) = &req.user {
            if *u != row.user {
                self.audit(
                    Some(&m.id),
                    Some(u),
                    "sign_in",
                    "denied",
                    Some("foreign state".into()),
                );
                return Err(Error::forbidden(
                    "foreign_state",
                    "the sign-in state belongs to another CRM user",
                ));
            }
        }
        if !m.users.contains(&row.user) {
            return Err(Error::forbidden(
                "user_not_assigned",
                format!(
                    "CRM user '{}' is no longer assigned to mailbox '{}'",
                    row.user, m.address
                ),
            ));
        }
        let p = self.open_pending(&row)?;

        if row.flow == "admin_consent" {
            if let Some(err) = get("error") {
                let desc = get("error_description").unwrap_or_default();
                self.audit(
                    Some(&m.id),
                    Some(&row.user),
                    "admin_consent",
                    "failed",
                    Some(err.clone()),
                );
                return Err(Error::ConsentRequired(Fault::new(
                    "admin_consent_declined",
                    format!("the administrator did not grant consent: {err} {desc}"),
                )));
            }
            self.audit(Some(&m.id), Some(&row.user), "admin_consent", "ok", None);
            let mut next = self
                .start_code_flow(&m, &row.user, p.redirect_uri.as_deref(), None)
                .await?;
            if let AuthenticateResponse::AuthorizationRequired(a) = &mut next {
                a.admin_consent = Some("granted".into());
            }
            return Ok(next);
        }
        if row.flow != "code" {
            return Err(Error::invalid(
                "invalid_state",
                "this state does not belong to a browser sign-in",
            ));
        }
        if let Some(err) = get("error") {
            let desc = get("error_description").unwrap_or_default();
            self.audit(
                Some(&m.id),
                Some(&row.user),
                "sign_in",
                "failed",
                Some(err.clone()),
            );
            if err == "consent_required" || desc.contains("AADSTS65001") {
                return Err(self.consent_error(&m, &row.user, &p, &desc)?);
            }
            if err == "access_denied" {
                return Err(Error::AuthRequired(Fault::new(
                    "access_denied",
                    format!("the sign-in was cancelled or access was refused: {desc}"),
                ))
                .with_hint("start the sign-in again and approve the access for the CRM"));
            }
            return Err(Error::Remote(Fault::new(
                "sign_in_refused",
                format!("Microsoft ended the sign-in with '{err}': {desc}"),
            ))
            .with_detail("oauth_error", err));
        }
        let code = req.code.clone().or_else(|| get("code")).ok_or_else(|| {
            Error::invalid(
                "missing_code",
                "the callback carries neither 'code' nor 'error'",
            )
        })?;
        let app = self.app_registration()?;
        let entra = self.entra()?;
        let redirect = p.redirect_uri.clone().unwrap_or_default();
        let verifier = p.verifier.clone().unwrap_or_default();
        let exchange = entra.exchange_code(&p.tenant, app, &code, &redirect, &verifier, &p.scope);
        match exchange.await? {
            TokenOutcome::Ok(t) => {
                self.accept_tokens(&m, &row.user, t, &p.tenant, &p.scope)
                    .await
            }
            TokenOutcome::Refused(e) => {
                self.audit(
                    Some(&m.id),
                    Some(&row.user),
                    "sign_in",
                    "failed",
                    Some(e.error.clone()),
                );
                let err = refusal_error(&e);
                if err.status() == crate::error::status::CONSENT_REQUIRED {
                    return Err(self.consent_error(&m, &row.user, &p, e.short_description())?);
                }
                Err(err)
            }
        }
    }

    /// Checks the account behind fresh tokens against the mailbox, then stores them.
    pub(super) async fn accept_tokens(
        &self,
        m: &MailboxRecord,
        user: &str,
        t: TokenResponse,
        tenant: &str,
        scope: &str,
    ) -> Result<AuthenticateResponse> {
        let account = self.verify_account(m, &t).await.inspect_err(|e| {
            self.audit(
                Some(&m.id),
                Some(user),
                "sign_in",
                "denied",
                Some(e.message().to_owned()),
            );
        })?;
        let set = TokenSet {
            expires_at: self.now_ms() + t.expires_in_secs() * 1000,
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            scope: scope.to_owned(),
            tenant: if tenant == "common" || tenant == "organizations" {
                if account.tenant_id == CONSUMERS_TENANT_ID {
                    "consumers".to_owned()
                } else {
                    account.tenant_id.clone()
                }
            } else {
                tenant.to_owned()
            },
        };
        self.save_token_set(&m.id, &set, None, true)?;
        let mut rec = self.find_mailbox(&m.id)?;
        rec.auth_state = "authenticated".into();
        rec.account = Some(serde_json::to_value(&account)?);
        let mut settings = crate::mailbox::Settings::from_record(&rec);
        if settings.book_external_sent_since.is_none() {
            // Only mail sent from the first sign-in on is booked as an activity.
            settings.book_external_sent_since = Some(crate::mailbox::booking_start(self.now_ms()));
            rec.settings = serde_json::to_value(settings)?;
        }
        rec.updated_at = self.now_ms();
        self.store().update_mailbox(&rec)?;
        self.store()
            .close_auth_states(&m.id, "device", self.now_ms())?;
        self.audit(
            Some(&m.id),
            Some(user),
            "sign_in",
            "ok",
            Some(account.address.clone()),
        );
        Ok(AuthenticateResponse::Authenticated(Authenticated {
            mailbox: Some(m.id.clone()),
            account: Some(account),
            signed_in_via: None,
        }))
    }
}
