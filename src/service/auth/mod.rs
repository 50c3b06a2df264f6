//! Sign-in for imported mailboxes (seed points 4, 6, 7), one job per file: the
//! authorization-code flow with PKCE ([`code_flow`]), the device-code flow and its supervised
//! poller ([`device_flow`]), completion of a browser sign-in and storing the tokens
//! ([`completion`]), admin consent ([`consent`]), the account checks ([`account`]), sign-out
//! ([`sign_out`]) and the audit list ([`audit`]). Every grant goes through
//! [`crate::auth::entra`] (the `oauth2` crate).

mod account;
mod audit;
mod code_flow;
mod completion;
mod consent;
mod device_flow;
mod sign_out;
mod types;

pub use types::{
    Account, AuditLog, AuditLogEntry, AuditLogResponse, Authenticate, AuthenticateResponse,
    Authenticated, AuthorizationRequired, DeviceCodePending, DeviceSignInCompleted,
    DeviceSignInFailed, SignOut, SignOutResponse,
};

use super::Client;
use crate::auth::entra::CONSUMERS_TENANT_ID;
use crate::error::{Error, Result};
use crate::store::{AuthStateRow, MailboxRecord};
use device_flow::device_pending;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    hex::encode(d)
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
    pub async fn authenticate(&self, req: Authenticate) -> Result<AuthenticateResponse> {
        let complete = req.callback_url.is_some() || req.code.is_some() || req.state.is_some();
        let mailbox = req
            .mailbox
            .as_deref()
            .and_then(|k| self.find_mailbox(k).ok());
        let t = std::time::Instant::now();
        let r = self.authenticate_step(req).await;
        self.log_sign_in(
            complete,
            mailbox.as_ref().map(|m| m.id.as_str()),
            &r,
            Some(t.elapsed()),
        );
        r
    }

    async fn authenticate_step(&self, req: Authenticate) -> Result<AuthenticateResponse> {
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
                    return Ok(AuthenticateResponse::Authenticated(Authenticated {
                        mailbox: None,
                        account: Account::of(owner.account.as_ref()),
                        signed_in_via: Some(owner.id),
                    }));
                }
            }
        }
        // A usable token: nothing to do.
        if !req.force && req.prompt.is_none() && m.auth_state == "authenticated" {
            match self.access_token(&m.id, None).await {
                Ok(_) => {
                    let m = self.find_mailbox(&m.id)?;
                    return Ok(AuthenticateResponse::authenticated(Account::of(
                        m.account.as_ref(),
                    )));
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
                return Ok(device_pending(&p, row.expires_at));
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

    /// Logs and counts one sign-in step.
    fn log_sign_in(
        &self,
        complete: bool,
        mailbox: Option<&str>,
        r: &Result<AuthenticateResponse>,
        took: Option<std::time::Duration>,
    ) {
        let r = match r {
            Ok(v) => serde_json::to_value(v).map_err(Error::from),
            Err(e) => Err(e.clone()),
        };
        crate::telemetry::log::sign_in(self, complete, mailbox, &r, took);
    }
}
