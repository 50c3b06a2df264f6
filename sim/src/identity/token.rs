//! The token endpoint (authorization_code with PKCE, refresh_token with rotation, device_code,
//! client_credentials), the devicecode endpoint, and token minting.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Response, StatusCode};
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::errors::{client_error, redirect_mismatch, secret_invalid, token_error, SECRET_MISSING};
use super::{graph_scopes, parse_scopes, TenantPath, APP_ROLES, OIDC_SCOPES};
use crate::counters::inc;
use crate::server::{AppState, Sim};
use crate::state::{
    b64url, random_bytes, random_token, DeviceGrant, DeviceState, Platform, RefreshGrant, World,
};

fn ok_json(v: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store, no-cache")
        .header(header::PRAGMA, "no-cache")
        .body(Body::from(v.to_string()))
        .unwrap()
}

/// A token id (`uti`) that carries its issue time in milliseconds (first 8 bytes), so that
/// revocation can compare at millisecond precision.
pub fn new_uti(now_ms: i64) -> String {
    let mut b = now_ms.to_be_bytes().to_vec();
    b.extend(random_bytes(8));
    b64url(&b)
}

pub fn uti_time_ms(uti: &str) -> Option<i64> {
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(uti)
        .ok()?;
    Some(i64::from_be_bytes(b.get(..8)?.try_into().ok()?))
}

pub fn graph_issuer(tid: &str) -> String {
    format!("https://sts.windows.net/{tid}/")
}

/// Deterministic service-principal object id for (app, tenant).
fn sp_oid(client_id: &str, tid: &str) -> String {
    let h = Sha256::digest(format!("{client_id}|{tid}").as_bytes());
    uuid::Builder::from_random_bytes(h[..16].try_into().unwrap())
        .into_uuid()
        .to_string()
}

