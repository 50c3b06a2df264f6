//! The world: everything the sim knows, with the lookups every handler needs.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::apps::App;
use super::directory::{Tenant, User};
use super::mailboxes::Mailbox;
use super::outbound::{OutboundMail, PendingSubmission};
use super::tokens::{CodeGrant, DeviceGrant, Flow, Lifetimes, RefreshGrant};
use super::uploads::UploadSession;

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub tenants: Vec<Tenant>,
    pub users: Vec<User>,
    pub mailboxes: HashMap<String, Mailbox>,
    pub codes: HashMap<String, CodeGrant>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub devices: HashMap<String, DeviceGrant>,
    pub flows: HashMap<String, Flow>,
    /// SSO session cookie value -> (user id, expiry).
    pub sessions: HashMap<String, (String, i64)>,
    pub revoked_utis: BTreeSet<String>,
    pub lifetimes: Lifetimes,
    pub outbound: Vec<OutboundMail>,
    pub uploads: HashMap<String, UploadSession>,
    /// The app registrations (client id -> app). An app that is not here does not exist:
    /// sign-in answers AADSTS700016.
    #[serde(default)]
    pub apps: HashMap<String, App>,
    /// Submitted messages waiting for "transport" (see `Mailbox::submission_delay_ms`).
    #[serde(default)]
    pub pending_submissions: Vec<PendingSubmission>,
}

impl World {
    pub fn reindex(&mut self) {
        for mb in self.mailboxes.values_mut() {
            mb.reindex();
        }
    }

    /// Finds a tenant by GUID or verified domain (case-insensitive).
    pub fn tenant(&self, r: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(r) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(r))
        })
    }

    pub fn tenant_mut(&mut self, r: &str) -> Option<&mut Tenant> {
        self.tenants.iter_mut().find(|t| {
            t.id.eq_ignore_ascii_case(r) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(r))
        })
    }

    /// Finds a user by object id, UPN, primary address or alias.
    pub fn user(&self, r: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(r) || u.has_address(r))
    }

    pub fn user_mut(&mut self, r: &str) -> Option<&mut User> {
        self.users
            .iter_mut()
            .find(|u| u.id.eq_ignore_ascii_case(r) || u.has_address(r))
    }

    pub fn user_by_id(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn add_tenant(&mut self, t: Tenant) -> Result<(), String> {
        for d in &t.domains {
            if self.tenant(d).is_some() {
                return Err(format!("domain {d} already belongs to a tenant"));
            }
        }
        if self.tenant(&t.id).is_some() {
            return Err(format!("tenant {} exists", t.id));
        }
        self.tenants.push(t);
        Ok(())
    }

    /// Adds a user and creates its mailbox (folder names in the user's locale).
    pub fn add_user(&mut self, u: User) -> Result<(), String> {
        if self.user(&u.upn).is_some() || self.user(&u.mail).is_some() {
            return Err(format!("user {} exists", u.upn));
        }
        for a in &u.aliases {
            if self.user(a).is_some() {
                return Err(format!("address {a} is in use"));
            }
        }
        let mb = Mailbox::new(&u.id, &u.locale);
        self.mailboxes.insert(u.id.clone(), mb);
        self.users.push(u);
        Ok(())
    }
}
