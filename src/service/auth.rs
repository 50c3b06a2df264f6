//! Sign-in for imported mailboxes (seed points 4, 6, 7): authorization-code flow with PKCE,
//! device-code flow, admin consent, account checks, sign-out, the audit list.

use super::Client;
use crate::auth::entra::{
    jwt_claims, refusal_error, TokenOutcome, TokenResponse, CONSUMERS_TENANT_ID,
};
use crate::auth::tokens::TokenSet;
use crate::error::{Error, Fault, Result};
use crate::graph::Request;
use crate::store::{AuthStateRow, MailboxRecord, TakeState};
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A sign-in started by the host must be completed within this time (and only once).
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// What a mail connector needs (delegated).
const DEFAULT_SCOPES: &[&str] = &[
    "offline_access",
    "openid",
    "profile",
    "User.Read",
    "Mail.ReadWrite",
    "Mail.Send",
];
/// Extra scopes for shared mailboxes.
const SHARED_SCOPES: &[&str] = &["Mail.ReadWrite.Shared", "Mail.Send.Shared"];

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOut {
    pub mailbox: String,
    pub user: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLog {
    pub mailbox: String,
    pub user: String,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// What is sealed with a pending sign-in.
#[derive(Default, Serialize, Deserialize)]
struct Pending {
    tenant: String,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    verifier: Option<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    device_code: Option<String>,
    #[serde(default)]
    user_code: Option<String>,
    #[serde(default)]
    verification_uri: Option<String>,
    #[serde(default)]
    interval: i64,
    #[serde(default)]
    message: Option<String>,
}

fn hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn state_aad(h: &str) -> String {
    format!("auth_state:{h}")
}

impl Client {
    fn scopes_for(&self, m: &MailboxRecord) -> String {
        let mut s: Vec<String> = match &self.config().app.scopes {
            Some(list) => list.clone(),
            None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        };
        if m.kind == "shared" {
            for x in SHARED_SCOPES {
                if !s.iter().any(|y| y == x) {
                    s.push(x.to_string());
                }
            }
        }
        s.join(" ")
    }

    /// The authority segment for a mailbox: a fixed tenant from the config, else the tenant
    /// found by discovery of the address's domain (`consumers` for personal accounts), else
    /// the configured `common`/`organizations`.
    async fn tenant_for(&self, m: &MailboxRecord) -> Result<String> {
        let configured = self.config().app.tenant.clone();
        if !matches!(
            configured.as_str(),
            "common" | "organizations" | "consumers"
        ) {
            return Ok(configured);
        }
        let addr = m.alias_of.as_deref().unwrap_or(&m.address);
        let domain = addr.rsplit_once('@').map(|x| x.1).unwrap_or("");
        let entra = self.entra()?;
        match entra.discover_tenant(domain).await {
            Ok(Some(tid)) if tid == CONSUMERS_TENANT_ID => Ok("consumers".into()),
            Ok(Some(tid)) => Ok(tid),
            Ok(None) => Ok(configured),
            Err(e) if e.status() == crate::error::status::NETWORK => Err(e),
            Err(_) => Ok(configured),
        }
    }

    fn redirect_for(&self, requested: Option<&str>) -> Result<String> {
        let r = requested
            .map(str::to_owned)
            .or_else(|| self.config().app.redirect_uri.clone())
            .ok_or_else(|| {
                Error::invalid_field(
                    "redirect_uri",
                    "no redirect URI: give 'redirect_uri' or configure app.redirect_uri (the CRM's callback URL registered in Entra ID)",
                )
            })?;
        url::Url::parse(&r).map_err(|e| {
            Error::invalid_field("redirect_uri", format!("'{r}' is not a URL: {e}"))
        })?;
        Ok(r)
    }

    /// `o365_authenticate`: start or complete a sign-in (logged and counted).
    pub async fn authenticate(&self, req: Authenticate) -> Result<Value> {
        let complete = req.callback_url.is_some() || req.code.is_some() || req.state.is_some();
        let mailbox = req
            .mailbox
            .as_deref()
            .and_then(|k| self.find_mailbox(k).ok());
        let t = std::time::Instant::now();
        let r = self.authenticate_step(req).await;
        crate::telemetry::log::sign_in(
            self,
            complete,
            mailbox.as_ref().map(|m| m.id.as_str()),
            &r,
            Some(t.elapsed()),
        );
        r
    }

    async fn authenticate_step(&self, req: Authenticate) -> Result<Value> {
        if req.callback_url.is_some() || req.code.is_some() || req.state.is_some() {
            return self.complete_sign_in(req).await;
        }
        let mailbox = req.mailbox.as_deref().ok_or_else(|| {
            Error::invalid("missing_field", "required field 'mailbox' is missing")
                .with_detail("field", "mailbox")
        })?;
        let user = req.user.as_deref().ok_or_else(|| {
            Error::invalid("missing_field", "required field 'user' is missing")
                .with_detail("field", "user")
        })?;
        let m = self.mailbox_for_user(mailbox, user, "authenticate")?;
        self.app_registration()?;

        // An alias served by its owner's sign-in: nothing to do (one token set, one refresh).
        if !req.force && req.prompt.is_none() && m.auth_state != "authenticated" {
            if let Some(owner) = self.signed_in_owner(&m)? {
                if self.access_token(&owner.id, None).await.is_ok() {
                    let owner = self.find_mailbox(&owner.id)?;
                    return Ok(json!({
                        "status": "authenticated",
                        "account": owner.account,
                        "signed_in_via": owner.id,
                    }));
                }
            }
        }
        // A usable token: nothing to do.
        if !req.force && req.prompt.is_none() && m.auth_state == "authenticated" {
            match self.access_token(&m.id, None).await {
                Ok(_) => {
                    let m = self.find_mailbox(&m.id)?;
                    return Ok(json!({ "status": "authenticated", "account": m.account }));
                }
                Err(e) if e.status() == crate::error::status::AUTH_REQUIRED => {}
                Err(e) => return Err(e),
            }
        }
        // A device flow already under way: report it (and pick up its result).
        if let Some(row) = self.store().pending_device_flow(&m.id, self.now_ms())? {
            if let Some(done) = self.poll_device_once(&row).await? {
                return Ok(done);
            }
            if req.flow.as_deref() == Some("device_code") && !req.force {
                let p: Pending = self.open_pending(&row)?;
                return Ok(device_pending_json(&p, row.expires_at));
            }
        }
        match req.flow.as_deref().unwrap_or("code") {
            "code" => {
                self.start_code_flow(&m, user, req.redirect_uri.as_deref(), req.prompt.as_deref())
                    .await
            }
            "device_code" => self.start_device_flow(&m, user).await,
            other => Err(Error::invalid_field(
                "flow",
                format!("unknown flow '{other}': use 'code' or 'device_code'"),
            )),
        }
    }

    fn seal_pending(&self, h: &str, p: &Pending) -> Result<Vec<u8>> {
        self.vault().seal(&state_aad(h), &serde_json::to_vec(p)?)
    }

    /// A pending sign-in row: sealed details, bound to mailbox, user and flow.
    fn pending_row(
        &self,
        state_hash: String,
        m: &MailboxRecord,
        user: &str,
        flow: &str,
        pending: &Pending,
        ttl_ms: i64,
    ) -> Result<AuthStateRow> {
        let now = self.now_ms();
        Ok(AuthStateRow {
            sealed: self.seal_pending(&state_hash, pending)?,
            state_hash,
            mailbox_id: m.id.clone(),
            user: user.to_owned(),
            flow: flow.to_owned(),
            created_at: now,
            expires_at: now + ttl_ms,
            used_at: None,
        })
    }

    fn open_pending(&self, row: &AuthStateRow) -> Result<Pending> {
        let plain = self
            .vault()
            .open(&state_aad(&row.state_hash), &row.sealed)?;
        serde_json::from_slice(&plain)
            .map_err(|e| Error::store(format!("pending sign-in unreadable: {e}")))
    }

    async fn start_code_flow(
        &self,
        m: &MailboxRecord,
        user: &str,
        redirect: Option<&str>,
        prompt: Option<&str>,
    ) -> Result<Value> {
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
        Ok(json!({
            "status": "authorization_required",
            "flow": "code",
            "authorize_url": url.to_string(),
            "state": state.secret(),
            "expires_at": crate::clock::rfc3339(now + STATE_TTL_MS),
        }))
    }

    async fn start_device_flow(&self, m: &MailboxRecord, user: &str) -> Result<Value> {
        let app = self.app_registration()?;
        let tenant = self.tenant_for(m).await?;
        let scope = self.scopes_for(m);
        let entra = self.entra()?;
        let dc = entra
            .device_code(
                &tenant,
                app.client_id.as_deref().unwrap_or_default(),
                &scope,
            )
            .await?;
        let h = hash(&dc.device_code);
        let pending = Pending {
            tenant,
            scope,
            device_code: Some(dc.device_code.clone()),
            user_code: Some(dc.user_code.clone()),
            verification_uri: Some(dc.verification_uri.clone()),
            interval: dc.interval.max(1),
            message: dc.message.clone(),
            ..Default::default()
        };
        let row = self.pending_row(h, m, user, "device", &pending, dc.expires_in * 1000)?;
        self.store().insert_auth_state(&row)?;
        self.audit(
            Some(&m.id),
            Some(user),
            "sign_in_started",
            "ok",
            Some("device_code".into()),
        );
        let expires_at = row.expires_at;
        self.spawn_device_poller(row, pending.interval);
        Ok(device_pending_json(&pending, expires_at))
    }

    /// Polls the device flow in the background until it ends; reports through events.
    fn spawn_device_poller(&self, row: AuthStateRow, interval_s: i64) {
        let weak = self.downgrade_client();
        crate::core::supervisor::spawn(self, "device_code", move || {
            Client::device_poll_loop(weak.clone(), row.clone(), interval_s)
        });
    }

    async fn device_poll_loop(weak: super::WeakClient, row: AuthStateRow, interval_s: i64) {
        {
            let mut interval = Duration::from_secs(interval_s.max(1) as u64);
            loop {
                tokio::time::sleep(interval).await;
                let Some(client) = weak.upgrade() else {
                    return;
                };
                client.jobs().checkpoint("device_code");
                match client.poll_device_once(&row).await {
                    Ok(Some(_)) => return,
                    Ok(None) => {}
                    Err(e) if e.kind() == "slow_down" => interval += Duration::from_secs(5),
                    Err(e) => {
                        tracing::warn!("device flow poll failed: {e}");
                        if e.status() != crate::error::status::NETWORK {
                            return;
                        }
                    }
                }
                if client.now_ms() > row.expires_at + 5_000 {
                    let _ = client.finish_device(
                        &row,
                        Err(Error::AuthRequired(Fault::new(
                            "expired_token",
                            "the device code expired before the sign-in was completed",
                        ))),
                    );
                    return;
                }
            }
        }
    }

    /// One poll of a device flow: `Some(result)` when it ended with success, `None` while
    /// pending. Failures end the flow (auth_failed event) and are returned as errors.
    async fn poll_device_once(&self, row: &AuthStateRow) -> Result<Option<Value>> {
        let p = self.open_pending(row)?;
        let app = self.app_registration()?;
        let entra = self.entra()?;
        let device_code = p.device_code.clone().unwrap_or_default();
        let client_id = app.client_id.clone().unwrap_or_default();
        let mut form = vec![
            ("client_id", client_id.as_str()),
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.as_str()),
        ];
        if let Some(s) = app.client_secret.as_deref() {
            form.push(("client_secret", s));
        }
        match entra.token(&p.tenant, &form).await? {
            TokenOutcome::Ok(t) => {
                // Claim the flow first: only one process stores the tokens and reports.
                if !self.claim_device(row)? {
                    let m = self.find_mailbox(&row.mailbox_id)?;
                    return Ok(Some(
                        json!({ "status": "authenticated", "account": m.account }),
                    ));
                }
                let m = self.find_mailbox(&row.mailbox_id)?;
                let result = self
                    .accept_tokens(&m, &row.user, t, &p.tenant, &p.scope)
                    .await;
                self.report_device(row, result.clone())?;
                result.map(Some)
            }
            TokenOutcome::Refused(e) if e.error == "authorization_pending" => Ok(None),
            TokenOutcome::Refused(e) if e.error == "slow_down" => Err(Error::Remote(Fault::new(
                "slow_down",
                "Microsoft asked to poll more slowly",
            ))),
            TokenOutcome::Refused(e) => {
                let err = match e.error.as_str() {
                    "authorization_declined" | "access_denied" => Error::AuthRequired(Fault::new(
                        "access_denied",
                        "the user declined the sign-in on the device-code page",
                    )),
                    "expired_token" => Error::AuthRequired(Fault::new(
                        "expired_token",
                        "the device code expired before the sign-in was completed",
                    )),
                    _ => refusal_error(&e),
                };
                self.finish_device(row, Err(err.clone()))?;
                Err(err)
            }
        }
    }

    /// Ends a device flow once (across processes) and publishes its event.
    fn finish_device(&self, row: &AuthStateRow, result: Result<Value>) -> Result<bool> {
        if !self.claim_device(row)? {
            return Ok(false);
        }
        self.report_device(row, result)?;
        Ok(true)
    }

    /// Marks a device flow ended; false when another process (or call) ended it first.
    fn claim_device(&self, row: &AuthStateRow) -> Result<bool> {
        Ok(matches!(
            self.store()
                .take_auth_state(&row.state_hash, self.now_ms())?,
            TakeState::Taken(_) | TakeState::Expired(_)
        ))
    }

    fn report_device(&self, row: &AuthStateRow, result: Result<Value>) -> Result<()> {
        crate::telemetry::log::sign_in(self, true, Some(&row.mailbox_id), &result, None);
        match result {
            Ok(v) => {
                self.publish(
                    "auth_completed",
                    Some(&row.mailbox_id),
                    Some(format!("auth_completed:{}", row.state_hash)),
                    json!({ "flow": "device_code", "user": row.user, "account": v.get("account") }),
                )?;
            }
            Err(e) => {
                self.audit(
                    Some(&row.mailbox_id),
                    Some(&row.user),
                    "sign_in",
                    "failed",
                    Some(e.kind().to_owned()),
                );
                self.publish(
                    "auth_failed",
                    Some(&row.mailbox_id),
                    Some(format!("auth_failed:{}", row.state_hash)),
                    json!({ "flow": "device_code", "user": row.user, "error": e.kind(), "message": e.message() }),
                )?;
            }
        }
        Ok(())
    }

    async fn complete_sign_in(&self, req: Authenticate) -> Result<Value> {
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
            next["admin_consent"] = json!("granted");
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
        let client_id = app.client_id.clone().unwrap_or_default();
        let redirect = p.redirect_uri.clone().unwrap_or_default();
        let verifier = p.verifier.clone().unwrap_or_default();
        let mut form = vec![
            ("client_id", client_id.as_str()),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier.as_str()),
            ("scope", p.scope.as_str()),
        ];
        if let Some(s) = app.client_secret.as_deref() {
            form.push(("client_secret", s));
        }
        match entra.token(&p.tenant, &form).await? {
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

    /// `consent_required` with a fresh admin-consent URL (its state completes like a sign-in).
    fn consent_error(
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

    /// Checks the account behind fresh tokens against the mailbox, then stores them.
    async fn accept_tokens(
        &self,
        m: &MailboxRecord,
        user: &str,
        t: TokenResponse,
        tenant: &str,
        scope: &str,
    ) -> Result<Value> {
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
                account["tenant_id"]
                    .as_str()
                    .map(|x| {
                        if x == CONSUMERS_TENANT_ID {
                            "consumers"
                        } else {
                            x
                        }
                    })
                    .unwrap_or(tenant)
                    .to_owned()
            } else {
                tenant.to_owned()
            },
        };
        self.save_token_set(&m.id, &set, None, true)?;
        let mut rec = self.find_mailbox(&m.id)?;
        rec.auth_state = "authenticated".into();
        rec.account = Some(account.clone());
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
            account["address"].as_str().map(str::to_owned),
        );
        Ok(json!({ "status": "authenticated", "mailbox": m.id, "account": account }))
    }

    /// The signed-in account must own the address, have it as an alias, or have access to it
    /// as a shared mailbox. Anything else: `account_mismatch`, and no token is kept.
    async fn verify_account(&self, m: &MailboxRecord, t: &TokenResponse) -> Result<Value> {
        // Through the Graph client: retries (429/503/504, Retry-After), the mailbox's limiter.
        let graph = self.graph()?;
        let limiter = graph.limiter(&m.id);
        let token = SignInToken(t.access_token.clone());
        let me: Value = graph
            .call(
                &limiter,
                &token,
                "",
                Request::get("//me?$select=id,displayName,mail,userPrincipalName,proxyAddresses"),
            )
            .await?
            .json()?;
        let lower = |v: &Value| v.as_str().map(|s| s.to_lowercase());
        let mut addresses: Vec<String> = Vec::new();
        for k in ["mail", "userPrincipalName"] {
            if let Some(a) = lower(&me[k]) {
                addresses.push(a);
            }
        }
        if let Some(list) = me["proxyAddresses"].as_array() {
            for p in list.iter().filter_map(|v| v.as_str()) {
                let a = p.split_once(':').map(|x| x.1).unwrap_or(p).to_lowercase();
                addresses.push(a);
            }
        }
        let primary = lower(&me["mail"])
            .or_else(|| lower(&me["userPrincipalName"]))
            .unwrap_or_default();
        let claims = t
            .id_token
            .as_deref()
            .and_then(jwt_claims)
            .unwrap_or(Value::Null);
        let tenant_id = claims["tid"].as_str().unwrap_or("").to_owned();
        let owns = addresses.contains(&m.address);
        let ok = match m.kind.as_str() {
            "shared" if !owns => {
                // The access probe: only "no access" (403 / 404) is a mismatch; throttling,
                // outages and network failures are reported as such, after retries.
                let probe = Request::get(format!(
                    "/{}/mailFolders/inbox?$select=id",
                    crate::graph::user_path(&m.address)
                ));
                match graph.call(&limiter, &token, "", probe).await {
                    Ok(_) => true,
                    Err(Error::NotFound(_) | Error::Forbidden(_)) => false,
                    Err(e)
                        if matches!(
                            e.fault().details.get("http_status").and_then(Value::as_u64),
                            Some(403 | 404)
                        ) =>
                    {
                        false
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => owns,
        };
        if !ok {
            return Err(Error::forbidden(
                "account_mismatch",
                format!(
                    "signed in as '{primary}', but mailbox '{}' {}",
                    m.address,
                    if m.kind == "shared" {
                        "is not a shared mailbox this account may use"
                    } else {
                        "is neither this account's address nor one of its aliases"
                    }
                ),
            )
            .with_hint(format!(
                "sign in with the Microsoft account of '{}' (or one that has access to it)",
                m.address
            ))
            .with_detail("signed_in_as", primary)
            .with_detail("mailbox_address", m.address.as_str()));
        }
        addresses.sort();
        addresses.dedup();
        Ok(json!({
            "id": me["id"],
            "display_name": me["displayName"],
            "address": primary,
            // Every address of the account (mail, UPN, proxyAddresses): an alias record of
            // one of them uses this sign-in.
            "addresses": addresses,
            "tenant_id": tenant_id,
            "personal": tenant_id == CONSUMERS_TENANT_ID,
            "signed_in_at": crate::clock::rfc3339(self.now_ms()),
        }))
    }

    /// `o365_sign_out`: forgets the mailbox's tokens.
    pub async fn sign_out(&self, req: SignOut) -> Result<Value> {
        let mut m = self.mailbox_for_user(&req.mailbox, &req.user, "sign_out")?;
        let removed = self.store().delete_token(&m.id)?;
        self.token_cache().forget(&m.id);
        m.auth_state = "not_authenticated".into();
        m.account = None;
        m.updated_at = self.now_ms();
        self.store().update_mailbox(&m)?;
        self.audit(Some(&m.id), Some(&req.user), "sign_out", "ok", None);
        Ok(json!({ "status": "not_authenticated", "tokens_removed": removed }))
    }

    /// `o365_audit_log`: who signed in, out, or was refused, newest first.
    pub async fn audit_log(&self, req: AuditLog) -> Result<Value> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "audit_log")?;
        let entries = self
            .store()
            .list_audit(&m.id, req.limit.unwrap_or(100).min(10_000))?;
        let list: Vec<Value> = entries
            .into_iter()
            .map(|e| {
                json!({
                    "at": crate::clock::rfc3339(e.at),
                    "user": e.user,
                    "action": e.action,
                    "outcome": e.outcome,
                    "detail": e.detail,
                })
            })
            .collect();
        Ok(json!({ "entries": list }))
    }
}

fn device_pending_json(p: &Pending, expires_at: i64) -> Value {
    json!({
        "status": "device_code_pending",
        "flow": "device_code",
        "user_code": p.user_code,
        "verification_uri": p.verification_uri,
        "message": p.message,
        "interval": p.interval,
        "expires_at": crate::clock::rfc3339(expires_at),
    })
}

/// The fresh token of a sign-in, for the account checks before it is stored.
struct SignInToken(String);

#[async_trait::async_trait]
impl crate::graph::TokenSource for SignInToken {
    async fn access_token(&self, rejected: Option<&str>) -> Result<String> {
        if rejected.is_some() {
            return Err(Error::AuthRequired(Fault::new(
                "token_rejected",
                "Microsoft Graph refused the token it just issued",
            ))
            .with_hint("sign in again"));
        }
        Ok(self.0.clone())
    }
}
