//! The token vault in use: one sealed token set per mailbox, shared by every assigned user
//! (seed point 6), refreshed ahead of expiry exactly once across threads and processes.
//!
//! - The set is sealed with AES-256-GCM, bound to `token:<mailbox id>`.
//! - Refresh: an in-process async lock per mailbox plus a lease in the store
//!   (`refresh:<mailbox id>`), and a compare-and-set on the row's generation. The rotated
//!   refresh token is written before the new access token is handed out. The lease names
//!   its holder's machine and process: a process killed while refreshing is taken over by
//!   the next caller on the same machine at once (no wait for the lease's expiry).
//! - `invalid_grant` on refresh marks the mailbox `reauth_required`, publishes one
//!   `reauth_required` event, and from then on calls fail fast with `auth_required`
//!   (no request reaches Microsoft until the mailbox is signed in again).

use super::entra::{refusal_error, TokenOutcome};
use crate::core::lease;
use crate::core::Core;
use crate::error::{Error, Fault, Result};
use crate::store::MailboxRecord;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// Refresh this long before the access token expires.
pub const REFRESH_AHEAD_MS: i64 = 5 * 60 * 1000;
/// How long one process may hold the refresh lease. A holder on this machine whose process
/// is gone (killed during a refresh) is taken over at once, as with the sync leases.
const LEASE_MS: i64 = 30_000;
/// How long a caller waits for another process's refresh.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(40);

/// What is sealed per mailbox.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Access-token expiry, ms since the epoch.
    pub expires_at: i64,
    pub scope: String,
    /// The authority segment the tokens came from (tenant id, `consumers`, ...).
    pub tenant: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print tokens.
        f.debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .field("tenant", &self.tenant)
            .finish()
    }
}

fn aad(mailbox_id: &str) -> String {
    format!("token:{mailbox_id}")
}

impl Core {
    /// Seals and stores a token set. `expected`: the generation read before (compare-and-set);
    /// `force` overwrites (a new sign-in).
    pub(crate) fn save_token_set(
        &self,
        mailbox_id: &str,
        set: &TokenSet,
        expected: Option<i64>,
        force: bool,
    ) -> Result<Option<i64>> {
        let plain = serde_json::to_vec(set)?;
        let sealed = self.vault().seal(&aad(mailbox_id), &plain)?;
        let g = self.store().put_token(
            mailbox_id,
            &sealed,
            set.expires_at,
            self.now_ms(),
            expected,
            force,
        )?;
        if let Some(g) = g {
            self.token_cache()
                .put(mailbox_id, g, &set.access_token, set.expires_at);
        }
        Ok(g)
    }

    /// The stored token set and its generation.
    pub(crate) fn load_token_set(&self, mailbox_id: &str) -> Result<Option<(TokenSet, i64)>> {
        let Some(row) = self.store().get_token(mailbox_id)? else {
            return Ok(None);
        };
        let plain = self.vault().open(&aad(mailbox_id), &row.sealed)?;
        let set: TokenSet = serde_json::from_slice(&plain)
            .map_err(|e| Error::store(format!("stored token set is unreadable: {e}")))?;
        Ok(Some((set, row.generation)))
    }

