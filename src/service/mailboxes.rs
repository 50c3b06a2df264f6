//! Import, list, read, change and remove mailbox records.
//!
//! Management calls are made by the host on behalf of an administrator. Their `user` is
//! optional; when given, it must be assigned to the mailbox like on every mailbox call.

use super::Client;
use crate::error::{Error, Result};
use crate::mailbox::{self, Kind, Settings, SettingsPatch};
use crate::store::MailboxRecord;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportMailbox {
    pub address: String,
    pub users: Vec<String>,
    #[serde(default)]
    pub main_user: Option<String>,
    #[serde(default)]
    pub kind: Option<Kind>,
    #[serde(default)]
    pub alias_of: Option<String>,
    #[serde(default)]
    pub settings: Option<SettingsPatch>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMailboxes {
    /// Only the mailboxes this CRM user is assigned to.
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetMailbox {
    pub mailbox: String,
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMailbox {
    pub mailbox: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub users: Option<Vec<String>>,
    #[serde(default)]
    pub main_user: Option<String>,
    #[serde(default)]
    pub settings: Option<SettingsPatch>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveMailbox {
    pub mailbox: String,
    #[serde(default)]
    pub user: Option<String>,
}

/// A mailbox record as the host sees it (`o365_import_mailbox`, `o365_update_mailbox`,
/// `o365_list_mailboxes`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Mailbox {
    /// The Microsoft account signed in for the mailbox; `null` before the first sign-in.
    #[schemars(with = "Option<MailboxAccount>")]
    pub account: Option<Value>,
    pub address: String,
    /// The owner's address of an alias mailbox.
    pub alias_of: Option<String>,
    /// `not_authenticated`, `pending`, `authenticated` or `reauth_required`.
    pub auth_state: String,
    pub created_at: String,
    pub id: String,
    /// `user`, `alias` or `shared`.
    pub kind: String,
    pub main_user: String,
    pub settings: Settings,
    pub updated_at: String,
    pub users: Vec<String>,
}

/// The account a mailbox is signed in with (as recorded at the sign-in).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MailboxAccount {
    /// Every address of the account (mail, UPN, proxyAddresses); absent for sign-ins
    /// recorded by older versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<String>>,
    pub address: String,
    pub display_name: Option<String>,
    pub id: Option<String>,
    pub personal: bool,
    pub signed_in_at: String,
    pub tenant_id: Option<String>,
}

impl From<&MailboxRecord> for Mailbox {
    fn from(m: &MailboxRecord) -> Mailbox {
        Mailbox {
            account: m.account.clone(),
            address: m.address.clone(),
            alias_of: m.alias_of.clone(),
            auth_state: m.auth_state.clone(),
            created_at: crate::clock::rfc3339(m.created_at),
            id: m.id.clone(),
            kind: m.kind.clone(),
            main_user: m.main_user.clone(),
            settings: Settings::from_record(m),
            updated_at: crate::clock::rfc3339(m.updated_at),
            users: m.users.clone(),
        }
    }
}

/// `o365_list_mailboxes`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MailboxList {
    pub mailboxes: Vec<Mailbox>,
}

/// `o365_get_mailbox`: the record with its health.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, transform = super::contract::strict)]
pub struct MailboxDetail {
    #[serde(flatten)]
    pub mailbox: Mailbox,
    pub health: super::mail_view::MailboxHealth,
    /// An alias using its owner's sign-in: the owner's mailbox id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_in_via: Option<String>,
}

/// `o365_remove_mailbox`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MailboxRemoved {
    pub address: String,
    pub id: String,
    pub removed: bool,
}

impl Client {
    fn managed_mailbox(
        &self,
        key: &str,
        user: Option<&str>,
        action: &str,
    ) -> Result<MailboxRecord> {
        match user {
            Some(u) => self.mailbox_for_user(key, u, action),
            None => self.find_mailbox(key),
        }
    }

