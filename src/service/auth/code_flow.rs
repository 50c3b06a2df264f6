//! The authorization-code flow with PKCE: the authorize URL and its pending state.

use super::{hash, AuthenticateResponse, AuthorizationRequired, Pending, STATE_TTL_MS};
use crate::error::{Error, Result};
use crate::service::Client;
use crate::store::MailboxRecord;
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};

impl Client {
    /// Starts a browser sign-in: the authorize URL (PKCE S256, a single-use state bound to
    /// mailbox and user) and the sealed pending state.
    pub(super) async fn start_code_flow(
        &self,
        m: &MailboxRecord,
        user: &str,
        redirect: Option<&str>,
        prompt: Option<&str>,
    ) -> Result<AuthenticateResponse> {
        if let Some(p) = prompt {
            if !matches!(p, "login" | "consent" | "select_account" | "none") {
                return Err(Error::invalid_field(
                    "prompt",
                    format!("unknown prompt '{p}': use login, consent, select_account or none"),
                ));
            }
        }
        let app = self.app_registration()?;
        let redirect = self.redirect_for(redirect)?;
        let tenant = self.tenant_for(m).await?;
        let scope = self.scopes_for(m);
        let auth_url = format!(
            "{}/{}/oauth2/v2.0/authorize",
            self.config().endpoints.login.trim_end_matches('/'),
            tenant
        );
        let oauth = BasicClient::new(ClientId::new(app.client_id.clone().unwrap_or_default()))
            .set_auth_uri(
                AuthUrl::new(auth_url)
                    .map_err(|e| Error::invalid_field("endpoints.login", e.to_string()))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect.clone())
                    .map_err(|e| Error::invalid_field("redirect_uri", e.to_string()))?,
            );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random_len(32);
        let mut ar = oauth
            .authorize_url(|| state.clone())
            .set_pkce_challenge(challenge)
            .add_extra_param("login_hint", m.address.clone())
            .add_extra_param("response_mode", "query");
        for s in scope.split(' ') {
            ar = ar.add_scope(Scope::new(s.to_owned()));
        }
        if let Some(p) = prompt {
            ar = ar.add_extra_param("prompt", p.to_owned());
        }
        let (url, state) = ar.url();
        let now = self.now_ms();
        let h = hash(state.secret());
        let pending = Pending {
            tenant,
            redirect_uri: Some(redirect),
            verifier: Some(verifier.secret().clone()),
            scope,
            ..Default::default()
        };
        self.store().insert_auth_state(&self.pending_row(
            h,
            m,
            user,
            "code",
            &pending,
            STATE_TTL_MS,
        )?)?;
        self.audit(
            Some(&m.id),
            Some(user),
            "sign_in_started",
            "ok",
            Some("code".into()),
        );
        Ok(AuthenticateResponse::AuthorizationRequired(
            AuthorizationRequired {
                flow: "code".into(),
                authorize_url: url.to_string(),
                state: state.secret().clone(),
                expires_at: crate::clock::rfc3339(now + STATE_TTL_MS),
                admin_consent: None,
            },
        ))
    }
}