    /// A valid access token for the mailbox, refreshing ahead of expiry. `rejected` is a
    /// token Graph just refused (401): then a new one is fetched even if it looks valid.
    pub async fn access_token(&self, mailbox_id: &str, rejected: Option<&str>) -> Result<String> {
        let now = self.now_ms();
        // Fast path: the row's generation is unchanged and the cached token is fresh.
        if let Some(row) = self.store().get_token(mailbox_id)? {
            if let Some((t, exp)) = self.token_cache().get(mailbox_id, row.generation) {
                if exp - REFRESH_AHEAD_MS > now && Some(t.as_str()) != rejected {
                    return Ok(t);
                }
            }
        }
        let lock = self.token_cache().lock_for(mailbox_id);
        let _guard = lock.lock().await;
        let started = tokio::time::Instant::now();
        loop {
            let m = self.find_mailbox(mailbox_id)?;
            if m.auth_state == "reauth_required" {
                return Err(reauth_error(&m));
            }
            let Some((set, generation)) = self.load_token_set(mailbox_id)? else {
                return Err(Error::AuthRequired(Fault::new(
                    "not_authenticated",
                    format!("mailbox '{}' is not signed in with Microsoft", m.address),
                ))
                .with_hint("sign the mailbox in once with o365_authenticate")
                .with_detail("mailbox", m.id.as_str()));
            };
            let now = self.now_ms();
            if set.expires_at - REFRESH_AHEAD_MS > now
                && Some(set.access_token.as_str()) != rejected
            {
                self.token_cache()
                    .put(mailbox_id, generation, &set.access_token, set.expires_at);
                return Ok(set.access_token);
            }
            let lease = format!("refresh:{mailbox_id}");
            let owner = lease::owner(self, "refresh");
            if lease::acquire(self, &lease, &owner, LEASE_MS).await? {
                let t = std::time::Instant::now();
                let result = self.refresh_locked(&m, set, generation).await;
                lease::release(self, &lease, &owner).await;
                crate::telemetry::log::refresh(self, &m.id, &result, t.elapsed());
                match result {
                    Ok(Some(token)) => return Ok(token),
                    Ok(None) => continue, // someone else wrote first; read theirs
                    Err(e) => return Err(e),
                }
            }
            if started.elapsed() > WAIT_FOR_OTHERS {
                return Err(Error::timeout(
                    "another process is refreshing this mailbox's token and did not finish",
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Refreshes while holding the lease. `Ok(None)`: the row changed meanwhile.
    async fn refresh_locked(
        &self,
        m: &MailboxRecord,
        set: TokenSet,
        generation: i64,
    ) -> Result<Option<String>> {
        // Re-check under the lease: another process may have refreshed just before.
        match self.store().get_token(&m.id)? {
            Some(row) if row.generation == generation => {}
            _ => return Ok(None),
        }
        let Some(rt) = set.refresh_token.clone() else {
            return Err(self.mark_reauth(m, generation, "no refresh token was issued")?);
        };
        let app = self.app_registration()?;
        let entra = self.entra()?;
        match entra.refresh(&set.tenant, app, &rt, &set.scope).await? {
            TokenOutcome::Ok(t) => {
                let new = TokenSet {
                    expires_at: self.now_ms() + t.expires_in_secs() * 1000,
                    access_token: t.access_token,
                    // Rotation: keep the new refresh token; the old one only if none came.
                    refresh_token: t.refresh_token.or(set.refresh_token),
                    scope: set.scope,
                    tenant: set.tenant,
                };
                // Stored before the new access token is used by anyone.
                match self.save_token_set(&m.id, &new, Some(generation), false)? {
                    Some(_) => Ok(Some(new.access_token)),
                    None => Ok(None),
                }
            }
            TokenOutcome::Refused(e)
                if e.error == "invalid_grant" || e.error == "interaction_required" =>
            {
                Err(self.mark_reauth(m, generation, e.short_description())?)
            }
            TokenOutcome::Refused(e) => Err(refusal_error(&e)),
        }
    }

    /// Sets `reauth_required`, publishes the event once per token generation.
    fn mark_reauth(&self, m: &MailboxRecord, generation: i64, reason: &str) -> Result<Error> {
        let mut rec = self.find_mailbox(&m.id)?;
        if rec.auth_state != "reauth_required" {
            rec.auth_state = "reauth_required".into();
            rec.updated_at = self.now_ms();
            self.store().update_mailbox(&rec)?;
        }
        self.token_cache().forget(&m.id);
        self.publish(
            "reauth_required",
            Some(&m.id),
            Some(format!("reauth_required:{}:{generation}", m.id)),
            json!({
                "address": m.address,
                "main_user": m.main_user,
                "reason": reason,
            }),
        )?;
        self.audit(
            Some(&m.id),
            None,
            "token_refresh",
            "failed",
            Some(reason.to_owned()),
        );
        Ok(reauth_error(&rec))
    }

    /// Refreshes tokens not refreshed for `max_idle_ms`, so idle mailboxes never reach
    /// Microsoft's 90-day inactivity limit. Returns how many were refreshed.
    pub async fn refresh_idle_tokens(&self, max_idle_ms: i64) -> Result<usize> {
        let before = self.now_ms() - max_idle_ms;
        let mut n = 0;
        for id in self.store().idle_tokens(before)? {
            let Ok(m) = self.find_mailbox(&id) else {
                continue;
            };
            if m.auth_state != "authenticated" {
                continue;
            }
            // The same in-process lock as access_token: this client never refreshes twice.
            let lock = self.token_cache().lock_for(&id);
            let _guard = lock.lock().await;
            let Some((set, generation)) = self.load_token_set(&id)? else {
                continue;
            };
            let lease = format!("refresh:{id}");
            let owner = lease::owner(self, "refresh");
            if lease::acquire(self, &lease, &owner, LEASE_MS).await? {
                let r = self.refresh_locked(&m, set, generation).await;
                lease::release(self, &lease, &owner).await;
                if matches!(r, Ok(Some(_))) {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

fn reauth_error(m: &MailboxRecord) -> Error {
    Error::AuthRequired(Fault::new(
        "reauth_required",
        format!(
            "Microsoft no longer accepts the sign-in of mailbox '{}' (revoked, expired or password changed)",
            m.address
        ),
    ))
    .with_hint("an assigned user must sign the mailbox in again (o365_authenticate)")
    .with_detail("mailbox", m.id.as_str())
}

/// Tokens of one mailbox for the Graph client core.
pub struct MailboxTokens {
    pub core: Core,
    pub mailbox_id: String,
}

#[async_trait::async_trait]
impl crate::graph::TokenSource for MailboxTokens {
    async fn access_token(&self, rejected: Option<&str>) -> Result<String> {
        self.core.access_token(&self.mailbox_id, rejected).await
    }

    fn mailbox(&self) -> Option<&str> {
        Some(&self.mailbox_id)
    }
}