    /// Registers a mailbox by its full address and assigns CRM users (seed point 3).
    pub async fn import_mailbox(&self, req: ImportMailbox) -> Result<Mailbox> {
        let address = mailbox::normalize_address("address", &req.address)?;
        let main_user = mailbox::check_users(&req.users, req.main_user.as_deref())?;
        let kind = req.kind.unwrap_or(Kind::User);
        let alias_of = match (kind, &req.alias_of) {
            (Kind::Alias, Some(a)) => {
                let a = mailbox::normalize_address("alias_of", a)?;
                if a == address {
                    return Err(Error::invalid_field(
                        "alias_of",
                        "an alias must belong to another address than its own",
                    ));
                }
                Some(a)
            }
            (Kind::Alias, None) => {
                return Err(Error::invalid_field(
                    "alias_of",
                    "an alias mailbox needs 'alias_of': the address of the mailbox the alias belongs to",
                ))
            }
            (_, Some(_)) => {
                return Err(Error::invalid_field(
                    "alias_of",
                    "'alias_of' is only allowed with kind 'alias'",
                ))
            }
            (_, None) => None,
        };
        let mut settings = Settings::default();
        let now = self.now_ms();
        if let Some(p) = &req.settings {
            settings.apply(p, now)?;
        }
        let m = MailboxRecord {
            id: format!("mbx_{}", uuid::Uuid::new_v4().simple()),
            address,
            kind: kind.as_str().to_owned(),
            alias_of,
            users: req.users,
            main_user,
            auth_state: "not_authenticated".into(),
            settings: serde_json::to_value(settings)?,
            account: None,
            created_at: now,
            updated_at: now,
        };
        self.store().insert_mailbox(&m)?;
        self.audit(
            Some(&m.id),
            None,
            "import_mailbox",
            "ok",
            Some(m.address.clone()),
        );
        Ok(Mailbox::from(&m))
    }

    pub async fn list_mailboxes(&self, req: ListMailboxes) -> Result<MailboxList> {
        if let Some(u) = &req.user {
            mailbox::check_user("user", u)?;
        }
        let list = self.store().list_mailboxes(req.user.as_deref())?;
        Ok(MailboxList {
            mailboxes: list.iter().map(Mailbox::from).collect(),
        })
    }

    pub async fn get_mailbox(&self, req: GetMailbox) -> Result<MailboxDetail> {
        let m = self.managed_mailbox(&req.mailbox, req.user.as_deref(), "get_mailbox")?;
        Ok(MailboxDetail {
            mailbox: Mailbox::from(&m),
            // An alias using its owner's sign-in (no sign-in of its own needed).
            signed_in_via: self.signed_in_owner(&m)?.map(|owner| owner.id),
            health: self.mailbox_health(&m.id)?,
        })
    }

    pub async fn update_mailbox(&self, req: UpdateMailbox) -> Result<Mailbox> {
        let mut m = self.managed_mailbox(&req.mailbox, req.user.as_deref(), "update_mailbox")?;
        if req.users.is_none() && req.main_user.is_none() && req.settings.is_none() {
            return Err(Error::invalid(
                "nothing_to_update",
                "give at least one of 'users', 'main_user', 'settings'",
            ));
        }
        let users = req.users.unwrap_or_else(|| m.users.clone());
        let main = match (&req.main_user, users.contains(&m.main_user)) {
            (Some(mu), _) => Some(mu.as_str()),
            (None, true) => Some(m.main_user.as_str()),
            (None, false) => {
                return Err(Error::invalid_field(
                    "main_user",
                    format!(
                        "the new user list drops the main user '{}': name a new main user",
                        m.main_user
                    ),
                ))
            }
        };
        m.main_user = mailbox::check_users(&users, main)?;
        m.users = users;
        if let Some(p) = &req.settings {
            let mut s = Settings::from_record(&m);
            s.apply(p, self.now_ms())?;
            m.settings = serde_json::to_value(s)?;
        }
        m.updated_at = self.now_ms();
        self.store().update_mailbox(&m)?;
        self.audit(
            Some(&m.id),
            req.user.as_deref(),
            "update_mailbox",
            "ok",
            None,
        );
        Ok(Mailbox::from(&m))
    }

    /// Removes the mailbox with its tokens, cache and pending sign-ins.
    pub async fn remove_mailbox(&self, req: RemoveMailbox) -> Result<MailboxRemoved> {
        let m = self.managed_mailbox(&req.mailbox, req.user.as_deref(), "remove_mailbox")?;
        self.store().delete_mailbox(&m.id)?;
        self.audit(
            Some(&m.id),
            req.user.as_deref(),
            "remove_mailbox",
            "ok",
            Some(m.address.clone()),
        );
        Ok(MailboxRemoved {
            address: m.address,
            id: m.id,
            removed: true,
        })
    }
}
