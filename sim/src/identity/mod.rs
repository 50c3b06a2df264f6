//! Microsoft identity platform v2.0: tenant discovery, JWKS, authorize (HTML sign-in), token,
//! device code and admin consent.

pub mod admin_consent;
pub mod authorize;
pub mod complete;
pub mod device;
pub mod errors;
pub mod forms;
pub mod pages;
pub mod token;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, Response, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use crate::server::AppState;
use crate::state::{App, Tenant, World, CONSUMERS_TENANT_ID};

/// The `{tenant}` segment of an identity URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantPath {
    Common,
    Organizations,
    Consumers,
    Specific(String),
}

impl TenantPath {
    pub fn resolve(w: &World, seg: &str) -> Option<TenantPath> {
        match seg.to_ascii_lowercase().as_str() {
            "common" => Some(TenantPath::Common),
            "organizations" => Some(TenantPath::Organizations),
            "consumers" => Some(TenantPath::Consumers),
            _ => w.tenant(seg).map(|t| {
                if t.consumers {
                    TenantPath::Consumers
                } else {
                    TenantPath::Specific(t.id.clone())
                }
            }),
        }
    }

    /// Whether a user of `tenant` may sign in through this path.
    pub fn admits(&self, tenant: &Tenant) -> bool {
        match self {
            TenantPath::Common => true,
            TenantPath::Organizations => !tenant.consumers,
            TenantPath::Consumers => tenant.consumers,
            TenantPath::Specific(id) => *id == tenant.id,
        }
    }

    pub fn segment(&self) -> String {
        match self {
            TenantPath::Common => "common".into(),
            TenantPath::Organizations => "organizations".into(),
            TenantPath::Consumers => "consumers".into(),
            TenantPath::Specific(id) => id.clone(),
        }
    }

    pub fn is_specific(&self) -> bool {
        matches!(self, TenantPath::Specific(_))
    }
}

pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

pub const GRAPH_SCOPES: &[&str] = &[
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "Mail.ReadBasic",
    "Mail.Read",
    "Mail.ReadWrite",
    "Mail.Send",
    "Mail.ReadBasic.Shared",
    "Mail.Read.Shared",
    "Mail.ReadWrite.Shared",
    "Mail.Send.Shared",
    "MailboxSettings.Read",
    "MailboxSettings.ReadWrite",
];

/// What `.default` grants in a delegated flow (the app's statically configured permissions).
pub const DEFAULT_DELEGATED: &[&str] = &[
    "User.Read",
    "Mail.ReadWrite",
    "Mail.Send",
    "Mail.ReadWrite.Shared",
    "Mail.Send.Shared",
    "MailboxSettings.Read",
];

/// Application permissions granted by admin consent (client credentials `roles`).
pub const APP_ROLES: &[&str] = &[
    "Mail.ReadWrite",
    "Mail.Send",
    "User.Read.All",
    "MailboxSettings.Read",
];

/// Normalises a space-separated scope string: OIDC scopes lower case, Graph scopes by their
/// short canonical name (`https://graph.microsoft.com/Mail.Read` -> `Mail.Read`), `.default`
/// expanded. Unknown scopes are an error (AADSTS70011).
pub fn parse_scopes(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = vec![];
    let push = |x: &str, out: &mut Vec<String>| {
        if !out.iter().any(|y| y == x) {
            out.push(x.to_string());
        }
    };
    for raw in s.split_whitespace() {
        let lower = raw.to_ascii_lowercase();
        if let Some(o) = OIDC_SCOPES.iter().find(|o| **o == lower) {
            push(o, &mut out);
            continue;
        }
        let short = [
            "https://graph.microsoft.com/",
            "00000003-0000-0000-c000-000000000000/",
        ]
        .iter()
        .find_map(|p| lower.starts_with(p).then(|| raw[p.len()..].to_string()))
        .unwrap_or_else(|| raw.to_string());
        if short == ".default" {
            for d in DEFAULT_DELEGATED {
                push(d, &mut out);
            }
            continue;
        }
        match GRAPH_SCOPES.iter().find(|g| g.eq_ignore_ascii_case(&short)) {
            Some(g) => push(g, &mut out),
            None => return Err(raw.to_string()),
        }
    }
    Ok(out)
}

