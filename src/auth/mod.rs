//! Sign-in and tokens: OAuth flows against Entra ID, the token vault in use, the refresh
//! lease, and Graph access as a mailbox's signed-in account.

pub mod entra;
pub mod tokens;

use crate::core::throttle::StoreThrottleBook;
use crate::core::Core;
use crate::error::Result;
use crate::graph::MailboxGraph;
use crate::store::MailboxRecord;
use serde_json::Value;
use std::sync::Arc;

impl Core {
    /// The Entra ID sign-in endpoints, over the shared HTTP client.
    pub fn entra(&self) -> Result<entra::Entra<'_>> {
        Ok(entra::Entra {
            http: self.http()?,
            login: &self.config().endpoints.login,
            proxy: self.config().proxy.as_ref().and_then(|p| p.display_url()),
        })
    }

    /// Graph access for a mailbox, as its signed-in account.
    pub fn mailbox_graph(&self, m: &MailboxRecord) -> Result<MailboxGraph> {
        let graph = self.graph()?;
        let limiter = graph.limiter(&m.id);
        let root = if m.kind == "shared" {
            format!("/{}", crate::graph::user_path(&m.address))
        } else {
            "/me".to_owned()
        };
        // An alias without a sign-in of its own uses its signed-in owner's tokens.
        let tokens = Arc::new(tokens::MailboxTokens {
            core: self.clone(),
            mailbox_id: self.token_record(m)?.id,
        });
        let book = Arc::new(StoreThrottleBook { core: self.clone() });
        Ok(MailboxGraph::new(
            graph,
            limiter,
            root,
            tokens,
            m.id.clone(),
            book,
        ))
    }

    /// The end of the mailbox's throttling window, when Microsoft throttled it for longer
    /// than a call waits (learned by any process on the store).
    pub fn throttled_until(&self, m: &MailboxRecord) -> Result<Option<i64>> {
        Ok(self.mailbox_graph(m)?.throttled_until())
    }

    /// For an alias record without a sign-in of its own: the record of its owner's mailbox
    /// (`alias_of`) when that is signed in with an account that has the alias among its
    /// addresses (proxyAddresses). Its token set then serves the alias too.
    pub fn signed_in_owner(&self, m: &MailboxRecord) -> Result<Option<MailboxRecord>> {
        if m.kind != "alias" || m.auth_state == "authenticated" {
            return Ok(None);
        }
        let Some(owner_address) = m.alias_of.as_deref() else {
            return Ok(None);
        };
        let Some(owner) = self.store().find_mailbox(owner_address)? else {
            return Ok(None);
        };
        if owner.id == m.id || owner.kind == "alias" || owner.auth_state != "authenticated" {
            return Ok(None);
        }
        let has_alias = owner
            .account
            .as_ref()
            .and_then(|a| a.get("addresses"))
            .and_then(Value::as_array)
            .is_some_and(|list| list.iter().any(|a| a.as_str() == Some(m.address.as_str())));
        Ok(has_alias.then_some(owner))
    }

    /// The record whose token set serves `m`: its own, or its signed-in owner's.
    pub fn token_record(&self, m: &MailboxRecord) -> Result<MailboxRecord> {
        Ok(self.signed_in_owner(m)?.unwrap_or_else(|| m.clone()))
    }
}
