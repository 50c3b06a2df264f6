//! Tenants and tenant-wide (admin) consent: `/_sim/tenants...`.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::extract::{Body, NoFields};
use super::reply::{created, ok, AdminErr, Created, Reply};
use crate::server::AppState;
use crate::state::{new_guid, AliasSendMode, Tenant};

/// `POST /_sim/tenants`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTenant {
    /// The first verified domain (`domain` or `domains` is required).
    pub domain: Option<String>,
    pub domains: Option<Vec<String>>,
    /// A new GUID when absent.
    pub id: Option<String>,
    /// The first domain when absent.
    pub display_name: Option<String>,
    /// `en-US` when absent.
    pub locale: Option<String>,
    pub send_from_alias_enabled: Option<bool>,
    pub alias_send_mode: Option<AliasSendMode>,
    pub admin_consent_required: Option<bool>,
}

/// `PATCH /_sim/tenants/{t}`: the fields given are changed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantPatch {
    pub send_from_alias_enabled: Option<bool>,
    pub alias_send_mode: Option<AliasSendMode>,
    pub admin_consent_required: Option<bool>,
    pub locale: Option<String>,
    pub display_name: Option<String>,
    pub domains: Option<Vec<String>>,
}

/// `POST /_sim/tenants/{t}/consents`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consent {
    pub client_id: String,
}

#[derive(Debug, Serialize)]
pub struct TenantList {
    pub tenants: Vec<Tenant>,
}

pub async fn list(State(sim): State<AppState>) -> Reply<TenantList> {
    ok(TenantList {
        tenants: sim.w().tenants.clone(),
    })
}

fn no_tenant() -> AdminErr {
    AdminErr::not_found("no such tenant")
}

pub async fn get(State(sim): State<AppState>, Path(t): Path<String>) -> Reply<Tenant> {
    sim.w()
        .tenant(&t)
        .cloned()
        .ok_or_else(no_tenant)
        .map(axum::Json)
}

pub async fn create(State(sim): State<AppState>, Body(r): Body<NewTenant>) -> Created<Tenant> {
    let mut domains = r.domains.unwrap_or_default();
    if let Some(d) = r.domain {
        domains.insert(0, d);
    }
    if domains.is_empty() {
        return Err(AdminErr::bad("domain or domains is required"));
    }
    let t = Tenant {
        id: r.id.unwrap_or_else(new_guid),
        display_name: r.display_name.unwrap_or_else(|| domains[0].clone()),
        domains,
        locale: r.locale.unwrap_or_else(|| "en-US".into()),
        send_from_alias_enabled: r.send_from_alias_enabled.unwrap_or(false),
        alias_send_mode: r.alias_send_mode.unwrap_or_default(),
        admin_consent_required: r.admin_consent_required.unwrap_or(false),
        consented_apps: BTreeSet::new(),
        consumers: false,
    };
    sim.w().add_tenant(t.clone()).map_err(AdminErr::conflict)?;
    created(t)
}

pub async fn patch(
    State(sim): State<AppState>,
    Path(t): Path<String>,
    Body(r): Body<TenantPatch>,
) -> Reply<Tenant> {
    let mut w = sim.w();
    let t = w.tenant_mut(&t).ok_or_else(no_tenant)?;
    if let Some(b) = r.send_from_alias_enabled {
        t.send_from_alias_enabled = b;
    }
    if let Some(m) = r.alias_send_mode {
        t.alias_send_mode = m;
    }
    if let Some(b) = r.admin_consent_required {
        t.admin_consent_required = b;
    }
    if let Some(l) = r.locale {
        t.locale = l;
    }
    if let Some(n) = r.display_name {
        t.display_name = n;
    }
    if let Some(d) = r.domains {
        t.domains = d;
    }
    ok(t.clone())
}

pub async fn add_consent(
    State(sim): State<AppState>,
    Path(t): Path<String>,
    Body(r): Body<Consent>,
) -> Reply<Tenant> {
    let mut w = sim.w();
    let t = w.tenant_mut(&t).ok_or_else(no_tenant)?;
    t.consented_apps.insert(r.client_id);
    ok(t.clone())
}

pub async fn remove_consent(
    State(sim): State<AppState>,
    Path((t, client)): Path<(String, String)>,
    _: NoFields,
) -> Reply<Tenant> {
    let mut w = sim.w();
    let t = w.tenant_mut(&t).ok_or_else(no_tenant)?;
    t.consented_apps.remove(&client);
    ok(t.clone())
}
