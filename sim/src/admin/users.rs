//! Users (members and shared mailboxes) and mailbox permissions: `/_sim/users...`.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::extract::{Body, NoFields};
use super::reply::{created, ok, AdminErr, Created, Reply};
use crate::server::AppState;
use crate::state::{new_guid, Grant, User, UserKind};

/// `POST /_sim/users`: the tenant is the UPN's domain.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    pub user_principal_name: String,
    /// None: cannot sign in. Ignored for a shared mailbox.
    pub password: Option<String>,
    /// The UPN's local part when absent.
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    /// The primary address; the UPN when absent.
    pub mail: Option<String>,
    pub aliases: Option<Vec<String>>,
    /// The tenant's when absent (folder names follow it).
    pub locale: Option<String>,
    /// A shared mailbox (no password, no sign-in).
    pub shared: Option<bool>,
    pub admin: Option<bool>,
    /// A new GUID when absent.
    pub id: Option<String>,
}

/// `PATCH /_sim/users/{u}`: the fields given are changed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserPatch {
    /// Also revokes the user's refresh tokens and browser sessions.
    pub password: Option<String>,
    pub aliases: Option<Vec<String>>,
    pub locale: Option<String>,
    pub display_name: Option<String>,
    pub admin: Option<bool>,
}

/// `POST /_sim/users/{u}/grants`: lets `user` use the mailbox `{u}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGrant {
    /// The grantee.
    pub user: String,
    /// Default true.
    pub full_access: Option<bool>,
    /// Default false.
    pub send_as: Option<bool>,
    /// Default false.
    pub send_on_behalf: Option<bool>,
}

/// A user as the admin API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub tenant_id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub mail: String,
    pub aliases: Vec<String>,
    pub proxy_addresses: Vec<String>,
    pub locale: String,
    /// `member` or `shared`.
    pub kind: UserKind,
    pub is_admin: bool,
    pub can_sign_in: bool,
    pub grants: Vec<Grant>,
    pub consents: BTreeMap<String, BTreeSet<String>>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        UserView {
            id: u.id.clone(),
            tenant_id: u.tenant_id.clone(),
            user_principal_name: u.upn.clone(),
            display_name: u.display_name.clone(),
            mail: u.mail.clone(),
            aliases: u.aliases.clone(),
            proxy_addresses: u.proxy_addresses(),
            locale: u.locale.clone(),
            kind: u.kind.clone(),
            is_admin: u.is_admin,
            can_sign_in: u.password.is_some(),
            grants: u.grants.clone(),
            consents: u.consents.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct UserList {
    pub users: Vec<UserView>,
}

fn no_mailbox() -> AdminErr {
    AdminErr::not_found("no such mailbox")
}

pub async fn list(State(sim): State<AppState>) -> Reply<UserList> {
    let w = sim.w();
    ok(UserList {
        users: w.users.iter().map(UserView::from).collect(),
    })
}

pub async fn get(State(sim): State<AppState>, Path(u): Path<String>) -> Reply<UserView> {
    let w = sim.w();
    let u = w
        .user(&u)
        .ok_or_else(|| AdminErr::not_found("no such user"))?;
    ok(UserView::from(u))
}

pub async fn create(State(sim): State<AppState>, Body(r): Body<NewUser>) -> Created<UserView> {
    let upn = r.user_principal_name;
    let domain = upn
        .split_once('@')
        .map(|x| x.1.to_string())
        .ok_or_else(|| AdminErr::bad("userPrincipalName needs a domain"))?;
    let mut w = sim.w();
    let t = w
        .tenant(&domain)
        .cloned()
        .ok_or_else(|| AdminErr::bad(format!("no tenant has the domain {domain}")))?;
    let shared = r.shared.unwrap_or(false);
    let local = upn.split('@').next().unwrap_or("").to_string();
    let u = User {
        id: r.id.unwrap_or_else(new_guid),
        tenant_id: t.id.clone(),
        upn: upn.clone(),
        display_name: r.display_name.unwrap_or(local),
        given_name: r.given_name,
        surname: r.surname,
        job_title: r.job_title,
        password: if shared { None } else { r.password },
        mail: r.mail.unwrap_or(upn),
        aliases: r.aliases.unwrap_or_default(),
        locale: r.locale.unwrap_or(t.locale.clone()),
        kind: if shared {
            UserKind::Shared
        } else {
            UserKind::Member
        },
        is_admin: r.admin.unwrap_or(false),
        grants: vec![],
        consents: Default::default(),
        revoked_before: 0,
        access_not_before: 0,
        rt_revoked_before: 0,
    };
    let view = UserView::from(&u);
    w.add_user(u).map_err(AdminErr::conflict)?;
    created(view)
}

pub async fn patch(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Body(r): Body<UserPatch>,
) -> Reply<UserView> {
    let now_ms = sim.clock.now_ms();
    let mut w = sim.w();
    for a in r.aliases.iter().flatten() {
        if let Some(o) = w.user(a) {
            if !o.has_address(&u) && o.id != u {
                return Err(AdminErr::conflict(format!("address {a} is in use")));
            }
        }
    }
    let user = w
        .user_mut(&u)
        .ok_or_else(|| AdminErr::not_found("no such user"))?;
    let mut signed_out = None;
    if let Some(p) = r.password {
        // A password change revokes the user's refresh tokens (AADSTS50173) and browser
        // sessions (the account picker no longer offers the account).
        user.password = Some(p);
        user.rt_revoked_before = now_ms;
        signed_out = Some(user.id.clone());
    }
    if let Some(a) = r.aliases {
        user.aliases = a;
    }
    if let Some(l) = r.locale {
        user.locale = l;
    }
    if let Some(n) = r.display_name {
        user.display_name = n;
    }
    if let Some(b) = r.admin {
        user.is_admin = b;
    }
    let view = UserView::from(&*user);
    if let Some(id) = signed_out {
        w.sessions.retain(|_, (uid, _)| *uid != id);
    }
    ok(view)
}

pub async fn add_grant(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Body(r): Body<NewGrant>,
) -> Reply<UserView> {
    let mut w = sim.w();
    let gid = w
        .user(&r.user)
        .map(|g| g.id.clone())
        .ok_or_else(|| AdminErr::bad("no such grantee"))?;
    let user = w.user_mut(&u).ok_or_else(no_mailbox)?;
    user.grants.retain(|g| g.user_id != gid);
    user.grants.push(Grant {
        user_id: gid,
        full_access: r.full_access.unwrap_or(true),
        send_as: r.send_as.unwrap_or(false),
        send_on_behalf: r.send_on_behalf.unwrap_or(false),
    });
    ok(UserView::from(&*user))
}

pub async fn remove_grant(
    State(sim): State<AppState>,
    Path((u, g)): Path<(String, String)>,
    _: NoFields,
) -> Reply<UserView> {
    let mut w = sim.w();
    let gid = w
        .user(&g)
        .map(|x| x.id.clone())
        .ok_or_else(|| AdminErr::bad("no such grantee"))?;
    let user = w.user_mut(&u).ok_or_else(no_mailbox)?;
    user.grants.retain(|x| x.user_id != gid);
    ok(UserView::from(&*user))
}