/// Mints access (+ refresh + id) tokens for a user and returns the token response body.
pub fn issue(
    sim: &Sim,
    w: &mut World,
    uid: &str,
    client_id: &str,
    scopes: &[String],
    nonce: Option<&str>,
    client_info: bool,
) -> Value {
    let now_ms = sim.clock.now_ms();
    let now = now_ms.div_euclid(1000);
    let user = w.user_by_id(uid).cloned().expect("user");
    let tid = user.tenant_id.clone();
    let life = w.lifetimes.access_token_secs;
    let gs = graph_scopes(scopes);
    let scp = if gs.is_empty() {
        "openid profile email".to_string()
    } else {
        gs.join(" ")
    };
    let access = json!({
        "aud": "https://graph.microsoft.com",
        "iss": graph_issuer(&tid),
        "iat": now, "nbf": now, "exp": now + life,
        "acct": 0, "acr": "1",
        "aio": random_token(24),
        "amr": ["pwd"],
        "app_displayname": w.apps.get(client_id).map(|a| a.display_name.clone()).unwrap_or_default(),
        "appid": client_id,
        "appidacr": if w.apps.get(client_id).is_some_and(|a| a.platform == Platform::Web) { "1" } else { "0" },
        "family_name": user.surname.clone().unwrap_or_default(),
        "given_name": user.given_name.clone().unwrap_or_default(),
        "idtyp": "user",
        "ipaddr": "127.0.0.1",
        "name": user.display_name,
        "oid": user.id,
        "platf": "3",
        "preferred_username": user.upn,
        "scp": scp,
        "sub": b64url(&Sha256::digest(format!("{}|{client_id}", user.id).as_bytes())[..24]),
        "tid": tid,
        "unique_name": user.upn,
        "upn": user.upn,
        "uti": new_uti(now_ms),
        "ver": "1.0",
    });
    inc(&sim.counters.tokens_issued);
    let scope_text = {
        let mut s: Vec<String> = gs.clone();
        s.extend(
            scopes
                .iter()
                .filter(|x| OIDC_SCOPES.contains(&x.as_str()) && *x != "offline_access")
                .cloned(),
        );
        s.join(" ")
    };
    let mut resp = json!({
        "token_type": "Bearer",
        "scope": scope_text,
        "expires_in": life,
        "ext_expires_in": life,
        "access_token": sim.keys.sign(&access),
    });
    if scopes.iter().any(|s| s == "offline_access") {
        let rt = format!("1.A{}", random_token(192));
        w.refresh.insert(
            rt.clone(),
            RefreshGrant {
                client_id: client_id.to_string(),
                user_id: uid.to_string(),
                scopes: scopes.to_vec(),
                issued: now_ms,
                last_used: now,
                expired: false,
                revoked: false,
                rotated: false,
            },
        );
        resp["refresh_token"] = json!(rt);
    }
    if scopes.iter().any(|s| s == "openid") {
        let mut id = json!({
            "aud": client_id,
            "iss": format!("{}/{tid}/v2.0", sim.base_url),
            "iat": now, "nbf": now, "exp": now + life,
            "name": user.display_name,
            "oid": user.id,
            "preferred_username": user.upn,
            "rh": random_token(16),
            "sub": b64url(&Sha256::digest(format!("{}|{client_id}", user.id).as_bytes())[..24]),
            "tid": tid,
            "uti": new_uti(now_ms),
            "ver": "2.0",
        });
        if let Some(n) = nonce {
            id["nonce"] = json!(n);
        }
        if scopes.iter().any(|s| s == "email") {
            id["email"] = json!(user.mail);
        }
        resp["id_token"] = json!(sim.keys.sign(&id));
    }
    if client_info {
        resp["client_info"] = json!(b64url(
            json!({"uid": user.id, "utid": tid}).to_string().as_bytes()
        ));
    }
    resp
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Client authentication: secret in the body or HTTP Basic.
fn client_auth(
    headers: &HeaderMap,
    f: &std::collections::HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    if let Some(b) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        if let Ok(dec) = base64::engine::general_purpose::STANDARD.decode(b.trim()) {
            if let Ok(s) = String::from_utf8(dec) {
                if let Some((id, secret)) = s.split_once(':') {
                    let d = |x: &str| {
                        url::form_urlencoded::parse(format!("x={x}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    return (Some(d(id)), Some(d(secret)));
                }
            }
        }
    }
    let secret = f
        .get("client_secret")
        .cloned()
        .or_else(|| f.get("client_assertion").cloned());
    (f.get("client_id").cloned(), secret)
}

pub async fn token(
    State(sim): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return token_error(
            &sim,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let f = form(&body);
    let now = sim.clock.now();
    let now_ms = sim.clock.now_ms();
    let mut w = sim.w();
    let Some(tp) = TenantPath::resolve(&w, &tenant) else {
        return token_error(&sim, "invalid_request", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."));
    };
    let Some(grant_type) = f.get("grant_type").cloned() else {
        return token_error(
            &sim,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    };
    let (client_id, secret) = client_auth(&headers, &f);
    let Some(client_id) = client_id.filter(|c| !c.is_empty()) else {
        return token_error(
            &sim,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let app = match super::registered_app(&w, &tp, &client_id) {
        Ok(a) => a,
        Err(m) => return token_error(&sim, "unauthorized_client", 700016, &m),
    };
    // A Web-platform app is a confidential client: every grant must carry its secret. A
    // public client must not present one (client credentials need a confidential client).
    match (app.platform, secret.as_deref()) {
        (Platform::Web, None) | (Platform::Public, None) if grant_type == "client_credentials" => {
            return client_error(&sim, 7000218, SECRET_MISSING)
        }
        (Platform::Web, None) => return client_error(&sim, 7000218, SECRET_MISSING),
        (Platform::Web, Some(s)) if Some(s) != app.client_secret.as_deref() => {
            return client_error(&sim, 7000215, &secret_invalid(&client_id))
        }
        (Platform::Public, Some(_)) if grant_type == "client_credentials" => {
            return client_error(&sim, 7000215, &secret_invalid(&client_id))
        }
        (Platform::Public, Some(_)) => {
            return client_error(&sim, 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
        }
        _ => {}
    }
    let client_info = f.get("client_info").map(|v| v == "1").unwrap_or(false);
    match grant_type.as_str() {
        "authorization_code" => {
            let code = f.get("code").cloned().unwrap_or_default();
            let Some(g) = w.codes.get(&code).cloned() else {
                return token_error(
                    &sim,
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                );
            };
            if g.redeemed {
                return token_error(&sim, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
            }
            if g.expires <= now {
                return token_error(&sim, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
            }
            if g.client_id != client_id {
                return token_error(
                    &sim,
                    "invalid_grant",
                    70000,
                    "The provided authorization code was issued to a different client.",
                );
            }
            let redirect = f.get("redirect_uri").cloned().unwrap_or_default();
            if !app.redirect_registered(&redirect) {
                return token_error(
                    &sim,
                    "invalid_request",
                    50011,
                    &redirect_mismatch(&redirect, &client_id),
                );
            }
            if redirect != g.redirect_uri {
                return token_error(&sim, "invalid_grant", 50148, "The redirect_uri does not match the redirect URI that was used when requesting the authorization code.");
            }
            if let Some(ch) = &g.code_challenge {
                let Some(v) = f.get("code_verifier") else {
                    return token_error(&sim, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
                };
                let computed = if g.code_challenge_method == "S256" {
                    b64url(&Sha256::digest(v.as_bytes()))
                } else {
                    v.clone()
                };
                if &computed != ch {
                    return token_error(&sim, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
                }
            }
            let scopes = match f.get("scope") {
                Some(s) => match parse_scopes(s) {
                    Ok(mut req) => {
                        // Never more than the code carries.
                        req.retain(|x| g.scopes.contains(x) || OIDC_SCOPES.contains(&x.as_str()));
                        if graph_scopes(&req).is_empty() { g.scopes.clone() } else { req }
                    }
                    Err(bad) => return token_error(&sim, "invalid_scope", 70011, &format!("The provided value for the input parameter 'scope' is not valid. The scope {bad} is not valid.")),
                },
                None => g.scopes.clone(),
            };
            w.codes.get_mut(&code).unwrap().redeemed = true;
            inc(&sim.counters.codes_redeemed);
            let body = issue(
                &sim,
                &mut w,
                &g.user_id,
                &client_id,
                &scopes,
                g.nonce.as_deref(),
                client_info,
            );
            ok_json(body)
        }
        "refresh_token" => {
            let rt = f.get("refresh_token").cloned().unwrap_or_default();
            let Some(g) = w.refresh.get(&rt).cloned() else {
                return token_error(
                    &sim,
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                );
            };
            if g.client_id != client_id {
                return token_error(
                    &sim,
                    "invalid_grant",
                    70000,
                    "The provided refresh token was issued to a different client.",
                );
            }
            let Some(user) = w.user_by_id(&g.user_id).cloned() else {
                return token_error(
                    &sim,
                    "invalid_grant",
                    50034,
                    "The user account does not exist in the directory.",
                );
            };
            if g.revoked || g.issued < user.revoked_before.max(user.rt_revoked_before) {
                return token_error(&sim, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.");
            }
            let inactivity = w.lifetimes.refresh_inactivity_secs;
            if g.expired || g.last_used + inactivity <= now {
                let issued = crate::clock::iso(g.issued / 1000);
                return token_error(&sim, "invalid_grant", 700082, &format!("The refresh token has expired due to inactivity. The token was issued on {issued} and was inactive for {}.", crate::clock::duration_text(inactivity)));
            }
            if g.rotated && w.lifetimes.strict_refresh_rotation {
                return token_error(
                    &sim,
                    "invalid_grant",
                    70000,
                    "The provided refresh token has already been used (strict rotation is on).",
                );
            }
            if let Some(t) = w.tenant(&user.tenant_id) {
                if !tp.admits(t) {
                    return token_error(
                        &sim,
                        "invalid_grant",
                        50020,
                        "The user account does not exist in the tenant of this request.",
                    );
                }
            }
            let scopes = match f.get("scope") {
                Some(s) => match parse_scopes(s) {
                    Ok(req) => {
                        let consented = user.consents.get(&client_id).cloned().unwrap_or_default();
                        let tenant_ok = w.tenant(&user.tenant_id).map(|t| t.consented_apps.contains(&client_id)).unwrap_or(false);
                        if let Some(missing) = graph_scopes(&req).into_iter().find(|x| !g.scopes.contains(x) && !consented.contains(x) && !tenant_ok) {
                            return super::errors::aad_error(&sim, StatusCode::BAD_REQUEST, "invalid_grant", 65001, &format!("The user or administrator has not consented to use the application with ID '{client_id}'. Send an interactive authorization request for this user and resource. Missing scope: {missing}."), Some("consent_required"));
                        }
                        let mut req = req;
                        if !req.iter().any(|x| x == "offline_access") && g.scopes.iter().any(|x| x == "offline_access") {
                            req.push("offline_access".into());
                        }
                        if graph_scopes(&req).is_empty() {
                            g.scopes.clone()
                        } else {
                            req
                        }
                    }
                    Err(bad) => return token_error(&sim, "invalid_scope", 70011, &format!("The provided value for the input parameter 'scope' is not valid. The scope {bad} is not valid.")),
                },
                None => g.scopes.clone(),
            };
            if let Some(old) = w.refresh.get_mut(&rt) {
                old.rotated = true;
                old.last_used = now;
            }
            inc(&sim.counters.refreshes);
            let mut scopes = scopes;
            if !scopes.iter().any(|x| x == "offline_access") {
                scopes.push("offline_access".into());
            }
            let body = issue(
                &sim,
                &mut w,
                &g.user_id,
                &client_id,
                &scopes,
                None,
                client_info,
            );
            ok_json(body)
        }
        "urn:ietf:params:oauth:grant-type:device_code" | "device_code" => {
            let dc = f.get("device_code").cloned().unwrap_or_default();
            let Some(d) = w.devices.get(&dc).cloned() else {
                return token_error(
                    &sim,
                    "bad_verification_code",
                    70018,
                    "Invalid verification code.",
                );
            };
            if d.client_id != client_id {
                return token_error(
                    &sim,
                    "invalid_grant",
                    70000,
                    "The device code was issued to a different client.",
                );
            }
            match d.state {
                DeviceState::Redeemed => token_error(&sim, "invalid_grant", 70000, "Provided grant is invalid or malformed. The device code was already redeemed."),
                _ if d.expires <= now => token_error(&sim, "expired_token", 70019, "Verification code expired."),
                DeviceState::Pending => token_error(&sim, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling."),
                DeviceState::Declined => token_error(&sim, "authorization_declined", 65004, "User declined to consent to access the app."),
                DeviceState::ConsentRequired => super::errors::aad_error(&sim, StatusCode::BAD_REQUEST, "invalid_grant", 65001, &format!("The user or administrator has not consented to use the application with ID '{client_id}'."), Some("consent_required")),
                DeviceState::Approved => {
                    let uid = d.user_id.clone().unwrap_or_default();
                    w.devices.get_mut(&dc).unwrap().state = DeviceState::Redeemed;
                    inc(&sim.counters.device_codes_redeemed);
                    let body = issue(&sim, &mut w, &uid, &client_id, &d.scopes, None, client_info);
                    ok_json(body)
                }
            }
        }
        "client_credentials" => {
            let TenantPath::Specific(tid) = tp else {
                return token_error(&sim, "invalid_request", 9001023, "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.");
            };
            let scope = f.get("scope").cloned().unwrap_or_default();
            let lower = scope.trim().to_ascii_lowercase();
            if !(lower == "https://graph.microsoft.com/.default"
                || lower == "00000003-0000-0000-c000-000000000000/.default")
            {
                return token_error(&sim, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
            }
            let consented = w
                .tenant(&tid)
                .map(|t| t.consented_apps.contains(&client_id))
                .unwrap_or(false);
            let life = w.lifetimes.access_token_secs;
            let oid = sp_oid(&client_id, &tid);
            let mut claims = json!({
                "aud": "https://graph.microsoft.com",
                "iss": graph_issuer(&tid),
                "iat": now, "nbf": now, "exp": now + life,
                "aio": random_token(24),
                "app_displayname": app.display_name,
                "appid": client_id,
                "appidacr": "1",
                "idp": graph_issuer(&tid),
                "idtyp": "app",
                "oid": oid,
                "sub": oid,
                "tid": tid,
                "uti": new_uti(now_ms),
                "ver": "1.0",
            });
            if consented {
                claims["roles"] = json!(APP_ROLES);
            }
            inc(&sim.counters.client_credentials);
            inc(&sim.counters.tokens_issued);
            ok_json(json!({
                "token_type": "Bearer",
                "expires_in": life,
                "ext_expires_in": life,
                "access_token": sim.keys.sign(&claims),
            }))
        }
        other => token_error(
            &sim,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
    }
}

pub async fn devicecode(
    State(sim): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response<Body> {
    let f = form(&body);
    let now = sim.clock.now();
    let mut w = sim.w();
    if TenantPath::resolve(&w, &tenant).is_none() {
        return token_error(
            &sim,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let Some(client_id) = f.get("client_id").filter(|c| !c.is_empty()).cloned() else {
        return token_error(
            &sim,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let tp = TenantPath::resolve(&w, &tenant).expect("checked above");
    if let Err(m) = super::registered_app(&w, &tp, &client_id) {
        return token_error(&sim, "unauthorized_client", 700016, &m);
    }
    let Some(scope) = f.get("scope").filter(|s| !s.trim().is_empty()) else {
        return token_error(
            &sim,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };
    let scopes = match parse_scopes(scope) {
        Ok(s) => s,
        Err(bad) => return token_error(&sim, "invalid_scope", 70011, &format!("The provided value for the input parameter 'scope' is not valid. The scope {bad} is not valid.")),
    };
    const ALPHA: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";
    let user_code: String = {
        let mut r = rand::thread_rng();
        (0..9)
            .map(|_| ALPHA[r.gen_range(0..ALPHA.len())] as char)
            .collect()
    };
    let device_code = format!("DAQABIQEAAA{}", random_token(96));
    let life = w.lifetimes.device_code_secs;
    let interval = w.lifetimes.device_code_interval;
    w.devices.insert(
        device_code.clone(),
        DeviceGrant {
            device_code: device_code.clone(),
            user_code: user_code.clone(),
            client_id,
            tenant,
            scopes,
            expires: now + life,
            state: DeviceState::Pending,
            user_id: None,
        },
    );
    let uri = format!("{}/devicelogin", sim.base_url);
    ok_json(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": life,
        "interval": interval,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
    }))
}
