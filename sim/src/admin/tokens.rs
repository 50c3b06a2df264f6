//! What the identity platform issued: `POST /_sim/tokens/{revoke,expire,revoke-access}`,
//! `GET/PUT /_sim/token-lifetimes`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::extract::{patched, Body};
use super::owner_id;
use super::reply::{ok, AdminErr, Reply};
use crate::server::AppState;
use crate::state::{Lifetimes, User, World};

/// `POST /_sim/tokens/revoke`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revoke {
    /// The user whose tokens are revoked; all users when absent.
    pub user: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Revoked {
    /// Object ids of the users concerned.
    pub revoked: Vec<String>,
}

/// `POST /_sim/tokens/expire`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expire {
    /// All users when absent.
    pub user: Option<String>,
    /// Access tokens issued so far count as expired (default true).
    pub access: Option<bool>,
    /// Refresh tokens issued so far count as expired (default false).
    pub refresh: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Expired {
    pub expired: Vec<String>,
    pub access: bool,
    pub refresh: bool,
}

/// `POST /_sim/tokens/revoke-access`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeAccess {
    pub access_token: String,
}

#[derive(Debug, Serialize)]
pub struct RevokedToken {
    /// The token's `uti` claim.
    pub revoked: String,
}

/// Applies `f` to `user` (or every user); returns the object ids concerned.
fn for_users(
    w: &mut World,
    user: Option<String>,
    f: impl Fn(&mut User),
) -> Result<Vec<String>, AdminErr> {
    let ids: Vec<String> = match user {
        Some(u) => vec![owner_id(w, &u)?],
        None => w.users.iter().map(|u| u.id.clone()).collect(),
    };
    for u in w.users.iter_mut().filter(|u| ids.contains(&u.id)) {
        f(u);
    }
    Ok(ids)
}

pub async fn revoke(State(sim): State<AppState>, Body(r): Body<Revoke>) -> Reply<Revoked> {
    let now_ms = sim.clock.now_ms();
    let mut w = sim.w();
    let ids = for_users(&mut w, r.user, |u| u.revoked_before = now_ms)?;
    for g in w.refresh.values_mut().filter(|g| ids.contains(&g.user_id)) {
        g.revoked = true;
    }
    ok(Revoked { revoked: ids })
}

pub async fn expire(State(sim): State<AppState>, Body(r): Body<Expire>) -> Reply<Expired> {
    let now_ms = sim.clock.now_ms();
    let access = r.access.unwrap_or(true);
    let refresh = r.refresh.unwrap_or(false);
    let mut w = sim.w();
    let ids = for_users(&mut w, r.user, |u| {
        if access {
            u.access_not_before = now_ms;
        }
    })?;
    if refresh {
        for g in w.refresh.values_mut().filter(|g| ids.contains(&g.user_id)) {
            g.expired = true;
        }
    }
    ok(Expired {
        expired: ids,
        access,
        refresh,
    })
}

pub async fn revoke_access(
    State(sim): State<AppState>,
    Body(r): Body<RevokeAccess>,
) -> Reply<RevokedToken> {
    let claims = sim.keys.verify(&r.access_token).map_err(AdminErr::bad)?;
    let uti = claims
        .get("uti")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    sim.w().revoked_utis.insert(uti.clone());
    ok(RevokedToken { revoked: uti })
}

pub async fn get_lifetimes(State(sim): State<AppState>) -> Reply<Lifetimes> {
    ok(sim.w().lifetimes.clone())
}

/// `PUT /_sim/token-lifetimes`: any subset of [`Lifetimes`]' fields; an unknown one is a 400.
pub async fn put_lifetimes(
    State(sim): State<AppState>,
    Body(patch): Body<serde_json::Map<String, Value>>,
) -> Reply<Lifetimes> {
    let mut w = sim.w();
    w.lifetimes = patched(&w.lifetimes, patch)?;
    ok(w.lifetimes.clone())
}