pub fn graph_scopes(scopes: &[String]) -> Vec<String> {
    scopes
        .iter()
        .filter(|s| !OIDC_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect()
}

fn json_cached(v: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "max-age=86400, private")
        .body(Body::from(v.to_string()))
        .unwrap()
}

pub async fn discovery(State(sim): State<AppState>, Path(tenant): Path<String>) -> Response<Body> {
    let tp = {
        let w = sim.w();
        TenantPath::resolve(&w, &tenant)
    };
    let Some(tp) = tp else {
        return errors::aad_error(
            &sim,
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            None,
        );
    };
    let base = &sim.base_url;
    let (seg, issuer) = match &tp {
        TenantPath::Specific(id) => (id.clone(), format!("{base}/{id}/v2.0")),
        TenantPath::Consumers => (
            "consumers".to_string(),
            format!("{base}/{CONSUMERS_TENANT_ID}/v2.0"),
        ),
        other => (other.segment(), format!("{base}/{{tenantid}}/v2.0")),
    };
    json_cached(json!({
        "token_endpoint": format!("{base}/{seg}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{seg}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{seg}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{seg}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{seg}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/{seg}/kerberos"),
        "tenant_region_scope": if tp == TenantPath::Consumers { Value::Null } else { json!("EU") },
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }))
}

pub async fn jwks(State(sim): State<AppState>, Path(tenant): Path<String>) -> Response<Body> {
    let issuer = {
        let w = sim.w();
        match TenantPath::resolve(&w, &tenant) {
            Some(TenantPath::Specific(id)) => format!("{}/{id}/v2.0", sim.base_url),
            Some(TenantPath::Consumers) => format!("{}/{CONSUMERS_TENANT_ID}/v2.0", sim.base_url),
            Some(_) => format!("{}/{{tenantid}}/v2.0", sim.base_url),
            None => {
                return errors::aad_error(
                    &sim,
                    StatusCode::BAD_REQUEST,
                    "invalid_tenant",
                    90002,
                    &format!("Tenant '{tenant}' not found."),
                    None,
                )
            }
        }
    };
    json_cached(sim.keys.jwks(&issuer))
}

/// MSAL's instance discovery (`/common/discovery/instance?api-version=1.1&authorization_endpoint=...`).
pub async fn instance_discovery(
    State(sim): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let host = sim.base_url.trim_start_matches("https://").to_string();
    let tenant = q
        .get("authorization_endpoint")
        .and_then(|a| url::Url::parse(a).ok())
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next().map(|x| x.to_string()))
        })
        .unwrap_or_else(|| "common".into());
    Json(json!({
        "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", sim.base_url),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }))
}

pub async fn logout(
    State(_sim): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response<Body> {
    if let Some(uri) = q.get("post_logout_redirect_uri") {
        if uri.starts_with("http://") || uri.starts_with("https://") {
            return Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, uri.as_str())
                .header(
                    header::SET_COOKIE,
                    "ESTSAUTH=; Path=/; Max-Age=0; Secure; HttpOnly",
                )
                .body(Body::empty())
                .unwrap();
        }
    }
    let mut r = pages::html(pages::page(
        "Signed out",
        "<p id=\"signedout\">You signed out of your account.</p>",
    ));
    r.headers_mut().insert(
        header::SET_COOKIE,
        "ESTSAUTH=; Path=/; Max-Age=0; Secure; HttpOnly"
            .parse()
            .unwrap(),
    );
    r
}

/// The directory name Entra puts into AADSTS700016: the tenant's display name on a tenant
/// path; on `common`/`organizations`/`consumers` the path segment (a guess, see README).
pub fn directory_name(w: &World, tp: &TenantPath) -> String {
    match tp {
        TenantPath::Specific(id) => w
            .tenant(id)
            .map(|t| t.display_name.clone())
            .unwrap_or_else(|| id.clone()),
        other => other.segment(),
    }
}

/// The registration of `client_id`, or AADSTS700016's text.
pub fn registered_app(w: &World, tp: &TenantPath, client_id: &str) -> Result<App, String> {
    w.apps
        .get(client_id)
        .cloned()
        .ok_or_else(|| errors::app_not_found(client_id, &directory_name(w, tp)))
}
