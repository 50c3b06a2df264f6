//! The account behind a sign-in: the Graph user (`/me`) must own the mailbox's address, have
//! it as an alias, or (shared mailboxes) have access to it; an alias record uses its owner's
//! sign-in.

use super::Account;
use crate::auth::entra::{jwt_claims, IdTokenClaims, TokenResponse, CONSUMERS_TENANT_ID};
use crate::error::{Error, Fault, Result};
use crate::graph::Request;
use crate::service::Client;
use crate::store::MailboxRecord;
use serde::Deserialize;
use serde_json::Value;

/// The Graph user the account checks read (`GET /me?$select=...`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    mail: Option<String>,
    #[serde(default)]
    user_principal_name: Option<String>,
    /// `SMTP:primary@x`, `smtp:alias@x`, ...
    #[serde(default)]
    proxy_addresses: Option<Vec<String>>,
}

impl GraphUser {
    /// Every address, lower case: mail, UPN, then the proxy addresses without their prefix.
    fn addresses(&self) -> Vec<String> {
        let own = [&self.mail, &self.user_principal_name]
            .into_iter()
            .flatten()
            .map(|a| a.to_lowercase());
        let proxies = self
            .proxy_addresses
            .iter()
            .flatten()
            .map(|p| p.split_once(':').map(|x| x.1).unwrap_or(p).to_lowercase());
        own.chain(proxies).collect()
    }

    /// Mail, else the user principal name, lower case.
    fn primary_address(&self) -> String {
        self.mail
            .as_ref()
            .or(self.user_principal_name.as_ref())
            .map(|a| a.to_lowercase())
            .unwrap_or_default()
    }
}

impl Client {
    /// The signed-in account must own the address, have it as an alias, or have access to it
    /// as a shared mailbox. Anything else: `account_mismatch`, and no token is kept.
    pub(super) async fn verify_account(
        &self,
        m: &MailboxRecord,
        t: &TokenResponse,
    ) -> Result<Account> {
        // Through the Graph client: retries (429/503/504, Retry-After), the mailbox's limiter.
        let graph = self.graph()?;
        let limiter = graph.limiter(&m.id);
        let token = SignInToken(t.access_token.clone());
        let me: GraphUser = graph
            .call(
                &limiter,
                &token,
                "",
                Request::get("//me?$select=id,displayName,mail,userPrincipalName,proxyAddresses"),
            )
            .await?
            .json()?;
        let mut addresses = me.addresses();
        let primary = me.primary_address();
        let tenant_id = t
            .id_token
            .as_deref()
            .and_then(jwt_claims::<IdTokenClaims>)
            .and_then(|c| c.tid)
            .unwrap_or_default();
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
        Ok(Account {
            id: me.id,
            display_name: me.display_name,
            address: primary,
            addresses,
            personal: tenant_id == CONSUMERS_TENANT_ID,
            tenant_id,
            signed_in_at: crate::clock::rfc3339(self.now_ms()),
        })
    }
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
