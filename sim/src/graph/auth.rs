//! Who is calling: the bearer token validated (signature, audience, issuer, lifetime,
//! revocation) into an [`Auth`].

use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use super::errors::GErr;
use crate::server::Sim;

/// Who is calling, from the validated access token.
#[derive(Clone, Debug)]
pub struct Auth {
    pub app_only: bool,
    pub user_id: Option<String>,
    pub tenant_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
}

/// Validates the bearer token (signature, audience, lifetime, revocation).
pub fn authenticate(sim: &Sim, headers: &HeaderMap) -> Result<Auth, GErr> {
    let unauth = |m: &str| GErr::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .unwrap_or("")
        .trim();
    if token.is_empty() {
        return Err(unauth("Access token is empty."));
    }
    if token.split('.').count() != 3 {
        return Err(unauth(
            "IDX14100: JWT is not well formed, there are no dots (.).",
        ));
    }
    let claims = sim.keys.verify(token).map_err(unauth)?;
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let n = |k: &str| claims.get(k).and_then(Value::as_i64).unwrap_or(0);
    let aud = s("aud");
    if aud != "https://graph.microsoft.com" && aud != "00000003-0000-0000-c000-000000000000" {
        return Err(unauth("Access token validation failure. Invalid audience."));
    }
    let tid = s("tid");
    if s("iss") != crate::identity::token::graph_issuer(&tid) {
        return Err(unauth("Access token validation failure. Invalid issuer."));
    }
    let now = sim.clock.now();
    if n("exp") <= now || n("nbf") > now + 300 {
        return Err(unauth("Lifetime validation failed, the token is expired."));
    }
    let uti = s("uti");
    let issued_ms = crate::identity::token::uti_time_ms(&uti).unwrap_or(n("iat") * 1000);
    let app_only = s("idtyp") == "app";
    let w = sim.w();
    if w.revoked_utis.contains(&uti) {
        return Err(unauth("Access token has been revoked."));
    }
    let user_id = if app_only {
        None
    } else {
        let oid = s("oid");
        let u = w
            .user_by_id(&oid)
            .ok_or_else(|| unauth("Access token validation failure. User not found."))?;
        if issued_ms < u.revoked_before {
            return Err(unauth("Access token has been revoked."));
        }
        if issued_ms < u.access_not_before {
            return Err(unauth("Lifetime validation failed, the token is expired."));
        }
        Some(oid)
    };
    Ok(Auth {
        app_only,
        user_id,
        tenant_id: tid,
        client_id: s("appid"),
        scopes: s("scp").split_whitespace().map(|x| x.to_string()).collect(),
        roles: claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(|s| s.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    })
}
