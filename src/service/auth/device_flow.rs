//! The device-code flow: the device authorization, the poller (supervised, driven by the
//! library's clock), one poll, and the end of a flow reported once (events, audit).

use super::{
    hash, Account, AuthenticateResponse, DeviceCodePending, DeviceSignInCompleted,
    DeviceSignInFailed, Pending,
};
use crate::auth::entra::{device_refusal, DeviceCode, DevicePoll, TokenOutcome};
use crate::error::{Error, Fault, Result};
use crate::service::Client;
use crate::store::{AuthStateRow, MailboxRecord, TakeState};
use std::time::Duration;

impl Client {
    /// Starts a device-code sign-in and its background poller.
    pub(super) async fn start_device_flow(
        &self,
        m: &MailboxRecord,
        user: &str,
    ) -> Result<AuthenticateResponse> {
        let app = self.app_registration()?;
        let tenant = self.tenant_for(m).await?;
        let scope = self.scopes_for(m);
        let entra = self.entra()?;
        let dc = entra.device_code(&tenant, app, &scope).await?;
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
        Ok(device_pending(&pending, expires_at))
    }

    /// Polls the device flow in the background until it ends; reports through events.
    fn spawn_device_poller(&self, row: AuthStateRow, interval_s: i64) {
        let weak = self.downgrade_client();
        crate::core::supervisor::spawn(self, "device_code", move || {
            Client::device_poll_loop(weak.clone(), row.clone(), interval_s)
        });
    }

    async fn device_poll_loop(
        weak: crate::service::WeakClient,
        row: AuthStateRow,
        interval_s: i64,
    ) {
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
    pub(super) async fn poll_device_once(
        &self,
        row: &AuthStateRow,
    ) -> Result<Option<AuthenticateResponse>> {
        let p = self.open_pending(row)?;
        let app = self.app_registration()?;
        let entra = self.entra()?;
        let device = DeviceCode {
            device_code: p.device_code.clone().unwrap_or_default(),
            user_code: p.user_code.clone().unwrap_or_default(),
            verification_uri: p.verification_uri.clone().unwrap_or_default(),
            expires_in: ((row.expires_at - self.now_ms()) / 1000).max(0),
            interval: p.interval,
            message: p.message.clone(),
        };
        match entra.poll_device(&p.tenant, app, &device).await? {
            TokenOutcome::Ok(t) => {
                // Claim the flow first: only one process stores the tokens and reports.
                if !self.claim_device(row)? {
                    let m = self.find_mailbox(&row.mailbox_id)?;
                    return Ok(Some(AuthenticateResponse::authenticated(Account::of(
                        m.account.as_ref(),
                    ))));
                }
                let m = self.find_mailbox(&row.mailbox_id)?;
                let result = self
                    .accept_tokens(&m, &row.user, t, &p.tenant, &p.scope)
                    .await;
                self.report_device(row, result.clone())?;
                result.map(Some)
            }
            TokenOutcome::Refused(e) => {
                let err = match device_refusal(&e) {
                    DevicePoll::Pending => return Ok(None),
                    DevicePoll::SlowDown(err) => return Err(err),
                    DevicePoll::Ended(err) => err,
                };
                self.finish_device(row, Err(err.clone()))?;
                Err(err)
            }
        }
    }

    /// Ends a device flow once (across processes) and publishes its event.
    fn finish_device(
        &self,
        row: &AuthStateRow,
        result: Result<AuthenticateResponse>,
    ) -> Result<bool> {
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

    fn report_device(
        &self,
        row: &AuthStateRow,
        result: Result<AuthenticateResponse>,
    ) -> Result<()> {
        self.log_sign_in(true, Some(&row.mailbox_id), &result, None);
        match result {
            Ok(v) => {
                self.publish(
                    "auth_completed",
                    Some(&row.mailbox_id),
                    Some(format!("auth_completed:{}", row.state_hash)),
                    serde_json::to_value(DeviceSignInCompleted {
                        flow: "device_code".into(),
                        user: row.user.clone(),
                        account: v.account().cloned(),
                    })?,
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
                    serde_json::to_value(DeviceSignInFailed {
                        flow: "device_code".into(),
                        user: row.user.clone(),
                        error: e.kind().to_owned(),
                        message: e.message().to_owned(),
                    })?,
                )?;
            }
        }
        Ok(())
    }
}

/// The `device_code_pending` result of a device flow under way.
pub(super) fn device_pending(p: &Pending, expires_at: i64) -> AuthenticateResponse {
    AuthenticateResponse::DeviceCodePending(DeviceCodePending {
        flow: "device_code".into(),
        user_code: p.user_code.clone(),
        verification_uri: p.verification_uri.clone(),
        message: p.message.clone(),
        interval: p.interval,
        expires_at: crate::clock::rfc3339(expires_at),
    })
}
